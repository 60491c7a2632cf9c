"""``lmprog suggest``, ``lmprog audit`` and ``lmprog estimate`` as library calls: read the files, check the
outputs before any work, run the label loop function, write the queue or report, return the report."""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable
from pathlib import Path

from lmprog.jobs.setup import is_report_file, load_artifact, open_models
from lmprog.paths import check_output
from lmprog.run import Budget

PathLike = str | os.PathLike


def suggest_file(task: PathLike, unlabeled: PathLike, *, out: PathLike, n: int = 20, compiled: PathLike | None = None,
                 model: PathLike | None = None, labelled: PathLike | None = None, seed: int = 0,
                 strategy: str = "auto", embeddings: str = "auto", scan: int | None = 200, lm: str | None = None,
                 api_base: str | None = None, ledger=None, offline: bool = False, budget: Budget | None = None,
                 threads: int = 8, program_file=None, force: bool = False,
                 progress: Callable[[str, int, int], None] | None = None):
    """Write the ``n`` rows of ``unlabeled`` to label next to the queue file ``out``; returns a
    :class:`lmprog.report.loop.SuggestReport`. ``labelled`` defaults to the task's train data."""
    from lmprog.loop import is_queue_file, suggest, write_queue
    from lmprog.loop.texts import text_of
    from lmprog.report.loop import SuggestReport
    from lmprog.task import Task

    inputs = [p for p in (task, unlabeled, compiled, model, labelled) if p is not None]
    out = check_output(out, what="queue file", force=force, ours=is_queue_file, inputs=inputs)
    task = Task.from_toml(task)
    labelled = labelled if labelled is not None else _train_file(task)
    program, model_lm = _program(compiled, program_file, lm, api_base, ledger, offline)
    found = suggest(task, unlabeled, n=n, compiled=program, model=model, labelled=labelled, seed=seed,
                    strategy=strategy, embeddings=embeddings, scan=scan, lm=model_lm, budget=budget, threads=threads,
                    progress=progress and (lambda d, t: progress("program", d, t)))
    write_queue(out, found.queue_rows(task))
    return SuggestReport.from_suggestions(found, text_of=lambda inputs: text_of(task, inputs), out=str(out))


def audit_file(task: PathLike, data: PathLike, *, compiled: PathLike | None = None, report: PathLike | None = None,
               out: PathLike | None = None, seed: int = 0, embeddings: str = "auto", top: int = 20,
               lm: str | None = None, api_base: str | None = None, ledger=None, offline: bool = False,
               budget: Budget | None = None, threads: int = 8, program_file=None, force: bool = False,
               progress: Callable[[str, int, int], None] | None = None):
    """Audit the labels of ``data``; returns a :class:`lmprog.report.audit.AuditReport`, written as HTML to
    ``report`` and the flags as a review queue to ``out`` when given."""
    from lmprog.loop import audit, is_queue_file, write_queue
    from lmprog.loop.texts import text_of
    from lmprog.report.audit import AuditReport
    from lmprog.task import Task

    inputs = [p for p in (task, data, compiled) if p is not None]
    report = check_output(report, what="report", force=force, ours=is_report_file, inputs=inputs)
    out = check_output(out, what="queue file", force=force, ours=is_queue_file, inputs=[*inputs, report])
    task = Task.from_toml(task)
    program, model_lm = _program(compiled, program_file, lm, api_base, ledger, offline)
    found = audit(task, data, compiled=program, seed=seed, embeddings=embeddings, lm=model_lm, budget=budget,
                  threads=threads, progress=progress and (lambda d, t: progress("program", d, t)))
    if out is not None:
        write_queue(out, found.queue_rows(task))
    built = AuditReport.from_audit(found, task, data=str(Path(data).resolve()), top=top,
                                   text_of=lambda inputs: text_of(task, inputs),
                                   html_path=None if report is None else str(report))
    if report is not None:
        built.write_html(report)
    return built


def estimate_file(compiled: PathLike, unlabeled: PathLike, *, labels: int | None = None, out: PathLike | None = None,
                  labelled: PathLike | None = None, sample: PathLike | None = None, model: PathLike | None = None,
                  seed: int = 0, lm: str | None = None, api_base: str | None = None, ledger=None,
                  offline: bool = False, budget: Budget | None = None, threads: int = 8, program_file=None,
                  force: bool = False, progress: Callable[[str, int, int], None] | None = None):
    """Draw ``labels`` rows of ``unlabeled`` to label into ``out``, or (with ``labelled``) estimate the program's
    score from them; returns a :class:`lmprog.report.loop.EstimateReport`."""
    from lmprog.errors import ConfigurationError
    from lmprog.loop import estimate, is_queue_file, write_queue
    from lmprog.report.loop import EstimateReport

    if labelled is None and out is None:
        raise ConfigurationError("give --out for the rows to label (with --labels N), or --labelled with them labelled")
    inputs = [p for p in (compiled, unlabeled, model, labelled, sample) if p is not None]
    out = check_output(out, what="queue file", force=force, ours=is_queue_file, inputs=inputs) \
        if labelled is None else None
    program, model_lm = _program(compiled, program_file, lm, api_base, ledger, offline)
    result = estimate(program, unlabeled, labels=labels, surrogate=model, labelled_file=labelled, sample_file=sample,
                      seed=seed, lm=model_lm, budget=budget, threads=threads,
                      progress=progress and (lambda d, t: progress("program", d, t)))
    if out is None:
        return EstimateReport.from_estimate(result)
    write_queue(out, result.queue_rows(program.task))
    words = ["lmprog", "estimate", str(compiled), "--unlabeled", str(unlabeled), "--labelled", str(out)]
    for flag, value in (("--model", model), ("--lm", lm), ("--api-base", api_base), ("--ledger", ledger),
                        ("--program-file", program_file), ("--seed", seed or None)):
        words += [flag, str(value)] if value is not None else []
    words += ["--offline"] if offline else []
    return EstimateReport.from_estimate(result, out=str(out), command=shlex.join(words))


def _program(compiled, program_file, lm, api_base, ledger, offline):
    """The compiled program (None stays None) and the LM it runs on, on the command's ledger."""
    if compiled is None:
        return None, None
    program = load_artifact(compiled, program_file)
    return program, open_models(lm or program.lm.get("model"), api_base=api_base, ledger=ledger, offline=offline).lm


def _train_file(task) -> Path | None:
    train = getattr(task.data, "train", None)
    return Path(train) if train is not None and Path(train).is_file() else None
