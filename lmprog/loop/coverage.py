"""Choosing rows to label by where they sit among the others: coverage with no or few labels, diversity
among uncertain rows once a model has an opinion.

- :func:`coverage_picks`: scikit-activeml's TypiClust (Hacohen et al. 2022: cluster the texts into labelled +
  n clusters, take the most typical text of each of the largest clusters no label covers) or ProbCover
  (Yehuda et al. 2022: greedily cover the most texts within a radius of a labelled one), over the labelled
  and unlabelled embeddings together, so regions a label already covers are skipped.
- :func:`diverse_picks`: the best-scoring rows spread over the pool: the most informative rows are grouped
  into n clusters (k-means weighted by score) and each cluster gives its best row (Zhdanov 2019).
- :func:`region_sizes`: how many unlabelled rows each pick stands for (the rows nearer to it than to any
  labelled row or other pick), which the reasons quote.
"""

from __future__ import annotations

import warnings

import numpy as np

from lmprog.errors import ConfigurationError

COVERAGE = ("typiclust", "probcover")
TYPICALITY_NEIGHBOURS = 20  # the TypiClust paper's k
PROBCOVER_LIMIT = 5000  # ProbCover holds every pairwise distance: 5,000 texts are 200 MB
DIVERSITY_POOL = 10  # the most informative n x this many rows are clustered
CHUNK = 2048


def coverage_picks(vectors: np.ndarray, covered: np.ndarray, candidates: np.ndarray, n: int, *,
                   strategy: str = "typiclust", seed: int = 0, classes: int = 2) -> np.ndarray:
    """Up to ``n`` indices of ``vectors`` chosen among ``candidates`` by coverage, in the order chosen;
    the rows ``covered`` (labelled, or chosen already) count as labelled."""
    try:
        from skactiveml.pool import ProbCover, TypiClust
    except ImportError:
        raise ConfigurationError("coverage selection needs scikit-activeml: pip install 'lmprog[loop]'") from None

    n = min(n, len(candidates))
    if n <= 0:
        return np.zeros(0, dtype=int)
    if strategy not in COVERAGE:
        raise ConfigurationError(f"unknown coverage strategy {strategy!r}; use one of {', '.join(COVERAGE)}")
    if strategy == "probcover" and len(vectors) > PROBCOVER_LIMIT:
        raise ConfigurationError(f"probcover compares every pair of texts and allows at most {PROBCOVER_LIMIT:,}, "
                                 f"not {len(vectors):,}; use typiclust for a larger pool")
    y = np.full(len(vectors), np.nan)
    y[np.asarray(covered, dtype=int)] = 0  # labelled: which label does not matter to coverage
    if strategy == "typiclust":
        query = TypiClust(random_state=seed, k=TYPICALITY_NEIGHBOURS)
    else:
        query = ProbCover(random_state=seed, n_classes=max(2, classes))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ProbCover warns when no radius reaches its purity target; it still covers
        picks = query.query(np.asarray(vectors, dtype=float), y, candidates=np.asarray(candidates), batch_size=n)
    return np.asarray(picks, dtype=int)


def diverse_picks(score: np.ndarray, vectors: np.ndarray, candidates: np.ndarray, n: int, *,
                  seed: int = 0) -> np.ndarray:
    """Up to ``n`` candidates, best first: the ``DIVERSITY_POOL * n`` highest-scoring candidates clustered into
    ``n`` groups (k-means weighted by score), the best of each group; then the next best to fill up."""
    from sklearn.cluster import KMeans

    candidates = np.asarray(candidates, dtype=int)
    order = candidates[np.argsort(-score[candidates], kind="stable")]
    top = order[:DIVERSITY_POOL * n]
    groups = min(n, len(top))
    if groups <= 1:
        return order[:n]
    weights = np.clip(score[top], 0, None) + 1e-6
    members = KMeans(n_clusters=groups, random_state=seed, n_init=3).fit(vectors[top], sample_weight=weights).labels_
    best = [int(top[members == g][np.argmax(score[top[members == g]])]) for g in range(groups) if (members == g).any()]
    best.sort(key=lambda i: -score[i])
    rest = [int(i) for i in order if i not in set(best)]
    return np.asarray(best + rest, dtype=int)


def region_sizes(vectors: np.ndarray, covered: np.ndarray, picks: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """For each pick (an index of ``vectors``), how many ``candidates`` are nearer to it (cosine) than to any
    ``covered`` row (labelled) or any other pick."""
    picks = np.asarray(picks, dtype=int)
    if not len(picks):
        return np.zeros(0, dtype=int)
    labelled = len(covered)
    anchors = np.concatenate([np.asarray(covered, dtype=int), picks])
    counts = np.zeros(len(anchors), dtype=int)
    for start in range(0, len(candidates), CHUNK):
        nearest = np.argmax(vectors[candidates[start:start + CHUNK]] @ vectors[anchors].T, axis=1)
        counts += np.bincount(nearest, minlength=len(anchors))
    return counts[labelled:]
