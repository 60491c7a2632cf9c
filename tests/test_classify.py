"""Classify and MultiLabelClassify against scripted answers (test server) and the embedded model."""

from __future__ import annotations

import importlib.util
import re

import dspy
import pytest

import lmprog
from lmprog.errors import ConfigurationError
from lmprog.modules.classify import Classify, MultiLabelClassify
from lmprog.modules.confidence import from_label_votes, from_logprobs, from_votes
from lmprog.task import Task
from lmprog.testing import TestLMServer, answer_fields

SPAM = Task(inputs={"text": "the SMS message"}, labels=["ham", "spam"], instructions="Is the SMS spam?", name="sms")
BANK = Task(inputs=["text"], labels=["billing", "refund", "card"], multi_label=True, name="bank")


def test_label_list_is_stated_once_in_the_system_prompt(lm_for):
    with TestLMServer(rule=answer_fields(label="spam")) as server, dspy.context(lm=lm_for(server)):
        classify = Classify(SPAM)
        classify.predict.demos = [dspy.Example(text="hi mum", label="ham"), dspy.Example(text="WIN", label="spam")]
        classify(text="free prize")
    messages = server.requests[0]["messages"]
    listed = re.compile(r"- ham\s*\n\s*- spam")
    assert listed.search(messages[0]["content"])
    assert len(messages) == 6 and not any(listed.search(m["content"]) for m in messages[1:])


@pytest.mark.parametrize("answer, label, unparsed", [
    ("spam", "spam", []),
    (" Spam.", "spam", []),
    ("'ham'", "ham", []),
    ("definitely not a label", None, ["definitely not a label"]),
])
def test_free_text_answers_are_mapped_or_reported(answer, label, unparsed, lm_for):
    with TestLMServer(rule=answer_fields(label=answer)) as server, dspy.context(lm=lm_for(server)):
        prediction = Classify(SPAM)(text="x")
    assert prediction.label == label
    assert prediction.unparsed == unparsed


def test_confidence_from_logprobs_when_the_provider_returns_them(lm_for):
    rule = lambda body: {"content": answer_fields(label="spam"), "logprobs": -0.1}  # noqa: E731
    with TestLMServer(rule=rule) as server, dspy.context(lm=lm_for(server)):
        prediction = Classify(SPAM)(text="x")
    assert server.requests[0]["logprobs"] is True
    assert prediction.confidence_source == "logprobs"
    assert prediction.confidence == pytest.approx(0.905, abs=0.01)  # one token "spam" at logprob -0.1


def test_confidence_from_agreement_over_samples(lm_for):
    answers = iter(["spam", "spam", "ham", "spam"])
    with TestLMServer(rule=lambda body: answer_fields(label=next(answers))) as server, \
            dspy.context(lm=lm_for(server)):
        prediction = Classify(SPAM, samples=4)(text="x")
    assert server.request_count == 4
    assert (prediction.label, prediction.confidence, prediction.confidence_source) == ("spam", 0.75, "agreement")


def test_no_confidence_when_neither_is_available(lm_for):
    with TestLMServer(rule=answer_fields(label="ham")) as server, dspy.context(lm=lm_for(server)):
        prediction = Classify(SPAM, logprobs=False)(text="x")
    assert prediction.confidence is None and prediction.confidence_source is None


def test_unparseable_adapter_output_is_recorded_not_raised(lm_for):
    with TestLMServer(rule="I refuse to use your format") as server, dspy.context(lm=lm_for(server)):
        prediction = Classify(SPAM)(text="x")
    assert prediction.label is None and prediction.parse_error


def test_multilabel_answers(lm_for):
    rule = answer_fields(labels='["billing", "Refund", "nonsense"]')
    with TestLMServer(rule=rule) as server, dspy.context(lm=lm_for(server)):
        prediction = MultiLabelClassify(BANK)(text="refund my bill")
    assert prediction["labels"] == ["billing", "refund"]
    assert prediction.unparsed == ["nonsense"]


def test_wrong_module_for_the_task_and_huge_spaces():
    with pytest.raises(ConfigurationError, match="use MultiLabelClassify"):
        Classify(BANK)
    with pytest.raises(ConfigurationError, match="use Classify"):
        MultiLabelClassify(SPAM)
    with pytest.raises(ConfigurationError, match="use InferRetrieveRank"):
        Classify(Task(inputs=["text"], labels=[f"label {i}" for i in range(500)]))


def test_confidence_helpers():
    logprobs = {"content": [{"token": '{"label": "', "logprob": 0.0}, {"token": "sp", "logprob": -0.5},
                            {"token": "am", "logprob": -0.2}, {"token": '"}', "logprob": 0.0}]}
    assert from_logprobs(logprobs, '{"label": "spam"}', "spam") == pytest.approx(0.4966, abs=1e-3)
    assert from_logprobs(logprobs, "", "ham") is None
    assert from_votes(["a", None, "a", "b"]) == ("a", 0.5)
    assert from_votes([None, None]) == (None, 0.0)
    assert from_label_votes([["a", "b"], ["a"]], ["a", "b"]) == 0.75


@pytest.mark.local
@pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="needs the 'local' extra")
def test_embedded_model_always_answers_a_valid_label(tmp_path):
    lm = lmprog.make_lm("local/smollm2", ledger=tmp_path / "local.db")
    texts = ["WINNER!! Claim your 1000 GBP prize now, call 09061701461", "are we still on for lunch?",
             "URGENT: your account is suspended, text STOP to 80086", "ok see you at 7",
             "Free entry in 2 a wkly comp to win FA Cup final tkts"]
    with dspy.context(lm=lm):
        predictions = [Classify(SPAM)(text=text) for text in texts]
        multi = MultiLabelClassify(BANK)(text="I was charged twice and want my money back")
    assert all(p.label in ("ham", "spam") for p in predictions)
    assert all(label in BANK.labels for label in multi["labels"])


@pytest.mark.server(rule=answer_fields(reasoning="it offers a prize", label="spam"))
def test_reasoning_first_then_the_label(server, lm_for):
    with dspy.context(lm=lm_for(server)):
        prediction = lmprog.Classify(SPAM, reasoning=True)(text="WINNER! claim your prize")
    assert prediction.label == "spam" and prediction.reasoning == "it offers a prize"
