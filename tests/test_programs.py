"""The ready programs in programs/ load by path and build from the public API."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

import lmprog

PROGRAMS = Path(__file__).resolve().parents[1] / "programs"


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"program_{name}", PROGRAMS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name, multi, expected", [
    ("classify", False, lmprog.Classify),
    ("multilabel", True, lmprog.MultiLabelClassify),
    ("infer_retrieve_rank", True, lmprog.InferRetrieveRank),
])
def test_program_files_build_their_module(name, multi, expected):
    task = lmprog.Task(inputs={"text": "input"}, labels=["a", "b", "c"], multi_label=multi)
    program = load(name).build(task)
    assert isinstance(program, expected)
    assert program.task is task
    source = (PROGRAMS / f"{name}.py").read_text()
    assert "lmprog." in source and "from lmprog." not in source  # public API only
