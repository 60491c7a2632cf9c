"""Streaming predictions: rows in (JSONL, JSON, CSV, TSV or Parquet), the same rows plus the program's answer
out (JSONL, or Parquet for an ``.parquet`` output).

Memory stays constant (rows are read and written a chunk at a time, in input order) and a run is
resumable: rows already in the output are skipped, and what a kill left half-written (a last JSON
line, an unfinished Parquet part) is dropped and redone (:mod:`lmprog.data.sinks`). Every LM call
goes through the ledger, so redone rows cost nothing. Rows the budget stopped are not written, so a
rerun with a larger budget does them.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from lmprog import outputs
from lmprog.errors import DataError
from lmprog.modules.protocol import confidence_of
from lmprog.run import BUDGET, run_module


@dataclass
class PredictSummary:
    """What :func:`predict_file` did: rows written now, rows found already done, rows that failed, and
    whether the budget stopped it (the rows from the first one it stopped on are left for a rerun)."""

    written: int
    skipped: int
    failed: int
    out: str
    budget_stopped: bool = False


def predict_file(program, task, data: str | Path, out: str | Path, *, lm, threads: int = 8, chunk: int | None = None,
                 progress: Callable[[int], None] | None = None) -> PredictSummary:
    """Predict every row of ``data`` (JSONL with the task's input fields) into ``out`` (JSONL).

    Each output row is the input row plus the answer (``label`` or ``labels``), ``confidence``
    and, when the example failed, ``error`` (its kind). Rows missing an input field are an error
    naming the line, raised before anything is written for that row.
    """
    answer_inputs = program_answerer(program, task, lm=lm, threads=threads)
    columns = task.input_columns

    def answer_batch(rows: list[dict]) -> list[dict]:
        return answer_inputs([{field: str(row[column]) for field, column in columns.items()} for row in rows])

    return answer_file(answer_batch, task, data, out, chunk=chunk or max(1, threads) * 4, progress=progress)


def program_answerer(program, task, *, lm, threads: int = 8) -> Callable[[list[dict]], list[dict]]:
    """``answer(inputs)``: one answer dict per dict of input fields (the answer field, ``confidence``, and
    ``error`` when the row failed), the program run on them in ``threads``."""
    kind = outputs.of(program) if getattr(program, "task", None) is not None else outputs.for_task(task)

    def answer(inputs: list[dict]) -> list[dict]:
        return [_answer(program, kind, outcome) for outcome in run_module(program, inputs, lm=lm, threads=threads)]

    return answer


def answer_file(answer_batch: Callable[[list[dict]], list[dict]], task, data: str | Path, out: str | Path, *,
                chunk: int = 256, progress: Callable[[int], None] | None = None) -> PredictSummary:
    """:func:`predict_file` with any answerer: ``answer_batch(rows)`` returns one answer dict per row
    (a distilled classifier, a cascade, or a program)."""
    from lmprog.data.sinks import open_sink, rows_of

    data, out = Path(data), Path(out)
    if not data.is_file():
        raise DataError(f"{data} does not exist", path=str(data))
    sink = open_sink(out)
    done, parquet = sink.done, out.suffix.lower() == ".parquet"
    rows = input_rows(data, task, skip=done)
    written = failed = 0
    stopped = False
    while not stopped and (batch := list(itertools.islice(rows, chunk))):
        answers = answer_batch(batch)
        stop = next((i for i, answer in enumerate(answers) if answer.get("error") == BUDGET), None)
        if stop is not None:
            batch, answers, stopped = batch[:stop], answers[:stop], True
        failed += sum(answer.get("error") is not None for answer in answers)
        sink.write([rows_of(row, answer, parquet=parquet) for row, answer in zip(batch, answers)])
        written += len(batch)
        if progress:
            progress(done + written)
    sink.finish()
    return PredictSummary(written=written, skipped=done, failed=failed, out=str(out), budget_stopped=stopped)


def input_rows(path: Path, task, *, skip: int = 0) -> Iterator[dict]:
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
