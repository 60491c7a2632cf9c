"""Per-call context the ledger records but a DSPy Request does not carry.

A DSPy ``Request`` holds only what is sent to the model. The ledger also needs to know which
lmprog module made the call and, for repeated samples of one prompt, which sample this is.
Both travel in context variables, so they are per thread and per asyncio task.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass
class CallContext:
    """One ``lm(...)`` call: its rollout id and how many samples of it have completed so far."""

    rollout_id: object = None
    samples_done: int = 0


current_call: contextvars.ContextVar[CallContext | None] = contextvars.ContextVar("lmprog_call", default=None)
current_module: contextvars.ContextVar[str | None] = contextvars.ContextVar("lmprog_module", default=None)


@contextlib.contextmanager
def module_name(name: str) -> Iterator[None]:
    """Attribute the LM calls made inside this block to ``name`` in the ledger."""
    token = current_module.set(name)
    try:
        yield
    finally:
        current_module.reset(token)


def calling_module() -> str | None:
    """The lmprog module name if one is set, else the outermost calling DSPy module's class name."""
    name = current_module.get()
    if name:
        return name
    try:
        from dspy.dsp.utils.settings import settings

        caller = settings.caller_modules
        if caller:
            return type(caller[0]).__name__
    except Exception:  # noqa: BLE001 - attribution is advisory; a call must never fail over it
        return None
    return None
