"""Budgets stop paid calls at the cap, never block ledger hits, and lose nothing already paid."""

from __future__ import annotations

import threading

import pytest

import lmprog
from lmprog.budget import Budget, BudgetTracker
from lmprog.errors import BudgetExceededError, ConfigurationError


pytestmark = pytest.mark.server(rule="ok")


def budgeted_lm(lm, budget: Budget):
    tracker = BudgetTracker(budget)
    lm.ledger_engine.budget = tracker
    return lm, tracker


def test_call_cap_stops_paid_calls_but_not_hits(server, lm_for):
    lm, tracker = budgeted_lm(lm_for(server), Budget(max_calls=2))
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
    tracker = BudgetTracker(Budget(max_usd=1e-9))
    lm.ledger_engine.budget = tracker
    lm("priced call")
    with pytest.raises(BudgetExceededError, match=r"\$0.0000 of \$0.0000 spent"):
        lm("next call")
    assert tracker.usd > 0 and tracker.stopped_by == "max_usd"


def test_failed_attempts_are_not_paid(server, lm_for):
    lm, tracker = budgeted_lm(lm_for(server, num_retries=1), Budget(max_calls=1))
    server.retry_after = 0
    server.fail_next("500")
    assert lm("retried") == ["ok"]
    assert tracker.calls == 1


def test_threads_never_exceed_the_call_cap(server, lm_for):
    server.latency = 0.02
    lm, tracker = budgeted_lm(lm_for(server), Budget(max_calls=5))
    refused = []

    def call(i):
        try:
            lm(f"prompt {i}")
        except BudgetExceededError:
            refused.append(i)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert server.request_count == 5 and len(refused) == 7 and tracker.calls == 5


def test_bad_budgets():
    with pytest.raises(ConfigurationError):
        Budget(max_calls=-1)
    assert Budget(max_calls=3, max_usd=0.5).describe() == "3 paid calls and $0.5000"
