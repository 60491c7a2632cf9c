"""compile, plan, evaluate, predict and report as a user runs them: subprocesses against the test server."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest

from tests.test_compile import CUES, scripted

LABELS = sorted(set(CUES.values()))

pytestmark = pytest.mark.server(rule=scripted)


@pytest.fixture(scope="module")
def cli(cli):
    return functools.partial(cli, env={"OPENAI_API_KEY": "sk-test-cli"})


def write_task(folder: Path, n: int = 24, test: int = 12) -> Path:
    cues = list(CUES)
    rows = [{"text": f"question {i} about my {cues[i % 4]}", "label": CUES[cues[i % 4]]} for i in range(n + test)]
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:n]))
    (folder / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[n:]))
    (folder / "labels.txt").write_text("\n".join(LABELS) + "\n")
    task = folder / "task.toml"
    task.write_text('name = "bank"\ninstructions = "Which banking intent is this?"\n[inputs]\ntext = "the message"\n'
                    '[labels]\nfile = "labels.txt"\n[data]\ntrain = "train.jsonl"\ntest = "test.jsonl"\n')
    return task


@pytest.fixture(scope="module")
def compiled(module_server, tmp_path_factory, cli):
    folder = tmp_path_factory.mktemp("cli-programs")
    task = write_task(folder)
    common = ["--task", task, "--lm", "openai/test-model", "--api-base", module_server.api_base,
              "--ledger", folder / "ledger.db", "-o", "reasoning=false"]
    planned = cli("plan", "classify", *common, "--json")
    before = module_server.request_count
    result = cli("compile", "classify", *common, "--out", folder / "compiled.json", "--report", folder / "c.html",
                 "--json")
    return {"folder": folder, "task": task, "plan": planned, "compile": result,
            "calls": module_server.request_count - before, "common": common}


def test_plan_estimates_without_calling_the_lm(compiled):
    assert compiled["plan"].returncode == 0, compiled["plan"].stderr
    plan = json.loads(compiled["plan"].stdout)
    assert plan["paid_calls"] > 0 and plan["usd"] is None  # a test model has no price
    assert abs(plan["calls"] - compiled["calls"]) <= plan["calls"] * 0.5


def test_compile_saves_the_artifact_and_a_report(compiled):
    assert compiled["compile"].returncode == 0, compiled["compile"].stderr
    summary = json.loads(compiled["compile"].stdout)
    dev_score = summary["dev_score"]  # with its interval when the compile records one
    assert (dev_score["value"] if isinstance(dev_score, dict) else dev_score) == 1.0
    assert summary["spent"]["calls"] == compiled["calls"]
    assert (compiled["folder"] / "compiled.json").is_file()
    html = (compiled["folder"] / "c.html").read_text()
    assert "zero-shot" in html and "sk-test-cli" not in html


def test_compile_again_pays_nothing_and_writes_the_same_bytes(compiled, module_server, cli):
    folder = compiled["folder"]
    first = (folder / "compiled.json").read_bytes()
    before = module_server.request_count
    again = cli("compile", "classify", *compiled["common"], "--out", folder / "again.json", "--json")
    assert again.returncode == 0, again.stderr
    assert module_server.request_count == before and json.loads(again.stdout)["spent"]["calls"] == 0
    assert (folder / "again.json").read_bytes() == first


def test_evaluate_json_and_report_replay(compiled, module_server, cli):
    folder = compiled["folder"]
    out = cli("evaluate", folder / "compiled.json", "--data", folder / "test.jsonl", "--api-base",
              module_server.api_base, "--ledger", folder / "ledger.db", "--json", "--report", folder / "e.html",
              "--baseline")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["headline"]["metric"] == "accuracy" and report["headline"]["value"]["value"] == 1.0
    assert report["headline"]["before"]["value"] == 0.25 and report["headline"]["before_label"] == "zero-shot"
    zero_shot_dev = report["metrics"]["dev score, zero-shot (compile)"]  # with the interval the artifact records
    assert (zero_shot_dev["value"] if isinstance(zero_shot_dev, dict) else zero_shot_dev) == 0.25
    assert report["data"]["examples"] == 12 and report["cost"]["paid_calls"] + report["cost"]["ledger_hits"] == 12
    before = module_server.request_count
    replay = cli("report", folder / "compiled.json", "--data", folder / "test.jsonl", "--ledger", folder / "ledger.db",
                 "--json")
    assert replay.returncode == 0, replay.stderr
    assert json.loads(replay.stdout)["metrics"] == report["metrics"] and module_server.request_count == before
    by_run = cli("report", report["program"]["run_id"], "--ledger", folder / "ledger.db")
    assert by_run.returncode == 0, by_run.stderr
    assert "accuracy" in by_run.stdout


def test_report_of_the_artifact_alone(compiled, cli):
    out = cli("report", compiled["folder"] / "compiled.json", "--ledger", compiled["folder"] / "ledger.db")
    assert out.returncode == 0, out.stderr
    assert "zero-shot" in out.stdout


def test_predict_streams_and_resumes(compiled, module_server, cli):
    folder = compiled["folder"]
    rows = [{"id": i, "text": f"please help with my {cue}"} for i, cue in enumerate(list(CUES) * 3)]
    (folder / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out_path = folder / "preds.jsonl"
    out_path.write_text(json.dumps({**rows[0], "label": "billing", "confidence": None}) + "\n" + '{"id": 1, "te')
    out = cli("predict", folder / "compiled.json", "--data", folder / "in.jsonl", "--out", out_path,
              "--api-base", module_server.api_base, "--ledger", folder / "ledger.db", "--json")
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["skipped"] == 1 and summary["written"] == 11
    written = [json.loads(line) for line in out_path.read_text().splitlines()]
    assert [r["id"] for r in written] == list(range(12))
    assert [r["label"] for r in written[1:4]] == ["card", "refund", "transfer"]


@pytest.mark.parametrize("args, message", [
    (["compile", "classify", "--task", "missing.toml"], "task file missing.toml does not exist"),
    (["compile", "nope.py", "--task", "{task}"], "program file nope.py does not exist"),
    (["compile", "classify", "--task", "{task}", "--lm", "notaprovider/x"], "notaprovider/x"),
    (["compile", "classify", "--task", "{task}", "--max-calls", "3", "--api-base", "{api}", "--lm",
      "openai/test-model", "--ledger", "{folder}/budget.db"], "budget"),
    (["evaluate", "{folder}/compiled.json", "--data", "{folder}/none.jsonl"], "none.jsonl"),
    (["evaluate", "{folder}/task.toml", "--data", "{folder}/test.jsonl"], "task.toml"),
    (["report", "no-such-run", "--ledger", "{folder}/ledger.db"], "no-such-run"),
    (["plan", "classify", "--task", "{folder}/bad.toml"], "bad.toml is not valid TOML"),
    (["evaluate", "{folder}/compiled.json", "--data", "{folder}/unknown_label.jsonl"], "unknown_label.jsonl"),
    (["compile", "classify", "--task", "{task}", "--seeds", "0,x"], "--seeds"),
    (["evaluate", "{folder}/compiled.json", "--data", "{folder}/test.jsonl", "--offline", "--ledger",
      "{folder}/empty.db"], "no ledger at"),
])
def test_user_errors_are_one_line_and_exit_2(compiled, module_server, args, message, cli):
    folder = compiled["folder"]
    (folder / "bad.toml").write_text("name = \n[inputs")
    (folder / "unknown_label.jsonl").write_text('{"text": "hi", "label": "billing"}\n{"text": "yo", "label": "mortgage"}\n')
    filled = [a.format(task=compiled["task"], folder=folder, api=module_server.api_base) for a in args]
    out = cli(*filled, cwd=folder)
    assert out.returncode == 2, (out.stdout, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], out.stderr
    assert "Traceback" not in out.stderr
