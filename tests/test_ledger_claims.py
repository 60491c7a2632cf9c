"""Claims: one paid call per key across threads, Ledger objects and processes; m003 (the claim's owner)."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from lmprog.ledger import SCHEMA_VERSION, CallRecord, Ledger, call_key
from lmprog.ledger.schema import MIGRATION_NAMES
from tests.ledger_versions import downgrade

EXAMPLE = Path(__file__).resolve().parent.parent / "cache" / "examples" / "sms_spam.db"


def record(key: str, text: str = "ok") -> CallRecord:
    return CallRecord(key=key, model="openai/x", request={"request": {"text": key}, "sample": 0}, response=text)


def ask(ledger: Ledger, key: str, paid: list, lock: threading.Lock) -> str:
    """What the LM engine does: look up, claim, look up again, else pay for the call and store it."""
    hit = ledger.get(key)
    if hit is not None:
        return hit.response
    with ledger.claim(key):
        hit = ledger.get(key)
        if hit is not None:
            return hit.response
        with lock:
            paid.append(key)
        time.sleep(0.05)  # the call takes a while: the others must be waiting, not paying
        ledger.put(record(key, f"answer {key[:6]}"))
        return f"answer {key[:6]}"


def in_threads(work, count: int) -> list:
    barrier, results, errors = threading.Barrier(count), [None] * count, []

    def run(i):
        try:
            barrier.wait()
            results[i] = work(i)
        except Exception as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    return results


def test_migrating_a_blank_file_gives_claims_an_owner(tmp_path):
    Ledger(tmp_path / "new.db")
    conn = sqlite3.connect(tmp_path / "new.db")
    assert [r[0] for r in conn.execute("SELECT name FROM _sqlite_migrations ORDER BY id")] == list(MIGRATION_NAMES) \
        == ["m001_initial", "m002_claims", "m003_claim_owner", "m004_run_hits"]
    columns = {row[1]: row[2] for row in conn.execute("PRAGMA table_info(claims)")}
    assert columns == {"key": "BLOB", "pid": "INTEGER", "claimed_at": "REAL", "owner": "TEXT"}
    assert SCHEMA_VERSION == 4


def test_a_schema_2_ledger_migrates_and_still_answers_its_calls(tmp_path):
    path = downgrade(shutil.copy(EXAMPLE, tmp_path / "sms_spam.db"), 2)  # the committed file is newer now
    before = Ledger.open_readonly(path)
    assert before.schema_version == 2
    exported, stats = list(before.iter_export()), before.stats()
    before.close()

    ledger = Ledger(path)
    assert ledger.schema_version == SCHEMA_VERSION
    assert {row[1] for row in sqlite3.connect(path).execute("PRAGMA table_info(claims)")} >= {"owner"}
    assert list(ledger.iter_export()) == exported
    for row in exported[:: max(1, len(exported) // 50)]:
        answer = ledger.get(row["key"])
        assert answer is not None and answer.response == row["response"] and answer.model == row["model"]
    assert {k: v for k, v in ledger.stats().items() if k != "bytes"} == \
        {k: v for k, v in stats.items() if k != "bytes"}


@pytest.mark.parametrize("ledgers", [1, 2, 3])
def test_ledger_objects_on_one_file_pay_for_a_call_once(tmp_path, ledgers):
    """Each Ledger object is a claimant of its own: N threads per object, one key, one paid call."""
    path = tmp_path / "l.db"
    objects = [Ledger(path) for _ in range(ledgers)]
    key, paid, lock = call_key({"the": "call"}), [], threading.Lock()
    answers = in_threads(lambda i: ask(objects[i % ledgers], key, paid, lock), 8 * ledgers)
    assert paid == [key]
    assert set(answers) == {f"answer {key[:6]}"}
    assert objects[0].stats()["calls"] == 1
    assert sqlite3.connect(path).execute("SELECT count(*) FROM claims").fetchone()[0] == 0


def test_many_keys_two_ledger_objects(tmp_path):
    path = tmp_path / "l.db"
    first, second = Ledger(path), Ledger(path)
    keys = [call_key({"n": n}) for n in range(10)]
    paid, lock = [], threading.Lock()
    in_threads(lambda i: [ask(first if i % 2 else second, k, paid, lock) for k in keys[i % 3:] + keys[: i % 3]], 12)
    assert sorted(paid) == sorted(keys)


def test_a_second_ledger_object_waits_for_the_holder(tmp_path):
    path = tmp_path / "l.db"
    holder, other = Ledger(path), Ledger(path)
    key = call_key({"slow": 1})
    taken, done = threading.Event(), threading.Event()

    def hold():
        with holder.claim(key) as waited:
            assert waited is False
            taken.set()
            time.sleep(0.3)
            holder.put(record(key))
        done.set()

    thread = threading.Thread(target=hold)
    thread.start()
    taken.wait(10)
    with other.claim(key) as waited:
        assert waited is True and other.get(key) is not None  # look again: the answer is there
    thread.join()
    assert done.is_set() and other.get(key).response == "ok"


def _claim_row(path: Path, key: str, pid: int, owner: str | None, claimed_at: float) -> None:
    conn = sqlite3.connect(path)
    conn.execute("INSERT OR REPLACE INTO claims (key, pid, owner, claimed_at) VALUES (?, ?, ?, ?)",
                 (bytes.fromhex(key), pid, owner, claimed_at))
    conn.commit()
    conn.close()


def _dead_pid() -> int:
    process = multiprocessing.get_context("spawn").Process(target=time.sleep, args=(0,))
    process.start()
    process.join()
    return process.pid


@pytest.mark.parametrize("holder", ["dead process", "dead process, schema 2 row", "closed Ledger object",
                                    "this Ledger object", "an hour old"])
def test_void_claims_are_taken_at_once(tmp_path, holder):
    path = tmp_path / "l.db"
    ledger, key = Ledger(path), call_key({"k": holder})
    closed = Ledger(path)
    closed.close()
    pid, owner, at = {
        "dead process": (_dead_pid(), "someone", time.time()),
        "dead process, schema 2 row": (_dead_pid(), None, time.time()),
        "closed Ledger object": (os.getpid(), closed._claims.owner, time.time()),
        "this Ledger object": (os.getpid(), ledger._claims.owner, time.time()),
        "an hour old": (os.getppid(), "someone", time.time() - 3700),
    }[holder]
    _claim_row(path, key, pid, owner, at)
    started = time.monotonic()
    with ledger.claim(key) as waited:
        assert waited is False
    assert time.monotonic() - started < 1


@pytest.mark.parametrize("owner", ["another Ledger", None], ids=["live process", "live process, schema 2 row"])
def test_a_live_processes_claim_is_waited_for(tmp_path, owner):
    path = tmp_path / "l.db"
    ledger, key = Ledger(path), call_key({"k": "live"})
    _claim_row(path, key, os.getppid(), owner, time.time())  # the parent process is alive
    answer = threading.Timer(0.3, lambda: Ledger(path).put(record(key)))
    answer.start()
    started = time.monotonic()
    with ledger.claim(key) as waited:
        assert waited is True
    assert time.monotonic() - started >= 0.25 and ledger.get(key) is not None
    answer.join()
