"""Runs in the ledger: rows of the ``runs`` table and their hit counts (which run is current is not the
ledger's business: see :mod:`lmprog.run`)."""

from __future__ import annotations

import datetime as _dt
import sqlite3
import threading
import time
import uuid
from typing import TYPE_CHECKING

from lmprog.ledger.connections import Connections
from lmprog.ledger.records import canonical_json

if TYPE_CHECKING:  # pragma: no cover
    from lmprog.ledger.store import Ledger

HIT_FLUSH_SECONDS = 2.0


class RunLog:
    """Runs as rows of the ``runs`` table, and the hit counts not yet written to them.

    The ledger holds no "current run": which run a call belongs to is the caller's business (the run
    context, :mod:`lmprog.run`), passed explicitly to :meth:`count_hit` and in each call record.
    """

    def __init__(self, connections: Connections):
        self._connections = connections
        self._lock = threading.Lock()
        self._pending_hits: dict[str, int] = {}
        self._last_flush = time.monotonic()
        # Who counts this object's hits in ``run_hits``: a ledger merged twice counts each counter once.
        self.counter = "hits-" + uuid.uuid4().hex

    def start(self, command: str, arguments: dict | list | None = None, run_id: str | None = None) -> str:
        run_id = run_id or _dt.datetime.now().strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        self._connections.get().execute(
            "INSERT INTO runs (id, command, arguments, started_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET ended_at = NULL",
            (run_id, command, canonical_json(arguments) if arguments is not None else None, time.time()),
        )
        return run_id

    def end(self, run_id: str) -> None:
        self.flush()
        self._connections.get().execute("UPDATE runs SET ended_at = ? WHERE id = ?", (time.time(), run_id))

    def count_hit(self, run_id: str) -> None:
        with self._lock:
            self._pending_hits[run_id] = self._pending_hits.get(run_id, 0) + 1
        self.maybe_flush()

    def maybe_flush(self) -> None:
        if self._pending_hits and time.monotonic() - self._last_flush > HIT_FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            pending, self._pending_hits = self._pending_hits, {}
            self._last_flush = time.monotonic()
        if not pending:
            return
        with self._connections.write() as conn:
            for run_id, hits in pending.items():
                conn.execute("UPDATE runs SET hits = hits + ? WHERE id = ?", (hits, run_id))
                conn.execute("INSERT INTO run_hits (run_id, source, hits) SELECT ?, ?, ? "
                             "WHERE EXISTS (SELECT 1 FROM runs WHERE id = ?) "
                             "ON CONFLICT (run_id, source) DO UPDATE SET hits = hits + excluded.hits",
                             (run_id, self.counter, hits, run_id))

    def at_exit(self) -> None:
        """Write pending hits (at close and at interpreter exit)."""
        try:
            self.flush()
        except sqlite3.Error:
            pass


class RunContext:
    """``with ledger.run(command, arguments) as run_id:`` opens the run and ends it on exit."""

    def __init__(self, ledger: Ledger, command: str, arguments, run_id: str | None = None):
        self.ledger, self.command, self.arguments = ledger, command, arguments
        self.run_id: str | None = run_id

    def __enter__(self) -> str:
        self.run_id = self.ledger.start_run(self.command, self.arguments, run_id=self.run_id)
        return self.run_id

    def __exit__(self, *exc) -> None:
        self.ledger.end_run(self.run_id)
