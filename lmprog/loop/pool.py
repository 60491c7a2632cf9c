"""The pool ``suggest`` chooses from: the unlabelled rows, the labelled ones, their embeddings, and the rows
that may be suggested at all (a text that is labelled already, repeated, or a near-duplicate of a labelled
text never is)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lmprog.errors import DataError
from lmprog.loop.texts import NEAR_DUPLICATE, Embedded, Labelled, Lexical, embed, fingerprint, text_of

ALREADY_LABELLED, REPEATED, NEAR_LABELLED = "already labelled", "repeated text", "near-duplicate of a labelled text"


@dataclass
class Pool:
    """Unlabelled rows (``inputs``, ``texts``) and the labelled ones; ``vectors`` holds the labelled rows'
    embeddings first, then the pool's (``pool_vectors``); ``candidates`` are the pool indices that may be
    suggested; ``excluded`` counts the others by reason."""

    inputs: list[dict]
    texts: list[str]
    labelled: Labelled
    vectors: np.ndarray
    embeddings: str
    lexical: Lexical
    candidates: np.ndarray
    excluded: dict[str, int] = field(default_factory=dict)

    @property
    def offset(self) -> int:
        """Where the pool's rows start in ``vectors`` and ``lexical`` (after the labelled rows)."""
        return len(self.labelled)

    @property
    def pool_vectors(self) -> np.ndarray:
        return self.vectors[self.offset:]

    def distinct(self, picks, n: int) -> list[int]:
        """The first ``n`` of ``picks`` (pool indices, best first), skipping any near-duplicate of one kept."""
        kept: list[int] = []
        for pick in picks:
            pick = int(pick)
            similar = self.lexical.max_similarity([self.offset + pick], [self.offset + k for k in kept])
            if not kept or similar[0] < NEAR_DUPLICATE:
                kept.append(pick)
            if len(kept) == n:
                break
        return kept


def build_pool(task, inputs: list[dict], labelled: Labelled, *, embeddings="auto", seed: int = 0) -> Pool:
    """Embed the labelled and unlabelled texts together and work out which pool rows may be suggested."""
    if not inputs:
        raise DataError("the pool of unlabelled texts is empty")
    texts = [text_of(task, row) for row in inputs]
    known = [text_of(task, row) for row in labelled.inputs]
    embedded: Embedded = embed(known + texts, method=embeddings, seed=seed)
    lexical = Lexical(known + texts)
    allowed, excluded = _allowed(texts, known, lexical)
    return Pool(inputs, texts, labelled, embedded.vectors, embedded.method, lexical, np.flatnonzero(allowed),
                {k: v for k, v in excluded.items() if v})


def _allowed(texts: list[str], known: list[str], lexical: Lexical) -> tuple[np.ndarray, dict[str, int]]:
    labelled_prints = {fingerprint(t) for t in known}
    seen: set[str] = set()
    allowed = np.ones(len(texts), dtype=bool)
    excluded = {ALREADY_LABELLED: 0, REPEATED: 0, NEAR_LABELLED: 0}
    for index, text in enumerate(texts):
        key = fingerprint(text)
        if key in labelled_prints:
            allowed[index], reason = False, ALREADY_LABELLED
        elif key in seen:
            allowed[index], reason = False, REPEATED
        else:
            seen.add(key)
            continue
        excluded[reason] += 1
    rest = np.flatnonzero(allowed)
    if known and len(rest):
        near = lexical.max_similarity(rest + len(known), np.arange(len(known))) >= NEAR_DUPLICATE
        allowed[rest[near]] = False
        excluded[NEAR_LABELLED] = int(near.sum())
    return allowed, excluded
