"""Streaming predictions: rows in (JSONL, JSON, CSV or TSV), the same rows plus the program's answer out (JSONL).

Memory stays constant (rows are read and written a chunk at a time, in input order) and a run is
resumable: rows already in the output file are skipped, and a half-written last line left by a
kill is dropped and redone. Every LM call goes through the ledger, so redone rows cost nothing.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from lmprog import outputs
from lmprog.errors import DataError
from lmprog.modules.protocol import confidence_of
from lmprog.run import run_module


@dataclass
class PredictSummary:
    """What :func:`predict_file` did: rows written now, rows found already done, rows that failed."""

    written: int
    skipped: int
    failed: int
    out: str


def predict_file(program, task, data: str | Path, out: str | Path, *, lm, threads: int = 8, chunk: int | None = None,
                 progress: Callable[[int], None] | None = None) -> PredictSummary:
    """Predict every row of ``data`` (JSONL with the task's input fields) into ``out`` (JSONL).

    Each output row is the input row plus the answer (``label`` or ``labels``), ``confidence``
    and, when the example failed, ``error`` (its kind). Rows missing an input field are an error
    naming the line, raised before anything is written for that row.
    """
    kind = outputs.of(program) if getattr(program, "task", None) is not None else outputs.for_task(task)

    columns = task.input_columns

    def answer_batch(rows: list[dict]) -> list[dict]:
        inputs = [{field: str(row[column]) for field, column in columns.items()} for row in rows]
        return [_answer(program, kind, outcome) for outcome in run_module(program, inputs, lm=lm, threads=threads)]

    return answer_file(answer_batch, task, data, out, chunk=chunk or max(1, threads) * 4, progress=progress)


def answer_file(answer_batch: Callable[[list[dict]], list[dict]], task, data: str | Path, out: str | Path, *,
                chunk: int = 256, progress: Callable[[int], None] | None = None) -> PredictSummary:
    """:func:`predict_file` with any answerer: ``answer_batch(rows)`` returns one answer dict per row
    (a distilled classifier, a cascade, or a program)."""
    data, out = Path(data), Path(out)
    if not data.is_file():
        raise DataError(f"{data} does not exist", path=str(data))
    done = _resume(out)
    rows = _rows(data, task, skip=done)
    written = failed = 0
    with out.open("a", encoding="utf-8") as sink:
        while batch := list(itertools.islice(rows, chunk)):
            answers = answer_batch(batch)
            for row, answer in zip(batch, answers):
                failed += "error" in answer
                sink.write(json.dumps({**row, **answer}, ensure_ascii=False) + "\n")
            sink.flush()
            os.fsync(sink.fileno())
            written += len(batch)
            if progress:
                progress(done + written)
    return PredictSummary(written=written, skipped=done, failed=failed, out=str(out))


def _resume(out: Path) -> int:
    """Complete lines already in ``out``; a trailing partial line (a killed write) is cut off."""
    if not out.exists():
        return 0
    content = out.read_bytes()
    complete = content[: content.rfind(b"\n") + 1]
    if len(complete) != len(content):
        with out.open("r+b") as f:
            f.truncate(len(complete))
    return complete.count(b"\n")


def _rows(path: Path, task, *, skip: int) -> Iterator[dict]:
    """The data file's rows (any format :mod:`lmprog.data` reads), streamed, after the first ``skip``; a row
    that cannot be read or lacks an input column is an error naming its line."""
    from lmprog.data import iter_rows

    columns = task.input_columns
    for row in iter_rows(path):
        if skip:
            skip -= 1
            continue
        if row.problem is not None:
            raise DataError(f"{path} line {row.line}: {row.problem}", path=str(path))
        missing = [field for field, column in columns.items() if column not in row.record]
        if missing:
            raise DataError(f"{path} line {row.line}: missing input field {columns[missing[0]]!r}", path=str(path))
        yield row.record


def _answer(program, kind, outcome) -> dict:
    if not outcome.ok:  # this row failed after retries; the rest go on
        return {kind.field: kind.empty(), "error": outcome.error}
    prediction = outcome.prediction
    answer = {kind.field: prediction.get(kind.field), "confidence": confidence_of(program, prediction)}
    if prediction.get("parse_error"):
        answer["error"] = "parse_failure"
    return answer
