"""The ledger's tables and their migrations (append-only: never edit or reorder an applied one).

``calls``  one row per call attempt. A successful call has ``error_kind`` NULL and a unique ``key``;
           failed attempts (rate limits, server errors, timeouts) are kept too, for reports.
``texts``  long strings of requests, stored once by content hash (see :mod:`lmprog.ledger.codec`).
``runs``   one row per run (a command or a Python session): totals and ledger hits.
``claims`` the keys being called right now, and by whom (see :mod:`lmprog.ledger.claims`).
``run_hits`` each run's hits by who counted them (a Ledger object, or a ledger merged in): ``runs.hits`` is
           their sum plus hits counted before m004; merging takes the larger count per counter, so merging
           a ledger again never counts its hits twice (see :mod:`lmprog.ledger.merge`).
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import sqlite_utils
from sqlite_utils.migrations import Migrations

from lmprog.errors import LedgerError

migrations = Migrations("lmprog.ledger")
_names: list[str] = []


def _migration(fn):
    """Register a migration with sqlite-utils and in lmprog's own list of its migration names."""
    _names.append(fn.__name__)
    return migrations()(fn)


@_migration
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


@_migration
def m002_claims(db: sqlite_utils.Database) -> None:
    db.execute("CREATE TABLE claims (key BLOB PRIMARY KEY, pid INTEGER NOT NULL, claimed_at REAL NOT NULL)")


@_migration
def m003_claim_owner(db: sqlite_utils.Database) -> None:
    # Which Ledger object holds the claim: two Ledger objects on one file in one process are two claimants.
    db.execute("ALTER TABLE claims ADD COLUMN owner TEXT")


@_migration
def m004_run_hits(db: sqlite_utils.Database) -> None:
    db.execute("""CREATE TABLE run_hits (
            run_id TEXT NOT NULL,
            source TEXT NOT NULL,
            hits INTEGER NOT NULL,
            PRIMARY KEY (run_id, source)
        ) WITHOUT ROWID""")


MIGRATION_NAMES: tuple[str, ...] = tuple(_names)  # what this lmprog knows, in the order it applies them
SCHEMA_VERSION = len(MIGRATION_NAMES)


# The tables and columns the read methods use: a file that has them can be read, whatever else a
# newer lmprog added to it.
READ_COLUMNS: dict[str, tuple[str, ...]] = {
    "calls": ("id", "key", "model", "request", "response", "response_extra", "finish_reason", "prompt_tokens",
              "completion_tokens", "cost_usd", "latency_ms", "created_at", "run_id", "module", "error_kind", "error"),
    "texts": ("hash", "data"),
    "runs": ("id", "command", "arguments", "started_at", "ended_at", "hits"),
}


def missing_for_reading(conn: sqlite3.Connection) -> list[str]:
    """The tables (``calls``) and columns (``runs.hits``) of :data:`READ_COLUMNS` that are not there."""
    missing = []
    for table, columns in READ_COLUMNS.items():
        present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if not present:
            missing.append(f"table {table}")
        else:
            missing += [f"{table}.{column}" for column in columns if column not in present]
    return missing


def applied(db: sqlite_utils.Database) -> list[str]:
    """Names of the migrations applied to ``db``, in order."""
    return [m.name for m in migrations.applied(db)]


def newer_migrations(db: sqlite_utils.Database) -> list[str]:
    """Migrations applied to ``db`` that this lmprog does not know (a newer lmprog applied them)."""
    return sorted(set(applied(db)) - set(MIGRATION_NAMES))


def migrate(db: sqlite_utils.Database, path: Path) -> None:
    """Apply pending migrations; refuse a file that a newer lmprog migrated further."""
    newer = newer_migrations(db)
    if newer:
        raise LedgerError(f"ledger {path} was written by a newer lmprog (migrations {newer}); upgrade lmprog")
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
