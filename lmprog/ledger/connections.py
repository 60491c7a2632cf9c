"""One SQLite connection per thread for one ledger file, and write transactions on them.

A read-only ledger is opened with SQLite's ``mode=ro`` URI: nothing is written to the file, the
journal mode is left as it is, and a writer in another process can go on (its committed calls are
read). Two cases SQLite handles its own way:

- a WAL-mode file with no ``-wal`` file: SQLite creates empty ``-wal`` and ``-shm`` files next to it
  (it needs the shared memory to read), and leaves them; the ledger file itself is untouched.
- the same in a directory that is not writable: ``mode=ro`` cannot create them and fails
  (SQLITE_READONLY_DIRECTORY), so the file is read as ``immutable`` instead. With no ``-wal`` file
  there is nothing else to read; a writer starting during the read is not seen.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import sqlite_utils

BUSY_TIMEOUT_MS = 60_000


class Connections:
    """The per-thread connections to ``path``: read-write in WAL mode (a commit per write
    transaction), or read-only."""

    def __init__(self, path: Path, *, readonly: bool = False):
        self.path = path
        self.readonly = readonly
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all: list[sqlite3.Connection] = []

    def get(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._open()
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def _open(self) -> sqlite3.Connection:
        if self.readonly:
            return self._open_readonly()
        conn = _connect(str(self.path), uri=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def _open_readonly(self) -> sqlite3.Connection:
        uri = self.path.absolute().as_uri() + "?mode=ro"
        conn = _connect(uri, uri=True)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.OperationalError as exc:
            conn.close()
            if not (_cannot_create_shm(exc) and _wal_without_log(self.path)):
                raise
            conn = _connect(uri + "&immutable=1", uri=True)
        conn.execute("PRAGMA query_only=ON")
        return conn

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken up front so concurrent writers queue instead of failing."""
        if self.readonly:
            raise sqlite3.OperationalError("the ledger is open read-only")
        conn = self.get()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def database(self) -> sqlite_utils.Database:
        """This thread's connection as a sqlite-utils Database (for migrations)."""
        return sqlite_utils.Database(self.get(), execute_plugins=False)

    def close(self) -> None:
        """Close every thread's connection; the next :meth:`get` opens a new one."""
        with self._lock:
            connections, self._all = self._all, []
        for conn in connections:
            try:
                conn.close()
            except sqlite3.ProgrammingError:
                pass
        self._local = threading.local()


def _connect(target: str, *, uri: bool) -> sqlite3.Connection:
    conn = sqlite3.connect(target, uri=uri, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                           check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    return conn


_SQLITE_READONLY, _SQLITE_CANTOPEN = 8, 14


def _cannot_create_shm(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)  # Python 3.11+
    if code is None:
        return "readonly database" in str(exc) or "unable to open" in str(exc)
    return code & 0xFF in (_SQLITE_READONLY, _SQLITE_CANTOPEN)


def _wal_without_log(path: Path) -> bool:
    """A WAL-mode database (header bytes 18-19 are 2) whose ``-wal`` file does not exist."""
    with open(path, "rb") as file:
        header = file.read(20)
    return header[18:20] == b"\x02\x02" and not os.path.exists(f"{path}-wal")


def rows(conn: sqlite3.Connection, sql: str, params=()) -> list[dict]:
    """The rows of a query as dicts keyed by column name."""
    cursor = conn.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]
