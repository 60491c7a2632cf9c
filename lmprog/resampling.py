"""How sure an output kind's scores are: its metrics on resampled examples, their 95% intervals, and the
paired difference of two programs' answers on the same examples.

:mod:`lmprog.outputs` says how answers score; this module says how much the score would move with other
examples of the same kind. A :class:`Sample` holds one program's answers on ``n`` labelled examples as
per-example arrays (true positives, false positives and false negatives per label; per-example scores),
so every metric of its kind is computed for a whole batch of bootstrap resamples at once: a batch of
resamples (rows of example indices) becomes how often each example is drawn (:func:`draw_counts`), and
each metric is then a matrix product. Accuracy gets Wilson's interval; every other metric a seeded
percentile bootstrap over examples (:mod:`lmprog.intervals`, ``scipy.stats.bootstrap`` underneath).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from lmprog import outputs
from lmprog.intervals import Difference, Interval, bootstrap_each, metric_difference, proportion_interval

__all__ = ["Sample", "calibration_interval", "compare", "draw_counts"]

Statistic = Callable[[np.ndarray], np.ndarray]  # draw counts (R, n) -> one value per resample (R,)


def draw_counts(indices: np.ndarray, n: int) -> np.ndarray:
    """How often each of ``n`` examples is drawn by each resample: ``(R, n)`` counts from ``(R, n)`` indices."""
    indices = np.atleast_2d(np.asarray(indices, dtype=np.int64))
    rows = indices.shape[0]
    offsets = indices + n * np.arange(rows)[:, None]
    return np.bincount(offsets.ravel(), minlength=rows * n).reshape(rows, n).astype(float)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator``, 0 where the denominator is 0 (scikit-learn's ``zero_division=0``)."""
    numerator, denominator = np.broadcast_arrays(np.asarray(numerator, float), np.asarray(denominator, float))
    out = np.zeros(numerator.shape)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


class LabelCounts:
    """Per-example, per-label true positives, false positives and false negatives of label sets, kept only
    for the labels that occur (a label nobody gold-labelled or predicted has F1 0 in every resample)."""

    def __init__(self, gold_sets: Sequence[set], predicted_sets: Sequence[set], labels: Sequence[str]):
        self.total = len(labels)
        known = set(labels)
        seen = set().union(*gold_sets, *predicted_sets) & known if gold_sets else set()
        self.labels = [label for label in labels if label in seen]
        column = {label: j for j, label in enumerate(self.labels)}
        n = len(gold_sets)
        gold, predicted = np.zeros((n, len(self.labels))), np.zeros((n, len(self.labels)))
        for i, (g, p) in enumerate(zip(gold_sets, predicted_sets)):
            gold[i, [column[x] for x in g if x in column]] = 1
            predicted[i, [column[x] for x in p if x in column]] = 1
        self.tp = gold * predicted
        self.fp = predicted - self.tp
        self.fn = gold - self.tp

    def f1(self, counts: np.ndarray) -> np.ndarray:
        """F1 per occurring label in each resample: ``(R, labels)``."""
        tp, fp, fn = counts @ self.tp, counts @ self.fp, counts @ self.fn
        return _ratio(2 * tp, 2 * tp + fp + fn)

    def macro_f1(self, counts: np.ndarray) -> np.ndarray:
        return self.f1(counts).sum(axis=1) / self.total if self.total else np.zeros(len(counts))

    def micro_f1(self, counts: np.ndarray) -> np.ndarray:
        tp, fp, fn = (counts @ m.sum(axis=1) for m in (self.tp, self.fp, self.fn))
        return _ratio(2 * tp, 2 * tp + fp + fn)


def _mean(values: np.ndarray) -> Statistic:
    return lambda counts: counts @ values / values.shape[0]


def _mean_over(values: np.ndarray, counted: np.ndarray) -> Statistic:
    """The mean of ``values`` over the examples ``counted`` (ranking metrics skip examples without gold)."""
    return lambda counts: _ratio(counts @ values, counts @ counted)


def _sets(values: Sequence, multi: bool) -> list[set]:
    if multi:
        return [set(v or ()) for v in values]
    return [set() if v is None else {v} for v in values]


class Sample:
    """One program's answers on ``n`` labelled examples (``kind`` says how they score), ready to be scored
    on any resample of the examples."""

    def __init__(self, kind: outputs.OutputKind, gold: Sequence, predicted: Sequence, labels: Sequence[str]):
        if len(gold) != len(predicted):
            raise ValueError(f"gold has {len(gold)} answers but predicted has {len(predicted)}")
        self.kind, self.labels = kind, list(labels)
        self.gold, self.predicted = list(gold), list(predicted)
        self.n = len(self.gold)
        self.scores = np.array([kind.example_score(g, p) for g, p in zip(self.gold, self.predicted)], dtype=float)
        self.statistics: dict[str, Statistic] = self._statistics()

    def _statistics(self) -> dict[str, Statistic]:
        if self.kind.ranked:
            return self._ranking_statistics()
        counts = LabelCounts(_sets(self.gold, self.kind.multi), _sets(self.predicted, self.kind.multi), self.labels)
        if self.kind.multi:
            return {"micro_f1": counts.micro_f1, "macro_f1": counts.macro_f1, "example_f1": _mean(self.scores)}
        return {"accuracy": _mean(self.scores), "macro_f1": counts.macro_f1}

    def _ranking_statistics(self) -> dict[str, Statistic]:
        out: dict[str, Statistic] = {}
        gold = [set(g or ()) for g in self.gold]
        counted = np.array([bool(g) for g in gold], dtype=float)
        for k in outputs.RANK_CUTOFFS:
            hits = np.array([len(g & set(list(dict.fromkeys(p or ()))[:k])) for g, p in zip(gold, self.predicted)],
                            dtype=float)
            sizes = np.array([max(len(g), 1) for g in gold], dtype=float)
            out[f"rp@{k}"] = _mean_over(hits / np.minimum(k, sizes), counted)
            out[f"p@{k}"] = _mean_over(hits / k, counted)
            out[f"r@{k}"] = _mean_over(hits / sizes, counted)
        return out

    def statistic(self, metric: str) -> Statistic | None:
        """The metric as a function of draw counts (``(R, n)`` -> ``(R,)``); None for a metric this kind lacks."""
        return self.statistics.get(metric)

    def on_indices(self, metric: str) -> Callable[[np.ndarray], np.ndarray]:
        """The metric as a function of resampled example indices (what :mod:`lmprog.intervals` takes)."""
        statistic = self.statistics[metric]
        return lambda indices: statistic(draw_counts(indices, self.n))

    def value(self, metric: str) -> float | None:
        """The metric on the examples themselves (each drawn once)."""
        statistic = self.statistic(metric)
        return None if statistic is None or not self.n else float(statistic(np.ones((1, self.n)))[0])

    def intervals(self, *, seed: int = 0) -> dict[str, Interval]:
        """Every metric of this kind with its 95% interval: Wilson's for accuracy, else one seeded bootstrap
        (the same resamples for every metric)."""
        names = list(self.statistics)
        values = {name: self.value(name) for name in names}
        if not self.n:
            return {name: Interval(None, None, None, 0) for name in names}
        bounds = bootstrap_each(lambda idx: np.stack([self.statistics[name](draw_counts(idx, self.n))
                                                      for name in names]), self.n, seed=seed)
        out = {}
        for i, name in enumerate(names):
            if name == "accuracy":
                out[name] = proportion_interval(int(round(self.scores.sum())), self.n)
            else:
                out[name] = _interval(values[name], None if bounds is None else (bounds[0][i], bounds[1][i]),
                                      self.n)
        return out

    def per_label_f1(self, labels: Sequence[str], *, metric: str | None = None, seed: int = 0) -> list[Interval]:
        """F1 of each of ``labels`` with its bootstrap interval; a ranking is cut at the ``metric``'s k."""
        predicted = [self.kind.as_set(p, metric) for p in self.predicted]
        counts = LabelCounts(_sets(self.gold, self.kind.multi), _sets(predicted, self.kind.multi), list(labels))
        f1 = counts.f1(np.ones((1, self.n)))[0] if self.n else np.zeros(len(counts.labels))
        bounds = bootstrap_each(lambda idx: counts.f1(draw_counts(idx, self.n)).T, self.n, seed=seed) \
            if counts.labels else None
        column = {label: j for j, label in enumerate(counts.labels)}
        out = []
        for label in labels:
            j = column.get(label)
            if j is None:  # neither gold nor predicted anywhere: F1 0 on every resample
                out.append(Interval(0.0, 0.0, 0.0, self.n))
            else:
                out.append(_interval(float(f1[j]), None if bounds is None else (bounds[0][j], bounds[1][j]), self.n))
        return out


def _interval(value: float | None, bounds: tuple[Any, Any] | None, n: int) -> Interval:
    """An interval that holds its value (a percentile interval of a biased metric may just miss it)."""
    if value is None:
        return Interval(None, None, None, n)
    if bounds is None or not (np.isfinite(bounds[0]) and np.isfinite(bounds[1])):
        return Interval(value, None, None, n)
    return Interval(value, min(float(bounds[0]), value), max(float(bounds[1]), value), n)


def compare(a: Sample, b: Sample, metric: str, *, seed: int = 0) -> Difference:
    """``metric`` of ``b`` minus ``metric`` of ``a``, both on the same resamples of the same examples, with
    its 95% interval and verdict ("better": b is better)."""
    if a.n != b.n or a.gold != b.gold:
        raise ValueError("a paired comparison needs both programs' answers on the same examples")
    if a.statistic(metric) is None or b.statistic(metric) is None:
        raise ValueError(f"no metric {metric!r} for {a.kind.name} and {b.kind.name} answers")
    return metric_difference(a.on_indices(metric), b.on_indices(metric), a.n, seed=seed)


def calibration_interval(confidences: Sequence[float | None], correct: Sequence[Any], *, value: float,
                         n_bins: int = 10, seed: int = 0) -> Interval:
    """Expected calibration error (``value``, as :func:`lmprog.metrics.expected_calibration_error` gives it)
    with its bootstrap interval over the examples that have a confidence."""
    known = [(float(c), bool(ok)) for c, ok in zip(confidences, correct) if c is not None]
    n = len(known)
    if n < 2:
        return Interval(value, None, None, n)
    confidence = np.array([c for c, _ in known])
    hit = np.array([ok for _, ok in known], dtype=float)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = np.minimum(np.searchsorted(edges[1:], confidence, side="left"), n_bins - 1)  # (lower, upper]
    member = np.zeros((n, n_bins))
    member[np.arange(n), bins] = 1
    confidence_sum, hit_sum = member * confidence[:, None], member * hit[:, None]

    def ece(idx: np.ndarray) -> np.ndarray:
        counts = draw_counts(idx, n)
        return np.abs(counts @ hit_sum - counts @ confidence_sum).sum(axis=1) / counts.sum(axis=1)

    bounds = bootstrap_each(lambda idx: ece(idx)[None, :], n, seed=seed)
    return _interval(value, None if bounds is None else (bounds[0][0], bounds[1][0]), n)
