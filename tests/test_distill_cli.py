"""lmprog distill and lmprog predict model.skops [--cascade], as a user runs them: subprocesses against the test server."""

from __future__ import annotations

import functools
import json

import pytest

import lmprog
from lmprog.artifact import CompiledProgram
from lmprog.testing import TestLMServer
from tests.test_distill import example_task, noisy_teacher

KEY = "sk-test-distill-cli-4242"


@pytest.fixture(scope="module")
def cli(cli):
    return functools.partial(cli, env={"OPENAI_API_KEY": KEY})


@pytest.fixture(scope="module")
def setup(tmp_path_factory, cli):
    folder = tmp_path_factory.mktemp("distill-cli")
    task = example_task("sms_spam")
    pool, gold_examples = list(task.load("test")), list(task.load("train"))
    gold = {ex.text: ex.label for ex in pool + gold_examples}
    noisy = {ex.text for ex in pool[::6]}
    (folder / "unlabeled.jsonl").write_text("".join(json.dumps({"text": ex.text}) + "\n" for ex in pool))
    (folder / "gold.jsonl").write_text("".join(json.dumps({"text": ex.text, "label": ex.label}) + "\n"
                                               for ex in gold_examples))
    (folder / "new.jsonl").write_text("".join(json.dumps({"id": i, "text": ex.text}) + "\n"
                                              for i, ex in enumerate(gold_examples)))
    CompiledProgram(program=lmprog.Classify(task), task=task, lm={"model": "openai/test-model"}).save(
        folder / "compiled.json")
    with TestLMServer(rule=noisy_teacher(task, gold, noisy)) as server:
        common = ["--api-base", server.api_base, "--ledger", folder / "ledger.db"]
        distilled = cli("distill", folder / "compiled.json", "--unlabeled", folder / "unlabeled.jsonl", "--gold",
                        folder / "gold.jsonl", "--min-confidence", "0.5", "--out", folder / "model.skops",
                        "--report", folder / "distill.html", "--json", *common)
        yield {"folder": folder, "server": server, "common": common, "distilled": distilled, "gold": gold,
               "noisy": noisy}


def test_distill_saves_a_classifier_and_a_report(setup):
    result = setup["distilled"]
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["training"]["dropped"] == {"low confidence": len(setup["noisy"])}
    names = [row["name"] for row in data["comparison"]]
    assert names[:2] == ["program", "classifier"] and names[2].startswith("cascade")
    assert data["comparison"][1]["predictions_per_second"] > data["comparison"][0]["predictions_per_second"]
    assert (setup["folder"] / "model.skops").is_file()
    html = (setup["folder"] / "distill.html").read_text()
    assert 'id="plot-cascade"' in html and "<svg" in html and "<script" not in html
    for path in setup["folder"].iterdir():
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


def test_distill_prints_a_readable_report(setup, cli):
    result = cli("distill", setup["folder"] / "compiled.json", "--unlabeled", setup["folder"] / "unlabeled.jsonl",
                 "--out", setup["folder"] / "again.skops", *setup["common"])
    assert result.returncode == 0, result.stderr
    assert "classifier" in result.stdout and "predictions/s" in result.stdout and "kept" in result.stdout


def test_predict_with_the_classifier_alone_makes_no_lm_call(setup, cli):
    folder, server = setup["folder"], setup["server"]
    before = server.request_count
    result = cli("predict", folder / "model.skops", "--data", folder / "new.jsonl", "--out", folder / "alone.jsonl",
                 "--json")
    assert result.returncode == 0, result.stderr
    assert server.request_count == before
    rows = [json.loads(line) for line in (folder / "alone.jsonl").read_text().splitlines()]
    assert len(rows) == 50 and all(row["source"] == "classifier" and row["label"] in ("ham", "spam") for row in rows)
    assert [row["id"] for row in rows] == list(range(50))


def test_predict_cascade_sends_the_unsure_rows_to_the_program(setup, cli):
    folder = setup["folder"]
    result = cli("predict", folder / "model.skops", "--data", folder / "new.jsonl", "--out", folder / "cascade.jsonl",
                 "--cascade", folder / "compiled.json", "--max-lm-fraction", "0.3", "--json", *setup["common"])
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    rows = [json.loads(line) for line in (folder / "cascade.jsonl").read_text().splitlines()]
    from_program = [row for row in rows if row["source"] == "program"]
    assert summary["lm_rows"] == len(from_program) and len(from_program) <= 0.5 * len(rows)
    assert all(row["label"] == setup["gold"][row["text"]] for row in from_program)
    assert all(row["confidence"] >= summary["threshold"] for row in rows if row["source"] == "classifier")


@pytest.mark.parametrize("args, message", [
    (["--cascade", "{folder}/compiled.json", "--max-lm-fraction", "1.5"], "between 0 and 1"),
    (["--max-lm-fraction", "0.2"], "need --cascade"),
    (["--cascade", "{folder}/missing.json"], "does not exist"),
])
def test_predict_errors_are_one_line(setup, args, message, cli):
    folder = setup["folder"]
    result = cli("predict", folder / "model.skops", "--data", folder / "new.jsonl", "--out", folder / "x.jsonl",
                 *[a.format(folder=folder) for a in args], *setup["common"])
    assert result.returncode == 2 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_distill_errors_are_one_line(setup, tmp_path, cli):
    folder = setup["folder"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine"}\n{"txt": "no text field"}\n')
    for args, message in [
        (["--unlabeled", tmp_path / "missing.jsonl"], "missing.jsonl"),
        (["--unlabeled", bad], "bad.jsonl"),
        (["--unlabeled", folder / "unlabeled.jsonl", "--features", "bag"], "unknown features"),
        (["--unlabeled", folder / "unlabeled.jsonl", "--gold", folder / "unlabeled.jsonl"], "unlabeled.jsonl"),
    ]:
        result = cli("distill", folder / "compiled.json", *args, "--out", tmp_path / "m.skops", *setup["common"])
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    not_a_model = tmp_path / "m.skops"
    not_a_model.write_text("hello")
    result = cli("predict", not_a_model, "--data", folder / "new.jsonl", "--out", tmp_path / "p.jsonl")
    assert result.returncode == 2 and "not a skops file" in result.stderr
