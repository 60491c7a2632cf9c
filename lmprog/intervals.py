"""How sure a score from tens of examples is: 95% intervals, paired differences, and a plain verdict.

- :func:`proportion_interval`: Wilson's interval for a share of successes (accuracy), via scipy.
- :func:`metric_interval`: a seeded percentile bootstrap over examples (``scipy.stats.bootstrap``) for any
  metric of an output kind (macro/micro F1, RP@k, ...), computed on resampled example indices.
- :func:`paired_difference`: the bootstrap interval of "B minus A" on the same examples (each resample
  scores both on the same draw), with the verdict "better", "worse" or "no detectable difference".

Every interval says how many examples it rests on; ``small`` marks fewer than :data:`SMALL_SAMPLE`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

LEVEL = 0.95
RESAMPLES = 1000
BATCH_CELLS = 4_000_000  # example indices drawn at once (resamples x examples)
SMALL_SAMPLE = 30
BETTER, WORSE, SAME = "better", "worse", "no detectable difference"


@dataclass(frozen=True)
class Interval:
    """A score with its 95% interval: ``low <= value <= high`` (None bounds when there is no data)."""

    value: float | None
    low: float | None
    high: float | None
    n: int
    method: str = "bootstrap"

    @property
    def small(self) -> bool:
        return self.n < SMALL_SAMPLE

    def to_dict(self) -> dict:
        return {"value": self.value, "low": self.low, "high": self.high, "n": self.n, "method": self.method}

    @classmethod
    def from_dict(cls, data: dict) -> Interval:
        return cls(data.get("value"), data.get("low"), data.get("high"), int(data.get("n") or 0),
                   data.get("method", "bootstrap"))

    def describe(self, digits: int = 3) -> str:
        """``0.740 [0.650, 0.820] n=100``."""
        if self.value is None:
            return "–"
        if self.low is None or self.high is None:
            return f"{self.value:.{digits}f} n={self.n}"
        return f"{self.value:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}] n={self.n}"


@dataclass(frozen=True)
class Difference:
    """``b - a`` on the same examples, its 95% interval, and what it supports."""

    value: float | None
    low: float | None
    high: float | None
    n: int

    @property
    def verdict(self) -> str:
        if self.low is None or self.high is None:
            return SAME
        if self.low > 0:
            return BETTER
        if self.high < 0:
            return WORSE
        return SAME

    def to_dict(self) -> dict:
        return {"value": self.value, "low": self.low, "high": self.high, "n": self.n, "verdict": self.verdict}

    def describe(self, digits: int = 1, scale: float = 100.0, unit: str = " points") -> str:
        """``+4.0 points [-3.0, +11.0] (no detectable difference)``; without an interval (fewer than two
        examples) ``+4.0 points (n=1, no interval)``."""
        if self.value is None:
            return "–"
        if self.low is None or self.high is None:
            return f"{self.value * scale:+.{digits}f}{unit} (n={self.n}, no interval)"
        return (f"{self.value * scale:+.{digits}f}{unit} [{self.low * scale:+.{digits}f}, "
                f"{self.high * scale:+.{digits}f}] ({self.verdict})")


def proportion_interval(successes: int, n: int) -> Interval:
    """Wilson's 95% interval for ``successes`` out of ``n`` (scipy's ``binomtest``)."""
    if n <= 0:
        return Interval(None, None, None, 0, "wilson")
    from scipy.stats import binomtest

    ci = binomtest(int(successes), int(n)).proportion_ci(confidence_level=LEVEL, method="wilson")
    return Interval(successes / n, float(ci.low), float(ci.high), int(n), "wilson")


def bootstrap(statistic: Callable[[np.ndarray], np.ndarray], n: int, *, seed: int = 0,
              resamples: int = RESAMPLES) -> tuple[float, float] | None:
    """The percentile bootstrap interval of ``statistic(indices)`` over ``n`` examples; ``statistic`` takes an
    array of example indices (one resample per row) and returns one value per row."""
    bounds = bootstrap_each(lambda idx: np.asarray(statistic(idx))[None, :], n, seed=seed, resamples=resamples)
    if bounds is None or not (np.isfinite(bounds[0][0]) and np.isfinite(bounds[1][0])):
        return None
    return float(bounds[0][0]), float(bounds[1][0])


def bootstrap_each(statistic: Callable[[np.ndarray], np.ndarray], n: int, *, seed: int = 0,
                   resamples: int = RESAMPLES) -> tuple[np.ndarray, np.ndarray] | None:
    """Percentile intervals of a statistic with several values (per-label F1 ...), all from the same seeded
    resamples: ``statistic(indices)`` takes resamples as rows of example indices, shape ``(R, n)``, and
    returns shape ``(k, R)``; the result is ``(low, high)``, two arrays of ``k`` bounds. None for n < 2."""
    if n < 2:
        return None
    from scipy.stats import bootstrap as scipy_bootstrap

    batch = max(1, min(resamples, BATCH_CELLS // n))  # bounds the memory of one (batch, n) index array
    result = scipy_bootstrap((np.arange(n),), lambda idx, axis=-1: statistic(idx), vectorized=True, axis=-1,
                             n_resamples=resamples, batch=batch, confidence_level=LEVEL, method="percentile",
                             random_state=np.random.default_rng(seed))
    low, high = result.confidence_interval
    return np.atleast_1d(np.asarray(low, dtype=float)), np.atleast_1d(np.asarray(high, dtype=float))


def mean_interval(values: Sequence[float], *, seed: int = 0) -> Interval:
    """A mean of per-example scores (F1 of a label set, RP@10 ...) with its bootstrap interval."""
    array = np.asarray(values, dtype=float)
    if not len(array):
        return Interval(None, None, None, 0)
    bounds = bootstrap(lambda idx: array[idx].mean(axis=-1), len(array), seed=seed)
    value = float(array.mean())
    return Interval(value, *(bounds or (None, None)), len(array))


def paired_difference(a: Sequence[float], b: Sequence[float], *, seed: int = 0) -> Difference:
    """``mean(b) - mean(a)`` over paired per-example scores, with its bootstrap interval."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(a) != len(b):
        raise ValueError(f"paired scores need the same examples: {len(a)} and {len(b)}")
    if not len(a):
        return Difference(None, None, None, 0)
    delta = b - a
    value = float(delta.mean())
    bounds = bootstrap(lambda idx: delta[idx].mean(axis=-1), len(delta), seed=seed)
    return Difference(value, *(bounds or (None, None)), len(delta))


def metric_interval(metric: Callable[[np.ndarray], np.ndarray], n: int, value: float | None, *,
                    seed: int = 0) -> Interval:
    """``value`` of a metric with the bootstrap interval of ``metric(indices)`` (see :func:`bootstrap`)."""
    if value is None or n == 0:
        return Interval(value, None, None, n)
    bounds = bootstrap(metric, n, seed=seed)
    return Interval(value, *(bounds or (None, None)), n)


def metric_difference(metric_a: Callable[[np.ndarray], np.ndarray], metric_b: Callable[[np.ndarray], np.ndarray],
                      n: int, *, seed: int = 0) -> Difference:
    """``metric_b - metric_a`` on the same resampled examples, with its interval (for metrics that are not
    a mean of per-example scores, such as macro F1)."""
    everything = np.arange(n)[None, :]
    if n == 0:
        return Difference(None, None, None, 0)
    value = float(metric_b(everything)[0] - metric_a(everything)[0])
    bounds = bootstrap(lambda idx: metric_b(idx) - metric_a(idx), n, seed=seed)
    return Difference(value, *(bounds or (None, None)), n)
