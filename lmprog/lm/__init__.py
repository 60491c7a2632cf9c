"""LM access: ``make_lm`` builds a ``dspy.LM`` whose every call goes through the ledger."""

from __future__ import annotations

import os
from typing import Any

from lmprog.errors import ConfigurationError, MissingApiKeyError
from lmprog.ledger import CACHE_MODES, Ledger, ledger_path
from lmprog.lm.env import import_litellm

DEFAULT_MODEL = "local/smollm2"
LOCAL_PREFIX = "local/"
# Servers reached through an explicit api_base that usually need no key (a placeholder is sent).
_KEYLESS_WITH_API_BASE = ("openai/", "hosted_vllm/", "lm_studio/", "llamafile/", "ollama/", "ollama_chat/")
_DEFAULTS = {"temperature": 0.0, "max_tokens": 1024, "num_retries": 4}
DEFAULT_TIMEOUT = 120.0
# The embedded model is small and slow on a CPU: a short answer limit keeps a runaway answer cheap.
_LOCAL_DEFAULTS = {**_DEFAULTS, "max_tokens": 256}

def open_ledger(ledger: str | os.PathLike | Ledger | None = None) -> Ledger:
    """``ledger`` itself if it is a :class:`Ledger`, else a new one for the path (default
    ``$LMPROG_LEDGER``, then ``cache/lmprog.db``). Pass one Ledger to several LMs to share connections;
    separate Ledger objects on one file are safe too (each call is still paid for once)."""
    if isinstance(ledger, Ledger):
        return ledger
    return Ledger(ledger_path(ledger))


def make_lm(
    model: str | None = None,
    *,
    api_base: str | None = None,
    api_key: str | None = None,
    ledger: str | os.PathLike | Ledger | None = None,
    cache: str = "readwrite",
    timeout: float | None = None,
    **kwargs: Any,
):
    """A ``dspy.LM`` for ``model`` whose calls are cached and recorded in the ledger.

    Args:
        model: a litellm model string (``openai/gpt-4o-mini``, ``anthropic/...``, ``ollama/llama3.2``,
            ``openai/<name>`` with ``api_base`` for any OpenAI-compatible server) or ``local/smollm2``
            for the embedded model. Defaults to ``$LMPROG_LM``, then ``local/smollm2``.
        api_base: server URL; never stored in the ledger and never part of a cache key.
        api_key: provider key; defaults to the provider's usual variable (``OPENAI_API_KEY``...).
            Never stored anywhere.
        ledger: a path (default ``$LMPROG_LEDGER``, then ``cache/lmprog.db``) or a :class:`Ledger`.
        cache: ``readwrite``, ``replay`` (offline, a miss is an error), ``refresh`` or ``off``.
        timeout: seconds per attempt for API models (default ``$LMPROG_TIMEOUT``, else 120).
        **kwargs: sampling defaults passed to ``dspy.LM`` (temperature 0.0, max_tokens 1024, or 256
            for local models, and num_retries 4 unless given).

    Raises:
        MissingApiKeyError: the provider needs a key and none was found (before any call is made).
        ConfigurationError: unknown model, cache mode or a missing optional extra.
    """
    model = model or os.environ.get("LMPROG_LM") or DEFAULT_MODEL
    if cache not in CACHE_MODES:
        raise ConfigurationError(f"cache mode {cache!r} is not one of {', '.join(CACHE_MODES)}")
    if model.startswith(LOCAL_PREFIX):
        from lmprog.lm.local import LocalEngine

        inner = LocalEngine(model[len(LOCAL_PREFIX):])
        secrets: tuple[str, ...] = ()
    else:
        api_key = _resolve_api_key(model, api_key, api_base)
        if timeout is None:
            timeout = _env_timeout()
        inner = _api_engine(model, api_base=api_base, api_key=api_key, timeout=timeout)
        secrets = (api_key,) if api_key else ()
    from lmprog.lm.engine import LedgerEngine

    engine = LedgerEngine(inner, open_ledger(ledger), mode=cache, secrets=secrets, model=model)
    from lmprog.lm.dspy_lm import LedgeredLM

    defaults = _LOCAL_DEFAULTS if model.startswith(LOCAL_PREFIX) else _DEFAULTS
    return LedgeredLM(model, engine=engine, cache=False, **{**defaults, **kwargs})


def _env_timeout() -> float:
    value = os.environ.get("LMPROG_TIMEOUT")
    if not value:
        return DEFAULT_TIMEOUT
    try:
        seconds = float(value)
    except ValueError:
        raise ConfigurationError(f"LMPROG_TIMEOUT={value!r} is not a number of seconds") from None
    if seconds <= 0:
        raise ConfigurationError(f"LMPROG_TIMEOUT must be more than 0 seconds, not {value}")
    return seconds


def _resolve_api_key(model: str, api_key: str | None, api_base: str | None) -> str | None:
    """The key to send, checked before any work starts."""
    litellm = import_litellm()
    try:
        litellm.get_llm_provider(model)
    except Exception as exc:  # litellm raises its BadRequestError for unknown providers
        raise ConfigurationError(
            f"unknown model {model!r}: use a litellm model string such as 'openai/gpt-4o-mini' "
            "or 'ollama/llama3.2', or 'local/smollm2' for the embedded model"
        ) from exc
    if api_key:
        return api_key
    if api_base and model.startswith(_KEYLESS_WITH_API_BASE):
        # Local OpenAI-compatible servers take any key; the SDK insists on one.
        return _first_env_key(model) or "no-key-needed"
    missing = [name for name in litellm.validate_environment(model).get("missing_keys", [])
               if name.endswith(("_KEY", "_TOKEN", "_SECRET"))]
    if missing:
        raise MissingApiKeyError(model, missing)
    return None


def _first_env_key(model: str) -> str | None:
    provider = model.split("/", 1)[0].upper()
    return os.environ.get(f"{provider}_API_KEY")


def _api_engine(model: str, *, api_base: str | None, api_key: str | None, timeout: float | None):
    from lmprog.lm.dspy_lm import CheckedLiteLLMEngine, OpenAICompatibleEngine

    options = {k: v for k, v in {"api_base": api_base, "api_key": api_key, "timeout": timeout}.items()
               if v is not None}
    fallback = (OpenAICompatibleEngine if api_base else CheckedLiteLLMEngine)(**options)
    from lmprog.lm.native import native_engine

    # DSPy's native route where a plain dspy.LM would take it (far less CPU per call), LiteLLM otherwise.
    return native_engine(model, api_base=api_base, api_key=api_key, timeout=timeout, fallback=fallback) or fallback


__all__ = ["make_lm", "open_ledger", "DEFAULT_MODEL"]
