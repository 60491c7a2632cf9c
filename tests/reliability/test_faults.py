"""Faults from the test server (429 with Retry-After, 500, timeouts, malformed, truncated and empty answers):
compile, evaluate, predict and distill complete, retries are bounded and back off, nothing paid is lost."""

from __future__ import annotations

import time

import dspy
import pytest

import lmprog
from lmprog.testing import TestLMServer, answer_fields
from tests.reliability import harness

pytestmark = pytest.mark.reliability


@pytest.fixture(scope="module")
def faulty(tmp_path_factory):
    return harness.run_under_faults(tmp_path_factory.mktemp("faults"))


def test_every_verb_completes_under_20_percent_faults(faulty):
    for step, result in faulty["steps"].items():
        assert result["exit"] == 0, (step, result["stderr"])
        assert "Traceback" not in result["stderr"], step
    injected = sum(faulty["injected"].values())
    assert injected >= 0.1 * faulty["requests"]  # about 20% drawn
    assert set(faulty["injected"]) == set(harness.FAULT_MIX)
    assert faulty["predictions"] == 40


def test_nothing_paid_is_lost_and_every_failed_attempt_is_recorded_by_kind(faulty):
    assert faulty["lost"] == 0
    assert faulty["ledger"]["errors"] == faulty["expected_errors"]
    assert faulty["ledger"]["integrity"] == "ok"


def test_the_evaluation_report_counts_errors_by_kind(faulty):
    report = faulty["steps"]["evaluate"]["json"]
    assert set(report["cost"]["attempt_errors"]) <= set(harness.FAULT_KINDS.values())
    assert report["cost"]["failed_attempts"] == sum(report["cost"]["attempt_errors"].values())
    assert isinstance(report["errors"], dict)


@pytest.mark.server(rule="Paris", retry_after=1.0)
def test_retry_after_is_honoured(server, lm_for):
    lm = lm_for(server, num_retries=2)
    server.retry_after = 1.5
    server.fail_next("429")
    started = time.perf_counter()
    assert lm("hello") == ["Paris"]
    assert time.perf_counter() - started >= 1.5  # waited as told (DSPy's own backoff would wait 1 s)
    assert lm.ledger.stats()["errors_by_kind"] == {"rate_limit": 1}


@pytest.mark.server(rule="Paris", retry_after=1.0)
def test_retries_are_bounded_and_back_off(server, lm_for):
    lm = lm_for(server, num_retries=2)
    server.fail_next("500", count=10)
    started = time.perf_counter()
    with pytest.raises(Exception):
        lm("never answered")
    assert server.request_count == 3  # one try and two retries
    assert time.perf_counter() - started >= 3.0  # backed off 1 s, then 2 s
    assert lm.ledger.stats()["errors_by_kind"] == {"server_error": 3}


def test_an_unparseable_answer_is_retried_once_with_the_json_adapter_then_recorded(lm_for):
    task = lmprog.Task(inputs={"text": "the message"}, labels=["ham", "spam"], name="sms")
    with TestLMServer(rule="I am not sure what you mean.") as server:
        lm = lm_for(server)
        with dspy.context(lm=lm):
            prediction = lmprog.Classify(task)(text="win a prize")
        assert server.request_count == 2  # DSPy's ChatAdapter, then its JSON adapter
        assert prediction.parse_error and prediction.label is None
        evaluation = lmprog.evaluate(lmprog.Classify(task), [dspy.Example(text="win a prize", label="spam")
                                                              .with_inputs("text")], lm=lm)
    assert evaluation.errors() == {"parse_failure": 1} and server.request_count == 2  # replayed, not re-asked


def test_an_over_long_input_is_cut_to_the_context_with_a_warning(lm_for):
    task = lmprog.Task(inputs={"text": "the message"}, labels=["ham", "spam"], name="sms")
    with TestLMServer(rule=answer_fields(label="spam")) as server:
        lm = lm_for(server)
        with dspy.context(lm=lm), pytest.warns(lmprog.errors.LmprogWarning, match="cut to fit"):
            prediction = lmprog.Classify(task)(text="free money " * 100_000)
        assert prediction.label == "spam"
        sent = server.requests[-1]["messages"][-1]["content"]
        assert len(sent) < 200_000
