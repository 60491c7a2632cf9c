"""Infer-Retrieve-Rank with scripted LMs (the test server), on a small space and on ESCO."""

from __future__ import annotations

import json
import os
from pathlib import Path

import dspy
import pytest

import lmprog
from lmprog.errors import ConfigurationError
from lmprog.labels import LabelSpace
from lmprog.metrics import rp_at_k
from lmprog.modules.irera import InferRetrieveRank, _as_phrases
from lmprog.modules.retriever import LabelRetriever
from lmprog.task import Task
from lmprog.testing import TestLMServer, answer_fields, last_user_message

DATA = Path(os.environ.get("LMPROG_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
SKILLS = ["Python (computer programming)", "JavaScript", "SQL", "project management", "customer service",
          "teamwork principles", "Java (computer programming)", "data analytics", "cloud technologies", "Linux"]


def is_rank_request(body: dict) -> bool:
    return "RankLabels" in body["messages"][0]["content"] or "candidate labels" in body["messages"][0]["content"]


def scripted(infer: dict[str, list[str]], rank: dict[str, list[str]]):
    """Answer Infer with queries and Rank with a ranking, chosen by the input text."""
    def rule(body):
        user = last_user_message(body)
        table = rank if is_rank_request(body) else infer
        field = "ranking" if is_rank_request(body) else "queries"
        for text, answer in table.items():
            if text in user:
                return answer_fields(**{field: json.dumps(answer)})
        return answer_fields(**{field: "[]"})
    return rule


@pytest.fixture
def task():
    return Task(inputs={"text": "a sentence from a job ad"}, labels=SKILLS, multi_label=True, name="skills")


def lm_at(server, tmp_path):
    return lmprog.make_lm("openai/test-model", api_base=server.api_base, ledger=tmp_path / "l.db")


def test_infer_retrieve_rank_full_ranking(task, tmp_path):
    text = "We build web apps in javascript and query databases with sql"
    rule = scripted({text: ["JavaScript", "SQL queries"]}, {text: ["SQL", "JavaScript"]})
    retriever = LabelRetriever(task.labels, index_dir=tmp_path / "idx")
    with TestLMServer(rule=rule) as server, dspy.context(lm=lm_at(server, tmp_path)):
        prediction = InferRetrieveRank(task, retriever=retriever, shortlist=5)(text=text)
    assert prediction.queries == ["JavaScript", "SQL queries"]
    assert set(prediction.shortlist) >= {"JavaScript", "SQL"}
    assert prediction.ranked == ["SQL", "JavaScript"]
    assert prediction["labels"][:2] == ["SQL", "JavaScript"]
    # the rest of the shortlist follows in retrieval order, nothing lost or repeated
    assert sorted(prediction["labels"]) == sorted(prediction.shortlist)
    assert server.request_count == 2


def test_rank_answers_outside_the_shortlist_are_ignored(task, tmp_path):
    text = "python scripts on linux servers"
    rule = scripted({text: ["Python", "Linux"]}, {text: ["Linux", "Cobol", "Python (computer programming)"]})
    with TestLMServer(rule=rule) as server, dspy.context(lm=lm_at(server, tmp_path)):
        prediction = InferRetrieveRank(task, retriever=LabelRetriever(task.labels, index_dir=tmp_path / "i"),
                                       shortlist=3)(text=text)
    assert prediction.ranked == ["Linux", "Python (computer programming)"]


def test_rank_can_be_skipped_for_left_to_right_optimization(task, tmp_path):
    text = "agile project management"
    with TestLMServer(rule=scripted({text: ["project management"]}, {})) as server, \
            dspy.context(lm=lm_at(server, tmp_path)):
        prediction = InferRetrieveRank(task, rank=False, retriever=LabelRetriever(task.labels, index_dir=tmp_path / "i"))(
            text=text)
    assert prediction["labels"][0] == "project management" and prediction.ranked == []
    assert server.request_count == 1


def test_each_step_can_use_its_own_lm(task, tmp_path):
    text = "customer service and teamwork"
    with TestLMServer(rule=scripted({text: ["customer service"]}, {})) as infer_server, \
            TestLMServer(rule=scripted({}, {text: ["customer service"]})) as rank_server:
        program = InferRetrieveRank(task, retriever=LabelRetriever(task.labels, index_dir=tmp_path / "i"),
                                    infer_lm=lm_at(infer_server, tmp_path), rank_lm=lm_at(rank_server, tmp_path))
        prediction = program(text=text)
    assert (infer_server.request_count, rank_server.request_count) == (1, 1)
    assert prediction["labels"][0] == "customer service"


def test_single_label_task_is_refused():
    with pytest.raises(ConfigurationError, match="multi_label"):
        InferRetrieveRank(Task(inputs=["text"], labels=["a", "b"]))


@pytest.mark.parametrize("answer, phrases", [
    (["a", " b ", "a"], ["a", "b"]),
    ("1. data analysis\n2. SQL", ["data analysis", "SQL"]),
    ("- teamwork, python; linux", ["teamwork", "python", "linux"]),
    ("", []),
])
def test_queries_are_cleaned(answer, phrases):
    assert _as_phrases(answer) == phrases


@pytest.mark.skipif(not (DATA / "esco_tech" / "validation.jsonl").exists(), reason="shared data not found")
def test_esco_tech_validation_end_to_end(tmp_path):
    """All 13,891 ESCO skills; a scripted Infer that names the gold skills and a Rank that picks them."""
    skills = LabelSpace.from_file(DATA / "esco_skills_v1.1.0" / "esco_skills_v1.1.0_en.csv", name="preferredLabel",
                                  description="description", aliases="altLabels", alias_separator=" | ")
    task = Task(inputs={"text": "a sentence from a job ad"}, labels=skills, multi_label=True, name="esco_tech")
    rows = [json.loads(line) for line in (DATA / "esco_tech" / "validation.jsonl").read_text().splitlines()][:25]
    infer = {row["text"]: [label.lower() for label in row["labels"]] for row in rows}
    rank = {row["text"]: row["labels"] for row in rows}
    program = InferRetrieveRank(task, retriever=LabelRetriever(skills, index_dir=tmp_path / "idx"))
    with TestLMServer(rule=scripted(infer, rank)) as server, dspy.context(lm=lm_at(server, tmp_path)):
        rankings = [program(text=row["text"])["labels"] for row in rows]
    assert server.request_count == 2 * len(rows)
    assert all(1 <= len(r) <= 50 and len(set(r)) == len(r) for r in rankings)
    assert rp_at_k([row["labels"] for row in rows], rankings, 5) > 0.9
