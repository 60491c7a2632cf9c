"""The evaluation report (``lmprog evaluate``, ``lmprog report``) and the compile report, which has
the same sections plus the optimizer's candidates.

Made from the plain data :meth:`lmprog.Evaluation.report` builds
(``EvaluationReport.from_dict(evaluation.report())``) and back (``to_dict()``); it renders itself
on a rich console (``console.print(report)``), as one self-contained HTML page and as JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rich.rule import Rule
from rich.text import Text

from lmprog.report import terminal
from lmprog.report._record import Report, option_field, record_field, records_field, scores_field
from lmprog.report.comparisons import FloorInfo, Selection
from lmprog.report.score import Score, interval_text, score_text
from lmprog.report.sections import (MODULE_COST_COLUMNS, BudgetInfo, Calibration, Candidate, Confusion,
                                    ConfusionMatrix, Cost, DataInfo, Failure, Headline, LabelScore, ProgramInfo,
                                    TaskInfo, best_candidate, candidate_mark, labels_text, nonzero_errors,
                                    select_per_label, shorten, versus_header)

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderResult

__all__ = ["EvaluationReport"]

KINDS = {"evaluation": "Evaluation report", "compile": "Compile report"}


def check_top(top: int) -> None:
    if not isinstance(top, int) or isinstance(top, bool) or top < 1:
        raise ValueError(f"top must be a positive integer, got {top!r}")


@dataclass
class EvaluationReport(Report):
    """An evaluation (``kind`` "evaluation") or compile (``kind`` "compile") report.

    ``top`` (a render option, not data) caps the confusions listed and, for label spaces over
    ``2 * top`` labels, keeps the ``top`` best and ``top`` worst labels by F1 in the per-label table.
    """

    kind: str = "evaluation"
    title: str = ""
    task: TaskInfo = record_field(TaskInfo)
    program: ProgramInfo = record_field(ProgramInfo)
    data: DataInfo = record_field(DataInfo)
    headline: Headline = record_field(Headline)
    metrics: dict[str, Score | None] = scores_field()
    per_label: list[LabelScore] = records_field(LabelScore)
    confusions: list[Confusion] = records_field(Confusion)
    confusion_matrix: ConfusionMatrix | None = record_field(ConfusionMatrix, optional=True)
    calibration: Calibration | None = record_field(Calibration, optional=True)
    cost: Cost = record_field(Cost)
    errors: dict[str, int] = field(default_factory=dict)
    failures: list[Failure] = records_field(Failure)
    candidates: list[Candidate] = records_field(Candidate)
    budget: BudgetInfo | None = record_field(BudgetInfo, optional=True)
    floor: FloorInfo | None = record_field(FloorInfo, optional=True)
    selection: Selection | None = record_field(Selection, optional=True)
    top: int = option_field(10)

    def __post_init__(self) -> None:
        check_top(self.top)

    @classmethod
    def from_evaluation(cls, evaluation: Any, *, top: int = 10, **report_options: Any) -> EvaluationReport:
        """The report of an :class:`lmprog.Evaluation`; ``report_options`` go to ``Evaluation.report``
        (before, before_label, after_label, kind)."""
        return cls.from_dict(evaluation.report(**report_options), top=top)

    @property
    def kind_title(self) -> str:
        return KINDS.get(self.kind, KINDS["evaluation"])

    def facts(self) -> list[tuple[str, str]]:
        """(name, value) pairs under the title: task, program, LM, data, artifact, run."""
        task, program, data = self.task, self.program, self.data
        kind = "multi-label" if task.multi_label else "single-label"
        facts = [("task", f"{task.name} ({kind}, {task.labels:,} labels)"), ("program", str(program.class_name)),
                 ("LM", program.lm or "—"), ("data", f"{data.path or '(in memory)'} · {data.examples:,} examples")]
        facts += [(name, str(value)) for name, value in (("artifact", program.artifact), ("run", program.run_id))
                  if value]
        return facts

    @property
    def chosen_id(self) -> str | None:
        """The candidate the compile kept, when the artifact says why."""
        return self.selection.chosen if self.selection is not None else None

    def other_metrics(self) -> list[tuple[str, Score | None]]:
        """The metrics besides the headline's, by name."""
        return sorted((k, v) for k, v in self.metrics.items() if k != self.headline.metric)

    # ---------------------------------------------------------------------------- terminal

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        check_top(self.top)
        yield Rule(Text(f"{self.kind_title}: {self.title}", style="bold"), align="left")
        yield Text(" · ".join(f"{k} {v}" for k, v in self.facts()), style="dim")
        yield self._headline_text()
        yield from (Text(note, style="yellow") for note in self.headline.notes())
        if note := (self.budget or BudgetInfo()).note():
            yield Text(note, style="yellow")
        if others := self.other_metrics():
            yield Text(" · ".join(f"{k} {score_text(v)}" for k, v in others))
        if self.floor is not None:
            yield terminal.heading("Supervised floor")
            yield from (Text(line, style=self.floor.style if i else "") for i, line in enumerate(self.floor.lines()))
        yield from self._per_label_parts()
        yield from self._confusion_parts()
        yield from (terminal.heading("Calibration"), Text((self.calibration or Calibration()).summary()))
        yield from self._cost_parts()
        yield terminal.heading("Errors")
        errors = nonzero_errors(self.errors)
        yield Text(" · ".join(f"{k} {v:,}" for k, v in errors) if errors else "no errors")
        yield from self._failure_parts()
        yield from self._candidate_parts()

    def _headline_text(self) -> Text:
        before, after, delta = self.headline.parts()
        line = Text(f"{self.headline.metric}: ", style="bold")
        if before:
            line.append(before).append(" → ")
        line.append(after, style="bold green")
        if delta:
            line.append(f"  ({delta})", style=self.headline.change_style)
        return line

    def _per_label_parts(self) -> list:
        if not self.per_label:
            return []
        groups, note = select_per_label(self.per_label, self.top)
        intervals = any(isinstance(r.f1, Score) and r.f1.has_interval for r in self.per_label)
        table = terminal.table("label", "precision", "recall", "F1", *(["F1 95%"] if intervals else []), "support")
        for i, (_, rows) in enumerate(groups):
            if i:
                table.add_row(terminal.cell("⋯", style="dim"))
            for r in rows:
                f1 = [score_text(r.f1, with_interval=False)]
                f1 += [interval_text(r.f1, 2)] if intervals else []
                table.add_row(terminal.cell(r.label), score_text(r.precision), score_text(r.recall), *f1,
                              f"{r.support:,}")
        return [terminal.heading("Per label"), table] + ([Text(note, style="dim")] if note else [])

    def _confusion_parts(self) -> list:
        if self.task.multi_label:
            return []
        confusions = self.confusions[:self.top]
        if not confusions:
            return [terminal.heading("Top confusions (gold → predicted)"), Text("no mistakes")]
        table = terminal.table("gold", "predicted", "count", numeric_from=2)
        for c in confusions:
            table.add_row(terminal.cell(c.gold), terminal.cell(labels_text(c.predicted)), f"{c.count:,}")
        return [terminal.heading("Top confusions (gold → predicted)"), table]

    def _cost_parts(self) -> list:
        parts = [terminal.heading("Cost"), Text(self.cost.summary())]
        if self.cost.by_module:
            table = terminal.table(*MODULE_COST_COLUMNS)
            for m in self.cost.by_module:
                module, *numbers = m.cells()
                table.add_row(terminal.cell(module), *numbers)
            parts.append(table)
        return parts

    def _failure_parts(self) -> list:
        if not self.failures:
            return []
        table = terminal.table("text", "gold", "predicted", numeric_from=3, text_width=60)
        for f in self.failures:
            predicted = labels_text(f.predicted) + (f" [{f.error}]" if f.error else "")
            table.add_row(*map(terminal.cell, (shorten(f.text, 200), labels_text(f.gold), predicted)))
        return [terminal.heading("Failed examples"), table]

    def _candidate_parts(self) -> list:
        if not self.candidates and self.selection is None:
            return []
        best, marked = best_candidate(self.candidates, self.chosen_id), candidate_mark(self.candidates,
                                                                                        self.chosen_id)
        versus = versus_header(self.candidates)
        table, rows = self._paired_candidates(versus) if versus else self._plain_candidates()
        for c, cells in zip(self.candidates, rows):
            table.add_row(*cells, Text(marked, style="bold green") if c.id == best else "")
        why = [Text(line) for line in self.selection.lines()] if self.selection is not None else []
        return [terminal.heading("Optimizer candidates"), table, *why]

    def _plain_candidates(self) -> tuple:
        table = terminal.table("candidate", "stage", "dev score", "", numeric_from=2)
        return table, [[terminal.cell(c.id), terminal.cell(c.stage or ""), score_text(c.score)]
                       for c in self.candidates]

    def _paired_candidates(self, versus: str) -> tuple:
        """Candidates with intervals and paired differences: two lines a row, so it fits 80 columns."""
        staged = any(c.stage for c in self.candidates)
        table = terminal.table("candidate", *(["stage"] if staged else []), "dev score [95%]", f"{versus} (points)",
                               "", numeric_from=2 if staged else 1)
        rows = []
        for c in self.candidates:
            score = c.score
            dev = score_text(score) if not isinstance(score, Score) or not score.has_interval else \
                f"{score.value:.3f} {interval_text(score)}\nn={score.n or 0:,}"
            paired = Text(f"{c.versus.short_text()}\n{c.versus.verdict or ''}", style=c.versus.style) \
                if c.versus is not None else "–"
            rows.append([terminal.cell(c.id), *([terminal.cell(c.stage or "")] if staged else []), dev, paired])
        return table, rows

    # ---------------------------------------------------------------------------- HTML

    def to_html(self) -> str:
        """One self-contained page: the same content as the terminal, plus a confusion heatmap,
        per-label F1 bars, a reliability diagram and the candidates' dev scores, each when the data
        has what it needs. Plots are drawn with matplotlib, imported only now."""
        from lmprog.report.evaluation_html import evaluation_page

        check_top(self.top)
        return evaluation_page(self)
