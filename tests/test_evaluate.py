"""lmprog.evaluate: per-example records, metrics, errors by kind and the run's cost, via the test server."""

from __future__ import annotations

import dspy
import pytest

import lmprog
from lmprog.evaluation import evaluate
from lmprog.optimize.compile import compile
from lmprog.testing import TestLMServer, answer_fields, last_user_message
from tests.test_compile import CUES, TASK, examples, scripted


def reader(body: dict) -> str:
    """Reads the cue in the message; says 'nonsense' (no label) for messages about 'weather'."""
    user = last_user_message(body)
    if "weather" in user:
        return answer_fields(label="nonsense")
    return answer_fields(label=next((name for cue, name in CUES.items() if cue in user), "billing"))


def test_records_metrics_cost_and_a_free_rerun(lm_for):
    data = examples(20) + [dspy.Example(text="what about the weather", label="card").with_inputs("text")]
    with TestLMServer(rule=reader) as server:
        lm = lm_for(server)
        first = evaluate(lmprog.Classify(TASK), data, lm=lm, threads=4)
        again = evaluate(lmprog.Classify(TASK), data, lm=lm, threads=4)
        assert server.request_count == 21
    assert first.score == pytest.approx(20 / 21) and first.metrics["accuracy"] == first.score
    assert [r.index for r in first.results] == list(range(21))
    assert first.errors() == {"parse_failure": 1}
    assert first.cost["paid_calls"] == 21 and again.cost["paid_calls"] == 0 and again.cost["ledger_hits"] == 21
    report = first.report()
    assert report["headline"]["value"]["value"] == pytest.approx(20 / 21)  # with its interval (n=21)
    assert {row["label"] for row in report["per_label"]} == set(TASK.labels.names)
    assert report["confusion_matrix"]["columns"][-1] == "(no answer)"
    assert report["confusions"] == [{"gold": "card", "predicted": None, "count": 1}]
    assert report["failures"][0]["text"] == "what about the weather"
    assert report["calibration"]["source"] == "logprobs" and report["calibration"]["ece"] is not None


def test_provider_errors_are_recorded_per_example(lm_for):
    with TestLMServer(rule=reader) as server:
        lm = lm_for(server, num_retries=0)
        server.fail_next("500", count=1)
        result = evaluate(lmprog.Classify(TASK), examples(8), lm=lm, threads=1)
    assert sum(r.error == "server_error" for r in result.results) == 1
    assert result.errors() == {"server_error": 1} and result.score == pytest.approx(7 / 8)


def test_budget_stops_examples_cleanly(lm_for):
    with TestLMServer(rule=reader) as server:
        result = evaluate(lmprog.Classify(TASK), examples(10), lm=lm_for(server), threads=1,
                          budget=lmprog.Budget(max_calls=4))
        assert server.request_count == 4
    assert result.errors() == {"budget": 6} and result.budget_stopped
    assert result.report()["budget"]["stopped_early"]


def test_a_compiled_program_reports_its_candidates(lm_for):
    with TestLMServer(rule=scripted) as server:
        lm = lm_for(server)
        compiled = compile(lmprog.Classify(TASK), examples(), lm=lm, demo_sets=2, instructions=0,
                           families=("demos",))  # the candidates this test counts
        result = evaluate(compiled, examples(12), lm=lm)
    report = result.report(before=compiled.candidates[0]["dev_score"], before_label="zero-shot (dev)")
    assert [c["id"] for c in report["candidates"]] == ["zero-shot", "demos-0", "demos-1"]
    assert report["headline"]["before"] == 0.25 and report["headline"]["value"]["value"] == 1.0
