"""What the label loop reads: rows of a task as input dicts and texts, their embeddings, and near-duplicates.

- :func:`read_inputs` / :func:`read_labelled`: a data file or a sequence (dicts, ``dspy.Example``s, strings
  for a one-input task) as the task's input dicts, with the gold answers when labelled.
- :func:`embed`: one normalized vector per text: all-MiniLM-L6-v2 from the ``dense`` extra (offline), or
  TF-IDF + truncated SVD when the extra is absent; a callable ``encoder(texts) -> array`` may be given instead.
- :class:`Lexical`: character n-gram TF-IDF, for near-duplicates (cosine at least :data:`NEAR_DUPLICATE`),
  whatever the embeddings are.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lmprog.errors import ConfigurationError, DataError

EMBEDDINGS = ("auto", "dense", "tfidf")
NEAR_DUPLICATE = 0.9  # character 3-5-gram TF-IDF cosine: "my card hasn't arrived" vs "My card hasnt arrived!"
SVD_DIMENSIONS = 128
CHUNK = 2048


def fingerprint(text: str) -> str:
    """``text`` without case, punctuation or repeated spaces: texts with the same fingerprint are the same text."""
    return re.sub(r"\W+", " ", str(text).casefold()).strip()


def text_of(task, inputs: dict) -> str:
    """The text a classifier or an encoder reads: the task's input fields joined by line breaks."""
    return "\n".join(str(inputs.get(name, "") or "") for name in task.input_fields)


def read_inputs(task, source, *, what: str) -> list[dict]:
    """The input dicts of ``source``: a data file read by the task's columns, or a sequence of rows."""
    if isinstance(source, (str, Path)):
        source = task.read_examples(source, labelled=False)
    return [task.inputs_of(item, where=f"{what} item {index}") for index, item in enumerate(source)]


def record_inputs(task, record: dict, *, where: str = "a row") -> dict:
    """A data-file row's inputs, read from the task's input columns."""
    missing = [column for column in task.input_columns.values() if column not in record]
    if missing:
        raise DataError(f"{where} has no column {missing[0]!r}")
    return {name: str(record[column]) for name, column in task.input_columns.items()}


@dataclass
class Labelled:
    """Labelled rows: input dicts and their gold answers (a label, or a list of labels)."""

    inputs: list[dict]
    gold: list

    def __len__(self) -> int:
        return len(self.inputs)


def read_labelled(task, source, *, what: str = "labelled") -> Labelled:
    """The labelled rows of ``source`` (a data file of the task, or a sequence of examples or dicts holding
    the task's output field); rows without a label are an error."""
    if source is None:
        return Labelled([], [])
    if isinstance(source, (str, Path)):
        source = task.read_examples(source)
    inputs, gold = [], []
    for index, item in enumerate(source):
        answer = item.get(task.output_field) if hasattr(item, "get") else None
        if answer is None or (task.multi_label and not isinstance(answer, (list, tuple))):
            raise DataError(f"{what} item {index} has no {task.output_field!r}")
        inputs.append(task.inputs_of(item, where=f"{what} item {index}"))
        gold.append(list(answer) if task.multi_label else answer)
    return Labelled(inputs, gold)


def labels_of(answer: Any, multi_label: bool) -> list:
    """An answer as a list of labels (None and [] give [])."""
    if answer is None:
        return []
    return list(answer) if multi_label else [answer]


# ------------------------------------------------------------------------------ embeddings


@dataclass
class Embedded:
    """Normalized vectors, one row per text, and what made them."""

    vectors: np.ndarray
    method: str


def embed(texts: Sequence[str], *, method: str | Callable = "auto", seed: int = 0) -> Embedded:
    """One L2-normalized vector per text. ``method``: ``"dense"`` (all-MiniLM-L6-v2, the dense extra),
    ``"tfidf"`` (TF-IDF + SVD), ``"auto"`` (dense when installed), or a callable ``encoder(texts)``."""
    texts = list(texts)
    if callable(method):
        vectors = np.asarray(method(texts), dtype=np.float32)
        return Embedded(normalized(vectors), getattr(method, "identity", None) or type(method).__name__)
    if method not in EMBEDDINGS:
        raise ConfigurationError(f"unknown embeddings {method!r}; use one of {', '.join(EMBEDDINGS)}")
    if method in ("auto", "dense"):
        from lmprog.retrieval import load_encoder

        try:
            encoder = load_encoder(None)
        except ConfigurationError:
            if method == "dense":
                raise
        else:
            return Embedded(normalized(encoder(texts)), encoder.identity)
    return Embedded(tfidf_svd(texts, seed=seed), f"tfidf+svd{SVD_DIMENSIONS}")


def tfidf_svd(texts: Sequence[str], *, seed: int = 0, dimensions: int = SVD_DIMENSIONS) -> np.ndarray:
    """Word and character n-gram TF-IDF reduced by truncated SVD (latent semantic analysis), normalized."""
    from scipy.sparse import hstack
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    words = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, strip_accents="unicode").fit_transform(texts)
    chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True,
                            strip_accents="unicode").fit_transform(texts)
    matrix = hstack([words, chars]).tocsr()
    components = min(dimensions, matrix.shape[1] - 1, matrix.shape[0] - 1)
    if components < 2:
        return normalized(matrix.toarray().astype(np.float32))
    reduced = TruncatedSVD(n_components=components, random_state=seed).fit_transform(matrix)
    return normalized(reduced.astype(np.float32))


def normalized(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


# ------------------------------------------------------------------------------ near-duplicates


class Lexical:
    """Character 3-5-gram TF-IDF vectors of some texts, to find near-duplicates among them."""

    def __init__(self, texts: Sequence[str]):
        from sklearn.feature_extraction.text import TfidfVectorizer

        texts = [fingerprint(t) or "-" for t in texts]
        self.matrix = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True).fit_transform(texts)

    def max_similarity(self, rows: Sequence[int] | np.ndarray, others: Sequence[int] | np.ndarray) -> np.ndarray:
        """For each of ``rows``, its highest cosine with any of ``others`` (0 when there are none)."""
        rows, others = np.asarray(rows, dtype=int), np.asarray(others, dtype=int)
        out = np.zeros(len(rows))
        if not len(rows) or not len(others):
            return out
        reference = self.matrix[others].T.tocsc()
        for start in range(0, len(rows), CHUNK):
            block = self.matrix[rows[start:start + CHUNK]] @ reference
            out[start:start + CHUNK] = block.max(axis=1).toarray().ravel()
        return out
