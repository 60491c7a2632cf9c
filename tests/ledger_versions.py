"""Ledger files at an older schema, made from a current one by undoing its later migrations (what an older
lmprog wrote: its tables, its migration records), in rollback-journal mode like the committed examples."""

from __future__ import annotations

import sqlite3
from pathlib import Path

# What undoes each migration after the first.
_UNDO = {
    "m002_claims": ["DROP TABLE claims"],
    "m003_claim_owner": ["ALTER TABLE claims DROP COLUMN owner"],
    "m004_run_hits": ["DROP TABLE run_hits"],
}


def downgrade(path: Path, version: int) -> Path:
    """Undo the migrations of ``path`` after the first ``version`` ones, newest first; returns ``path``."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        applied = [row[0] for row in conn.execute("SELECT name FROM _sqlite_migrations ORDER BY id")]
        conn.execute("BEGIN")
        for name in reversed(applied[version:]):
            for sql in _UNDO[name]:
                conn.execute(sql)
            conn.execute("DELETE FROM _sqlite_migrations WHERE name = ?", (name,))
        conn.execute("COMMIT")
        conn.execute("VACUUM")
        conn.execute("PRAGMA journal_mode=DELETE")  # as the committed examples are (a copy may be in WAL mode)
    finally:
        conn.close()
    return path
