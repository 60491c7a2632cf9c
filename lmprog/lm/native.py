"""DSPy's native engine (lm15) for API models it serves, as a plain ``dspy.LM`` uses it; LiteLLM for the rest.

A plain ``dspy.LM`` sends a call through DSPy's vendored lm15 client when the provider is one lm15 serves
(OpenAI and OpenAI-compatible servers, Anthropic, Gemini...) and through LiteLLM otherwise. The native
route costs a fraction of LiteLLM's CPU per call (about 2 ms against 4-7 ms on a loopback server), which
is what decides throughput with many calls in flight. ``make_lm`` makes the same choice with
:func:`native_engine`, and keeps what lmprog's LiteLLM engines add:

- a request the native route cannot carry goes to LiteLLM, decided before any I/O (as DSPy does);
- an answer with no choices is an :class:`~lmprog.lm.dspy_lm.EmptyResponseError` and a body that is not
  JSON a :class:`~lmprog.lm.dspy_lm.MalformedResponseError` (both retried, recorded by kind);
- a read that timed out is a timeout (retried, recorded as ``timeout``), not a generic transport error;
- a server reached through ``api_base`` gets ``max_tokens`` (llama.cpp's server ignores
  ``max_completion_tokens``).

Retry-After needs nothing: lm15 reads it into the error DSPy's retry loop honours.
"""

from __future__ import annotations

import dataclasses

from dspy.clients.backend_selection import select_backend
from dspy.clients.engines.lm15_engine import LM15Engine, timeouts_for
from dspy.lm15 import ProviderError, RouterConfig, TransportError, UnsupportedFeatureError
from dspy.lm15 import TimeoutError as LM15TimeoutError

from lmprog.lm.dspy_lm import EmptyResponseError, MalformedResponseError

_NOT_JSON = ("is not JSON", "malformed provider reply")


def native_engine(model: str, *, api_base: str | None, api_key: str | None, timeout: float | None, fallback):
    """A :class:`NativeEngine` (falling back to ``fallback``) when DSPy would send a ``dspy.LM`` with these
    settings through lm15, else None."""
    import dspy

    settings = {k: v for k, v in {"api_base": api_base, "api_key": api_key, "timeout": timeout}.items()
                if v is not None}
    try:
        selection = select_backend(dspy.LM(model, cache=False, **settings))
    except Exception:  # noqa: BLE001 - DSPy cannot route it natively: LiteLLM, as before
        return None
    if not selection.native or selection.resolution is None:
        return None
    provider = selection.resolution.provider
    config = RouterConfig(api_keys={provider: api_key} if api_key else None,
                          base_urls={provider: api_base} if api_base else None, timeouts=timeouts_for(timeout))
    return NativeEngine(LM15Engine(config, model_type="chat"), fallback, max_tokens_field=api_base is not None)


class NativeEngine:
    """One attempt through lm15, or through ``fallback`` for a request lm15 cannot carry."""

    def __init__(self, native: LM15Engine, fallback, *, max_tokens_field: bool = False):
        self.native = native
        self.fallback = fallback
        self.max_tokens_field = max_tokens_field

    def complete(self, request):
        if self.max_tokens_field and request.config.max_tokens is not None:
            extensions = {**(request.config.extensions or {}), "max_tokens": request.config.max_tokens}
            request = dataclasses.replace(request, config=dataclasses.replace(
                request.config, max_tokens=None, extensions=extensions))
        try:
            self.native.plan(request)
        except UnsupportedFeatureError:
            return self.fallback.complete(request)
        try:
            response = self.native.complete(request)
        except TransportError as exc:
            if "timed out" in str(exc):
                raise LM15TimeoutError(str(exc), provider="lm15") from exc
            raise
        except ProviderError as exc:
            if type(exc) is ProviderError and any(text in str(exc) for text in _NOT_JSON):
                raise MalformedResponseError(f"the provider's answer is not valid JSON: {exc}",
                                             provider="lm15") from exc
            raise
        body = response.provider_data
        if isinstance(body, dict) and body.get("choices") == []:
            raise EmptyResponseError("the provider answered with no choices", provider="lm15")
        return response

    def close(self) -> None:
        self.native.close()
        close = getattr(self.fallback, "close", None)
        if callable(close):
            close()

    def __repr__(self) -> str:
        return f"NativeEngine(fallback={type(self.fallback).__name__})"
