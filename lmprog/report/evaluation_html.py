"""The HTML page of an evaluation or compile report: sections, tables and the SVG plots.

Every text from the data is escaped; plots come from :mod:`lmprog.report.plots` (matplotlib,
imported only when a page is made).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lmprog.report import html
from lmprog.report.html import escape
from lmprog.report.score import score_text, score_value
from lmprog.report.sections import (MODULE_COST_COLUMNS, BudgetInfo, Calibration, best_candidate, labels_text,
                                    nonzero_errors, select_per_label, shorten)

if TYPE_CHECKING:
    from lmprog.report.evaluation import EvaluationReport

__all__ = ["evaluation_page"]

PER_LABEL_COLUMNS = ["label", "precision", "recall", "F1", "support"]


def evaluation_page(report: EvaluationReport) -> str:
    """The whole page of ``report``."""
    body = "".join([
        html.facts_header(report.kind_title, report.title, report.facts()), _summary(report), _per_label(report),
        _confusions(report), _calibration(report.calibration or Calibration()), _cost_and_errors(report),
        _failures(report), _candidates(report),
    ])
    return html.page(report.title or "lmprog report", body)


def _summary(report: EvaluationReport) -> str:
    before, after, delta = report.headline.parts()
    line = f"{escape(report.headline.metric)}: "
    line += f'<span class="before">{escape(before)}</span> → ' if before else ""
    line += f'<span class="after">{escape(after)}</span>'
    if delta:
        line += f' <span class="delta {"down" if delta.startswith("-") else "up"}">({escape(delta)})</span>'
    parts = [f'<p class="headline" id="headline-value">{line}</p>']
    if note := (report.budget or BudgetInfo()).note():
        parts.append(f'<p class="budget" id="budget-note">{escape(note)}</p>')
    metrics = sorted(report.metrics.items())
    if metrics:
        parts.append(html.table("table-metrics", ["metric", "value"],
                                [[escape(k), escape(score_text(v))] for k, v in metrics]))
    return html.section("summary", "Summary", *parts)


def _per_label(report: EvaluationReport) -> str:
    from lmprog.report.plots import per_label_f1_svg

    if not report.per_label:
        return html.section("per-label", "Per label", '<p class="note">no per-label scores</p>')
    top = report.top
    groups, note = select_per_label(report.per_label, top)
    titles = {"best": f"{top} best by F1", "worst": f"{top} worst by F1"}
    header = "".join(f"<th{html.NUM if i else ''}>{h}</th>" for i, h in enumerate(PER_LABEL_COLUMNS))
    bodies = []
    for group, rows in groups:
        group_row = f'<tr class="group"><th colspan="5">{titles[group]}</th></tr>' if group in titles else ""
        body = "".join(f'<tr data-label="{escape(r.label)}"><td>{escape(r.label)}</td><td class="num">'
                       f'{score_text(r.precision)}</td><td class="num">{score_text(r.recall)}</td><td class="num">'
                       f'{score_text(r.f1)}</td><td class="num">{r.support:,}</td></tr>' for r in rows)
        bodies.append(f'<tbody data-group="{group}">{group_row}{body}</tbody>')
    table = f'<table id="table-per-label"><thead><tr>{header}</tr></thead>{"".join(bodies)}</table>'
    plot_rows = [(r.label, r.f1, group) for group, rows in groups for r in rows]
    caption = "F1 per label" + ("; best in green, worst in red" if note else "")
    plot = html.figure("plot-per-label-f1", per_label_f1_svg(plot_rows), caption)
    note_html = f'<p class="note" id="per-label-note">{escape(note)}</p>' if note else ""
    return html.section("per-label", "Per label", note_html, html.row(plot, table))


def _confusions(report: EvaluationReport) -> str:
    from lmprog.report.plots import confusion_svg

    if report.task.multi_label:
        return ""
    matrix = report.confusion_matrix
    plot = "" if not matrix else html.figure(
        "plot-confusion", confusion_svg(matrix.labels, matrix.matrix, matrix.columns),
        "confusion matrix: rows gold, columns predicted")
    confusions = report.confusions[:report.top]
    table = html.table("table-confusions", ["gold", "predicted", "count"],
                       [[escape(c.gold), escape(labels_text(c.predicted)), f"{c.count:,}"] for c in confusions],
                       numeric_from=2) if confusions else '<p class="note">no mistakes</p>'
    return html.section("confusions", "Confusions", html.row(plot, f"<div><h3>Top confusions</h3>{table}</div>"))


def _calibration(calibration: Calibration) -> str:
    from lmprog.report.plots import reliability_svg

    summary = f'<p id="calibration-summary">{escape(calibration.summary())}</p>'
    if not calibration.available:
        return html.section("calibration", "Calibration", summary)
    bins = [b for b in calibration.bins if b.count]
    plot = html.figure("plot-reliability", reliability_svg([b.to_dict() for b in bins], calibration.ece),
                       "reliability diagram: accuracy against confidence per bin")
    table = html.table("table-calibration", ["confidence", "predictions", "mean confidence", "accuracy"],
                       [[f"{b.lower:.2f}–{b.upper:.2f}", f"{b.count:,}", score_text(b.mean_confidence),
                         score_text(b.accuracy)] for b in bins])
    return html.section("calibration", "Calibration", summary, html.row(plot, table))


def _cost_and_errors(report: EvaluationReport) -> str:
    cost = report.cost
    table = html.table("table-cost-by-module", MODULE_COST_COLUMNS,
                       [[escape(cell) for cell in m.cells()] for m in cost.by_module])
    errors = nonzero_errors(report.errors)
    errors_html = (html.table("table-errors", ["kind", "count"], [[escape(k), f"{v:,}"] for k, v in errors])
                   if errors else '<p id="no-errors">no errors</p>')
    return (html.section("cost", "Cost", f'<p id="cost-summary">{escape(cost.summary())}</p>',
                         table if cost.by_module else "")
            + html.section("errors", "Errors", errors_html))


def _failures(report: EvaluationReport) -> str:
    if not report.failures:
        return ""
    rows = []
    for f in report.failures:
        predicted = escape(labels_text(f.predicted))
        if f.error:
            predicted += f' <span class="note">[{escape(f.error)}]</span>'
        rows.append([f'<span class="text">{escape(shorten(f.text, 400))}</span>', escape(labels_text(f.gold)),
                     predicted])
    return html.section("failures", "Failed examples",
                        html.table("table-failures", ["text", "gold", "predicted"], rows, numeric_from=3))


def _candidates(report: EvaluationReport) -> str:
    from lmprog.report.plots import candidates_svg

    if not report.candidates:
        return ""
    best = best_candidate(report.candidates)
    rows = [[escape(c.id) + (" ★ best" if c.id == best else ""), escape(c.stage or ""),
             escape(score_text(c.dev_score))] for c in report.candidates]
    attrs = [' class="best"' if c.id == best else "" for c in report.candidates]
    scores = [{"id": c.id, "dev_score": score_value(c.dev_score)} for c in report.candidates]
    plot = html.figure("plot-candidates", candidates_svg(scores, best), "dev score of each optimizer candidate")
    table = html.table("table-candidates", ["candidate", "stage", "dev score"], rows, numeric_from=2, row_attrs=attrs)
    return html.section("candidates", "Optimizer candidates", html.row(plot, table))
