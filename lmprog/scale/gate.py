"""The call gate: one coordinator per Ray job that every worker asks before it pays for an LM call.

It lives in one Ray actor on the driver's node and holds, for the whole cluster:

- the **ledger**: a call whose key the ledger already answers is returned from it (no LM call is made),
  and every call a worker makes (success or failed attempt) is recorded there the moment it ends,
  one commit per call, so neither a killed worker nor a killed driver loses a finished call;
- **claims**: one worker pays for a key at a time; the others wait for its answer, so identical
  inputs on different workers are sent once. A worker that stops sending heartbeats (killed) loses
  its claims, its in-flight slots and its budget reservations, so others take over its calls;
- **limits**: a requests-per-second pace and an in-flight cap across every worker, and a pause for
  every worker when the provider answers with ``Retry-After``;
- the **budget**: ``max_calls`` / ``max_usd`` reserved before a call is sent and settled when it ends,
  so the caps hold however many workers there are.

:class:`GateState` is the plain asyncio logic (tested without Ray); :func:`start_gate` runs it in a
named async Ray actor.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable

from lmprog.run.budget import Budget

HIT, PAY, BUDGET = "hit", "pay", "budget"
OWNER_TIMEOUT = 5.0  # seconds without a heartbeat after which a worker counts as dead
SWEEP_EVERY = 0.5


@dataclasses.dataclass
class _Claim:
    owner: str
    done: asyncio.Event
    slot: bool = False  # holds an in-flight slot (a claim always holds a budget reservation)


class GateState:
    """Claims, limits, budget and the ledger behind :func:`start_gate` (one instance per job).

    ``ledger`` is a writable :class:`~lmprog.ledger.Ledger` (None: nothing is looked up or recorded);
    ``run_id`` the ledger run calls and hits are filed under.
    """

    def __init__(self, *, ledger=None, run_id: str | None = None, rps: float | None = None,
                 max_in_flight: int | None = None, budget: Budget | None = None,
                 owner_timeout: float = OWNER_TIMEOUT, clock: Callable[[], float] = time.monotonic):
        self.ledger, self.run_id = ledger, run_id
        self.interval = 1.0 / rps if rps else 0.0
        self.max_in_flight = max_in_flight
        self.budget = budget or Budget()
        self.owner_timeout, self.clock = owner_timeout, clock
        self.claims: dict[str, _Claim] = {}
        self.seen: dict[str, float] = {}
        self.in_flight = self.max_seen = 0
        self.next_slot = self.paused_until = 0.0
        self.counts = {"paid": 0, "failed": 0, "hits": 0, "waited": 0, "voided": 0, "retry_after": 0}
        self.usd = 0.0
        self.stopped_by: str | None = None
        self._changed: asyncio.Condition | None = None
        self._sweeper: asyncio.Task | None = None

    # -------------------------------------------------------------------------------- workers

    async def acquire(self, key: str, owner: str) -> tuple[str, object]:
        """``(HIT, answer dict)``, ``(BUDGET, message)``, or ``(PAY, None)``: the caller now holds the key's
        claim, one in-flight slot and one budget reservation, and must :meth:`release` it."""
        self.heartbeat(owner)
        self._start_sweeper()
        while True:
            answer = self._lookup(key)
            if answer is not None:
                return HIT, answer
            claim = self.claims.get(key)
            if claim is None:
                break
            self.counts["waited"] += 1
            await claim.done.wait()
        stop = self._reserve_budget()
        if stop is not None:
            return BUDGET, stop
        claim = self.claims[key] = _Claim(owner, asyncio.Event())
        await self._wait_for_slot()
        if self.claims.get(key) is not claim:  # voided while waiting (its owner was presumed dead)
            await self._free_slot()
            return await self.acquire(key, owner)
        claim.slot = True
        return PAY, None

    async def release(self, key: str, owner: str, record: dict | None, retry_after: float | None = None) -> None:
        """End ``owner``'s call of ``key``: record it (a success or a failed attempt) and free its claim and slot."""
        self.heartbeat(owner)
        claim = self.claims.get(key)
        if record is not None:
            self._record(record)
        if retry_after:
            self.counts["retry_after"] += 1
            self.paused_until = max(self.paused_until, self.clock() + float(retry_after))
        if claim is not None and claim.owner == owner:
            self._end(key, claim)
        await self._notify()

    def heartbeat(self, owner: str) -> None:
        self.seen[owner] = self.clock()

    # -------------------------------------------------------------------------------- the job

    def stats(self) -> dict:
        return {**self.counts, "usd": round(self.usd, 8), "in_flight": self.in_flight,
                "max_in_flight_seen": self.max_seen, "stopped_by": self.stopped_by, "workers": sorted(self.seen)}

    def close(self) -> dict:
        """Flush hit counts and close the ledger; returns :meth:`stats`."""
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self.ledger is not None:
            self.ledger.close()
        return self.stats()

    # -------------------------------------------------------------------------------- inside

    def _lookup(self, key: str) -> dict | None:
        if self.ledger is None:
            return None
        hit = self.ledger.get(key)
        if hit is None:
            return None
        self.counts["hits"] += 1
        if self.run_id is not None:
            self.ledger.count_hit(self.run_id)
        return dataclasses.asdict(hit)

    def _record(self, record: dict) -> None:
        from lmprog.ledger import CallRecord

        if record.get("error_kind") is None:
            self.counts["paid"] += 1
            self.usd += float(record.get("cost_usd") or 0.0)
        else:
            self.counts["failed"] += 1
        if self.ledger is not None:
            self.ledger.put(CallRecord(**{**record, "run_id": self.run_id}))

    def _reserve_budget(self) -> str | None:
        reserved = len(self.claims)
        if self.budget.max_calls is not None and self.counts["paid"] + reserved >= self.budget.max_calls:
            self.stopped_by = "max_calls"
            return f"budget exhausted: {self.counts['paid']:,} of {self.budget.max_calls:,} paid LM calls used"
        if self.budget.max_usd is not None and self.usd >= self.budget.max_usd:
            self.stopped_by = "max_usd"
            return f"budget exhausted: ${self.usd:,.4f} of ${self.budget.max_usd:,.4f} spent"
        return None

    async def _wait_for_slot(self) -> None:
        """An in-flight slot, then the next request-per-second slot after any Retry-After pause."""
        changed = self._condition()
        async with changed:
            await changed.wait_for(lambda: self.max_in_flight is None or self.in_flight < self.max_in_flight)
            self.in_flight += 1
            self.max_seen = max(self.max_seen, self.in_flight)
        while True:
            now = self.clock()
            start = max(now, self.paused_until, self.next_slot)
            if start <= now:
                self.next_slot = now + self.interval
                return
            await asyncio.sleep(start - now)

    def _end(self, key: str, claim: _Claim) -> None:
        del self.claims[key]
        if claim.slot:
            self.in_flight -= 1
        claim.done.set()

    async def _free_slot(self) -> None:
        self.in_flight -= 1
        await self._notify()

    async def _notify(self) -> None:
        changed = self._condition()
        async with changed:
            changed.notify_all()

    def _condition(self) -> asyncio.Condition:
        if self._changed is None:
            self._changed = asyncio.Condition()
        return self._changed

    def _start_sweeper(self) -> None:
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep_forever())

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_EVERY)
            await self.sweep()

    async def sweep(self) -> int:
        """Void the claims of workers silent for ``owner_timeout`` seconds; returns how many."""
        now = self.clock()
        dead = {owner for owner, seen in self.seen.items() if now - seen > self.owner_timeout}
        voided = [(key, claim) for key, claim in self.claims.items() if claim.owner in dead]
        for key, claim in voided:
            self._end(key, claim)
        for owner in dead:
            del self.seen[owner]
        self.counts["voided"] += len(voided)
        if voided:
            await self._notify()
        return len(voided)


def start_gate(name: str, *, ledger_path: str | None, run_id: str | None, rps: float | None,
               max_in_flight: int | None, budget: Budget | None, owner_timeout: float = OWNER_TIMEOUT):
    """Start the job's gate as a named async Ray actor on this (the driver's) node; returns its handle."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    here = NodeAffinitySchedulingStrategy(node_id=ray.get_runtime_context().get_node_id(), soft=False)
    actor = ray.remote(num_cpus=0, max_concurrency=10_000, scheduling_strategy=here)(GateActor)
    return actor.options(name=name).remote(ledger_path=ledger_path, run_id=run_id, rps=rps,
                                           max_in_flight=max_in_flight, budget=budget, owner_timeout=owner_timeout)


class GateActor:
    """The Ray actor around :class:`GateState` (its methods are async, so waiting calls do not block others)."""

    def __init__(self, *, ledger_path, run_id, rps, max_in_flight, budget, owner_timeout):
        ledger = None
        if ledger_path is not None:
            from lmprog.ledger import Ledger

            ledger = Ledger(ledger_path)
        self.state = GateState(ledger=ledger, run_id=run_id, rps=rps, max_in_flight=max_in_flight, budget=budget,
                               owner_timeout=owner_timeout)

    async def acquire(self, key: str, owner: str):
        return await self.state.acquire(key, owner)

    async def release(self, key: str, owner: str, record: dict | None, retry_after: float | None = None):
        await self.state.release(key, owner, record, retry_after)

    async def heartbeat(self, owner: str) -> None:
        self.state.heartbeat(owner)

    async def stats(self) -> dict:
        return self.state.stats()

    async def close(self) -> dict:
        return self.state.close()
