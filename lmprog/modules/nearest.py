"""Per-input demos: the labelled examples most similar to each input, found with bm25 over their inputs.

A small model gains most from demos that look like the input in front of it (Liu et al. 2022, "What Makes
Good In-Context Examples for GPT-3?"). The pool is the predictor's own demo list (so an artifact saves it
as DSPy state); each call shows the ``k`` pool examples that best match the input, best match last.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence

import numpy as np

_TOKEN = re.compile(r"\w+", re.UNICODE)


def _tokens(text: str) -> list[str]:
    return [t.casefold() for t in _TOKEN.findall(text)]


class NearestDemos:
    """Chooses, for one input, the ``k`` most similar demos of a pool (bm25 over their input fields)."""

    def __init__(self, pool: Sequence, input_fields: Sequence[str]):
        self.pool = list(pool)
        self.fields = list(input_fields)
        self._index = None
        self._lock = threading.Lock()

    def _text(self, row: Mapping) -> str:
        return " ".join(str(row.get(name, "")) for name in self.fields)

    def _build(self):
        import bm25s

        corpus = [_tokens(self._text(demo)) or ["_"] for demo in self.pool]
        index = bm25s.BM25()
        index.index(corpus, show_progress=False)
        return index

    def select(self, inputs: Mapping, k: int) -> list:
        """The ``k`` pool demos most like ``inputs``, least similar first (the best match sits next to the input);
        ties keep pool order."""
        if k <= 0 or not self.pool:
            return []
        if len(self.pool) <= k:
            return list(self.pool)
        with self._lock:
            if self._index is None:
                self._index = self._build()
        query = _tokens(self._text(inputs))
        ids = self._index.get_tokens_ids(query) if query else []
        scores = self._index.get_scores_from_ids(ids) if ids else np.zeros(len(self.pool))
        order = np.lexsort((np.arange(len(self.pool)), -np.asarray(scores)))[:k]
        return [self.pool[int(i)] for i in reversed(order)]
