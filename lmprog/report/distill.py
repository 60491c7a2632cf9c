"""The distillation report: program vs classifier vs cascade, on the terminal (rich) and as HTML.

:func:`distill_report` turns a :class:`~lmprog.Distilled` into plain JSON data; the renderers
draw it. Scores are against gold when distillation had gold data, otherwise they are agreement
with the program (out of fold), where the program scores 1 by definition.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lmprog.distillation.cascade import choose_threshold
from lmprog.report import _CSP, _CSS, _e, _figure_html, _html_table, _row, _score, _section, _table

DEFAULT_LM_FRACTION = 0.2


def distill_report(distilled, *, max_lm_fraction: float = DEFAULT_LM_FRACTION, model_path: str | None = None) -> dict:
    """The report data of a distilled classifier; the cascade row uses the point of its curve with the
    best score at most ``max_lm_fraction`` of inputs sent to the LM."""
    metrics, throughput, cascade = distilled.metrics, distilled.throughput, distilled.cascade
    on_gold = cascade.get("reference") == "gold"
    chosen = choose_threshold(cascade["curve"], max_lm_fraction=max_lm_fraction) if cascade.get("curve") else None
    program_score = metrics.get("program_score") if on_gold else 1.0
    classifier_score = metrics.get("classifier_score") if on_gold else metrics.get("agreement_cv")
    program_seconds = throughput.get("program_seconds_per_prediction")
    classifier_pps = throughput.get("classifier_predictions_per_second")
    program_usd = throughput.get("program_usd_per_1000")
    rows = [
        {"name": "program", "score": program_score, "agreement": 1.0, "lm_fraction": 1.0,
         "predictions_per_second": throughput.get("program_predictions_per_second"), "usd_per_1000": program_usd},
        {"name": "classifier", "score": classifier_score,
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
    task = distilled.task
    return {
        "kind": "distill",
        "title": f"{task.name} · {distilled.program.get('class', 'program')} distilled · {distilled.features}",
        "task": {"name": task.name, "multi_label": task.multi_label, "metric": task.metric,
                 "labels": len(task.labels), "ranked": distilled.ranked},
        "program": dict(distilled.program), "model_path": model_path,
        "score_reference": (f"gold ({metrics.get('gold_examples', 0):,} examples)" if on_gold
                            else f"agreement with the program, out of fold ({metrics.get('pseudo_labels', 0):,} "
                                 "pseudo-labels)"),
        "comparison": rows, "training": dict(distilled.training), "throughput": dict(throughput),
        "cascade": {"reference": cascade.get("reference"), "examples": cascade.get("examples"),
                    "curve": cascade.get("curve", []), "chosen": chosen, "max_lm_fraction": max_lm_fraction},
        "metrics": dict(metrics),
    }


def _rate(value: float | None) -> str:
    return "–" if value is None else f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def _usd_cell(value: float | None) -> str:
    return "unpriced" if value is None else f"${value:,.4f}"


def _fraction(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.0f}%"


def _comparison_cells(row: dict) -> list[str]:
    return [row["name"], _score(row["score"]), _score(row["agreement"]) if row["agreement"] is not None else "–",
            _fraction(row["lm_fraction"]), _rate(row["predictions_per_second"]), _usd_cell(row["usd_per_1000"])]


_COLUMNS = ["", "score", "agreement", "to LM", "predictions/s", "USD / 1,000"]


def _training_lines(training: dict) -> list[str]:
    dropped = training.get("dropped") or {}
    reasons = ", ".join(f"{n:,} {reason}" for reason, n in dropped.items()) or "none"
    lines = [f"{training.get('texts', 0):,} texts, {training.get('pseudo_labelled', 0):,} pseudo-labelled, "
             f"{training.get('kept', 0):,} kept; dropped: {reasons}",
             f"{training.get('classes', 0):,} classes of {training.get('label_space', 0):,} labels · features "
             f"{training.get('features')} · {training.get('balance') or 'no class balancing'}"]
    if training.get("rare_labels_removed"):
        lines.append(f"labels removed for having fewer than 2 examples: {len(training['rare_labels_removed']):,}")
    spent = training.get("spent") or {}
    lines.append(f"pseudo-labelling paid {spent.get('calls', 0):,} calls, {spent.get('hits', 0):,} ledger hits")
    return lines + list(training.get("notes") or [])


def render_terminal(data: dict, console=None) -> None:
    """Print the distillation report on a rich Console (a new one on stdout when none is given)."""
    from rich.console import Console, Group
    from rich.rule import Rule
    from rich.text import Text

    console = console or Console()
    table = _table(*_COLUMNS, numeric_from=1, text_width=32)
    for row in data["comparison"]:
        table.add_row(*_comparison_cells(row))
    parts: list[Any] = [Rule(Text(data["title"], style="bold")),
                        Text(f"score: {data['task']['metric']} vs {data['score_reference']}"), table]
    parts += [Text(line) for line in _training_lines(data["training"])]
    chosen = data["cascade"].get("chosen")
    if chosen is not None and not chosen.get("met", True):
        parts.append(Text(f"no cascade threshold sends at most {_fraction(data['cascade']['max_lm_fraction'])} to "
                          "the LM", style="yellow"))
    if data.get("model_path"):
        parts.append(Text(f"saved {data['model_path']}"))
    console.print(Group(*parts))


def to_html(data: dict) -> str:
    """One self-contained HTML page (inline CSS and SVG, no script) with the cascade curve plotted."""
    from lmprog.report_plots import cascade_svg

    cascade = data["cascade"]
    facts = "".join(f"<div><dt>{_e(k)}</dt><dd>{_e(v)}</dd></div>" for k, v in (
        ("task", f"{data['task']['name']} ({data['task']['labels']:,} labels)"),
        ("program", data["program"].get("class")), ("LM", data["program"].get("model") or "—"),
        ("artifact", data["program"].get("artifact") or "(in memory)"), ("model", data.get("model_path") or "—")))
    header = (f'<header><p class="kind">Distillation report</p><h1>{_e(data["title"])}</h1>'
              f'<dl class="facts">{facts}</dl></header>')
    table = _html_table("table-comparison", _COLUMNS, [[_e(c) for c in _comparison_cells(r)]
                                                       for r in data["comparison"]])
    summary = _section("summary", "Program vs classifier vs cascade",
                       f'<p class="note">score: {_e(data["task"]["metric"])} vs {_e(data["score_reference"])}</p>',
                       table)
    training = _section("training", "Pseudo-labels and training",
                        "".join(f"<p>{_e(line)}</p>" for line in _training_lines(data["training"])))
    program = data["comparison"][0]["score"]
    plot = _figure_html("plot-cascade", cascade_svg(cascade["curve"], cascade.get("chosen"), program,
                                                    data["task"]["metric"]),
                        f"cascade: score against the share of inputs sent to the LM ({cascade.get('reference')}, "
                        f"{cascade.get('examples') or 0:,} examples)")
    points = _html_table("table-cascade", ["threshold", "to LM", "score"],
                         [[f"{p['threshold']:.3f}", _fraction(p["lm_fraction"]), _score(p["score"])]
                          for p in cascade["curve"][::5]], numeric_from=0)
    curve = _section("cascade", "Cascade curve", _row(plot, points))
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<meta name="generator" content="lmprog"><title>{_e(data["title"])}</title>'
            f"<style>{_CSS}</style></head>\n<body><main>{header}{summary}{training}{curve}"
            f"<footer>made by lmprog</footer></main></body></html>\n")


def write_html(data: dict, path: str | Path) -> Path:
    """Write :func:`to_html` to ``path`` as UTF-8 and return the path."""
    path = Path(path)
    path.write_text(to_html(data), encoding="utf-8")
    return path
