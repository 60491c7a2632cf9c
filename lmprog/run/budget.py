"""Hard caps on what a run may spend: paid LM calls and USD. Ledger hits are free and never counted."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from lmprog.errors import BudgetExceededError, ConfigurationError


@dataclass(frozen=True)
class Budget:
    """A cap on paid LM calls and/or USD; None means no cap on that measure."""

    max_calls: int | None = None
    max_usd: float | None = None

    def __post_init__(self) -> None:
        if self.max_calls is not None and self.max_calls < 0:
            raise ConfigurationError(f"max_calls must be 0 or more, not {self.max_calls}")
        if self.max_usd is not None and self.max_usd < 0:
            raise ConfigurationError(f"max_usd must be 0 or more, not {self.max_usd}")

    def describe(self) -> str:
        parts = [f"{self.max_calls:,} paid calls" if self.max_calls is not None else None,
                 f"${self.max_usd:,.4f}" if self.max_usd is not None else None]
        return " and ".join(p for p in parts if p) or "no cap"


class BudgetTracker:
    """Counts what LM engines spend against a :class:`Budget`; shared by every LM of a run (it travels in
    the run's :class:`~lmprog.run.RunContext`).

    A call is reserved before it is sent, so many threads together never exceed ``max_calls``.
    USD is known only after a call returns, so the USD cap stops the next call once it is reached
    (an unpriced call counts as $0 and is reported in ``unpriced``).
    """

    def __init__(self, budget: Budget | None = None):
        self.budget = budget or Budget()
        self._lock = threading.Lock()
        self.calls = 0
        self.usd = 0.0
        self.unpriced = 0
        self.hits = 0
        self.tokens = 0
        self._in_flight = 0
        self.stopped_by: str | None = None

    def reserve(self) -> None:
        """Claim one paid call, or raise :class:`BudgetExceededError` if the cap is reached."""
        with self._lock:
            if self.budget.max_calls is not None and self.calls + self._in_flight >= self.budget.max_calls:
                self.stopped_by = "max_calls"
                raise BudgetExceededError(
                    f"budget exhausted: {self.calls:,} of {self.budget.max_calls:,} paid LM calls used")
            if self.budget.max_usd is not None and self.usd >= self.budget.max_usd:
                self.stopped_by = "max_usd"
                raise BudgetExceededError(
                    f"budget exhausted: ${self.usd:,.4f} of ${self.budget.max_usd:,.4f} spent")
            self._in_flight += 1

    def settle(self, *, paid: bool, cost_usd: float | None = None, tokens: int = 0) -> None:
        """Finish a reserved call: ``paid`` if the provider answered (failed attempts are not paid)."""
        with self._lock:
            self._in_flight -= 1
            if paid:
                self.calls += 1
                self.tokens += tokens
                if cost_usd is None:
                    self.unpriced += 1
                else:
                    self.usd += cost_usd

    def note_hit(self) -> None:
        """Count a call answered by the ledger (free; shown in progress displays)."""
        with self._lock:
            self.hits += 1

    @property
    def exhausted(self) -> bool:
        return self.stopped_by is not None

    def summary(self) -> dict:
        return {"max_calls": self.budget.max_calls, "max_usd": self.budget.max_usd, "calls": self.calls,
                "usd": round(self.usd, 8), "unpriced_calls": self.unpriced, "hits": self.hits, "tokens": self.tokens,
                "stopped_by": self.stopped_by}
