"""Lexical label retrieval with bm25s (the default kind, no extra dependencies).

Each label's document is its texts (name, aliases, description: whichever fields are indexed)
joined by spaces, tokenized with bm25s' tokenizer and its English stopwords. A label with no word
in common with the query scores 0 and is not returned. On disk the index is bm25s' own files
(``params.index.json``, ``vocab.index.json`` and the ``*.csc.index.npy`` arrays).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lmprog.errors import ConfigurationError

# bm25s' default pattern (two or more word characters) plus one-character tokens that stand alone
# or carry "++"/"#", so that skills such as "C++", "C#" and "R" can be found at all.
TOKEN_PATTERN = r"(?u)\b\w\w+\b|\b\w(?:\+\+|#|\b)"
STOPWORDS = "en"
BM25_PARAMS = {"k1": 1.5, "b": 0.75, "method": "lucene"}


class Bm25Index:
    """A bm25s index over one document per label; build it with :meth:`build` or :meth:`load`."""

    kind = "bm25"

    def __init__(self, index, n_labels: int):
        self._index = index
        self.n_labels = n_labels

    @staticmethod
    def settings() -> dict:
        """What shapes the index besides the labels and fields (part of the index folder's key)."""
        return {"token_pattern": TOKEN_PATTERN, "stopwords": STOPWORDS, **BM25_PARAMS}

    @classmethod
    def build(cls, documents: Sequence[Sequence[str]], fields: Sequence[str]) -> Bm25Index:
        """Index ``documents`` (each label's texts); ConfigurationError if no label has a word to index."""
        tokens = _tokenize([" ".join(texts) for texts in documents])
        if not any(tokens):
            raise ConfigurationError(
                f"no label has a word bm25 can index in fields {'+'.join(fields)} (names that are only "
                "stopwords or punctuation); add aliases or descriptions, or use kind='dense'")
        index = _bm25s().BM25(**BM25_PARAMS)
        index.index(tokens, show_progress=False)
        return cls(index, len(documents))

    @classmethod
    def load(cls, folder: Path, n_labels: int) -> Bm25Index:
        """The index saved in ``folder`` by :meth:`save`."""
        return cls(_bm25s().BM25.load(str(folder), load_vocab=True, show_progress=False), n_labels)

    def save(self, folder: Path) -> None:
        """Write bm25s' files into ``folder``."""
        self._index.save(str(folder), show_progress=False)

    def top(self, queries: list[str], k: int):
        """Per query, the ids and scores of the ``k`` best labels, best first (bm25s' own top-k)."""
        return self._index.retrieve(_tokenize(queries), k=k, show_progress=False, n_threads=0)

    def scores(self, queries: list[str]) -> np.ndarray:
        """A (queries x labels) float32 score matrix; 0 where a label shares no word with the query."""
        matrix = np.zeros((len(queries), self.n_labels), dtype=np.float32)
        for row, tokens in enumerate(_tokenize(queries)):
            ids = self._index.get_tokens_ids(tokens)
            if ids:
                matrix[row] = self._index.get_scores_from_ids(ids)
        return matrix

    @staticmethod
    def matched(scores: np.ndarray) -> np.ndarray:
        """Which scores count as found: a label with no word in common with any query is not retrieved."""
        return scores > 0


def _tokenize(texts: list[str]) -> list[list[str]]:
    return _bm25s().tokenize(texts, token_pattern=TOKEN_PATTERN, stopwords=STOPWORDS,
                             return_ids=False, show_progress=False)


def _bm25s():
    import bm25s  # on first use: declaring or validating a retriever does not need it

    return bm25s
