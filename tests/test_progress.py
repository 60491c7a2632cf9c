"""The compile progress display: events in order, live counts of paid calls and ledger hits."""

from __future__ import annotations

import io

from rich.console import Console

import lmprog
from lmprog.optimize.compile import compile
from lmprog.run.progress import CompileProgress
from lmprog.testing import TestLMServer
from tests.test_compile import TASK, examples, scripted

FAMILIES = ("demos", "instructions")  # the candidates these tests count (compile tries more families by default)


def test_events_count_candidates_paid_calls_and_hits(lm_for):
    events: list[dict] = []
    with TestLMServer(rule=scripted) as server:
        lm = lm_for(server)
        compile(lmprog.Classify(TASK), examples(), lm=lm, demo_sets=2, instructions=1, families=FAMILIES,
                progress=events.append)
        first_requests = server.request_count
        rerun: list[dict] = []
        compile(lmprog.Classify(TASK), examples(), lm=lm, demo_sets=2, instructions=1, families=FAMILIES,
                progress=rerun.append)
    start, *middle, done = events
    candidates = [event for event in middle if event["event"] == "candidate"]
    assert {event["event"] for event in middle} == {"candidate", "rung"}  # racing reports each rung as it ends
    assert start["event"] == "start" and start["total"] == 4 and start["seed"] == 0
    assert [c["id"] for c in candidates] == ["zero-shot", "demos-0", "demos-1", "instructions-0"]
    assert done["event"] == "done" and done["dev_score"] == max(c["dev_score"] for c in candidates)
    tracker = start["tracker"]
    assert tracker.calls == first_requests > 0
    assert rerun[0]["tracker"].calls == 0 and rerun[0]["tracker"].hits == tracker.calls + tracker.hits


def test_rich_display_shows_spend_and_best(lm_for):
    out = io.StringIO()
    display = CompileProgress(Console(file=out, force_terminal=True, width=200))
    with TestLMServer(rule=scripted) as server:
        compile(lmprog.Classify(TASK), examples(), lm=lm_for(server), demo_sets=1, instructions=0,
                families=FAMILIES, progress=display)
    text = out.getvalue()
    assert "2/2" in text and "paid calls" in text and "ledger hits" in text and "best 1.000" in text
