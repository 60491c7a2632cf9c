"""The SQLite ledger: one row per LM call, which is both the record of what was spent and the cache.

Layout:

``calls``  one row per call attempt. A successful call has ``error_kind`` NULL and a unique ``key``;
           failed attempts (rate limits, server errors, timeouts) are kept too, for reports.
``texts``  long strings of requests, stored once by content hash (the system prompt and few-shot
           demos repeat across thousands of calls; storing them once is what keeps the file small).
``runs``   one row per run (a command or a Python session): totals and ledger hits.
``claims`` (schema version 2) the keys being called right now, and by which process, so that two
           processes asking for the same uncached call pay for it once: the second waits for the
           first's answer. A claim whose process has died (or that is older than an hour) is void.

Writes commit one call at a time in WAL mode, so a killed process loses no finished call, and
many threads and processes can share one file. Each thread gets its own connection.
This module imports no LM library: the CLI's ``cache`` commands stay fast.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as _dt
import hashlib
import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlite_utils
from sqlite_utils.migrations import Migrations

from lmprog import ledger_codec as codec
from lmprog.errors import LedgerError

DEFAULT_LEDGER = Path("cache") / "lmprog.db"
SCHEMA_VERSION = 2
CACHE_MODES = ("readwrite", "replay", "refresh", "off")

_BUSY_TIMEOUT_MS = 60_000
_HIT_FLUSH_SECONDS = 2.0
_CLAIM_STALE_SECONDS = 3600.0  # longer than any call (with retries) takes
_CLAIM_POLL_SECONDS = 0.05

migrations = Migrations("lmprog.ledger")


@migrations()
def m001_initial(db: sqlite_utils.Database) -> None:
    db.execute(
        """CREATE TABLE calls (
            id INTEGER PRIMARY KEY,
            key BLOB NOT NULL,
            model TEXT NOT NULL,
            request BLOB NOT NULL,
            response TEXT,
            response_extra BLOB,
            finish_reason TEXT,
            prompt_tokens INTEGER,
            completion_tokens INTEGER,
            cost_usd REAL,
            latency_ms REAL,
            created_at REAL NOT NULL,
            run_id TEXT,
            module TEXT,
            error_kind TEXT,
            error TEXT
        )"""
    )
    # One successful answer per key; failed attempts may repeat.
    db.execute("CREATE UNIQUE INDEX calls_key_ok ON calls(key) WHERE error_kind IS NULL")
    db.execute("CREATE TABLE texts (hash TEXT PRIMARY KEY, data BLOB NOT NULL) WITHOUT ROWID")
    db.execute(
        """CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            command TEXT NOT NULL,
            arguments TEXT,
            started_at REAL NOT NULL,
            ended_at REAL,
            hits INTEGER NOT NULL DEFAULT 0
        )"""
    )


@migrations()
def m002_claims(db: sqlite_utils.Database) -> None:
    db.execute("CREATE TABLE claims (key BLOB PRIMARY KEY, pid INTEGER NOT NULL, claimed_at REAL NOT NULL)")


def ledger_path(path: str | os.PathLike | None = None) -> Path:
    """``path``, else ``$LMPROG_LEDGER``, else ``cache/lmprog.db`` under the current directory."""
    return Path(path if path is not None else os.environ.get("LMPROG_LEDGER") or DEFAULT_LEDGER)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def canonical_json(value: Any) -> str:
    """The one serialization keys are computed from: sorted keys, no whitespace, UTF-8 text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def call_key(canonical_request: dict) -> str:
    """sha256 (hex) of a canonical request. Callers must leave credentials and URLs out of it."""
    return hashlib.sha256(canonical_json(canonical_request).encode("utf-8")).hexdigest()


@dataclass
class CallRecord:
    """One LM call as the ledger stores it. ``request`` is the canonical request (a dict)."""

    key: str
    model: str
    request: dict
    response: str | None = None
    response_extra: dict | None = None
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None
    latency_ms: float | None = None
    created_at: float = field(default_factory=time.time)
    run_id: str | None = None
    module: str | None = None
    error_kind: str | None = None
    error: str | None = None


@dataclass
class CachedAnswer:
    """What a cache hit needs to rebuild the response (the request itself is not read)."""

    key: str
    model: str
    response: str | None
    response_extra: dict | None
    finish_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None


class Ledger:
    """A SQLite file of LM calls; safe to share between threads and processes.

    >>> ledger = Ledger("cache/lmprog.db")
    >>> with ledger.run("my-script"):
    ...     ...  # LM calls made through make_lm(..., ledger=ledger) are recorded in this run
    """

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = ledger_path(path)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._implicit_run_lock = threading.Lock()  # start_run takes _lock, so it cannot guard this
        self._connections: list[sqlite3.Connection] = []
        self._run_id: str | None = None
        self._implicit_run = False
        self._pending_hits: dict[str, int] = {}
        self._last_hit_flush = time.monotonic()
        self._known_texts: set[str] = set()  # paragraph hashes stored in ``texts``
        self._seen_texts: set[str] = set()  # paragraph hashes met in this process
        self._inflight: dict[str, threading.Event] = {}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise LedgerError(f"cannot open ledger {self.path}: {exc}") from exc
        atexit.register(self._at_exit)

    # -- connections --------------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(str(self.path), timeout=_BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                                   check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken up front so concurrent writers queue instead of failing."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _db(self) -> sqlite_utils.Database:
        return sqlite_utils.Database(self._conn(), execute_plugins=False)

    def _migrate(self) -> None:
        db = self._db()
        newer = {m.name for m in migrations.applied(db)} - {m.name for m in migrations._migrations}
        if newer:
            raise LedgerError(f"ledger {self.path} was written by a newer lmprog (migrations {sorted(newer)}); upgrade lmprog")
        # Several processes may open a new ledger at once: a losing migration rolls back, then
        # finds nothing pending on the next try.
        for attempt in range(20):
            if not migrations.pending(db):
                return
            try:
                migrations.apply(db)
                return
            except (sqlite3.OperationalError, sqlite3.IntegrityError):
                if attempt == 19:
                    raise
                time.sleep(0.05 * (attempt + 1))

    @property
    def schema_version(self) -> int:
        return len(migrations.applied(self._db()))

    def close(self) -> None:
        """Flush pending hit counts, end the implicit run and close every connection."""
        self._at_exit()
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            try:
                conn.close()
            except sqlite3.ProgrammingError:
                pass
        self._local = threading.local()

    def __repr__(self) -> str:
        return f"Ledger({str(self.path)!r})"

    # -- runs ---------------------------------------------------------------------------------

    def start_run(self, command: str, arguments: dict | list | None = None, *, run_id: str | None = None) -> str:
        """Open a run; calls and hits are attributed to it until :meth:`end_run`.

        Give ``run_id`` to continue a run (a resumed compile keeps its id); it is created if new.
        """
        run_id = run_id or _dt.datetime.now().strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        self._conn().execute(
            "INSERT INTO runs (id, command, arguments, started_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET ended_at = NULL",
            (run_id, command, canonical_json(arguments) if arguments is not None else None, time.time()),
        )
        with self._lock:
            self._run_id = run_id
            self._implicit_run = False
        return run_id

    def end_run(self, run_id: str | None = None) -> None:
        run_id = run_id or self._run_id
        if run_id is None:
            return
        self.flush_hits()
        self._conn().execute("UPDATE runs SET ended_at = ? WHERE id = ?", (time.time(), run_id))
        with self._lock:
            if self._run_id == run_id:
                self._run_id = None

    def run(self, command: str, arguments: dict | list | None = None, *, run_id: str | None = None) -> _RunContext:
        """Context manager: ``with ledger.run("compile", {...}) as run_id: ...``."""
        return _RunContext(self, command, arguments, run_id)

    @property
    def current_run(self) -> str:
        """The open run, starting an implicit one (named after the program) when none is open."""
        run_id = self._run_id
        if run_id is not None:
            return run_id
        with self._implicit_run_lock:  # threads making their first call together share one run
            if self._run_id is None:
                import sys

                self.start_run(Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python")
                self._implicit_run = True
            return self._run_id

    def _at_exit(self) -> None:
        try:
            self.flush_hits()
            if self._implicit_run and self._run_id:
                self.end_run(self._run_id)
        except sqlite3.Error:
            pass

    # -- calls --------------------------------------------------------------------------------

    def get(self, key: str) -> CachedAnswer | None:
        """The successful answer stored under ``key``, or None."""
        row = self._conn().execute(
            "SELECT model, response, response_extra, finish_reason, prompt_tokens, completion_tokens "
            "FROM calls WHERE key = ? AND error_kind IS NULL",
            (bytes.fromhex(key),),
        ).fetchone()
        if row is None:
            return None
        return CachedAnswer(key, row[0], row[1], codec.unpack_json(row[2]), row[3], row[4], row[5])

    def put(self, record: CallRecord) -> None:
        """Store one call and commit. A success replaces any earlier success with the same key."""
        new_texts: dict[str, str] = {}
        request = codec.pack_json(codec.externalize(record.request, new_texts, self._is_repeated))
        new_texts = {h: t for h, t in new_texts.items() if h not in self._known_texts}
        extra = codec.pack_json(record.response_extra) if record.response_extra else None
        key = bytes.fromhex(record.key)
        values = (
            key, record.model, request, record.response, extra,
            record.finish_reason, record.prompt_tokens, record.completion_tokens, record.cost_usd,
            record.latency_ms, record.created_at, record.run_id, record.module, record.error_kind, record.error,
        )
        with self._write() as conn:
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
        self._known_texts.update(new_texts)
        self._maybe_flush_hits()

    @contextlib.contextmanager
    def claim(self, key: str) -> Iterator[bool]:
        """Make one call per key at a time, across threads and processes; yields True if it waited
        for another thread or process that was making the same call (look the key up again then).

        Threads and processes that ask for the same uncached call together wait for the first one's
        answer instead of paying for it again; :meth:`put` of a success ends the claim.
        """
        with self._lock:
            running = self._inflight.get(key)
            if running is None:
                self._inflight[key] = threading.Event()
        if running is not None:
            running.wait()
            yield True
            return
        try:
            waited = self._claim_across_processes(key)
            try:
                yield waited
            finally:
                self._release_claim(key)
        finally:
            with self._lock:
                self._inflight.pop(key).set()

    def _claim_across_processes(self, key: str) -> bool:
        """Take the key's claim, waiting while a live process holds it or until its answer is stored."""
        blob, pid, waited = bytes.fromhex(key), os.getpid(), False
        while True:
            with self._write() as conn:
                row = conn.execute("SELECT pid, claimed_at FROM claims WHERE key = ?", (blob,)).fetchone()
                if row is None or row[0] == pid or not _process_alive(row[0]) \
                        or time.time() - row[1] > _CLAIM_STALE_SECONDS:
                    conn.execute("INSERT OR REPLACE INTO claims (key, pid, claimed_at) VALUES (?, ?, ?)",
                                 (blob, pid, time.time()))
                    return waited
            if self.get(key) is not None:
                return True
            waited = True
            time.sleep(_CLAIM_POLL_SECONDS)

    def _release_claim(self, key: str) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM claims WHERE key = ? AND pid = ?", (bytes.fromhex(key), os.getpid()))

    def count_hit(self, run_id: str | None = None) -> None:
        """Count one cache hit for the run; counts reach the file every few seconds and at run end."""
        run_id = run_id or self.current_run
        with self._lock:
            self._pending_hits[run_id] = self._pending_hits.get(run_id, 0) + 1
        self._maybe_flush_hits()

    def _maybe_flush_hits(self) -> None:
        if self._pending_hits and time.monotonic() - self._last_hit_flush > _HIT_FLUSH_SECONDS:
            self.flush_hits()

    def flush_hits(self) -> None:
        with self._lock:
            pending, self._pending_hits = self._pending_hits, {}
            self._last_hit_flush = time.monotonic()
        if not pending:
            return
        with self._write() as conn:
            for run_id, hits in pending.items():
                conn.execute("UPDATE runs SET hits = hits + ? WHERE id = ?", (hits, run_id))

    def _is_repeated(self, digest: str) -> bool:
        """Seen in this process or already stored; the first sighting is remembered, not stored."""
        if digest in self._known_texts or digest in self._seen_texts:
            return True
        if len(self._seen_texts) > 200_000:
            self._seen_texts.clear()
        self._seen_texts.add(digest)
        row = self._conn().execute("SELECT 1 FROM texts WHERE hash = ?", (digest,)).fetchone()
        if row is not None:
            self._known_texts.add(digest)
        return row is not None

    def _text(self, conn: sqlite3.Connection, digest: str) -> str | None:
        row = conn.execute("SELECT data FROM texts WHERE hash = ?", (digest,)).fetchone()
        return codec.unpack(row[0]) if row else None

    def _full_row(self, conn: sqlite3.Connection, row: dict) -> dict:
        row["key"] = row["key"].hex() if isinstance(row["key"], bytes) else row["key"]
        row["request"] = codec.internalize(codec.unpack_json(row["request"]), lambda h: self._text(conn, h))
        row["response_extra"] = codec.unpack_json(row["response_extra"])
        return row

    # -- reading ------------------------------------------------------------------------------

    def find(self, key_prefix: str) -> list[dict]:
        """Every row (successes and failures) whose key starts with ``key_prefix``, request included."""
        prefix = key_prefix.lower()
        if not prefix or any(c not in "0123456789abcdef" for c in prefix):
            return []
        conn = self._conn()
        rows = self._rows(conn, "SELECT * FROM calls WHERE lower(hex(key)) LIKE ? ORDER BY id", (prefix + "%",))
        return [self._full_row(conn, row) for row in rows]

    def calls(self, *, limit: int | None = 20, run_id: str | None = None, errors: bool | None = None) -> list[dict]:
        """Recent calls, newest first, without request bodies."""
        where, params = [], []
        if run_id:
            where.append("run_id = ?")
            params.append(run_id)
        if errors is True:
            where.append("error_kind IS NOT NULL")
        elif errors is False:
            where.append("error_kind IS NULL")
        sql = ("SELECT id, lower(hex(key)) AS key, model, module, run_id, created_at, prompt_tokens, completion_tokens, cost_usd, "
               "latency_ms, error_kind, substr(response, 1, 200) AS response FROM calls")
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return self._rows(self._conn(), sql, params)

    def iter_export(self) -> Iterator[dict]:
        """Every call with its full request, oldest first (for ``lmprog cache export``)."""
        conn = self._conn()
        for row in self._db().query("SELECT * FROM calls ORDER BY id"):
            yield self._full_row(conn, row)

    def runs(self, limit: int | None = 20) -> list[dict]:
        sql = "SELECT * FROM runs ORDER BY started_at DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return self._rows(self._conn(), sql, ())

    def stats(self, run_id: str | None = None) -> dict:
        """Totals: paid calls, failed attempts, ledger hits, tokens, USD, by model and by module."""
        self.flush_hits()
        conn = self._conn()
        where, params = ("WHERE run_id = ?", (run_id,)) if run_id else ("", ())
        totals = self._rows(conn, f"""
            SELECT count(*) FILTER (WHERE error_kind IS NULL) AS calls,
                   count(*) FILTER (WHERE error_kind IS NOT NULL) AS errors,
                   coalesce(sum(prompt_tokens), 0) AS prompt_tokens,
                   coalesce(sum(completion_tokens), 0) AS completion_tokens,
                   sum(cost_usd) AS cost_usd,
                   count(*) FILTER (WHERE error_kind IS NULL AND cost_usd IS NULL) AS calls_unpriced,
                   avg(latency_ms) FILTER (WHERE error_kind IS NULL) AS mean_latency_ms
            FROM calls {where}""", params)[0]
        hits_sql = "SELECT coalesce(sum(hits), 0) FROM runs" + (" WHERE id = ?" if run_id else "")
        totals["hits"] = conn.execute(hits_sql, params).fetchone()[0]
        group_sql = """SELECT {col} AS name, count(*) FILTER (WHERE error_kind IS NULL) AS calls,
                   count(*) FILTER (WHERE error_kind IS NOT NULL) AS errors,
                   coalesce(sum(prompt_tokens), 0) AS prompt_tokens,
                   coalesce(sum(completion_tokens), 0) AS completion_tokens, sum(cost_usd) AS cost_usd
            FROM calls {where} GROUP BY {col} ORDER BY calls DESC"""
        totals["by_model"] = self._rows(conn, group_sql.format(col="model", where=where), params)
        totals["by_module"] = self._rows(conn, group_sql.format(col="module", where=where), params)
        totals["errors_by_kind"] = dict(conn.execute(
            f"SELECT error_kind, count(*) FROM calls {where} {'AND' if where else 'WHERE'} error_kind IS NOT NULL "
            "GROUP BY error_kind", params).fetchall())
        totals["runs"] = conn.execute("SELECT count(*) FROM runs" + (" WHERE id = ?" if run_id else ""),
                                      params).fetchone()[0]
        totals["ledger"] = str(self.path)
        totals["bytes"] = self.file_bytes()
        if run_id:
            totals["run_id"] = run_id
        return totals

    def module_stats(self, module_prefix: str) -> dict:
        """Paid calls of the modules whose name starts with ``module_prefix`` (e.g. ``Classify:spam``):
        how many, their mean latency and mean USD (None when some were unpriced)."""
        row = self._rows(self._conn(), """
            SELECT count(*) AS calls, avg(latency_ms) AS mean_latency_ms, avg(cost_usd) AS mean_cost_usd,
                   count(*) FILTER (WHERE cost_usd IS NULL) AS unpriced
            FROM calls WHERE error_kind IS NULL AND substr(module, 1, ?) = ?""",
                         (len(module_prefix), module_prefix))[0]
        if row["unpriced"]:
            row["mean_cost_usd"] = None
        return row

    def file_bytes(self) -> int:
        """Size on disk, including the write-ahead log."""
        return sum(p.stat().st_size for p in (self.path, Path(f"{self.path}-wal")) if p.exists())

    def checkpoint(self) -> None:
        """Fold the write-ahead log into the main file."""
        self._conn().execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def integrity_check(self) -> str:
        return self._conn().execute("PRAGMA integrity_check").fetchone()[0]

    def clear(self, *, run_id: str | None = None, errors_only: bool = False) -> int:
        """Delete calls (all, one run's, or failed attempts only); returns how many were deleted."""
        where, params = [], []
        if run_id:
            where.append("run_id = ?")
            params.append(run_id)
        if errors_only:
            where.append("error_kind IS NOT NULL")
        sql = "DELETE FROM calls" + (" WHERE " + " AND ".join(where) if where else "")
        with self._write() as conn:
            deleted = conn.execute(sql, params).rowcount
            if not run_id and not errors_only:
                conn.execute("DELETE FROM texts")
                conn.execute("DELETE FROM runs")
        self._known_texts.clear()
        return deleted

    @staticmethod
    def _rows(conn: sqlite3.Connection, sql: str, params) -> list[dict]:
        cursor = conn.execute(sql, params)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]


class _RunContext:
    def __init__(self, ledger: Ledger, command: str, arguments, run_id: str | None = None):
        self.ledger, self.command, self.arguments = ledger, command, arguments
        self.run_id: str | None = run_id

    def __enter__(self) -> str:
        self.run_id = self.ledger.start_run(self.command, self.arguments, run_id=self.run_id)
        return self.run_id

    def __exit__(self, *exc) -> None:
        self.ledger.end_run(self.run_id)
