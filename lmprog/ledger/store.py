"""The Ledger: one SQLite file of LM calls, which is both the record of what was spent and the cache.

Writes commit one call at a time in WAL mode, so a killed process loses no finished call, and
many threads and processes can share one file. Each thread gets its own connection.
This package imports no LM library: the CLI's ``cache`` commands stay fast.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from lmprog.errors import LedgerError
from lmprog.ledger import codec, queries, schema
from lmprog.ledger.claims import Claims
from lmprog.ledger.connections import Connections
from lmprog.ledger.merge import MergeCounts, merge_shard
from lmprog.ledger.records import CachedAnswer, CallRecord
from lmprog.ledger.runs import RunContext, RunLog
from lmprog.ledger.texts import Texts

DEFAULT_LEDGER = Path("cache") / "lmprog.db"
CACHE_MODES = ("readwrite", "replay", "refresh", "off")


def ledger_path(path: str | os.PathLike | None = None) -> Path:
    """``path``, else ``$LMPROG_LEDGER``, else ``cache/lmprog.db`` under the current directory."""
    return Path(path if path is not None else os.environ.get("LMPROG_LEDGER") or DEFAULT_LEDGER)


class Ledger:
    """A SQLite file of LM calls; safe to share between threads and processes.

    >>> ledger = Ledger("cache/lmprog.db")
    >>> lm = lmprog.make_lm(ledger=ledger)
    >>> with lmprog.run.open_run(lm, "my-script"):
    ...     ...  # the LM's calls in this block are recorded in this run (the run context says which)

    ``Ledger(path)`` creates the file if needed and migrates it; ``Ledger.open_readonly(path)``
    (or ``readonly=True``) only reads an existing one.
    """

    def __init__(self, path: str | os.PathLike | None = None, *, readonly: bool = False):
        self.path = ledger_path(path)
        self.readonly = readonly
        self._connections = Connections(self.path, readonly=readonly)
        self._texts = Texts()
        self._claims = Claims(self._connections)
        self._run_state = RunLog(self._connections)
        if readonly:
            self._check_readable()
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            schema.migrate(self._connections.database(), self.path)
        except sqlite3.DatabaseError as exc:
            raise LedgerError(f"cannot open ledger {self.path}: {exc}") from exc
        atexit.register(self._run_state.at_exit)

    @classmethod
    def open_readonly(cls, path: str | os.PathLike | None = None) -> Ledger:
        """An existing ledger, for reading only: never migrated, its journal mode left as it is, hits
        not counted; the file stays byte-identical. Every read method works; writing ones raise
        :class:`LedgerError`. A file from a newer lmprog is read if it has the tables reading needs."""
        return cls(path, readonly=True)

    def _check_readable(self) -> None:
        if not self.path.is_file():
            what = "is not a file" if self.path.exists() else "does not exist"
            raise LedgerError(f"cannot open ledger {self.path}: the file {what}")
        try:
            missing = schema.missing_for_reading(self._connections.get())
            newer = schema.newer_migrations(self._connections.database()) if missing else []
        except sqlite3.DatabaseError as exc:
            self._connections.close()
            raise LedgerError(f"cannot open ledger {self.path}: {exc}") from exc
        if missing:
            self._connections.close()
            by = f"; it was written by a newer lmprog (migrations {newer}): upgrade lmprog" if newer else ""
            raise LedgerError(f"cannot read ledger {self.path}: it has no {', '.join(missing)}{by}")

    def _require_writable(self, action: str) -> None:
        if self.readonly:
            raise LedgerError(f"cannot {action}: ledger {self.path} is open read-only (open it with Ledger(path) "
                              "to write)")

    @property
    def schema_version(self) -> int:
        return len(schema.applied(self._connections.database()))

    def close(self) -> None:
        """Flush pending hit counts and close every connection."""
        if not self.readonly:
            self._run_state.at_exit()
        self._claims.close()
        self._connections.close()

    def __repr__(self) -> str:
        return f"Ledger({str(self.path)!r}{', readonly=True' if self.readonly else ''})"

    # -- runs --------------------------------------------------------------------------------

    def start_run(self, command: str, arguments: dict | list | None = None, *, run_id: str | None = None) -> str:
        """Record a run and return its id; calls name it in their record, hits with :meth:`count_hit`.

        Give ``run_id`` to continue a run (a resumed compile keeps its id); it is created if new.
        """
        self._require_writable("start a run")
        return self._run_state.start(command, arguments, run_id)

    def end_run(self, run_id: str) -> None:
        self._require_writable("end a run")
        self._run_state.end(run_id)

    def run(self, command: str, arguments: dict | list | None = None, *, run_id: str | None = None) -> RunContext:
        """Context manager recording a run's start and end: ``with ledger.run("compile", {...}) as run_id``.
        It does not make LM calls belong to the run; :func:`lmprog.run.open_run` does (it uses this)."""
        self._require_writable("start a run")
        return RunContext(self, command, arguments, run_id)

    def count_hit(self, run_id: str) -> None:
        """Count one cache hit for the run; counts reach the file every few seconds and at run end."""
        self._require_writable("count a hit")
        self._run_state.count_hit(run_id)

    def flush_hits(self) -> None:
        self._run_state.flush()

    # -- calls --------------------------------------------------------------------------------

    def get(self, key: str) -> CachedAnswer | None:
        """The successful answer stored under ``key``, or None."""
        row = self._connections.get().execute(
            "SELECT model, response, response_extra, finish_reason, prompt_tokens, completion_tokens "
            "FROM calls WHERE key = ? AND error_kind IS NULL",
            (bytes.fromhex(key),),
        ).fetchone()
        if row is None:
            return None
        return CachedAnswer(key, row[0], row[1], codec.unpack_json(row[2]), row[3], row[4], row[5])

    def failure(self, key: str, kinds: tuple[str, ...]) -> tuple[str, str] | None:
        """The last recorded failure of ``key`` whose kind is one of ``kinds`` (``(kind, message)``), if the key
        has no successful answer; None otherwise."""
        marks = ",".join("?" * len(kinds))
        row = self._connections.get().execute(
            f"SELECT error_kind, error FROM calls WHERE key = ? AND error_kind IN ({marks}) "
            "AND NOT EXISTS (SELECT 1 FROM calls ok WHERE ok.key = calls.key AND ok.error_kind IS NULL) "
            "ORDER BY id DESC LIMIT 1", (bytes.fromhex(key), *kinds)).fetchone()
        return (row[0], row[1] or "") if row else None

    def put(self, record: CallRecord) -> None:
        """Store one call and commit. A success replaces any earlier success with the same key."""
        self._require_writable("store a call")
        request, new_texts = self._texts.pack_request(self._connections.get(), record.request)
        extra = codec.pack_json(record.response_extra) if record.response_extra else None
        key = bytes.fromhex(record.key)
        values = (
            key, record.model, request, record.response, extra,
            record.finish_reason, record.prompt_tokens, record.completion_tokens, record.cost_usd,
            record.latency_ms, record.created_at, record.run_id, record.module, record.error_kind, record.error,
        )
        with self._connections.write() as conn:
            if new_texts:
                conn.executemany("INSERT OR IGNORE INTO texts (hash, data) VALUES (?, ?)",
                                 [(h, codec.pack_text(t)) for h, t in new_texts.items()])
            if record.error_kind is None:
                conn.execute("DELETE FROM calls WHERE key = ? AND error_kind IS NULL", (key,))
                conn.execute("DELETE FROM claims WHERE key = ?", (key,))
            conn.execute(
                "INSERT INTO calls (key, model, request, response, response_extra, finish_reason, prompt_tokens, "
                "completion_tokens, cost_usd, latency_ms, created_at, run_id, module, error_kind, error) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                values,
            )
        self._texts.stored(new_texts)
        if record.error_kind is None:
            self._claims.answered(record.key)
        self._run_state.maybe_flush()

    def claim(self, key: str) -> contextlib.AbstractContextManager[bool]:
        """Make one call per key at a time, across threads and processes; yields True if it waited
        for another thread or process that was making the same call (look the key up again then).

        Threads and processes that ask for the same uncached call together wait for the first one's
        answer instead of paying for it again; :meth:`put` of a success ends the claim.
        """
        self._require_writable("claim a call")
        return self._claims.claim(key)

    def merge(self, shard: str | os.PathLike) -> MergeCounts:
        """Add the calls, texts, runs and hits of the ledger at ``shard`` that this one does not hold yet;
        merging the same shard again adds nothing (see :mod:`lmprog.ledger.merge`). The shard is only read."""
        self._require_writable("merge a ledger into it")
        source = Ledger.open_readonly(shard)
        try:
            if os.path.samefile(source.path, self.path):
                raise LedgerError(f"cannot merge ledger {self.path} into itself")
            return merge_shard(self._connections, source._connections, MergeCounts(str(source.path)))
        except sqlite3.DatabaseError as exc:
            raise LedgerError(f"cannot merge ledger {source.path} into {self.path}: {exc}") from exc
        finally:
            source.close()

    # -- reading ------------------------------------------------------------------------------

    def find(self, key_prefix: str) -> list[dict]:
        """Every row (successes and failures) whose key starts with ``key_prefix``, request included."""
        return queries.find(self._connections.get(), key_prefix)

    def calls(self, *, limit: int | None = 20, run_id: str | None = None, errors: bool | None = None) -> list[dict]:
        """Recent calls, newest first, without request bodies."""
        return queries.calls(self._connections.get(), limit=limit, run_id=run_id, errors=errors)

    def iter_export(self) -> Iterator[dict]:
        """Every call with its full request, oldest first (for ``lmprog cache export``)."""
        return queries.iter_export(self._connections.get())

    def runs(self, limit: int | None = 20) -> list[dict]:
        return queries.runs(self._connections.get(), limit)

    def stats(self, run_id: str | None = None) -> dict:
        """Totals: paid calls, failed attempts, ledger hits, tokens, USD, by model and by module."""
        self.flush_hits()
        totals = queries.stats(self._connections.get(), run_id)
        totals["ledger"] = str(self.path)
        totals["bytes"] = self.file_bytes()
        if run_id:
            totals["run_id"] = run_id
        return totals

    def module_stats(self, module_prefix: str) -> dict:
        """Paid calls of the modules whose name starts with ``module_prefix`` (e.g. ``Classify:spam``):
        how many, their mean latency and mean USD (None when some were unpriced)."""
        return queries.module_stats(self._connections.get(), module_prefix)

    def file_bytes(self) -> int:
        """Size on disk, including the write-ahead log."""
        return sum(p.stat().st_size for p in (self.path, Path(f"{self.path}-wal")) if p.exists())

    def checkpoint(self) -> None:
        """Fold the write-ahead log into the main file."""
        self._require_writable("checkpoint")
        self._connections.get().execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def integrity_check(self) -> str:
        return self._connections.get().execute("PRAGMA integrity_check").fetchone()[0]

    def clear(self, *, run_id: str | None = None, errors_only: bool = False) -> int:
        """Delete calls (all, one run's, or failed attempts only); returns how many were deleted."""
        self._require_writable("delete calls")
        with self._connections.write() as conn:
            deleted = queries.clear(conn, run_id=run_id, errors_only=errors_only)
        self._texts.forget()
        return deleted
