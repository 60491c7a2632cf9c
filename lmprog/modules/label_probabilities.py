"""Label probabilities as a module's confidence: the LM's distribution over the label list.

An engine that can measure it (the embedded model: ``lmprog.lm.local_judgments``) declares
``"probabilities"`` in its ``supported_params``. Classify then sends its request as a typed lm15
``Request`` with ``config.probabilities`` set (DSPy's chat-dictionary call has no slot for it), and
reads the distribution from the answer's data part. The setting is part of the request, so the
ledger keys the call by it and keeps the distribution with the answer: a replay gives the same one.
"""

from __future__ import annotations

import dataclasses
import json

import dspy
from dspy.clients.backend_selection import CLIENT_KEYS

LABEL_PROBABILITIES = "label_probabilities"  # the confidence source, and the completion key of the distribution

# Keys of an LM call that say how to send it, not what to ask (as DSPy drops them from its own requests).
_NOT_ASKED = frozenset(CLIENT_KEYS) | {"n", "rollout_id", "num_generations", "prompt_cache", "num_retries", "cache"}


def measures(lm) -> bool:
    """Whether ``lm``'s engine measures label probabilities (``config.probabilities``)."""
    return "probabilities" in lm.supported_params


def request_for(lm, messages: list[dict], lm_kwargs: dict):
    """The request DSPy would send for ``messages``, asking for the distribution over the schema's enum."""
    options = {key: value for key, value in {**lm.kwargs, **lm_kwargs}.items()
               if value is not None and key not in _NOT_ASKED}
    request = dspy.lm15.request_from_openai_chat({"model": lm.model, "messages": messages, **options})
    return dataclasses.replace(request, config=dataclasses.replace(request.config, probabilities="if_available"))


def call(lm, messages: list[dict], lm_kwargs: dict):
    """Ask ``lm`` for ``messages`` with label probabilities; the ``dspy.lm15.Response`` (a rollout id the
    call carries still tells the ledger which rollout it belongs to)."""
    rollout = lm_kwargs.get("rollout_id")
    return lm(request=request_for(lm, messages, lm_kwargs), **({} if rollout is None else {"rollout_id": rollout}))


def answer_text(response) -> str:
    """The answer as the JSON text the adapter parses (a measured answer is a data part)."""
    data = response.data
    if data is not None and response.probabilities:
        return json.dumps(data, ensure_ascii=False)
    return response.text or ""


def distribution(response, field: str) -> dict[str, float] | None:
    """``{label: probability}`` the engine measured for ``field``, or None."""
    return (response.probabilities or {}).get(field)
