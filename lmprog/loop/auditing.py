"""``lmprog.audit``: which gold labels are likely wrong, ranked, each with the label the evidence points to.

Confident learning (cleanlab: Northcutt et al. 2021) on probabilities no row's own label helped make: the
plain classifier out of fold (on TF-IDF and on embeddings), the label names and descriptions, and the compiled
program's answers when given, mixed with weights fitted to how well each view predicts the labels (see
:mod:`lmprog.loop.views`). A row is flagged when cleanlab finds it (``find_label_issues``, pruned by noise
rate) **and** the mixture makes its label less likely than a label picked at random (below 1/K; for label
sets: some given label below 0.5 or some other label above it). Flags are ranked by cleanlab's label
quality (self-confidence), worst first. Multi-label data uses cleanlab's multi-label functions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lmprog.errors import ConfigurationError, DataError
from lmprog.loop.queue import queue_row
from lmprog.loop.signals import program_answers
from lmprog.loop.sources import as_compiled, as_task, check_same_labels
from lmprog.loop.texts import embed, labels_of, read_labelled, text_of
from lmprog.loop.views import (View, classifier_views, combined, given_log_likelihood, label_text_views, label_texts,
                               mixture_weights, program_view)
from lmprog.supervised import FOLDS, targets

MIN_EXAMPLES = 8
SHOWN_WEIGHT = 0.05  # views weighing less are left out of a flag's evidence


@dataclass
class Flag:
    """A row whose label looks wrong: the label given, the one suggested, and why."""

    row: int
    inputs: dict
    given: Any
    suggested: Any
    quality: float  # cleanlab's label quality of the given label, 0 (surely wrong) to 1
    given_probability: float
    suggested_probability: float
    evidence: list[str] = field(default_factory=list)
    program_answer: Any = None
    program_confidence: float | None = None


@dataclass
class Audit:
    """What :func:`audit` found: ``flags`` worst first, and how it looked."""

    flags: list[Flag]
    examples: int
    classes: int
    multi_label: bool
    views: dict[str, float]  # view name -> weight in the mixture
    classifier_agreement: float  # share of rows whose given label the mixture's answer matches
    program_agreement: float | None = None
    spent: dict | None = None
    seed: int = 0
    embeddings: str | None = None

    def queue_rows(self, task) -> list[dict]:
        """The flags as a queue for review (see :mod:`lmprog.loop.queue`)."""
        return [queue_row(task, f.inputs, queue="audit", reason=f"label looks wrong (quality {f.quality:.3f})",
                          row=f.row, label=f.given, suggested=f.suggested, evidence=f.evidence) for f in self.flags]

    def to_dict(self) -> dict[str, Any]:
        return {"examples": self.examples, "classes": self.classes, "multi_label": self.multi_label,
                "views": dict(self.views), "classifier_agreement": self.classifier_agreement,
                "program_agreement": self.program_agreement, "spent": self.spent, "seed": self.seed,
                "embeddings": self.embeddings, "flags": [dict(vars(f)) for f in self.flags]}


def audit(task, data, *, compiled=None, seed: int = 0, folds: int = FOLDS, embeddings="auto", lm=None, budget=None,
          threads: int = 8, progress: Callable[[int, int], None] | None = None) -> Audit:
    """Rank the rows of labelled ``data`` whose gold label is likely wrong.

    Args:
        task: a :class:`~lmprog.Task` or a task file.
        data: labelled rows (a data file of the task, or a sequence of examples or dicts).
        compiled: a compiled program (or artifact path) whose answers join the evidence; it runs on every row
            (ledgered, under ``budget``, on ``lm`` or the artifact's model).
        embeddings: for the embedding classifier and the label names: ``auto``, ``dense``, ``tfidf`` or a
            callable ``encoder(texts)``.
    """
    task, compiled = as_task(task), as_compiled(compiled)
    check_same_labels(task, compiled, "compiled program")
    rows = read_labelled(task, data, what="data")
    if len(rows) < MIN_EXAMPLES:
        raise DataError(f"audit needs at least {MIN_EXAMPLES} labelled rows, not {len(rows)}")
    classes = sorted({label for g in rows.gold for label in labels_of(g, task.multi_label)})
    if len(classes) < 2:
        raise DataError(f"audit needs at least two different labels in the data, not {len(classes)}")
    texts = [text_of(task, r) for r in rows.inputs]
    embedded = embed(texts + label_texts(task, classes), method=embeddings, seed=seed)
    vectors, label_vectors = embedded.vectors[:len(texts)], embedded.vectors[len(texts):]
    views = classifier_views(texts, vectors, rows.gold, classes, multi_label=task.multi_label, seed=seed, folds=folds)
    if not task.multi_label:
        views += label_text_views(vectors, label_vectors)
    answers = None
    if compiled is not None:
        lm = lm if lm is not None else compiled.make_lm()
        answers = program_answers(compiled, rows.inputs, range(len(rows)), lm=lm, command="audit", budget=budget,
                                  arguments={"examples": len(rows), "seed": seed}, threads=threads, progress=progress)
        views.append(program_view(answers.answers, answers.confidence, classes, task.multi_label))
    y = _codes(rows.gold, classes, task.multi_label)
    weights = mixture_weights(np.column_stack([given_log_likelihood(v, y, task.multi_label) for v in views]))
    found = _flags(task, rows, classes, y, views, weights, answers)
    return _result(task, rows, classes, views, weights, found, answers, seed, embedded.method)


def _codes(gold: list, classes: list[str], multi_label: bool) -> np.ndarray:
    if multi_label:
        return targets(gold, classes, True)
    return np.array([classes.index(g) for g in gold])


def _flags(task, rows, classes, y, views: list[View], weights, answers) -> list[Flag]:
    proba = combined(views, weights)
    issues, quality = _cleanlab(y, proba, task.multi_label)
    counts = Counter(label for g in rows.gold for label in labels_of(g, task.multi_label))
    flags = []
    for i in np.flatnonzero(issues):
        suggested = _suggested(proba[i], classes, task.multi_label)
        if not _contradicted(proba[i], y[i], suggested, classes, task.multi_label):
            continue
        flags.append(Flag(int(i), rows.inputs[i], rows.gold[i], suggested, float(quality[i]),
                          _probability(proba[i], rows.gold[i], classes, task.multi_label),
                          _probability(proba[i], suggested, classes, task.multi_label),
                          _evidence(i, rows.gold[i], suggested, classes, views, weights, counts, task.multi_label),
                          None if answers is None else answers.answers[i],
                          None if answers is None or np.isnan(answers.confidence[i]) else float(answers.confidence[i])))
    return sorted(flags, key=lambda f: (f.quality, f.row))


def _cleanlab(y: np.ndarray, proba: np.ndarray, multi_label: bool) -> tuple[np.ndarray, np.ndarray]:
    """cleanlab's issue mask and label quality scores (multi-label: its multi-label functions)."""
    import warnings

    try:
        import cleanlab.filter
        import cleanlab.multilabel_classification.filter as multilabel_filter
        import cleanlab.multilabel_classification.rank as multilabel_rank
        import cleanlab.rank
    except ImportError:
        raise ConfigurationError("audit needs cleanlab: pip install 'lmprog[loop]'") from None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cleanlab warns about classes with few examples; they are still scored
        if multi_label:
            labels = [list(np.flatnonzero(row)) for row in y]
            return (multilabel_filter.find_label_issues(labels, proba),
                    multilabel_rank.get_label_quality_scores(labels, proba))
        normalised = proba / proba.sum(axis=1, keepdims=True)
        return (cleanlab.filter.find_label_issues(y, normalised, filter_by="prune_by_noise_rate"),
                cleanlab.rank.get_label_quality_scores(y, normalised, method="self_confidence"))


def _suggested(p: np.ndarray, classes: list[str], multi_label: bool):
    if multi_label:
        return [classes[j] for j in np.flatnonzero(p >= 0.5)]
    return classes[int(np.argmax(p))]


def _contradicted(p: np.ndarray, given, suggested, classes: list[str], multi_label: bool) -> bool:
    """Whether the mixture contradicts the label given: below chance (1/K), or a different label set."""
    if multi_label:
        return set(suggested) != {classes[j] for j in np.flatnonzero(given)}
    return p[given] < 1.0 / len(classes) and suggested != classes[given]


def _probability(p: np.ndarray, answer, classes: list[str], multi_label: bool) -> float:
    """The mixture's probability of an answer: of the label, or of the label set (its labels' yes/no product)."""
    if multi_label:
        chosen = set(answer or ())
        return float(np.prod([p[j] if name in chosen else 1 - p[j] for j, name in enumerate(classes)]))
    return float(p[classes.index(answer)])


def _evidence(i: int, given, suggested, classes, views, weights, counts: Counter, multi_label: bool) -> list[str]:
    lines = []
    for view, weight in zip(views, weights):
        if weight < SHOWN_WEIGHT:
            continue
        if multi_label:
            lines.append(f"{view.name}: " + _label_set_evidence(view.proba[i], given, classes))
        else:
            lines.append(f"{view.name}: {given} {view.proba[i, classes.index(given)]:.2f}, "
                         f"{suggested} {view.proba[i, classes.index(suggested)]:.2f}")
    for label in labels_of(given, multi_label):
        if counts[label] == 1:
            lines.append(f"the only row labelled {label}: the classifiers could not learn it from another")
    return lines


def _label_set_evidence(p: np.ndarray, given, classes: list[str]) -> str:
    given = set(given or ())
    doubts = [f"not {name} ({p[j]:.2f})" for j, name in enumerate(classes) if name in given and p[j] < 0.5]
    doubts += [f"also {name} ({p[j]:.2f})" for j, name in enumerate(classes) if name not in given and p[j] >= 0.5]
    return "; ".join(doubts) or "agrees"


def _result(task, rows, classes, views, weights, flags, answers, seed, embeddings) -> Audit:
    proba = combined(views, weights)
    answers_of = [_suggested(p, classes, task.multi_label) for p in proba]
    agree = np.mean([_same(a, g, task.multi_label) for a, g in zip(answers_of, rows.gold)])
    program_agreement = None
    if answers is not None:
        program_agreement = float(np.mean([a is not None and _same(a, g, task.multi_label)
                                           for a, g in zip(answers.answers, rows.gold)]))
    return Audit(flags, len(rows), len(classes), bool(task.multi_label),
                 {v.name: round(float(w), 4) for v, w in zip(views, weights)}, float(agree), program_agreement,
                 answers.spent if answers is not None else None, seed, embeddings)


def _same(a, b, multi_label: bool) -> bool:
    return set(a or ()) == set(b or ()) if multi_label else a == b
