"""Metrics for label tasks, on plain Python lists.

Single-label: ``gold`` and ``pred`` are lists of label names; a ``None`` prediction (an answer that
did not parse) counts as wrong and never adds a label of its own. Multi-label: lists of label lists.
Ranking metrics take, per example, the gold labels and a ranked list of predicted labels.
Standard metrics come from scikit-learn; ranking and calibration metrics are written here.
Empty input gives 0.0.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

__all__ = [
    "accuracy",
    "f1",
    "f1_multilabel",
    "precision_at_k",
    "recall_at_k",
    "rp_at_k",
    "expected_calibration_error",
    "reliability_bins",
    "ReliabilityBin",
    "per_label_report",
    "confusions",
]

_NONE = "\x00lmprog:no-prediction\x00"  # stands in for None so scikit-learn sees one label type


def _pair(gold: Sequence, pred: Sequence) -> tuple[list, list]:
    gold, pred = list(gold), list(pred)
    if len(gold) != len(pred):
        raise ValueError(f"gold has {len(gold)} items but pred has {len(pred)}")
    return gold, pred


def _single(gold: Sequence, pred: Sequence, labels: Sequence | None) -> tuple[list, list, list]:
    gold, pred = _pair(gold, pred)
    if any(g is None for g in gold):
        raise ValueError("gold labels must not be None")
    pred = [_NONE if p is None else p for p in pred]
    if labels is None:
        labels = sorted({*gold, *pred} - {_NONE}, key=str)
    return gold, pred, list(labels)


def _is_multi(gold: Sequence) -> bool:
    return bool(gold) and all(isinstance(g, (list, tuple, set, frozenset)) for g in gold)


def _binarize(gold: Sequence, pred: Sequence, labels: Sequence | None):
    from sklearn.preprocessing import MultiLabelBinarizer

    gold, pred = _pair(gold, pred)
    gold_sets = [set(g or ()) for g in gold]
    pred_sets = [set(p or ()) for p in pred]
    if labels is None:
        labels = sorted(set().union(*gold_sets, *pred_sets), key=str)
    known = set(labels)
    binarizer = MultiLabelBinarizer(classes=list(labels))
    y_true = binarizer.fit_transform([s & known for s in gold_sets])
    y_pred = binarizer.transform([s & known for s in pred_sets])
    return y_true, y_pred, list(labels)


# --------------------------------------------------------------------------- classification


def accuracy(gold: Sequence, pred: Sequence) -> float:
    """Fraction of exact matches (for multi-label lists: exact set match)."""
    gold, pred = _pair(gold, pred)
    if not gold:
        return 0.0
    if _is_multi(gold):
        return sum(set(g) == set(p or ()) for g, p in zip(gold, pred)) / len(gold)
    from sklearn.metrics import accuracy_score

    gold, pred, _ = _single(gold, pred, None)
    return float(accuracy_score(gold, pred))


def f1(gold: Sequence, pred: Sequence, average: str = "macro", labels: Sequence | None = None) -> float:
    """Single-label F1 (``average`` "macro", "micro" or "weighted") over ``labels`` or every label seen."""
    gold, pred, labels = _single(gold, pred, labels)
    if not gold or not labels:
        return 0.0
    from sklearn.metrics import f1_score

    return float(f1_score(gold, pred, labels=labels, average=average, zero_division=0))


def f1_multilabel(
    gold: Sequence[Iterable], pred: Sequence[Iterable], average: str = "macro", labels: Sequence | None = None
) -> float:
    """Multi-label F1 (``average`` "macro", "micro", "weighted" or "samples") over binarized label sets.

    The label set is ``labels`` or the union of gold and predicted labels; predicted labels outside
    ``labels`` are ignored.
    """
    gold, pred = _pair(gold, pred)
    if not gold:
        return 0.0
    y_true, y_pred, labels = _binarize(gold, pred, labels)
    if not labels:
        return 0.0
    from sklearn.metrics import f1_score

    return float(f1_score(y_true, y_pred, average=average, zero_division=0))


# --------------------------------------------------------------------------- ranking


def _at_k(gold_lists: Sequence[Iterable], ranked_lists: Sequence[Sequence], k: int, denominator) -> float:
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    gold_lists, ranked_lists = _pair(gold_lists, ranked_lists)
    scores = []
    for gold, ranked in zip(gold_lists, ranked_lists):
        gold = set(gold or ())
        if not gold:
            continue
        top = list(dict.fromkeys(ranked or ()))[:k]
        hits = sum(label in gold for label in top)
        scores.append(hits / denominator(k, len(gold)))
    return sum(scores) / len(scores) if scores else 0.0


def precision_at_k(gold_lists: Sequence[Iterable], ranked_lists: Sequence[Sequence], k: int) -> float:
    """Mean over examples of (gold labels in the top ``k``) / ``k``.

    Examples with no gold labels are skipped; repeated predictions count once; a ranking shorter
    than ``k`` is still divided by ``k``.
    """
    return _at_k(gold_lists, ranked_lists, k, lambda k, n_gold: k)


def recall_at_k(gold_lists: Sequence[Iterable], ranked_lists: Sequence[Sequence], k: int) -> float:
    """Mean over examples of (gold labels in the top ``k``) / (number of gold labels).

    Examples with no gold labels are skipped; repeated predictions count once.
    """
    return _at_k(gold_lists, ranked_lists, k, lambda k, n_gold: n_gold)


def rp_at_k(gold_lists: Sequence[Iterable], ranked_lists: Sequence[Sequence], k: int) -> float:
    """Mean over examples of (gold labels in the top ``k``) / min(``k``, number of gold labels).

    RP@K (D'Oosterlinck et al. 2024, Infer-Retrieve-Rank) reaches 1.0 when the top ``k`` is as
    correct as it can be. Examples with no gold labels are skipped; repeated predictions count once.
    """
    return _at_k(gold_lists, ranked_lists, k, lambda k, n_gold: min(k, n_gold))


# --------------------------------------------------------------------------- calibration


class ReliabilityBin(NamedTuple):
    """One confidence bin; ``mean_confidence`` and ``accuracy`` are None when ``count`` is 0."""

    lower: float
    upper: float
    count: int
    mean_confidence: float | None
    accuracy: float | None


def reliability_bins(
    confidences: Sequence[float | None], correct: Sequence[Any], n_bins: int = 10
) -> list[ReliabilityBin]:
    """Equal-width confidence bins over [0, 1]: (lower, upper] each, the first also holding 0.

    ``correct`` holds truthy/falsy values; pairs whose confidence is None are skipped.
    """
    if not isinstance(n_bins, int) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    confidences, correct = _pair(confidences, correct)
    edges = [i / n_bins for i in range(n_bins + 1)]
    totals = [[0, 0.0, 0] for _ in range(n_bins)]  # count, sum of confidence, correct
    for confidence, ok in zip(confidences, correct):
        if confidence is None:
            continue
        c = float(confidence)
        if math.isnan(c) or not 0.0 <= c <= 1.0:
            raise ValueError(f"confidence {confidence!r} is outside [0, 1]")
        index = next(i for i in range(n_bins) if c <= edges[i + 1] or i == n_bins - 1)
        totals[index][0] += 1
        totals[index][1] += c
        totals[index][2] += bool(ok)
    return [
        ReliabilityBin(edges[i], edges[i + 1], n, s / n if n else None, k / n if n else None)
        for i, (n, s, k) in enumerate(totals)
    ]


def expected_calibration_error(
    confidences: Sequence[float | None], correct: Sequence[Any], n_bins: int = 10
) -> float:
    """ECE: sum over equal-width bins of (bin size / total) * |accuracy - mean confidence|.

    Pairs whose confidence is None are skipped; 0.0 when no confidence is given.
    """
    bins = reliability_bins(confidences, correct, n_bins)
    total = sum(b.count for b in bins)
    if not total:
        return 0.0
    return sum(b.count / total * abs(b.accuracy - b.mean_confidence) for b in bins if b.count)


# --------------------------------------------------------------------------- error analysis


def per_label_report(gold: Sequence, pred: Sequence, labels: Sequence | None = None) -> list[dict]:
    """Per-label ``{label, precision, recall, f1, support}`` in ``labels`` order (default: sorted).

    Works for single-label lists and for multi-label lists of lists; undefined ratios are 0.
    """
    from sklearn.metrics import precision_recall_fscore_support

    if _is_multi(gold):
        y_true, y_pred, labels = _binarize(gold, pred, labels)
        if not labels:
            return []
        p, r, f, s = precision_recall_fscore_support(y_true, y_pred, average=None, zero_division=0)
    else:
        gold, pred, labels = _single(gold, pred, labels)
        if not labels or not gold:
            return []
        p, r, f, s = precision_recall_fscore_support(gold, pred, labels=labels, average=None, zero_division=0)
    return [
        {"label": label, "precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
        for i, label in enumerate(labels)
    ]


def confusions(gold: Sequence, pred: Sequence, top: int = 10) -> list[tuple[Any, Any, int]]:
    """The ``top`` most frequent single-label mistakes as ``(gold, pred, count)``, most frequent first.

    A None prediction (unparsed answer) is reported as pred None. Ties are ordered by label text.
    """
    gold, pred = _pair(gold, pred)
    counts = Counter((g, p) for g, p in zip(gold, pred) if g != p)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], str(item[0][0]), str(item[0][1])))
    return [(g, p, n) for (g, p), n in ranked[:top]]
