"""The audit report: labels that look wrong, worst first, with the suggested label and the evidence; on the
terminal (rich), as one HTML page and as JSON.

:meth:`AuditReport.from_audit` builds it from a :class:`lmprog.loop.Audit`'s plain data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rich.rule import Rule
from rich.text import Text

from lmprog.report import html, terminal
from lmprog.report._record import Record, Report, named_field, option_field, record_field, records_field
from lmprog.report.html import escape
from lmprog.report.sections import TaskInfo, labels_text, shorten

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderResult

__all__ = ["AuditFlag", "AuditReport"]

FLAG_COLUMNS = ["text", "given", "suggested", "evidence", "row", "quality"]  # worst first
TOP = 20


@dataclass
class AuditFlag(Record):
    """One label that looks wrong (``row``: its index in the data file, from 0)."""

    row: int = 0
    text: str = ""
    inputs: dict[str, str] = field(default_factory=dict)
    given: Any = None
    suggested: Any = None
    quality: float = 0.0
    given_probability: float | None = None
    suggested_probability: float | None = None
    evidence: list[str] = field(default_factory=list)
    program_answer: Any = None
    program_confidence: float | None = None

    def cells(self, evidence: str) -> list[str]:
        return [self.text, labels_text(self.given), labels_text(self.suggested), evidence, str(self.row),
                f"{self.quality:.3f}"]


@dataclass
class AuditReport(Report):
    """``lmprog audit``: which labels of a data file look wrong, and how the evidence was weighed.

    ``views`` maps each source of evidence to its weight; ``data`` is the audited file (absolute: ``lmprog label
    --audit`` finds the flagged rows in it by ``row``); ``html_path`` (data key ``report``) is where the HTML
    page was written, when it was.
    """

    kind: str = "audit"
    title: str = ""
    data: str | None = None
    task: TaskInfo = record_field(TaskInfo)
    examples: int = 0
    classes: int = 0
    views: dict[str, float] = field(default_factory=dict)
    classifier_agreement: float | None = None
    program_agreement: float | None = None
    flags: list[AuditFlag] = records_field(AuditFlag)
    html_path: str | None = named_field("report")
    top: int = option_field(TOP)

    @classmethod
    def from_audit(cls, audit: Any, task: Any, *, data: str | None = None, text_of=None,
                   html_path: str | None = None, top: int = TOP) -> AuditReport:
        """The report of an audit of ``task``'s labelled ``data``; ``text_of(inputs)`` gives a row's text."""
        plain = audit.to_dict()
        flags = [{"row": f["row"], "text": text_of(f["inputs"]) if text_of else " ".join(f["inputs"].values()),
                  **{k: v for k, v in f.items() if k != "row"}} for f in plain["flags"]]
        body = {"kind": "audit", "title": f"{task.name} · label audit", "data": data,
                "task": {"name": task.name, "multi_label": bool(task.multi_label), "metric": task.metric,
                         "labels": len(task.labels)},
                **{k: plain[k] for k in ("examples", "classes", "views", "classifier_agreement", "program_agreement")},
                "flags": flags}
        return cls.from_dict(body | ({"report": str(html_path)} if html_path is not None else {}), top=top)

    def summary(self) -> str:
        agree = "" if self.classifier_agreement is None else \
            f" · the evidence agrees with {self.classifier_agreement:.0%} of the labels"
        program = "" if self.program_agreement is None else f" · the program with {self.program_agreement:.0%}"
        return f"{len(self.flags):,} of {self.examples:,} labels look wrong{agree}{program}"

    def weights_text(self) -> str:
        shown = [f"{name} {weight:.2f}" for name, weight in sorted(self.views.items(), key=lambda kv: -kv[1])
                 if weight >= 0.01]
        return "evidence weighed: " + ("; ".join(shown) or "none")

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield Rule(Text(self.title, style="bold"))
        yield Text(self.summary())
        yield Text(self.weights_text(), style="dim")
        if not self.flags:
            return
        table = terminal.table(*FLAG_COLUMNS, numeric_from=4, text_width=36)
        for flag in self.flags[:self.top]:
            *texts, row, quality = flag.cells(flag.evidence[0] if flag.evidence else "")
            table.add_row(*(terminal.cell(t) for t in texts), row, quality)
        yield table
        if len(self.flags) > self.top:
            yield Text(f"… {len(self.flags) - self.top:,} more: --json or --report shows them all", style="dim")
        if self.html_path:
            yield Text(f"HTML report: {self.html_path}")

    def to_html(self) -> str:
        """One self-contained page: the summary, the weights of the evidence, and every flag with its evidence."""
        facts = (("task", f"{self.task.name} ({self.task.labels:,} labels)"), ("data", self.data or "(in memory)"),
                 ("rows", f"{self.examples:,}"), ("flagged", f"{len(self.flags):,}"))
        weights = html.table("table-views", ["evidence", "weight"],
                             [[escape(name), f"{weight:.3f}"] for name, weight in self.views.items()])
        summary = html.section("summary", "Summary", f"<p>{escape(self.summary())}</p>", weights)
        rows = []
        for flag in self.flags:
            text, given, suggested, _, row, quality = (escape(shorten(c, 400)) for c in flag.cells(""))
            evidence = "<br>".join(escape(line) for line in flag.evidence)
            rows.append([f'<span class="text">{text}</span>', given, suggested, evidence, row, quality])
        flags = html.section("flags", "Labels that look wrong, worst first",
                             html.table("table-flags", FLAG_COLUMNS, rows, numeric_from=4))
        return html.page(self.title, html.facts_header("Label audit", self.title, facts) + summary + flags)
