"""``lmprog predict --engine ray`` from the command line, with the driver killed (SIGKILL) mid-job and the
rerun resuming from the output and the ledger."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

pytest.importorskip("ray.data")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

import lmprog  # noqa: E402
from lmprog.artifact import CompiledProgram  # noqa: E402
from lmprog.data.sinks import parts_folder  # noqa: E402
from lmprog.testing import TestLMServer  # noqa: E402
from tests.test_compile import CUES, TASK  # noqa: E402
from tests.test_scale import reader, successes  # noqa: E402

pytestmark = [pytest.mark.ray, pytest.mark.slow]
ROWS, IN_FLIGHT = 1500, 6


def test_a_killed_driver_resumes_from_the_output_and_the_ledger(tmp_path):
    cues = list(CUES)
    data, out, ledger = tmp_path / "in.parquet", tmp_path / "out.parquet", tmp_path / "ledger.db"
    pq.write_table(pa.table({"id": list(range(ROWS)), "text": [f"row {i} about my {cues[i % 4]}" for i in range(ROWS)]}),
                   data)
    CompiledProgram(lmprog.Classify(TASK), TASK, lm={"model": "openai/test-model"}).save(tmp_path / "compiled.json")
    with TestLMServer(rule=reader, latency=0.01) as server:
        args = [sys.executable, "-m", "lmprog.cli", "predict", str(tmp_path / "compiled.json"), "--data", str(data),
                "--out", str(out), "--ledger", str(ledger), "--api-base", server.api_base, "--engine", "ray",
                "--threads", "4", "--max-in-flight", str(IN_FLIGHT)]
        environment = {k: v for k, v in os.environ.items() if k not in ("LMPROG_LM", "LMPROG_LEDGER")}
        driver = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  env=environment, start_new_session=True)
        deadline = time.monotonic() + 300
        while not list(parts_folder(out).glob("part-*.parquet")) and time.monotonic() < deadline:
            assert driver.poll() is None, "the job ended before it could be killed"
            time.sleep(0.1)
        os.killpg(driver.pid, signal.SIGKILL)  # the driver and the local cluster it started
        driver.wait()
        time.sleep(1)
        paid_before = server.request_count
        assert 0 < paid_before < ROWS and not out.exists()
        resumed = subprocess.run([*args, "--json"], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                 env=environment, timeout=600)
        assert resumed.returncode == 0, resumed.stderr[-2000:]
        assert server.request_count <= ROWS + IN_FLIGHT  # only calls in flight at the kill were paid again
    report = __import__("json").loads(resumed.stdout)
    assert report["skipped"] >= 1024 and report["skipped"] + report["written"] == ROWS
    assert pq.read_table(out).column("id").to_pylist() == list(range(ROWS))
    assert successes(ledger) == {"paid": ROWS, "keys": ROWS}
    assert not parts_folder(out).exists()
