"""A worker's LM engine: the same call keys as the ledger engine, but the ledger is the job's gate.

A Ray worker has no ledger file of its own. :class:`GatedEngine` keys each DSPy request exactly as
:class:`lmprog.lm.engine.LedgerEngine` does (:func:`~lmprog.lm.engine.canonical_request` and
:func:`~lmprog.ledger.call_key`, the sample number and rollout id of the call), asks the gate for the
key, and either answers from the ledger's stored answer or makes the call and hands the whole record
(request, response, tokens, cost, latency, error kind) back to the gate, which records it in the
driver's ledger. It also keeps the records in :attr:`GatedEngine.log` so a batch can report what it paid.
"""

from __future__ import annotations

import threading
import time

from lmprog import secrets
from lmprog.errors import BudgetExceededError, LmprogError
from lmprog.ledger import CallRecord, call_key
from lmprog.lm import dspy_compat
from lmprog.lm.context import calling_module, current_call
from lmprog.lm.engine import canonical_request, error_kind
from lmprog.lm.pricing import call_cost
from lmprog.scale.gate import BUDGET, HIT

HINTS = ("supports_response_schema", "supports_function_calling", "supports_reasoning", "supported_params")


class GatedEngine:
    """DSPy engine ``complete(Request) -> Response`` for a worker: ``base`` is the ledger engine
    ``make_lm`` built (its inner engine makes the calls, its capability hints are passed on), ``gate``
    a :class:`GateClient`."""

    def __init__(self, base, gate, *, secrets: tuple[str, ...] = ()):
        self.base, self.inner, self.gate = base, base.inner, gate
        self._secrets = tuple(s for s in secrets if s)
        self._lock = threading.Lock()
        self.log: list[dict] = []
        self.hits = 0

    def __getattr__(self, name):
        if name in HINTS:  # what DSPy reads from a custom engine decides the request: mirror the ledger engine
            return getattr(self.base, name)
        raise AttributeError(name)

    def complete(self, request):
        call = current_call.get()
        keyed = {"request": canonical_request(request), "sample": call.samples_done if call else 0}
        if call is not None and call.rollout_id is not None:
            keyed["rollout"] = call.rollout_id
        key = call_key(keyed)
        verdict, data = self.gate.acquire(key)
        if verdict == HIT:
            with self._lock:
                self.hits += 1
            _sample_done(call)
            return response_from_answer(data, request)
        if verdict == BUDGET:
            raise BudgetExceededError(str(data))
        return self._call(request, key, keyed, call)

    def _call(self, request, key: str, keyed: dict, call):
        record = CallRecord(key=key, model=request.model, request=keyed, module=calling_module())
        started = time.perf_counter()
        try:
            response = self.inner.complete(request)
        except BaseException as exc:
            record.latency_ms = (time.perf_counter() - started) * 1000
            if isinstance(exc, LmprogError) or not isinstance(exc, Exception):
                self.gate.release(key, None)
                raise
            record.error_kind = error_kind(exc)
            record.error = secrets.mask(f"{type(exc).__name__}: {exc}", self._secrets)[:2000]
            self._keep(record)
            self.gate.release(key, vars(record), retry_after=getattr(exc, "retry_after", None))
            raise
        record.latency_ms = (time.perf_counter() - started) * 1000
        fill_record(record, response)
        self._keep(record)
        self.gate.release(key, vars(record))
        _sample_done(call)
        return response

    def _keep(self, record: CallRecord) -> None:
        with self._lock:
            self.log.append(vars(record))

    def drain(self) -> tuple[list[dict], int]:
        """The records and hit count since the last drain."""
        with self._lock:
            log, hits, self.log, self.hits = self.log, self.hits, [], 0
        return log, hits

    def stream(self, request):
        from dspy.lm15 import response_to_events

        return response_to_events(self.complete(request))


class GateClient:
    """A worker process's side of the gate: blocking calls on the actor, and a heartbeat thread that
    tells the gate this process is alive (a killed worker's claims are voided when it falls silent)."""

    def __init__(self, actor, owner: str, *, every: float = 1.0):
        self.actor, self.owner = actor, owner
        self._stop = threading.Event()
        self._beat = threading.Thread(target=self._heartbeat, args=(every,), name="lmprog-gate-heartbeat",
                                      daemon=True)
        self._beat.start()

    def acquire(self, key: str):
        import ray

        return ray.get(self.actor.acquire.remote(key, self.owner))

    def release(self, key: str, record: dict | None, retry_after: float | None = None) -> None:
        import ray

        ray.get(self.actor.release.remote(key, self.owner, record, retry_after))

    def _heartbeat(self, every: float) -> None:
        while not self._stop.wait(every):
            self.actor.heartbeat.remote(self.owner)

    def close(self) -> None:
        self._stop.set()


def fill_record(record: CallRecord, response) -> None:
    """Response text, finish reason, tokens and cost into ``record`` (the rest of the response, when it
    holds more than text, as ``response_extra``), as the ledger engine stores them."""
    usage = response.usage
    record.response = response.message.text
    record.finish_reason = response.finish_reason
    record.prompt_tokens = usage.input_tokens
    record.completion_tokens = usage.output_tokens
    record.cost_usd = call_cost(record.model, usage.input_tokens, usage.output_tokens)
    plain = (len(response.message.parts) == 1 and response.message.parts[0].type == "text"
             and response.logprobs is None and not response.adaptations)
    if not plain:
        record.response_extra = dspy_compat.response_to_dict(response)


def response_from_answer(answer: dict, request):
    """A Response rebuilt from a stored answer, as a ledger hit: no usage, a truncation reported as finished."""
    from dspy.lm15 import Message, Response, Usage

    if answer.get("response_extra") is not None:
        data = dict(answer["response_extra"])
        data.pop("usage", None)
        if data.get("finish_reason") == "length":
            data["finish_reason"] = "stop"
        return dspy_compat.response_from_dict(data)
    finish = answer.get("finish_reason")
    return Response(id=None, model=request.model, message=Message.assistant(answer.get("response") or ""),
                    finish_reason="stop" if finish in (None, "length") else finish, usage=Usage())


def _sample_done(call) -> None:
    if call is not None:
        call.samples_done += 1
