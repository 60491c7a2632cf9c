"""USD cost of a call from litellm's offline price table. Unknown price means None, never a guess."""

from __future__ import annotations

import functools

from lmprog.lm.env import import_litellm

# Models that run on the user's own machine cost nothing per token.
FREE_PROVIDERS = ("local/",)


@functools.lru_cache(maxsize=256)
def token_prices(model: str) -> tuple[float, float] | None:
    """(USD per input token, USD per output token) for a litellm model string, or None if unknown."""
    if model.startswith(FREE_PROVIDERS):
        return (0.0, 0.0)
    litellm = import_litellm()
    candidates = [model]
    if "/" in model:
        candidates.append(model.split("/", 1)[1])
    for name in candidates:
        info = litellm.model_cost.get(name)
        if info and "input_cost_per_token" in info and "output_cost_per_token" in info:
            return float(info["input_cost_per_token"]), float(info["output_cost_per_token"])
    return None


def call_cost(model: str, prompt_tokens: int | None, completion_tokens: int | None) -> float | None:
    """Cost of one call in USD, or None when the price or the token counts are unknown."""
    prices = token_prices(model)
    if prices is None or prompt_tokens is None or completion_tokens is None:
        return None
    return prompt_tokens * prices[0] + completion_tokens * prices[1]
