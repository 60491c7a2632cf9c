"""The driver of a Ray labelling job: the pipeline, the gate, and the output.

A file job (:func:`label_file`) is resumable like threads-only ``predict``: the rows already in the
output are skipped; the input fields of the rest are staged as small Parquet files next to the output
(one Ray block each, so the actor pool shares them out), ``read_parquet -> map_batches(LabelWorker,
actor pool)`` labels them with the order kept, and the driver streams the original rows alongside,
writing each input row plus its answer. A Ray Dataset (:func:`label_dataset`) comes back as batches of
its own columns plus the answers.

Every LM call passes the job's gate (:mod:`lmprog.scale.gate`) on the driver's node, which answers
what the ledger holds, lets one worker pay for each key, holds the rate, in-flight and budget limits
across the cluster, and records each call in the ledger as it ends.
"""

from __future__ import annotations

import itertools
import logging
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from lmprog.evaluation.predict import PredictSummary, input_rows
from lmprog.run import BUDGET, Budget
from lmprog.scale.worker import HITS, PAID, STAGED, LabelWorker, ModelSpec


@dataclass
class ScaleSettings:
    """How a job runs on Ray: ``address`` of a cluster (None: the one this process joined, else a local
    one), ``concurrency`` actors, ``batch_size`` rows per batch (default 4 x threads, 4,096 for a
    classifier), ``rps`` and ``max_in_flight`` LM calls across the cluster, ``budget``, and CPUs per actor."""

    address: str | None = None
    concurrency: int = 2
    batch_size: int | None = None
    rps: float | None = None
    max_in_flight: int | None = None
    budget: Budget | None = None
    num_cpus: float = 0.5


@dataclass
class ScaleSummary(PredictSummary):
    """:class:`~lmprog.evaluation.PredictSummary` plus what the gate saw: paid calls, failed attempts,
    ledger hits, the most calls in flight at once, claims voided by dead workers."""

    engine: str = "ray"
    paid_calls: int = 0
    failed_calls: int = 0
    ledger_hits: int = 0
    max_in_flight_seen: int = 0
    voided_claims: int = 0


def label_file(spec: ModelSpec, data: str | Path, out: str | Path, *, ledger: str | Path | None = None,
               settings: ScaleSettings | None = None,
               progress: Callable[[int], None] | None = None) -> ScaleSummary:
    """Label every row of ``data`` (any format :func:`lmprog.data.iter_rows` reads) into ``out`` (JSONL, or
    Parquet for ``.parquet``), continuing what ``out`` already holds."""
    from lmprog.data.sinks import open_sink, rows_of

    settings = settings or ScaleSettings()
    data, out = Path(data).absolute(), Path(out).absolute()
    task, _, answer_columns = spec.task_and_output()
    sink = open_sink(out)
    done, parquet = sink.done, out.suffix.lower() == ".parquet"
    staged = out.with_name(f".{out.name}.inputs")
    batch = settings.batch_size or (4 * spec.threads if spec.uses_lm else 4096)
    count = stage_inputs(data, task, skip=done, folder=staged, rows_per_file=batch)
    summary = ScaleSummary(written=0, skipped=done, failed=0, out=str(out))
    originals = input_rows(data, task, skip=done)
    try:
        if count:
            arguments = {"engine": "ray", "data": str(data), "out": str(out)}
            with _job(spec, None, dict(zip(task.input_fields, task.input_fields)), answer_columns, ledger,
                      settings, arguments, staged=staged, summary=summary) as tables:
                for table in tables:
                    answers, stopped = _answers(table, answer_columns)
                    rows = list(itertools.islice(originals, len(answers)))
                    summary.failed += sum(a.get("error") is not None for a in answers)
                    sink.write([rows_of(row, answer, parquet=parquet) for row, answer in zip(rows, answers)])
                    summary.written += len(answers)
                    if progress:
                        progress(done + summary.written)
                    if stopped:
                        summary.budget_stopped = True
                        break
        sink.finish()
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    return summary


def label_dataset(dataset, spec: ModelSpec, *, ledger: str | Path | None = None,
                  settings: ScaleSettings | None = None, summary: ScaleSummary | None = None) -> Iterator:
    """Label a Ray Dataset (the task's input columns); yields pyarrow Tables of its columns plus the answer
    columns, in order, until the data ends or the budget stops it (the stopped rows are not yielded)."""
    settings = settings or ScaleSettings()
    task, _, answer_columns = spec.task_and_output()
    summary = summary if summary is not None else ScaleSummary(written=0, skipped=0, failed=0, out="")
    with _job(spec, dataset, task.input_columns, answer_columns, ledger, settings, {"engine": "ray"},
              summary=summary) as tables:
        for table in tables:
            answers, stopped = _answers(table, answer_columns)
            table = table.drop_columns([PAID, HITS]).slice(0, len(answers))
            summary.written += table.num_rows
            summary.failed += sum(a.get("error") is not None for a in answers)
            yield table
            if stopped:
                summary.budget_stopped = True
                return


def stage_inputs(data: Path, task, *, skip: int, folder: Path, rows_per_file: int) -> int:
    """The input fields (as text) of ``data``'s rows after the first ``skip``, as numbered Parquet files of
    ``rows_per_file`` rows in ``folder``; returns how many rows. Rows are checked as threads-only predict
    checks them (an unreadable row, a missing input column) before any is labelled."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    columns = task.input_columns
    schema = pa.schema([(name, pa.string()) for name in columns])
    rows, count = input_rows(data, task, skip=skip), 0
    for number in itertools.count():
        chunk = list(itertools.islice(rows, rows_per_file))
        if not chunk:
            return count
        table = pa.table({name: [str(row[column]) for row in chunk] for name, column in columns.items()},
                         schema=schema)
        pq.write_table(table, folder / f"{number:08d}.parquet")
        count += len(chunk)
    return count


def _answers(table, answer_columns: list[str]) -> tuple[list[dict], bool]:
    """The batch's answer dicts up to the first row the budget stopped (and whether it did)."""
    answers = table.select(answer_columns).to_pylist()
    stop = next((i for i, answer in enumerate(answers) if answer.get("error") == BUDGET), None)
    return (answers, False) if stop is None else (answers[:stop], True)


@contextmanager
def _job(spec: ModelSpec, dataset, columns: dict, answer_columns: list[str], ledger, settings: ScaleSettings,
         arguments: dict, *, summary: ScaleSummary, staged: Path | None = None):
    """The labelled batches of a job (ledger run and gate opened first, closed after)."""
    import ray

    from lmprog.ledger import Ledger, ledger_path
    from lmprog.scale.gate import start_gate

    connect(settings.address)
    if staged is not None:  # one block per staged file, so the actor pool shares them out
        files = [{STAGED: str(path)} for path in sorted(staged.glob("*.parquet"))]
        dataset = ray.data.from_items(files, override_num_blocks=len(files))
    store = Ledger(Path(ledger_path(ledger)).absolute()) if spec.uses_lm else None
    run_id = store.start_run("predict", arguments) if store is not None else None
    gate = None
    try:
        if spec.uses_lm:
            gate = start_gate(f"lmprog-gate-{uuid.uuid4().hex[:12]}", ledger_path=str(store.path), run_id=run_id,
                              rps=settings.rps, max_in_flight=settings.max_in_flight, budget=settings.budget)
        batch = 1 if staged is not None else settings.batch_size or (4 * spec.threads if spec.uses_lm else 4096)
        labelled = dataset.map_batches(
            LabelWorker, fn_constructor_kwargs={"spec": _portable(spec), "columns": columns,
                                                "answer_columns": answer_columns, "gate": gate},
            compute=ray.data.ActorPoolStrategy(size=settings.concurrency), batch_size=batch,
            batch_format="pyarrow", zero_copy_batch=True, num_cpus=settings.num_cpus)
        yield (table for table in labelled.iter_batches(batch_size=None, batch_format="pyarrow") if table.num_rows)
    finally:
        if gate is not None:
            stats = ray.get(gate.close.remote())
            ray.kill(gate)
            summary.paid_calls, summary.failed_calls = stats["paid"], stats["failed"]
            summary.ledger_hits, summary.voided_claims = stats["hits"], stats["voided"]
            summary.max_in_flight_seen = stats["max_in_flight_seen"]
        if store is not None:
            store.end_run(run_id)
            store.close()


def _portable(spec: ModelSpec) -> ModelSpec:
    """``spec`` with file paths made absolute (actors may run in another folder)."""
    import os
    from dataclasses import replace

    def absolute(value):
        return str(Path(value).absolute()) if isinstance(value, (str, os.PathLike)) else value

    return replace(spec, program=absolute(spec.program), classifier=absolute(spec.classifier),
                   program_file=absolute(spec.program_file))


def connect(address: str | None = None) -> None:
    """Join the Ray cluster at ``address``, else keep the one this process joined, else start a local one;
    Ray Data keeps the order of rows and shows no progress bars."""
    import ray
    import ray.data

    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING,
                 configure_logging=False)
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    context.enable_progress_bars = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)
