"""``lmprog suggest``, ``lmprog audit`` and ``lmprog estimate``: the label loop."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from lmprog.cli import options as opt
from lmprog.cli.output import show, stage_progress

TaskArgument = typer.Argument(..., help="The task file (TOML).", show_default=False)
Compiled = typer.Option(None, "--compiled", help="A compiled program (compiled.json) whose answers guide the choice.",
                        show_default=False)
Model = typer.Option(None, "--model", help="A distilled classifier (model.skops).", show_default=False)
Embeddings = typer.Option("auto", "--embeddings", help="auto (MiniLM with the dense extra, else TF-IDF + SVD), "
                                                       "dense or tfidf.")


def register(app: typer.Typer) -> None:
    app.command("suggest")(suggest_command)
    app.command("audit")(audit_command)
    app.command("estimate")(estimate_command)


def suggest_command(
    task: Path = TaskArgument,
    unlabeled: Path = typer.Option(..., "--unlabeled", help="The pool of unlabelled rows.", show_default=False),
    n: int = typer.Option(20, "--n", help="How many rows to suggest."),
    out: Path = typer.Option(..., "--out", help="Where to write the rows to label (JSONL queue).", show_default=False),
    compiled: Optional[Path] = Compiled, model: Optional[Path] = Model,
    labelled: Optional[Path] = typer.Option(None, "--labelled", show_default=False,
                                            help="Rows labelled already [default: the task's train data]."),
    strategy: str = typer.Option("auto", "--strategy", help="auto, typiclust, probcover or uncertainty."),
    embeddings: str = Embeddings,
    scan: int = typer.Option(200, "--scan", help="With --compiled: the program answers at most this many rows."),
    seed: int = opt.Seed, lm: Optional[str] = opt.Lm, api_base: Optional[str] = opt.ApiBase,
    budget_usd: Optional[float] = opt.BudgetUsd, max_calls: Optional[int] = opt.MaxCalls,
    program_file: Optional[Path] = opt.ProgramFile, threads: int = opt.Threads, ledger: Optional[Path] = opt.Ledger,
    offline: bool = opt.Offline, force: bool = opt.Force, as_json: bool = opt.Json,
) -> None:
    """Choose which rows of --unlabeled to label next; each row says why it was chosen.

    Example: lmprog suggest task.toml --unlabeled pool.jsonl --n 20 --out to_label.jsonl
    """
    from lmprog.jobs.loop import suggest_file
    from lmprog.run import Budget

    with stage_progress(as_json) as advance:
        built = suggest_file(task, unlabeled, out=out, n=n, compiled=compiled, model=model, labelled=labelled,
                             seed=seed, strategy=strategy, embeddings=embeddings, scan=scan, lm=lm, api_base=api_base,
                             ledger=ledger, offline=offline, budget=Budget(max_calls=max_calls, max_usd=budget_usd),
                             threads=threads, program_file=program_file, force=force, progress=advance)
    show(built, as_json)


def audit_command(
    task: Path = TaskArgument,
    data: Path = typer.Option(..., "--data", help="The labelled rows to audit.", show_default=False),
    compiled: Optional[Path] = typer.Option(None, "--compiled", show_default=False,
                                            help="A compiled program whose answers join the evidence."),
    report: Optional[Path] = opt.Report,
    out: Optional[Path] = typer.Option(None, "--out", show_default=False,
                                       help="Also write the flags as a review queue (JSONL) for 'lmprog label'."),
    top: int = typer.Option(20, "--top", help="Flags shown on the terminal."),
    embeddings: str = Embeddings, seed: int = opt.Seed, lm: Optional[str] = opt.Lm,
    api_base: Optional[str] = opt.ApiBase, budget_usd: Optional[float] = opt.BudgetUsd,
    max_calls: Optional[int] = opt.MaxCalls, program_file: Optional[Path] = opt.ProgramFile,
    threads: int = opt.Threads, ledger: Optional[Path] = opt.Ledger, offline: bool = opt.Offline,
    force: bool = opt.Force, as_json: bool = opt.Json,
) -> None:
    """Find labels in --data that look wrong, worst first, with the label the evidence suggests.

    Example: lmprog audit task.toml --data train.jsonl --report audit.html
    """
    from lmprog.jobs.loop import audit_file
    from lmprog.run import Budget

    with stage_progress(as_json) as advance:
        built = audit_file(task, data, compiled=compiled, report=report, out=out, seed=seed, embeddings=embeddings,
                           top=top, lm=lm, api_base=api_base, ledger=ledger, offline=offline,
                           budget=Budget(max_calls=max_calls, max_usd=budget_usd), threads=threads,
                           program_file=program_file, force=force, progress=advance)
    show(built, as_json)


def estimate_command(
    compiled: Path = opt.Artifact,
    unlabeled: Path = typer.Option(..., "--unlabeled", help="The pool to estimate the score on.", show_default=False),
    labels: Optional[int] = typer.Option(None, "--labels", help="How many labels to draw.", show_default=False),
    out: Optional[Path] = typer.Option(None, "--out", help="Where to write the rows to label (JSONL queue).",
                                       show_default=False),
    labelled: Optional[Path] = typer.Option(None, "--labelled", show_default=False,
                                            help="The rows to label, labelled: estimate the score from them."),
    sample: Optional[Path] = typer.Option(None, "--sample", show_default=False,
                                          help="The file --out wrote, when the labels are in another file."),
    model: Optional[Path] = typer.Option(None, "--model", show_default=False,
                                         help="A distilled classifier as the surrogate [default: program confidence]."),
    seed: int = opt.Seed, lm: Optional[str] = opt.Lm, api_base: Optional[str] = opt.ApiBase,
    budget_usd: Optional[float] = opt.BudgetUsd, max_calls: Optional[int] = opt.MaxCalls,
    program_file: Optional[Path] = opt.ProgramFile, threads: int = opt.Threads, ledger: Optional[Path] = opt.Ledger,
    offline: bool = opt.Offline, force: bool = opt.Force, as_json: bool = opt.Json,
) -> None:
    """Estimate the program's score on your own pool, with an interval, from a few labels chosen by active testing.

    Examples: lmprog estimate compiled.json --unlabeled pool.jsonl --labels 50 --out to_label.jsonl

      lmprog estimate compiled.json --unlabeled pool.jsonl --labelled to_label.jsonl
    """
    from lmprog.jobs.loop import estimate_file
    from lmprog.run import Budget

    with stage_progress(as_json) as advance:
        built = estimate_file(compiled, unlabeled, labels=labels, out=out, labelled=labelled, sample=sample,
                              model=model, seed=seed, lm=lm, api_base=api_base, ledger=ledger, offline=offline,
                              budget=Budget(max_calls=max_calls, max_usd=budget_usd), threads=threads,
                              program_file=program_file, force=force, progress=advance)
    show(built, as_json)
