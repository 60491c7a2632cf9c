"""Scores to rankings: the top k of a score row, and IReRa's label priors."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from lmprog.errors import ConfigurationError

# IReRa's prior strength ``prior_A`` for the one benchmark where it used priors (BioDEX,
# scripts/compile_left_to_right.sh in KarelDO/xmc.dspy; it ran ESCO with prior_A=0, i.e. off).
DEFAULT_PRIOR_WEIGHT = 1000.0


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` highest scores, best first; ties broken by the lower index."""
    if k <= 0 or scores.size == 0:
        return np.empty(0, dtype=np.int64)
    if k < scores.size:
        part = np.argpartition(-scores, k - 1)[:k]
        threshold = scores[part].min()
        part = np.flatnonzero(scores >= threshold)  # keep all ties at the border, then cut
    else:
        part = np.arange(scores.size)
    order = np.lexsort((part, -scores[part]))
    return part[order][:k]


def prior_factors(names: Sequence[str], priors: Mapping[str, float], weight: float) -> np.ndarray:
    """One factor per label, ``log(weight * prior + e)`` as in IReRa; 1 for a label without a prior."""
    if not isinstance(weight, (int, float)) or isinstance(weight, bool) or not weight >= 0:
        raise ConfigurationError(f"prior_weight must be a number >= 0, not {weight!r}")
    values = np.zeros(len(names), dtype=np.float64)
    index = {name: i for i, name in enumerate(names)}
    known = 0
    for name, prior in priors.items():
        i = index.get(name)
        if i is None:
            continue
        if not isinstance(prior, (int, float)) or isinstance(prior, bool) or not prior >= 0 or math.isinf(prior):
            raise ConfigurationError(f"the prior of label {name!r} must be a finite number >= 0, not {prior!r}")
        values[i] = prior
        known += 1
    if not known:
        raise ConfigurationError("none of the names in priors is a label of this label space")
    return np.log(weight * values + math.e).astype(np.float32)


def check_k(k: int) -> int:
    """``k`` as an int; ValueError unless it is a positive integer."""
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    return int(k)


def check_query(query: str) -> str:
    """``query`` itself; TypeError unless it is a string."""
    if not isinstance(query, str):
        raise TypeError(f"a query must be a string, not {type(query).__name__}")
    return query
