"""The HTML every report page shares: one self-contained page (inline CSS, inline SVG, no script,
nothing fetched, a Content-Security-Policy that forbids the rest), escaping, tables and sections.

Every function that takes text escapes it; tables take cells that are already escaped HTML.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import Any

__all__ = ["CSP", "CSS", "escape", "facts_header", "figure", "page", "row", "section", "table"]

CSS = """
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
.verdict.up { color:var(--good); } .verdict.down { color:var(--bad); font-weight:600; }
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
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
NUM = ' class="num"'


def escape(value: Any) -> str:
    """``str(value)`` escaped for HTML text and attribute values."""
    return html.escape(str(value), quote=True)


def page(title: str, body: str) -> str:
    """The whole page around ``body`` (HTML): inline CSS, the CSP, no script."""
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<meta name="generator" content="lmprog"><title>{escape(title)}</title>'
            f"<style>{CSS}</style></head>\n<body><main>{body}"
            f"<footer>made by lmprog</footer></main></body></html>\n")


def facts_header(kind: str, title: str, facts: Iterable[tuple[str, Any]]) -> str:
    """The page header: the kind of report, its title, and a line of (name, value) facts."""
    items = "".join(f"<div><dt>{escape(k)}</dt><dd>{escape(v)}</dd></div>" for k, v in facts)
    return (f'<header><p class="kind">{escape(kind)}</p><h1>{escape(title)}</h1>'
            f'<dl class="facts">{items}</dl></header>')


def table(table_id: str, header: list[str], rows: list[list[str]], numeric_from: int = 1,
          row_attrs: list[str] | None = None) -> str:
    """A table from already-escaped cells; columns from ``numeric_from`` on are right-aligned numbers."""
    def cells(tag: str, values: list[str]) -> str:
        return "".join(f'<{tag}{NUM if i >= numeric_from else ""}>{v}</{tag}>' for i, v in enumerate(values))

    attrs = row_attrs or [""] * len(rows)
    body = "".join(f"<tr{a}>{cells('td', r)}</tr>" for r, a in zip(rows, attrs))
    return f'<table id="{table_id}"><thead><tr>{cells("th", header)}</tr></thead><tbody>{body}</tbody></table>'


def figure(plot_id: str, svg: str | None, caption: str) -> str:
    """A plot (inline SVG) with its caption; nothing when there is no plot."""
    if svg is None:
        return ""
    return f'<figure id="{plot_id}" class="plot">{svg}<figcaption>{escape(caption)}</figcaption></figure>'


def section(section_id: str, title: str, *content: str) -> str:
    return f'<section id="{section_id}"><h2>{escape(title)}</h2>{"".join(content)}</section>'


def row(*content: str) -> str:
    """Side by side when the page is wide enough, stacked otherwise."""
    return f'<div class="row">{"".join(c for c in content if c)}</div>'
