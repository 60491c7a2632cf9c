"""Ledger benchmark: hit latency, per-call overhead (one call, and 32 in flight against DSPy), cached replay
vs DSPy's own cache, bytes, CLI start.

    python bench/ledger.py                 # 10,000 calls (about 3 minutes on 2 cores)
    python bench/ledger.py --calls 2000    # quicker
    python bench/ledger.py --only overhead # the two overhead ratios alone (bench/overhead.py)

Everything runs against lmprog's test server on 127.0.0.1. Timings are measured in one run and
compared as ratios; the machine is shared, so absolute numbers move between runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from lmprog.testing import TestLMServer, answer_fields  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
import overhead  # noqa: E402

MODEL = "openai/test-model"
KEY = "sk-bench-not-a-real-key"
# A realistic label-task prompt: DSPy's ChatAdapter adds field descriptions and format rules.
SIGNATURE = "text -> label"
INSTRUCTIONS = (
    "Classify the SMS message as ham or spam. Spam is unsolicited advertising, prize claims, premium-rate "
    "offers or phishing; ham is an ordinary personal or business message."
)


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def texts(n: int) -> list[str]:
    return [f"Message {i}: are we still meeting at {i % 24}:00 near the station? Reply soon, {i}" for i in range(n)]


def predictor(shots: int = 0):
    import dspy

    predict = dspy.Predict(dspy.Signature(SIGNATURE, INSTRUCTIONS))
    demo_texts = ["WINNER!! You have won a 1000 GBP prize, call 09061701461 to claim before midnight",
                  "Sorry, I'll call you later, I am in a meeting until five",
                  "URGENT: your mobile number was awarded a free holiday, text CLAIM to 80086 now",
                  "Can you pick up some milk and bread on your way home tonight?"]
    predict.demos = [dspy.Example(text=text, label="spam" if i % 2 == 0 else "ham")
                     for i, text in enumerate(demo_texts[:shots])]
    return predict


def run_predict(lm, inputs: list[str], shots: int = 0) -> float:
    import dspy

    predict = predictor(shots)
    started = time.perf_counter()
    with dspy.context(lm=lm):
        for text in inputs:
            predict(text=text)
    return time.perf_counter() - started


def replay_in_subprocess(kind: str, api_base: str, workdir: Path, n: int) -> float:
    """Time a fully cached replay in a fresh process (what a rerun of a script sees)."""
    code = f"""
import os, sys, time, json
sys.path.insert(0, {str(Path(__file__).parent)!r})
os.environ['DSPY_CACHEDIR'] = {str(workdir / 'dspy_cache')!r}
import ledger as bench
lm = bench.make_{kind}_lm({api_base!r}, {str(workdir)!r})
inputs = bench.texts({n})
cold = bench.run_predict(lm, inputs)
warm = bench.run_predict(lm, inputs)
print(json.dumps([cold, warm]))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def make_lmprog_lm(api_base: str, workdir: str, cache: str = "readwrite"):
    import lmprog

    return lmprog.make_lm(MODEL, api_base=api_base, api_key=KEY, ledger=Path(workdir) / "ledger.db", cache=cache)


def make_dspy_lm(api_base: str, workdir: str):
    import dspy

    dspy.configure_cache(enable_disk_cache=True, enable_memory_cache=True,
                         disk_cache_dir=str(Path(workdir) / "dspy_cache"))
    return dspy.LM(MODEL, api_base=api_base, api_key=KEY, cache=True, temperature=0.0, max_tokens=1024,
                   engine="litellm")


def hit_latency(ledger, keys: list[str], samples: int = 20000) -> list[float]:
    import random

    rng = random.Random(0)
    picks = [rng.choice(keys) for _ in range(samples)]
    timings = []
    for key in picks:
        started = time.perf_counter_ns()
        ledger.get(key)
        timings.append((time.perf_counter_ns() - started) / 1000)
    return timings


def engine_hit_latency(lm, inputs: list[str], samples: int = 3000) -> list[float]:
    """A hit through the whole LM call (DSPy's request building + ledger lookup + response rebuild)."""
    timings = []
    for text in inputs[:samples]:
        started = time.perf_counter_ns()
        lm(text)
        timings.append((time.perf_counter_ns() - started) / 1000)
    return timings


def cli_cold_start(runs: int = 7) -> float:
    exe = Path(sys.executable).with_name("lmprog")
    command = [str(exe), "--help"] if exe.exists() else [sys.executable, "-m", "lmprog.cli", "--help"]
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def storage_per_call(api_base: str, workdir: Path, inputs: list[str], shots: int) -> tuple[float, float]:
    """(ledger file bytes, raw canonical request JSON + response bytes) per call, on a fresh ledger."""
    lm = make_lmprog_lm(api_base, str(workdir))
    run_predict(lm, inputs, shots)
    ledger = lm.ledger
    ledger.checkpoint()
    raw, count = 0, 0
    for row in ledger.iter_export():
        raw += len(json.dumps(row["request"], ensure_ascii=False).encode()) + len((row["response"] or "").encode())
        count += 1
    return ledger.file_bytes() / count, raw / count


def measure_overhead() -> tuple[dict, dict]:
    """The in-flight comparison and the one-call medians, against test servers in a process of their own."""
    with tempfile.TemporaryDirectory() as tmp:
        flight = overhead.in_flight(Path(tmp))
        with overhead.ServerProcess(0.0) as server:
            single = overhead.one_call(server.api_base, Path(tmp))
    return flight, single


def overhead_rows(row, flight: dict, single: dict) -> None:
    ratio = flight["lmprog"] / flight["dspy"]
    row(f"{flight['threads']} in flight, {flight['latency'] * 1000:.0f} ms server: lmprog.evaluate / dspy.Parallel",
        f"{flight['lmprog']:.0f} / {flight['dspy']:.0f} calls/s")
    row("in-flight throughput lmprog / DSPy (plain dspy.LM)", f"{ratio:.2f}", ">= 1.0", ratio >= 1.0)
    row("one uncached call: bare litellm / lmprog / plain dspy.LM",
        f"{single['bare']:.2f} / {single['lmprog']:.2f} / {single['dspy']:.2f} ms")
    one = single["lmprog"] / single["bare"]
    row("one uncached call lmprog / bare litellm", f"{one:.2f}x ({single['lmprog'] - single['bare']:+.2f} ms)",
        "<= 1.2x", one <= 1.2)


def overhead_only(console: Console) -> None:
    flight, single = measure_overhead()
    table = Table(title="lmprog per-call overhead (test servers on 127.0.0.1)")
    for column in ("measure", "value", "target", "met"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    overhead_rows(lambda measure, value, target="", met=None: table.add_row(
        measure, value, target, "" if met is None else ("yes" if met else "NO")), flight, single)
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=10_000, help="calls in the cached replay (default 10,000)")
    parser.add_argument("--only", choices=["overhead"], help="measure only the per-call overhead")
    args = parser.parse_args()
    console = Console(width=120)
    if args.only == "overhead":
        overhead_only(console)
        return
    inputs = texts(args.calls)
    rule = lambda body: answer_fields(label="ham")  # noqa: E731
    with tempfile.TemporaryDirectory() as tmp, TestLMServer(rule=rule) as server:
        workdir = Path(tmp)
        console.print(f"filling both caches with {args.calls:,} Predict calls against {server.url} ...")
        lm = make_lmprog_lm(server.api_base, tmp)
        fill_lmprog = run_predict(lm, inputs)
        os.environ["DSPY_CACHEDIR"] = str(workdir / "dspy_cache")
        fill_dspy = run_predict(make_dspy_lm(server.api_base, tmp), inputs)
        assert server.request_count == 2 * args.calls, server.request_count

        ledger = lm.ledger
        ledger.checkpoint()
        keys = [row["key"] for row in ledger.calls(limit=None)]
        lookups = hit_latency(ledger, keys)
        probes = [f"probe {i}" for i in range(2000)]
        engine_hit_latency(lm, probes)  # first pass records the calls
        engine_hits = engine_hit_latency(lm, probes)

        console.print("replaying in fresh processes ...")
        requests_before = server.request_count
        lmprog_cold, lmprog_warm = replay_in_subprocess("lmprog", server.api_base, workdir, args.calls)
        dspy_cold, dspy_warm = replay_in_subprocess("dspy", server.api_base, workdir, args.calls)
        assert server.request_count == requests_before, "a replay reached the server"

        storage_inputs = inputs[: min(len(inputs), 2000)]
        storage = {shots: storage_per_call(server.api_base, workdir / f"storage{shots}", storage_inputs, shots)
                   for shots in (0, 4)}
        help_seconds = cli_cold_start()
    flight, single = measure_overhead()

    n = args.calls
    table = Table(title=f"lmprog ledger benchmark ({n:,} calls, test server on 127.0.0.1)")
    for column in ("measure", "value", "target", "met"):
        table.add_column(column, justify="left" if column == "measure" else "right")

    def row(measure, value, target="", met=None):
        table.add_row(measure, value, target, "" if met is None else ("yes" if met else "NO"))

    p50, p99 = percentile(lookups, 0.5), percentile(lookups, 0.99)
    row("hit lookup p50 (ledger.get)", f"{p50:.1f} µs", "<= 200 µs", p50 <= 200)
    row("hit lookup p99 (ledger.get)", f"{p99:.1f} µs")
    row("hit through lm(...) p50 / p99", f"{percentile(engine_hits, .5):.0f} / {percentile(engine_hits, .99):.0f} µs")
    overhead_rows(row, flight, single)
    row("fill: lmprog / DSPy cache (calls/s)", f"{n / fill_lmprog:,.0f} / {n / fill_dspy:,.0f}")
    ratio_cold = (n / lmprog_cold) / (n / dspy_cold)
    row("replay, new process: lmprog (calls/s)", f"{n / lmprog_cold:,.0f}")
    row("replay, new process: DSPy cache (calls/s)", f"{n / dspy_cold:,.0f}")
    row("replay ratio lmprog / DSPy (new process)", f"{ratio_cold:.2f}", ">= 1.0", ratio_cold >= 1.0)
    ratio_warm = (n / lmprog_warm) / (n / dspy_warm)
    row("replay, same process again: lmprog / DSPy (calls/s)", f"{n / lmprog_warm:,.0f} / {n / dspy_warm:,.0f}")
    row("replay ratio lmprog / DSPy (same process, DSPy in memory)", f"{ratio_warm:.2f}")
    for shots, (ledger_bytes, raw) in storage.items():
        share = ledger_bytes / raw
        row(f"{shots}-shot prompt: ledger / raw bytes per call", f"{ledger_bytes:,.0f} / {raw:,.0f} B = {share:.0%}",
            "<= 40%", share <= 0.40)
    row("lmprog --help cold start (median of 7)", f"{help_seconds:.3f} s", "<= 0.3 s", help_seconds <= 0.3)
    console.print(table)


if __name__ == "__main__":
    main()
