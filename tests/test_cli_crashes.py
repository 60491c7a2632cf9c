"""The crashes a new user ran into (issue 13), each run through the CLI: one line on stderr, exit code 2,
checked before any work, nothing replaced that the user did not ask to replace."""

from __future__ import annotations

import functools
import hashlib
import json
import shutil
from pathlib import Path

import pytest

from tests.test_cli_programs import write_task
from tests.test_compile import scripted

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.server(rule=scripted)


@pytest.fixture(scope="module")
def cli(cli):
    return functools.partial(cli, env={"OPENAI_API_KEY": "sk-test-cli"})


@pytest.fixture(scope="module")
def setup(module_server, tmp_path_factory, cli):
    folder = tmp_path_factory.mktemp("crashes")
    task = write_task(folder)
    common = ["--lm", "openai/test-model", "--api-base", module_server.api_base, "--ledger", folder / "ledger.db"]
    done = cli("compile", "classify", "--task", task, *common, "--out", folder / "compiled.json", "--json")
    assert done.returncode == 0, done.stderr
    return {"folder": folder, "task": task, "common": common}


def one_line_error(result, *words: str) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_plan_works_for_infer_retrieve_rank(cli, tmp_path):
    result = cli("plan", "infer_retrieve_rank", "--task", REPO / "examples/esco_tech/task.toml", "--json",
                 "--ledger", tmp_path / "l.db", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    names = [phase["name"] for phase in plan["phases"]]
    assert plan["calls"] > 0 and any(n.startswith("infer: ") for n in names) and any(n.startswith("rank: ") for n in names)


def test_evaluate_report_into_a_missing_folder_fails_before_any_call(setup, module_server, cli):
    folder = setup["folder"]
    before = module_server.request_count
    result = cli("evaluate", folder / "compiled.json", "--data", folder / "test.jsonl", *setup["common"][2:],
                 "--api-base", module_server.api_base, "--report", "/missing-dir/r.html")
    one_line_error(result, "/missing-dir")
    assert module_server.request_count == before


def test_predict_into_a_missing_folder_fails_before_any_call(setup, module_server, cli):
    folder = setup["folder"]
    before = module_server.request_count
    result = cli("predict", folder / "compiled.json", "--data", folder / "test.jsonl", *setup["common"][2:],
                 "--api-base", module_server.api_base, "--out", "/missing-dir/p.jsonl")
    one_line_error(result, "/missing-dir")
    assert module_server.request_count == before


def test_predict_refuses_to_write_over_its_input(setup, module_server, cli):
    folder = setup["folder"]
    data = folder / "to-label.jsonl"
    shutil.copy(folder / "test.jsonl", data)
    digest = sha(data)
    result = cli("predict", folder / "compiled.json", "--data", data, "--out", data, *setup["common"][2:],
                 "--api-base", module_server.api_base)
    one_line_error(result, "input")
    assert sha(data) == digest


def test_predict_refuses_an_existing_file_it_did_not_write_unless_forced(setup, module_server, cli):
    folder = setup["folder"]
    other = folder / "notes.jsonl"
    other.write_text('{"note": "mine"}\n')
    args = ["predict", folder / "compiled.json", "--data", folder / "test.jsonl", "--out", other,
            *setup["common"][2:], "--api-base", module_server.api_base]
    one_line_error(cli(*args), "--force")
    assert other.read_text() == '{"note": "mine"}\n'
    forced = cli(*args, "--force")
    assert forced.returncode == 0, forced.stderr
    rows = [json.loads(line) for line in other.read_text().splitlines()]
    assert len(rows) == 12 and all("label" in row for row in rows)


def test_cache_export_refuses_to_replace_a_data_file(setup, cli):
    folder = setup["folder"]
    data = folder / "train-copy.jsonl"
    shutil.copy(folder / "train.jsonl", data)
    digest = sha(data)
    one_line_error(cli("cache", "export", "--ledger", folder / "ledger.db", "-o", data), "--force")
    assert sha(data) == digest
    export = folder / "export.jsonl"
    assert cli("cache", "export", "--ledger", folder / "ledger.db", "-o", export).returncode == 0
    again = cli("cache", "export", "--ledger", folder / "ledger.db", "-o", export)  # an earlier export: replaced
    assert again.returncode == 0, again.stderr


def test_compile_refuses_to_replace_a_file_that_is_not_an_artifact(setup, module_server, cli):
    folder = setup["folder"]
    precious = folder / "precious.json"
    precious.write_text('{"mine": true}\n')
    result = cli("compile", "classify", "--task", setup["task"], *setup["common"], "--out", precious)
    one_line_error(result, "--force")
    assert precious.read_text() == '{"mine": true}\n'


def test_read_only_commands_leave_a_committed_ledger_byte_identical(cli, tmp_path):
    ledger = REPO / "cache/examples/sms_spam.db"
    digest = sha(ledger)
    for args in (("stats", "--json"), ("ls", "--limit", "3"), ("runs", "--json"), ("show", "0"),
                 ("export", "-o", tmp_path / "export.jsonl")):
        result = cli("cache", *args, "--ledger", ledger)
        assert result.returncode in (0, 2), result.stderr  # "show 0" may match several calls: a one-line error
        assert "Traceback" not in result.stderr
    report = cli("report", REPO / "examples/sms_spam/compiled.json", "--data", REPO / "examples/sms_spam/test.jsonl",
                 "--ledger", ledger, "--json")
    assert report.returncode == 0, report.stderr
    assert sha(ledger) == digest
    assert not Path(f"{ledger}-wal").exists() and not Path(f"{ledger}-shm").exists()


def test_an_unparseable_teacher_draft_is_recorded_and_skipped(cli, tmp_path):
    from lmprog.testing import TestLMServer

    def rule(body):
        if "careful annotator" in body["messages"][0]["content"]:
            return "I will not write in your format."
        return scripted(body)

    task = write_task(tmp_path)
    with TestLMServer(rule=rule) as server:
        result = cli("compile", "classify", "--task", task, "--lm", "openai/test-model", "--api-base", server.api_base,
                     "--ledger", tmp_path / "l.db", "--out", tmp_path / "c.json", "--json")
    assert result.returncode == 0, result.stderr
    optimizer = json.loads((tmp_path / "c.json").read_text())["optimizer"]
    assert optimizer["skipped_drafts"] and "did not parse" in optimizer["skipped_drafts"][0]["reason"]


def test_a_replayed_compile_prints_no_truncation_warning(cli, tmp_path):
    from lmprog.testing import TestLMServer

    def truncated(body):  # whole answers, but reported as cut at the token limit
        return {"content": scripted(body), "finish_reason": "length"}

    task = write_task(tmp_path)
    args = ["compile", "classify", "--task", task, "--lm", "openai/test-model", "--ledger", tmp_path / "l.db",
            "--out", tmp_path / "c.json"]
    with TestLMServer(rule=truncated) as server:
        first = cli(*args, "--api-base", server.api_base)
    assert first.returncode == 0, first.stderr
    assert "truncated" in first.stderr.lower()  # DSPy warns when the answers are paid for
    replay = cli(*args, "--offline", "--api-base", "http://127.0.0.1:9/v1")
    assert replay.returncode == 0, replay.stderr
    assert "truncated" not in replay.stderr.lower()
