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
from lmprog.retrieval import LabelRetriever
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


def test_infer_retrieve_rank_full_ranking(task, tmp_path, lm_for):
    text = "We build web apps in javascript and query databases with sql"
    rule = scripted({text: ["JavaScript", "SQL queries"]}, {text: ["SQL", "JavaScript"]})
    retriever = LabelRetriever(task.labels, index_dir=tmp_path / "idx")
    with TestLMServer(rule=rule) as server, dspy.context(lm=lm_for(server)):
        prediction = InferRetrieveRank(task, retriever=retriever, shortlist=5)(text=text)
    assert prediction.queries == ["JavaScript", "SQL queries"]
    assert set(prediction.shortlist) >= {"JavaScript", "SQL"}
    assert prediction.ranked == ["SQL", "JavaScript"]
    assert prediction["labels"][:2] == ["SQL", "JavaScript"]
    # the rest of the shortlist follows in retrieval order, nothing lost or repeated
    assert sorted(prediction["labels"]) == sorted(prediction.shortlist)
    assert server.request_count == 2


def test_rank_answers_outside_the_shortlist_are_ignored(task, tmp_path, lm_for):
    text = "python scripts on linux servers"
    rule = scripted({text: ["Python", "Linux"]}, {text: ["Linux", "Cobol", "Python (computer programming)"]})
    with TestLMServer(rule=rule) as server, dspy.context(lm=lm_for(server)):
        prediction = InferRetrieveRank(task, retriever=LabelRetriever(task.labels, index_dir=tmp_path / "i"),
                                       shortlist=3)(text=text)
    assert prediction.ranked == ["Linux", "Python (computer programming)"]


def test_rank_can_be_skipped_for_left_to_right_optimization(task, tmp_path, lm_for):
    text = "agile project management"
    with TestLMServer(rule=scripted({text: ["project management"]}, {})) as server, \
            dspy.context(lm=lm_for(server)):
        prediction = InferRetrieveRank(task, rank=False, retriever=LabelRetriever(task.labels, index_dir=tmp_path / "i"))(
            text=text)
    assert prediction["labels"][0] == "project management" and prediction.ranked == []
    assert server.request_count == 1


def test_each_step_can_use_its_own_lm(task, tmp_path, lm_for):
    text = "customer service and teamwork"
    with TestLMServer(rule=scripted({text: ["customer service"]}, {})) as infer_server, \
            TestLMServer(rule=scripted({}, {text: ["customer service"]})) as rank_server:
        program = InferRetrieveRank(task, retriever=LabelRetriever(task.labels, index_dir=tmp_path / "i"),
                                    infer_lm=lm_for(infer_server), rank_lm=lm_for(rank_server))
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
def test_esco_tech_validation_end_to_end(tmp_path, lm_for):
    """All 13,891 ESCO skills; a scripted Infer that names the gold skills and a Rank that picks them."""
    skills = LabelSpace.from_file(DATA / "esco_skills_v1.1.0" / "esco_skills_v1.1.0_en.csv", name="preferredLabel",
                                  description="description", aliases="altLabels", alias_separator=" | ")
    task = Task(inputs={"text": "a sentence from a job ad"}, labels=skills, multi_label=True, name="esco_tech")
    rows = [json.loads(line) for line in (DATA / "esco_tech" / "validation.jsonl").read_text().splitlines()][:25]
    infer = {row["text"]: [label.lower() for label in row["labels"]] for row in rows}
    rank = {row["text"]: row["labels"] for row in rows}
    program = InferRetrieveRank(task, retriever=LabelRetriever(skills, index_dir=tmp_path / "idx"))
    with TestLMServer(rule=scripted(infer, rank)) as server, dspy.context(lm=lm_for(server)):
        rankings = [program(text=row["text"])["labels"] for row in rows]
    assert server.request_count == 2 * len(rows)
    assert all(1 <= len(r) <= 50 and len(set(r)) == len(r) for r in rankings)
    assert rp_at_k([row["labels"] for row in rows], rankings, 5) > 0.9


def test_compile_left_to_right_improves_over_zero_shot(task, tmp_path, lm_for):
    """Infer without demos answers vaguely; with demos it names labels. Rank is scored after Infer."""
    rows = [("We need strong Python skills", ["Python (computer programming)"]),
            ("Experience with SQL databases", ["SQL"]),
            ("Manage projects end to end", ["project management"]),
            ("Help our customers every day", ["customer service"]),
            ("Work in a team of engineers", ["teamwork principles"]),
            ("Java backend services", ["Java (computer programming)"]),
            ("Analyse data to find trends", ["data analytics"]),
            ("Deploy on AWS and Azure", ["cloud technologies"]),
            ("Administer Linux servers", ["Linux"]),
            ("Frontend work in JavaScript", ["JavaScript"]),
            ("Python and SQL for reporting", ["Python (computer programming)", "SQL"]),
            ("Customer service in a team", ["customer service", "teamwork principles"])]
    examples = [dspy.Example(text=text, labels=labels).with_inputs("text") for text, labels in rows]
    gold = dict(rows)

    def rule(body):
        user = last_user_message(body)
        text = next((t for t in gold if t in user), None)
        if is_rank_request(body):
            return answer_fields(ranking=json.dumps(gold.get(text, [])))
        with_demos = len(body["messages"]) > 2
        return answer_fields(queries=json.dumps(gold.get(text, []) if with_demos else ["work"]))

    program = InferRetrieveRank(task, retriever=LabelRetriever(task.labels, index_dir=tmp_path / "i"), shortlist=5)
    with TestLMServer(rule=rule) as server:
        result = lmprog.compile(program, examples, lm=lm_for(server), demo_sets=2)
    scores = {c["id"]: c["dev_score"] for c in result.candidates}
    assert scores["infer-zero-shot"] < scores["infer-demos-0"]
    assert result.dev_score == 1.0 and result.dev_score > scores["zero-shot"]
    stages = [c["stage"] for c in result.candidates]
    assert stages.index("rank") == 0 and "infer" in stages  # zero-shot baseline, then Infer, then Rank
    assert all(c["stage"] == "rank" for c in result.candidates if c["id"].startswith("rank-demos"))
    assert result.program.infer.demos and result.program.rank_enabled
    loaded = lmprog.load(result.save(tmp_path / "irera.json"))
    assert [d["queries"] for d in loaded.program.infer.demos] == [d["queries"] for d in result.program.infer.demos]
