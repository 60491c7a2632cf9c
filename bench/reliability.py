"""Reliability figures: faults survived, calls lost, repeat calls after crashes, rows lost under
concurrency, hostile inputs handled. The experiments are the reliability suite's own
(tests/reliability/harness.py), against the test server on 127.0.0.1.

    python bench/reliability.py               # all four
    python bench/reliability.py --kills 20    # more crash moments
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

import lmprog  # noqa: E402
from lmprog.artifact import CompiledProgram  # noqa: E402
from lmprog.testing import TestLMServer  # noqa: E402
from tests.reliability import harness  # noqa: E402


def faults(folder: Path) -> list[tuple[str, str, str]]:
    result = harness.run_under_faults(folder)
    injected = sum(result["injected"].values())
    completed = sum(step["exit"] == 0 for step in result["steps"].values())
    kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(result["injected"].items()))
    return [("faults", "requests / faults injected", f"{result['requests']:,} / {injected:,} ({kinds})"),
            ("faults", "verbs completed (compile, evaluate, predict, distill)", f"{completed} of 4"),
            ("faults", "answers the server gave / in the ledger / lost",
             f"{result['answered']:,} / {result['ledger']['ok']:,} / {result['lost']:,}"),
            ("faults", "failed attempts recorded by kind = injected",
             "yes" if result["ledger"]["errors"] == result["expected_errors"] else
             f"no: {result['ledger']['errors']} vs {result['expected_errors']}")]


def crashes(folder: Path, kills: int) -> list[tuple[str, str, str]]:
    result = harness.crash_and_resume(folder, kills=kills)
    cycles = result["cycles"]
    repeats = sum(c["rerun_requests"] - c["expected_requests"] for c in cycles)
    mid = sum(c["calls_at_kill"] > 0 for c in cycles)
    return [("crashes", "kill -9 moments (with calls already in the ledger)", f"{len(cycles)} ({mid})"),
            ("crashes", "repeat calls for calls finished before the kill", f"{repeats:,}"),
            ("crashes", "integrity_check ok after kill / after rerun",
             f"{sum(c['integrity_at_kill'] == 'ok' for c in cycles)} / {sum(c['integrity'] == 'ok' for c in cycles)}"),
            ("crashes", "artifact equal to the uninterrupted run's", f"{sum(c['same_artifact'] for c in cycles)} of "
                                                                     f"{len(cycles)}")]


def concurrency(folder: Path) -> list[tuple[str, str, str]]:
    result = harness.concurrent_runs(folder, processes=4, threads=8)
    reports = [r for r in result["reports"] if "compile" in r]
    paid = sum(r[s]["paid"] for r in reports for s in ("compile", "evaluate"))
    hits = sum(r[s]["hits"] for r in reports for s in ("compile", "evaluate"))
    return [("concurrency", "processes x threads / finished", f"4 x 8 / {sum(e == 0 for e in result['exits'])}"),
            ("concurrency", "calls paid (sum of the runs) / requests served / ledger rows",
             f"{paid:,} / {result['requests']:,} / {result['rows']['ok']:,}"),
            ("concurrency", "rows lost", f"{paid - result['rows']['ok']:,}"),
            ("concurrency", "'database is locked' errors", f"{len(result['locked'])}"),
            ("concurrency", "cache stats: calls / hits vs the sum of the runs",
             f"{result['stats']['calls']:,} / {result['stats']['hits']:,} vs {paid:,} / {hits:,}")]


def hostile(folder: Path) -> list[tuple[str, str, str]]:
    cases = harness.hostile_cases(folder / "cases")
    task = lmprog.Task.from_toml(harness.write_task(folder / "task"))
    CompiledProgram(program=lmprog.Classify(task), task=task, lm={"model": "openai/test-model"}).save(
        folder / "compiled.json")
    with TestLMServer(rule=harness.scripted) as server:
        results = harness.run_hostile(folder / "cases", cases, server, folder / "compiled.json")
    verdicts = [harness.handled(r) for r in results]
    bad = [r["name"] for r, (ok, _) in zip(results, verdicts) if not ok]
    errors = sum(r["expect"] == "error" for r in results)
    return [("hostile input", "inputs tried (errors expected / valid oddities)",
             f"{len(results)} ({errors} / {len(results) - errors})"),
            ("hostile input", "handled (one line naming file and line, exit 2; or exit 0)",
             f"{len(results) - len(bad)}" + (f" (not: {', '.join(bad)})" if bad else ""))]


def main() -> None:
    parser = argparse.ArgumentParser(description="reliability figures against the test server")
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--only", default="faults,crashes,concurrency,hostile")
    args = parser.parse_args()
    console = Console(width=150)
    table = Table(title="reliability (test server on 127.0.0.1)")
    for column in ("area", "figure", "value", "seconds"):
        table.add_column(column, justify="right" if column == "seconds" else "left")
    experiments = {"faults": faults, "crashes": lambda f: crashes(f, args.kills), "concurrency": concurrency,
                   "hostile": hostile}
    with tempfile.TemporaryDirectory() as folder:
        for name in args.only.split(","):
            console.log(f"{name} ...")
            started = time.perf_counter()
            rows = experiments[name](Path(folder) / name)
            seconds = time.perf_counter() - started
            for i, (area, figure, value) in enumerate(rows):
                table.add_row(area if i == 0 else "", figure, value, f"{seconds:.0f}" if i == 0 else "")
    console.print(table)


if __name__ == "__main__":
    main()
