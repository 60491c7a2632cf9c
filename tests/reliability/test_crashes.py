"""kill -9 a compile at 10 seeded random moments: every rerun pays for nothing finished before the kill,
the ledger stays intact, and the artifact equals an uninterrupted run's. Ctrl-C says so in one line."""

from __future__ import annotations

import pytest

from tests.reliability import harness

pytestmark = pytest.mark.reliability


@pytest.fixture(scope="module")
def crashes(tmp_path_factory):
    return harness.crash_and_resume(tmp_path_factory.mktemp("crashes"), kills=10, seed=0)


def test_ten_kills_mid_compile(crashes):
    cycles = crashes["cycles"]
    assert len(cycles) == 10
    assert sum(c["calls_at_kill"] > 0 for c in cycles) >= 8  # the kills land while the compile calls the LM
    for cycle in cycles:
        assert cycle["exit"] == -9, cycle
        assert cycle["integrity_at_kill"] == "ok" and cycle["integrity"] == "ok"
        assert cycle["rerun_exit"] == 0
        # Repeat calls only for what was in flight at the kill: exactly what the ledger lacked.
        assert cycle["rerun_requests"] == cycle["expected_requests"], cycle
        assert cycle["same_artifact"], cycle


def test_ctrl_c_is_one_line_and_resumes(tmp_path):
    result = harness.crash_and_resume(tmp_path, fractions=[0.4], sigint=True)["cycles"][0]
    assert result["exit"] == 130
    assert result["stderr"].strip().startswith("interrupted:") and "Traceback" not in result["stderr"]
    assert result["rerun_requests"] == result["expected_requests"] and result["same_artifact"]
