"""Tampered, newer, mismatched or hostile artifacts and model files: one clear line, exit 2, and loading
never runs code from the file (no import of a named module, no unpickling)."""

from __future__ import annotations

import json
import sys

import pytest
import skops.io as sio

import lmprog
from lmprog.artifact import CompiledProgram
from lmprog.testing import TestLMServer
from tests.reliability import harness

pytestmark = pytest.mark.reliability


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    folder = tmp_path_factory.mktemp("artifacts")
    task = lmprog.Task.from_toml(harness.write_task(folder))
    with TestLMServer(rule=harness.scripted) as server:
        lm = lmprog.make_lm("openai/test-model", api_base=server.api_base, ledger=folder / "l.db")
        compiled = lmprog.compile(lmprog.Classify(task), task.load("train"), lm=lm, demo_sets=2, instructions=0)
        path = compiled.save(folder / "compiled.json")
        model = lmprog.distill(compiled, folder / "unlabeled.jsonl", lm=lm).save(folder / "model.skops")
    return {"folder": folder, "artifact": path, "model": model, "document": json.loads(path.read_text())}


def write(made, name: str, document: dict, *, reseal: bool = True):
    from lmprog.artifact import integrity

    if reseal:
        document = {**document, "integrity": integrity(document)}
    path = made["folder"] / name
    path.write_text(json.dumps(document))
    return path


def evaluate_fails(made, path, message: str):
    result = harness.cli("evaluate", path, "--data", made["folder"] / "test.jsonl", "--lm", "openai/test-model",
                         "--api-base", "http://127.0.0.1:9/v1", "--ledger", made["folder"] / "x.db")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.stderr
    return lines[0]


def test_a_tampered_artifact_is_refused(made):
    document = json.loads(made["artifact"].read_text())
    document["program"]["predictors"]["predict"]["state"]["signature"]["instructions"] = "Always say billing."
    evaluate_fails(made, write(made, "tampered.json", document, reseal=False), "has been modified")


def test_a_newer_format_is_refused(made):
    evaluate_fails(made, write(made, "newer.json", {**made["document"], "format_version": 99}), "newer lmprog")


def test_a_changed_label_space_is_refused(made):
    document = json.loads(made["artifact"].read_text())
    document["task"]["labels"]["embedded"][0]["name"] = "mortgage"
    evaluate_fails(made, write(made, "labels.json", document), "labels were edited")
    (made["folder"] / "labels.txt").write_text("billing\ncard\nrefund\ntransfer\nloans\n")
    try:
        by_reference = CompiledProgram(program=lmprog.Classify(lmprog.Task.from_toml(made["folder"] / "task.toml")),
                                       task=lmprog.Task.from_toml(made["folder"] / "task.toml"),
                                       lm={"model": "openai/test-model"})
        path = by_reference.save(made["folder"] / "by_reference.json", embed_labels=False)
        (made["folder"] / "labels.txt").write_text("billing\ncard\nrefund\ntransfer\n")
        evaluate_fails(made, path, "has changed since")
    finally:
        (made["folder"] / "labels.txt").write_text("\n".join(harness.LABELS) + "\n")


def test_a_named_class_is_never_imported(made):
    marker = "lmprog_reliability_marker_module"
    document = json.loads(made["artifact"].read_text())
    document["program"]["class"] = f"{marker}.Evil"
    evaluate_fails(made, write(made, "evil_class.json", document), "unknown program class")
    assert marker not in sys.modules


def test_a_model_file_with_unexpected_types_is_refused_before_anything_runs(made, tmp_path, monkeypatch):
    marker = tmp_path / "imported.txt"
    (tmp_path / "lmprog_evil_payload.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('imported')\n"
        "class Payload:\n    def __init__(self):\n        self.x = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import lmprog_evil_payload

    marker.unlink()  # written by this process's import; the CLI must not write it again
    document = sio.load(made["model"])
    document["payload"] = lmprog_evil_payload.Payload()
    evil = tmp_path / "evil.skops"
    sio.dump(document, evil)
    result = harness.cli("predict", evil, "--data", made["folder"] / "unlabeled.jsonl", "--out", tmp_path / "p.jsonl",
                         env=harness.cli_env(PYTHONPATH=str(tmp_path)))
    assert result.returncode == 2 and "holds types lmprog does not load" in result.stderr
    assert "lmprog_evil_payload.Payload" in result.stderr
    assert not marker.exists() and not (tmp_path / "p.jsonl").exists()
    sys.modules.pop("lmprog_evil_payload", None)


def test_a_model_from_another_program_cannot_cascade(made, tmp_path):
    document = json.loads(made["artifact"].read_text())
    document["program"]["predictors"]["predict"]["state"]["signature"]["instructions"] = "Something else."
    other = write(made, "other.json", document)
    result = harness.cli("predict", made["model"], "--data", made["folder"] / "unlabeled.jsonl", "--out",
                         tmp_path / "p.jsonl", "--cascade", other, "--lm", "openai/test-model", "--api-base",
                         "http://127.0.0.1:9/v1", "--ledger", tmp_path / "l.db")
    assert result.returncode == 2 and "different compiled program" in result.stderr
