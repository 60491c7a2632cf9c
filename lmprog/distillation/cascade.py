"""The confidence cascade: the distilled classifier answers when it is sure, the compiled program otherwise.

The trade-off is a curve: for each confidence threshold, the fraction of inputs sent to the LM
and the score the mix reaches. :func:`cascade_curve` draws it on data where both answers are
known; :func:`choose_threshold` picks the point that meets a target (at most a fraction of LM
calls, or at least a score); :class:`Cascade` predicts with the chosen threshold.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from lmprog import outputs
from lmprog.errors import ArtifactError, ConfigurationError
from lmprog.modules.protocol import confidence_of
from lmprog.run import run_module

CURVE_POINTS = 51  # LM fractions 0, 2%, ..., 100%


def cascade_curve(confidence: np.ndarray, classifier_answers: Sequence, program_answers: Sequence,
                  reference: Sequence, task, *, ranked: bool = False) -> list[dict]:
    """Score against ``reference`` (gold, or the program's own answers for agreement) of the cascade at
    thresholds spread over the LM fraction; each point: ``threshold``, ``lm_fraction``, ``score``.

    An input goes to the LM when the classifier's confidence is below the threshold.
    """
    kind = outputs.RANKING if ranked else outputs.for_task(task)
    confidence = np.asarray(confidence, dtype=float)
    n = len(confidence)
    if n == 0:
        return []
    ordered = np.sort(confidence)
    thresholds = sorted({_threshold_for(ordered, round(fraction * n))
                         for fraction in np.linspace(0.0, 1.0, CURVE_POINTS)})
    curve = []
    for threshold in thresholds:
        to_lm = confidence < threshold
        mixed = [p if lm else c for c, p, lm in zip(classifier_answers, program_answers, to_lm)]
        curve.append({"threshold": threshold, "lm_fraction": float(to_lm.mean()),
                      "score": kind.headline_value(list(reference), mixed, labels=task.labels.names,
                                                   metric=task.metric)})
    return curve


def _threshold_for(ordered: np.ndarray, k: int) -> float:
    """A threshold that sends the ``k`` least confident inputs to the LM (ties go together)."""
    if k <= 0:
        return 0.0
    if k >= len(ordered):
        return math.inf
    return float(ordered[k])  # strictly below ordered[k]: the first k (and no tie of the k-th beyond them)


def choose_threshold(curve: Sequence[dict], *, max_lm_fraction: float | None = None,
                     min_score: float | None = None) -> dict:
    """The curve point that meets the target: the best score within ``max_lm_fraction``, or the fewest
    LM calls reaching ``min_score``. ``met`` is False when no point meets it (then the closest point)."""
    if (max_lm_fraction is None) == (min_score is None):
        raise ConfigurationError("give exactly one cascade target: max_lm_fraction or min_score")
    if not curve:
        raise ConfigurationError("the cascade curve is empty: distill with some pseudo-labels or gold data first")
    scored = [p for p in curve if p.get("score") is not None]
    if max_lm_fraction is not None:
        if not 0.0 <= max_lm_fraction <= 1.0:
            raise ConfigurationError(f"max_lm_fraction must be between 0 and 1, not {max_lm_fraction}")
        within = [p for p in scored if p["lm_fraction"] <= max_lm_fraction + 1e-9]
        if within:
            best = max(within, key=lambda p: (p["score"], -p["lm_fraction"]))
            return {**best, "met": True}
        return {**min(scored, key=lambda p: p["lm_fraction"]), "met": False}
    reaching = [p for p in scored if p["score"] >= min_score - 1e-9]
    if reaching:
        return {**min(reaching, key=lambda p: (p["lm_fraction"], -p["score"])), "met": True}
    return {**max(scored, key=lambda p: (p["score"], -p["lm_fraction"])), "met": False}


class Cascade:
    """Predict with ``classifier`` where its confidence reaches ``threshold``, else with ``compiled``.

    Args:
        classifier: a :class:`~lmprog.Distilled` made from ``compiled`` (checked by fingerprint).
        compiled: the :class:`~lmprog.CompiledProgram` it was distilled from.
        threshold: the confidence below which the program answers; or choose it from the
            classifier's stored cascade curve with ``max_lm_fraction`` or ``min_score``.
        lm: the LM the program predicts with.
    """

    def __init__(self, classifier, compiled, *, lm, threshold: float | None = None,
                 max_lm_fraction: float | None = None, min_score: float | None = None, threads: int = 8):
        check_pair(classifier, compiled)
        if threshold is None:
            point = choose_threshold(classifier.cascade.get("curve") or [], max_lm_fraction=max_lm_fraction,
                                     min_score=min_score)
            threshold, self.chosen = point["threshold"], point
        else:
            self.chosen = {"threshold": threshold}
        self.classifier, self.compiled, self.lm = classifier, compiled, lm
        self.threshold, self.threads = float(threshold), threads

    def answer_rows(self, rows: Sequence[dict]) -> list[dict]:
        """One answer per row: the task's output field, ``confidence`` and ``source`` (classifier or
        program); a row whose LM call failed gets ``error`` (its kind)."""
        task = self.classifier.task
        out: list[dict[str, Any]] = self.classifier.answer_rows(rows)
        uncertain = [i for i, answer in enumerate(out) if answer["confidence"] < self.threshold]
        inputs = [{name: str(rows[i].get(name, "")) for name in task.input_fields} for i in uncertain]
        program, kind = self.compiled.program, self.compiled.output
        for i, outcome in zip(uncertain, run_module(program, inputs, lm=self.lm, threads=self.threads)):
            if not outcome.ok:
                out[i] = {**out[i], "source": "classifier", "error": outcome.error}  # the classifier's answer stands
                continue
            out[i] = {kind.field: outcome.prediction.get(kind.field),
                      "confidence": confidence_of(program, outcome.prediction), "source": "program"}
        return out


def check_pair(classifier, compiled) -> None:
    """The classifier was distilled from this compiled program (same fingerprint and label space)."""
    expected = classifier.program.get("fingerprint")
    if classifier.labels_hash and classifier.labels_hash != compiled.task.labels.hash:
        raise ArtifactError("the classifier was distilled for another label space than this compiled program's "
                            f"({classifier.labels_hash[:12]} vs {compiled.task.labels.hash[:12]})")
    if expected != compiled.fingerprint():
        raise ArtifactError("the classifier was distilled from a different compiled program (fingerprint "
                            f"{str(expected)[:12]} vs {compiled.fingerprint()[:12]}); cascade it with the artifact "
                            "it was distilled from")
