"""The one runner: a program over many inputs, in threads, with per-input errors and the budget.

Compile's scoring, :func:`lmprog.evaluate`, streaming prediction and distillation's pseudo-labels all
run programs through :func:`run_module`, so they share one behaviour:

- inputs run ``threads`` at a time; results come back in input order;
- every worker thread runs in a copy of the caller's context, so the current run (ledger run id,
  budget, progress) and the LM given here reach the ledger engine;
- a failure on one input (a provider error after retries, an answer that breaks the adapter) is
  recorded on that input as an error kind and the rest go on; reaching the budget is recorded as
  ``budget`` on each input it stopped;
- an lmprog error a user must act on (a replay miss, a bad configuration) cancels what has not
  started and is raised.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lmprog.errors import BudgetExceededError, LmprogError
from lmprog.lm.error_kinds import error_kind

BUDGET = "budget"
MESSAGE_CHARS = 300


@dataclass
class Outcome:
    """One input's result: the prediction, or the error kind and a short message."""

    prediction: Any = None
    error: str | None = None
    message: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def run_one(module, inputs: Mapping, lm=None) -> Outcome:
    """Run ``module(**inputs)`` once with ``lm`` (None: the predictors' own LMs) and catch what one input may
    fail with; lmprog errors other than the budget are raised."""
    import dspy

    try:
        if lm is None:
            return Outcome(module(**inputs))
        with dspy.context(lm=lm):
            return Outcome(module(**inputs))
    except BudgetExceededError as exc:
        return Outcome(error=BUDGET, message=str(exc))
    except LmprogError:
        raise
    except Exception as exc:  # noqa: BLE001 - a provider failure after retries: this input failed, the rest go on
        return Outcome(error=error_kind(exc), message=f"{type(exc).__name__}: {exc}"[:MESSAGE_CHARS])


def run_module(module, inputs: Sequence[Mapping], *, lm=None, threads: int = 8,
               progress: Callable[[int, int], None] | None = None) -> list[Outcome]:
    """:func:`run_one` over every input, ``threads`` at a time, in input order; ``progress(done, total)``."""
    return run_each(lambda _i, item: run_one(module, item, lm), inputs, threads=threads, progress=progress)


def run_each(one: Callable[[int, Any], Any], items: Sequence, *, threads: int = 8,
             progress: Callable[[int, int], None] | None = None) -> list:
    """``[one(i, item) for i, item in enumerate(items)]`` in threads, in input order, each call in a copy
    of the caller's context; an lmprog error cancels what has not started and is raised."""
    results: list = [None] * len(items)
    if not items:
        return results
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, min(threads, len(items)))) as pool:
        futures = {pool.submit(contextvars.copy_context().run, one, i, item): i for i, item in enumerate(items)}
        try:
            for done, future in enumerate(concurrent.futures.as_completed(futures), 1):
                results[futures[future]] = future.result()
                if progress:
                    progress(done, len(items))
        except BaseException:
            for pending in futures:
                pending.cancel()
            raise
    return results
