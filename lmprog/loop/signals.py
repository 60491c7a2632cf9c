"""What a compiled program and a classifier say about rows: answers, confidence and probabilities, and how
unsure they are.

The program runs through :func:`lmprog.run.run_module` in a ledger run of its own (every call ledgered and
counted against the budget; a rerun pays for nothing it already did). A classifier is a distilled one
(:class:`lmprog.Distilled`) or the plain one :func:`lmprog.supervised.text_pipeline` fits on the labelled
rows' embeddings.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from lmprog.loop.texts import labels_of
from lmprog.modules.protocol import confidence_of
from lmprog.run import open_run, run_module
from lmprog.supervised import targets, text_pipeline


@dataclass
class ProgramAnswers:
    """The program's answer (None where not asked or failed) and confidence (NaN: unknown) per row."""

    answers: list
    confidence: np.ndarray
    asked: np.ndarray  # bool: the program answered this row
    failed: int = 0
    spent: dict = field(default_factory=dict)
    run_id: str | None = None


def program_answers(compiled, inputs: Sequence[dict], rows: Sequence[int], *, lm, command: str, arguments: dict,
                    budget=None, threads: int = 8,
                    progress: Callable[[int, int], None] | None = None) -> ProgramAnswers:
    """Run ``compiled``'s program on ``inputs[rows]`` in a ledger run named ``command``."""
    answers: list = [None] * len(inputs)
    confidence = np.full(len(inputs), np.nan)
    asked = np.zeros(len(inputs), dtype=bool)
    field_name, failed = compiled.output.field, 0
    with open_run(lm, command, arguments, budget=budget) as run:
        outcomes = run_module(compiled.program, [inputs[i] for i in rows], lm=lm, threads=threads, progress=progress)
    for row, outcome in zip(rows, outcomes):
        if not outcome.ok or outcome.prediction.get(field_name) in (None, ""):
            failed += 1
            continue
        answers[row] = outcome.prediction.get(field_name)
        asked[row] = True
        value = confidence_of(compiled.program, outcome.prediction)
        confidence[row] = np.nan if value is None else float(value)
    return ProgramAnswers(answers, confidence, asked, failed, run.budget.summary(), run.run_id)


@dataclass
class ClassifierView:
    """A classifier's probabilities for rows: ``proba[i, j]`` for label ``classes[j]``; ``name`` says which."""

    name: str
    classes: list[str]
    proba: np.ndarray
    multi_label: bool

    def top(self, row: int) -> list:
        """The classifier's answer for ``row``: its label, or its label set (probability at least 0.5)."""
        p = self.proba[row]
        if self.multi_label:
            return [self.classes[j] for j in np.flatnonzero(p >= 0.5)]
        return self.classes[int(np.argmax(p))]

    def probability(self, row: int, label) -> float:
        return float(self.proba[row, self.classes.index(label)]) if label in self.classes else 0.0


def fitted_view(vectors: np.ndarray, gold: list, rows_vectors: np.ndarray, *, multi_label: bool,
                seed: int = 0) -> ClassifierView | None:
    """The plain classifier fit on labelled ``vectors`` and ``gold``, applied to ``rows_vectors``; None when
    the labels cannot train one (fewer than two labels)."""
    classes = sorted({label for answer in gold for label in labels_of(answer, multi_label)})
    if len(classes) < 2:
        return None
    pipeline = text_pipeline("embeddings", multi_label=multi_label, seed=seed)
    pipeline.fit(vectors, targets(gold, classes, multi_label))
    proba = np.asarray(pipeline.predict_proba(rows_vectors), dtype=float)
    return ClassifierView(f"classifier on the {len(gold):,} labelled rows", classes, proba, multi_label)


def distilled_view(model, inputs: Sequence[dict], name: str = "distilled classifier") -> ClassifierView:
    """A distilled classifier's probabilities for ``inputs``."""
    return ClassifierView(name, list(model.classes), model.predict_proba(list(inputs)), model.multi_label)


def margin_uncertainty(view: ClassifierView) -> np.ndarray:
    """How unsure the classifier is, in [0, 1]: one minus the margin between its two best labels, or for
    label sets the share of undecided label decisions (sum of min(p, 1-p), scaled to the pool's most)."""
    proba = view.proba
    if view.multi_label:
        undecided = np.minimum(proba, 1 - proba).sum(axis=1)
        return undecided / undecided.max() if undecided.max() > 0 else undecided
    if proba.shape[1] < 2:
        return np.zeros(len(proba))
    ordered = np.sort(proba, axis=1)
    return 1.0 - (ordered[:, -1] - ordered[:, -2])


def disagree(a, b, multi_label: bool) -> bool:
    """Whether two answers differ (label sets as sets)."""
    if multi_label:
        return set(a or ()) != set(b or ())
    return a != b
