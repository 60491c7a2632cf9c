"""``lmprog evaluate``, ``predict``, ``report`` and ``distill``: programs run on data."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from lmprog.cli import options as opt
from lmprog.cli.output import show, stage_progress


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate_command)
    app.command("predict")(predict_command)
    app.command("report")(report_command)
    app.command("distill")(distill_command)


def evaluate_command(
    compiled: Path = opt.Artifact,
    data: Path = typer.Option(..., "--data", help="Labelled examples (JSONL, JSON, CSV or TSV).", show_default=False),
    lm: Optional[str] = opt.Lm, api_base: Optional[str] = opt.ApiBase, budget_usd: Optional[float] = opt.BudgetUsd,
    max_calls: Optional[int] = opt.MaxCalls, report: Optional[Path] = opt.Report,
    program_file: Optional[Path] = opt.ProgramFile, threads: int = opt.Threads, ledger: Optional[Path] = opt.Ledger,
    offline: bool = opt.Offline,
    baseline: bool = typer.Option(False, "--baseline", help="Also run the zero-shot program on the same data and "
                                                            "report before -> after (more LM calls)."),
    force: bool = opt.Force, as_json: bool = opt.Json,
) -> None:
    """Score a compiled program on labelled data: metrics, per-label scores, errors and cost."""
    from lmprog.jobs import evaluate_file
    from lmprog.run import Budget

    with stage_progress(as_json) as advance:
        built = evaluate_file(compiled, data, lm=lm, api_base=api_base, ledger=ledger, offline=offline,
                              budget=Budget(max_calls=max_calls, max_usd=budget_usd), threads=threads,
                              baseline=baseline, report=report, force=force, program_file=program_file,
                              progress=advance)
    show(built, as_json)
    if report is not None and not as_json:
        print(f"HTML report: {report}")


def predict_command(
    compiled: Path = typer.Argument(..., help="A compiled program (compiled.json) or a distilled classifier "
                                              "(model.skops).", show_default=False),
    data: Path = typer.Option(..., "--data", help="Rows to label (JSONL, JSON, CSV, TSV or Parquet with the task's "
                                                  "input fields).", show_default=False),
    out: Path = typer.Option(..., "--out", help="Where to write the rows with their labels (JSONL, or Parquet for "
                                                ".parquet); a file of earlier predictions is continued.",
                             show_default=False),
    cascade: Optional[Path] = typer.Option(None, "--cascade", show_default=False, help=(
        "With a classifier: the compiled program it was distilled from, which answers the rows the "
        "classifier is unsure of.")),
    max_lm_fraction: Optional[float] = typer.Option(None, "--max-lm-fraction", show_default=False, help=(
        "Cascade: send at most this share of rows to the LM, at the best score the classifier's cascade "
        "curve shows [default: 0.2].")),
    min_score: Optional[float] = typer.Option(None, "--min-score", show_default=False,
                                              help="Cascade: the fewest LM calls that reach this score."),
    lm: Optional[str] = opt.Lm, api_base: Optional[str] = opt.ApiBase, program_file: Optional[Path] = opt.ProgramFile,
    threads: int = opt.Threads, ledger: Optional[Path] = opt.Ledger, offline: bool = opt.Offline,
    budget_usd: Optional[float] = opt.BudgetUsd, max_calls: Optional[int] = opt.MaxCalls,
    engine: str = typer.Option("threads", "--engine", help="threads (this process) or ray (a Ray cluster; needs "
                                                           "the ray extra)."),
    address: Optional[str] = typer.Option(None, "--address", show_default=False, help=(
        "Ray: the cluster to join [default: a local one]")),
    concurrency: int = typer.Option(2, "--concurrency", help="Ray: actors in the pool (--threads rows each)."),
    rps: Optional[float] = typer.Option(None, "--rps", show_default=False,
                                        help="Ray: LM requests per second across the cluster."),
    max_in_flight: Optional[int] = typer.Option(None, "--max-in-flight", show_default=False,
                                                help="Ray: LM calls in flight at once across the cluster."),
    force: bool = opt.Force, as_json: bool = opt.Json,
) -> None:
    """Label every row of --data into --out, streaming; a rerun resumes where it stopped.

    Examples: lmprog predict compiled.json --data in.jsonl --out out.jsonl

      lmprog predict model.skops --data in.jsonl --out out.jsonl --cascade compiled.json --max-lm-fraction 0.2

      lmprog predict compiled.json --data in.parquet --out out.parquet --engine ray --rps 100
    """
    from lmprog.jobs import predict_to_file
    from lmprog.run import Budget

    ray = {"address": address, "concurrency": concurrency, "rps": rps, "max_in_flight": max_in_flight}
    show(predict_to_file(compiled, data, out, cascade=cascade, max_lm_fraction=max_lm_fraction, min_score=min_score,
                         lm=lm, api_base=api_base, ledger=ledger, offline=offline, threads=threads,
                         program_file=program_file, force=force, budget=Budget(max_calls=max_calls, max_usd=budget_usd),
                         engine=engine, ray=ray), as_json)


def report_command(
    source: str = typer.Argument(..., help="A compiled program (compiled.json) or a ledger run id.",
                                 show_default=False),
    data: Optional[Path] = typer.Option(None, "--data", help="Labelled examples to report on (replayed from the "
                                                             "ledger).", show_default=False),
    html: Optional[Path] = typer.Option(None, "--html", help="Write an HTML report here.", show_default=False),
    program_file: Optional[Path] = opt.ProgramFile, ledger: Optional[Path] = opt.Ledger, force: bool = opt.Force,
    as_json: bool = opt.Json,
) -> None:
    """Re-render a report from the ledger and the artifact, without any LM call; the ledger is only read.

    With a compiled program and --data, the evaluation is replayed from the ledger (a call that is
    not there is an error, never paid for); with a run id, that evaluate run is replayed.
    """
    from lmprog.jobs import replay_report

    with stage_progress(as_json) as advance:
        built = replay_report(source, data=data, ledger=ledger, program_file=program_file, html=html, force=force,
                              progress=advance)
    show(built, as_json)
    if html is not None and not as_json:
        print(f"HTML report: {html}")


def distill_command(
    compiled: Path = opt.Artifact,
    unlabeled: Path = typer.Option(..., "--unlabeled", help="Texts to pseudo-label (JSONL, JSON, CSV or TSV with the "
                                                            "task's input fields).", show_default=False),
    out: Path = typer.Option(Path("model.skops"), "--out", help="Where to save the classifier (skops)."),
    gold: Optional[Path] = typer.Option(None, "--gold", show_default=False, help=(
        "Labelled examples: score program, classifier and cascade on them and draw the cascade curve.")),
    features: str = typer.Option("tfidf", "--features", help="tfidf (word + character n-grams) or embeddings (needs "
                                                             "the dense extra)."),
    min_confidence: Optional[float] = typer.Option(None, "--min-confidence", show_default=False, help=(
        "Drop pseudo-labels whose confidence is below this (logprobs, or agreement with --samples).")),
    samples: int = typer.Option(1, "--samples", help="Answers per text; above 1, confidence is their agreement."),
    balance: bool = typer.Option(True, "--balance/--no-balance", help="Weight classes inversely to frequency."),
    seed: int = typer.Option(0, "--seed", help="Seed for the folds and the model."),
    max_lm_fraction: float = typer.Option(0.2, "--max-lm-fraction", help="The cascade the report shows: at most "
                                                                         "this share of rows to the LM."),
    report: Optional[Path] = opt.Report, lm: Optional[str] = opt.Lm, api_base: Optional[str] = opt.ApiBase,
    budget_usd: Optional[float] = opt.BudgetUsd, max_calls: Optional[int] = opt.MaxCalls,
    program_file: Optional[Path] = opt.ProgramFile, threads: int = opt.Threads, ledger: Optional[Path] = opt.Ledger,
    offline: bool = opt.Offline, force: bool = opt.Force, as_json: bool = opt.Json,
) -> None:
    """Distill a compiled program into a scikit-learn classifier trained on its answers to --unlabeled.

    Example: lmprog distill compiled.json --unlabeled texts.jsonl --gold dev.jsonl --report distill.html
    """
    from lmprog.jobs import distill_file
    from lmprog.run import Budget

    with stage_progress(as_json) as advance:
        built = distill_file(compiled, unlabeled, out=out, report=report, gold=gold, features=features,
                             min_confidence=min_confidence, samples=samples, balance=balance, seed=seed,
                             max_lm_fraction=max_lm_fraction, lm=lm, api_base=api_base, ledger=ledger,
                             offline=offline, budget=Budget(max_calls=max_calls, max_usd=budget_usd),
                             threads=threads, program_file=program_file, force=force, progress=advance)
    show(built, as_json)
