"""make_lm through litellm against the test server on 127.0.0.1: caching, modes, keys, threads."""

from __future__ import annotations

import functools
import sqlite3

import pytest

import lmprog
from lmprog.errors import ConfigurationError, LedgerMissError, MissingApiKeyError
from lmprog.testing import TestLMServer, answer_fields

dspy = pytest.importorskip("dspy")

FAKE_KEY = "sk-fake-0123456789abcdef-SECRET"

pytestmark = pytest.mark.server(rule=answer_fields(answer="Paris"))


@pytest.fixture
def ledger_path(tmp_path):
    return tmp_path / "ledger.db"


@pytest.fixture
def lm_for(lm_for):
    """The shared ``lm_for(server, ledger, **options)``, every LM carrying the fake key the tests look for."""
    return functools.partial(lm_for, api_key=FAKE_KEY)


def test_same_request_twice_is_one_http_request(server, ledger_path, lm_for):
    lm = lm_for(server, ledger_path)
    predict = dspy.Predict("question -> answer")
    with dspy.context(lm=lm):
        first = predict(question="What is the capital of France?")
        second = predict(question="What is the capital of France?")
    assert first.answer == second.answer == "Paris"
    assert server.request_count == 1
    stats = lm.ledger.stats()
    assert stats["calls"] == 1 and stats["hits"] == 1
    assert stats["prompt_tokens"] > 0 and stats["by_module"][0]["name"] == "Predict"


def test_a_new_process_reads_the_same_ledger(server, ledger_path, lm_for):
    with dspy.context(lm=lm_for(server, ledger_path)):
        dspy.Predict("question -> answer")(question="q1")
    ledger = lmprog.Ledger(ledger_path)  # a second Ledger object = a fresh set of connections
    lm = lmprog.make_lm("openai/test-model", api_base=server.api_base, api_key=FAKE_KEY, ledger=ledger)
    with dspy.context(lm=lm):
        dspy.Predict("question -> answer")(question="q1")
    assert server.request_count == 1


def test_different_sampling_settings_are_different_calls(server, ledger_path, lm_for):
    lm = lm_for(server, ledger_path)
    with dspy.context(lm=lm):
        dspy.Predict("question -> answer")(question="q")
    with dspy.context(lm=lm.copy(temperature=0.7)):
        dspy.Predict("question -> answer")(question="q")
    assert server.request_count == 2


def test_samples_of_one_prompt_are_distinct_calls(server, ledger_path, lm_for):
    lm = lm_for(server, ledger_path)
    outputs = lm("say something", n=3)
    assert len(outputs) == 3
    assert server.request_count == 3
    lm("say something", n=3)
    assert server.request_count == 3
    lm("say something", n=4)  # only the fourth sample is new
    assert server.request_count == 4
    with pytest.warns(UserWarning, match="rollout_id"):  # DSPy notes that temperature 0 makes rollouts alike
        lm("say something", rollout_id=7)
    assert server.request_count == 5


def test_key_ignores_api_key_and_base_url(server, ledger_path, lm_for):
    lm_for(server, ledger_path)("hello")
    with TestLMServer(rule="other") as other:
        lm = lmprog.make_lm("openai/test-model", api_base=other.api_base, api_key="sk-another-key-000000",
                            ledger=ledger_path)
        lm("hello")
        assert other.request_count == 0


def test_replay_miss_is_a_clear_error_naming_the_call(server, ledger_path, lm_for):
    lm_for(server, ledger_path)("recorded prompt")
    replay = lm_for(server, ledger_path, cache="replay")
    assert replay("recorded prompt")
    with pytest.raises(LedgerMissError, match=r"replay mode: call [0-9a-f]{12} to openai/test-model \('never seen'\)"):
        replay("never seen")
    assert server.request_count == 1


def test_refresh_always_calls_and_overwrites(server, ledger_path, lm_for):
    lm_for(server, ledger_path)("p")
    server.rule = lambda body: "fresh answer"
    refreshed = lm_for(server, ledger_path, cache="refresh")
    assert refreshed("p") == ["fresh answer"]
    assert server.request_count == 2
    assert lm_for(server, ledger_path)("p") == ["fresh answer"]
    assert server.request_count == 2
    assert lmprog.Ledger(ledger_path).stats()["calls"] == 1


def test_off_mode_neither_reads_nor_writes(server, ledger_path, lm_for):
    lm = lm_for(server, ledger_path, cache="off")
    lm("p")
    lm("p")
    assert server.request_count == 2
    assert lmprog.Ledger(ledger_path).stats()["calls"] == 0


def test_unknown_cache_mode(ledger_path):
    with pytest.raises(ConfigurationError, match="cache mode 'sometimes'"):
        lmprog.make_lm("openai/x", api_base="http://127.0.0.1:9/v1", ledger=ledger_path, cache="sometimes")


def test_missing_api_key_fails_before_any_work(monkeypatch, ledger_path):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(MissingApiKeyError, match="set OPENAI_API_KEY or pass api_key="):
        lmprog.make_lm("openai/gpt-4o-mini", ledger=ledger_path)
    with pytest.raises(MissingApiKeyError, match="ANTHROPIC_API_KEY"):
        lmprog.make_lm("anthropic/claude-3-5-haiku-latest", ledger=ledger_path)


def test_unknown_model_string(ledger_path):
    with pytest.raises(ConfigurationError, match="unknown model 'nonsense-provider/x'"):
        lmprog.make_lm("nonsense-provider/x", ledger=ledger_path)


def test_env_defaults(monkeypatch, server, tmp_path):
    monkeypatch.setenv("LMPROG_LM", "openai/from-env")
    monkeypatch.setenv("LMPROG_LEDGER", str(tmp_path / "env.db"))
    lm = lmprog.make_lm(api_base=server.api_base, api_key=FAKE_KEY)
    assert lm.model == "openai/from-env"
    lm("hi")
    assert (tmp_path / "env.db").exists()
    assert server.requests[-1]["model"] == "from-env"


def test_max_tokens_reaches_self_hosted_servers(server, ledger_path, lm_for):
    lm_for(server, ledger_path, max_tokens=77)("hi")
    body = server.requests[-1]
    assert body.get("max_tokens") == 77 and "max_completion_tokens" not in body


def test_fake_keys_never_reach_the_ledger_file(server, ledger_path, monkeypatch, lm_for):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-key-ABCDEF0123456789")
    lm = lm_for(server, ledger_path)
    lm("hello")
    server.fail_next("500", count=10)
    with pytest.raises(Exception):
        lm_for(server, ledger_path, num_retries=0)("this one fails")
    lm.ledger.checkpoint()
    raw = b"".join(p.read_bytes() for p in ledger_path.parent.glob("ledger.db*"))
    assert FAKE_KEY.encode() not in raw and b"sk-env-key-ABCDEF0123456789" not in raw
    assert server.api_base.encode() not in raw
    dump = "\n".join(sqlite3.connect(ledger_path).iterdump())
    assert FAKE_KEY not in dump


def test_provider_errors_are_recorded_by_kind_and_retried(server, ledger_path, lm_for):
    lm = lm_for(server, ledger_path, num_retries=3)
    server.retry_after = 0
    server.fail_next("429", count=1)
    server.fail_next("500", count=1)
    assert lm("retry me")
    stats = lm.ledger.stats()
    assert stats["calls"] == 1
    assert stats["errors_by_kind"] == {"rate_limit": 1, "server_error": 1}


def test_threads_share_one_ledger_under_dspy_parallel(server, ledger_path, lm_for):
    lm = lm_for(server, ledger_path)
    predict = dspy.Predict("question -> answer")
    examples = [dspy.Example(question=f"question {i % 40}").with_inputs("question") for i in range(120)]
    with dspy.context(lm=lm):
        results = dspy.Parallel(num_threads=16, disable_progress_bar=True)([(predict, ex) for ex in examples])
    assert all(r.answer == "Paris" for r in results)
    assert server.request_count == 40
    assert lm.ledger.stats()["calls"] == 40


def test_dspy_evaluate_with_many_threads(server, ledger_path, lm_for):
    lm = lm_for(server, ledger_path)
    devset = [dspy.Example(question=f"q{i}", answer="Paris").with_inputs("question") for i in range(30)]
    evaluate = dspy.Evaluate(devset=devset, metric=lambda ex, pred, trace=None: ex.answer == pred.answer,
                             num_threads=8, display_progress=False)
    with dspy.context(lm=lm):
        result = evaluate(dspy.Predict("question -> answer"))
        again = evaluate(dspy.Predict("question -> answer"))
    assert result.score == again.score == 100.0
    assert server.request_count == 30


def test_capability_hints_reach_dspy(ledger_path):
    """DSPy asks a custom engine what the model supports; the ledger answers for the model behind it."""
    api = lmprog.make_lm("openai/gpt-4o-mini", api_key=FAKE_KEY, ledger=ledger_path)
    assert api.supports_response_schema and "logprobs" in api.supported_params
    unknown = lmprog.make_lm("openai/some-local-server-model", api_base="http://127.0.0.1:9/v1", ledger=ledger_path)
    assert not unknown.supports_response_schema


# -- calls outside any run (moved from the ledger's implicit run: the LM owns this now) -----------


def test_calls_outside_any_run_go_to_one_session_run_of_the_lm(server, lm_for, tmp_path):
    lm = lm_for(server)
    lm("one")
    lm("one")  # a hit, counted in the same run
    engine = lm.ledger_engine
    run_id = engine.session_run
    assert run_id and {row["run_id"] for row in lm.ledger.calls()} == {run_id}
    engine.close()
    lm.ledger.close()
    from lmprog.ledger import Ledger

    run = Ledger(tmp_path / "ledger.db").runs()[0]
    assert run["id"] == run_id and run["ended_at"] is not None and run["hits"] == 1


def test_threads_making_their_first_calls_together_share_one_session_run(server, lm_for):
    import threading

    lm = lm_for(server)
    barrier = threading.Barrier(8)

    def first_call(i):
        barrier.wait()
        lm(f"prompt {i}")

    threads = [threading.Thread(target=first_call, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({row["run_id"] for row in lm.ledger.calls()}) == 1 and len(lm.ledger.runs()) == 1


def test_a_run_context_takes_the_calls_and_the_ledger_keeps_no_current_run(server, lm_for):
    from lmprog.run import open_run

    lm = lm_for(server)
    with open_run(lm, "my-job") as run:
        lm("inside")
    assert lm.ledger.calls()[0]["run_id"] == run.run_id and lm.ledger_engine.session_run is None
    assert not hasattr(lm.ledger, "current_run")


def test_a_recorded_deterministic_failure_is_answered_again_offline(server, lm_for, tmp_path):
    """A request the model could not take (its prompt did not fit) fails the same way every time: the ledger
    raises its recorded failure again, offline too, instead of calling or stopping the replay."""
    import sqlite3

    import lmprog
    from lmprog.lm.error_kinds import error_kind
    from lmprog.run import run_one

    lm = lm_for(server)
    lm("too long a prompt")
    path = lm.ledger.path
    lm.ledger.close()
    with sqlite3.connect(path) as conn:  # as if the call had failed on the context window
        conn.execute("UPDATE calls SET error_kind = 'context_length', error = 'ContextLengthError: 6095 tokens', "
                     "response = NULL")
    requests = server.request_count
    for cache in ("readwrite", "replay"):
        again = lmprog.make_lm("openai/test-model", api_base=server.api_base, ledger=path, cache=cache)
        with pytest.raises(Exception) as raised:
            again("too long a prompt")
        assert error_kind(raised.value) == "context_length"
    assert server.request_count == requests  # not called again

    class Echo(dspy.Module):
        def forward(self, text):
            return dspy.Prediction(answer=again(text))

    outcome = run_one(Echo(), {"text": "too long a prompt"})
    assert outcome.error == "context_length"
