"""Each example replays offline from its committed ledger: zero LM calls, the committed artifact, byte for byte."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PROGRAMS = {"sms_spam": "programs/classify.py", "banking77": "programs/classify.py",
            "nlupp": "programs/multilabel.py", "esco_tech": "programs/infer_retrieve_rank.py"}


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_example_replays_with_zero_lm_calls(name, tmp_path, cli):
    example = REPO / "examples" / name
    committed_ledger = REPO / "cache" / "examples" / f"{name}.db"
    assert committed_ledger.is_file(), f"examples/{name} has no committed ledger; run examples/regenerate.sh {name}"
    ledger = tmp_path / "ledger.db"
    shutil.copy(committed_ledger, ledger)  # replaying counts hits in the file: keep the committed one clean

    # Next to the committed artifact, so paths stored relative to it (a large label file) are the same.
    out = example / f".replayed-{os.getpid()}.json"
    try:
        compiled = cli("compile", REPO / PROGRAMS[name], "--task", example / "task.toml", "--ledger", ledger,
                       "--out", out, "--offline", "--json", cwd=tmp_path)
        assert compiled.returncode == 0, compiled.stderr
        summary = json.loads(compiled.stdout)
        assert summary["spent"]["calls"] == 0 and summary["spent"]["hits"] > 0
        assert out.read_bytes() == (example / "compiled.json").read_bytes()
    finally:
        out.unlink(missing_ok=True)

    # --baseline: the zero-shot LM program is replayed too (a shipped classifier calls no LM of its own).
    evaluated = cli("evaluate", example / "compiled.json", "--data", example / "test.jsonl", "--ledger", ledger,
                    "--offline", "--baseline", "--json", cwd=tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr
    report = json.loads(evaluated.stdout)
    examples = sum(1 for line in (example / "test.jsonl").open() if line.strip())
    assert report["cost"]["paid_calls"] == 0 and report["data"]["examples"] == examples
    # --offline: a call missing from the ledger would have failed the command, so the baseline was replayed.
    assert report["headline"]["before_label"] == "zero-shot" and report["headline"]["before"]["n"] == examples
    # An offline replay records nothing: the committed ledger it replays from stays byte-identical.
    assert ledger.read_bytes() == committed_ledger.read_bytes()
    assert not Path(f"{ledger}-wal").exists()


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_example_distills_offline_from_its_ledger(name, tmp_path, cli):
    """Each example's unlabeled.jsonl becomes a saved classifier, replayed with zero LM calls; the
    classifier alone and the cascade then predict."""
    example = REPO / "examples" / name
    ledger = tmp_path / "ledger.db"
    shutil.copy(REPO / "cache" / "examples" / f"{name}.db", ledger)
    model = tmp_path / "model.skops"
    distilled = cli("distill", example / "compiled.json", "--unlabeled", example / "unlabeled.jsonl", "--gold",
                    example / "test.jsonl", "--ledger", ledger, "--out", model, "--offline", "--json", cwd=tmp_path)
    assert distilled.returncode == 0, distilled.stderr
    data = json.loads(distilled.stdout)
    assert data["training"]["spent"]["calls"] == 0 and data["training"]["kept"] > 0
    assert [row["name"] for row in data["comparison"]][:2] == ["program", "classifier"]
    alone = cli("predict", model, "--data", example / "unlabeled.jsonl", "--out", tmp_path / "alone.jsonl",
                "--json", cwd=tmp_path)
    assert alone.returncode == 0, alone.stderr
    cascade = cli("predict", model, "--data", example / "test.jsonl", "--out", tmp_path / "cascade.jsonl",
                  "--cascade", example / "compiled.json", "--max-lm-fraction", "0.2", "--ledger", ledger,
                  "--offline", "--json", cwd=tmp_path)
    assert cascade.returncode == 0, cascade.stderr
    assert json.loads(cascade.stdout)["written"] == sum(1 for line in (example / "test.jsonl").open() if line.strip())
