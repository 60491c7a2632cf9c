"""Cut over-long inputs so a prompt fits the model's context window, with a warning, never a crash.

The window comes from the embedded model's ``n_ctx``, litellm's model catalog for API models, or
a generous default for models nobody knows. Characters are budgeted at three per token (English
averages about four), after the predictor's instructions, demos and the answer's room.
"""

from __future__ import annotations

import functools
import warnings

from lmprog.errors import LmprogWarning

DEFAULT_CONTEXT_TOKENS = 32_000
CHARS_PER_TOKEN = 3
MIN_INPUT_CHARS = 200
PROMPT_FRAME_CHARS = 600  # field markers, adapter instructions, the label list's framing


def fit_inputs(inputs: dict, predictor, lm, demos=None) -> dict:
    """``inputs`` with every text cut to its share of what the context window leaves free (``demos``: the
    demos this call shows, when they are not the predictor's own)."""
    context = context_tokens(lm)
    answer_room = int((getattr(lm, "kwargs", {}) or {}).get("max_tokens") or 256)
    shown = predictor.demos if demos is None else demos
    used = len(predictor.signature.instructions or "") + PROMPT_FRAME_CHARS + sum(
        len(str(value)) for demo in shown for value in dict(demo).values())
    texts = [name for name, value in inputs.items() if isinstance(value, str)]
    if not texts:
        return inputs
    free = (context - answer_room) * CHARS_PER_TOKEN - used
    limit = max(MIN_INPUT_CHARS, free // len(texts))
    long = [name for name in texts if len(inputs[name]) > limit]
    if not long:
        return inputs
    warnings.warn(f"inputs longer than {limit:,} characters are cut to fit {lm.model}'s context window of "
                  f"{context:,} tokens", LmprogWarning, stacklevel=3)
    return {name: value[:limit] if name in long else value for name, value in inputs.items()}


def context_tokens(lm) -> int:
    """The model's context window in tokens (the embedded model's n_ctx, litellm's catalog, or a default)."""
    inner = getattr(getattr(lm, "ledger_engine", None), "inner", None)
    n_ctx = getattr(inner, "n_ctx", None)
    if isinstance(n_ctx, int) and n_ctx > 0:
        return n_ctx
    return _catalog_window(str(getattr(lm, "model", "")))


@functools.lru_cache(maxsize=64)
def _catalog_window(model: str) -> int:
    if not model or model.startswith("local/"):
        return DEFAULT_CONTEXT_TOKENS
    try:
        from lmprog.lm.env import import_litellm

        info = import_litellm().get_model_info(model)
    except Exception:  # noqa: BLE001 - a model litellm does not know has no declared window
        return DEFAULT_CONTEXT_TOKENS
    window = info.get("max_input_tokens") or info.get("max_tokens")
    return int(window) if window else DEFAULT_CONTEXT_TOKENS
