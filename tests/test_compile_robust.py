"""The compile selects robustly (issue 14): candidates scored out of fold and raced, zero-shot kept unless a
gain is supported by its paired interval, demo sets sized to the label space, and the candidate families
that use the labels directly (the classifier, its shortlist), nearest demos, a vote, and Infer-Retrieve-Rank's
retrieval floor."""

from __future__ import annotations

import json

import dspy
import pytest

import lmprog
from lmprog.modules.label_classifier import LabelClassifier
from lmprog.modules.vote import Vote
from lmprog.optimize.race import schedule
from lmprog.retrieval import LabelRetriever
from lmprog.task import Task
from lmprog.testing import TestLMServer, answer_fields, last_user_message
from tests.test_compile import CUES, TASK, examples, scripted

pytestmark = pytest.mark.server(rule=scripted)


def test_every_candidate_is_scored_out_of_fold_and_raced(server, lm_for):
    result = lmprog.compile(lmprog.Classify(TASK), examples(40), lm=lm_for(server), demo_sets=3, instructions=1)
    records = {c["id"]: c for c in result.candidates}
    assert records["zero-shot"]["n"] == 40 and records["zero-shot"]["interval"]["n"] == 40
    lm_candidates = [c for c in result.candidates if c["calls_lm"] and c["id"] != "zero-shot"]
    assert any(c["n"] < 40 for c in lm_candidates)  # the race dropped some after the first rungs
    assert sum(c["n"] == 40 for c in lm_candidates) >= 2  # the finalists saw every example
    assert all("vs_baseline" in c for c in result.candidates if c["id"] != "zero-shot")
    why = result.optimizer["why"]
    assert why["chosen"] == result.candidates[[c["id"] for c in result.candidates].index(why["chosen"])]["id"]
    assert why["vs_zero_shot"]["verdict"] == "better" and why["vs_zero_shot"]["low"] > 0
    assert result.optimizer["examples"] == 40 and result.dev_score == 1.0


def test_zero_shot_is_kept_without_a_supported_gain(server, lm_for):
    def noisy(body):  # demos help on one example in ten: too little to tell apart from luck
        user, with_demos = last_user_message(body), len(body["messages"]) > 2
        label = next(name for cue, name in CUES.items() if cue in user)
        lucky = with_demos and "question 7 " in user
        return answer_fields(label=label if lucky or "about my bill" in user else "billing")

    server.rule = noisy
    texts = [f"question {i} about my {cue}" for i, cue in enumerate(["bill", "card"] * 10)]
    data = [dspy.Example(text=t, label=CUES[t.split()[-1]]).with_inputs("text") for t in texts]
    result = lmprog.compile(lmprog.Classify(TASK), data, lm=lm_for(server), demo_sets=2, instructions=0,
                            families=("demos",))
    assert result.optimizer["why"]["chosen"] == "zero-shot"
    assert "does not rule out no gain" in result.optimizer["why"]["reason"] or \
        result.optimizer["why"]["best"] == "zero-shot"
    assert result.program.predict.demos == []


def test_demo_sets_show_every_label_of_a_larger_label_space(server, lm_for):
    names = [f"intent_{i:02d}" for i in range(15)]
    task = Task(inputs={"text": "the message"}, labels=names, name="fifteen")
    data = [dspy.Example(text=f"case {i} for {names[i % 15]}", label=names[i % 15]).with_inputs("text")
            for i in range(45)]
    server.rule = lambda body: answer_fields(label=names[0])
    result = lmprog.compile(lmprog.Classify(task), data, lm=lm_for(server), demo_sets=1, instructions=0,
                            families=("demos",))
    demos = next(c for c in result.candidates if c["id"] == "demos-0")["demos"]
    assert len(demos) >= 15 and {d["label"] for d in demos} == set(names)


def test_the_classifier_wins_when_the_labels_alone_do_better(server, lm_for, tmp_path):
    server.rule = lambda body: answer_fields(label="billing")  # an LM that ignores its input
    compiled = lmprog.compile(lmprog.Classify(TASK), examples(40), lm=lm_for(server), demo_sets=1, instructions=0,
                              families=("demos", "classifier"))
    assert isinstance(compiled.program, LabelClassifier) and compiled.optimizer["why"]["chosen"] == "classifier"
    before = server.request_count
    loaded = lmprog.load(compiled.save(tmp_path / "classifier.json"))
    assert loaded.predict(["my card is stuck", "please refund me"]) == ["card", "refund"]
    assert server.request_count == before  # the classifier program makes no LM call
    baseline = loaded.zero_shot_program()  # what evaluate --baseline compares with: the LM program it beat
    assert type(baseline).__name__ == "Classify" and baseline.predict.demos == []
    assert loaded.candidates[[c["id"] for c in loaded.candidates].index("classifier")]["example_scores"]


def test_the_shortlist_and_a_vote_save_and_load(server, lm_for, tmp_path):
    from lmprog.modules.shortlist import ShortlistClassify

    data = examples(40)
    shortlist = ShortlistClassify(TASK, data, k=3)
    vote = Vote(TASK, [lmprog.Classify(TASK), LabelClassifier(TASK, data), shortlist])
    program = lmprog.CompiledProgram(program=vote, task=TASK, lm={"model": "openai/test-model"})
    loaded = lmprog.load(program.save(tmp_path / "vote.json"))
    assert [type(m).__name__ for m in loaded.program.members] == ["Classify", "LabelClassifier", "ShortlistClassify"]
    server.rule = lambda body: answer_fields(label="card")
    with dspy.context(lm=lm_for(server)):
        answer = loaded(text="my card is stuck")
    assert answer.label == "card" and answer.confidence == 1.0 and answer.confidence_source == "vote"
    options = [body for body in server.requests if "options" in json.dumps(body)]
    assert options and "card" in json.dumps(options[0])


def test_nearest_demos_show_each_input_its_closest_examples(server, lm_for):
    program = lmprog.Classify(TASK, nearest=2)
    program.predict.demos = [dspy.Example(text=f"example {i} about my {cue}", label=name)
                             for i, (cue, name) in enumerate(CUES.items())]
    server.rule = lambda body: answer_fields(label="refund")
    with dspy.context(lm=lm_for(server)):
        program(text="a refund for my order")
    prompt = json.dumps(server.requests[-1]["messages"])
    assert "example 2 about my refund" in prompt and "example 3 about my transfer" not in prompt
    rebuilt = lmprog.Classify.from_params(TASK, program.params())
    assert rebuilt.nearest == 2


def test_infer_retrieve_rank_never_ships_below_its_retrieval_floor(lm_for, tmp_path):
    task = Task(inputs={"text": "a job ad sentence"}, labels=["Python (computer programming)", "SQL", "JavaScript",
                                                             "customer service", "teamwork principles", "Linux"],
                multi_label=True, name="skills")
    rows = [(f"{i}: we need Python and SQL", ["Python (computer programming)", "SQL"]) for i in range(6)] + \
           [(f"{i}: customer service in a team", ["customer service", "teamwork principles"]) for i in range(6)]
    data = [dspy.Example(text=text, labels=labels).with_inputs("text") for text, labels in rows]

    def useless(body):  # an LM whose terms and rankings are always wrong
        if "ranking" in body["messages"][0]["content"]:
            return answer_fields(ranking=json.dumps(["Linux"]))
        return answer_fields(queries=json.dumps(["Linux"]))

    program = lmprog.InferRetrieveRank(task, retriever=LabelRetriever(task.labels, index_dir=tmp_path / "i"),
                                       shortlist=3)
    with TestLMServer(rule=useless) as server:
        compiled = lmprog.compile(program, data, lm=lm_for(server), demo_sets=1, instructions=0)
    records = {c["id"]: c for c in compiled.candidates}
    assert compiled.dev_score >= records["retrieval-floor"]["dev_score"] > records["zero-shot"]["dev_score"]
    assert compiled.program.queries in ("input", "input+inferred")  # the input itself is among the queries
    baseline = compiled.zero_shot_program()  # evaluate --baseline: the LM program the floor beat, not the floor
    assert baseline.queries == "inferred" and baseline.rank_enabled


def test_the_race_schedule_spends_at_most_what_the_plan_says(server, lm_for):
    lm = lm_for(server)
    estimate = lmprog.plan(lmprog.Classify(TASK), examples(40), lm=lm, demo_sets=3, instructions=1)
    lmprog.compile(lmprog.Classify(TASK), examples(40), lm=lm, demo_sets=3, instructions=1)
    assert server.request_count <= estimate.calls
    assert schedule(9, 50) == [(9, 10), (4, 15), (2, 25)]


def test_a_program_without_lm_calls_needs_only_to_be_no_worse(server, lm_for):
    """The classifier replaces zero-shot when it scores at least as well out of fold, even without a gain its
    interval supports: the same quality as far as the labels can tell, at no cost per prediction."""
    server.rule = scripted  # zero-shot answers 'billing' (a quarter right); the classifier reads the cue words
    data = examples(12)
    compiled = lmprog.compile(lmprog.Classify(TASK), data, lm=lm_for(server), demo_sets=1, instructions=0,
                              families=("classifier",))
    why = compiled.optimizer["why"]
    assert why["chosen"] == "classifier" and isinstance(compiled.program, LabelClassifier)
    assert "no LM call" in why["reason"] or why["vs_zero_shot"]["verdict"] == "better"
