"""lmprog suggest, audit and estimate as a user runs them (subprocesses; the program on the test server), and
their one-line errors."""

from __future__ import annotations

import functools
import json
import random

import pytest

import lmprog
from lmprog.artifact import CompiledProgram
from lmprog.testing import TestLMServer
from tests.loop_data import TOPICS, UNSURE, answering_rule, rows, task, topic_of, write_jsonl, write_task

KEY = "sk-test-loop-cli-7"


@pytest.fixture(scope="module")
def cli(cli):
    return functools.partial(cli, env={"OPENAI_API_KEY": KEY})


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("loop-cli")
    train = rows(2, seed=7)
    write_task(folder, train)
    pool = [{"text": r["text"] + (f" {UNSURE}" if i % 4 == 0 else "")} for i, r in enumerate(rows(20, seed=8))]
    write_jsonl(folder / "pool.jsonl", pool + [{"text": train[0]["text"]}])
    audited, rng = rows(12, seed=9), random.Random(9)
    wrong = set(rng.sample(range(len(audited)), 6))
    names = list(TOPICS)
    for i in wrong:
        audited[i]["label"] = names[(names.index(audited[i]["label"]) + 1) % len(names)]
    write_jsonl(folder / "audited.jsonl", audited)
    (folder / "wrong.json").write_text(json.dumps(sorted(wrong)))
    CompiledProgram(program=lmprog.Classify(task()), task=task(), lm={"model": "openai/test-model"}).save(
        folder / "compiled.json")
    return folder


def test_suggest_writes_a_queue_without_the_labelled_texts(cli, folder):
    args = ["suggest", folder / "task.toml", "--unlabeled", folder / "pool.jsonl", "--n", "5", "--out",
            folder / "to_label.jsonl", "--embeddings", "tfidf"]
    result = cli(*args, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["strategy"] == "uncertainty" and data["labelled"] == 12 and data["excluded"] == {"already labelled": 1}
    queue = [json.loads(line) for line in (folder / "to_label.jsonl").read_text().splitlines()]
    assert [q["row"] for q in queue] == [r["row"] for r in data["rows"]] and len(queue) == 5
    train = {json.loads(line)["text"] for line in (folder / "train.jsonl").read_text().splitlines()}
    assert all(q["queue"] == "suggest" and q["reason"] and q["label"] is None and q["text"] not in train
               for q in queue)
    again = cli(*args)  # its own queue file is replaced without --force; the same seed gives the same rows
    assert again.returncode == 0, again.stderr
    assert "rows chosen by uncertainty" in again.stdout and "wrote" in again.stdout
    assert [json.loads(line) for line in (folder / "to_label.jsonl").read_text().splitlines()] == queue


def test_audit_prints_flags_writes_a_report_and_a_review_queue(cli, folder):
    result = cli("audit", folder / "task.toml", "--data", folder / "audited.jsonl", "--embeddings", "tfidf",
                 "--report", folder / "audit.html", "--out", folder / "review.jsonl", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    wrong = set(json.loads((folder / "wrong.json").read_text()))
    flagged = {flag["row"] for flag in data["flags"]}
    assert len(flagged & wrong) >= 4 and len(flagged - wrong) <= 1, (flagged, wrong)
    assert data["report"] == str(folder / "audit.html") and 'id="table-flags"' in (folder / "audit.html").read_text()
    review = [json.loads(line) for line in (folder / "review.jsonl").read_text().splitlines()]
    assert [r["row"] for r in review] == [f["row"] for f in data["flags"]] and review[0]["queue"] == "audit"
    shown = cli("audit", folder / "task.toml", "--data", folder / "audited.jsonl", "--embeddings", "tfidf",
                "--top", "2")
    assert shown.returncode == 0 and f"{len(flagged)} of 72 labels look wrong" in shown.stdout


def test_estimate_draws_then_reads_the_labels_back(cli, folder):
    with TestLMServer(rule=answering_rule(wrong={UNSURE})) as server:
        common = ["--api-base", server.api_base, "--ledger", folder / "ledger.db"]
        drawn = cli("estimate", folder / "compiled.json", "--unlabeled", folder / "pool.jsonl", "--labels", "30",
                    "--out", folder / "estimate.jsonl", *common)
        assert drawn.returncode == 0, drawn.stderr
        assert "drew 30 labels" in drawn.stdout and "--labelled" in drawn.stdout
        queue = [json.loads(line) for line in (folder / "estimate.jsonl").read_text().splitlines()]
        write_jsonl(folder / "estimate.jsonl", [dict(q, label=topic_of(q["text"])) for q in queue])
        paid = server.request_count
        result = cli("estimate", folder / "compiled.json", "--unlabeled", folder / "pool.jsonl", "--labelled",
                     folder / "estimate.jsonl", "--json", *common)
        assert result.returncode == 0, result.stderr
        assert server.request_count == paid  # replayed from the ledger
    data = json.loads(result.stdout)
    assert data["phase"] == "estimate" and data["labels"] == 30 and data["metric"] == "accuracy"
    assert data["estimate"]["low"] <= 91 / 121 <= data["estimate"]["high"]
    assert data["uniform_width"] > 0 and data["width"] > 0
    assert KEY not in (folder / "estimate.jsonl").read_text()


@pytest.mark.parametrize("args, message", [
    (["suggest", "{f}/task.toml", "--unlabeled", "{f}/pool.jsonl", "--out", "{f}/audited.jsonl"],
     "audited.jsonl exists and is not a file lmprog wrote"),
    (["suggest", "{f}/task.toml", "--unlabeled", "{f}/pool.jsonl", "--out", "{f}/q.jsonl", "--strategy", "x"],
     "unknown strategy 'x'"),
    (["audit", "{f}/task.toml", "--data", "{f}/missing.jsonl"], "missing.jsonl"),
    (["estimate", "{f}/compiled.json", "--unlabeled", "{f}/pool.jsonl", "--labels", "5"], "give --out"),
])
def test_user_errors_are_one_line_and_exit_2(cli, folder, args, message):
    result = cli(*[a.format(f=folder) for a in args])
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr
