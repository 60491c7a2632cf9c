"""Scale bench: threads-only ``lmprog predict`` against ``--engine ray`` on a local cluster, a distilled classifier
over many rows, and the faults (a killed worker, a killed driver resumed).

    python bench/scale.py [--rows 20000] [--classifier-rows 1000000] [--work DIR] [--json results.json]

The LM is a loopback TestLMServer with 200 ms latency and a 100 requests/s limit (it answers 429 with
Retry-After beyond it). Both engines run at the same in-flight cap; Ray also paces itself with
``--rps 100``. Rows/s is measured end to end (the command's wall time, start-up included) and from the
server's side (admitted requests between the first and the last). The kill-once run is the issue's
Done-when scenario: a Parquet file labelled through ``--engine ray``, the driver killed with SIGKILL
mid-job, rerun, and the ledger checked to hold each paid call once.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

import lmprog  # noqa: E402
from lmprog.artifact import CompiledProgram  # noqa: E402
from lmprog.ledger import Ledger  # noqa: E402
from lmprog.task import Task  # noqa: E402
from lmprog.testing import TestLMServer, answer_fields, last_user_message  # noqa: E402

TASK = Task(inputs={"text": "the message"}, labels=["billing", "card", "refund", "transfer"],
            instructions="Which banking intent is this?", name="bank")
CUES = {"bill": "billing", "card": "card", "refund": "refund", "transfer": "transfer"}
IN_FLIGHT, RATE, LATENCY = 20, 100.0, 0.2


def rule(body: dict) -> str:
    user = last_user_message(body)
    return answer_fields(label=next((name for cue, name in CUES.items() if cue in user), "billing"))


def texts(n: int) -> list[str]:
    cues = list(CUES)
    return [f"message {i} about my {cues[i % 4]} and account {i * 7919 % 100003}" for i in range(n)]


def lmprog_cli(*args, env=None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "lmprog.cli", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, text=True, start_new_session=True,
                            env={**os.environ, **(env or {})})


def timed(*args) -> tuple[float, str, int]:
    """Seconds, output and peak RSS (MiB, the command's own process tree as far as it waited for it)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    process = lmprog_cli(*args)
    out, _ = process.communicate()
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"lmprog {' '.join(map(str, args))} failed ({process.returncode}):\n{out}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return seconds, out, max(peak, before) // 1024


def server_view(server: TestLMServer, since: int) -> dict:
    arrivals = sorted(server.meter.arrivals)[since:]
    span = arrivals[-1] - arrivals[0] if len(arrivals) > 1 else 0.0
    return {"requests": len(arrivals), "rate": (len(arrivals) - 1) / span if span else None}


def ledger_check(path: Path) -> dict:
    ledger = Ledger.open_readonly(path)
    try:
        rows = ledger.calls(limit=None, errors=False)
        return {"paid": len(rows), "distinct": len({r["key"] for r in rows})}
    finally:
        ledger.close()


def lm_runs(work: Path, server: TestLMServer, rows: int, results: dict) -> None:
    data, compiled = work / "in.parquet", work / "compiled.json"
    common = ["--data", data, "--api-base", server.api_base]
    for name, extra in (("threads", ["--threads", IN_FLIGHT]),
                        ("ray", ["--engine", "ray", "--concurrency", 2, "--threads", IN_FLIGHT // 2 + 2,
                                 "--max-in-flight", IN_FLIGHT, "--rps", RATE])):
        since, requests = len(server.meter.arrivals), server.request_count
        limited = server.meter.limited
        seconds, _, peak = timed("predict", compiled, *common, "--out", work / f"{name}.parquet",
                                 "--ledger", work / f"{name}.db", *extra)
        results[name] = {"rows": rows, "seconds": seconds, "rows_per_s": rows / seconds, "peak_mib": peak,
                         "paid": server.request_count - requests, "limited_429": server.meter.limited - limited,
                         "server": server_view(server, since), "ledger": ledger_check(work / f"{name}.db")}


def kill_once(work: Path, server: TestLMServer, rows: int, results: dict) -> None:
    """The Done-when scenario: --engine ray, the driver SIGKILLed mid-job, resumed; the ledger checked."""
    out, ledger = work / "killed.parquet", work / "killed.db"
    args = ["predict", work / "compiled.json", "--data", work / "in.parquet", "--out", out, "--ledger", ledger,
            "--api-base", server.api_base, "--engine", "ray", "--concurrency", 2, "--threads", IN_FLIGHT // 2 + 2,
            "--max-in-flight", IN_FLIGHT, "--rps", RATE]
    before = server.request_count
    first = lmprog_cli(*args)
    while server.request_count - before < rows * 0.4 and first.poll() is None:
        time.sleep(0.5)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    paid_before_kill = server.request_count - before
    written = sum(pq.ParquetFile(p).metadata.num_rows for p in (work / "killed.parquet.parts").glob("part-*.parquet"))
    time.sleep(3)  # what the killed cluster still had in flight reaches the server now or never
    seconds, output, _ = timed(*args)
    table = pq.read_table(out, columns=["id"])
    results["kill_once"] = {"rows": rows, "paid_before_kill": paid_before_kill, "rows_written_before_kill": written,
                            "paid_total": server.request_count - before, "resume_seconds": seconds,
                            "ids_in_order": table.column("id").to_pylist() == list(range(rows)),
                            "ledger": ledger_check(ledger), "resume_output": output.strip()}


def killed_worker(work: Path, server: TestLMServer, rows: int, results: dict) -> None:
    """An actor SIGKILLed mid-job (in this process's own Ray cluster); how many calls were paid again."""
    import ray

    import lmprog.scale as scale

    data = work / "worker-in.parquet"
    pq.write_table(pa.table({"id": list(range(rows)), "text": [f"worker {t}" for t in texts(rows)]}), data)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    before, threads = server.request_count, IN_FLIGHT // 2 + 2
    import threading

    done: dict = {}
    job = threading.Thread(target=lambda: done.update(summary=scale.label(
        data, work / "compiled.json", out=work / "worker-out.parquet", api_base=server.api_base,
        ledger=work / "worker.db", threads=threads, max_in_flight=IN_FLIGHT, rps=RATE)))
    job.start()
    while server.request_count - before < rows * 0.3:
        time.sleep(0.2)
    gate = next(a for a in ray.util.list_named_actors(all_namespaces=True) if a["name"].startswith("lmprog-gate-"))
    workers = ray.get(ray.get_actor(gate["name"], namespace=gate["namespace"]).stats.remote())["workers"]
    os.kill(int(workers[0].rsplit(":", 1)[1]), signal.SIGKILL)
    job.join()
    ray.shutdown()
    results["killed_worker"] = {"rows": rows, "paid": server.request_count - before,
                                "repaid": server.request_count - before - rows, "threads_per_actor": threads,
                                "ledger": ledger_check(work / "worker.db")}


def classifier_runs(work: Path, rows: int, results: dict) -> None:
    from lmprog.distillation.classifier import Distilled
    from lmprog.supervised import text_pipeline

    train = texts(400)
    gold = [CUES[t.split()[4]] for t in train]
    pipeline = text_pipeline("tfidf", multi_label=False, balance=True, seed=0).fit(train, gold)
    Distilled(pipeline, TASK, classes=list(pipeline.classes_), ranked=False).save(work / "model.skops")
    data = work / "big.parquet"
    with pq.ParquetWriter(data, pa.schema([("id", pa.int64()), ("text", pa.string())])) as writer:
        for start in range(0, rows, 100_000):
            stop = min(rows, start + 100_000)
            writer.write_table(pa.table({"id": list(range(start, stop)), "text": texts(stop)[start:]}))
    for name, extra in (("classifier in-process", []), ("classifier ray", ["--engine", "ray", "--concurrency", 2])):
        out = work / f"{name.replace(' ', '-')}.parquet"
        seconds, _, peak = timed("predict", work / "model.skops", "--data", data, "--out", out, *extra)
        results[name] = {"rows": rows, "seconds": seconds, "rows_per_s": rows / seconds, "peak_mib": peak}


def table(results: dict) -> Table:
    shown = Table(title=f"lmprog scale bench (TestLMServer: {LATENCY * 1000:.0f} ms, {RATE:.0f} req/s limit; "
                        f"in-flight cap {IN_FLIGHT})")
    for column in ("run", "rows", "seconds", "rows/s", "server req/s", "paid", "ledger (paid/distinct)", "notes"):
        shown.add_column(column, justify="left" if column in ("run", "notes") else "right")
    for name in ("threads", "ray"):
        r = results.get(name)
        if r:
            rate = r["server"]["rate"]
            shown.add_row(f"predict --engine {name}", f"{r['rows']:,}", f"{r['seconds']:.1f}",
                          f"{r['rows_per_s']:.1f}", "-" if rate is None else f"{rate:.1f}", f"{r['paid']:,}",
                          f"{r['ledger']['paid']:,}/{r['ledger']['distinct']:,}",
                          f"{r['rows_per_s'] / RATE:.0%} of the limit end to end; 429s {r['limited_429']}")
    for name in ("classifier in-process", "classifier ray"):
        r = results.get(name)
        if r:
            shown.add_row(name, f"{r['rows']:,}", f"{r['seconds']:.1f}", f"{r['rows_per_s']:,.0f}", "-", "0", "-",
                          f"driver peak RSS {r['peak_mib']:,} MiB")
    if "killed_worker" in results:
        r = results["killed_worker"]
        shown.add_row("ray, one actor SIGKILLed", f"{r['rows']:,}", "-", "-", "-", f"{r['paid']:,}",
                      f"{r['ledger']['paid']:,}/{r['ledger']['distinct']:,}",
                      f"re-paid {r['repaid']} (actor threads {r['threads_per_actor']})")
    if "kill_once" in results:
        r = results["kill_once"]
        shown.add_row("ray, driver SIGKILLed + resumed", f"{r['rows']:,}", f"{r['resume_seconds']:.1f}", "-", "-",
                      f"{r['paid_total']:,}", f"{r['ledger']['paid']:,}/{r['ledger']['distinct']:,}",
                      f"killed after {r['paid_before_kill']:,} paid, {r['rows_written_before_kill']:,} rows written; "
                      f"re-paid {r['paid_total'] - r['rows']}; ids in order {r['ids_in_order']}")
    return shown


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--classifier-rows", type=int, default=1_000_000)
    parser.add_argument("--worker-rows", type=int, default=3_000)
    parser.add_argument("--only", nargs="*", default=["lm", "kill", "worker", "classifier"])
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None)
    options = parser.parse_args()
    work = options.work or Path(tempfile.mkdtemp(prefix="lmprog-scale-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    results: dict = {}
    pq.write_table(pa.table({"id": list(range(options.rows)), "text": texts(options.rows)}), work / "in.parquet")
    CompiledProgram(lmprog.Classify(TASK), TASK, lm={"model": "openai/test-model"}).save(work / "compiled.json")
    with TestLMServer(rule=rule, latency=LATENCY, rate_limit=RATE) as server:
        if "lm" in options.only:
            lm_runs(work, server, options.rows, results)
        if "kill" in options.only:
            kill_once(work, server, options.rows, results)
        if "worker" in options.only:
            killed_worker(work, server, options.worker_rows, results)
    if "classifier" in options.only:
        classifier_runs(work, options.classifier_rows, results)
    if options.json:
        previous = json.loads(options.json.read_text()) if options.json.exists() else {}
        options.json.write_text(json.dumps({**previous, **results}, indent=2, default=str))
        results = {**previous, **results}
    Console(width=200).print(table(results))


if __name__ == "__main__":
    main()
