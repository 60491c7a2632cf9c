"""The run context: which ledger run an LM call belongs to, the budget it counts against, and progress.

One :class:`RunContext` per run (a compile, an evaluation, a distillation...). It is made current
for a block with :func:`open_run` (or :func:`activate`) and travels in a context variable, so the
LM engine deep inside DSPy can read it without any process-wide state; :func:`lmprog.run.run_module`
hands it on to its worker threads. Calls made outside any run are the LM's own business (the ledger
engine files them under a run of its own).
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

from lmprog.run.budget import Budget, BudgetTracker

_current: contextvars.ContextVar[RunContext | None] = contextvars.ContextVar("lmprog_run", default=None)


@dataclass
class RunContext:
    """What every LM call of a run needs: its ledger run id, the shared budget, and a progress callback.

    ``progress`` receives plain event dicts (see :mod:`lmprog.run.progress`); None means no display.
    """

    run_id: str | None = None
    budget: BudgetTracker = field(default_factory=BudgetTracker)
    progress: Callable[[dict], None] | None = None

    def report(self, event: dict) -> None:
        """Tell the progress callback about ``event`` (nothing happens without one)."""
        if self.progress is not None:
            self.progress(event)


_DSPY_KEY = "lmprog_run"


def current_run() -> RunContext | None:
    """The run context of the calling thread or task, if a run is open."""
    context = _current.get()
    if context is None:  # a worker thread of DSPy's own (dspy.Parallel, an optimizer) carries it in DSPy's settings
        import dspy

        context = dspy.settings.get(_DSPY_KEY)
    return context


@contextmanager
def activate(context: RunContext) -> Iterator[RunContext]:
    """Make ``context`` the current run for the ``with`` block: in this thread, in the threads
    :func:`lmprog.run.run_module` starts, and (through ``dspy.context``) in the threads DSPy's own
    parallel executor starts, so a DSPy optimizer run inside an lmprog run is counted in it too."""
    import dspy

    token = _current.set(context)
    try:
        with dspy.context(**{_DSPY_KEY: context}):
            yield context
    finally:
        _current.reset(token)


def ledger_of(lm):
    """The :class:`~lmprog.ledger.Ledger` an LM records its calls in, or None (e.g. DSPy's DummyLM)."""
    return getattr(lm, "ledger", None)


@contextmanager
def open_run(lm, command: str, arguments: Mapping | list | None = None, *, run_id: str | None = None,
             budget: Budget | BudgetTracker | None = None,
             progress: Callable[[dict], None] | None = None) -> Iterator[RunContext]:
    """Open a ledger run on ``lm``'s ledger and make it current; without a (writable) ledger, a run with no id.

    ``budget`` is a :class:`Budget` (a fresh tracker is made) or a tracker to share with another run.
    Give ``run_id`` to continue a run (a resumed compile keeps its id).
    """
    tracker = budget if isinstance(budget, BudgetTracker) else BudgetTracker(budget)
    ledger = ledger_of(lm)
    if ledger is None or getattr(ledger, "readonly", False):  # nothing to record a run in; a given id stays
        with activate(RunContext(run_id, tracker, progress)) as context:
            yield context
        return
    with ledger.run(command, arguments, run_id=run_id) as opened:
        with activate(RunContext(opened, tracker, progress)) as context:
            yield context
