"""lmprog.estimate: active testing is unbiased with honest intervals on a synthetic pool (many seeds, a cheap
surrogate), narrower than uniform sampling when the surrogate knows something; the two steps (draw, then read
the labels back) against the test server."""

from __future__ import annotations

import json

import numpy as np
import pytest

import lmprog
from lmprog import outputs
from lmprog.artifact import CompiledProgram
from lmprog.errors import ConfigurationError, DataError
from lmprog.loop import estimate
from lmprog.loop.active_testing import draw_probability, estimate_from, expected_scores, sampling_design
from lmprog.loop.queue import write_queue
from tests.loop_data import UNSURE, answering_rule, rows, task, topic_of

pytestmark = pytest.mark.server(rule=answering_rule(wrong={UNSURE}))


def synthetic_pool(rows_: int = 1000, seed: int = 0):
    """A surrogate's predicted scores (most rows surely right, a fifth doubtful) and the program's actual 0/1
    scores drawn from them (a calibrated surrogate), fixed once: the pool's true mean is known."""
    rng = np.random.default_rng(seed)
    predicted = np.where(rng.random(rows_) < 0.8, rng.uniform(0.93, 1.0, rows_), rng.uniform(0.05, 0.6, rows_))
    actual = (rng.random(rows_) < predicted).astype(float)
    return predicted, actual


def repeated(predicted, actual, labels: int, repeats: int, uniform_share: float = 0.2):
    out = []
    for seed in range(repeats):
        design = sampling_design(predicted, labels, seed=seed, uniform_share=uniform_share)
        out.append(estimate_from(design, actual[design.draws]))
    return out


def test_the_estimate_is_unbiased_and_its_interval_covers_95_percent():
    predicted, actual = synthetic_pool()
    results = repeated(predicted, actual, labels=100, repeats=1500)
    values = np.array([r.value for r in results])
    truth = actual.mean()
    assert abs(values.mean() - truth) < 4 * values.std() / np.sqrt(len(values))
    coverage = np.mean([r.low <= truth <= r.high for r in results])
    assert 0.92 <= coverage <= 0.975, coverage
    widths = np.array([r.high - r.low for r in results])
    uniform = np.array([r.uniform_width for r in results])
    assert widths.mean() < 0.75 * uniform.mean()  # the surrogate knows where the errors are


def test_a_useless_surrogate_costs_width_not_validity():
    predicted, actual = synthetic_pool(seed=1)
    shuffled = np.random.default_rng(5).permutation(predicted)  # no relation to where the errors are
    results = repeated(shuffled, actual, labels=60, repeats=800)
    truth = actual.mean()
    values = np.array([r.value for r in results])
    assert abs(values.mean() - truth) < 4 * values.std() / np.sqrt(len(values))
    assert 0.92 <= np.mean([r.low <= truth <= r.high for r in results]) <= 0.98


def test_draw_probabilities_follow_the_doubt_with_a_uniform_floor():
    q = draw_probability(np.array([1.0, 0.9, 0.7, 0.5, 0.0]), uniform_share=0.2)
    assert q.sum() == pytest.approx(1.0) and q[0] == q[4] == pytest.approx(0.2 / 5)  # known: right, or wrong
    assert q[3] > q[2] > q[1] > q[0]  # more likely wrong, more likely drawn (while right is likelier)
    assert np.allclose(draw_probability(np.ones(5)), 0.2)  # nothing in doubt: uniform


def test_expected_scores_of_labels_and_label_sets():
    proba = np.array([[0.7, 0.2, 0.1], [1.0, 0.0, 1.0]])
    single = expected_scores(outputs.LABEL, ["a", None], proba, ["a", "b", "c"])
    assert single.tolist() == [0.7, 0.0]
    sets = expected_scores(outputs.LABEL_SET, [["a"], ["a", "c"]], proba, ["a", "b", "c"])
    assert sets[1] == pytest.approx(1.0)  # the gold set is surely {a, c}
    assert 0.3 < sets[0] < 0.8


@pytest.fixture
def program(module_server, lm_for, tmp_path):
    compiled = CompiledProgram(program=lmprog.Classify(task()), task=task(), lm={"model": "openai/test-model"})
    return compiled, lm_for(module_server, ledger=tmp_path / "ledger.db", api_key="sk-test")


def pool_rows(count: int = 120):
    """``count`` texts; every fourth has the word the test server answers wrongly (and unsurely)."""
    return [{"text": r["text"] + (f" {UNSURE}" if i % 4 == 0 else "")} for i, r in enumerate(rows(count // 6, seed=4))]


def label(queue: list[dict]) -> list[dict]:
    return [dict(row, label=topic_of(row["text"])) for row in queue]


def test_draw_then_estimate_from_the_labels(program, module_server, tmp_path):
    compiled, lm = program
    pool = pool_rows()
    drawn = estimate(compiled, pool, labels=40, lm=lm, threads=4, seed=1)
    assert drawn.interval is None and drawn.surrogate == "program confidence" and drawn.spent["calls"] == len(pool)
    assert sum(r["draws"] for r in drawn.to_label) == 40
    unsure = sum(r["draws"] for r in drawn.to_label if UNSURE in r["inputs"]["text"])
    assert unsure > 40 / 4  # the rows the program is unsure of are drawn more than uniform would
    queue = drawn.queue_rows(compiled.task)
    write_queue(tmp_path / "to_label.jsonl", label(queue))
    before = module_server.request_count
    result = estimate(compiled, pool, labelled_file=tmp_path / "to_label.jsonl", lm=lm, threads=4, seed=1)
    assert module_server.request_count == before  # the answers come from the ledger
    assert result.interval.low <= 0.75 <= result.interval.high and result.interval.n == 40
    assert result.metric == "accuracy" and result.width < result.uniform_width


def test_labels_in_another_file_are_matched_by_text(program, tmp_path):
    compiled, lm = program
    pool = pool_rows()
    drawn = estimate(compiled, pool, labels=20, lm=lm, threads=4)
    write_queue(tmp_path / "sample.jsonl", drawn.queue_rows(compiled.task))
    labelled = tmp_path / "labels.jsonl"
    labelled.write_text("".join(json.dumps({"text": r["inputs"]["text"], "label": topic_of(r["inputs"]["text"])})
                                + "\n" for r in drawn.to_label))
    result = estimate(compiled, pool, labelled_file=labelled, sample_file=tmp_path / "sample.jsonl", lm=lm, threads=4)
    assert result.interval is not None and result.labels == 20


def test_a_sample_drawn_otherwise_or_unlabelled_is_refused(program, tmp_path):
    compiled, lm = program
    pool = pool_rows()
    queue = estimate(compiled, pool, labels=10, lm=lm, threads=4).queue_rows(compiled.task)
    write_queue(tmp_path / "unlabelled.jsonl", queue)
    with pytest.raises(DataError, match="has a usable label .line 1: missing label.; label every drawn row"):
        estimate(compiled, pool, labelled_file=tmp_path / "unlabelled.jsonl", lm=lm, threads=4)
    write_queue(tmp_path / "partly.jsonl", label(queue)[:-1] + queue[-1:])
    with pytest.raises(DataError, match="has no label in .*; label every drawn row"):
        estimate(compiled, pool, labelled_file=tmp_path / "partly.jsonl", lm=lm, threads=4)
    write_queue(tmp_path / "other.jsonl", label(queue))
    with pytest.raises(DataError, match="drawn with another program, surrogate, pool or seed"):
        estimate(compiled, pool, labelled_file=tmp_path / "other.jsonl", uniform_share=0.5, lm=lm, threads=4)
    write_queue(tmp_path / "shifted.jsonl", label(queue))
    with pytest.raises(DataError, match="is not that row of the pool"):
        estimate(compiled, pool[1:] + pool[:1], labelled_file=tmp_path / "shifted.jsonl", lm=lm, threads=4)
    with pytest.raises(ConfigurationError, match="give labels=N"):
        estimate(compiled, pool, lm=lm)
