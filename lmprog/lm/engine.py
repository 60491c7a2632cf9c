"""The ledger as a DSPy engine: every call is looked up, made if needed, and recorded once.

``LedgerEngine`` implements DSPy 3.4's engine contract, ``complete(Request) -> Response``, around
an inner engine that actually reaches a model (litellm or the embedded llama.cpp model).
DSPy's own response cache is turned off for these LMs, so the ledger is the only cache.
"""

from __future__ import annotations

import atexit
import sys
import threading
import time
from pathlib import Path

from lmprog import secrets
from lmprog.errors import LedgerMissError, LmprogError
from lmprog.ledger import CACHE_MODES, CachedAnswer, CallRecord, Ledger, call_key
from lmprog.lm import dspy_compat
from lmprog.lm.context import calling_module, current_call
from lmprog.lm.error_kinds import DETERMINISTIC, RecordedFailure, error_kind
from lmprog.lm.pricing import call_cost
from lmprog.run.context import current_run

__all__ = ["LedgerEngine", "canonical_request", "error_kind"]


def canonical_request(request) -> dict:
    """The request as plain JSON data: model, messages, system, tools and sampling config.

    A DSPy Request carries no credentials, base URL or headers, so none can reach the key.
    """
    return dspy_compat.request_to_dict(request)


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
        self._hints: dict | None = None
        self._session_run: str | None = None  # the run of calls made outside any lmprog run
        self._session_lock = threading.Lock()

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
            failure = self.ledger.failure(key, DETERMINISTIC)
            if failure is not None:  # it failed before and would fail again the same way
                raise RecordedFailure(*failure)
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
        run = current_run()
        if not getattr(self.ledger, "readonly", False):  # a replay from a read-only ledger leaves the file as it is
            self.ledger.count_hit(self._run_id(run))
        if run is not None:
            run.budget.note_hit()
        self._sample_done(call)
        return _response_from_ledger(hit, request)

    def _run_id(self, run) -> str:
        """The current run's id, else this LM's own session run (started at its first call outside any run)."""
        if run is not None and run.run_id is not None:
            return run.run_id
        with self._session_lock:
            if self._session_run is None:
                name = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
                self._session_run = self.ledger.start_run(name)
                atexit.register(self._end_session_run)
            return self._session_run

    @property
    def session_run(self) -> str | None:
        """The run this LM files calls made outside any lmprog run under (None until the first such call)."""
        return self._session_run

    def _end_session_run(self) -> None:
        with self._session_lock:
            run_id, self._session_run = self._session_run, None
        if run_id is None:
            return
        try:
            self.ledger.end_run(run_id)
        except Exception:  # noqa: BLE001 - at interpreter exit the file may be gone; nothing is lost but an end time
            pass

    def _call_and_record(self, request, key, keyed, call):
        run = current_run()
        record = CallRecord(key=key, model=request.model, request=keyed, run_id=self._run_id(run),
                            module=calling_module())
        budget = run.budget if run is not None else None
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
            record.error = secrets.mask(f"{type(exc).__name__}: {exc}", self._secrets)[:2000]
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
        """End this LM's session run and close the inner engine."""
        self._end_session_run()
        close = getattr(self.inner, "close", None)
        if callable(close):
            close()

    @staticmethod
    def _sample_done(call) -> None:
        if call is not None:
            call.samples_done += 1

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
        record.response_extra = dspy_compat.response_to_dict(response)


def _response_from_ledger(hit: CachedAnswer, request):
    """Rebuild the Response. A hit reports no token usage (it cost nothing), and a truncated answer comes
    back as finished: DSPy warned about the truncation when the call was paid for, and a replay of it
    is not news (the ledger keeps the real finish reason)."""
    from dspy.lm15 import Message, Response, Usage

    if hit.response_extra is not None:
        data = dict(hit.response_extra)
        data.pop("usage", None)
        if data.get("finish_reason") == "length":
            data["finish_reason"] = "stop"
        return dspy_compat.response_from_dict(data)
    return Response(
        id=None,
        model=request.model,
        message=Message.assistant(hit.response or ""),
        finish_reason="stop" if hit.finish_reason in (None, "length") else hit.finish_reason,
        usage=Usage(),
    )
