"""Pseudo-labels: a compiled program's answers on unlabelled texts, and the filter that keeps the clean ones.

Every answer goes through the ledger (a rerun, or a resumed, interrupted run, pays for nothing it
already did) under the caller's budget; an input whose call failed is recorded as failed and the
rest go on. The filter drops, and counts by reason, answers that cannot teach a classifier:
failed calls, no label, confidence under a threshold, repeated texts, and labels too rare to learn.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from lmprog.modules.protocol import confidence_of
from lmprog.run import run_module
from lmprog.task import Task

# Drop reasons, in the order the filter applies them (reports list them in this order).
FAILED, NO_LABEL, LOW_CONFIDENCE, DUPLICATE, RARE = ("failed", "no label", "low confidence", "duplicate text",
                                                      "rare label")
MIN_EXAMPLES_PER_LABEL = 2
RANKED_PSEUDO_LABELS = 3  # labels taken from a ranking when its Rank step chose none


@dataclass
class PseudoLabel:
    """The program's answer on one unlabelled input."""

    index: int
    inputs: dict
    answer: Any  # a label, a list of labels, or None
    confidence: float | None = None
    error: str | None = None  # the error kind when the call failed or the answer did not parse


def label_inputs(program, inputs: Sequence[dict], task: Task, *, lm, threads: int = 8, ranked: bool = False,
                 progress: Callable[[int, int], None] | None = None) -> list[PseudoLabel]:
    """Run ``program`` on every input (``threads`` at a time), in input order."""
    outcomes = run_module(program, inputs, lm=lm, threads=threads, progress=progress)
    labels = []
    for index, (row, outcome) in enumerate(zip(inputs, outcomes)):
        if not outcome.ok:
            labels.append(PseudoLabel(index, row, None, error=outcome.error))
            continue
        prediction = outcome.prediction
        answer = _ranked_answer(prediction) if ranked else prediction.get(task.output_field)
        parse_failed = bool(prediction.get("parse_error")) or (answer in (None, []) and bool(prediction.get("unparsed")))
        labels.append(PseudoLabel(index, row, answer, confidence=confidence_of(program, prediction),
                                  error="parse_failure" if parse_failed else None))
    return labels


def _ranked_answer(prediction) -> list[str]:
    """A ranking's pseudo-labels: what its Rank step chose, else the top of the retrieval order."""
    chosen = list(prediction.get("ranked") or [])
    return chosen or list(prediction.get("labels") or [])[:RANKED_PSEUDO_LABELS]


def filter_pseudo_labels(labels: Sequence[PseudoLabel], task: Task, *, min_confidence: float | None = None,
                         input_fields: Sequence[str] | None = None) -> tuple[list[PseudoLabel], Counter, list[str]]:
    """The pseudo-labels fit to train on, how many inputs were dropped for each reason, and the
    labels removed from multi-label answers for having fewer than two examples.

    A multi-label answer with no labels is kept (it teaches "none of them") unless it failed to
    parse; a single-label answer whose label has fewer than two examples is dropped.
    """
    dropped: Counter = Counter()
    fields = list(input_fields or task.input_fields)
    seen: set[str] = set()
    kept: list[PseudoLabel] = []
    for item in labels:
        if item.error is not None and item.error != "parse_failure":
            dropped[FAILED] += 1
        elif item.error == "parse_failure" or item.answer is None or (item.answer == [] and not task.multi_label):
            dropped[NO_LABEL] += 1
        elif min_confidence is not None and (item.confidence is None or item.confidence < min_confidence):
            dropped[LOW_CONFIDENCE] += 1
        elif (key := _fingerprint(item.inputs, fields)) in seen:
            dropped[DUPLICATE] += 1
        else:
            seen.add(key)
            kept.append(item)
    kept, rare = _drop_rare(kept, task, dropped)
    return kept, dropped, rare


def _drop_rare(kept: list[PseudoLabel], task: Task, dropped: Counter) -> tuple[list[PseudoLabel], list[str]]:
    if task.multi_label:
        counts = Counter(label for item in kept for label in item.answer)
        rare = sorted(label for label, n in counts.items() if n < MIN_EXAMPLES_PER_LABEL)
        for item in kept:
            item.answer = [label for label in item.answer if label not in rare]
        return kept, rare
    counts = Counter(item.answer for item in kept)
    out = [item for item in kept if counts[item.answer] >= MIN_EXAMPLES_PER_LABEL]
    if len(out) < len(kept):
        dropped[RARE] += len(kept) - len(out)
    return out, sorted(label for label, n in counts.items() if n < MIN_EXAMPLES_PER_LABEL)


def _fingerprint(inputs: dict, fields: Sequence[str]) -> str:
    text = " ".join(str(inputs.get(name, "")) for name in fields)
    return re.sub(r"\W+", " ", text.casefold()).strip()


def confidence_known(labels: Sequence[PseudoLabel]) -> bool:
    """Whether the program reported a confidence for any answer."""
    return any(item.confidence is not None for item in labels)
