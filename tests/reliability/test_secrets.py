"""Fake API keys in the environment and in arguments: after every verb, no key is in the ledger, the
artifacts, the model files, the reports, the predictions or anything printed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import lmprog
from lmprog.testing import TestLMServer
from tests.reliability import harness

pytestmark = pytest.mark.reliability

ENV_KEYS = {"OPENAI_API_KEY": "sk-env-openai-5ecret-1111", "ANTHROPIC_API_KEY": "sk-ant-env-5ecret-2222",
            "LMPROG_TEST_TOKEN": "tok-env-5ecret-3333"}
ARG_KEY = "sk-argument-5ecret-4444"


def everything_written(folder: Path) -> bytes:
    """Every file's bytes (the ledger's requests are compressed: see the export, which is scanned too)."""
    return b"".join(path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file())


def test_no_key_at_rest_after_every_verb(tmp_path):
    task = harness.write_task(tmp_path)
    env = harness.cli_env(**ENV_KEYS)
    printed = []
    with TestLMServer(rule=harness.scripted, faults={"500": 0.1}, faults_by_request=True, retry_after=0) as server:
        common = harness.lm_args(server, tmp_path / "ledger.db")
        compiled, model = tmp_path / "compiled.json", tmp_path / "model.skops"
        for args in (
            ["plan", "classify", "--task", task, *common],
            ["compile", "classify", "--task", task, *common, "--out", compiled, "--report", tmp_path / "c.html"],
            ["evaluate", compiled, "--data", tmp_path / "test.jsonl", *common, "--report", tmp_path / "e.html",
             "--baseline"],
            ["evaluate", compiled, "--data", tmp_path / "test.jsonl", *common, "--json"],
            ["predict", compiled, "--data", tmp_path / "unlabeled.jsonl", "--out", tmp_path / "p.jsonl", *common],
            ["report", compiled, "--data", tmp_path / "test.jsonl", "--ledger", tmp_path / "ledger.db", "--html",
             tmp_path / "r.html"],
            ["distill", compiled, "--unlabeled", tmp_path / "unlabeled.jsonl", "--gold", tmp_path / "test.jsonl",
             "--out", model, "--report", tmp_path / "d.html", *common],
            ["predict", model, "--data", tmp_path / "unlabeled.jsonl", "--out", tmp_path / "c.jsonl", "--cascade",
             compiled, *common],
            ["cache", "stats", "--ledger", tmp_path / "ledger.db"],
            ["cache", "ls", "--ledger", tmp_path / "ledger.db", "--json"],
            ["cache", "runs", "--ledger", tmp_path / "ledger.db"],
            ["cache", "export", "--ledger", tmp_path / "ledger.db", "-o", tmp_path / "export.jsonl"],
        ):
            result = harness.cli(*args, env=env)
            assert result.returncode == 0, (args[0], result.stderr)
            printed.append((result.stdout + result.stderr).encode())
    written = everything_written(tmp_path) + b"".join(printed)
    for name, key in ENV_KEYS.items():
        assert key.encode() not in written, name
    assert b"5ecret" not in written


def test_no_key_at_rest_from_python_arguments(tmp_path, monkeypatch):
    for name in ENV_KEYS:
        monkeypatch.delenv(name, raising=False)
    task = lmprog.Task.from_toml(harness.write_task(tmp_path))
    with TestLMServer(rule=harness.scripted) as server:
        lm = lmprog.make_lm("openai/test-model", api_base=server.api_base, api_key=ARG_KEY, ledger=tmp_path / "l.db")
        compiled = lmprog.compile(lmprog.Classify(task), task.load("train"), lm=lm, demo_sets=2, instructions=1)
        compiled.save(tmp_path / "compiled.json")
        evaluation = lmprog.evaluate(compiled, task.load("test"), lm=lm)
        from lmprog import report

        report.write_html(evaluation.report(), tmp_path / "report.html")
        lmprog.distill(compiled, tmp_path / "unlabeled.jsonl", lm=lm).save(tmp_path / "model.skops")
        server.fail_next("500", count=10)
        with pytest.raises(Exception):  # a provider error: its message is stored, scrubbed
            lmprog.make_lm("openai/test-model", api_base=server.api_base, api_key=ARG_KEY, ledger=tmp_path / "l.db",
                           num_retries=0)("this call fails")
    lm.ledger.checkpoint()
    exported = "".join(json.dumps(row, default=str) for row in lm.ledger.iter_export())  # requests decompressed
    assert ARG_KEY.encode() not in everything_written(tmp_path) and ARG_KEY not in exported
    assert all(ARG_KEY not in repr(value) for value in compiled.lm.values())
