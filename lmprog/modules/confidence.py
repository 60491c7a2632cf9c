"""Confidence in [0, 1] for a predicted label, and where it came from."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

LOGPROBS = "logprobs"
AGREEMENT = "agreement"


def from_logprobs(logprobs, answer_text: str, label: str) -> float | None:
    """Probability the model gave to the tokens spelling ``label`` in its answer.

    ``logprobs`` is the OpenAI-style ``{"content": [{"token": ..., "logprob": ...}, ...]}`` (or just
    the list). The label is located in the concatenated tokens; the log-probabilities of the tokens
    overlapping it are summed. None when the label cannot be located.
    """
    tokens = logprobs.get("content") if isinstance(logprobs, dict) else logprobs
    if not tokens or not label:
        return None
    pieces = [(str(t.get("token", "")), t.get("logprob")) for t in tokens if isinstance(t, dict)]
    text = "".join(token for token, _ in pieces)
    start = text.find(label)
    if start < 0:
        start = text.lower().find(label.lower())
    if start < 0:
        return None
    end = start + len(label)
    total, position = 0.0, 0
    for token, logprob in pieces:
        token_start, position = position, position + len(token)
        if position > start and token_start < end:
            if logprob is None:
                return None
            total += float(logprob)
    return max(0.0, min(1.0, math.exp(total)))


def from_votes(answers: Sequence[str | None]) -> tuple[str | None, float | None]:
    """Majority label over samples and the share of samples that agree with it (unparsed count as dissent)."""
    if not answers:
        return None, None
    counts = Counter(a for a in answers if a is not None)
    if not counts:
        return None, 0.0
    label, votes = max(counts.items(), key=lambda item: (item[1], -answers.index(item[0])))
    return label, votes / len(answers)


def from_label_votes(answers: Sequence[Sequence[str]], labels: Sequence[str]) -> float | None:
    """Multi-label: mean share of samples that contain each predicted label."""
    if not answers or not labels:
        return None
    return sum(sum(label in a for a in answers) / len(answers) for label in labels) / len(labels)
