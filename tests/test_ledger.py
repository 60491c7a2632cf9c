"""The ledger on its own: keys, storage, runs, migrations, concurrency. Real SQLite files."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading

import pytest
import sqlite_utils

from lmprog.errors import LedgerError
from lmprog.ledger import SCHEMA_VERSION, CallRecord, Ledger, call_key, canonical_json, migrations
from lmprog.ledger.schema import MIGRATION_NAMES


def K(name: str) -> str:
    """A real 64-hex-digit key for a readable test name."""
    return call_key({"name": name})


def record(name: str, text: str = "ok", **fields) -> CallRecord:
    key = K(name)
    request = {"request": {"model": "openai/x", "messages": [{"role": "user", "parts": [{"type": "text", "text": key}]}]},
               "sample": 0}
    return CallRecord(key=key, model="openai/x", request=request, response=text, finish_reason="stop",
                      prompt_tokens=10, completion_tokens=2, cost_usd=0.001, latency_ms=5.0, **fields)


def test_key_is_stable_and_order_independent():
    a = {"model": "m", "messages": [{"role": "user", "text": "hi"}], "config": {"temperature": 0.0, "max_tokens": 5}}
    b = {"config": {"max_tokens": 5, "temperature": 0.0}, "messages": [{"role": "user", "text": "hi"}], "model": "m"}
    assert call_key(a) == call_key(b)
    assert len(call_key(a)) == 64
    assert call_key(a) != call_key({**a, "config": {"temperature": 0.7, "max_tokens": 5}})
    assert canonical_json({"é": 1}) == '{"é":1}'


def test_migrating_a_blank_file_creates_the_schema(tmp_path):
    ledger = Ledger(tmp_path / "new.db")
    conn = sqlite3.connect(tmp_path / "new.db")
    columns = {row[1] for row in conn.execute("PRAGMA table_info(calls)")}
    assert {"key", "model", "request", "response", "prompt_tokens", "completion_tokens", "cost_usd", "latency_ms",
            "created_at", "run_id", "module", "error_kind"} <= columns
    assert {row[1] for row in conn.execute("PRAGMA table_info(runs)")} >= {"id", "command", "arguments", "started_at",
                                                                            "ended_at", "hits"}
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert ledger.schema_version == len(MIGRATION_NAMES) == SCHEMA_VERSION
    # Opening again applies nothing new.
    Ledger(tmp_path / "new.db")
    assert [r[0] for r in conn.execute("SELECT name FROM _sqlite_migrations")] == ["m001_initial", "m002_claims",
                                                                                  "m003_claim_owner", "m004_run_hits"]
    assert {row[1] for row in conn.execute("PRAGMA table_info(claims)")} == {"key", "pid", "claimed_at", "owner"}


def test_lmprogs_migration_names_are_what_sqlite_utils_applies():
    """lmprog's own list (used to recognise a newer lmprog's migrations) matches what it registered."""
    blank = sqlite_utils.Database(memory=True)
    assert [m.name for m in migrations.pending(blank)] == list(MIGRATION_NAMES)
    migrations.apply(blank)
    assert [m.name for m in migrations.applied(blank)] == list(MIGRATION_NAMES)


def test_newer_schema_is_refused(tmp_path):
    Ledger(tmp_path / "l.db")
    conn = sqlite3.connect(tmp_path / "l.db")
    conn.execute("INSERT INTO _sqlite_migrations (migration_set, name, applied_at) VALUES ('lmprog.ledger', 'm999', 'x')")
    conn.commit()
    with pytest.raises(LedgerError, match="newer lmprog"):
        Ledger(tmp_path / "l.db")


def test_not_a_database_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.db"
    bad.write_text("this is not sqlite" * 100)
    with pytest.raises(LedgerError, match="cannot open ledger"):
        Ledger(bad)


def test_put_get_roundtrip_and_success_replaces(tmp_path):
    ledger = Ledger(tmp_path / "l.db")
    assert ledger.get(K("k1")) is None
    ledger.put(record("k1", "first"))
    assert ledger.get(K("k1")).response == "first"
    ledger.put(record("k1", "second"))
    assert ledger.get(K("k1")).response == "second"
    assert ledger.stats()["calls"] == 1


def test_failed_attempts_are_kept_but_never_served(tmp_path):
    ledger = Ledger(tmp_path / "l.db")
    ledger.put(record("ab", None, error_kind="rate_limit", error="429"))
    ledger.put(record("ab", None, error_kind="server_error", error="500"))
    assert ledger.get(K("ab")) is None
    ledger.put(record("ab", "fine"))
    assert ledger.get(K("ab")).response == "fine"
    stats = ledger.stats()
    assert stats["calls"] == 1 and stats["errors"] == 2
    assert stats["errors_by_kind"] == {"rate_limit": 1, "server_error": 1}
    assert len(ledger.find(K("ab"))) == 3


def test_long_texts_are_stored_once_and_restored(tmp_path):
    ledger = Ledger(tmp_path / "l.db")
    system = "You are a careful labeller. " * 40
    for i in range(50):
        req = {"request": {"system": system, "messages": [{"text": f"message {i}"}]}, "sample": 0}
        ledger.put(CallRecord(key=K(str(i)), model="m", request=req, response="x"))
    conn = sqlite3.connect(tmp_path / "l.db")
    assert conn.execute("SELECT count(*) FROM texts").fetchone()[0] == 1
    found = ledger.find(K("7")[:10])[0]
    assert found["request"]["request"]["system"] == system
    assert found["request"]["request"]["messages"][0]["text"] == "message 7"


def test_runs_count_calls_and_hits(tmp_path):
    ledger = Ledger(tmp_path / "l.db")
    with ledger.run("compile", {"seed": 0}) as run_id:
        ledger.put(record("aa", run_id=run_id))
        ledger.count_hit(run_id)
        ledger.count_hit(run_id)
    stats = ledger.stats(run_id=run_id)
    assert stats["calls"] == 1 and stats["hits"] == 2 and stats["runs"] == 1
    run = ledger.runs()[0]
    assert run["command"] == "compile" and run["ended_at"] is not None and run["arguments"] == '{"seed":0}'


def test_clear_all_errors_or_one_run(tmp_path):
    ledger = Ledger(tmp_path / "l.db")
    ledger.put(record("a1", run_id="r1"))
    ledger.put(record("a2", run_id="r2"))
    ledger.put(record("a3", None, error_kind="timeout", run_id="r2"))
    assert ledger.clear(errors_only=True) == 1
    assert ledger.clear(run_id="r1") == 1
    assert ledger.get(K("a2")) is not None
    assert ledger.clear() == 1
    assert ledger.stats()["calls"] == 0


def test_many_threads_one_ledger(tmp_path):
    ledger = Ledger(tmp_path / "l.db")
    errors = []

    def work(t):
        try:
            for i in range(50):
                ledger.put(record(f"{t}-{i}"))
                assert ledger.get(K(f"{t}-{i}")) is not None
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert ledger.stats()["calls"] == 400


def _process_writer(path: str, proc: int, threads: int, per_thread: int, out) -> None:
    ledger = Ledger(path)
    failures = []

    def work(t):
        for i in range(per_thread):
            try:
                ledger.put(record(f"{proc}-{t}-{i}"))
            except Exception as exc:  # noqa: BLE001 - reported to the parent
                failures.append(repr(exc))

    pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    out.put(failures)


def test_four_processes_by_eight_threads_lose_nothing(tmp_path):
    """4 processes x 8 threads writing one new ledger: 0 lost rows, no 'database is locked'."""
    path = str(tmp_path / "shared.db")
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_process_writer, args=(path, p, 8, 25, out)) for p in range(4)]
    for p in procs:
        p.start()
    failures = [f for _ in procs for f in out.get(timeout=120)]
    for p in procs:
        p.join(timeout=60)
    assert failures == []
    ledger = Ledger(path)
    assert ledger.stats()["calls"] == 4 * 8 * 25
    assert ledger.integrity_check() == "ok"


