"""4 processes x 8 threads compiling and evaluating against one ledger: no row lost, no call paid twice,
no 'database is locked', and the ledger's totals are the sum of what each process says it did."""

from __future__ import annotations

import pytest

from tests.reliability import harness

pytestmark = pytest.mark.reliability


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return harness.concurrent_runs(tmp_path_factory.mktemp("concurrency"), processes=4, threads=8)


def test_every_process_finishes_without_locking_errors(runs):
    assert runs["exits"] == [0, 0, 0, 0], runs["reports"]
    assert runs["locked"] == []
    assert all(report["score"] == 1.0 and report["errors"] == {} for report in runs["reports"])


def test_no_row_is_lost_and_no_call_is_paid_twice(runs):
    paid = sum(r[step]["paid"] for r in runs["reports"] for step in ("compile", "evaluate"))
    assert paid == runs["requests"] == runs["rows"]["ok"]  # two processes per seed ask the same calls
    assert runs["rows"]["integrity"] == "ok"


def test_cache_stats_match_the_sum_of_the_runs(runs):
    hits = sum(r[step]["hits"] for r in runs["reports"] for step in ("compile", "evaluate"))
    assert runs["stats"]["calls"] == runs["requests"]
    assert runs["stats"]["hits"] == hits
    assert runs["stats"]["errors"] == 0
