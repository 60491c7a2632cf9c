"""lmprog.suggest: coverage of the pool's clusters, never a labelled or near-duplicate text, seeded, reasons on every
row; with a compiled program (the test server) the unsure answers are chosen, through the ledger."""

from __future__ import annotations

import numpy as np
import pytest

import lmprog
from lmprog.artifact import CompiledProgram
from lmprog.errors import ConfigurationError, DataError
from lmprog.loop import suggest
from lmprog.loop.texts import NEAR_DUPLICATE, Lexical, fingerprint
from tests.loop_data import TOPICS, UNSURE, answering_rule, rows, task, topic_of

pytestmark = pytest.mark.server(rule=answering_rule())

POOL = rows(30, seed=1)
TEXTS = [{"text": r["text"]} for r in POOL]


def picked_topics(result) -> list[str]:
    return [topic_of(row.inputs["text"]) for row in result.rows]


def test_coverage_reaches_every_cluster_far_more_than_chance():
    covered = [len(set(picked_topics(suggest(task(), TEXTS, n=6, embeddings="tfidf", seed=seed))))
               for seed in range(6)]
    # six random rows of six equal topics cover 4.0 topics on average, all six 1.5% of the time
    assert min(covered) >= 5 and np.mean(covered) >= 5.5, covered


@pytest.mark.parametrize("strategy", ["typiclust", "probcover"])
def test_coverage_goes_where_no_label_is(strategy):
    labelled = [r for r in rows(3, seed=2) if r["label"] in ("card_arrival", "pin", "cancel")]
    picks = [t for seed in range(4) for t in picked_topics(
        suggest(task(), TEXTS, n=3, labelled=labelled, embeddings="tfidf", seed=seed, strategy=strategy))]
    unlabelled_topics = sum(t not in ("card_arrival", "pin", "cancel") for t in picks)
    assert unlabelled_topics >= 0.75 * len(picks), picks  # random rows: half


def test_labelled_texts_and_near_duplicates_are_never_suggested():
    labelled = [dict(r) for r in POOL[:12]]
    near = [{"text": r["text"].upper() + "!!"} for r in labelled[:6]]  # the same texts, shouted
    close = [{"text": r["text"] + " ok"} for r in labelled[6:]]  # one word more
    repeated = [{"text": r["text"]} for r in POOL[12:20]]
    pool = TEXTS + near + close + repeated
    result = suggest(task(), pool, n=60, labelled=labelled, embeddings="tfidf", seed=0)
    chosen = [row.inputs["text"] for row in result.rows]
    labelled_prints = {fingerprint(r["text"]) for r in labelled}
    assert not {fingerprint(t) for t in chosen} & labelled_prints
    assert len({fingerprint(t) for t in chosen}) == len(chosen) == 60
    lexical = Lexical([r["text"] for r in labelled] + chosen)
    assert lexical.max_similarity(range(12, 12 + len(chosen)), range(12)).max() < NEAR_DUPLICATE
    for i in range(len(chosen)):  # no two suggestions are near-duplicates of each other
        others = [12 + j for j in range(len(chosen)) if j != i]
        assert lexical.max_similarity([12 + i], others)[0] < NEAR_DUPLICATE
    assert result.excluded["already labelled"] == 6 + 12 and result.excluded["repeated text"] == 8
    assert result.excluded["near-duplicate of a labelled text"] == 6


def test_the_same_seed_gives_the_same_rows_and_every_row_has_a_reason():
    first = suggest(task(), TEXTS, n=8, embeddings="tfidf", seed=3)
    again = suggest(task(), TEXTS, n=8, embeddings="tfidf", seed=3)
    other = suggest(task(), TEXTS, n=8, embeddings="tfidf", seed=4)
    assert [r.row for r in first.rows] == [r.row for r in again.rows]
    assert [r.row for r in first.rows] != [r.row for r in other.rows]
    assert all(r.reason.startswith("coverage (TypiClust): stands for ") for r in first.rows)
    queue = first.queue_rows(task())
    assert [set(q) for q in queue] == [{"text", "label", "queue", "reason", "row"}] * 8
    assert all(q["label"] is None and q["queue"] == "suggest" and q["reason"] for q in queue)


def test_enough_labels_switch_to_uncertainty_with_rare_labels_first():
    labelled = rows(3, seed=5)[:14]  # 14 label occurrences over 6 labels: enough for the plain classifier
    result = suggest(task(), TEXTS, n=6, labelled=labelled, embeddings="tfidf", seed=0)
    assert result.strategy == "uncertainty" and result.signals == ["margin of the classifier on the 14 labelled rows"]
    assert all(r.reason.startswith("uncertain: classifier margin") for r in result.rows)
    assert all(r.score is not None and r.details["uncertainty"] >= 0 for r in result.rows)


def test_a_compiled_program_s_unsure_answers_are_chosen_through_the_ledger(module_server, lm_for, tmp_path):
    unsure = {i for i in range(0, len(TEXTS), 15)}  # 12 rows, two per topic on average
    pool = [{"text": t["text"] + (f" {UNSURE}" if i in unsure else "")} for i, t in enumerate(TEXTS)]
    compiled = CompiledProgram(program=lmprog.Classify(task()), task=task(), lm={"model": "openai/test-model"})
    lm = lm_for(module_server, ledger=tmp_path / "ledger.db", api_key="sk-test")
    result = suggest(task(), pool, n=4, compiled=compiled, lm=lm, embeddings="tfidf", seed=0, threads=4)
    assert {r.row for r in result.rows} <= unsure
    assert all("program confidence 0.22" in r.reason for r in result.rows)
    assert result.signals == ["program confidence"] and result.spent["calls"] == len(pool)
    before = module_server.request_count
    again = suggest(task(), pool, n=4, compiled=compiled, lm=lm, embeddings="tfidf", seed=0, threads=4)
    assert module_server.request_count == before and again.spent["calls"] == 0  # all from the ledger
    assert [r.row for r in again.rows] == [r.row for r in result.rows]


def test_scan_limits_the_program_calls(module_server, lm_for, tmp_path):
    compiled = CompiledProgram(program=lmprog.Classify(task()), task=task(), lm={"model": "openai/test-model"})
    lm = lm_for(module_server, ledger=tmp_path / "ledger.db", api_key="sk-test")
    result = suggest(task(), TEXTS, n=3, compiled=compiled, lm=lm, scan=20, embeddings="tfidf", threads=4)
    assert result.spent["calls"] == 20 and len(result.rows) == 3


def test_bad_arguments_are_one_sentence_errors():
    with pytest.raises(ConfigurationError, match="n must be at least 1"):
        suggest(task(), TEXTS, n=0)
    with pytest.raises(ConfigurationError, match="unknown strategy"):
        suggest(task(), TEXTS, strategy="greedy")
    with pytest.raises(ConfigurationError, match="needs a compiled program, a classifier or labelled rows"):
        suggest(task(), TEXTS, strategy="uncertainty", embeddings="tfidf")
    with pytest.raises(DataError, match="empty"):
        suggest(task(), [], embeddings="tfidf")
    assert set(TOPICS) == set(task().labels.names)
