"""Scoring candidates out of fold on every labelled example, a few examples at a time.

A candidate is a :class:`Recipe`: a way to build a program from training examples (its demos, a trained
classifier, ...). The labelled examples are split into seeded, label-stratified folds; an example is
scored by the program the recipe builds from the *other* folds, so nothing a candidate learnt from is
used to score it. Scores accumulate per (candidate, example), so a race can score every candidate on the
first few examples and only the close ones on more, and every comparison is paired (same examples).
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import dspy

from lmprog import outputs
from lmprog.errors import BudgetExceededError
from lmprog.intervals import Difference, Interval, mean_interval, paired_difference
from lmprog.run import BUDGET, run_each, run_one

FOLDS = 5


@dataclass
class Recipe:
    """One candidate: ``build(train)`` makes its program from training examples.

    ``family`` groups candidates in reports (zero-shot, demos, nearest-demos, instructions, label-order,
    classifier, shortlist, vote...); ``stage`` is the compile phase it tunes; ``calls`` says whether its
    program calls an LM (a classifier does not: scoring it is free); ``info`` is recorded as is.
    """

    id: str
    family: str
    build: Callable[[list], dspy.Module]
    stage: str = ""
    calls: bool = True
    info: dict = field(default_factory=dict)


def assign_folds(examples: Sequence[dspy.Example], kind: outputs.OutputKind, *, seed: int, folds: int = FOLDS) -> list[int]:
    """A fold per example, seeded and stratified by (first) gold label: fold sizes differ by at most one."""
    by_label: dict[str, list[int]] = defaultdict(list)
    for index, example in enumerate(examples):
        gold = example.get(kind.field)
        key = (sorted(gold)[0] if gold else "") if kind.multi else str(gold)
        by_label[key].append(index)
    rng = random.Random(f"folds:{seed}")
    order = []
    for key in sorted(by_label):
        members = by_label[key]
        rng.shuffle(members)
        order.extend(members)
    k = max(2, min(folds, len(examples)))
    assigned = [0] * len(examples)
    for position, index in enumerate(order):
        assigned[index] = position % k
    return assigned


def race_order(folds: Sequence[int], *, seed: int) -> list[int]:
    """The order examples are scored in: round-robin over folds (each rung sees every fold), shuffled within."""
    rng = random.Random(f"order:{seed}")
    groups: dict[int, list[int]] = defaultdict(list)
    for index, fold in enumerate(folds):
        groups[fold].append(index)
    for members in groups.values():
        rng.shuffle(members)
    order, keys = [], sorted(groups)
    while any(groups[k] for k in keys):
        for key in keys:
            if groups[key]:
                order.append(groups[key].pop())
    return order


class CrossValidation:
    """Out-of-fold answers and scores of recipes on labelled examples, computed on demand and kept."""

    def __init__(self, examples: Sequence[dspy.Example], folds: Sequence[int], *, kind: outputs.OutputKind, lm,
                 threads: int, scored_as: Callable | None = None):
        self.examples, self.folds, self.kind = list(examples), list(folds), kind
        self.lm, self.threads, self.scored_as = lm, threads, scored_as
        self.answers: dict[str, dict[int, object]] = defaultdict(dict)
        self.scores: dict[str, dict[int, float]] = defaultdict(dict)
        self.errors: dict[str, int] = defaultdict(int)
        self._programs: dict[tuple[str, int | None], dspy.Module] = {}

    def train_of(self, fold: int) -> list[dspy.Example]:
        return [ex for ex, f in zip(self.examples, self.folds) if f != fold]

    def program(self, recipe: Recipe, fold: int | None) -> dspy.Module:
        """The recipe's program trained without ``fold`` (None: on every example)."""
        key = (recipe.id, fold)
        if key not in self._programs:
            train = self.examples if fold is None else self.train_of(fold)
            program = recipe.build(train)
            # scored_as changes the program it is given: never a program another candidate shares
            self._programs[key] = self.scored_as(program.deepcopy()) if self.scored_as is not None else program
        return self._programs[key]

    def score(self, recipes: Sequence[Recipe], indices: Sequence[int]) -> None:
        """Score each recipe on the examples of ``indices`` it has no score for yet, all in one parallel batch.

        Raises BudgetExceededError if the budget stopped any of them (what was scored is kept)."""
        tasks = [(recipe, i) for recipe in recipes for i in indices if i not in self.scores[recipe.id]]
        programs = [self.program(recipe, self.folds[i]) for recipe, i in tasks]
        outcomes = run_each(lambda n, task: run_one(programs[n], task[1], self.lm),
                            [(recipe, self.examples[i].inputs()) for recipe, i in tasks], threads=self.threads)
        stopped = False
        for (recipe, i), outcome in zip(tasks, outcomes):
            if outcome.error == BUDGET:
                stopped = True
                continue
            answer = outcome.prediction.get(self.kind.field) if outcome.ok else self.kind.empty()
            self.errors[recipe.id] += not outcome.ok
            self.answers[recipe.id][i] = answer
            self.scores[recipe.id][i] = self.kind.example_score(self.examples[i].get(self.kind.field), answer)
        if stopped:
            raise BudgetExceededError("budget exhausted while scoring candidates")

    def add(self, recipe_id: str, answers: dict[int, object]) -> None:
        """Record answers computed without a call (a vote of other candidates' answers)."""
        for i, answer in answers.items():
            self.answers[recipe_id][i] = answer
            self.scores[recipe_id][i] = self.kind.example_score(self.examples[i].get(self.kind.field), answer)

    def scored(self, recipe_id: str, indices: Sequence[int]) -> bool:
        return all(i in self.scores[recipe_id] for i in indices)

    def mean(self, recipe_id: str, indices: Sequence[int]) -> float:
        values = [self.scores[recipe_id][i] for i in indices]
        return sum(values) / len(values) if values else 0.0

    def interval(self, recipe_id: str, indices: Sequence[int], *, seed: int = 0) -> Interval:
        return mean_interval([self.scores[recipe_id][i] for i in indices], seed=seed)

    def versus(self, baseline: str, other: str, indices: Sequence[int], *, seed: int = 0) -> Difference:
        """``other - baseline`` on the same examples, with its paired interval."""
        return paired_difference([self.scores[baseline][i] for i in indices],
                                 [self.scores[other][i] for i in indices], seed=seed)
