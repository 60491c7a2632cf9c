"""Claims: one call per key at a time, across threads, Ledger objects and processes.

Threads and processes that ask for the same uncached call together wait for the first one's answer
instead of paying for it again. Threads of one Ledger object wait on an event; everyone else sees the
key's row in ``claims`` (the process id and the Ledger object that holds it) and polls until the row
is released or the answer is stored. A claim is void when its holder is gone: its process has died,
its Ledger object (in this process) was closed, or it is older than an hour.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import uuid
import weakref
from collections.abc import Iterator

from lmprog.ledger.connections import Connections

CLAIM_STALE_SECONDS = 3600.0  # longer than any call (with retries) takes
CLAIM_POLL_SECONDS = 0.05

# The owner ids of this process's open Ledger objects: like a process id, an owner id that is not
# here cannot be making a call any more.
_open_owners: set[str] = set()


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


class Claims:
    """The claims one Ledger object takes and waits on; ``owner`` identifies it in ``claims`` rows."""

    def __init__(self, connections: Connections):
        self._connections = connections
        self._lock = threading.Lock()
        self._inflight: dict[str, threading.Event] = {}
        self._held: set[str] = set()  # keys whose claims row this object wrote
        self._settled: set[str] = set()  # held keys whose claims row a stored answer has deleted
        self.owner = uuid.uuid4().hex
        _open_owners.add(self.owner)
        weakref.finalize(self, _open_owners.discard, self.owner)

    def close(self) -> None:
        """The Ledger object is closed: claims it left behind are void from now on."""
        _open_owners.discard(self.owner)

    @contextlib.contextmanager
    def claim(self, key: str) -> Iterator[bool]:
        """Hold the key's claim; yields True if it waited for another caller of the same key."""
        with self._lock:
            running = self._inflight.get(key)
            if running is None:
                self._inflight[key] = threading.Event()
        if running is not None:
            running.wait()
            yield True
            return
        try:
            waited = self._take(key)
            try:
                yield waited
            finally:
                self._release(key)
        finally:
            with self._lock:
                self._inflight.pop(key).set()

    def answered(self, key: str) -> None:
        """The key's answer was stored, and its claim row deleted in the same transaction: releasing the
        claim (if this object holds it) has nothing left to write."""
        with self._lock:
            if key in self._held:
                self._settled.add(key)

    def _take(self, key: str) -> bool:
        """Take the key's claim, waiting while a live holder has it or until its answer is stored."""
        blob, waited = bytes.fromhex(key), False
        _open_owners.add(self.owner)  # in use again after close()
        while True:
            with self._connections.write() as conn:
                row = conn.execute("SELECT pid, owner, claimed_at FROM claims WHERE key = ?", (blob,)).fetchone()
                taken = row is None or self._void(*row)
                if taken:
                    conn.execute("INSERT OR REPLACE INTO claims (key, pid, owner, claimed_at) VALUES (?, ?, ?, ?)",
                                 (blob, os.getpid(), self.owner, time.time()))
            if taken:
                with self._lock:
                    self._held.add(key)
                return waited
            if self._answered(blob):
                return True
            waited = True
            time.sleep(CLAIM_POLL_SECONDS)

    def _void(self, pid: int, owner: str | None, claimed_at: float) -> bool:
        """Left behind by this Ledger object, or its holder is gone (or it is too old to be real)."""
        if time.time() - claimed_at > CLAIM_STALE_SECONDS:
            return True
        if pid != os.getpid():
            return not process_alive(pid)
        return owner == self.owner or owner not in _open_owners

    def _answered(self, blob: bytes) -> bool:
        return self._connections.get().execute(
            "SELECT 1 FROM calls WHERE key = ? AND error_kind IS NULL", (blob,)).fetchone() is not None

    def _release(self, key: str) -> None:
        with self._lock:
            self._held.discard(key)
            if key in self._settled:
                self._settled.discard(key)
                return
        with self._connections.write() as conn:
            conn.execute("DELETE FROM claims WHERE key = ? AND pid = ? AND owner = ?",
                         (bytes.fromhex(key), os.getpid(), self.owner))
