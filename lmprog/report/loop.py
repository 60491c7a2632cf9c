"""What ``lmprog suggest`` and ``lmprog estimate`` print: the rows chosen and why; the rows drawn to label, then
the estimate with its interval next to uniform sampling's width. Terminal (rich) and JSON.

Built from the plain data of :class:`lmprog.loop.Suggestions` and :class:`lmprog.loop.Estimate`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rich.text import Text

from lmprog.report import terminal
from lmprog.report._record import Record, Report, records_field, score_field
from lmprog.report.score import Score

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderResult

__all__ = ["EstimateReport", "SuggestReport", "SuggestRow"]


@dataclass
class SuggestRow(Record):
    row: int = 0
    text: str = ""
    reason: str = ""


@dataclass
class SuggestReport(Report):
    """The rows ``suggest`` chose (``out``: the queue file written), how, and from how many."""

    kind: str = "suggest"
    out: str | None = None
    strategy: str = ""
    embeddings: str = ""
    pool: int = 0
    candidates: int = 0
    labelled: int = 0
    excluded: dict[str, int] = field(default_factory=dict)
    signals: list[str] = field(default_factory=list)
    spent: dict | None = None
    rows: list[SuggestRow] = records_field(SuggestRow)

    @classmethod
    def from_suggestions(cls, suggestions: Any, *, text_of, out: str | None = None) -> SuggestReport:
        plain = suggestions.to_dict()
        rows = [{"row": r["row"], "text": text_of(r["inputs"]), "reason": r["reason"]} for r in plain["rows"]]
        keep = ("strategy", "embeddings", "pool", "candidates", "labelled", "excluded", "signals", "spent")
        return cls.from_dict({"kind": "suggest", "out": out, **{k: plain[k] for k in keep}, "rows": rows})

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        table = terminal.table("text", "reason", "row", numeric_from=2, text_width=48)
        for row in self.rows:
            table.add_row(terminal.cell(row.text), terminal.cell(row.reason), str(row.row))
        yield table
        excluded = ", ".join(f"{n:,} {reason}" for reason, n in self.excluded.items()) or "none"
        signals = f" ({', '.join(self.signals)})" if self.signals else ""
        yield Text(f"{len(self.rows):,} rows chosen by {self.strategy}{signals} from {self.candidates:,} of "
                   f"{self.pool:,} pool rows ({self.labelled:,} labelled already; left out: {excluded}); "
                   f"embeddings {self.embeddings}")
        if self.spent:
            spent = self.spent
            yield Text(f"program: paid calls {spent.get('calls', 0):,} · ledger hits {spent.get('hits', 0):,}")
        if self.out:
            yield Text(f"wrote {self.out}: fill in the labels, or label them with 'lmprog label'")


@dataclass
class EstimateReport(Report):
    """``estimate``: ``phase`` "drawn" (rows to label written to ``out``) or "estimate" (the score with its
    interval, and the width uniform sampling with the same number of labels would have)."""

    kind: str = "estimate"
    phase: str = "drawn"
    metric: str = ""
    pool: int = 0
    labels: int = 0
    rows_to_label: int = 0
    surrogate: str = ""
    predicted_mean: float | None = None
    out: str | None = None
    estimate: Score | None = score_field()
    width: float | None = None
    uniform_width: float | None = None
    program_failed: int = 0
    spent: dict | None = None
    command: str | None = None

    @classmethod
    def from_estimate(cls, result: Any, *, out: str | None = None, command: str | None = None) -> EstimateReport:
        plain = result.to_dict()
        interval = plain["interval"]
        keep = ("metric", "pool", "labels", "surrogate", "predicted_mean", "width", "uniform_width", "program_failed",
                "spent")
        return cls.from_dict({"kind": "estimate", "phase": "drawn" if interval is None else "estimate",
                              **{k: plain[k] for k in keep}, "rows_to_label": len(plain["to_label"]), "out": out,
                              "estimate": None if interval is None else {k: interval[k] for k in
                                                                         ("value", "low", "high", "n")},
                              "command": command})

    @property
    def ratio(self) -> float | None:
        if self.width is None or not self.uniform_width:
            return None
        return self.width / self.uniform_width

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if self.phase == "drawn":
            guess = "" if self.surrogate.startswith("none") else \
                f", which predicts {self.metric} {self.predicted_mean:.3f}"
            yield Text(f"drew {self.labels:,} labels ({self.rows_to_label:,} distinct rows) from {self.pool:,} pool "
                       f"rows by active testing; surrogate: {self.surrogate}{guess}")
            if self.out:
                yield Text(f"wrote {self.out}: fill in the labels, then run:")
                yield Text(f"  {self.command or 'lmprog estimate ... --labelled ' + self.out}", style="bold")
            return
        table = terminal.table("sampling", self.metric, "95% interval", "width", numeric_from=1, text_width=44)
        score = self.estimate
        table.add_row(terminal.cell(f"active testing, {self.labels:,} labels"), f"{score.value:.3f}",
                      f"[{score.low:.3f}, {score.high:.3f}]" if score.has_interval else "–", _width(self.width))
        table.add_row(terminal.cell(f"uniform sampling, {self.labels:,} labels"), "–", "–",
                      _width(self.uniform_width))
        yield table
        ratio = "" if self.ratio is None else f"; the interval is {self.ratio:.2f}x as wide as uniform sampling's"
        yield Text(f"{self.metric} of the program on {self.pool:,} pool rows; surrogate: {self.surrogate}{ratio}")
        if self.program_failed:
            yield Text(f"the program failed on {self.program_failed:,} rows (scored as wrong)", style="yellow")


def _width(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"
