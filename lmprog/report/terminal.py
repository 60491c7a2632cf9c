"""The rich pieces every report's terminal rendering shares: compact tables, headings, plain text.

User text (labels, example texts, paths) always goes into :class:`rich.text.Text`, never through
console markup, so ``[bold]`` in a label is shown as it is.
"""

from __future__ import annotations

from rich import box
from rich.table import Table
from rich.text import Text

__all__ = ["heading", "table"]


def table(*columns: str, numeric_from: int = 1, text_width: int = 40) -> Table:
    """A compact table: text columns kept to one line (cut with an ellipsis), numbers right-aligned."""
    out = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for i, name in enumerate(columns):
        numeric = i >= numeric_from
        out.add_column(name, justify="right" if numeric else "left", no_wrap=True, overflow="ellipsis",
                       min_width=None if numeric else 10, max_width=None if numeric else text_width)
    return out


def heading(name: str) -> Text:
    """A section heading."""
    return Text(name, style="bold cyan")
