"""Intervals on every score: an output kind's metrics on resampled examples (lmprog.resampling), the seeded
bootstrap and Wilson intervals (lmprog.intervals), and the report data of an evaluation carrying them."""

from __future__ import annotations

import json
import random
import re

import numpy as np
import pytest

from lmprog import metrics as m
from lmprog import outputs
from lmprog.evaluation import Evaluation, ExampleResult
from lmprog.intervals import (BETTER, SAME, WORSE, bootstrap, bootstrap_each, mean_interval, metric_interval,
                              paired_difference, proportion_interval)
from lmprog.report import EvaluationReport
from lmprog.resampling import Sample, calibration_interval, compare, draw_counts
from lmprog.task import Task
from tests.test_report_objects import rendered

LABELS = [f"l{i}" for i in range(12)]
TASK = Task(inputs={"text": "the message"}, labels=["billing", "card", "refund", "transfer"],
            instructions="Which banking intent is this?", name="bank")


def random_answers(rng: random.Random, n: int):
    gold = [rng.choice(LABELS[:8]) for _ in range(n)]
    predicted = [rng.choice(LABELS[:10] + [None, "not a label"]) for _ in range(n)]
    gold_sets = [rng.sample(LABELS, rng.randint(0, 3)) for _ in range(n)]
    predicted_sets = [rng.sample(LABELS + ["not a label"], rng.randint(0, 4)) for _ in range(n)]
    return gold, predicted, gold_sets, predicted_sets


@pytest.mark.parametrize("seed", range(8))
def test_every_kind_computes_its_own_metrics_on_the_examples_themselves(seed):
    rng = random.Random(seed)
    gold, predicted, gold_sets, predicted_sets = random_answers(rng, rng.randint(5, 60))
    for kind, g, p in [(outputs.LABEL, gold, predicted), (outputs.LABEL_SET, gold_sets, predicted_sets),
                       (outputs.RANKING, gold_sets, predicted_sets)]:
        sample = Sample(kind, g, p, LABELS)
        expected = kind.metrics(g, p, LABELS)
        assert set(sample.statistics) == set(expected), kind
        for name, value in expected.items():
            assert sample.value(name) == pytest.approx(value, abs=1e-12), (kind, name)
    per_label = Sample(outputs.LABEL, gold, predicted, LABELS).per_label_f1(LABELS)
    assert [i.value for i in per_label] == pytest.approx([r["f1"] for r in m.per_label_report(gold, predicted,
                                                                                              labels=LABELS)])


def test_draw_counts_counts_each_draw():
    counts = draw_counts(np.array([[0, 0, 2], [1, 2, 2]]), 3)
    assert counts.tolist() == [[2, 0, 1], [0, 1, 2]]


def test_the_calibration_error_statistic_is_the_metric():
    rng = random.Random(3)
    confidences = [rng.choice([None, rng.random(), 0.0, 1.0, 0.3, 0.7]) for _ in range(80)]
    correct = [rng.random() < 0.6 for _ in range(80)]
    ece = m.expected_calibration_error(confidences, correct)
    interval = calibration_interval(confidences, correct, value=ece)
    assert interval.value == ece and interval.low <= ece <= interval.high
    assert interval.n == sum(c is not None for c in confidences)
    assert calibration_interval(confidences, correct, value=ece) == interval  # seeded


def test_intervals_hold_their_value_are_seeded_and_narrow_with_more_examples():
    rng = random.Random(1)
    widths = []
    for n in (25, 400):
        gold = [rng.choice(LABELS[:4]) for _ in range(n)]
        predicted = [g if rng.random() < 0.7 else rng.choice(LABELS[:4]) for g in gold]
        sample = Sample(outputs.LABEL, gold, predicted, LABELS[:4])
        intervals = sample.intervals()
        assert intervals == Sample(outputs.LABEL, gold, predicted, LABELS[:4]).intervals()
        for name, interval in intervals.items():
            assert interval.low <= interval.value <= interval.high and interval.n == n, name
        assert intervals["accuracy"].method == "wilson"
        assert intervals["accuracy"] == proportion_interval(sum(g == p for g, p in zip(gold, predicted)), n)
        widths.append(intervals["macro_f1"].high - intervals["macro_f1"].low)
    assert widths[1] < widths[0] / 2


def test_a_paired_comparison_says_better_worse_or_no_detectable_difference():
    gold = ["a", "b"] * 50
    weak = ["a"] * 100
    strong = list(gold)
    samples = [Sample(outputs.LABEL, gold, answers, ["a", "b"]) for answers in (weak, strong)]
    assert compare(samples[0], samples[1], "accuracy").verdict == BETTER
    assert compare(samples[1], samples[0], "macro_f1").verdict == WORSE
    same = compare(samples[0], samples[0], "macro_f1")
    assert (same.value, same.verdict) == (0.0, SAME)
    difference = compare(samples[0], samples[1], "accuracy")
    assert difference.value == pytest.approx(0.5) and difference.low > 0.3 and difference.n == 100
    with pytest.raises(ValueError, match="same examples"):
        compare(samples[0], Sample(outputs.LABEL, gold[:10], weak[:10], ["a", "b"]), "accuracy")


def test_the_shared_bootstrap_takes_scipys_axis_and_one_example_is_no_evidence():
    assert bootstrap(lambda idx: idx.mean(axis=-1), 30) is not None
    low, high = bootstrap_each(lambda idx: np.stack([idx.mean(axis=-1), idx.max(axis=-1)]), 30)
    assert low.shape == high.shape == (2,) and low[0] < high[0]
    assert mean_interval([1.0, 0.0, 1.0] * 10).describe() == mean_interval([1.0, 0.0, 1.0] * 10).describe()
    one = paired_difference([0.0], [1.0])
    assert one.value == 1.0 and one.verdict == SAME and one.describe() == "+100.0 points (n=1, no interval)"
    assert metric_interval(lambda idx: idx.mean(axis=-1), 1, 0.5).low is None


def evaluation(gold: list, predicted: list, confidence: list | None = None, **more) -> Evaluation:
    confidence = confidence or [None] * len(gold)
    results = [ExampleResult(i, f"message {i} about {g}", g, p, float(g == p), confidence=c,
                             confidence_source="logprobs" if c is not None else None)
               for i, (g, p, c) in enumerate(zip(gold, predicted, confidence))]
    return Evaluation(task=TASK, results=results, program="Classify", output=outputs.LABEL, **more)


def test_an_evaluation_report_carries_intervals_as_data_and_shows_them():
    rng = random.Random(5)
    gold = [rng.choice(TASK.labels.names) for _ in range(60)]
    predicted = [g if rng.random() < 0.8 else "billing" for g in gold]
    baseline = evaluation(gold, ["billing"] * 60)
    program = evaluation(gold, predicted, [round(rng.random(), 2) for _ in gold])
    data = program.report(baseline=baseline, before_label="zero-shot", after_label="compiled")
    headline = data["headline"]
    assert set(headline["value"]) == {"value", "low", "high", "n"} and headline["value"]["n"] == 60
    assert headline["value"]["value"] == program.score and headline["before"]["value"] == baseline.score
    assert headline["difference"]["verdict"] == "better" and headline["difference"]["n"] == 60
    assert headline["difference"]["value"] == pytest.approx(program.score - baseline.score)
    assert all(set(v) == {"value", "low", "high", "n"} for v in data["metrics"].values())
    assert all(row["f1"]["low"] <= row["f1"]["value"] <= row["f1"]["high"] for row in data["per_label"])
    assert data["calibration"]["ece"]["n"] == 60
    assert data == program.report(baseline=baseline, before_label="zero-shot", after_label="compiled")  # seeded
    report = EvaluationReport.from_dict(json.loads(json.dumps(data)))
    assert report.to_dict() == json.loads(json.dumps(data))
    text = " ".join(rendered(report, width=120).split())
    assert re.search(r"zero-shot 0\.\d{3} \[0\.\d{3}, 0\.\d{3}\] n=60 → compiled 0\.\d{3} \[0\.\d{3}, 0\.\d{3}\] n=60",
                     text)
    assert re.search(r"\(\+\d+\.\d points \[\+\d+\.\d, \+\d+\.\d\]: better\)", text)
    assert "macro_f1 0." in text and "n=60" in text and "F1 95%" in text
    assert re.search(r"ECE 0\.\d{3} \[0\.\d{3}, 0\.\d{3}\] n=60", text)
    page = report.to_html()
    assert ": better)" in page and 'class="delta up"' in page


def test_a_small_sample_says_so():
    program = evaluation(["card", "refund"] * 10, ["card", "card"] * 10)
    text = rendered(EvaluationReport.from_dict(program.report()))
    assert "small sample: n=20" in " ".join(text.split())
    assert "small sample" not in rendered(EvaluationReport.from_dict(evaluation(["card"] * 40, ["card"] * 40).report()))


def test_no_difference_is_not_shown_as_a_gain():
    gold = ["card", "refund"] * 20
    before = evaluation(gold, ["card", "card"] * 20)
    after = evaluation(gold, ["card", "card"] * 19 + ["card", "refund"])  # one more right of 40
    data = after.report(baseline=before)
    assert data["headline"]["difference"]["verdict"] == "no detectable difference"
    text = " ".join(rendered(EvaluationReport.from_dict(data)).split())
    assert "+2.5 points [" in text and "]: no detectable difference)" in text


def test_old_report_data_without_intervals_still_reads_as_before():
    data = {"headline": {"metric": "accuracy", "value": 0.86, "before": 0.61}, "metrics": {"accuracy": 0.86}}
    text = rendered(EvaluationReport.from_dict(data))
    assert "before 0.610 → 0.860  (+25.0 points)" in text and "small sample" not in text
    assert "the change is not a paired comparison" in " ".join(text.split())
    assert "not a paired comparison" in EvaluationReport.from_dict(data).to_html()
