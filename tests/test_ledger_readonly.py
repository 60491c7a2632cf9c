"""Ledger.open_readonly: reads every ledger it can, writes nothing, leaves the file byte-identical."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import tempfile
from pathlib import Path

import pytest

from lmprog.errors import LedgerError
from lmprog.ledger import SCHEMA_VERSION, CallRecord, Ledger, call_key
from lmprog.ledger.schema import MIGRATION_NAMES
from tests.ledger_versions import downgrade

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "cache" / "examples" / "sms_spam.db"


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def journal_mode_in_header(path: Path) -> str:
    """What the file says without opening it with SQLite: bytes 18-19 are 1 (rollback) or 2 (WAL)."""
    return {b"\x01\x01": "rollback", b"\x02\x02": "wal"}[path.read_bytes()[18:20]]


def record(name: str, module: str = "Classify:test", **fields) -> CallRecord:
    request = {"request": {"system": "You label messages. " * 10, "messages": [{"text": name}]}, "sample": 0}
    return CallRecord(key=call_key({"name": name}), model="openai/x", request=request, response=f"answer {name}",
                      prompt_tokens=10, completion_tokens=2, cost_usd=0.001, latency_ms=5.0, module=module, **fields)


def read_everything(ledger: Ledger) -> dict:
    """Every read method's answer (paths and sizes aside), as comparable data."""
    def stats(run_id=None):
        return {k: v for k, v in ledger.stats(run_id=run_id).items() if k not in ("ledger", "bytes")}

    stats_all, calls = stats(), ledger.calls(limit=None)
    run_id = ledger.runs(limit=1)[0]["id"] if ledger.runs(limit=1) else None
    return {
        "stats": stats_all,
        "run_stats": stats(run_id) if run_id else None,
        "calls": calls,
        "errors": ledger.calls(errors=True),
        "runs": ledger.runs(limit=None),
        "find": ledger.find(calls[0]["key"][:12]) if calls else [],
        "export": list(ledger.iter_export()),
        "module_stats": ledger.module_stats(stats_all["by_module"][0]["name"] if calls else "x"),
        "schema_version": ledger.schema_version,
        "integrity": ledger.integrity_check(),
        "file_bytes": ledger.file_bytes() > 0,
    }


def test_a_committed_rollback_journal_ledger_stays_byte_identical(tmp_path):
    path = downgrade(shutil.copy(EXAMPLE, tmp_path / "sms_spam.db"), 3)  # an older lmprog's file
    before, files_before = sha(path), sorted(os.listdir(tmp_path))
    assert journal_mode_in_header(path) == "rollback"

    ledger = Ledger.open_readonly(path)
    seen = read_everything(ledger)
    ledger.close()

    assert sha(path) == before and sorted(os.listdir(tmp_path)) == files_before  # no -wal, -shm or -journal
    assert journal_mode_in_header(path) == "rollback"
    assert seen["stats"]["calls"] == len(seen["export"]) > 1000 and seen["stats"]["hits"] > 0
    assert seen["schema_version"] == 3 < SCHEMA_VERSION and seen["integrity"] == "ok"
    assert seen["find"] and seen["find"][0]["request"]["request"]
    assert seen["module_stats"]["calls"] > 0
    # The same answers as the read-write Ledger gives (on another copy: that one migrates its file).
    other = tmp_path / "copy" / "sms_spam.db"
    other.parent.mkdir()
    shutil.copy(EXAMPLE, other)
    writable = read_everything(Ledger(other))
    assert {k: v for k, v in seen.items() if k != "schema_version"} == \
        {k: v for k, v in writable.items() if k != "schema_version"}


def _wal_ledger(path: Path) -> Ledger:
    ledger = Ledger(path)
    with ledger.run("compile", {"seed": 0}) as run_id:
        for i in range(5):
            ledger.put(record(f"m{i}", run_id=run_id))
        ledger.put(record("failed", run_id=run_id, error_kind="timeout", error="slow"))
        ledger.count_hit(run_id)
    return ledger


def test_a_wal_ledger_stays_byte_identical(tmp_path):
    path = tmp_path / "l.db"
    _wal_ledger(path).close()  # the last connection folds the log in and removes it
    assert journal_mode_in_header(path) == "wal" and not Path(f"{path}-wal").exists()
    before = sha(path)

    ledger = Ledger.open_readonly(path)
    seen = read_everything(ledger)
    ledger.close()

    assert sha(path) == before and journal_mode_in_header(path) == "wal"
    # SQLite needs a -shm file to read a WAL database and leaves it (and an empty -wal): nothing in them.
    assert not Path(f"{path}-wal").exists() or Path(f"{path}-wal").stat().st_size == 0
    assert seen["stats"]["calls"] == 5 and seen["stats"]["errors"] == 1 and seen["stats"]["hits"] == 1
    assert len(seen["export"]) == 6 and seen["runs"][0]["command"] == "compile"
    assert seen["schema_version"] == Ledger(path).schema_version  # a writer opens it normally afterwards


def test_it_reads_what_a_live_writer_has_committed(tmp_path):
    path = tmp_path / "l.db"
    writer = _wal_ledger(path)  # still open: its calls are in the -wal file
    assert Path(f"{path}-wal").stat().st_size > 0
    before = sha(path)
    reader = Ledger.open_readonly(path)
    assert reader.stats()["calls"] == 5
    writer.put(record("later"))
    assert reader.get(record("later").key).response == "answer later"
    assert sha(path) == before  # the writer appends to its log; the reader wrote nothing
    reader.close()
    writer.close()


@pytest.mark.parametrize("action", [
    lambda ledger: ledger.put(record("new")),
    lambda ledger: ledger.claim(record("new").key).__enter__(),
    lambda ledger: ledger.start_run("compile"),
    lambda ledger: ledger.end_run("some-run"),
    lambda ledger: ledger.run("compile"),
    lambda ledger: ledger.count_hit("some-run"),
    lambda ledger: ledger.clear(),
    lambda ledger: ledger.checkpoint(),
], ids=["put", "claim", "start_run", "end_run", "run", "count_hit", "clear", "checkpoint"])
def test_writing_methods_raise_one_clear_sentence(tmp_path, action):
    path = tmp_path / "l.db"
    _wal_ledger(path).close()
    before = sha(path)
    ledger = Ledger.open_readonly(path)
    with pytest.raises(LedgerError, match=r"^cannot [a-z ]+: ledger .*l\.db is open read-only \(open it with "
                                          r"Ledger\(path\) to write\)$"):
        action(ledger)
    ledger.close()
    assert sha(path) == before


def test_a_missing_file_is_named_and_not_created(tmp_path):
    missing = tmp_path / "nowhere" / "l.db"
    with pytest.raises(LedgerError, match=f"cannot open ledger {missing}: the file does not exist"):
        Ledger.open_readonly(missing)
    assert not missing.parent.exists()
    with pytest.raises(LedgerError, match="is not a file"):
        Ledger.open_readonly(tmp_path)


def test_files_that_are_not_ledgers_are_clear_errors(tmp_path):
    bad = tmp_path / "bad.db"
    bad.write_text("this is not sqlite" * 100)
    with pytest.raises(LedgerError, match="cannot open ledger .*bad.db"):
        Ledger.open_readonly(bad)
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)")
    with pytest.raises(LedgerError, match=r"cannot read ledger .*other\.db: it has no table calls, table texts, "
                                          r"table runs$"):
        Ledger.open_readonly(other)


def _from_a_newer_lmprog(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO _sqlite_migrations (migration_set, name, applied_at) "
                 "VALUES ('lmprog.ledger', 'm999_future', 'x')")
    conn.commit()
    conn.close()


def test_a_newer_lmprogs_ledger_is_read_if_it_has_the_tables(tmp_path):
    path = tmp_path / "l.db"
    _wal_ledger(path).close()
    _from_a_newer_lmprog(path)
    with pytest.raises(LedgerError, match="newer lmprog"):
        Ledger(path)
    before = sha(path)
    ledger = Ledger.open_readonly(path)
    assert ledger.stats()["calls"] == 5 and len(list(ledger.iter_export())) == 6
    assert ledger.schema_version == len(MIGRATION_NAMES) + 1
    ledger.close()
    assert sha(path) == before

    conn = sqlite3.connect(path)
    conn.execute("ALTER TABLE runs DROP COLUMN hits")
    conn.commit()
    conn.close()
    with pytest.raises(LedgerError, match=r"it has no runs\.hits; it was written by a newer lmprog "
                                          r"\(migrations \['m999_future'\]\): upgrade lmprog"):
        Ledger.open_readonly(path)


def _read_in_a_child(path: Path, as_nobody: bool) -> dict:
    """Read the ledger in a forked child (as user nobody if asked): the calls and exported rows it saw."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: everything it needs is imported already (nobody may not read the interpreter's files)
        try:
            os.close(read_end)
            if as_nobody:
                os.setgid(65534)
                os.setuid(65534)
            ledger = Ledger.open_readonly(path)
            answer = {"calls": ledger.stats()["calls"], "export": len(list(ledger.iter_export()))}
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        os.write(write_end, json.dumps(answer).encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    return json.loads(data)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_wal_ledger_in_a_directory_that_is_not_writable():
    """``mode=ro`` cannot create the -shm file there; the ledger is read as immutable instead."""
    folder = Path(tempfile.mkdtemp(prefix="lmprog-readonly-"))  # not under tmp_path: user nobody must reach it
    try:
        path = folder / "l.db"
        _wal_ledger(path).close()
        before, files_before = sha(path), sorted(os.listdir(folder))
        folder.chmod(0o555)
        path.chmod(0o444)
        as_root = os.geteuid() == 0  # root writes anywhere: read as nobody then
        seen = _read_in_a_child(path, as_nobody=as_root)
        if as_root and "Operation not permitted" in seen.get("error", ""):
            pytest.skip(f"cannot become another user here: {seen['error']}")
        assert seen == {"calls": 5, "export": 6}
        assert sha(path) == before and sorted(os.listdir(folder)) == files_before
    finally:
        folder.chmod(0o755)
        shutil.rmtree(folder)
