"""Merging ledger shards: the calls, texts and runs of one ledger added to another, idempotently.

Merging the same shard again (or a shard that has grown since, or a ledger that was itself merged from
it) adds only what the target does not hold yet:

- a call key's successful answer is stored once. When the target already has a different answer for the
  key (two shards both paid for it), the target's is kept and the shard's is counted in ``paid_twice``;
- a failed attempt is the same attempt when its key, time, run and error kind are; it is added once;
- paragraphs (``texts``) are stored by content hash, so they are added once;
- a run's hit count is a sum over whoever counted hits (``run_hits``: every Ledger object counts under an id
  of its own; a ledger from before schema 4 counts as one counter per run). For each counter the target
  keeps the largest count it has been given, so a shard merged twice, or merged directly and through
  another merged ledger, adds its hits once, and hits it counted since the last merge are added.

The shard is only read (a file at an older schema too: it is not migrated). Texts commit first, then
calls in batches, then runs and hits in one transaction: a merge that is killed is finished by running
it again.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass

from lmprog.ledger.connections import Connections, rows

BATCH = 2000
_CALL_COLUMNS = ("key", "model", "request", "response", "response_extra", "finish_reason", "prompt_tokens",
                 "completion_tokens", "cost_usd", "latency_ms", "created_at", "run_id", "module", "error_kind", "error")
_INSERT_CALL = (f"INSERT INTO calls ({', '.join(_CALL_COLUMNS)}) "
                f"VALUES ({', '.join('?' for _ in _CALL_COLUMNS)})")


@dataclass
class MergeCounts:
    """What merging one shard added to the target."""

    shard: str
    calls: int = 0  # successful calls added
    failures: int = 0  # failed attempts added
    present: int = 0  # rows the target already held (merged before)
    paid_twice: int = 0  # keys the target already answered differently (both ledgers paid for the call)
    texts: int = 0
    runs: int = 0  # runs new to the target
    hits: int = 0  # ledger hits added to the target's runs


def merge_shard(target: Connections, shard: Connections, counts: MergeCounts) -> MergeCounts:
    """Add what ``shard`` holds and ``target`` does not (see the module docstring)."""
    source = shard.get()
    counts.texts = _merge_texts(target, source)
    _merge_calls(target, source, counts)
    _merge_runs(target, source, counts)
    return counts


def _batches(conn: sqlite3.Connection, sql: str) -> Iterator[list[tuple]]:
    cursor = conn.execute(sql)
    while batch := cursor.fetchmany(BATCH):
        yield batch


def _merge_texts(target: Connections, source: sqlite3.Connection) -> int:
    added = 0
    for batch in _batches(source, "SELECT hash, data FROM texts"):
        with target.write() as conn:
            before = conn.total_changes
            conn.executemany("INSERT OR IGNORE INTO texts (hash, data) VALUES (?, ?)", batch)
            added += conn.total_changes - before
    return added


def _merge_calls(target: Connections, source: sqlite3.Connection, counts: MergeCounts) -> None:
    failures = set(target.get().execute(
        "SELECT key, created_at, run_id, error_kind FROM calls WHERE error_kind IS NOT NULL").fetchall())
    select = f"SELECT {', '.join(_CALL_COLUMNS)} FROM calls ORDER BY id"
    kind, created, run = _CALL_COLUMNS.index("error_kind"), _CALL_COLUMNS.index("created_at"), \
        _CALL_COLUMNS.index("run_id")
    for batch in _batches(source, select):
        with target.write() as conn:
            for row in batch:
                if row[kind] is not None:
                    attempt = (row[0], row[created], row[run], row[kind])
                    if attempt in failures:
                        counts.present += 1
                        continue
                    conn.execute(_INSERT_CALL, row)
                    failures.add(attempt)
                    counts.failures += 1
                    continue
                held = conn.execute("SELECT created_at, run_id FROM calls WHERE key = ? AND error_kind IS NULL",
                                    (row[0],)).fetchone()
                if held is None:
                    conn.execute(_INSERT_CALL, row)
                    counts.calls += 1
                elif held == (row[created], row[run]):
                    counts.present += 1
                else:
                    counts.paid_twice += 1


def legacy_counter(run_id: str, started_at: float) -> str:
    """The counter of a run's hits counted before ``run_hits`` existed (one per ledger and run)."""
    return f"run {run_id} started {started_at!r}"


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone() is not None


def counters(conn: sqlite3.Connection, run: dict) -> dict[str, int]:
    """A run's hits by counter: the ``run_hits`` rows, and hits from before them as their legacy counter."""
    found: dict[str, int] = {}
    if _has_table(conn, "run_hits"):
        found = dict(conn.execute("SELECT source, hits FROM run_hits WHERE run_id = ?", (run["id"],)).fetchall())
    rest = run["hits"] - sum(found.values())
    if rest > 0:
        legacy = legacy_counter(run["id"], run["started_at"])
        found[legacy] = found.get(legacy, 0) + rest
    return found


def _merge_runs(target: Connections, source: sqlite3.Connection, counts: MergeCounts) -> None:
    shard_runs = rows(source, "SELECT id, command, arguments, started_at, ended_at, hits FROM runs")
    with target.write() as conn:
        for run in shard_runs:
            held = rows(conn, "SELECT id, started_at, hits FROM runs WHERE id = ?", (run["id"],))
            if held:
                _write_legacy_counter(conn, held[0])
            else:
                counts.runs += 1
            conn.execute(
                "INSERT INTO runs (id, command, arguments, started_at, ended_at, hits) VALUES (?, ?, ?, ?, ?, 0) "
                "ON CONFLICT (id) DO UPDATE SET started_at = min(started_at, excluded.started_at), "
                "ended_at = max(coalesce(ended_at, excluded.ended_at), coalesce(excluded.ended_at, ended_at))",
                (run["id"], run["command"], run["arguments"], run["started_at"], run["ended_at"]))
            for counter, hits in counters(source, run).items():
                counts.hits += _merge_counter(conn, run["id"], counter, hits)


def _write_legacy_counter(conn: sqlite3.Connection, run: dict) -> None:
    """Give the target's hits from before ``run_hits`` their counter row (the total stays the same), so
    that a later change of the run's start time leaves them where they are."""
    for counter, hits in counters(conn, run).items():
        conn.execute("INSERT OR IGNORE INTO run_hits (run_id, source, hits) VALUES (?, ?, ?)",
                     (run["id"], counter, hits))


def _merge_counter(conn: sqlite3.Connection, run_id: str, counter: str, hits: int) -> int:
    """Raise the target's count for ``counter`` to ``hits`` if that is more; returns the hits added."""
    row = conn.execute("SELECT hits FROM run_hits WHERE run_id = ? AND source = ?", (run_id, counter)).fetchone()
    added = hits - (row[0] if row else 0)
    if added <= 0:
        return 0
    conn.execute("INSERT INTO run_hits (run_id, source, hits) VALUES (?, ?, ?) "
                 "ON CONFLICT (run_id, source) DO UPDATE SET hits = excluded.hits", (run_id, counter, hits))
    conn.execute("UPDATE runs SET hits = hits + ? WHERE id = ?", (added, run_id))
    return added
