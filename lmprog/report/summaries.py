"""The short summaries commands print: what a compile did, what predict wrote, what a compile would cost.

Each renders itself on a rich console (``console.print(summary)``) and prints as JSON
(``to_json()``); they have no HTML page (the compile's HTML page is its
:class:`~lmprog.report.EvaluationReport`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.table import Table
from rich.text import Text

from lmprog.report._record import Record, Report, named_field, record_field, records_field, score_field
from lmprog.report.comparisons import Selection
from lmprog.report.score import Score, score_text
from lmprog.report.sections import BUDGET_NOTE, BudgetInfo, Candidate, points_text

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderResult

__all__ = ["CompileSummary", "OptimizerInfo", "PlanPhase", "PlanReport", "PredictReport", "Spent"]


@dataclass
class Spent(Record):
    """What a run paid: LM calls, ledger hits, tokens and USD (calls without a price counted apart)."""

    calls: int = 0
    hits: int = 0
    tokens: int = 0
    usd: float = 0.0
    unpriced_calls: int = 0

    def usd_text(self) -> str:
        return "unpriced" if self.unpriced_calls else f"${self.usd:,.4f}"


@dataclass
class OptimizerInfo(Record):
    """The seed, and with several seeds each seed's dev score with their mean and standard deviation."""

    seed: int | None = None
    seed_scores: list[float] | None = None
    seed_mean: float | None = None
    seed_std: float | None = None


@dataclass
class CompileSummary(Report):
    """The one screen ``lmprog compile`` prints: dev score against zero-shot, what it cost, where it
    saved the artifact (``artifact``) and the HTML report (``html_path``, data key ``report``)."""

    artifact: str = ""
    dev_score: Score | None = score_field()
    run_id: str | None = None
    candidates: list[Candidate] = records_field(Candidate)
    zero_shot_score: Score | None = score_field()
    spent: Spent = record_field(Spent)
    budget: BudgetInfo | None = record_field(BudgetInfo, optional=True)
    optimizer: OptimizerInfo = record_field(OptimizerInfo)
    selection: Selection | None = record_field(Selection, optional=True)
    html_path: str | None = named_field("report")

    @classmethod
    def from_compiled(cls, compiled: Any, artifact: str, *, html_path: str | None = None) -> CompileSummary:
        """The summary of a :class:`~lmprog.CompiledProgram` saved at ``artifact``: scores with the intervals
        and the paired difference to zero-shot the artifact records (``optimizer.why``), when it does."""
        from lmprog.evaluation.intervals_of import score_data
        from lmprog.evaluation.results import candidate_record, candidate_records

        why = compiled.optimizer.get("why")
        data = {"artifact": str(artifact),
                "dev_score": score_data(candidate_record(compiled).get("interval")) or compiled.dev_score,
                "run_id": compiled.run_id, "candidates": candidate_records(compiled),
                "zero_shot_score": score_data(candidate_record(compiled, "zero-shot").get("interval"))
                or compiled.zero_shot_score,
                "spent": compiled.spent, "budget": compiled.budget,
                "optimizer": {k: v for k, v in compiled.optimizer.items()
                              if k in ("seed", "seed_scores", "seed_mean", "seed_std")}}
        data |= {"selection": why} if why else {}
        return cls.from_dict(data | ({"report": str(html_path)} if html_path is not None else {}))

    def change_text(self) -> str:
        """`` (zero-shot 0.500 [..], +37.5 points [+10.0, +60.0]: better)``: against zero-shot, paired when the
        artifact says how the kept program compares with it, else the bare change of an older artifact."""
        zero_shot, selection = self.zero_shot_score, self.selection
        if zero_shot is None:
            return ""
        if selection is not None and selection.vs_zero_shot is not None and selection.vs_zero_shot.value is not None:
            if selection.chosen == "zero-shot" and selection.best not in (None, "zero-shot"):
                return (f" (zero-shot kept; the best candidate {selection.best} vs zero-shot: "
                        f"{selection.vs_zero_shot.text()})")
            if selection.chosen != "zero-shot":
                return f" (zero-shot {score_text(zero_shot)}, {selection.vs_zero_shot.text()})"
        points = points_text(zero_shot, self.dev_score)
        return f" (zero-shot {score_text(zero_shot)}" + (f", {points})" if points else ")")

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield console.render_str(f"[bold]dev score {escape(score_text(self.dev_score))}[/bold]"
                                 f"{escape(self.change_text())} over {len(self.candidates)} candidates")
        if self.selection is not None and self.selection.reason:
            yield console.render_str(escape(f"why: {self.selection.reason}"))
        spent = self.spent
        yield console.render_str(escape(f"paid calls {spent.calls:,} · ledger hits {spent.hits:,} · "
                                        f"tokens {spent.tokens:,} · {spent.usd_text()} · run {self.run_id}"))
        if self.budget is not None and self.budget.stopped_early:
            yield console.render_str(f"[yellow]{BUDGET_NOTE}[/yellow]")
        optimizer = self.optimizer
        if optimizer.seed_mean is not None:
            yield console.render_str(escape(f"seeds {optimizer.seed_scores}: mean {optimizer.seed_mean:.3f} "
                                            f"± {optimizer.seed_std:.3f}"))
        report = f" · report {self.html_path}" if self.html_path else ""
        yield console.render_str(escape(f"saved {self.artifact}{report}"))


@dataclass
class PredictReport(Report):
    """What ``lmprog predict`` did: rows written, found already done, failed; with a cascade, how many
    the program answered."""

    written: int = 0
    skipped: int = 0
    failed: int = 0
    out: str = ""
    ledger: str | None = None
    model: str | None = None
    lm_rows: int | None = None
    threshold: float | None = None
    lm_fraction_expected: float | None = None

    @classmethod
    def from_summary(cls, summary: Any, **more: Any) -> PredictReport:
        """From a :class:`lmprog.predict.PredictSummary` and ``more`` data (ledger, model, lm_rows, ...)."""
        return cls.from_dict(dict(vars(summary)) | more)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        line = (f"wrote {self.written:,} rows to {self.out} ({self.skipped:,} already there, "
                f"{self.failed:,} failed)")
        if self.lm_rows is not None:
            expected = "" if self.lm_fraction_expected is None else f", {self.lm_fraction_expected:.0%} expected"
            threshold = "?" if self.threshold is None else f"{self.threshold:.3f}"
            line += f"; the program answered {self.lm_rows:,} of them (threshold {threshold}{expected})"
        yield console.render_str(escape(line))


@dataclass
class PlanPhase(Record):
    name: str = ""
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    model: str = ""


@dataclass
class PlanReport(Report):
    """What ``lmprog compile`` would cost (``lmprog plan``): calls, tokens and USD per phase, no LM called."""

    calls: int = 0
    paid_calls: int = 0
    cached_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    usd: float | None = None
    run_id: str | None = None
    phases: list[PlanPhase] = records_field(PlanPhase)
    budget: str | None = None

    @classmethod
    def from_plan(cls, plan: Any, *, budget: str | None = None) -> PlanReport:
        """From :func:`lmprog.plan`'s estimate and the budget's description."""
        return cls.from_dict(plan.to_dict() | {"budget": budget})

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        table = Table(title="compile plan (no LM called)")
        for column in ("phase", "model", "calls", "prompt tokens/call", "completion tokens/call"):
            table.add_column(column, justify="left" if column in ("phase", "model") else "right")
        for phase in self.phases:
            table.add_row(Text(phase.name), Text(phase.model), f"{phase.calls:,}", f"{phase.prompt_tokens:,}",
                          f"{phase.completion_tokens:,}")
        yield table
        usd = "unpriced model" if self.usd is None else f"${self.usd:,.4f}"
        yield console.render_str(escape(
            f"{self.calls:,} calls ({self.cached_calls:,} already in the ledger, {self.paid_calls:,} to pay) · "
            f"{self.prompt_tokens + self.completion_tokens:,} tokens · {usd} · budget: {self.budget}"))
