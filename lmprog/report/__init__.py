"""Reports the library builds: typed objects that render themselves.

Each report is made from the plain, JSON-able data the library computes and gives it back
unchanged (``Report.from_dict(data).to_dict() == data``), so ``--json`` prints that data. It
renders on a rich console (``console.print(report)``), as one self-contained HTML page
(``to_html()`` / ``write_html(path)``: inline CSS and SVG, no script, nothing fetched) and as
deterministic JSON (``to_json()``). This package computes no metric: it selects, words and draws.

- :class:`EvaluationReport`: ``lmprog evaluate`` / ``lmprog report`` (kind "evaluation") and the
  compile report (kind "compile"), from :meth:`lmprog.Evaluation.report`.
- :class:`DistillReport`: program vs classifier vs cascade, from a :class:`~lmprog.Distilled`.
- :class:`CompileSummary`, :class:`PredictReport`, :class:`PlanReport`: what compile, predict and
  plan print (terminal and JSON only).
- :class:`Score`: a score that can carry an interval.

``render_terminal``, ``to_html``, ``write_html`` and ``to_json`` take an evaluation report's data
dict, for callers that hold one. Importing this package does not import matplotlib.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from lmprog.report._record import Record, Report, json_text
from lmprog.report.distill import DistillReport
from lmprog.report.evaluation import EvaluationReport
from lmprog.report.score import Score
from lmprog.report.summaries import CompileSummary, PlanReport, PredictReport

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["CompileSummary", "DistillReport", "EvaluationReport", "PlanReport", "PredictReport", "Record", "Report",
           "Score", "render_terminal", "to_html", "to_json", "write_html"]


def render_terminal(data: dict, console: Console | None = None, *, top: int = 10) -> None:
    """Print the evaluation report of ``data`` on ``console`` (a new one on stdout when none is given)."""
    from rich.console import Console

    (console or Console()).print(EvaluationReport.from_dict(data, top=top))


def to_html(data: dict, *, top: int = 10) -> str:
    """The HTML page of the evaluation report of ``data`` (see :meth:`EvaluationReport.to_html`)."""
    return EvaluationReport.from_dict(data, top=top).to_html()


def write_html(data: dict, path: str | Path, *, top: int = 10) -> Path:
    """Write the HTML page of the evaluation report of ``data`` to ``path`` (UTF-8); returns the path."""
    return EvaluationReport.from_dict(data, top=top).write_html(path)


def to_json(data: Any) -> str:
    """Report data (or a report) as deterministic JSON: sorted keys, indent 2, NaN and infinities as null."""
    return data.to_json() if isinstance(data, Report) else json_text(data)
