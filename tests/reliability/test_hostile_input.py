"""At least 50 bad inputs through the CLI: each is one line on stderr naming the file (and the line where
the fault is on one), exit 2, no traceback; odd but valid inputs (BOM, CRLF, a 1 MB text) just work."""

from __future__ import annotations

import pytest

import lmprog
from lmprog.artifact import CompiledProgram
from lmprog.testing import TestLMServer
from tests.reliability import harness

pytestmark = pytest.mark.reliability


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    cases = harness.hostile_cases(folder / "cases")
    task = lmprog.Task.from_toml(harness.write_task(folder / "task"))
    CompiledProgram(program=lmprog.Classify(task), task=task, lm={"model": "openai/test-model"}).save(
        folder / "compiled.json")
    with TestLMServer(rule=harness.scripted) as server:
        return {r["name"]: r for r in harness.run_hostile(folder / "cases", cases, server, folder / "compiled.json")}


def test_there_are_at_least_fifty_cases(results):
    assert len(results) >= 50
    assert sum(r["expect"] == "error" for r in results.values()) >= 45


def test_every_case_is_handled(results):
    failures = {name: why for name, r in results.items() for ok, why in [harness.handled(r)] if not ok}
    assert failures == {}


def test_a_megabyte_input_is_cut_with_a_warning_not_a_crash(results):
    stderr = results["megabyte_text"]["stderr"]
    assert "warning: inputs longer than" in stderr and "cut to fit" in stderr
