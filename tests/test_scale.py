"""lmprog.scale on a real local Ray cluster (ray.init(num_cpus=2)) against the test LM server on 127.0.0.1:
Parquet in and out, the ledger holding each paid call once, a free rerun, duplicates sent once, a bad row
recorded, the cluster-wide rate and in-flight caps as the server saw them, the budget across workers, and a
worker killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

pytest.importorskip("ray.data")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

import lmprog  # noqa: E402
from lmprog.artifact import CompiledProgram  # noqa: E402
from lmprog.ledger import Ledger  # noqa: E402
from lmprog.run import Budget  # noqa: E402
from lmprog.testing import TestLMServer, answer_fields, last_user_message  # noqa: E402
from tests.test_compile import CUES, TASK  # noqa: E402

pytestmark = [pytest.mark.ray, pytest.mark.slow]
CUE_NAMES = list(CUES)


def reader(body: dict) -> str:
    user = last_user_message(body)
    if "weather" in user:
        return "I cannot say."  # no answer field: the adapters fail and the row is recorded with its error
    return answer_fields(label=next((name for cue, name in CUES.items() if cue in user), "billing"))


@pytest.fixture(scope="module")
def cluster():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def write_rows(path, n: int, *, unique: int | None = None, bad: int | None = None) -> int:
    """``n`` rows (``id``, ``text``) whose texts repeat every ``unique`` rows; row ``bad`` asks about the weather.
    Returns how many distinct texts there are."""
    unique = unique or n
    texts = [f"message {i % unique} about my {CUE_NAMES[(i % unique) % 4]}" for i in range(n)]
    if bad is not None:
        texts[bad] = "what about the weather"
    pq.write_table(pa.table({"id": list(range(n)), "text": texts}), path)
    return len(set(texts))


def successes(ledger_path) -> dict:
    """Successful calls in the ledger: rows, and distinct keys among them."""
    ledger = Ledger.open_readonly(ledger_path)
    try:
        rows = ledger.calls(limit=None, errors=False)
        return {"paid": len(rows), "keys": len({row["key"] for row in rows})}
    finally:
        ledger.close()


def compiled_at(tmp_path):
    path = tmp_path / "compiled.json"
    CompiledProgram(lmprog.Classify(TASK), TASK, lm={"model": "openai/test-model"}).save(path)
    return path


def test_parquet_in_and_out_each_call_paid_once_and_a_free_rerun(cluster, tmp_path):
    import lmprog.scale as scale

    data, ledger = tmp_path / "in.parquet", tmp_path / "ledger.db"
    distinct = write_rows(data, 300, unique=240, bad=7)
    with TestLMServer(rule=reader, latency=0.02) as server:
        common = dict(api_base=server.api_base, ledger=ledger, threads=6, rps=60, max_in_flight=5)
        first = scale.label(data, compiled_at(tmp_path), out=tmp_path / "out.parquet", **common)
        paid = server.request_count
        again = scale.label(data, tmp_path / "compiled.json", out=tmp_path / "again.parquet", **common)
        assert server.request_count == paid  # the rerun paid nothing
        assert paid == distinct + 1  # duplicates sent once (the bad row is asked twice: chat, then JSON adapter)
        assert server.meter.max_in_flight <= 5 and first.max_in_flight_seen <= 5
        assert server.meter.busiest_second() <= 60 + 1
    out = pq.read_table(tmp_path / "out.parquet")
    assert out.column_names == ["id", "text", "label", "confidence", "error"]
    assert out.column("id").to_pylist() == list(range(300))
    rows = out.to_pylist()
    assert rows[7]["error"] == "parse_failure" and rows[7]["label"] is None
    assert all(row["label"] == CUES[row["text"].split()[-1]] for i, row in enumerate(rows) if i != 7)
    assert first.written == 300 and first.failed == 1 and first.paid_calls == paid
    assert again.paid_calls == 0 and again.ledger_hits >= paid
    assert pq.read_table(tmp_path / "again.parquet").equals(out)
    assert successes(ledger) == {"paid": paid, "keys": paid}
    assert not (tmp_path / "out.parquet.parts").exists() and not (tmp_path / ".out.parquet.inputs").exists()


def test_the_budget_holds_across_workers_and_a_rerun_finishes(cluster, tmp_path):
    import lmprog.scale as scale

    data, ledger, out = tmp_path / "in.jsonl", tmp_path / "ledger.db", tmp_path / "out.jsonl"
    with data.open("w") as handle:
        for i in range(120):
            handle.write(f'{{"id": {i}, "text": "message {i} about my {CUE_NAMES[i % 4]}"}}\n')
    with TestLMServer(rule=reader, latency=0.05) as server:
        stopped = scale.label(data, compiled_at(tmp_path), out=out, api_base=server.api_base, ledger=ledger,
                              threads=4, concurrency=2, budget=Budget(max_calls=30))
        assert server.request_count == 30
        assert stopped.budget_stopped and stopped.paid_calls == 30 and stopped.written <= 30
        kept = out.read_text().splitlines()
        assert len(kept) == stopped.written and all('"error"' not in line for line in kept)
        finished = scale.label(data, tmp_path / "compiled.json", out=out, api_base=server.api_base, ledger=ledger,
                               threads=4, concurrency=2)
        assert server.request_count == 120  # nothing paid twice
    assert finished.skipped == stopped.written and finished.written == 120 - stopped.written
    ids = [int(line.split(",")[0].split(":")[1]) for line in out.read_text().splitlines()]
    assert ids == list(range(120))
    assert successes(ledger) == {"paid": 120, "keys": 120}


def test_a_killed_worker_repays_at_most_its_calls_in_flight(cluster, tmp_path):
    import ray

    import lmprog.scale as scale

    data, ledger = tmp_path / "in.parquet", tmp_path / "ledger.db"
    write_rows(data, 160)
    threads = 3
    with TestLMServer(rule=reader, latency=0.25) as server:
        result: dict = {}
        job = threading.Thread(target=lambda: result.update(summary=scale.label(
            data, compiled_at(tmp_path), out=tmp_path / "out.parquet", api_base=server.api_base, ledger=ledger,
            threads=threads, concurrency=2)))
        job.start()
        victim = _worker_pid(ray, server, after_requests=30)
        os.kill(victim, signal.SIGKILL)
        job.join(timeout=400)
        assert not job.is_alive()
        assert server.request_count <= 160 + threads  # only the killed worker's calls in flight were paid again
    assert pq.read_table(tmp_path / "out.parquet").column("id").to_pylist() == list(range(160))
    assert successes(ledger) == {"paid": 160, "keys": 160}
    assert result["summary"].written == 160


def _worker_pid(ray, server, *, after_requests: int) -> int:
    """The process id of one labelling actor, once the server has seen ``after_requests`` requests."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if server.request_count >= after_requests:
            names = [a["name"] for a in ray.util.list_named_actors(all_namespaces=True)
                     if a["name"].startswith("lmprog-gate-")]
            if names:
                gate = ray.get_actor(names[0], namespace=next(a["namespace"] for a in ray.util.list_named_actors(
                    all_namespaces=True) if a["name"] == names[0]))
                workers = ray.get(gate.stats.remote())["workers"]
                if workers:
                    return int(workers[0].rsplit(":", 1)[1])
        time.sleep(0.2)
    raise AssertionError("no labelling actor showed up")
