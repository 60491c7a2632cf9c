"""Tests for lmprog.testing.TestLMServer, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import os
import time

import httpx
import pytest

from lmprog.testing import TestLMServer, answer_fields, echo_rule

http = httpx.Client()  # one client: creating one per request costs ~20 ms


def chat(server, text="hello", timeout=5.0, **extra):
    body = {"model": "test-model", "messages": [{"role": "user", "content": text}], **extra}
    return http.post(server.api_base + "/chat/completions", json=body, timeout=timeout)


def content(response):
    return response.json()["choices"][0]["message"]["content"]


@pytest.fixture
def server():
    with TestLMServer(rule="scripted answer") as running:
        yield running


def test_plain_answer_is_a_well_formed_chat_completion(server):
    response = chat(server, "one two three", model="my-model")
    assert response.status_code == 200
    data = response.json()
    assert data["object"] == "chat.completion" and data["id"].startswith("chatcmpl-")
    assert data["model"] == "my-model" and isinstance(data["created"], int)
    assert data["choices"] == [
        {"index": 0, "message": {"role": "assistant", "content": "scripted answer"}, "logprobs": None, "finish_reason": "stop"}
    ]
    assert data["usage"] == {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}


def test_url_and_api_base(server):
    assert server.url.startswith("http://127.0.0.1:") and server.port > 0
    assert server.api_base == server.url + "/v1"


def test_health_models_and_404(server):
    assert http.get(server.url + "/health").json() == {"status": "ok"}
    assert [m["id"] for m in http.get(server.api_base + "/models").json()["data"]] == ["test-model"]
    for response in (http.get(server.url + "/nope"), http.post(server.api_base + "/embeddings", json={})):
        assert response.status_code == 404
        assert set(response.json()["error"]) >= {"message", "type", "code"}
    assert server.request_count == 0


def test_dict_rule_matches_first_key_then_default():
    rule = {"refund": "billing", "password": "account", "default": "other"}
    with TestLMServer(rule=rule) as server:
        assert content(chat(server, "I want a refund for my password reset")) == "billing"
        assert content(chat(server, "forgot my password")) == "account"
        assert content(chat(server, "hi")) == "other"


def test_dict_rule_without_default_reports_a_500():
    with TestLMServer(rule={"refund": "billing"}) as server:
        response = chat(server, "hi")
        assert response.status_code == 500 and "LookupError" in response.json()["error"]["message"]


def test_callable_rule_gets_the_request_body_and_can_return_a_dict():
    def rule(body):
        return {"content": f"{body['model']}:{len(body['messages'])}", "finish_reason": "content_filter"}

    with TestLMServer(rule=rule) as server:
        choice = chat(server).json()["choices"][0]
        assert choice["message"]["content"] == "test-model:1" and choice["finish_reason"] == "content_filter"


def test_echo_rule_is_the_default_and_uses_the_last_user_message():
    with TestLMServer() as server:
        body = {
            "model": "m",
            "messages": [
                {"role": "user", "content": "first"},
                {"role": "assistant", "content": "ok"},
                {"role": "user", "content": [{"type": "text", "text": "second"}]},
            ],
        }
        assert content(http.post(server.api_base + "/chat/completions", json=body)) == "second"
    assert echo_rule({"messages": [{"role": "user", "content": "x"}]}) == "x"


def test_rule_latency_and_faults_can_be_changed_while_running(server):
    server.rule = "changed"
    server.latency = 0.05
    started = time.monotonic()
    assert content(chat(server)) == "changed"
    assert time.monotonic() - started >= 0.05


def test_answer_fields_is_chat_adapter_format():
    assert answer_fields(label="spam") == "[[ ## label ## ]]\nspam\n\n[[ ## completed ## ]]"
    assert answer_fields(reasoning="because", score=0.5) == (
        "[[ ## reasoning ## ]]\nbecause\n\n[[ ## score ## ]]\n0.5\n\n[[ ## completed ## ]]"
    )


def test_requests_are_logged_counted_and_reset(server):
    for text in ("a", "b", "c"):
        chat(server, text)
    assert server.request_count == 3
    assert [r["messages"][0]["content"] for r in server.requests] == ["a", "b", "c"]
    server.reset()
    assert server.request_count == 0 and server.requests == [] and server.fault_counts == {}


@pytest.mark.parametrize("limit_field", ["max_tokens", "max_completion_tokens"])
def test_max_tokens_truncates_and_sets_finish_reason_length(limit_field):
    with TestLMServer(rule="one two three four five") as server:
        data = chat(server, **{limit_field: 2}).json()
        assert data["choices"][0]["message"]["content"] == "one two"
        assert data["choices"][0]["finish_reason"] == "length"
        assert data["usage"]["completion_tokens"] == 2
        assert chat(server, **{limit_field: 10}).json()["choices"][0]["finish_reason"] == "stop"


def test_logprobs_default_and_from_rule():
    with TestLMServer(rule="a b c") as server:
        entries = chat(server, logprobs=True, top_logprobs=1).json()["choices"][0]["logprobs"]["content"]
        assert [e["token"] for e in entries] == ["a", " b", " c"]
        assert all(e["logprob"] == -0.01 and e["top_logprobs"][0]["token"] == e["token"] for e in entries)
        assert chat(server).json()["choices"][0]["logprobs"] is None
        server.rule = {"default": {"content": "yes no", "logprobs": [-0.5, -2.0]}}
        entries = chat(server, logprobs=True).json()["choices"][0]["logprobs"]["content"]
        assert [e["logprob"] for e in entries] == [-0.5, -2.0]


def test_streaming_with_usage():
    with TestLMServer(rule="alpha beta gamma") as server:
        response = chat(server, stream=True, stream_options={"include_usage": True}, logprobs=True)
        assert response.headers["content-type"] == "text/event-stream"
        events = [line[len("data: ") :] for line in response.text.split("\n\n") if line]
        assert events[-1] == "[DONE]"
        chunks = [json.loads(event) for event in events[:-1]]
        assert all(c["object"] == "chat.completion.chunk" for c in chunks)
        text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
        assert text == "alpha beta gamma"
        assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "stop"
        assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 3
        plain = chat(server, stream=True).text
        assert '"usage"' not in plain and plain.endswith("data: [DONE]\n\n")


def test_fault_429_has_retry_after(server):
    server.retry_after = 2
    server.fail_next("429")
    response = chat(server)
    assert response.status_code == 429 and response.headers["retry-after"] == "2"
    assert response.json()["error"]["code"] == "rate_limit_exceeded"
    assert content(chat(server)) == "scripted answer"
    assert server.request_count == 2 and server.fault_counts == {"429": 1}


def test_fault_500(server):
    server.fail_next("500", count=2)
    assert [chat(server).status_code for _ in range(3)] == [500, 500, 200]
    assert server.fault_counts == {"500": 2}


def test_fault_malformed_body_is_not_json(server):
    server.fail_next("malformed")
    response = chat(server)
    assert response.status_code == 200
    with pytest.raises(ValueError):
        json.loads(response.text)


def test_fault_truncated():
    with TestLMServer(rule="the full answer is long") as server:
        server.fail_next("truncated")
        choice = chat(server).json()["choices"][0]
        assert "the full answer is long".startswith(choice["message"]["content"])
        assert choice["message"]["content"] != "the full answer is long"
        assert choice["finish_reason"] == "length"


def test_fault_empty_choices(server):
    server.fail_next("empty_choices")
    data = chat(server).json()
    assert data["choices"] == [] and data["object"] == "chat.completion"


def test_fault_timeout_client_times_out_then_stop_is_prompt():
    server = TestLMServer(rule="late", timeout_seconds=30).start()
    try:
        server.fail_next("timeout")
        with pytest.raises(httpx.ReadTimeout):
            chat(server, timeout=0.2)
        server.fail_next("timeout")
        with pytest.raises(httpx.ReadTimeout):
            chat(server, timeout=0.2)
    finally:
        started = time.monotonic()
        server.stop()
    assert time.monotonic() - started < 1.0
    assert server.fault_counts == {"timeout": 2}


def test_fault_timeout_answers_after_timeout_seconds():
    with TestLMServer(rule="late", timeout_seconds=0.1) as server:
        server.fail_next("timeout")
        assert content(chat(server, timeout=5)) == "late"


def test_unknown_fault_kind_is_rejected():
    with pytest.raises(ValueError):
        TestLMServer(faults={"418": 0.5})
    with pytest.raises(ValueError):
        TestLMServer().fail_next("teapot")


def test_seeded_random_faults_are_reproducible():
    def run(seed):
        with TestLMServer(rule="ok", faults={"429": 0.3, "500": 0.2}, seed=seed) as server:
            statuses = [chat(server).status_code for _ in range(30)]
            return statuses, server.fault_counts

    first, counts = run(7)
    assert run(7) == (first, counts)
    assert set(first) == {200, 429, 500}
    assert sum(counts.values()) == sum(status != 200 for status in first)


def test_reset_reseeds_random_faults():
    with TestLMServer(rule="ok", faults={"500": 0.5}, seed=3) as server:
        first = [chat(server).status_code for _ in range(10)]
        server.reset()
        assert [chat(server).status_code for _ in range(10)] == first


def test_litellm_completion_through_the_server():
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    litellm = pytest.importorskip("litellm")
    with TestLMServer(rule={"refund": answer_fields(label="billing"), "default": "?"}) as server:
        response = litellm.completion(
            model="openai/test-model",
            api_base=server.api_base,
            api_key="sk-fake",
            messages=[{"role": "user", "content": "please refund me"}],
        )
        assert response.choices[0].message.content == answer_fields(label="billing")
        assert server.request_count == 1


def test_only_loopback_is_served():
    with pytest.raises(ValueError, match="127.0.0.1 only"):
        TestLMServer(host="0.0.0.0")
