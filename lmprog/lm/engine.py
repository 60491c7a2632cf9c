"""The ledger as a DSPy engine: every call is looked up, made if needed, and recorded once.

``LedgerEngine`` implements DSPy 3.4's engine contract, ``complete(Request) -> Response``, around
an inner engine that actually reaches a model (litellm or the embedded llama.cpp model).
DSPy's own response cache is turned off for these LMs, so the ledger is the only cache.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass

from lmprog.errors import LedgerMissError, LmprogError
from lmprog.ledger import CACHE_MODES, CachedAnswer, CallRecord, Ledger, call_key
from lmprog.lm.context import calling_module, current_call
from lmprog.lm.pricing import call_cost

_SECRET_VARIABLE = re.compile(r"(_API_KEY|_TOKEN|_SECRET|_ACCESS_KEY)$")


@dataclass(frozen=True)
class _ErrorKind:
    cls_name: str
    kind: str


# Most specific first; matched by class name (lm15's errors inside the engine, DSPy's LM* wrappers
# of them outside it), so this module needs no DSPy import.
_ERROR_KINDS = (
    _ErrorKind("EmptyResponseError", "empty_response"),
    _ErrorKind("MalformedResponseError", "malformed_response"),
    _ErrorKind("ContextLengthError", "context_length"),
    _ErrorKind("ContextWindowExceededError", "context_length"),
    _ErrorKind("RateLimitError", "rate_limit"),
    _ErrorKind("LMRateLimitError", "rate_limit"),
    _ErrorKind("AuthError", "auth"),
    _ErrorKind("LMAuthError", "auth"),
    _ErrorKind("BillingError", "billing"),
    _ErrorKind("LMBillingError", "billing"),
    _ErrorKind("TimeoutError", "timeout"),
    _ErrorKind("LMTimeoutError", "timeout"),
    _ErrorKind("UnsupportedModelError", "unknown_model"),
    _ErrorKind("LMUnsupportedModelError", "unknown_model"),
    _ErrorKind("InvalidRequestError", "invalid_request"),
    _ErrorKind("LMInvalidRequestError", "invalid_request"),
    _ErrorKind("ServerError", "server_error"),
    _ErrorKind("LMServerError", "server_error"),
    _ErrorKind("TransportError", "transport"),
    _ErrorKind("LMTransportError", "transport"),
    _ErrorKind("ProviderError", "provider_error"),
    _ErrorKind("LMProviderError", "provider_error"),
)


def error_kind(exc: BaseException) -> str:
    """The ledger's name for a failure: rate_limit, timeout, server_error, ... or 'error'."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    return next((entry.kind for entry in _ERROR_KINDS if entry.cls_name in names), "error")


def canonical_request(request) -> dict:
    """The request as plain JSON data: model, messages, system, tools and sampling config.

    A DSPy Request carries no credentials, base URL or headers, so none can reach the key.
    """
    from dspy._vendor.lm15.serde import request_to_dict

    return request_to_dict(request)


class LedgerEngine:
    """Answer from the ledger when it can, otherwise call ``inner`` and record the call.

    Modes: ``readwrite`` (hits answered from the ledger, misses called and stored), ``replay``
    (offline: a miss raises :class:`~lmprog.errors.LedgerMissError`), ``refresh`` (always call and
    overwrite the stored answer), ``off`` (the ledger is neither read nor written).
    """

    def __init__(self, inner, ledger: Ledger, *, mode: str = "readwrite", secrets: tuple[str, ...] = (),
                 model: str | None = None):
        if mode not in CACHE_MODES:
            from lmprog.errors import ConfigurationError

            raise ConfigurationError(f"cache mode {mode!r} is not one of {', '.join(CACHE_MODES)}")
        self.inner = inner
        self.ledger = ledger
        self.mode = mode
        self._secrets = tuple(s for s in secrets if s)
        self.model = model
        self.budget = None  # a BudgetTracker, set by whoever runs under a budget (compile, evaluate)
        self._hints: dict | None = None

    # DSPy reads what a model supports from a custom engine's attributes (and consults no catalog),
    # so the ledger passes on the inner engine's hints, or litellm's for API models.
    @property
    def supports_response_schema(self) -> bool:
        return bool(self._hint("supports_response_schema"))

    @property
    def supports_function_calling(self) -> bool:
        return bool(self._hint("supports_function_calling"))

    @property
    def supports_reasoning(self) -> bool:
        return bool(self._hint("supports_reasoning"))

    @property
    def supported_params(self) -> frozenset:
        return frozenset(self._hint("supported_params") or ())

    def _hint(self, name: str):
        if hasattr(self.inner, name):
            return getattr(self.inner, name)
        if self._hints is None:
            self._hints = _litellm_hints(self.model) if self.model else {}
        return self._hints.get(name)

    def complete(self, request):
        if self.mode == "off":
            return self.inner.complete(request)
        canonical = canonical_request(request)
        call = current_call.get()
        keyed = {"request": canonical, "sample": call.samples_done if call else 0}
        if call is not None and call.rollout_id is not None:
            keyed["rollout"] = call.rollout_id
        key = call_key(keyed)
        if self.mode in ("readwrite", "replay"):
            hit = self._lookup(key, call, request)
            if hit is not None:
                return hit
            if self.mode == "replay":
                raise LedgerMissError(key, request.model, _preview(request), str(self.ledger.path))
        with self.ledger.claim(key):
            # Look again once the key is ours: another thread may have made this call between our
            # miss and the claim (while we waited on it, or just before we asked).
            if self.mode == "readwrite":
                hit = self._lookup(key, call, request)
                if hit is not None:
                    return hit
            return self._call_and_record(request, key, keyed, call)

    def _lookup(self, key, call, request):
        hit = self.ledger.get(key)
        if hit is None:
            return None
        self.ledger.count_hit()
        if self.budget is not None:
            self.budget.note_hit()
        self._sample_done(call)
        return _response_from_ledger(hit, request)

    def _call_and_record(self, request, key, keyed, call):
        record = CallRecord(key=key, model=request.model, request=keyed, run_id=self.ledger.current_run,
                            module=calling_module())
        budget = self.budget
        if budget is not None:
            budget.reserve()
        started = time.perf_counter()
        try:
            response = self.inner.complete(request)
        except LmprogError:
            if budget is not None:
                budget.settle(paid=False)
            raise
        except Exception as exc:
            if budget is not None:
                budget.settle(paid=False)
            record.latency_ms = (time.perf_counter() - started) * 1000
            record.error_kind = error_kind(exc)
            record.error = self._scrub(f"{type(exc).__name__}: {exc}")[:2000]
            self.ledger.put(record)
            raise
        record.latency_ms = (time.perf_counter() - started) * 1000
        _fill_response(record, response)
        self.ledger.put(record)
        if budget is not None:
            budget.settle(paid=True, cost_usd=record.cost_usd,
                          tokens=(record.prompt_tokens or 0) + (record.completion_tokens or 0))
        self._sample_done(call)
        return response

    def stream(self, request):
        from dspy.lm15 import response_to_events

        return response_to_events(self.complete(request))

    def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if callable(close):
            close()

    @staticmethod
    def _sample_done(call) -> None:
        if call is not None:
            call.samples_done += 1

    def _scrub(self, text: str) -> str:
        secrets = list(self._secrets)
        secrets += [v for k, v in os.environ.items() if _SECRET_VARIABLE.search(k) and len(v) >= 8]
        for secret in secrets:
            text = text.replace(secret, "***")
        return text

    def __repr__(self) -> str:
        return f"LedgerEngine({self.inner!r}, ledger={str(self.ledger.path)!r}, mode={self.mode!r})"


def _litellm_hints(model: str) -> dict:
    """What litellm's offline model catalog says the model supports (unknown models: nothing)."""
    from lmprog.lm.env import import_litellm

    litellm = import_litellm()
    provider = model.split("/", 1)[0] if "/" in model else None
    hints: dict = {}
    for name, probe in (
        ("supports_response_schema", lambda: litellm.supports_response_schema(model=model, custom_llm_provider=provider)),
        ("supports_function_calling", lambda: litellm.supports_function_calling(model=model)),
        ("supports_reasoning", lambda: litellm.supports_reasoning(model=model)),
        ("supported_params", lambda: litellm.get_supported_openai_params(model=model, custom_llm_provider=provider)),
    ):
        try:
            hints[name] = probe()
        except Exception:  # noqa: BLE001 - an unknown model simply has no declared capabilities
            hints[name] = None
    return hints


def _preview(request, limit: int = 60) -> str:
    text = request.messages[-1].text or "" if request.messages else ""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _is_plain(response) -> bool:
    """True when text, finish reason and usage are all the response holds."""
    return (
        len(response.message.parts) == 1
        and response.message.parts[0].type == "text"
        and response.logprobs is None
        and not response.adaptations
    )


def _fill_response(record: CallRecord, response) -> None:
    usage = response.usage
    record.response = response.message.text
    record.finish_reason = response.finish_reason
    record.prompt_tokens = usage.input_tokens
    record.completion_tokens = usage.output_tokens
    record.cost_usd = call_cost(record.model, usage.input_tokens, usage.output_tokens)
    if not _is_plain(response):
        from dspy._vendor.lm15.serde import response_to_dict

        record.response_extra = response_to_dict(response)


def _response_from_ledger(hit: CachedAnswer, request):
    """Rebuild the Response. A hit reports no token usage: it cost nothing."""
    from dspy.lm15 import Message, Response, Usage

    if hit.response_extra is not None:
        from dspy._vendor.lm15.serde import response_from_dict

        data = dict(hit.response_extra)
        data.pop("usage", None)
        return response_from_dict(data)
    return Response(
        id=None,
        model=request.model,
        message=Message.assistant(hit.response or ""),
        finish_reason=hit.finish_reason or "stop",
        usage=Usage(),
    )
