"""Budgets stop paid calls at the cap, never block ledger hits, and lose nothing already paid."""

from __future__ import annotations

import contextlib
import contextvars
import threading

import pytest

import lmprog
from lmprog.errors import BudgetExceededError, ConfigurationError
from lmprog.run import Budget, BudgetTracker, RunContext, activate


pytestmark = pytest.mark.server(rule="ok")


@contextlib.contextmanager
def budgeted(budget: Budget):
    """Every LM call in the block (and in threads started with its context) counts against ``budget``."""
    tracker = BudgetTracker(budget)
    with activate(RunContext(budget=tracker)):
        yield tracker


def test_call_cap_stops_paid_calls_but_not_hits(server, lm_for):
    lm = lm_for(server)
    with budgeted(Budget(max_calls=2)) as tracker:
        lm("one")
        lm("two")
        with pytest.raises(BudgetExceededError, match="2 of 2 paid LM calls"):
            lm("three")
        assert lm("one") == ["ok"]  # a ledger hit costs nothing and is always allowed
    assert server.request_count == 2 and tracker.calls == 2 and tracker.stopped_by == "max_calls"
    assert lm.ledger.stats()["calls"] == 2


def test_usd_cap(server, tmp_path):
    lm = lmprog.make_lm("openai/gpt-4o-mini", api_base=server.api_base, api_key="sk-test-0000000000",
                        ledger=tmp_path / "l.db")
    with budgeted(Budget(max_usd=1e-9)) as tracker:
        lm("priced call")
        with pytest.raises(BudgetExceededError, match=r"\$0.0000 of \$0.0000 spent"):
            lm("next call")
    assert tracker.usd > 0 and tracker.stopped_by == "max_usd"


def test_failed_attempts_are_not_paid(server, lm_for):
    lm = lm_for(server, num_retries=1)
    server.retry_after = 0
    server.fail_next("500")
    with budgeted(Budget(max_calls=1)) as tracker:
        assert lm("retried") == ["ok"]
    assert tracker.calls == 1


def test_threads_never_exceed_the_call_cap(server, lm_for):
    server.latency = 0.02
    lm = lm_for(server)
    refused = []

    def call(i):
        try:
            lm(f"prompt {i}")
        except BudgetExceededError:
            refused.append(i)

    with budgeted(Budget(max_calls=5)) as tracker:
        threads = [threading.Thread(target=contextvars.copy_context().run, args=(call, i)) for i in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert server.request_count == 5 and len(refused) == 7 and tracker.calls == 5


def test_calls_outside_the_run_are_not_counted(server, lm_for):
    lm = lm_for(server)
    with budgeted(Budget(max_calls=1)) as tracker:
        lm("inside")
    lm("outside, after the run")  # no run context: no budget applies
    assert tracker.calls == 1 and server.request_count == 2


def test_bad_budgets():
    with pytest.raises(ConfigurationError):
        Budget(max_calls=-1)
    assert Budget(max_calls=3, max_usd=0.5).describe() == "3 paid calls and $0.5000"


def test_the_run_reaches_dspy_parallel_worker_threads(server, lm_for):
    import dspy

    from lmprog.run import open_run

    lm = lm_for(server)
    with open_run(lm, "dspy-parallel", budget=Budget(max_calls=3)) as run:
        results = dspy.Parallel(num_threads=4, disable_progress_bar=True, max_errors=100, provide_traceback=False)(
            [(lambda i: _safe_call(lm, f"prompt {i}"), {"i": i}) for i in range(6)])
    assert server.request_count == 3 and run.budget.calls == 3 and results.count("refused") == 3
    assert {row["run_id"] for row in lm.ledger.calls()} == {run.run_id}


def _safe_call(lm, prompt):
    try:
        return lm(prompt)
    except BudgetExceededError:
        return "refused"
