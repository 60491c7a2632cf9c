"""Label-aware few-shot demo sets.

DSPy's bootstrapping draws demos at random, so a 4-demo set for a 5-label task often shows two
labels twice and two never, and easy look-alike examples crowd out the informative ones. Here each
candidate set is built to cover the label space: labels are visited round-robin (in a seeded
order), each time taking an unused example of that label, hard cases (ones the zero-shot program
got wrong) first, near-duplicate texts skipped. Multi-label sets greedily add the example that
covers the most labels not yet shown.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import dspy


@dataclass
class DemoCandidate:
    """A labelled example that may become a demo."""

    example: dspy.Example
    labels: tuple[str, ...]
    hard: bool = False  # the zero-shot program got it wrong (or could not parse its answer)
    trace: dict | None = field(default=None)  # the teacher's correct output (e.g. with reasoning), if bootstrapped
    demo: Callable[[dspy.Example], dspy.Example] | None = field(default=None)  # the example as a predictor's demo

    def as_demo(self) -> dspy.Example:
        """The demo DSPy shows: the teacher's correct trace when there is one, else the example as the compile
        phase turns it into a demo, else the example itself."""
        if self.trace:
            return dspy.Example(**self.trace)
        return self.demo(self.example) if self.demo is not None else self.example


def _fingerprint(example: dspy.Example) -> str:
    text = " ".join(str(example[name]) for name in example.inputs().keys())
    return re.sub(r"\W+", " ", text.casefold()).strip()


def demo_sets(candidates: Sequence[DemoCandidate], *, k: int, n_sets: int, seed: int,
              multi_label: bool = False) -> list[list[DemoCandidate]]:
    """``n_sets`` demo sets of up to ``k`` demos each, covering the labels; deterministic for a seed."""
    unique = _drop_near_duplicates(candidates)
    sets: list[list[DemoCandidate]] = []
    for index in range(n_sets):
        rng = random.Random(f"{seed}:{index}")
        chosen = _cover_multi(unique, k, rng) if multi_label else _cover_single(unique, k, rng)
        if chosen and [id(c) for c in chosen] not in [[id(c) for c in s] for s in sets]:
            sets.append(chosen)
    return sets


def demo_set(candidates: Sequence[DemoCandidate], *, k: int, seed: int, index: int,
             multi_label: bool = False) -> list[DemoCandidate]:
    """The ``index``-th label-covering demo set of up to ``k`` demos (what :func:`demo_sets` draws for it)."""
    unique = _drop_near_duplicates(candidates)
    rng = random.Random(f"{seed}:{index}")
    return _cover_multi(unique, k, rng) if multi_label else _cover_single(unique, k, rng)


def _drop_near_duplicates(candidates: Sequence[DemoCandidate]) -> list[DemoCandidate]:
    seen: dict[str, DemoCandidate] = {}
    for candidate in candidates:
        key = _fingerprint(candidate.example)
        kept = seen.get(key)
        if kept is None or (candidate.hard and not kept.hard):
            seen[key] = candidate
    return list(seen.values())


def _cover_single(candidates: list[DemoCandidate], k: int, rng: random.Random) -> list[DemoCandidate]:
    by_label: dict[str, list[DemoCandidate]] = {}
    for candidate in candidates:
        if candidate.labels:
            by_label.setdefault(candidate.labels[0], []).append(candidate)
    for pool in by_label.values():
        rng.shuffle(pool)
        pool.sort(key=lambda c: not c.hard)  # stable: hard cases first, random among equals
    order = sorted(by_label)
    rng.shuffle(order)
    chosen: list[DemoCandidate] = []
    while len(chosen) < k and any(by_label[label] for label in order):
        for label in order:
            if by_label[label] and len(chosen) < k:
                chosen.append(by_label[label].pop(0))
    rng.shuffle(chosen)  # no label order for the model to copy
    return chosen


def _cover_multi(candidates: list[DemoCandidate], k: int, rng: random.Random) -> list[DemoCandidate]:
    pool = list(candidates)
    rng.shuffle(pool)
    shown: set[str] = set()
    chosen: list[DemoCandidate] = []
    while pool and len(chosen) < k:
        best = max(pool, key=lambda c: (len(set(c.labels) - shown), c.hard))
        pool.remove(best)
        chosen.append(best)
        shown.update(best.labels)
    return chosen
