"""SVG plots for HTML reports, drawn with matplotlib's object API.

No pyplot: figures are plain ``matplotlib.figure.Figure`` objects, so no global backend is chosen
or changed and nothing stays open after a plot is drawn. Each function returns an ``<svg>``
element ready to inline in HTML: no XML header, DOCTYPE, metadata or namespace URLs, and ids
prefixed with the plot's name so several plots can share one page.
"""

from __future__ import annotations

import io
import re
from contextlib import contextmanager

_STYLE = {
    "svg.fonttype": "none",            # real text: searchable and selectable in the browser
    "svg.hashsalt": "lmprog-report",   # the same data gives the same SVG
    "text.parse_math": False,          # a label like "$5 refund" is text, not mathtext
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
_BLUE, _GREEN, _RED, _GREY = "#3b6fb6", "#2e8b57", "#c0504d", "#9aa5b1"


@contextmanager
def _figure(width: float, height: float):
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context(_STYLE):
        yield Figure(figsize=(width, height), layout="constrained")


def _svg(fig, name: str) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg")
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", svg, flags=re.S)
    svg = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", svg)  # HTML parses inline SVG without namespace URLs
    ids = set(re.findall(r'\bid="([^"]+)"', svg))
    svg = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{name}-{m.group(1)}"', svg)
    return re.sub(r'(url\(#|href="#)([^")]+)',
                  lambda m: f"{m.group(1)}{name}-{m.group(2)}" if m.group(2) in ids else m.group(0), svg)


def _short(label: str, width: int = 28) -> str:
    label = " ".join(str(label).split())
    return label if len(label) <= width else label[: width - 1] + "…"


def confusion_svg(labels: list[str], matrix: list[list[int]], columns: list[str] | None = None) -> str:
    """Heatmap of counts, gold ``labels`` down, predicted ``columns`` (default: the labels) across."""
    columns = columns or labels
    n = max(len(labels), len(columns))
    side = min(max(4.0, 0.32 * n + 2.5), 11.0)
    with _figure(side + 1.0, side) as fig:
        ax = fig.add_subplot()
        image = ax.imshow(matrix, cmap="Blues", aspect="equal", interpolation="nearest")
        ax.set_xticks(range(len(columns)), [_short(x, 20) for x in columns], rotation=60, ha="right",
                      rotation_mode="anchor")
        ax.set_yticks(range(len(labels)), [_short(x, 20) for x in labels])
        ax.set_xlabel("predicted")
        ax.set_ylabel("gold")
        if n <= 15:
            peak = max((max(row) for row in matrix if row), default=0) or 1
            for i, row in enumerate(matrix):
                for j, count in enumerate(row):
                    if count:
                        ax.text(j, i, str(count), ha="center", va="center", fontsize=8,
                                color="white" if count > peak * 0.6 else "black")
        fig.colorbar(image, ax=ax, shrink=0.8, label="examples")
        return _svg(fig, "confusion")


def _error_bars(values: list[float], bounds: list) -> list[list[float]] | None:
    """Matplotlib's asymmetric error bars from (low, high) bounds; None when no value has bounds."""
    if not any(bounds):
        return None
    return [[v - b[0] if b else 0.0 for v, b in zip(values, bounds)], [b[1] - v if b else 0.0
                                                                      for v, b in zip(values, bounds)]]


def per_label_f1_svg(rows: list[tuple]) -> str:
    """Horizontal F1 bars, one per (label, f1, group[, (low, high)]) row, top to bottom; group is
    all/best/worst; the 95% interval is drawn as an error bar where a row has one."""
    colors = {"best": _GREEN, "worst": _RED}
    positions, y = [], 0.0
    for i, (_, _, group, *_) in enumerate(rows):
        if i and group != rows[i - 1][2]:
            y -= 1.0  # a gap row between the best and the worst
        positions.append(y)
        y -= 1.0
    with _figure(5.0, max(1.6, 0.22 * (len(rows) + 1) + 0.8)) as fig:
        ax = fig.add_subplot()
        values = [row[1] for row in rows]
        ax.barh(positions, values, color=[colors.get(row[2], _BLUE) for row in rows],
                xerr=_error_bars(values, [row[3] if len(row) > 3 else None for row in rows]),
                error_kw={"ecolor": _GREY, "capsize": 2, "elinewidth": 0.8})
        ax.set_yticks(positions, [_short(row[0], 40) for row in rows])
        ax.set_xlim(0, 1)
        ax.set_xlabel("F1")
        ax.grid(axis="x", alpha=0.3)
        return _svg(fig, "per-label-f1")


def scores_svg(rows: list[tuple[str, float, tuple[float, float] | None]], metric: str) -> str | None:
    """One horizontal bar per (name, score, (low, high) or None), the 95% interval as an error bar: the
    programs a report compares, side by side (the first green, the supervised floor blue, others grey);
    None with fewer than two."""
    if len(rows) < 2:
        return None
    with _figure(5.0, max(1.4, 0.38 * len(rows) + 0.8)) as fig:
        ax = fig.add_subplot()
        positions = list(range(len(rows)))[::-1]
        values = [row[1] for row in rows]
        colors = [_GREEN] + [_BLUE if row[0] == "supervised floor" else _GREY for row in rows[1:]]
        ax.barh(positions, values, color=colors,
                xerr=_error_bars(values, [row[2] for row in rows]),
                error_kw={"ecolor": "#1f2933", "capsize": 3, "elinewidth": 1.0})
        ax.set_yticks(positions, [_short(row[0], 30) for row in rows])
        ax.set_xlim(0, 1)
        ax.set_xlabel(f"{metric} (95% interval)")
        ax.grid(axis="x", alpha=0.3)
        return _svg(fig, "scores")


def reliability_svg(bins: list[dict], ece: float | None) -> str | None:
    """Accuracy against mean confidence per bin, above a histogram of bin counts; None without counts."""
    bins = [b for b in bins if b.get("count") and b.get("accuracy") is not None]
    if not bins:
        return None
    with _figure(5.5, 5.0) as fig:
        top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
        lefts = [b["lower"] for b in bins]
        widths = [b["upper"] - b["lower"] for b in bins]
        top.bar(lefts, [b["accuracy"] for b in bins], width=widths, align="edge", color=_BLUE, alpha=0.75,
                edgecolor="white", label="accuracy")
        top.plot([0, 1], [0, 1], linestyle="--", color=_GREY, label="perfect calibration")
        confident = [b for b in bins if b.get("mean_confidence") is not None]
        top.plot([b["mean_confidence"] for b in confident], [b["accuracy"] for b in confident], "o", color=_RED,
                 markersize=4, label="mean confidence")
        top.set_ylim(0, 1)
        top.set_ylabel("accuracy")
        top.legend(loc="upper left", frameon=False)
        if ece is not None:
            top.set_title(f"ECE {ece:.3f}", loc="right")
        bottom.bar(lefts, [b["count"] for b in bins], width=widths, align="edge", color=_GREY, edgecolor="white")
        bottom.set_xlim(0, 1)
        bottom.set_xlabel("confidence")
        bottom.set_ylabel("predictions")
        return _svg(fig, "reliability")


def candidates_svg(candidates: list[dict], best: str | None) -> str | None:
    """Dev score of each scored optimizer candidate in search order, the best one highlighted (with its 95%
    interval as an error bar where the candidate has ``bounds``)."""
    scored = [c for c in candidates if c.get("dev_score") is not None]
    if not scored:
        return None
    with _figure(min(max(4.0, 0.35 * len(scored) + 2.0), 11.0), 3.4) as fig:
        ax = fig.add_subplot()
        positions = list(range(len(scored)))
        values = [c["dev_score"] for c in scored]
        ax.bar(positions, values, color=[_GREEN if c["id"] == best else _BLUE for c in scored],
               yerr=_error_bars(values, [c.get("bounds") for c in scored]),
               error_kw={"ecolor": _GREY, "capsize": 2, "elinewidth": 0.8})
        if len(scored) <= 30:
            ax.set_xticks(positions, [_short(c["id"], 20) for c in scored], rotation=45, ha="right",
                          rotation_mode="anchor")
        ax.set_ylim(0, 1)
        ax.set_ylabel("dev score")
        ax.grid(axis="y", alpha=0.3)
        return _svg(fig, "candidates")


def cascade_svg(curve: list[dict], chosen: dict | None, program_score: float | None, metric: str) -> str | None:
    """The cascade's score against the fraction of inputs sent to the LM, the chosen point marked."""
    points = [p for p in curve if p.get("score") is not None]
    if not points:
        return None
    with _figure(5.5, 3.6) as fig:
        ax = fig.add_subplot()
        ax.plot([100 * p["lm_fraction"] for p in points], [p["score"] for p in points], "-o", color=_BLUE,
                markersize=2.5, label="cascade")
        if program_score is not None:
            ax.axhline(program_score, linestyle="--", color=_GREY, label="program alone")
        if chosen is not None and chosen.get("score") is not None:
            ax.plot([100 * chosen["lm_fraction"]], [chosen["score"]], "o", color=_GREEN, markersize=8,
                    label=f"chosen: {100 * chosen['lm_fraction']:.0f}% to the LM")
        ax.set_xlim(0, 100)
        ax.set_xlabel("inputs sent to the LM (%)")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", frameon=False)
        return _svg(fig, "cascade")
