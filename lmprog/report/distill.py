"""The distillation report: program vs classifier vs cascade, on the terminal (rich), as HTML and JSON.

:meth:`DistillReport.from_distilled` builds it from a :class:`~lmprog.Distilled`. Scores are
against gold when distillation had gold data, otherwise they are agreement with the program (out
of fold), where the program scores 1 by definition.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rich.rule import Rule
from rich.text import Text

from lmprog.report import html, terminal
from lmprog.report._record import Record, Report, named_field, record_field, records_field, score_field
from lmprog.report.html import escape
from lmprog.report.score import Score, score_text, score_value
from lmprog.report.sections import TaskInfo, usd_text

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderResult

__all__ = ["DEFAULT_LM_FRACTION", "CascadeInfo", "ComparisonRow", "CurvePoint", "DistillProgram", "DistillReport",
           "DistillTask", "Training"]

DEFAULT_LM_FRACTION = 0.2
COMPARISON_COLUMNS = ["", "score", "agreement", "to LM", "predictions/s", "USD / 1,000"]


def rate_text(value: float | None) -> str:
    return "–" if value is None else f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def fraction_text(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.0f}%"


@dataclass
class DistillTask(TaskInfo):
    ranked: bool = False


@dataclass
class DistillProgram(Record):
    """The program distilled: its class, model and artifact (fingerprint and runs stay in ``extra``)."""

    class_name: str | None = named_field("class")
    model: str | None = None
    artifact: str | None = None


@dataclass
class ComparisonRow(Record):
    """One of program, classifier and cascade: score, agreement, share sent to the LM, speed, cost."""

    name: str = ""
    score: Score | None = score_field()
    agreement: Score | None = score_field()
    lm_fraction: float | None = None
    predictions_per_second: float | None = None
    usd_per_1000: float | None = None

    def cells(self) -> list[str]:
        return [self.name, score_text(self.score), "–" if self.agreement is None else score_text(self.agreement),
                fraction_text(self.lm_fraction), rate_text(self.predictions_per_second), usd_text(self.usd_per_1000)]


@dataclass
class Training(Record):
    """What was pseudo-labelled, kept and dropped (and why), and what the classifier was trained on."""

    texts: int = 0
    pseudo_labelled: int = 0
    kept: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    classes: int = 0
    label_space: int = 0
    features: str | None = None
    balance: str | None = None
    rare_labels_removed: list[str] = field(default_factory=list)
    spent: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        reasons = ", ".join(f"{n:,} {reason}" for reason, n in (self.dropped or {}).items()) or "none"
        lines = [f"{self.texts:,} texts, {self.pseudo_labelled:,} pseudo-labelled, {self.kept:,} kept; "
                 f"dropped: {reasons}",
                 f"{self.classes:,} classes of {self.label_space:,} labels · features {self.features} · "
                 f"{self.balance or 'no class balancing'}"]
        if self.rare_labels_removed:
            lines.append(f"labels removed for having fewer than 2 examples: {len(self.rare_labels_removed):,}")
        spent = self.spent or {}
        lines.append(f"pseudo-labelling paid {spent.get('calls', 0):,} calls, {spent.get('hits', 0):,} ledger hits")
        return lines + list(self.notes or [])


@dataclass
class CurvePoint(Record):
    """A cascade threshold, the share of inputs it sends to the LM, and the score the mix reaches."""

    threshold: float = 0.0
    lm_fraction: float = 0.0
    score: float | None = None
    met: bool | None = None  # the chosen point: whether it meets the target


@dataclass
class CascadeInfo(Record):
    reference: str | None = None
    examples: int | None = None
    curve: list[CurvePoint] = records_field(CurvePoint)
    chosen: CurvePoint | None = record_field(CurvePoint, optional=True)
    max_lm_fraction: float = DEFAULT_LM_FRACTION


@dataclass
class DistillReport(Report):
    """A distilled classifier against the program it came from, and the cascade between them.

    ``html_path`` (data key ``report``) is where the HTML page was written, when it was.
    """

    kind: str = "distill"
    title: str = ""
    task: DistillTask = record_field(DistillTask)
    program: DistillProgram = record_field(DistillProgram)
    model_path: str | None = None
    score_reference: str = ""
    comparison: list[ComparisonRow] = records_field(ComparisonRow)
    training: Training = record_field(Training)
    throughput: dict[str, Any] = field(default_factory=dict)
    cascade: CascadeInfo = record_field(CascadeInfo)
    metrics: dict[str, Any] = field(default_factory=dict)
    html_path: str | None = named_field("report")

    @classmethod
    def from_distilled(cls, distilled: Any, *, max_lm_fraction: float = DEFAULT_LM_FRACTION,
                       model_path: str | None = None) -> DistillReport:
        """The report of a :class:`~lmprog.Distilled`; the cascade row is the point of its curve with the
        best score at most ``max_lm_fraction`` of inputs sent to the LM."""
        from lmprog.distillation import choose_threshold

        metrics, cascade = distilled.metrics, distilled.cascade
        on_gold = cascade.get("reference") == "gold"
        chosen = choose_threshold(cascade["curve"], max_lm_fraction=max_lm_fraction) if cascade.get("curve") else None
        task = distilled.task
        return cls.from_dict({
            "kind": "distill",
            "title": f"{task.name} · {distilled.program.get('class', 'program')} distilled · {distilled.features}",
            "task": {"name": task.name, "multi_label": task.multi_label, "metric": task.metric,
                     "labels": len(task.labels), "ranked": distilled.ranked},
            "program": dict(distilled.program), "model_path": model_path,
            "score_reference": (f"gold ({metrics.get('gold_examples', 0):,} examples)" if on_gold
                                else f"agreement with the program, out of fold ({metrics.get('pseudo_labels', 0):,} "
                                     "pseudo-labels)"),
            "comparison": _comparison(metrics, distilled.throughput, chosen, on_gold),
            "training": dict(distilled.training), "throughput": dict(distilled.throughput),
            "cascade": {"reference": cascade.get("reference"), "examples": cascade.get("examples"),
                        "curve": cascade.get("curve", []), "chosen": chosen, "max_lm_fraction": max_lm_fraction},
            "metrics": dict(metrics),
        })

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        table = terminal.table(*COMPARISON_COLUMNS, numeric_from=1, text_width=32)
        for row in self.comparison:
            name, *numbers = row.cells()
            table.add_row(terminal.cell(name), *numbers)
        yield Rule(Text(self.title, style="bold"))
        yield Text(f"score: {self.task.metric} vs {self.score_reference}")
        yield table
        yield from (Text(line) for line in self.training.lines())
        chosen = self.cascade.chosen
        if chosen is not None and chosen.met is False:
            yield Text(f"no cascade threshold sends at most {fraction_text(self.cascade.max_lm_fraction)} to the LM",
                       style="yellow")
        if self.model_path:
            yield Text(f"saved {self.model_path}")

    def to_html(self) -> str:
        """One self-contained page (inline CSS and SVG, no script) with the cascade curve plotted."""
        facts = (("task", f"{self.task.name} ({self.task.labels:,} labels)"), ("program", self.program.class_name),
                 ("LM", self.program.model or "—"), ("artifact", self.program.artifact or "(in memory)"),
                 ("model", self.model_path or "—"))
        table = html.table("table-comparison", COMPARISON_COLUMNS,
                           [[escape(c) for c in row.cells()] for row in self.comparison])
        summary = html.section("summary", "Program vs classifier vs cascade",
                               f'<p class="note">score: {escape(self.task.metric)} vs '
                               f'{escape(self.score_reference)}</p>', table)
        training = html.section("training", "Pseudo-labels and training",
                                "".join(f"<p>{escape(line)}</p>" for line in self.training.lines()))
        body = html.facts_header("Distillation report", self.title, facts) + summary + training + self._curve_html()
        return html.page(self.title, body)

    def _curve_html(self) -> str:
        from lmprog.report.plots import cascade_svg

        cascade = self.cascade
        program = score_value(self.comparison[0].score) if self.comparison else None
        chosen = cascade.chosen.to_dict() if cascade.chosen is not None else None
        plot = html.figure("plot-cascade", cascade_svg([p.to_dict() for p in cascade.curve], chosen, program,
                                                       str(self.task.metric)),
                           f"cascade: score against the share of inputs sent to the LM ({cascade.reference}, "
                           f"{cascade.examples or 0:,} examples)")
        points = html.table("table-cascade", ["threshold", "to LM", "score"],
                            [[f"{p.threshold:.3f}", fraction_text(p.lm_fraction), score_text(p.score)]
                             for p in cascade.curve[::5]], numeric_from=0)
        return html.section("cascade", "Cascade curve", html.row(plot, points))


def _comparison(metrics: dict, throughput: dict, chosen: dict | None, on_gold: bool) -> list[dict]:
    """The program, classifier and (with a chosen threshold) cascade rows of the report data."""
    program_seconds = throughput.get("program_seconds_per_prediction")
    classifier_pps = throughput.get("classifier_predictions_per_second")
    program_usd = throughput.get("program_usd_per_1000")
    rows = [
        {"name": "program", "score": metrics.get("program_score") if on_gold else 1.0, "agreement": 1.0,
         "lm_fraction": 1.0, "predictions_per_second": throughput.get("program_predictions_per_second"),
         "usd_per_1000": program_usd},
        {"name": "classifier", "score": metrics.get("classifier_score") if on_gold else metrics.get("agreement_cv"),
         "agreement": metrics.get("agreement_gold", metrics.get("agreement_cv")), "lm_fraction": 0.0,
         "predictions_per_second": classifier_pps, "usd_per_1000": 0.0},
    ]
    if chosen is not None:
        fraction = chosen["lm_fraction"]
        seconds = (1 / classifier_pps if classifier_pps else 0.0) + fraction * (program_seconds or 0.0)
        rows.append({"name": f"cascade (threshold {chosen['threshold']:.3f})", "score": chosen["score"],
                     "agreement": None, "lm_fraction": fraction,
                     "predictions_per_second": 1 / seconds if seconds and program_seconds else None,
                     "usd_per_1000": None if program_usd is None else fraction * program_usd})
    return rows
