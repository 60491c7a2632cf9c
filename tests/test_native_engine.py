"""make_lm's inner engine: DSPy's native lm15 route where a plain dspy.LM takes it, LiteLLM otherwise, with
lmprog's checks on the native route (no choices, not JSON, timeouts, max_tokens for api_base servers)."""

from __future__ import annotations

import pytest
from dspy.lm15 import Config, Message, Request, UnsupportedFeatureError

import lmprog
from lmprog.lm.dspy_lm import CheckedLiteLLMEngine, OpenAICompatibleEngine
from lmprog.lm.native import NativeEngine, native_engine
from lmprog.testing import TestLMServer

REQUEST = Request(model="openai/test-model", messages=(Message.user("hi"),), config=Config(max_tokens=77))


def test_an_openai_compatible_server_is_reached_natively_with_max_tokens(lm_for):
    with TestLMServer(rule="Paris") as server:
        lm = lm_for(server)
        assert isinstance(lm.ledger_engine.inner, NativeEngine)
        assert isinstance(lm.ledger_engine.inner.fallback, OpenAICompatibleEngine)
        assert lm("hi", max_tokens=33) == ["Paris"]
        body = server.requests[-1]
        assert body["max_tokens"] == 33 and "max_completion_tokens" not in body


def test_providers_lm15_does_not_serve_stay_on_litellm(tmp_path):
    assert native_engine("cohere/command-r", api_base=None, api_key="k", timeout=10, fallback=None) is None
    lm = lmprog.make_lm("cohere/command-r", api_key="k", ledger=tmp_path / "l.db", cache="off")
    assert isinstance(lm.ledger_engine.inner, CheckedLiteLLMEngine)


@pytest.mark.parametrize(("fault", "kind"), [("429", "rate_limit"), ("500", "server_error"),
                                             ("malformed", "malformed_response"),
                                             ("empty_choices", "empty_response"), ("timeout", "timeout")])
def test_a_failed_attempt_is_retried_and_recorded_by_kind(fault, kind, lm_for):
    with TestLMServer(rule="Paris", retry_after=0.05, timeout_seconds=5) as server:
        lm = lm_for(server, num_retries=1, timeout=1)
        server.fail_next(fault)
        assert lm(f"probe {fault}") == ["Paris"]
        assert server.request_count == 2
        assert lm.ledger.stats()["errors_by_kind"] == {kind: 1} and lm.ledger.stats()["calls"] == 1


def test_a_request_the_native_route_cannot_carry_goes_to_litellm():
    class Refusing:
        def plan(self, request):
            raise UnsupportedFeatureError("not on this route")

        def complete(self, request):
            raise AssertionError("the native route was used")

    class Fallback:
        def __init__(self):
            self.requests = []

        def complete(self, request):
            self.requests.append(request)
            return "answered"

    fallback = Fallback()
    assert NativeEngine(Refusing(), fallback).complete(REQUEST) == "answered"
    assert fallback.requests == [REQUEST]
