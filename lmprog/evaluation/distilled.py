"""A distillation's rows, scored with intervals and compared pair by pair: the program, the distilled
classifier, the cascade at the report's threshold and the supervised floor.

With gold data, every row answers the same gold examples, so each gets its headline score with a 95%
interval and its paired difference to the program. Without gold data, the rows are agreement with the
program; the floor is then cross-validated on the artifact's labelled examples (scored against their gold
labels, so it is shown apart).
"""

from __future__ import annotations

from typing import Any

from lmprog.evaluation import intervals_of
from lmprog.evaluation.floor import floor_on, floor_out_of_fold
from lmprog.evaluation.results import Evaluation

__all__ = ["FLOOR", "distill_scores"]

FLOOR = "supervised floor"
RANKED_REFERENCE = 3  # a ranking program's top labels: what distillation measures agreement against


def distill_scores(compiled, distilled: Any, program: Evaluation | None, *, threshold: float | None,
                   seed: int = 0) -> dict:
    """Report data for :meth:`lmprog.report.DistillReport.from_distilled` (``paired=``).

    Args:
        compiled: the :class:`~lmprog.CompiledProgram` distilled (its labelled examples train the floor).
        distilled: the :class:`~lmprog.Distilled` classifier.
        program: the program's evaluation on the gold examples (None without gold data).
        threshold: the cascade threshold the report shows (None: no cascade row).
    """
    if program is None or not program.results:
        return _without_gold(compiled, distilled, seed=seed)
    task, kind = compiled.task, distilled.output
    metric, labels = kind.headline(task.metric), task.labels.names
    gold = [r.gold for r in program.results]
    program_answers = [r.predicted for r in program.results]
    proba = distilled.predict_proba([r.text for r in program.results])
    classifier, confidence = distilled.answers(proba), distilled.confidence(proba)
    answers = {"program": program_answers, "classifier": classifier}
    if threshold is not None:
        answers["cascade"] = [p if c < threshold else a for p, a, c in zip(program_answers, classifier, confidence)]
    floor = floor_on(compiled, program, seed=seed)
    if floor.evaluation is not None:
        answers[FLOOR] = [r.predicted for r in floor.evaluation.results]
    data = intervals_of.answers_data(kind, labels, metric, gold, answers, reference="program", seed=seed)
    reference = [None if r.error else (r.predicted[:RANKED_REFERENCE] if kind.ranked else r.predicted)
                 for r in program.results]
    data["agreement"] = {"classifier": intervals_of.agreement_score(
        kind, labels, metric, reference, classifier, value=distilled.metrics.get("agreement_gold"), seed=seed)}
    data["floor"] = intervals_of.floor_data(program, floor, seed=seed)
    return data


def _without_gold(compiled, distilled: Any, *, seed: int) -> dict:
    """Agreement with the program (Wilson's interval where it is a share of examples), and the floor
    cross-validated on the artifact's labelled examples."""
    metrics = distilled.metrics
    agreement = metrics.get("agreement_cv")
    exact = distilled.output.headline(distilled.task.metric) == "accuracy"
    score = intervals_of.proportion_score(agreement, metrics.get("pseudo_labels")) if exact else agreement
    floor = floor_out_of_fold(compiled, seed=seed)
    data: dict = {"scores": {"classifier": score}, "differences": [], "agreement": {"classifier": score}}
    floor_section = {"method": floor.method, "training": floor.training, "trained_on": floor.trained_on,
                     "unknown": floor.unknown,
                     "unpaired": "without gold data the program is only measured by agreement with itself"}
    if floor.evaluation is not None:
        floor_section |= {"metric": floor.evaluation.headline_metric,
                          "score": intervals_of.headline_score(floor.evaluation, seed=seed),
                          "examples": len(floor.evaluation.results)}
        data["scores"][FLOOR] = floor_section["score"]
    data["floor"] = floor_section
    return data
