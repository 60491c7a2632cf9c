"""``lmprog distill`` and prediction with a distilled classifier (alone or as a cascade).

Thin like the other verbs: open the artifact and data, call :func:`lmprog.distill` or a
classifier, print. Heavy imports stay inside the functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from lmprog.cli_programs import (ApiBaseOption, BudgetUsdOption, JsonOption, LedgerOption, LmOption, MaxCallsOption,
                                 OfflineOption, ThreadsOption, _load_artifact, _make_lm, _print)
from lmprog.errors import ConfigurationError


def register(app: typer.Typer) -> None:
    """Add ``distill`` to ``app``."""

    @app.command("distill")
    def distill_command(
        compiled: Path = typer.Argument(..., help="A compiled program (compiled.json).", show_default=False),
        unlabeled: Path = typer.Option(..., "--unlabeled", help="Texts to pseudo-label (JSONL, JSON, CSV or TSV "
                                                                "with the task's input fields).", show_default=False),
        out: Path = typer.Option(Path("model.skops"), "--out", help="Where to save the classifier (skops)."),
        gold: Optional[Path] = typer.Option(None, "--gold", show_default=False, help=(
            "Labelled examples: score program, classifier and cascade on them and draw the cascade curve.")),
        features: str = typer.Option("tfidf", "--features", help="tfidf (word + character n-grams) or embeddings "
                                                                 "(needs the dense extra)."),
        min_confidence: Optional[float] = typer.Option(None, "--min-confidence", show_default=False, help=(
            "Drop pseudo-labels whose confidence is below this (logprobs, or agreement with --samples).")),
        samples: int = typer.Option(1, "--samples", help="Answers per text; above 1, confidence is their agreement."),
        balance: bool = typer.Option(True, "--balance/--no-balance", help="Weight classes inversely to frequency."),
        seed: int = typer.Option(0, "--seed", help="Seed for the folds and the model."),
        max_lm_fraction: float = typer.Option(0.2, "--max-lm-fraction", help="The cascade the report shows: at "
                                                                             "most this share of rows to the LM."),
        report: Optional[Path] = typer.Option(None, "--report", help="Write an HTML report here.", show_default=False),
        lm: Optional[str] = LmOption, api_base: Optional[str] = ApiBaseOption,
        budget_usd: Optional[float] = BudgetUsdOption, max_calls: Optional[int] = MaxCallsOption,
        program_file: Optional[Path] = typer.Option(None, "--program-file", show_default=False,
                                                    help="The program file of a custom program."),
        threads: int = ThreadsOption, ledger: Optional[Path] = LedgerOption, offline: bool = OfflineOption,
        as_json: bool = JsonOption,
    ) -> None:
        """Distill a compiled program into a scikit-learn classifier trained on its answers to --unlabeled.

        Example: lmprog distill compiled.json --unlabeled texts.jsonl --gold dev.jsonl --report distill.html
        """
        import lmprog
        from lmprog.budget import Budget
        from lmprog.report import DistillReport

        artifact = _load_artifact(compiled, program_file)
        model = _make_lm(lm or artifact.lm.get("model"), api_base, ledger, "replay" if offline else "readwrite")
        with _progress(as_json) as advance:
            distilled = lmprog.distill(artifact, unlabeled, lm=model, features=features, gold=gold,
                                       min_confidence=min_confidence, samples=samples, balance=balance, seed=seed,
                                       budget=Budget(max_calls=max_calls, max_usd=budget_usd), threads=threads,
                                       artifact_path=str(compiled), progress=advance)
        distilled.save(out)
        summary = DistillReport.from_distilled(distilled, max_lm_fraction=max_lm_fraction, model_path=str(out))
        if report is not None:
            summary.write_html(report)
            summary.html_path = str(report)
        _print(summary, as_json)


def predict_with_classifier(model_path: Path, data: Path, out: Path, *, cascade: Path | None,
                            max_lm_fraction: float | None, min_score: float | None, lm, api_base, ledger,
                            offline: bool, threads: int, program_file) -> dict:
    """``lmprog predict model.skops``: the classifier alone, or cascaded to the compiled program."""
    from lmprog.distillation import Cascade, load_distilled
    from lmprog.predict import answer_file

    classifier = load_distilled(model_path)
    if cascade is None:
        if max_lm_fraction is not None or min_score is not None:
            raise ConfigurationError("--max-lm-fraction and --min-score need --cascade compiled.json (the program "
                                     "that answers what the classifier is unsure of)")
        summary = answer_file(classifier.answer_rows, classifier.task, data, out)
        return summary.__dict__ | {"model": str(model_path)}
    artifact = _load_artifact(cascade, program_file)
    model = _make_lm(lm or artifact.lm.get("model"), api_base, ledger, "replay" if offline else "readwrite")
    if max_lm_fraction is None and min_score is None:
        max_lm_fraction = 0.2
    chain = Cascade(classifier, artifact, lm=model, max_lm_fraction=max_lm_fraction, min_score=min_score,
                    threads=threads)
    lm_rows = 0

    def answer(rows: list[dict]) -> list[dict]:
        nonlocal lm_rows
        answers = chain.answer_rows(rows)
        lm_rows += sum(a["source"] == "program" or "error" in a for a in answers)
        return answers

    with model.ledger.run("predict", {"model": str(model_path), "cascade": str(cascade), "data": str(data),
                                      "out": str(out), "threshold": chain.threshold}):
        summary = answer_file(answer, classifier.task, data, out, chunk=max(1, threads) * 16)
    return summary.__dict__ | {"model": str(model_path), "ledger": str(model.ledger.path), "lm_rows": lm_rows,
                               "threshold": chain.threshold, "lm_fraction_expected": chain.chosen.get("lm_fraction")}


class _progress:
    """A transient rich progress bar over distillation's stages (none with --json)."""

    def __init__(self, quiet: bool):
        self.quiet = quiet

    def __enter__(self):
        from rich.progress import Progress

        self.bar = Progress(transient=True, disable=self.quiet)
        self.bar.__enter__()
        self.tasks: dict[str, int] = {}
        return self.advance

    def advance(self, stage: str, done: int, total: int) -> None:
        if stage not in self.tasks:
            self.tasks[stage] = self.bar.add_task(stage, total=total)
        self.bar.update(self.tasks[stage], completed=done)

    def __exit__(self, *exc):
        return self.bar.__exit__(*exc)
