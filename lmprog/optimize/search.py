"""Scoring programs on examples in parallel, stopping cleanly when the budget runs out."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import dspy

from lmprog.errors import BudgetExceededError, LmprogError
from lmprog.task import Task


@dataclass
class Score:
    """A program's mean score on a set of examples; ``complete`` is False when the budget cut it short."""

    value: float
    per_example: list[float]
    complete: bool = True
    errors: int = 0


def example_score(task: Task, example: dspy.Example, prediction) -> float:
    """1/0 for single-label; F1 of the label sets for multi-label (an empty answer scores 0)."""
    if task.multi_label:
        gold = set(example.get(task.output_field) or [])
        predicted = set(prediction.get(task.output_field) or []) if prediction is not None else set()
        if not gold and not predicted:
            return 1.0
        overlap = len(gold & predicted)
        return 0.0 if overlap == 0 else 2 * overlap / (len(gold) + len(predicted))
    return float(prediction is not None and prediction.get(task.output_field) == example.get(task.output_field))


def evaluate(program: dspy.Module, examples: Sequence[dspy.Example], task: Task, *, threads: int = 8,
             scorer: Callable | None = None) -> Score:
    """Run ``program`` on every example (``threads`` at a time) and score it.

    An LM or parse failure on one example scores 0 and is counted in ``errors``; lmprog errors a
    user must act on (a replay miss) are raised. A budget stop returns what was scored so far with
    ``complete=False``.
    """
    scorer = scorer or (lambda ex, pred: example_score(task, ex, pred))
    results: list[float | None] = [None] * len(examples)
    errors = 0
    budget_hit = False

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        futures = [pool.submit(lambda ex: program(**ex.inputs()), example) for example in examples]
        for index, future in enumerate(futures):
            try:
                results[index] = scorer(examples[index], future.result())
            except BudgetExceededError:
                budget_hit = True
            except LmprogError:
                for pending in futures:
                    pending.cancel()
                raise
            except Exception:  # noqa: BLE001 - a provider failure after retries: this example is wrong
                errors += 1
                results[index] = 0.0
    scored = [r for r in results if r is not None]
    value = sum(scored) / len(examples) if examples else 0.0
    return Score(value=value, per_example=[r if r is not None else 0.0 for r in results],
                 complete=not budget_hit, errors=errors)


class CandidateSearch:
    """What every compile search shares: scoring a candidate in full, recording it, reporting it."""

    def __init__(self, tracker, progress: Callable[[dict], None] | None):
        self.tracker, self.progress = tracker, progress
        self.candidates: list[dict] = []

    def score_fully(self, program: dspy.Module, examples: Sequence[dspy.Example], task: Task, *, threads: int,
                    scorer: Callable | None = None) -> Score:
        """:func:`evaluate`, raising :class:`BudgetExceededError` instead of returning a partial score."""
        score = evaluate(program, examples, task, threads=threads, scorer=scorer)
        if not score.complete:
            raise BudgetExceededError("budget exhausted while scoring a candidate")
        return score

    def record(self, candidate: dict) -> None:
        """Keep a scored candidate (plain JSON data) for the artifact and tell the progress display."""
        self.candidates.append(candidate)
        if self.progress:
            self.progress({"event": "candidate", **candidate, "calls": self.tracker.calls, "usd": self.tracker.usd})

    @staticmethod
    def better(best: dict, new: dict) -> dict:
        """The higher dev score; ties (and an unscored best) keep the earlier, simpler candidate."""
        if best["dev_score"] is None:
            return new
        return new if new["dev_score"] > best["dev_score"] else best
