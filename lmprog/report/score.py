"""A score in a report: its value and, when known, an interval and the number of examples behind it.

Reports hold scores as :class:`Score` so that an interval can be added to any of them without
changing the report classes. A score without an interval is stored in the report data as a plain
number (what reports hold today); one with an interval as ``{"value", "low", "high", "n"}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Score", "interval_text", "score_text", "score_value"]

NO_SCORE = "—"


@dataclass(frozen=True)
class Score:
    """``value`` and, when known, the interval ``[low, high]`` and the ``n`` examples it was measured on."""

    value: float
    low: float | None = None
    high: float | None = None
    n: int | None = None

    @property
    def has_interval(self) -> bool:
        return self.low is not None and self.high is not None

    @classmethod
    def load(cls, data: Any) -> Score | None:
        """A score from report data: None, a number, or a ``{"value", "low", "high", "n"}`` dict."""
        if data is None:
            return None
        if isinstance(data, dict):
            return cls(data["value"], data.get("low"), data.get("high"), data.get("n"))
        return cls(data)

    @staticmethod
    def dump(score: Score | None) -> Any:
        """The report data of ``score``: None, the plain value, or a dict when it has more than a value."""
        if score is None:
            return None
        if score.low is None and score.high is None and score.n is None:
            return score.value
        return {"value": score.value, "low": score.low, "high": score.high, "n": score.n}

    def text(self, digits: int = 3, *, with_interval: bool = True) -> str:
        """``0.740``, or ``0.740 [0.650, 0.820] n=100`` with an interval (``with_interval=False``: the value)."""
        out = f"{self.value:.{digits}f}"
        if not with_interval:
            return out
        if self.has_interval:
            out += f" [{self.low:.{digits}f}, {self.high:.{digits}f}]"
        if self.n is not None:
            out += f" n={self.n:,}"
        return out

    def __str__(self) -> str:
        return self.text()


def score_text(value: Score | float | None, digits: int = 3, *, with_interval: bool = True) -> str:
    """A score (or a plain number) as reports show it; a dash when there is none."""
    if value is None:
        return NO_SCORE
    if isinstance(value, Score):
        return value.text(digits, with_interval=with_interval)
    return f"{value:.{digits}f}"


def interval_text(value: Score | float | None, digits: int = 2) -> str:
    """Only the interval of a score, ``[0.65, 0.82]``; a dash when it has none."""
    if not isinstance(value, Score) or not value.has_interval:
        return NO_SCORE
    return f"[{value.low:.{digits}f}, {value.high:.{digits}f}]"


def score_value(value: Score | float | None) -> float | None:
    """The number of a score or plain number (None stays None)."""
    return value.value if isinstance(value, Score) else value
