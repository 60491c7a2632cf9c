"""What the test server measures about its load, and its optional requests-per-second limit."""

from __future__ import annotations

import time
from typing import Callable, Optional


class Meter:
    """Requests in flight (now and the most at once), when admitted requests arrived, and a token-bucket
    rate limit (``rate_limit`` requests per second, bursts of up to one second's worth).

    Not thread-safe on its own: the server calls it under its lock.
    """

    def __init__(self, rate_limit: Optional[float] = None, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self.rate_limit = rate_limit
        self.in_flight = self.max_in_flight = 0
        self.arrivals: list[float] = []
        self.limited = 0
        self._tokens = float(rate_limit or 0)
        self._refilled = clock()

    def admit(self) -> Optional[float]:
        """None if a request may go on (its arrival is noted), else the seconds until one may (a 429)."""
        now = self.clock()
        if self.rate_limit:
            self._tokens = min(float(self.rate_limit), self._tokens + (now - self._refilled) * self.rate_limit)
            self._refilled = now
            if self._tokens < 1:
                self.limited += 1
                return (1 - self._tokens) / self.rate_limit
            self._tokens -= 1
        self.arrivals.append(now)
        return None

    def enter(self) -> None:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def leave(self) -> None:
        self.in_flight -= 1

    def busiest_second(self, window: float = 1.0) -> int:
        """The most admitted requests that arrived within any ``window`` seconds."""
        times, best, start = sorted(self.arrivals), 0, 0
        for end, moment in enumerate(times):
            while moment - times[start] >= window:
                start += 1
            best = max(best, end - start + 1)
        return best

    def reset(self) -> None:
        self.in_flight = self.max_in_flight = self.limited = 0
        self.arrivals.clear()
