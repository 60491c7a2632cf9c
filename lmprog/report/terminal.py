"""The rich pieces every report's terminal rendering shares: compact tables, headings, plain text.

User text (labels, example texts, paths) always goes into :class:`rich.text.Text`, never through
console markup, so ``[bold]`` in a label is shown as it is.
"""

from __future__ import annotations

from rich import box
from rich.table import Table
from rich.text import Text

__all__ = ["cell", "heading", "table"]


def table(*columns: str, numeric_from: int = 1, text_width: int = 40) -> Table:
    """A compact table: text columns kept to one line (cut with an ellipsis), numbers right-aligned.

    Give text cells as :func:`cell`: on a narrow terminal the text columns shrink and numbers stay whole.
    """
    out = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for i, name in enumerate(columns):
        numeric = i >= numeric_from
        # rich narrows only the columns it may wrap; a text column is one (its cells still stay on one line)
        out.add_column(name, justify="right" if numeric else "left", no_wrap=numeric, overflow="ellipsis",
                       min_width=None if numeric else 10, max_width=None if numeric else text_width)
    return out


def cell(value: object, style: str = "") -> Text:
    """A text cell: shown as it is (no console markup), on one line, cut with an ellipsis when too long."""
    return Text(str(value), style=style, no_wrap=True, overflow="ellipsis")


def heading(name: str) -> Text:
    """A section heading."""
    return Text(name, style="bold cyan")
