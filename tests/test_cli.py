"""The lmprog command, run as a user runs it: in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import lmprog
from lmprog.run import open_run
from lmprog.testing import TestLMServer


@pytest.fixture(scope="module")
def ledger_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "ledger.db"
    with TestLMServer(rule={"fail": "unused", "default": "fine"}) as server:
        lm = lmprog.make_lm("openai/test-model", api_base=server.api_base, api_key="sk-test-000000000",
                            ledger=path, num_retries=0)
        with open_run(lm, "pytest-cli"):
            lm("first prompt")
            lm("second prompt")
            lm("first prompt")  # a hit
            server.fail_next("500")
            with pytest.raises(Exception):
                lm("third prompt")
    return path


def test_help_does_not_import_dspy_or_litellm():
    code = ("import sys; from lmprog.cli import app; from typer.testing import CliRunner; "
            "CliRunner().invoke(app, ['--help']); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dspy', 'litellm')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_help_lists_the_cache_commands(cli):
    out = cli("cache", "--help")
    assert out.returncode == 0
    for verb in ("path", "stats", "ls", "show", "export", "clear"):
        assert verb in out.stdout


def test_stats_json_counts_calls_hits_and_errors(ledger_file, cli):
    out = cli("cache", "stats", "--json", "--ledger", str(ledger_file))
    assert out.returncode == 0, out.stderr
    stats = json.loads(out.stdout)
    assert stats["calls"] == 2 and stats["hits"] == 1 and stats["errors"] == 1
    assert stats["errors_by_kind"] == {"server_error": 1}
    assert stats["by_model"][0]["name"] == "openai/test-model"


def test_stats_table_and_ls(ledger_file, cli):
    table = cli("cache", "stats", "--ledger", str(ledger_file))
    assert table.returncode == 0 and "paid calls" in table.stdout and "ledger hits" in table.stdout
    rows = json.loads(cli("cache", "ls", "--json", "--ledger", str(ledger_file)).stdout)
    assert len(rows) == 3 and {r["error_kind"] for r in rows} == {None, "server_error"}
    listing = cli("cache", "ls", "--ledger", str(ledger_file))
    assert rows[0]["key"][:12] in listing.stdout


def test_show_by_prefix_and_export(ledger_file, tmp_path, cli):
    rows = json.loads(cli("cache", "ls", "--json", "--errors", "--ledger", str(ledger_file)).stdout)
    assert [r["error_kind"] for r in rows] == ["server_error"]
    ok = json.loads(cli("cache", "ls", "--json", "--ledger", str(ledger_file)).stdout)[-1]
    shown = json.loads(cli("cache", "show", ok["key"][:10], "--ledger", str(ledger_file)).stdout)
    assert shown["response"] == "fine"
    assert shown["request"]["request"]["messages"][0]["parts"][0]["text"] == "first prompt"
    out = tmp_path / "calls.jsonl"
    assert cli("cache", "export", "-o", str(out), "--ledger", str(ledger_file)).returncode == 0
    assert len(out.read_text().splitlines()) == 3


def test_runs_lists_the_run(ledger_file, cli):
    runs = json.loads(cli("cache", "runs", "--json", "--ledger", str(ledger_file)).stdout)
    assert runs[0]["command"] == "pytest-cli" and runs[0]["hits"] == 1 and runs[0]["calls"] == 2


@pytest.mark.parametrize("args, message", [
    (["cache", "show", "nope"], "no call with key 'nope'"),
    (["cache", "stats", "--ledger", "/nonexistent/dir/x.db"], "no ledger at /nonexistent/dir/x.db"),
])
def test_user_errors_are_one_line_and_exit_2(args, message, ledger_file, cli):
    if "--ledger" not in args:
        args = [*args, "--ledger", str(ledger_file)]
    out = cli(*args)
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and message in out.stderr
    assert "Traceback" not in out.stderr


def test_clear_needs_yes_off_a_terminal(ledger_file, tmp_path, cli):
    copy = tmp_path / "copy.db"
    lmprog.Ledger(ledger_file).checkpoint()  # fold the WAL in before copying the file
    copy.write_bytes(ledger_file.read_bytes())
    refused = cli("cache", "clear", "--ledger", str(copy))
    assert refused.returncode == 2 and "without --yes" in refused.stderr
    cleared = cli("cache", "clear", "--errors", "--yes", "--ledger", str(copy))
    assert cleared.returncode == 0 and "deleted 1 failed attempts" in cleared.stdout


def test_path_prints_the_default_location(tmp_path, cli):
    out = cli("cache", "path", cwd=tmp_path)
    assert out.stdout.strip() == str(tmp_path / "cache" / "lmprog.db")
