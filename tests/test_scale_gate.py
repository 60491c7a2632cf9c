"""The call gate's logic without Ray: ledger answers, one payer per key, the in-flight cap and pace, Retry-After,
the budget, and a silent (killed) worker's claims voided."""

from __future__ import annotations

import asyncio

import pytest

from lmprog.ledger import Ledger
from lmprog.run import Budget
from lmprog.scale.gate import BUDGET, HIT, PAY, GateState


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def record(key: str, *, error: str | None = None) -> dict:
    return {"key": key, "model": "m", "request": {"k": key}, "response": None if error else f"answer {key}",
            "error_kind": error, "cost_usd": None if error else 0.5}


def run(coroutine):
    return asyncio.run(coroutine)


def test_identical_calls_are_paid_once_and_then_answered_from_the_ledger(tmp_path):
    async def scenario():
        gate = GateState(ledger=Ledger(tmp_path / "l.db"), run_id=None)
        assert await gate.acquire("a" * 64, "w1") == (PAY, None)
        waiting = asyncio.ensure_future(gate.acquire("a" * 64, "w2"))
        await asyncio.sleep(0.01)
        assert not waiting.done()  # w2 waits for w1's answer instead of paying
        await gate.release("a" * 64, "w1", record("a" * 64))
        verdict, answer = await waiting
        assert verdict == HIT and answer["response"] == f"answer {'a' * 64}"
        return gate.close()

    stats = run(scenario())
    assert stats["paid"] == 1 and stats["hits"] == 1 and stats["waited"] == 1
    assert Ledger.open_readonly(tmp_path / "l.db").stats()["calls"] == 1


def test_in_flight_cap_and_budget():
    async def scenario():
        gate = GateState(max_in_flight=2, budget=Budget(max_calls=3))
        first = [await gate.acquire(f"{i}" * 64, "w") for i in range(2)]
        third = asyncio.ensure_future(gate.acquire("2" * 64, "w"))
        await asyncio.sleep(0.01)
        assert first == [(PAY, None)] * 2 and not third.done() and gate.in_flight == 2
        await gate.release("0" * 64, "w", record("0" * 64))
        assert await third == (PAY, None)
        verdict, message = await gate.acquire("3" * 64, "w")  # 1 paid + 2 reserved = the cap of 3
        assert verdict == BUDGET and "budget exhausted" in message
        return gate

    gate = run(scenario())
    assert gate.max_seen == 2 and gate.stopped_by == "max_calls"


def test_a_failed_attempt_is_recorded_and_retry_after_pauses_everyone(tmp_path):
    clock = Clock()

    async def scenario():
        gate = GateState(ledger=Ledger(tmp_path / "l.db"), clock=clock)
        await gate.acquire("a" * 64, "w1")
        await gate.release("a" * 64, "w1", record("a" * 64, error="rate_limit"), retry_after=2.0)
        assert gate.paused_until == pytest.approx(102.0)
        pending = asyncio.ensure_future(gate.acquire("b" * 64, "w2"))
        await asyncio.sleep(0.05)
        assert not pending.done()  # paused until the provider's Retry-After has passed
        clock.now = 102.5
        assert await pending == (PAY, None)
        return gate.close()

    stats = run(scenario())
    assert stats["failed"] == 1 and stats["retry_after"] == 1 and stats["paid"] == 0
    ledger = Ledger.open_readonly(tmp_path / "l.db")
    assert ledger.stats()["errors"] == 1 and ledger.get("a" * 64) is None


def test_requests_per_second_are_paced():
    clock = Clock()

    async def scenario():
        gate = GateState(rps=10, clock=clock)
        await gate.acquire("a" * 64, "w")
        second = asyncio.ensure_future(gate.acquire("b" * 64, "w"))
        await asyncio.sleep(0.03)
        assert not second.done() and gate.next_slot == pytest.approx(100.1)
        clock.now = 100.1
        assert await second == (PAY, None)

    run(scenario())


def test_a_silent_worker_loses_its_claims_slots_and_reservations():
    clock = Clock()

    async def scenario():
        gate = GateState(max_in_flight=1, budget=Budget(max_calls=1), owner_timeout=5, clock=clock)
        assert await gate.acquire("a" * 64, "dead") == (PAY, None)
        waiting = asyncio.ensure_future(gate.acquire("a" * 64, "alive"))
        await asyncio.sleep(0.01)
        clock.now += 6
        gate.heartbeat("alive")
        assert await gate.sweep() == 1
        assert await waiting == (PAY, None)  # the live worker pays: the dead one's call never came back
        return gate

    gate = run(scenario())
    assert gate.counts["voided"] == 1 and gate.in_flight == 1 and "dead" not in gate.seen
