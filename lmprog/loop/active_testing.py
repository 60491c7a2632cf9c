"""Active testing: a program's mean score on a pool from a few labels drawn where it is likely wrong.

The design (Kossen et al. 2021, "Active Testing"; Zrnic and Candès 2024, "Active Statistical Inference"):

- a surrogate predicts each row's score ``f_i`` (the chance the program is right there);
- N rows are drawn **with replacement** with probability ``q_i`` proportional to how uncertain the row's
  loss is, ``sqrt(f_i (1 - f_i))`` (the standard deviation of a 0/1 loss with mean ``1 - f_i``), mixed with a
  uniform share (so no row is out of reach and no weight explodes). Where the program is more likely right
  than wrong this grows with the expected loss, as active testing asks; it is the variance-optimal rule for
  the estimator below (Zrnic and Candès), where sampling in plain proportion to ``1 - f_i`` over-samples rows
  the surrogate already knows are wrong, and in simulations gave intervals that covered only 90-93%;
- the estimate is the surrogate's mean over the pool corrected by the importance-weighted residuals of the
  drawn rows: ``mean(lam * f) + mean((s_k - lam * f_k) / (M q_k))``. It is unbiased for any ``lam``; ``lam``
  is fitted to minimise the variance (PPI++'s power tuning) on one half of the draws and applied to the
  other (cross-fitting keeps it unbiased), so a badly calibrated surrogate costs width, not validity;
- the interval is Student's t on the N weighted terms. What uniform sampling would give with the same N is
  the width of the classical interval, from the same draws' estimate of the pool's score variance.

Sampling with replacement keeps the estimator exact (the Hansen-Hurwitz estimator); a row drawn twice is
labelled once and counts twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lmprog.intervals import LEVEL

UNIFORM_SHARE = 0.2
MONTE_CARLO = 64  # label sets drawn from a surrogate's per-label probabilities for an expected score


@dataclass(frozen=True)
class Design:
    """How rows were drawn: ``probability`` of each pool row per draw, ``predicted`` score per pool row, and the
    ``draws`` (pool rows, in draw order, repeats kept)."""

    probability: np.ndarray
    predicted: np.ndarray
    draws: np.ndarray


@dataclass(frozen=True)
class ActiveEstimate:
    """The pool's mean score from the labelled draws: ``value`` in ``[low, high]`` (95%), from ``n`` draws;
    ``uniform_width`` is the width uniform sampling with the same n would have."""

    value: float
    low: float | None
    high: float | None
    n: int
    uniform_width: float | None
    predicted_mean: float
    tuning: float


def draw_probability(predicted: np.ndarray, *, uniform_share: float = UNIFORM_SHARE) -> np.ndarray:
    """Each pool row's probability per draw: proportional to ``sqrt(predicted * (1 - predicted))``, mixed with
    ``uniform_share`` of uniform sampling."""
    predicted = np.clip(np.asarray(predicted, dtype=float), 0.0, 1.0)
    rows = len(predicted)
    spread = np.sqrt(predicted * (1.0 - predicted))
    if spread.sum() <= 0:
        return np.full(rows, 1.0 / rows)
    q = uniform_share / rows + (1.0 - uniform_share) * spread / spread.sum()
    return q / q.sum()


def sampling_design(predicted: np.ndarray, labels: int, *, seed: int = 0,
                    uniform_share: float = UNIFORM_SHARE) -> Design:
    """Draw ``labels`` pool rows (seeded, with replacement) by :func:`draw_probability`."""
    probability = draw_probability(predicted, uniform_share=uniform_share)
    draws = np.random.default_rng(seed).choice(len(probability), size=labels, replace=True, p=probability)
    return Design(probability, np.clip(np.asarray(predicted, dtype=float), 0.0, 1.0), np.asarray(draws, dtype=int))


def estimate_from(design: Design, scores: Sequence[float]) -> ActiveEstimate:
    """The estimate from the program's score on each draw (``scores[k]`` for ``design.draws[k]``)."""
    from scipy import stats

    s = np.asarray(scores, dtype=float)
    rows, n = len(design.predicted), len(design.draws)
    weight = 1.0 / (rows * design.probability[design.draws])
    f = design.predicted[design.draws]
    mean_f = float(design.predicted.mean())
    terms, tuning = _cross_fitted_terms(s * weight, f * weight, mean_f)
    value = float(terms.mean())
    if n < 2:
        return ActiveEstimate(value, None, None, n, None, mean_f, tuning)
    t = float(stats.t.ppf(0.5 + LEVEL / 2, n - 1))
    half = t * float(terms.std(ddof=1)) / np.sqrt(n)
    second_moment = float(np.mean(s * s * weight))  # unbiased for the pool's mean squared score
    variance = max(second_moment - value * value, 0.0)
    finite = (rows - n) / (rows - 1) if rows > 1 and n < rows else 0.0
    uniform = 2 * t * np.sqrt(variance / n * finite)
    return ActiveEstimate(value, max(0.0, value - half), min(1.0, value + half), n, float(uniform), mean_f, tuning)


def _cross_fitted_terms(a: np.ndarray, b: np.ndarray, mean_f: float) -> tuple[np.ndarray, float]:
    """``a - lam * b + lam * mean_f`` per draw, ``lam`` fitted on the other half of the draws (even and odd
    positions); with fewer than 6 draws, ``lam = 1`` (the plain difference estimator)."""
    n = len(a)
    if n < 6:
        return a - b + mean_f, 1.0
    halves = (np.arange(0, n, 2), np.arange(1, n, 2))
    terms = np.empty(n)
    tunings = []
    for fit, apply in (halves, halves[::-1]):
        lam = _tuning(a[fit], b[fit])
        tunings.append(lam)
        terms[apply] = a[apply] - lam * b[apply] + lam * mean_f
    return terms, float(np.mean(tunings))


def _tuning(a: np.ndarray, b: np.ndarray) -> float:
    """The ``lam`` that minimises the variance of ``a - lam * b``: cov(a, b) / var(b), kept in [0, 1.5]."""
    variance = float(np.var(b, ddof=1)) if len(b) > 1 else 0.0
    if variance <= 0:
        return 1.0
    return float(np.clip(np.cov(a, b, ddof=1)[0, 1] / variance, 0.0, 1.5))


def expected_scores(kind, answers: Sequence, proba: np.ndarray, classes: Sequence[str], *, seed: int = 0) -> np.ndarray:
    """Each answer's expected score (the output kind's example score) if the gold labels followed a classifier's
    probabilities: the probability of the answer's label, or for label sets and rankings an average over
    label sets drawn label by label."""
    classes = list(classes)
    out = np.zeros(len(answers))
    rng = np.random.default_rng(seed)
    for i, answer in enumerate(answers):
        if answer is None:
            continue
        if not kind.multi:
            out[i] = proba[i, classes.index(answer)] if answer in classes else 0.0
            continue
        drawn = rng.random((MONTE_CARLO, len(classes))) < proba[i]
        out[i] = np.mean([kind.example_score([classes[j] for j in np.flatnonzero(row)], answer) for row in drawn])
    return out
