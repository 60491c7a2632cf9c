"""Which fault, if any, a chat request to the test server meets."""

from __future__ import annotations

import collections
import hashlib
import json
import random
from typing import Mapping, Optional

FAULT_KINDS = ("429", "500", "timeout", "malformed", "truncated", "empty_choices")


def check_kind(kind: str) -> None:
    """Raise ValueError unless ``kind`` is one of ``FAULT_KINDS``."""
    if kind not in FAULT_KINDS:
        raise ValueError(f"unknown fault kind {kind!r}; use one of {', '.join(FAULT_KINDS)}")


def checked_probabilities(faults: Mapping[str, float]) -> dict[str, float]:
    """Fault kind -> probability, checked: known kinds only, adding up to at most 1."""
    faults = {str(kind): float(p) for kind, p in faults.items()}
    for kind in faults:
        check_kind(kind)
    if sum(faults.values()) > 1:
        raise ValueError(f"fault probabilities add up to more than 1: {faults}")
    return faults


class FaultPlan:
    """Queued faults first, then a draw against the probabilities: from one seeded RNG in arrival
    order, or (``by_request``) from the request body and how many times it came before.

    Not thread-safe on its own: the server calls it under its lock.
    """

    def __init__(self, seed: int) -> None:
        self.probabilities: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        self._random = random.Random(seed)
        self._queued: collections.deque[str] = collections.deque()
        self._seen_bodies: collections.Counter[str] = collections.Counter()

    def queue(self, kind: str, count: int) -> None:
        check_kind(kind)
        self._queued.extend([kind] * count)

    def next(self, body: Optional[dict], *, seed: int, by_request: bool) -> Optional[str]:
        """The fault this request meets (counted), or None."""
        if self._queued:
            kind = self._queued.popleft()
        else:
            kind, draw = None, self._draw(body, seed, by_request)
            for candidate, probability in self.probabilities.items():
                draw -= probability
                if draw < 0:
                    kind = candidate
                    break
        if kind is not None:
            self.counts[kind] = self.counts.get(kind, 0) + 1
        return kind

    def _draw(self, body: Optional[dict], seed: int, by_request: bool) -> float:
        if not by_request:
            return self._random.random()
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        attempt = self._seen_bodies[digest]
        self._seen_bodies[digest] += 1
        return random.Random(f"{seed}:{digest}:{attempt}").random()

    def reset(self, seed: int) -> None:
        """Forget counts, queued faults and seen requests; reseed."""
        self.counts.clear()
        self._queued.clear()
        self._seen_bodies.clear()
        self._random.seed(seed)
