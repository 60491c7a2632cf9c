"""The DSPy classes behind ``make_lm`` (this module imports dspy; ``lmprog.lm`` imports it lazily)."""

from __future__ import annotations

from lmprog.lm.env import prepare_environment

prepare_environment()

import math  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from email.utils import parsedate_to_datetime  # noqa: E402

import dspy  # noqa: E402
from dspy.clients.engines.litellm_engine import LiteLLMEngine  # noqa: E402
from dspy.lm15 import ServerError  # noqa: E402
from dspy.utils.exceptions import LMError  # noqa: E402

from lmprog.errors import LmprogError  # noqa: E402
from lmprog.ledger import Ledger  # noqa: E402
from lmprog.lm.context import CallContext, current_call  # noqa: E402


class LedgeredLM(dspy.LM):
    """A ``dspy.LM`` whose engine is a :class:`~lmprog.lm.engine.LedgerEngine`.

    It tells the engine which call and rollout a request belongs to (a DSPy Request does not
    carry them), and re-raises lmprog's own errors (a replay miss, a budget stop) unwrapped.
    """

    def __call__(self, *args, **kwargs):
        token = current_call.set(CallContext(rollout_id=kwargs.get("rollout_id", self.kwargs.get("rollout_id"))))
        try:
            return super().__call__(*args, **kwargs)
        except LMError as exc:
            _reraise_lmprog_cause(exc)
            raise
        finally:
            current_call.reset(token)

    async def acall(self, *args, **kwargs):
        token = current_call.set(CallContext(rollout_id=kwargs.get("rollout_id", self.kwargs.get("rollout_id"))))
        try:
            return await super().acall(*args, **kwargs)
        except LMError as exc:
            _reraise_lmprog_cause(exc)
            raise
        finally:
            current_call.reset(token)

    @property
    def ledger(self) -> Ledger:
        return self._engine_spec.ledger

    @property
    def ledger_engine(self):
        """The :class:`~lmprog.lm.engine.LedgerEngine` (shared by this LM's copies)."""
        return self._engine_spec


def _reraise_lmprog_cause(exc: BaseException) -> None:
    seen = exc.__cause__ or exc.__context__
    while seen is not None:
        if isinstance(seen, LmprogError):
            raise seen from None
        seen = seen.__cause__ or seen.__context__


MAX_RETRY_AFTER = 60.0  # seconds: a longer Retry-After would stall a compile; DSPy's backoff takes over


class CheckedLiteLLMEngine(LiteLLMEngine):
    """DSPy's LiteLLM engine, with two gaps of DSPy 3.4.1 closed:

    - a rate limit's ``Retry-After`` header reaches DSPy's retry loop (litellm keeps it in
      ``litellm_response_headers``, where DSPy does not look), capped at ``MAX_RETRY_AFTER``;
    - an answer with no choices is a server error (retried, never stored as an empty answer).
    """

    def complete(self, request):
        try:
            return super().complete(request)
        except ServerError as exc:
            if "Received response - <APIResponse [200" in str(exc):  # a 200 whose body is not valid JSON
                raise MalformedResponseError(f"the provider's answer is not valid JSON: {exc}",
                                             provider="litellm") from exc
            _add_retry_hint(exc)
            raise
        except Exception as exc:
            _add_retry_hint(exc)
            raise

    def _response(self, raw, request):
        if self.model_type == "chat" and not getattr(raw, "choices", None):
            raise EmptyResponseError("the provider answered with no choices", provider="litellm")
        return super()._response(raw, request)


class EmptyResponseError(ServerError):
    """A provider answer without choices (retried; recorded as ``empty_response``)."""


class MalformedResponseError(ServerError):
    """A provider answer whose body does not parse (retried; recorded as ``malformed_response``)."""


def _add_retry_hint(exc: BaseException) -> None:
    if not hasattr(exc, "retry_after"):
        return
    seconds = exc.retry_after
    if seconds is None:
        seen = exc.__cause__ or exc.__context__
        while seen is not None and seconds is None:
            for headers in (getattr(seen, "litellm_response_headers", None), getattr(seen, "headers", None),
                            getattr(getattr(seen, "response", None), "headers", None)):
                value = headers.get("retry-after") if headers else None
                if value is not None:
                    seconds = retry_after_seconds(value)
                    break
            seen = seen.__cause__ or seen.__context__
    if seconds is not None:
        exc.retry_after = min(float(seconds), MAX_RETRY_AFTER)


def retry_after_seconds(value) -> float | None:
    """Seconds a ``Retry-After`` header asks for: a number of seconds or an HTTP date; None if unreadable."""
    try:
        seconds = float(value)
    except (TypeError, ValueError, OverflowError):
        seconds = None
    if seconds is not None:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    if not isinstance(value, str):
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


class OpenAICompatibleEngine(CheckedLiteLLMEngine):
    """LiteLLM with ``max_tokens`` for self-hosted servers reached through ``api_base``.

    DSPy sends ``max_completion_tokens``, which llama.cpp's server ignores (outputs then run to
    thousands of tokens), so it is renamed to ``max_tokens``.
    """

    def _arguments(self, request, *, streaming=False):
        data = super()._arguments(request, streaming=streaming)
        if "max_completion_tokens" in data and "max_tokens" not in data:
            data["max_tokens"] = data.pop("max_completion_tokens")
        return data
