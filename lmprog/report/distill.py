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
from lmprog.report.comparisons import FloorInfo, NamedDifference
from lmprog.report.html import escape
from lmprog.report.score import Score, interval_text, score_text, score_value
from lmprog.report.sections import TaskInfo, usd_text

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderResult

__all__ = ["DEFAULT_LM_FRACTION", "CascadeInfo", "ComparisonRow", "CurvePoint", "DistillProgram", "DistillReport",
           "DistillTask", "Training"]

DEFAULT_LM_FRACTION = 0.2
FLOOR = "supervised floor"
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

    def cells(self, *, compact: bool = False) -> list[str]:
        """The row as text; ``compact`` (a terminal table with intervals): the score as ``0.930 [0.89, 0.96]``
        (the examples are in the report's heading), the agreement's value alone."""
        agreement = "–" if self.agreement is None else score_text(self.agreement, with_interval=not compact)
        score = score_text(self.score)
        if compact and self.has_interval:
            score = f"{score_text(self.score, with_interval=False)} {interval_text(self.score)}"
        elif compact:
            score = score_text(self.score, with_interval=False)
        return [self.name, score, agreement, fraction_text(self.lm_fraction), rate_text(self.predictions_per_second),
                usd_text(self.usd_per_1000)]

    @property
    def has_interval(self) -> bool:
        return isinstance(self.score, Score) and self.score.has_interval


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
    differences: list[NamedDifference] = records_field(NamedDifference)
    floor: FloorInfo | None = record_field(FloorInfo, optional=True)
    html_path: str | None = named_field("report")

    @classmethod
    def from_distilled(cls, distilled: Any, *, max_lm_fraction: float = DEFAULT_LM_FRACTION,
                       model_path: str | None = None, paired: dict | None = None) -> DistillReport:
        """The report of a :class:`~lmprog.Distilled`; the cascade row is the point of its curve with the
        best score at most ``max_lm_fraction`` of inputs sent to the LM. ``paired``
        (:func:`lmprog.evaluation.distilled.distill_scores`) gives the rows' scores with their intervals,
        their paired differences to the program, and the supervised floor as one more row."""
        from lmprog.distillation import choose_threshold

        metrics, cascade = distilled.metrics, distilled.cascade
        on_gold = cascade.get("reference") == "gold"
        chosen = choose_threshold(cascade["curve"], max_lm_fraction=max_lm_fraction) if cascade.get("curve") else None
        task = distilled.task
        more = {} if paired is None else {"differences": paired.get("differences", []), "floor": paired.get("floor")}
        return cls.from_dict(more | {
            "kind": "distill",
            "title": f"{task.name} · {distilled.program.get('class', 'program')} distilled · {distilled.features}",
            "task": {"name": task.name, "multi_label": task.multi_label, "metric": task.metric,
                     "labels": len(task.labels), "ranked": distilled.ranked},
            "program": dict(distilled.program), "model_path": model_path,
            "score_reference": (f"gold ({metrics.get('gold_examples', 0):,} examples)" if on_gold
                                else f"agreement with the program, out of fold ({metrics.get('pseudo_labels', 0):,} "
                                     "pseudo-labels)"),
            "comparison": _comparison(metrics, distilled.throughput, chosen, on_gold, paired or {}),
            "training": dict(distilled.training), "throughput": dict(distilled.throughput),
            "cascade": {"reference": cascade.get("reference"), "examples": cascade.get("examples"),
                        "curve": cascade.get("curve", []), "chosen": chosen, "max_lm_fraction": max_lm_fraction},
            "metrics": dict(metrics),
        })

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        compact = any(row.has_interval for row in self.comparison)
        # with intervals, a narrower cost header keeps the row names whole in 80 columns
        columns = ["", "score [95%]", *COMPARISON_COLUMNS[2:-1], "USD/1,000"] if compact else COMPARISON_COLUMNS
        table = terminal.table(*columns, numeric_from=1, text_width=32)
        for row in self.comparison:
            name, *numbers = row.cells(compact=compact)
            table.add_row(terminal.cell(name), *numbers)
        yield Rule(Text(self.title, style="bold"))
        yield Text(f"score: {self.task.metric} vs {self.score_reference}")
        yield table
        if self.differences:
            yield terminal.heading("Paired differences (same examples)")
            yield from (Text(d.sentence(), style=d.style) for d in self.differences)
        if self.floor is not None:
            yield terminal.heading("Supervised floor")
            yield from (Text(line, style=self.floor.style if i else "") for i, line in enumerate(self.floor.lines()))
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
                               f'{escape(self.score_reference)}</p>', table, self._differences_html())
        training = html.section("training", "Pseudo-labels and training",
                                "".join(f"<p>{escape(line)}</p>" for line in self.training.lines()))
        body = html.facts_header("Distillation report", self.title, facts) + summary + self._floor_html() + training \
            + self._curve_html()
        return html.page(self.title, body)

    def _differences_html(self) -> str:
        if not self.differences:
            return ""
        rows = [[escape(d.b), escape(d.a), escape(d.interval_text()), escape(d.verdict or ""), f"{d.n or 0:,}"]
                for d in self.differences]
        return "<h3>Paired differences (same examples)</h3>" + html.table(
            "table-differences", ["", "vs", "difference", "verdict", "examples"], rows, numeric_from=2)

    def _floor_html(self) -> str:
        if self.floor is None:
            return ""
        lines = self.floor.lines()
        verdict = {"red": ' class="verdict down"', "green": ' class="verdict up"'}.get(self.floor.style, "")
        body = f'<p id="floor-score">{escape(lines[0])}</p>' + "".join(
            f'<p id="floor-verdict"{verdict}>{escape(line)}</p>' for line in lines[1:])
        return html.section("floor", "Supervised floor", body)

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


def _comparison(metrics: dict, throughput: dict, chosen: dict | None, on_gold: bool, paired: dict) -> list[dict]:
    """The program, classifier, (with a chosen threshold) cascade and (with ``paired`` scores) supervised floor
    rows of the report data."""
    program_seconds = throughput.get("program_seconds_per_prediction")
    classifier_pps = throughput.get("classifier_predictions_per_second")
    program_usd = throughput.get("program_usd_per_1000")
    scores, agreement = paired.get("scores", {}), paired.get("agreement", {})
    rows = [
        {"name": "program", "score": scores.get("program", metrics.get("program_score")) if on_gold else 1.0,
         "agreement": 1.0, "lm_fraction": 1.0,
         "predictions_per_second": throughput.get("program_predictions_per_second"), "usd_per_1000": program_usd},
        {"name": "classifier", "score": scores.get("classifier", metrics.get("classifier_score") if on_gold
                                                   else metrics.get("agreement_cv")),
         "agreement": agreement.get("classifier", metrics.get("agreement_gold", metrics.get("agreement_cv"))),
         "lm_fraction": 0.0, "predictions_per_second": classifier_pps, "usd_per_1000": 0.0},
    ]
    if chosen is not None:
        fraction = chosen["lm_fraction"]
        seconds = (1 / classifier_pps if classifier_pps else 0.0) + fraction * (program_seconds or 0.0)
        rows.append({"name": f"cascade (threshold {chosen['threshold']:.3f})",
                     "score": scores.get("cascade", chosen["score"]),
                     "agreement": None, "lm_fraction": fraction,
                     "predictions_per_second": 1 / seconds if seconds and program_seconds else None,
                     "usd_per_1000": None if program_usd is None else fraction * program_usd})
    if scores.get(FLOOR) is not None:
        rows.append({"name": FLOOR, "score": scores[FLOOR], "agreement": None, "lm_fraction": 0.0,
                     "predictions_per_second": None, "usd_per_1000": 0.0})
    return rows
