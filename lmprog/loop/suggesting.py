"""``lmprog.suggest``: which unlabelled rows to label next, each with the reason it was chosen.

With no or few labels (fewer label occurrences than the task has labels) there is nothing to be unsure
about yet, so rows are chosen for **coverage**: the most typical text of each region of the pool no label
covers (TypiClust; or ProbCover). With a compiled program, a distilled classifier, or enough labels to
train the plain classifier, rows are chosen for **uncertainty** (low program confidence, a small classifier
margin, program and classifier disagreeing) plus a bonus for labels with few examples, spread over the pool
for **diversity**. Texts already labelled, repeated, or near-duplicates of a labelled or suggested text are
never suggested. The same inputs and seed give the same rows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lmprog.errors import ConfigurationError
from lmprog.loop.coverage import COVERAGE, coverage_picks, diverse_picks, region_sizes
from lmprog.loop.pool import Pool, build_pool
from lmprog.loop.queue import queue_row
from lmprog.loop.signals import (ClassifierView, ProgramAnswers, disagree, distilled_view, fitted_view,
                                 margin_uncertainty, program_answers)
from lmprog.loop.sources import as_compiled, as_model, as_task, check_same_labels, known_labelled
from lmprog.loop.texts import labels_of, read_inputs

STRATEGIES = ("auto", *COVERAGE, "uncertainty")
RARE_WEIGHT = 0.5  # a label with no example adds half as much as a fully unsure answer
FEW_EXAMPLES = 3  # a reason mentions a label with fewer examples than this
DEFAULT_SCAN = 200
COVERAGE_ROUNDS = 3  # rounds of coverage when near-duplicates among the picks are dropped


@dataclass
class Suggested:
    """One row to label: its index in the pool, its inputs, why it was chosen, and the numbers behind that."""

    row: int
    inputs: dict
    reason: str
    score: float | None = None
    details: dict = field(default_factory=dict)


@dataclass
class Suggestions:
    """What :func:`suggest` chose, and how (``strategy``: typiclust, probcover or uncertainty)."""

    rows: list[Suggested]
    strategy: str
    embeddings: str
    pool: int
    candidates: int
    labelled: int
    excluded: dict[str, int]
    seed: int
    signals: list[str] = field(default_factory=list)
    spent: dict | None = None

    def queue_rows(self, task) -> list[dict]:
        """The rows as a queue file holds them (see :mod:`lmprog.loop.queue`)."""
        return [queue_row(task, item.inputs, queue="suggest", reason=item.reason, row=item.row) for item in self.rows]

    def to_dict(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "embeddings": self.embeddings, "pool": self.pool,
                "candidates": self.candidates, "labelled": self.labelled, "excluded": dict(self.excluded),
                "seed": self.seed, "signals": list(self.signals), "spent": self.spent,
                "rows": [{"row": s.row, "inputs": s.inputs, "reason": s.reason, "score": s.score,
                          "details": s.details} for s in self.rows]}


def suggest(task, unlabeled, *, n: int = 20, compiled=None, model=None, labelled=None, seed: int = 0,
            strategy: str = "auto", embeddings: str | Callable = "auto", scan: int | None = DEFAULT_SCAN, lm=None,
            budget=None, threads: int = 8, progress: Callable[[int, int], None] | None = None) -> Suggestions:
    """Choose ``n`` rows of ``unlabeled`` to label next.

    Args:
        task: a :class:`~lmprog.Task` or a task file.
        unlabeled: the pool: a data file or a sequence of rows (dicts, examples, strings for one input).
        compiled: a compiled program (or artifact path): its confidence and answers guide the choice.
        model: a distilled classifier (or skops path): its margin guides the choice.
        labelled: rows labelled already (a file or a sequence): never suggested, and their labels count
            (the examples a compiled program carries count too).
        strategy: ``auto`` (coverage with few labels, else uncertainty), ``typiclust``, ``probcover`` or
            ``uncertainty``.
        embeddings: ``auto`` (MiniLM with the dense extra, else TF-IDF + SVD), ``dense``, ``tfidf``, or a
            callable ``encoder(texts) -> array``.
        scan: the program answers at most this many pool rows (the classifier's most unsure first, else a
            seeded sample); None: every row. Calls go through the ledger and count against ``budget``.
        lm: the LM the program runs on (default: the artifact's model).
    """
    if n < 1:
        raise ConfigurationError(f"n must be at least 1, not {n}")
    if strategy not in STRATEGIES:
        raise ConfigurationError(f"unknown strategy {strategy!r}; use one of {', '.join(STRATEGIES)}")
    task, compiled, model = as_task(task), as_compiled(compiled), as_model(model)
    for other, what in ((compiled, "compiled program"), (model, "classifier")):
        check_same_labels(task, other, what)
    known = known_labelled(task, labelled, compiled)
    pool = build_pool(task, read_inputs(task, unlabeled, what="unlabeled"), known, embeddings=embeddings, seed=seed)
    mode = _mode(strategy, task, known, compiled, model)
    if mode == "uncertainty":
        view = distilled_view(model, pool.inputs) if model is not None else \
            fitted_view(pool.vectors[:pool.offset], known.gold, pool.pool_vectors, multi_label=task.multi_label,
                        seed=seed)
        if view is not None or compiled is not None:
            return _by_uncertainty(task, pool, n, view, compiled, seed=seed, scan=scan, lm=lm, budget=budget,
                                   threads=threads, progress=progress)
        mode = "typiclust"
    return _by_coverage(task, pool, n, mode, seed)


def _mode(strategy: str, task, known, compiled, model) -> str:
    if strategy != "auto":
        if strategy == "uncertainty" and compiled is None and model is None and len(known) < 2:
            raise ConfigurationError("strategy 'uncertainty' needs a compiled program, a classifier or labelled rows")
        return strategy
    if compiled is not None or model is not None:
        return "uncertainty"
    occurrences = sum(len(labels_of(g, task.multi_label)) for g in known.gold)
    return "uncertainty" if occurrences >= len(task.labels) else "typiclust"


def _by_coverage(task, pool: Pool, n: int, strategy: str, seed: int) -> Suggestions:
    offset = pool.offset
    covered = list(range(offset))
    candidates = pool.candidates + offset
    kept: list[int] = []
    for _ in range(COVERAGE_ROUNDS):
        want = n - len(kept)
        if want <= 0 or not len(candidates):
            break
        raw = coverage_picks(pool.vectors, np.asarray(covered, dtype=int), candidates, want, strategy=strategy,
                             seed=seed, classes=len(task.labels))
        kept = pool.distinct(kept + [int(r) - offset for r in raw], n)
        covered += [int(r) for r in raw]
        candidates = np.setdiff1d(candidates, raw)
    sizes = region_sizes(pool.vectors, np.arange(offset), np.asarray(kept, dtype=int) + offset,
                         pool.candidates + offset)
    name = {"typiclust": "TypiClust", "probcover": "ProbCover"}[strategy]
    rows = [Suggested(row, pool.inputs[row], f"coverage ({name}): stands for {int(size):,} unlabelled texts nearer "
                                              "to it than to any labelled or other suggested text",
                      float(size) / len(pool.candidates), {"region": int(size)}) for row, size in zip(kept, sizes)]
    return _result(pool, rows, strategy, seed, ["embeddings"], None)


def _by_uncertainty(task, pool: Pool, n: int, view: ClassifierView | None, compiled, *, seed, scan, lm, budget,
                    threads, progress) -> Suggestions:
    candidates = pool.candidates
    program = None
    if compiled is not None:
        asked = _rows_to_ask(candidates, view, scan, seed)
        lm = lm if lm is not None else compiled.make_lm()
        program = program_answers(compiled, pool.inputs, asked, lm=lm, command="suggest", budget=budget,
                                  arguments={"pool": len(pool.inputs), "asked": len(asked), "n": n, "seed": seed},
                                  threads=threads, progress=progress)
        candidates = candidates[program.asked[candidates]]
    parts, signals = _uncertainty_parts(task, pool, view, program)
    uncertainty = _mean_known(parts, len(pool.inputs))
    counts = Counter(label for gold in pool.labelled.gold for label in labels_of(gold, task.multi_label))
    predicted = [_predicted(row, view, program) for row in range(len(pool.inputs))]
    rarity = np.array([max((1.0 / (1 + counts[label]) for label in labels_of(p, task.multi_label)), default=0.0)
                       for p in predicted])
    score = uncertainty + RARE_WEIGHT * rarity
    order = diverse_picks(score, pool.pool_vectors, candidates, n, seed=seed)
    kept = pool.distinct(order, n)
    rows = [Suggested(row, pool.inputs[row], _reason(task, row, view, program, predicted[row], counts),
                      float(score[row]), {"uncertainty": float(uncertainty[row]),
                                          "rarity": float(rarity[row])}) for row in kept]
    return _result(pool, rows, "uncertainty", seed, signals, program.spent if program else None)


def _mean_known(parts: list[np.ndarray], rows: int) -> np.ndarray:
    """The mean of the known (not NaN) parts per row; 0 where none is known."""
    if not parts:
        return np.zeros(rows)
    stack = np.vstack(parts)
    known = (~np.isnan(stack)).sum(axis=0)
    return np.where(known > 0, np.nansum(stack, axis=0) / np.maximum(known, 1), 0.0)


def _rows_to_ask(candidates: np.ndarray, view: ClassifierView | None, scan: int | None, seed: int) -> np.ndarray:
    """The pool rows the program answers: all, or ``scan`` of them (most unsure to the classifier, else random)."""
    if scan is None or scan >= len(candidates):
        return candidates
    if view is not None:
        unsure = margin_uncertainty(view)[candidates]
        return np.sort(candidates[np.argsort(-unsure, kind="stable")[:scan]])
    return np.sort(np.random.default_rng(seed).choice(candidates, size=scan, replace=False))


def _uncertainty_parts(task, pool: Pool, view, program: ProgramAnswers | None) -> tuple[list[np.ndarray], list[str]]:
    parts, signals = [], []
    if program is not None and not np.isnan(program.confidence).all():
        parts.append(1.0 - program.confidence)
        signals.append("program confidence")
    if view is not None:
        parts.append(margin_uncertainty(view))
        signals.append(f"margin of the {view.name}")
    if program is not None and view is not None:
        parts.append(np.array([float(program.asked[r] and disagree(program.answers[r], view.top(r), task.multi_label))
                               for r in range(len(pool.inputs))]))
        signals.append("program-classifier disagreement")
    return parts, signals


def _predicted(row: int, view: ClassifierView | None, program: ProgramAnswers | None):
    if program is not None and program.asked[row]:
        return program.answers[row]
    return view.top(row) if view is not None else None


def _reason(task, row: int, view, program, predicted, counts: Counter) -> str:
    notes = []
    if program is not None and not np.isnan(program.confidence[row]):
        notes.append(f"program confidence {program.confidence[row]:.2f}")
    if view is not None:
        if task.multi_label:
            undecided = [view.classes[j] for j in np.flatnonzero(np.abs(view.proba[row] - 0.5) < 0.25)]
            notes.append("classifier undecided on " + (", ".join(undecided[:3]) if undecided else "no label"))
        else:
            first, second = np.argsort(-view.proba[row], kind="stable")[:2]
            notes.append(f"classifier margin {view.proba[row, first] - view.proba[row, second]:.2f} "
                         f"({view.classes[first]} vs {view.classes[second]})")
    if program is not None and view is not None and disagree(program.answers[row], view.top(row), task.multi_label):
        notes.append(f"program says {_shown(program.answers[row])}, classifier says {_shown(view.top(row))}")
    rare = [label for label in labels_of(predicted, task.multi_label) if counts[label] < FEW_EXAMPLES]
    if rare:
        notes.append(", ".join(f"{label} has {counts[label]} labelled" for label in rare[:2]))
    return "uncertain: " + "; ".join(notes) if notes else "uncertain"


def _shown(answer) -> str:
    return ", ".join(answer) if isinstance(answer, (list, tuple)) else str(answer)


def _result(pool: Pool, rows: list[Suggested], strategy: str, seed: int, signals: list[str],
            spent: dict | None) -> Suggestions:
    return Suggestions(rows, strategy, pool.embeddings, len(pool.inputs), len(pool.candidates), len(pool.labelled),
                       pool.excluded, seed, signals, spent)
