"""The intervals and paired comparisons of evaluations, as report data.

Every score an evaluation reports gets its 95% interval (:mod:`lmprog.resampling`: Wilson for accuracy, a
seeded bootstrap over examples for the rest), as ``{"value", "low", "high", "n"}`` (what
:class:`lmprog.report.Score` reads); two evaluations of the same examples give a paired difference
``{"value", "low", "high", "n", "verdict"}``. The seed is fixed, so a report replayed from the ledger
gives the same intervals.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lmprog.intervals import Difference, Interval, paired_difference, proportion_interval
from lmprog.resampling import Sample, calibration_interval, compare

if TYPE_CHECKING:
    from lmprog.evaluation.floor import Floor
    from lmprog.evaluation.results import Evaluation

__all__ = ["SEED", "agreement_score", "answers_data", "example_scores_of", "floor_data", "floor_data_out_of_fold",
           "headline_score", "metric_scores", "paired", "per_label_scores", "proportion_score", "restricted",
           "same_examples", "sample_of", "score_data", "with_ece"]

SEED = 0


def sample_of(evaluation: Evaluation) -> Sample:
    return Sample(evaluation.output, [r.gold for r in evaluation.results], [r.predicted for r in evaluation.results],
                  evaluation.task.labels.names)


def score_data(interval: dict | None) -> dict | float | None:
    """An interval recorded as data (``Interval.to_dict()``, with its ``method``) as report data
    ``{"value", "low", "high", "n"}``; None stays None."""
    if not isinstance(interval, dict) or interval.get("value") is None:
        return None
    return {"value": interval["value"], "low": interval.get("low"), "high": interval.get("high"),
            "n": interval.get("n")}


def _score(value: float | None, interval: Interval | None) -> dict | float | None:
    if value is None or interval is None:
        return value
    low, high = interval.low, interval.high
    if low is not None and high is not None:
        low, high = min(low, value), max(high, value)
    return {"value": value, "low": low, "high": high, "n": interval.n}


def metric_scores(evaluation: Evaluation, *, seed: int = SEED) -> dict[str, dict | float | None]:
    """Each metric of the evaluation (its own value) with its interval."""
    metrics = evaluation.metrics
    if not evaluation.results:
        return dict(metrics)
    intervals = sample_of(evaluation).intervals(seed=seed)
    return {name: _score(value, intervals.get(name)) for name, value in metrics.items()}


def headline_score(evaluation: Evaluation, *, seed: int = SEED) -> dict | float | None:
    return metric_scores(evaluation, seed=seed).get(evaluation.headline_metric)


def per_label_scores(evaluation: Evaluation, rows: list[dict], *, seed: int = SEED) -> list[dict]:
    """The per-label rows with each label's F1 as a score with its interval."""
    if not rows or not evaluation.results:
        return rows
    intervals = sample_of(evaluation).per_label_f1([row["label"] for row in rows],
                                                   metric=evaluation.headline_metric, seed=seed)
    return [row | {"f1": _score(row["f1"], interval)} for row, interval in zip(rows, intervals)]


def with_ece(evaluation: Evaluation, calibration: dict, *, seed: int = SEED) -> dict:
    """The calibration section with its expected calibration error as a score with its interval."""
    if calibration.get("ece") is None:
        return calibration
    interval = calibration_interval([r.confidence for r in evaluation.results],
                                    [r.score >= 1.0 for r in evaluation.results], value=calibration["ece"], seed=seed)
    return calibration | {"ece": _score(calibration["ece"], interval)}


def same_examples(a: Evaluation, b: Evaluation) -> bool:
    return len(a.results) == len(b.results) and all(
        x.text == y.text and x.gold == y.gold for x, y in zip(a.results, b.results))


def paired(a: Evaluation, b: Evaluation, *, seed: int = SEED) -> Difference | None:
    """``b``'s headline metric minus ``a``'s on the same examples, with its interval and verdict; None when
    they did not answer the same examples."""
    if not a.results or not same_examples(a, b):
        return None
    return compare(sample_of(a), sample_of(b), b.headline_metric, seed=seed)


def restricted(evaluation: Evaluation, to: Evaluation) -> Evaluation | None:
    """``evaluation``'s answers to the examples of ``to`` (matched by text and gold), in ``to``'s order; None
    when ``evaluation`` did not answer one of them."""
    from dataclasses import replace

    found: dict[tuple[str, str], object] = {}
    for result in evaluation.results:
        found.setdefault((result.text, repr(result.gold)), result)
    picked = [found.get((r.text, repr(r.gold))) for r in to.results]
    if not picked or any(p is None for p in picked):
        return None
    return replace(evaluation, results=[replace(p, index=i) for i, p in enumerate(picked)])


def floor_data(program: Evaluation, floor: Floor, *, seed: int = SEED) -> dict:
    """The report's ``floor`` section: how the floor was trained, its headline score with its interval, and,
    where it answered the program's examples, the paired difference program minus floor."""
    out = {"method": floor.method, "training": floor.training, "trained_on": floor.trained_on, "unknown": floor.unknown}
    if floor.evaluation is None:
        return out
    out |= {"metric": program.headline_metric, "score": headline_score(floor.evaluation, seed=seed),
            "examples": len(floor.evaluation.results)}
    on_program = floor.evaluation if same_examples(floor.evaluation, program) else restricted(floor.evaluation,
                                                                                              program)
    difference = paired(on_program, program, seed=seed) if on_program is not None else None
    if difference is not None:
        out["paired"] = {"examples": difference.n, "program": headline_score(program, seed=seed),
                         "floor": headline_score(on_program, seed=seed), "difference": difference.to_dict()}
    return out


def example_scores_of(record: dict, n: int) -> list[float | None] | None:
    """A candidate record's per-example scores, aligned with the artifact's ``n`` examples (None where it was
    not scored): from ``example_scores`` as a list or as ``{index: score}``; None when it has none."""
    scores = record.get("example_scores")
    if isinstance(scores, list) and len(scores) == n:
        return [None if s is None else float(s) for s in scores]
    if isinstance(scores, dict):
        out: list[float | None] = [None] * n
        for index, score in scores.items():
            if 0 <= int(index) < n and score is not None:
                out[int(index)] = float(score)
        return out
    return None


def floor_data_out_of_fold(floor: Floor, program_scores: list[float | None] | None = None, *,
                           program: dict | float | None = None, metric: str = "dev score", seed: int = SEED) -> dict:
    """The compile report's ``floor`` section: the floor's out-of-fold mean example score (the compile's own
    measure) with its interval and, given the program's out-of-fold score on each of the same examples, the
    paired difference program minus floor; without them, the program's overall score (``program``) and why
    the two are not paired."""
    out = {"method": floor.method, "training": floor.training, "trained_on": floor.trained_on, "unknown": floor.unknown}
    if floor.evaluation is None:
        return out
    scores = [r.score for r in floor.evaluation.results]
    out |= {"metric": metric, "score": _score(*_mean(scores, seed)), "examples": len(scores)}
    pairs = [(f, p) for f, p in zip(scores, program_scores or []) if p is not None]
    if pairs:
        difference = paired_difference([f for f, _ in pairs], [p for _, p in pairs], seed=seed)
        out["paired"] = {"examples": len(pairs), "program": _score(*_mean([p for _, p in pairs], seed)),
                         "floor": _score(*_mean([f for f, _ in pairs], seed)), "difference": difference.to_dict()}
    else:
        out |= {"program": program, "unpaired": "the artifact does not record the program's out-of-fold score on "
                                                "each example"}
    return out


def _mean(values: list[float], seed: int) -> tuple[float | None, Interval]:
    from lmprog.intervals import mean_interval

    interval = mean_interval(values, seed=seed)
    return interval.value, interval


def answers_data(kind, labels: list[str], metric: str, gold: list, answers: dict[str, list], *,
                 reference: str, seed: int = SEED) -> dict:
    """Several programs' answers on the same labelled examples: each one's ``metric`` with its interval
    (``scores``), and each one's paired difference to the ``reference`` program (``differences``:
    ``{"a": reference, "b": name, "metric", "value", "low", "high", "n", "verdict"}``)."""
    samples = {name: Sample(kind, gold, answered, labels) for name, answered in answers.items()}
    scores = {name: _score(sample.value(metric), sample.intervals(seed=seed).get(metric))
              for name, sample in samples.items()}
    differences = [{"a": reference, "b": name, "metric": metric}
                   | compare(samples[reference], sample, metric, seed=seed).to_dict()
                   for name, sample in samples.items() if name != reference and sample.n]
    return {"scores": scores, "differences": differences}


def agreement_score(kind, labels: list[str], metric: str, reference: list, answers: list, *, value: float | None,
                    seed: int = SEED) -> dict | float | None:
    """How much ``answers`` agree with a ``reference`` program's answers (``value``, as the library measured it),
    with its interval over the examples the reference answered."""
    pairs = [(r, a) for r, a in zip(reference, answers) if r is not None]
    if value is None or len(pairs) < 2:
        return value
    sample = Sample(kind, [r for r, _ in pairs], [a for _, a in pairs], labels)
    return _score(value, sample.intervals(seed=seed).get(metric))


def proportion_score(value: float | None, n: int | None) -> dict | float | None:
    """A share of ``n`` examples (agreement counted as accuracy) with Wilson's interval."""
    if value is None or not n:
        return value
    return _score(value, proportion_interval(int(round(value * n)), int(n)))
