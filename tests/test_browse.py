"""``lmprog cache browse``: the real Datasette on 127.0.0.1 (a free port), queried over its JSON API. The
canned queries answer, a decoded request holds the original prompt, and the ledger file stays byte-identical."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("datasette")

from lmprog.ledger import CallRecord, Ledger
from lmprog.run import open_run
from lmprog.testing import TestLMServer, answer_fields

PROMPTS = [f"Message {i}: the parcel for flat {i} is at the front desk, collect it before six" for i in range(6)]
STARTUP_SECONDS = 120
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # 127.0.0.1 directly, whatever the env


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def ledger_file(tmp_path_factory) -> Path:
    """A ledger written the usual way: DSPy predictions through lmprog's LM, a failed attempt, hits."""
    import dspy

    import lmprog

    path = tmp_path_factory.mktemp("browse") / "ledger.db"
    with TestLMServer(rule=lambda request: answer_fields(label="ham")) as server:
        lm = lmprog.make_lm("openai/test-model", api_base=server.api_base, ledger=path)
        predict = dspy.Predict("text -> label")
        with open_run(lm, "label", {"rows": len(PROMPTS)}) as run, dspy.context(lm=lm):
            for _ in range(2):  # the second pass: ledger hits
                for text in PROMPTS:
                    predict(text=text)
            lm.ledger.put(CallRecord(key="ab" * 32, model="openai/test-model", request={"request": {}, "sample": 0},
                                     run_id=run.run_id, module="Predict", latency_ms=30_000.0,
                                     error_kind="rate_limit", error="429 slow down"))
        lm.ledger.close()
    assert not Path(f"{path}-wal").exists()
    return path


class Browser:
    """``lmprog cache browse`` in a subprocess, and GETs of its JSON API."""

    def __init__(self, ledger: Path):
        env = {k: v for k, v in os.environ.items() if k not in ("LMPROG_LM", "LMPROG_LEDGER")}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "lmprog.cli", "cache", "browse", "--ledger", str(ledger), "--port", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env=env)
        self.url = self._announced_url()

    def _announced_url(self) -> str:
        found: list[str] = []
        reader = threading.Thread(target=lambda: found.append(self.process.stdout.readline()), daemon=True)
        reader.start()
        reader.join(STARTUP_SECONDS)
        line = found[0] if found else ""
        assert "http://127.0.0.1:" in line, (line, self.process.poll())
        return line.split(" at ", 1)[1].split()[0]

    def get(self, path: str, **params) -> object:
        query = urllib.parse.urlencode({**params, "_shape": "array"})
        with NO_PROXY.open(f"{self.url}{path}?{query}", timeout=STARTUP_SECONDS) as response:
            return json.loads(response.read())

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=60)


@pytest.fixture(scope="module")
def browsed(ledger_file):
    before, files = sha(ledger_file), sorted(os.listdir(ledger_file.parent))
    browser = Browser(ledger_file)
    try:
        yield browser
    finally:
        browser.stop()
    # Browsing never changes the file, and leaves nothing next to it.
    assert sha(ledger_file) == before
    assert sorted(os.listdir(ledger_file.parent)) == files


def test_it_listens_on_loopback_only(browsed):
    assert browsed.url.startswith("http://127.0.0.1:") and browsed.url.endswith("/ledger")


def test_spend_by_run_module_and_model(browsed):
    [run] = browsed.get("/spend_by_run.json")
    assert (run["command"], run["paid_calls"], run["ledger_hits"], run["failed_attempts"]) == ("label", 6, 6, 1)
    by_module = {row["module"]: row for row in browsed.get("/spend_by_module.json")}
    assert by_module["Predict"]["failed_attempts"] == 1 and sum(r["paid_calls"] for r in by_module.values()) == 6
    [model] = browsed.get("/spend_by_model.json")
    assert (model["model"], model["paid_calls"]) == ("openai/test-model", 6)


def test_failed_calls_by_kind_and_slowest_calls(browsed):
    [failed] = browsed.get("/failed_by_kind.json")
    assert (failed["error_kind"], failed["attempts"], failed["latest_error"]) == ("rate_limit", 1, "429 slow down")
    slowest = browsed.get("/slowest_calls.json")
    assert len(slowest) == 7 and slowest[0]["error_kind"] == "rate_limit"
    latencies = [row["latency_ms"] for row in slowest]
    assert latencies == sorted(latencies, reverse=True)


def test_requests_are_readable(browsed):
    recent = [row for row in browsed.get("/recent_calls.json") if row["error_kind"] is None]
    assert sorted(PROMPTS) == sorted(p for p in PROMPTS for row in recent if p in row["prompt"])
    request = json.loads(recent[0]["request"])
    texts = [part["text"] for message in request["request"]["messages"] for part in message["parts"]]
    assert any(prompt in text for prompt in PROMPTS for text in texts)
    assert "label" in request["request"]["system"]  # restored from the texts table, not a reference

    [call] = browsed.get("/call.json", key=recent[0]["key"][:10].upper())
    assert call["key"] == recent[0]["key"] and call["prompt"] == recent[0]["prompt"]
    # The SQL function in any query
    rows = browsed.get(".json", sql="SELECT lmprog_prompt(request) AS prompt FROM calls WHERE error_kind IS NULL")
    assert all(any(p in row["prompt"] for p in PROMPTS) for row in rows) and len(rows) == 6


def test_a_ledger_being_written_shows_its_newest_calls(tmp_path):
    path = tmp_path / "live.db"
    writer = Ledger(path)
    writer.put(CallRecord(key="cd" * 32, model="m", request={"request": {"system": "fresh call"}, "sample": 0},
                          response="ok"))
    assert Path(f"{path}-wal").exists()  # the writer is still open: the call is in its log
    before = sha(path)
    browser = Browser(path)
    try:
        [row] = browser.get(".json", sql="SELECT lmprog_prompt(request) AS prompt FROM calls")
        assert row["prompt"] == "system:\nfresh call"
    finally:
        browser.stop()
        assert sha(path) == before
        writer.close()


def test_a_file_that_is_not_a_ledger_is_one_line(tmp_path, cli):
    (tmp_path / "notes.db").write_text("not a database")
    result = cli("cache", "browse", "--ledger", tmp_path / "notes.db", "--port", "0")
    assert result.returncode == 2 and result.stderr.startswith("error: cannot open ledger")
    assert len(result.stderr.strip().splitlines()) == 1
