"""``lmprog cache merge``: ledger shards merged idempotently (each paid call once, failed attempts once, each
run's hits once), shards from separate processes, a shard at an older schema. Real SQLite files."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from lmprog.ledger import CallRecord, Ledger, call_key
from lmprog.testing import TestLMServer
from tests.ledger_versions import downgrade

EXAMPLE = Path(__file__).resolve().parent.parent / "cache" / "examples" / "sms_spam.db"
# Long enough to be stored once in ``texts`` when it repeats.
SYSTEM = "You label short messages. " * 4


def record(name: str, text: str = "ok", **fields) -> CallRecord:
    key = call_key({"name": name})
    request = {"request": {"model": "openai/x", "system": SYSTEM,
                           "messages": [{"role": "user", "parts": [{"type": "text", "text": name}]}]}, "sample": 0}
    return CallRecord(key=key, model="openai/x", request=request, response=text, prompt_tokens=10,
                      completion_tokens=2, cost_usd=0.001, latency_ms=5.0, **fields)


def shard(path: Path, names: list[str], *, run_id: str = "job", hits: int = 0, failures: int = 0,
          answer: str = "ok") -> Path:
    """A ledger holding ``names`` answered, ``failures`` failed attempts and ``hits`` hits in run ``run_id``."""
    ledger = Ledger(path)
    with ledger.run("label", {"shard": path.name}, run_id=run_id):
        for name in names:
            ledger.put(record(name, answer, run_id=run_id))
        for i in range(failures):
            ledger.put(record(f"{path.stem}-failing", run_id=run_id, error_kind="rate_limit", error=f"429 #{i}"))
        for _ in range(hits):
            ledger.count_hit(run_id)
    ledger.close()
    return path


def content(path: Path) -> dict:
    """Every row of every table (ids included) and the totals."""
    conn = sqlite3.connect(path)
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    rows = {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall() for t in tables if t != "claims"}
    conn.close()
    ledger = Ledger.open_readonly(path)
    stats = {k: v for k, v in ledger.stats().items() if k not in ("bytes", "ledger")}
    ledger.close()
    return {"rows": rows, "stats": stats}


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def merge(target: Path, *shards: Path) -> list[dict]:
    ledger = Ledger(target)
    try:
        return [vars(ledger.merge(s)) for s in shards]
    finally:
        ledger.checkpoint()  # the write-ahead log folded in: the file alone holds everything
        ledger.close()


def test_merging_twice_gives_the_same_content(tmp_path):
    a = shard(tmp_path / "a.db", ["x", "y", "shared"], hits=3, failures=2)
    b = shard(tmp_path / "b.db", ["z", "shared"], hits=5, failures=1, answer="other")
    target = tmp_path / "l.db"
    first = merge(target, a, b)
    assert [(c["calls"], c["failures"], c["paid_twice"], c["runs"], c["hits"]) for c in first] == \
        [(3, 2, 0, 1, 3), (1, 1, 1, 0, 5)]
    once, once_bytes = content(target), sha(target)
    assert once["stats"]["calls"] == 4 and once["stats"]["errors"] == 3 and once["stats"]["hits"] == 8
    assert Ledger.open_readonly(target).get(call_key({"name": "shared"})).response == "ok"  # the first merged

    again = merge(target, a, b, a)
    assert content(target) == once and sha(target) == once_bytes  # the same rows, totals and bytes
    assert all(c["calls"] == c["failures"] == c["hits"] == c["texts"] == c["runs"] == 0 for c in again)
    assert [c["present"] for c in again] == [5, 2, 5]


def test_the_shards_stay_byte_identical_and_texts_are_stored_once(tmp_path):
    a = shard(tmp_path / "a.db", ["x", "y"], hits=1)
    b = shard(tmp_path / "b.db", ["z"], hits=1)
    before = {p: sha(p) for p in (a, b)}
    target = tmp_path / "l.db"
    merge(target, a, b)
    assert {p: sha(p) for p in (a, b)} == before
    conn = sqlite3.connect(target)
    assert conn.execute("SELECT count(*) FROM texts").fetchone()[0] == 1  # SYSTEM, once
    exported = {row["key"]: row["request"] for row in Ledger.open_readonly(target).iter_export()}
    assert exported[call_key({"name": "z"})]["request"]["system"] == SYSTEM


def test_a_grown_shard_adds_only_what_is_new(tmp_path):
    a = tmp_path / "a.db"
    shard(a, ["x"], hits=2)
    target = tmp_path / "l.db"
    merge(target, a)
    shard(a, ["y"], hits=4)  # the same run goes on in the shard (another Ledger object counts)
    counts = merge(target, a)[0]
    assert (counts["calls"], counts["present"], counts["hits"]) == (1, 1, 4)
    assert content(target)["stats"]["hits"] == Ledger.open_readonly(a).stats()["hits"] == 6


def test_hits_reach_the_target_once_whichever_way_they_come(tmp_path):
    """A shard merged directly and through a ledger it was merged into counts its hits once."""
    a = shard(tmp_path / "a.db", ["x"], hits=2)
    b = shard(tmp_path / "b.db", ["y"], hits=3)
    middle = tmp_path / "middle.db"
    merge(middle, a, b)
    top = tmp_path / "top.db"
    merge(top, a, middle, b, middle)
    assert content(top)["stats"]["hits"] == 5
    assert content(top)["rows"]["calls"] != [] and content(top)["stats"]["calls"] == 2


def test_the_targets_own_hits_and_earlier_hits_are_kept(tmp_path):
    """Hits the target counted itself are not replaced by a shard's count of the same run."""
    target = shard(tmp_path / "l.db", ["x"], hits=7)
    a = shard(tmp_path / "a.db", ["y"], hits=2)
    merge(target, a)
    merge(target, a)
    assert content(target)["stats"]["hits"] == 9


def test_a_shard_at_an_older_schema(tmp_path):
    old = downgrade(shutil.copy(EXAMPLE, tmp_path / "old.db"), 2)
    before, reader = sha(old), Ledger.open_readonly(old)
    assert reader.schema_version == 2
    exported, stats = list(reader.iter_export()), reader.stats()
    reader.close()
    target = tmp_path / "l.db"
    first = merge(target, old)[0]
    assert sha(old) == before  # only read, never migrated
    assert first["calls"] + first["failures"] == len(exported) and first["hits"] == stats["hits"] > 0
    merged = Ledger.open_readonly(target)
    strip = lambda rows: [{k: v for k, v in r.items() if k != "id"} for r in rows]
    assert strip(merged.iter_export()) == strip(exported)
    assert {k: merged.stats()[k] for k in ("calls", "errors", "hits", "cost_usd")} == \
        {k: stats[k] for k in ("calls", "errors", "hits", "cost_usd")}
    once = content(target)
    assert merge(target, old)[0]["present"] == len(exported)
    assert content(target) == once


def test_an_older_schema_target_is_migrated_and_keeps_its_hits(tmp_path):
    target = downgrade(shutil.copy(EXAMPLE, tmp_path / "l.db"), 3)
    hits = Ledger.open_readonly(target).stats()["hits"]
    copy = downgrade(shutil.copy(EXAMPLE, tmp_path / "copy.db"), 3)  # the same runs, the same hits
    merge(target, copy)
    merge(target, copy)
    assert content(target)["stats"]["hits"] == hits


SCRIPT = """
import sys
import lmprog
from lmprog.run import open_run
api_base, path, first, last = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
lm = lmprog.make_lm("openai/test-model", api_base=api_base, ledger=path)
with open_run(lm, "label", {"rows": [first, last]}, run_id="job-1"):
    for _ in range(2):  # the second pass is answered from the shard
        for i in range(first, last):
            lm(f"row {i}")
lm.ledger.close()
"""


def test_shards_written_by_separate_processes(tmp_path, cli):
    with TestLMServer() as server:
        ranges = [(0, 12), (8, 20)]  # rows 8-11 in both shards: paid twice, kept once
        workers = [subprocess.Popen([sys.executable, "-c", SCRIPT, server.api_base, str(tmp_path / f"w{n}.db"),
                                     str(first), str(last)]) for n, (first, last) in enumerate(ranges)]
        assert [w.wait(timeout=300) for w in workers] == [0, 0]
        assert server.request_count == 24
    shards = [tmp_path / "w0.db", tmp_path / "w1.db"]
    target = tmp_path / "l.db"
    result = cli("cache", "merge", *shards, "--into", target, "--json")
    assert result.returncode == 0, result.stderr
    counts = json.loads(result.stdout)
    assert [(c["calls"], c["paid_twice"], c["hits"]) for c in counts] == [(12, 0, 12), (8, 4, 12)]
    assert cli("cache", "merge", *shards, "--into", target).returncode == 0
    stats = content(target)["stats"]
    assert (stats["calls"], stats["hits"], stats["runs"]) == (20, 24, 1)

    import lmprog

    with TestLMServer() as offline:  # every row is answered from the merged ledger: a rerun pays nothing
        lm = lmprog.make_lm("openai/test-model", api_base=offline.api_base, ledger=target, cache="replay")
        assert [lm(f"row {i}")[0] for i in range(20)] == [f"row {i}" for i in range(20)]
        assert offline.request_count == 0


def test_the_command_refuses_the_target_among_the_shards(tmp_path, cli):
    a = shard(tmp_path / "a.db", ["x"])
    result = cli("cache", "merge", a, "--into", a)
    assert result.returncode == 2 and "name it once" in result.stderr
    result = cli("cache", "merge", tmp_path / "missing.db", "--into", tmp_path / "l.db")
    assert result.returncode == 2 and "no ledger at" in result.stderr
    table = cli("cache", "merge", a, "--into", tmp_path / "l.db")
    assert table.returncode == 0 and "a.db" in table.stdout


def test_merging_a_ledger_into_itself_is_refused(tmp_path):
    from lmprog.errors import LedgerError

    a = shard(tmp_path / "a.db", ["x"])
    with pytest.raises(LedgerError, match="into itself"):
        Ledger(a).merge(a)
