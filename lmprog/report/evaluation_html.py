"""The HTML page of an evaluation or compile report: sections, tables and the SVG plots.

Every text from the data is escaped; plots come from :mod:`lmprog.report.plots` (matplotlib,
imported only when a page is made).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lmprog.report import html
from lmprog.report.comparisons import FloorInfo
from lmprog.report.html import escape
from lmprog.report.score import Score, score_text, score_value
from lmprog.report.sections import (MODULE_COST_COLUMNS, BudgetInfo, Calibration, best_candidate, candidate_mark,
                                    labels_text, nonzero_errors, select_per_label, shorten, versus_header)

if TYPE_CHECKING:
    from lmprog.report.evaluation import EvaluationReport

__all__ = ["evaluation_page"]

PER_LABEL_COLUMNS = ["label", "precision", "recall", "F1", "support"]


def evaluation_page(report: EvaluationReport) -> str:
    """The whole page of ``report``."""
    body = "".join([
        html.facts_header(report.kind_title, report.title, report.facts()), _summary(report),
        _floor(report.floor), _per_label(report),
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
        direction = {"red": "down", "green": "up"}.get(report.headline.change_style, "same")
        line += f' <span class="delta {direction}">({escape(delta)})</span>'
    parts = [f'<p class="headline" id="headline-value">{line}</p>']
    parts += [f'<p class="budget headline-note">{escape(note)}</p>' for note in report.headline.notes()]
    if note := (report.budget or BudgetInfo()).note():
        parts.append(f'<p class="budget" id="budget-note">{escape(note)}</p>')
    parts.append(_scores_plot(report))
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
                       f'{_f1_text(r.f1)}</td><td class="num">{r.support:,}</td></tr>' for r in rows)
        bodies.append(f'<tbody data-group="{group}">{group_row}{body}</tbody>')
    table = f'<table id="table-per-label"><thead><tr>{header}</tr></thead>{"".join(bodies)}</table>'
    plot_rows = [(r.label, r.f1_value, group, _bounds(r.f1)) for group, rows in groups for r in rows]
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
    plot = html.figure("plot-reliability", reliability_svg([b.to_dict() for b in bins], score_value(calibration.ece)),
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

    if not report.candidates and report.selection is None:
        return ""
    chosen = report.chosen_id
    best, mark = best_candidate(report.candidates, chosen), candidate_mark(report.candidates, chosen)
    versus = versus_header(report.candidates)
    rows = [[escape(c.id) + (f" {mark}" if c.id == best else ""), escape(c.stage or ""), escape(score_text(c.score))]
            + ([escape(c.versus.text() if c.versus else "–")] if versus else [])
            for c in report.candidates]
    attrs = [' class="best"' if c.id == best else "" for c in report.candidates]
    scores = [{"id": c.id, "dev_score": score_value(c.score), "bounds": _bounds(c.score)} for c in report.candidates]
    plot = html.figure("plot-candidates", candidates_svg(scores, best),
                       "dev score of each optimizer candidate" + (" with its 95% interval" if any(
                           s["bounds"] for s in scores) else ""))
    header = ["candidate", "stage", "dev score"] + ([f"{versus} (paired)"] if versus else [])
    table = html.table("table-candidates", header, rows, numeric_from=2, row_attrs=attrs)
    why = "".join(f'<p class="note selection">{escape(line)}</p>' for line in report.selection.lines()) \
        if report.selection is not None else ""
    return html.section("candidates", "Optimizer candidates", html.row(plot, table), why)


def _f1_text(f1: Score | float | None) -> str:
    """An F1 cell: ``0.878`` and, when it has one, its interval ``[0.70, 0.95]`` in a quieter style."""
    text = score_text(f1, with_interval=False)
    if isinstance(f1, Score) and f1.has_interval:
        text += f' <span class="note">[{f1.low:.2f}, {f1.high:.2f}]</span>'
    return text


def _bounds(score: Score | float | None) -> tuple[float, float] | None:
    return (score.low, score.high) if isinstance(score, Score) and score.has_interval else None


def _floor(floor: FloorInfo | None) -> str:
    if floor is None:
        return ""
    lines = floor.lines()
    verdict = {"red": ' class="verdict down"', "green": ' class="verdict up"'}.get(floor.style, ' class="verdict"')
    body = f'<p id="floor-score">{escape(lines[0])}</p>' + "".join(
        f'<p id="floor-verdict"{verdict}>{escape(line)}</p>' for line in lines[1:])
    return html.section("floor", "Supervised floor", body)


def _scores_plot(report: EvaluationReport) -> str:
    """The headline scores side by side with their intervals: compiled, zero-shot, the supervised floor."""
    from lmprog.report.plots import scores_svg

    headline, floor = report.headline, report.floor
    rows = [(headline.after_label or "program", headline.value), (headline.before_label or "before", headline.before)]
    if floor is not None and floor.paired is not None:
        rows.append(("supervised floor", floor.paired.floor))
    scored = [(name, score_value(score), _bounds(score)) for name, score in rows if score_value(score) is not None]
    return html.figure("plot-scores", scores_svg(scored, str(headline.metric)),
                       "headline scores with their 95% intervals")
