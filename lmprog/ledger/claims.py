"""Claims: one call per key at a time, across threads and processes.

Threads and processes that ask for the same uncached call together wait for the first one's answer
instead of paying for it again. Threads of one Ledger object wait on an event; others see the key's
row in ``claims`` and poll until it is released or the answer is stored. A claim whose process has
died (or that is older than an hour) is void.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator

from lmprog.ledger.connections import Connections

CLAIM_STALE_SECONDS = 3600.0  # longer than any call (with retries) takes
CLAIM_POLL_SECONDS = 0.05


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


class Claims:
    """The claims one Ledger object takes and waits on."""

    def __init__(self, connections: Connections):
        self._connections = connections
        self._lock = threading.Lock()
        self._inflight: dict[str, threading.Event] = {}

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

    def _take(self, key: str) -> bool:
        """Take the key's claim, waiting while a live process holds it or until its answer is stored."""
        blob, pid, waited = bytes.fromhex(key), os.getpid(), False
        while True:
            with self._connections.write() as conn:
                row = conn.execute("SELECT pid, claimed_at FROM claims WHERE key = ?", (blob,)).fetchone()
                if row is None or row[0] == pid or not process_alive(row[0]) \
                        or time.time() - row[1] > CLAIM_STALE_SECONDS:
                    conn.execute("INSERT OR REPLACE INTO claims (key, pid, claimed_at) VALUES (?, ?, ?)",
                                 (blob, pid, time.time()))
                    return waited
            if self._answered(blob):
                return True
            waited = True
            time.sleep(CLAIM_POLL_SECONDS)

    def _answered(self, blob: bytes) -> bool:
        return self._connections.get().execute(
            "SELECT 1 FROM calls WHERE key = ? AND error_kind IS NULL", (blob,)).fetchone() is not None

    def _release(self, key: str) -> None:
        with self._connections.write() as conn:
            conn.execute("DELETE FROM claims WHERE key = ? AND pid = ?", (bytes.fromhex(key), os.getpid()))
