"""Label-aware demo sets cover the labels, prefer hard cases and are deterministic per seed."""

from __future__ import annotations

import dspy

from lmprog.optimize.demos import DemoCandidate, demo_sets


def candidate(text: str, *labels: str, hard: bool = False) -> DemoCandidate:
    return DemoCandidate(dspy.Example(text=text, label=labels[0]).with_inputs("text"), tuple(labels), hard=hard)


POOL = ([candidate(f"billing question {i}", "billing", hard=i == 3) for i in range(6)]
        + [candidate(f"card lost {i}", "card") for i in range(6)]
        + [candidate(f"refund please {i}", "refund") for i in range(2)]
        + [candidate("transfer failed", "transfer")])


def test_each_set_covers_every_label_before_repeating_one():
    for chosen in demo_sets(POOL, k=4, n_sets=5, seed=0):
        assert sorted(c.labels[0] for c in chosen) == ["billing", "card", "refund", "transfer"]


def test_hard_cases_come_first_within_a_label():
    for chosen in demo_sets(POOL, k=4, n_sets=3, seed=1):
        billing = [c for c in chosen if c.labels[0] == "billing"]
        assert billing[0].hard


def test_larger_sets_spread_evenly():
    chosen = demo_sets(POOL, k=8, n_sets=1, seed=0)[0]
    counts = {label: sum(c.labels[0] == label for c in chosen) for label in ("billing", "card", "refund", "transfer")}
    assert counts["refund"] == 2 and counts["transfer"] == 1  # small labels are used up first
    assert counts["billing"] + counts["card"] == 5 and abs(counts["billing"] - counts["card"]) <= 1


def test_same_seed_same_sets_other_seed_other_sets():
    texts = lambda sets: [[c.example.text for c in s] for s in sets]  # noqa: E731
    assert texts(demo_sets(POOL, k=4, n_sets=4, seed=7)) == texts(demo_sets(POOL, k=4, n_sets=4, seed=7))
    assert texts(demo_sets(POOL, k=4, n_sets=4, seed=7)) != texts(demo_sets(POOL, k=4, n_sets=4, seed=8))


def test_near_duplicates_are_dropped_keeping_the_hard_one():
    pool = [candidate("Card lost!", "card"), candidate("card  lost", "card", hard=True), candidate("hi", "other")]
    chosen = demo_sets(pool, k=3, n_sets=1, seed=0)[0]
    assert len(chosen) == 2 and any(c.hard for c in chosen)


def test_multilabel_sets_cover_different_labels():
    pool = [candidate("a", "x", "y"), candidate("b", "x"), candidate("c", "z"), candidate("d", "y", "z", "w")]
    chosen = demo_sets(pool, k=2, n_sets=1, seed=0, multi_label=True)[0]
    covered = {label for c in chosen for label in c.labels}
    assert covered == {"x", "y", "z", "w"}


def test_trace_becomes_the_demo():
    c = candidate("why", "card")
    c.trace = {"text": "why", "reasoning": "lost card", "label": "card"}
    assert c.as_demo().reasoning == "lost card"
    assert candidate("plain", "card").as_demo().label == "card"
