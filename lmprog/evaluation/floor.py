"""The supervised floor of a program: what the plain classifier of :mod:`lmprog.supervised` (TF-IDF + logistic
regression, no LM) answers when trained on the labelled examples the program was compiled from.

- :func:`floor_on`: trained on the artifact's examples, answering the examples an evaluation scored, so the
  program and the floor are compared on the same examples.
- :func:`floor_out_of_fold`: cross-validated on the artifact's examples themselves (each answered by a model
  that did not see it), for the compile report.

Either gives a :class:`Floor`: the floor's answers as an :class:`~lmprog.Evaluation` of the program's output
kind (a ranking program's floor ranks labels by probability), or why the floor is unknown.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lmprog import outputs
from lmprog.evaluation.results import Evaluation, ExampleResult
from lmprog.supervised import FOLDS, supervised_floor, targets, text_pipeline

__all__ = ["METHOD", "RANKING_SIZE", "Floor", "floor_on", "floor_out_of_fold", "text_of"]

METHOD = "TF-IDF + logistic regression"
RANKING_SIZE = 20  # labels a floor ranking holds (the headline RP@10 reads the first 10)
NO_EXAMPLES = ("unknown: the artifact does not carry the labelled examples it was compiled from (artifacts written "
               "before lmprog kept them, format 1 among them); compile again to see the floor")


@dataclass
class Floor:
    """The floor's answers (``evaluation``; None when ``unknown`` says why there are none) and how it was
    trained (``training``: "trained on the artifact's 50 labelled examples" ...)."""

    evaluation: Evaluation | None
    training: str
    trained_on: int
    unknown: str | None = None
    method: str = METHOD


def text_of(task, example) -> str:
    """The text the classifier reads (and an evaluation records): the task's input fields, one per line."""
    return "\n".join(str(example.get(name, "")) for name in task.input_fields)


def _labelled(compiled) -> tuple[list[str], list]:
    task = compiled.task
    examples = compiled.labelled_examples()
    return [text_of(task, ex) for ex in examples], [ex.get(task.output_field) for ex in examples]


def _answers(proba: np.ndarray, classes: Sequence[str], kind: outputs.OutputKind) -> list:
    """Answers of the program's kind from the floor's probabilities (a ranking: labels by probability)."""
    if kind.ranked:
        order = np.argsort(-proba, axis=1, kind="stable")[:, :RANKING_SIZE]
        return [[classes[j] for j in row] if proba[i].any() else [] for i, row in enumerate(order)]
    if kind.multi:
        return [[classes[j] for j in np.flatnonzero(row >= 0.5)] for row in proba]
    return [classes[int(j)] if row.any() else None for j, row in zip(proba.argmax(axis=1), proba)]


def _as_evaluation(task, kind, texts, gold, answers, data_path: str | None) -> Evaluation:
    results = [ExampleResult(i, text, g, a, kind.example_score(g, a)) for i, (text, g, a) in
               enumerate(zip(texts, gold, answers))]
    return Evaluation(task=task, results=results, program=f"supervised floor ({METHOD})", output=kind, lm=None,
                      data_path=data_path)


def floor_on(compiled, evaluation: Evaluation, *, seed: int = 0) -> Floor:
    """The floor trained on ``compiled``'s labelled examples, answering the examples of ``evaluation``."""
    task, kind = compiled.task, evaluation.output
    texts, gold = _labelled(compiled)
    if not texts:
        return Floor(None, "", 0, NO_EXAMPLES)
    classes = sorted({label for value in gold for label in (value if task.multi_label else [value])
                      if label is not None})
    training = f"trained on the artifact's {len(texts):,} labelled examples"
    if len(classes) < 2:
        return Floor(None, training, len(texts), "unknown: the labelled examples use fewer than 2 labels")
    pipeline = text_pipeline(multi_label=task.multi_label, seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a label in every (or no) example: sklearn warns, rightly
        pipeline.fit(texts, targets(gold, classes, task.multi_label))
        proba = np.asarray(pipeline.predict_proba([r.text for r in evaluation.results]), dtype=float) \
            if evaluation.results else np.zeros((0, len(classes)))
    answers = _answers(proba, classes, kind)
    result = _as_evaluation(task, kind, [r.text for r in evaluation.results], [r.gold for r in evaluation.results],
                            answers, evaluation.data_path)
    return Floor(result, training, len(texts))


def floor_out_of_fold(compiled, *, seed: int = 0, folds: int = FOLDS) -> Floor:
    """The floor cross-validated on ``compiled``'s labelled examples: every example answered out of fold."""
    task, kind = compiled.task, compiled.output
    texts, gold = _labelled(compiled)
    if not texts:
        return Floor(None, "", 0, NO_EXAMPLES)
    found = supervised_floor(texts, gold, multi_label=task.multi_label, seed=seed, folds=folds)
    training = f"cross-validated ({folds} folds) on the compile's {len(texts):,} labelled examples"
    if found is None:
        return Floor(None, training, len(texts), "unknown: too few labelled examples or labels to cross-validate")
    answers = _answers(found.proba, found.classes, kind) if kind.ranked else found.answers
    result = _as_evaluation(task, kind, texts, gold, answers, None)
    return Floor(result, training, len(texts))
