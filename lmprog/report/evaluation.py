"""Show an evaluation or compile report: rich terminal output, one self-contained HTML file, JSON.

The input is the plain, JSON-able "report data" dict that :mod:`lmprog.evaluation` builds (kind,
title, task, program, data, headline, metrics, per_label, confusions, confusion_matrix,
calibration, cost, errors, failures, candidates, budget). This module computes no metric: it
selects, formats and draws what the dict holds. Plots are drawn with matplotlib's object API
(no pyplot, so no global backend is touched) and inlined as SVG; matplotlib is imported only
when an HTML report is made.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["render_terminal", "to_html", "write_html", "to_json"]

_SOURCES = {"logprobs": "token log-probabilities", "agreement": "agreement across samples"}
_NO_CONFIDENCE = "no confidence available"
_BUDGET_NOTE = "budget reached: kept the best program found so far"


# ---------------------------------------------------------------- shared selection and wording


def _check_top(top: int) -> None:
    if not isinstance(top, int) or isinstance(top, bool) or top < 1:
        raise ValueError(f"top must be a positive integer, got {top!r}")


def _score(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _points(before: float | None, after: float | None) -> str | None:
    if before is None or after is None:
        return None
    return f"{(after - before) * 100:+.1f} points"


def _usd(value: float | None) -> str:
    return "unpriced" if value is None else f"${value:,.4f}"


def _labels_text(value: Any) -> str:
    if value is None:
        return "(no answer)"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value)) or "(none)"
    return str(value)


def _shorten(text: str, width: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _select_per_label(per_label: list[dict], top: int) -> tuple[list[tuple[str, list[dict]]], str | None]:
    """All rows for small label spaces; else the ``top`` best and worst by F1 among supported labels."""
    if len(per_label) <= 2 * top:
        return [("all", list(per_label))], None
    supported = sorted((r for r in per_label if r.get("support", 0) > 0), key=lambda r: (-r["f1"], str(r["label"])))
    unsupported = len(per_label) - len(supported)
    if len(supported) <= 2 * top:
        groups = [("all", supported)]
        note = f"{len(supported):,} labels with support shown; {unsupported:,} labels without support left out"
        return groups, note
    groups = [("best", supported[:top]), ("worst", supported[-top:])]
    left_out = len(per_label) - 2 * top
    note = (f"showing the {top} best and {top} worst by F1 of {len(supported):,} labels with support; "
            f"{left_out:,} of {len(per_label):,} labels left out ({unsupported:,} without support)")
    return groups, note


def _best_candidate(candidates: list[dict]) -> str | None:
    scored = [c for c in candidates if c.get("dev_score") is not None]
    return max(scored, key=lambda c: c["dev_score"])["id"] if scored else None


def _calibration_text(calibration: dict | None) -> str:
    calibration = calibration or {}
    if calibration.get("source") is None or calibration.get("ece") is None:
        return _NO_CONFIDENCE
    source = _SOURCES.get(calibration["source"], calibration["source"])
    counted = sum(b.get("count", 0) for b in calibration.get("bins", []))
    return f"ECE {calibration['ece']:.3f} · confidence from {source} · {counted:,} predictions"


def _budget_text(budget: dict | None) -> str | None:
    if not budget or not budget.get("stopped_early"):
        return None
    limits = []
    if budget.get("max_calls") is not None:
        limits.append(f"max {budget['max_calls']:,} paid calls")
    if budget.get("max_usd") is not None:
        limits.append(f"max ${budget['max_usd']:,.2f}")
    return _BUDGET_NOTE + (f" ({', '.join(limits)})" if limits else "")


def _cost_text(cost: dict) -> str:
    return (f"paid calls {cost.get('paid_calls', 0):,} · ledger hits {cost.get('ledger_hits', 0):,} · "
            f"tokens {cost.get('prompt_tokens', 0):,} prompt + {cost.get('completion_tokens', 0):,} completion · "
            f"{_usd(cost.get('usd'))}")


def _nonzero_errors(errors: dict | None) -> list[tuple[str, int]]:
    return sorted(((k, v) for k, v in (errors or {}).items() if v), key=lambda kv: (-kv[1], kv[0]))


def _facts(data: dict) -> list[tuple[str, str]]:
    task, program, source = data.get("task", {}), data.get("program", {}), data.get("data", {})
    kind = "multi-label" if task.get("multi_label") else "single-label"
    facts = [("task", f"{task.get('name', '?')} ({kind}, {task.get('labels', 0):,} labels)"),
             ("program", str(program.get("class", "?"))), ("LM", program.get("lm") or "—"),
             ("data", f"{source.get('path') or '(in memory)'} · {source.get('examples', 0):,} examples")]
    facts += [(name, str(program[key])) for name, key in (("artifact", "artifact"), ("run", "run_id"))
              if program.get(key)]
    return facts


def _headline_parts(headline: dict) -> tuple[str, str | None, str, str | None]:
    """(metric, "before-label value" or None, "after-label value", delta or None)."""
    before = None
    if headline.get("before") is not None:
        before = f"{headline.get('before_label') or 'before'} {_score(headline['before'])}"
    after = _score(headline.get("value"))
    if headline.get("after_label"):
        after = f"{headline['after_label']} {after}"
    return headline.get("metric", "score"), before, after, _points(headline.get("before"), headline.get("value"))


# ---------------------------------------------------------------- terminal


def render_terminal(data: dict, console: Console | None = None, *, top: int = 10) -> None:
    """Print the report on a rich Console (a new one on stdout when none is given).

    ``top`` caps the confusions listed and, for label spaces over ``2 * top`` labels, keeps the
    ``top`` best and ``top`` worst labels by F1 in the per-label table.
    """
    from rich.console import Console, Group

    _check_top(top)
    console = console or Console()
    console.print(Group(*_terminal_parts(data, top)))


def _table(*columns: str, numeric_from: int = 1, text_width: int = 40):
    """A compact table: text columns kept to one line (cut with an ellipsis), numbers right-aligned."""
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for i, name in enumerate(columns):
        numeric = i >= numeric_from
        table.add_column(name, justify="right" if numeric else "left", no_wrap=True, overflow="ellipsis",
                         min_width=None if numeric else 10, max_width=None if numeric else text_width)
    return table


def _terminal_parts(data: dict, top: int) -> list:
    from rich.rule import Rule
    from rich.text import Text

    def heading(name: str) -> Text:
        return Text(name, style="bold cyan")

    kind = "Compile report" if data.get("kind") == "compile" else "Evaluation report"
    parts: list = [Rule(Text(f"{kind}: {data.get('title', '')}", style="bold"), align="left")]
    parts.append(Text(" · ".join(f"{k} {v}" for k, v in _facts(data)), style="dim"))
    metric, before, after, delta = _headline_parts(data.get("headline", {}))
    line = Text(f"{metric}: ", style="bold")
    if before:
        line.append(before).append(" → ")
    line.append(after, style="bold green")
    if delta:
        line.append(f"  ({delta})", style="green" if not delta.startswith("-") else "red")
    parts.append(line)
    if budget := _budget_text(data.get("budget")):
        parts.append(Text(budget, style="yellow"))
    others = {k: v for k, v in data.get("metrics", {}).items() if k != metric}
    if others:
        parts.append(Text(" · ".join(f"{k} {_score(v)}" for k, v in sorted(others.items()))))
    parts += _terminal_per_label(data.get("per_label", []), top, heading)
    if not data.get("task", {}).get("multi_label"):
        parts.append(heading("Top confusions (gold → predicted)"))
        confusions = data.get("confusions", [])[:top]
        if confusions:
            table = _table("gold", "predicted", "count", numeric_from=2)
            for c in confusions:
                table.add_row(Text(str(c["gold"])), Text(_labels_text(c["predicted"])), f"{c['count']:,}")
            parts.append(table)
        else:
            parts.append(Text("no mistakes"))
    parts += [heading("Calibration"), Text(_calibration_text(data.get("calibration")))]
    parts += _terminal_cost(data.get("cost", {}), heading)
    parts.append(heading("Errors"))
    errors = _nonzero_errors(data.get("errors"))
    parts.append(Text(" · ".join(f"{k} {v:,}" for k, v in errors) if errors else "no errors"))
    parts += _terminal_failures(data.get("failures", []), heading)
    parts += _terminal_candidates(data.get("candidates", []), heading)
    return parts


def _terminal_per_label(per_label: list[dict], top: int, heading) -> list:
    from rich.text import Text

    if not per_label:
        return []
    groups, note = _select_per_label(per_label, top)
    table = _table("label", "precision", "recall", "F1", "support")
    for i, (_, rows) in enumerate(groups):
        if i:
            table.add_row(Text("⋯", style="dim"))
        for r in rows:
            table.add_row(Text(str(r["label"])), _score(r["precision"]), _score(r["recall"]), _score(r["f1"]),
                          f"{r['support']:,}")
    return [heading("Per label"), table] + ([Text(note, style="dim")] if note else [])


def _terminal_cost(cost: dict, heading) -> list:
    from rich.text import Text

    parts = [heading("Cost"), Text(_cost_text(cost))]
    modules = cost.get("by_module", [])
    if modules:
        table = _table("module", "calls", "prompt tokens", "completion tokens", "USD")
        for m in modules:
            table.add_row(Text(m.get("module") or "(no module)"), f"{m['calls']:,}", f"{m['prompt_tokens']:,}",
                          f"{m['completion_tokens']:,}", _usd(m.get("cost_usd")))
        parts.append(table)
    return parts


def _terminal_failures(failures: list[dict], heading) -> list:
    from rich.text import Text

    if not failures:
        return []
    table = _table("text", "gold", "predicted", numeric_from=3, text_width=60)
    for f in failures:
        predicted = _labels_text(f.get("predicted"))
        if f.get("error"):
            predicted += f" [{f['error']}]"
        table.add_row(Text(_shorten(f["text"], 200)), Text(_labels_text(f["gold"])), Text(predicted))
    return [heading("Failed examples"), table]


def _terminal_candidates(candidates: list[dict], heading) -> list:
    from rich.text import Text

    if not candidates:
        return []
    best = _best_candidate(candidates)
    table = _table("candidate", "stage", "dev score", "", numeric_from=2)
    for c in candidates:
        mark = Text("★ best", style="bold green") if c["id"] == best else ""
        table.add_row(Text(str(c["id"])), Text(str(c.get("stage") or "")), _score(c.get("dev_score")), mark)
    return [heading("Optimizer candidates"), table]


# ---------------------------------------------------------------- JSON


def to_json(data: dict) -> str:
    """The report data as deterministic JSON (sorted keys, indent 2); NaN and infinities become null."""

    def finite(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: finite(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [finite(v) for v in value]
        return value

    return json.dumps(finite(data), sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False)


# ---------------------------------------------------------------- HTML

_CSS = """
:root { --ink:#1f2933; --muted:#616e7c; --line:#e4e7eb; --accent:#3b6fb6; --good:#2e8b57; --bad:#c0504d; }
* { box-sizing: border-box; }
body { margin:0; background:#f5f7fa; color:var(--ink);
  font:14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
main { max-width:1100px; margin:0 auto; padding:24px 20px 48px; }
header h1 { margin:2px 0 10px; font-size:22px; }
.kind { margin:0; color:var(--muted); text-transform:uppercase; letter-spacing:.06em; font-size:12px; }
dl.facts { display:flex; flex-wrap:wrap; gap:4px 20px; margin:0; color:var(--muted); }
dl.facts div { display:flex; gap:6px; } dl.facts dt { font-weight:600; } dl.facts dd { margin:0; }
section { background:#fff; border:1px solid var(--line); border-radius:8px; padding:14px 18px; margin:16px 0; }
h2 { font-size:16px; margin:0 0 10px; } h3 { font-size:14px; margin:8px 0 4px; }
.headline { font-size:20px; } .headline .after { font-weight:700; color:var(--good); }
.delta.up { color:var(--good); } .delta.down { color:var(--bad); }
.budget { color:#9a6700; background:#fff8c5; padding:4px 8px; border-radius:4px; display:inline-block; }
.note { color:var(--muted); }
table { border-collapse:collapse; margin:8px 0; }
th, td { padding:3px 10px; border-bottom:1px solid var(--line); text-align:left; vertical-align:top; }
th { font-weight:600; color:var(--muted); } td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; }
tbody tr.group th { color:var(--ink); background:#f5f7fa; }
tr.best td { font-weight:600; color:var(--good); }
.text { display:block; max-width:560px; overflow-wrap:anywhere; }
figure { margin:8px 0 12px; } figure svg { display:block; max-width:100%; height:auto; }
.row { display:flex; flex-wrap:wrap; gap:8px 32px; align-items:flex-start; }
figcaption { color:var(--muted); font-size:12px; }
footer { color:var(--muted); font-size:12px; text-align:center; }
"""
_NUM = ' class="num"'
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _html_table(table_id: str, header: list[str], rows: list[list[str]], numeric_from: int = 1,
                row_attrs: list[str] | None = None) -> str:
    """A table from already-escaped cells; columns from ``numeric_from`` on are right-aligned numbers."""
    def cells(tag: str, values: list[str]) -> str:
        return "".join(f'<{tag}{_NUM if i >= numeric_from else ""}>{v}</{tag}>' for i, v in enumerate(values))

    attrs = row_attrs or [""] * len(rows)
    body = "".join(f"<tr{a}>{cells('td', r)}</tr>" for r, a in zip(rows, attrs))
    return f'<table id="{table_id}"><thead><tr>{cells("th", header)}</tr></thead><tbody>{body}</tbody></table>'


def _figure_html(plot_id: str, svg: str | None, caption: str) -> str:
    if svg is None:
        return ""
    return f'<figure id="{plot_id}" class="plot">{svg}<figcaption>{_e(caption)}</figcaption></figure>'


def _section(section_id: str, title: str, *content: str) -> str:
    return f'<section id="{section_id}"><h2>{_e(title)}</h2>{"".join(content)}</section>'


def _html_header(data: dict) -> str:
    kind = "Compile report" if data.get("kind") == "compile" else "Evaluation report"
    facts = "".join(f"<div><dt>{_e(k)}</dt><dd>{_e(v)}</dd></div>" for k, v in _facts(data))
    return f'<header><p class="kind">{kind}</p><h1>{_e(data.get("title", ""))}</h1><dl class="facts">{facts}</dl></header>'


def _html_headline(data: dict) -> str:
    metric, before, after, delta = _headline_parts(data.get("headline", {}))
    line = f"{_e(metric)}: " + (f'<span class="before">{_e(before)}</span> → ' if before else "")
    line += f'<span class="after">{_e(after)}</span>'
    if delta:
        line += f' <span class="delta {"down" if delta.startswith("-") else "up"}">({_e(delta)})</span>'
    parts = [f'<p class="headline" id="headline-value">{line}</p>']
    if budget := _budget_text(data.get("budget")):
        parts.append(f'<p class="budget" id="budget-note">{_e(budget)}</p>')
    metrics = sorted(data.get("metrics", {}).items())
    if metrics:
        parts.append(_html_table("table-metrics", ["metric", "value"], [[_e(k), _score(v)] for k, v in metrics]))
    return _section("summary", "Summary", *parts)


def _html_per_label(per_label: list[dict], top: int) -> str:
    from lmprog.report_plots import per_label_f1_svg

    if not per_label:
        return _section("per-label", "Per label", '<p class="note">no per-label scores</p>')
    groups, note = _select_per_label(per_label, top)
    titles = {"best": f"{top} best by F1", "worst": f"{top} worst by F1"}
    header = "".join(f"<th{_NUM if i else ''}>{h}</th>"
                     for i, h in enumerate(["label", "precision", "recall", "F1", "support"]))
    bodies = []
    for group, rows in groups:
        group_row = f'<tr class="group"><th colspan="5">{titles[group]}</th></tr>' if group in titles else ""
        body = "".join(f'<tr data-label="{_e(r["label"])}"><td>{_e(r["label"])}</td><td class="num">'
                       f'{_score(r["precision"])}</td><td class="num">{_score(r["recall"])}</td><td class="num">'
                       f'{_score(r["f1"])}</td><td class="num">{r["support"]:,}</td></tr>' for r in rows)
        bodies.append(f'<tbody data-group="{group}">{group_row}{body}</tbody>')
    table = f'<table id="table-per-label"><thead><tr>{header}</tr></thead>{"".join(bodies)}</table>'
    plot_rows = [(r["label"], r["f1"], group) for group, rows in groups for r in rows]
    caption = "F1 per label" + ("; best in green, worst in red" if note else "")
    plot = _figure_html("plot-per-label-f1", per_label_f1_svg(plot_rows), caption)
    return _section("per-label", "Per label", f'<p class="note" id="per-label-note">{_e(note)}</p>' if note else "",
                    _row(plot, table))


def _row(*content: str) -> str:
    """Side by side when the page is wide enough, stacked otherwise."""
    return f'<div class="row">{"".join(c for c in content if c)}</div>'


def _html_confusions(data: dict, top: int) -> str:
    from lmprog.report_plots import confusion_svg

    if data.get("task", {}).get("multi_label"):
        return ""
    matrix = data.get("confusion_matrix")
    plot = "" if not matrix else _figure_html("plot-confusion", confusion_svg(matrix["labels"], matrix["matrix"], matrix.get("columns")),
                                              "confusion matrix: rows gold, columns predicted")
    confusions = data.get("confusions", [])[:top]
    table = _html_table("table-confusions", ["gold", "predicted", "count"],
                        [[_e(c["gold"]), _e(_labels_text(c["predicted"])), f"{c['count']:,}"] for c in confusions],
                        numeric_from=2) if confusions else '<p class="note">no mistakes</p>'
    return _section("confusions", "Confusions", _row(plot, f"<div><h3>Top confusions</h3>{table}</div>"))


def _html_calibration(calibration: dict | None) -> str:
    from lmprog.report_plots import reliability_svg

    calibration = calibration or {}
    text = _calibration_text(calibration)
    summary = f'<p id="calibration-summary">{_e(text)}</p>'
    if text == _NO_CONFIDENCE:
        return _section("calibration", "Calibration", summary)
    bins = [b for b in calibration.get("bins", []) if b.get("count")]
    plot = _figure_html("plot-reliability", reliability_svg(bins, calibration.get("ece")),
                        "reliability diagram: accuracy against confidence per bin")
    table = _html_table("table-calibration", ["confidence", "predictions", "mean confidence", "accuracy"],
                        [[f"{b['lower']:.2f}–{b['upper']:.2f}", f"{b['count']:,}", _score(b.get("mean_confidence")),
                          _score(b.get("accuracy"))] for b in bins])
    return _section("calibration", "Calibration", summary, _row(plot, table))


def _html_cost_and_errors(data: dict) -> str:
    cost = data.get("cost", {})
    modules = cost.get("by_module", [])
    table = _html_table("table-cost-by-module", ["module", "calls", "prompt tokens", "completion tokens", "USD"],
                        [[_e(m.get("module") or "(no module)"), f"{m['calls']:,}", f"{m['prompt_tokens']:,}",
                          f"{m['completion_tokens']:,}", _e(_usd(m.get("cost_usd")))] for m in modules])
    errors = _nonzero_errors(data.get("errors"))
    errors_html = (_html_table("table-errors", ["kind", "count"], [[_e(k), f"{v:,}"] for k, v in errors])
                   if errors else '<p id="no-errors">no errors</p>')
    return (_section("cost", "Cost", f'<p id="cost-summary">{_e(_cost_text(cost))}</p>', table if modules else "")
            + _section("errors", "Errors", errors_html))


def _html_failures(failures: list[dict]) -> str:
    if not failures:
        return ""
    rows = []
    for f in failures:
        predicted = _e(_labels_text(f.get("predicted")))
        if f.get("error"):
            predicted += f' <span class="note">[{_e(f["error"])}]</span>'
        rows.append([f'<span class="text">{_e(_shorten(f["text"], 400))}</span>', _e(_labels_text(f["gold"])),
                     predicted])
    return _section("failures", "Failed examples", _html_table("table-failures", ["text", "gold", "predicted"], rows,
                                                               numeric_from=3))


def _html_candidates(candidates: list[dict]) -> str:
    from lmprog.report_plots import candidates_svg

    if not candidates:
        return ""
    best = _best_candidate(candidates)
    rows = [[_e(c["id"]) + (" ★ best" if c["id"] == best else ""), _e(c.get("stage") or ""),
             _score(c.get("dev_score"))] for c in candidates]
    attrs = [' class="best"' if c["id"] == best else "" for c in candidates]
    plot = _figure_html("plot-candidates", candidates_svg(candidates, best), "dev score of each optimizer candidate")
    table = _html_table("table-candidates", ["candidate", "stage", "dev score"], rows, numeric_from=2, row_attrs=attrs)
    return _section("candidates", "Optimizer candidates", _row(plot, table))


def to_html(data: dict, *, top: int = 10) -> str:
    """One self-contained HTML page: inline CSS, plots as inline SVG, no script, nothing fetched.

    Same content as :func:`render_terminal`, plus a confusion heatmap, per-label F1 bars, a
    reliability diagram and the candidates' dev scores, each when the data has what it needs.
    """
    _check_top(top)
    body = "".join([
        _html_header(data), _html_headline(data), _html_per_label(data.get("per_label", []), top),
        _html_confusions(data, top), _html_calibration(data.get("calibration")), _html_cost_and_errors(data),
        _html_failures(data.get("failures", [])), _html_candidates(data.get("candidates", [])),
    ])
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<meta name="generator" content="lmprog"><title>{_e(data.get("title") or "lmprog report")}</title>'
            f"<style>{_CSS}</style></head>\n<body><main>{body}"
            f"<footer>made by lmprog</footer></main></body></html>\n")


def write_html(data: dict, path: str | Path, *, top: int = 10) -> Path:
    """Write :func:`to_html` to ``path`` as UTF-8 and return the path."""
    path = Path(path)
    path.write_text(to_html(data, top=top), encoding="utf-8")
    return path
