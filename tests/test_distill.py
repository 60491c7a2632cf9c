"""lmprog.distill against the test server: pseudo-labels are gold with injected noise, which the filter
must catch; skops round trip; cascade threshold selection; budget, resume, multi-label and rankings."""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio

import lmprog
from lmprog.artifact import CompiledProgram
from lmprog.distillation import cascade_curve, choose_threshold
from lmprog.errors import ArtifactError, ConfigurationError, DataError
from lmprog.modules.irera import InferRetrieveRank
from lmprog.retrieval import LabelRetriever
from lmprog.task import Task
from lmprog.testing import TestLMServer, answer_fields, last_user_message

REPO = Path(__file__).resolve().parents[1]
NOISE = 0.2


def example_task(name: str) -> Task:
    return Task.from_toml(REPO / "examples" / name / "task.toml")


def noisy_teacher(task: Task, gold: dict, noisy: set, *, confident_noise: bool = False):
    """Answers a text's gold label with token logprob -0.01, or (for ``noisy`` texts) another label with
    logprob -1.5 (confidence 0.22), so a confidence filter can find the noise."""
    names = task.labels.names

    def rule(body):
        user = last_user_message(body)
        text = max((t for t in gold if t in user), key=len, default=None)
        label = gold.get(text, names[0])
        if text in noisy:
            wrong = names[(names.index(label) + 1) % len(names)] if not task.multi_label else \
                [names[(names.index(label[0]) + 1) % len(names)]]
            return {"content": answer_fields(**{task.output_field: wrong}),
                    "logprobs": -0.01 if confident_noise else -1.5}
        return {"content": answer_fields(**{task.output_field: label}), "logprobs": -0.01}
    return rule


@pytest.fixture(scope="module", params=["sms_spam", "banking77"])
def labelled(request, tmp_path_factory):
    """A zero-shot program over an example's task, a server whose answers are gold with 20% noise,
    and the example's test texts (200) as the unlabelled pool, train (50) as gold."""
    task = example_task(request.param)
    pool, gold_examples = list(task.load("test")), list(task.load("train"))
    gold = {ex.text: ex.label for ex in pool + gold_examples}
    rng = random.Random(7)
    noisy = {ex.text for ex in pool if rng.random() < NOISE}
    with TestLMServer(rule=noisy_teacher(task, gold, noisy)) as server:
        folder = tmp_path_factory.mktemp(request.param)
        lm = lmprog.make_lm("openai/test-model", api_base=server.api_base, api_key="sk-test-distill",
                            ledger=folder / "ledger.db")
        compiled = CompiledProgram(program=lmprog.Classify(task), task=task, lm={"model": "openai/test-model"})
        unlabeled = [{"text": ex.text} for ex in pool]
        filtered = lmprog.distill(compiled, unlabeled, lm=lm, gold=gold_examples, min_confidence=0.5, threads=4)
        before = server.request_count
        unfiltered = lmprog.distill(compiled, unlabeled, lm=lm, gold=gold_examples, threads=4)
        yield {"task": task, "pool": pool, "gold": gold, "noisy": noisy, "filtered": filtered, "unfiltered": unfiltered,
               "repeat_requests": server.request_count - before, "compiled": compiled, "lm": lm, "server": server,
               "folder": folder, "gold_examples": gold_examples}


def test_the_filter_drops_exactly_the_injected_noise(labelled):
    training = labelled["filtered"].training
    duplicates = training["dropped"].get("duplicate text", 0)  # banking77's test has one repeated text
    assert training["dropped"] == {"low confidence": len(labelled["noisy"])} | (
        {"duplicate text": duplicates} if duplicates else {})
    assert training["kept"] == len(labelled["pool"]) - len(labelled["noisy"]) - duplicates
    assert "low confidence" not in labelled["unfiltered"].training["dropped"]


def test_clean_pseudo_labels_train_a_classifier_at_least_as_good(labelled):
    filtered, unfiltered = labelled["filtered"].metrics, labelled["unfiltered"].metrics
    assert filtered["program_score"] == 1.0  # the gold texts carry no noise
    assert filtered["classifier_score"] >= unfiltered["classifier_score"]
    assert filtered["classifier_score"] >= 0.7
    assert filtered["agreement_cv"] >= 0.8  # out-of-fold agreement with the (clean) pseudo-labels
    assert filtered["pseudo_labels"] == labelled["filtered"].training["kept"]


def test_a_second_distill_pays_for_nothing(labelled):
    assert labelled["repeat_requests"] == 0
    assert labelled["unfiltered"].training["spent"]["calls"] == 0


def test_skops_round_trip_predicts_the_same(labelled, tmp_path):
    distilled = labelled["filtered"]
    texts = [ex.text for ex in labelled["gold_examples"]]
    path = distilled.save(tmp_path / "model.skops")
    loaded = lmprog.load_distilled(path)
    assert loaded.classes == distilled.classes and loaded.program["fingerprint"] == distilled.program["fingerprint"]
    assert np.allclose(loaded.predict_proba(texts), distilled.predict_proba(texts))
    assert loaded.predict(texts) == distilled.predict(texts)
    assert loaded.training == distilled.training and loaded.cascade == distilled.cascade
    assert b"sk-test-distill" not in path.read_bytes()


def test_cascade_meets_its_target_and_answers_from_the_program_when_unsure(labelled):
    distilled, compiled = labelled["filtered"], labelled["compiled"]
    assert distilled.cascade["reference"] == "gold" and len(distilled.cascade["curve"]) > 5
    cascade = lmprog.Cascade(distilled, compiled, lm=labelled["lm"], max_lm_fraction=0.2)
    assert cascade.chosen["met"] and cascade.chosen["lm_fraction"] <= 0.2
    classifier_only = distilled.cascade["curve"][0]
    assert classifier_only["lm_fraction"] == 0.0 and cascade.chosen["score"] >= classifier_only["score"]
    rows = [{"text": ex.text} for ex in labelled["gold_examples"]]
    answers = cascade.answer_rows(rows)
    sources = {a["source"] for a in answers}
    assert sources <= {"classifier", "program"}
    for row, answer in zip(rows, answers):
        if answer["source"] == "program":
            assert answer["label"] == labelled["gold"][row["text"]]
        else:
            assert answer["confidence"] >= cascade.threshold


def test_cascade_refuses_another_program(labelled):
    task = labelled["task"]
    other = lmprog.Classify(task)
    other.predict.signature = other.predict.signature.with_instructions("Something else entirely.")
    with pytest.raises(ArtifactError, match="different compiled program"):
        lmprog.Cascade(labelled["filtered"], CompiledProgram(program=other, task=task, lm={"model": "openai/test-model"}),
                       lm=labelled["lm"], max_lm_fraction=0.2)


def test_budget_stops_pseudo_labelling_and_trains_on_what_was_labelled(labelled, lm_for):
    task = labelled["task"]
    lm = lm_for(labelled["server"])
    distilled = lmprog.distill(labelled["compiled"], [{"text": ex.text} for ex in labelled["pool"]], lm=lm,
                               budget=lmprog.Budget(max_calls=60), threads=4)
    training = distilled.training
    assert training["budget_stopped"] and training["spent"]["calls"] == 60
    assert training["dropped"]["failed"] == len(labelled["pool"]) - 60
    assert any("budget stopped" in note for note in training["notes"])
    assert lm.ledger.stats()["calls"] == 60  # every paid call is in the ledger
    assert set(distilled.classes) <= set(task.labels.names)


def test_min_confidence_without_any_confidence_says_how_to_get_one(lm_for):
    task = example_task("sms_spam")
    with TestLMServer(rule=answer_fields(label="ham")) as server:
        lm = lm_for(server)
        compiled = CompiledProgram(program=lmprog.Classify(task, logprobs=False), task=task,
                                   lm={"model": "openai/test-model"})
        with pytest.raises(ConfigurationError, match="samples=3"):
            lmprog.distill(compiled, ["a", "b", "c"], lm=lm, min_confidence=0.5)


def test_one_label_only_is_a_clear_error(lm_for):
    task = example_task("sms_spam")
    with TestLMServer(rule=answer_fields(label="ham")) as server:
        lm = lm_for(server)
        compiled = CompiledProgram(program=lmprog.Classify(task), task=task, lm={"model": "openai/test-model"})
        with pytest.raises(DataError, match="at least 10 with 2 labels"):
            lmprog.distill(compiled, [f"message {i}" for i in range(20)], lm=lm)


def test_multi_label_distills_one_vs_rest(tmp_path, lm_for):
    task = example_task("nlupp")
    pool, gold_examples = list(task.load("test")), list(task.load("train"))
    gold = {ex.text: ex["labels"] for ex in pool + gold_examples}
    with TestLMServer(rule=noisy_teacher(task, gold, set())) as server:
        lm = lm_for(server)
        compiled = CompiledProgram(program=lmprog.MultiLabelClassify(task), task=task, lm={"model": "openai/test-model"})
        distilled = lmprog.distill(compiled, [ex.text for ex in pool], lm=lm, gold=gold_examples, threads=4)
    assert distilled.multi_label and len(distilled.pipeline.named_steps["model"].estimators_) == len(distilled.classes)
    predictions = distilled.predict([ex.text for ex in gold_examples])
    assert all(isinstance(p, list) and set(p) <= set(distilled.classes) for p in predictions)
    assert distilled.metrics["program_score"] == 1.0 and distilled.metrics["classifier_score"] > 0.3
    loaded = lmprog.load_distilled(distilled.save(tmp_path / "m.skops"))
    assert loaded.predict([ex.text for ex in gold_examples]) == predictions


def test_a_ranking_program_trains_on_the_labels_it_used(tmp_path, lm_for):
    skills = ["Python (computer programming)", "JavaScript", "SQL", "project management", "customer service",
              "teamwork principles", "Java (computer programming)", "data analytics", "cloud technologies", "Linux"]
    task = Task(inputs={"text": "a sentence from a job ad"}, labels=skills, multi_label=True, name="skills")
    topics = {"python": ["Python (computer programming)"], "sql": ["SQL"], "customers": ["customer service"],
              "team": ["teamwork principles"]}
    texts = [f"sentence {i} about {topic}" for i in range(12) for topic in topics]

    def rule(body):
        user, system = last_user_message(body), body["messages"][0]["content"]
        topic = next(t for t in topics if t in user)
        if "ranking" in system:
            return answer_fields(ranking=json.dumps(topics[topic]))
        return answer_fields(queries=json.dumps(topics[topic]))

    with TestLMServer(rule=rule) as server:
        lm = lm_for(server)
        program = InferRetrieveRank(task, retriever=LabelRetriever(task.labels, index_dir=tmp_path / "idx"),
                                    shortlist=5)
        compiled = CompiledProgram(program=program, task=task, lm={"model": "openai/test-model"})
        distilled = lmprog.distill(compiled, texts, lm=lm)
    assert distilled.ranked and set(distilled.classes) == {labels[0] for labels in topics.values()}
    assert any("never predicted" in note for note in distilled.training["notes"])
    ranking = distilled.predict(["sentence 99 about sql"])[0]
    assert ranking[0] == "SQL" and len(ranking) == len(distilled.classes)


# ------------------------------------------------------------------------------- cascade logic


def test_cascade_curve_and_threshold_choice():
    task = Task(inputs=["text"], labels=["a", "b"])
    confidence = np.array([0.9, 0.8, 0.55, 0.52, 0.95, 0.6])
    classifier = ["a", "a", "b", "b", "a", "a"]
    program = ["a", "a", "a", "a", "a", "b"]
    gold = ["a", "a", "a", "a", "a", "b"]
    curve = cascade_curve(confidence, classifier, program, gold, task)
    assert curve[0] == {"threshold": 0.0, "lm_fraction": 0.0, "score": 0.5}
    assert curve[-1]["lm_fraction"] == 1.0 and curve[-1]["score"] == 1.0
    fractions = [p["lm_fraction"] for p in curve]
    assert fractions == sorted(fractions)
    point = choose_threshold(curve, max_lm_fraction=0.5)
    assert point["met"] and point["lm_fraction"] == 0.5 and point["score"] == 1.0  # the three least sure
    assert choose_threshold(curve, min_score=0.9)["lm_fraction"] == 0.5
    assert choose_threshold(curve, min_score=0.8)["lm_fraction"] == pytest.approx(1 / 3)
    assert choose_threshold(curve, max_lm_fraction=0.0)["score"] == 0.5
    assert not choose_threshold(curve, min_score=1.1)["met"]
    with pytest.raises(ConfigurationError, match="exactly one"):
        choose_threshold(curve)


# ------------------------------------------------------------------------------- model files


def test_a_model_with_unexpected_types_is_refused(tmp_path):
    path = tmp_path / "evil.skops"
    sio.dump({"kind": "lmprog.distilled", "payload": random.Random(0)}, path)
    with pytest.raises(ArtifactError, match="holds types lmprog does not load"):
        lmprog.load_distilled(path)


def test_a_broken_or_foreign_model_file_is_refused(tmp_path):
    broken = tmp_path / "broken.skops"
    broken.write_bytes(b"not a zip file")
    with pytest.raises(ArtifactError, match="is not a skops file"):
        lmprog.load_distilled(broken)
    foreign = tmp_path / "foreign.skops"
    sio.dump({"hello": "world"}, foreign)
    with pytest.raises(ArtifactError, match="not an lmprog distilled classifier"):
        lmprog.load_distilled(foreign)
    with pytest.raises(ArtifactError, match="does not exist"):
        lmprog.load_distilled(tmp_path / "missing.skops")


def test_a_tampered_label_mapping_is_refused(labelled, tmp_path):
    path = labelled["filtered"].save(tmp_path / "model.skops")
    document = sio.load(path)
    document["classes"] = list(reversed(document["classes"]))
    sio.dump(document, path)
    with pytest.raises(ArtifactError, match="do not match its label mapping"):
        lmprog.load_distilled(path)
    document["classes"] = ["not a label"] + document["classes"][1:]
    sio.dump(document, path)
    with pytest.raises(ArtifactError, match="not in the task's label space"):
        lmprog.load_distilled(path)
    document["format_version"] = 99
    sio.dump(document, path)
    with pytest.raises(ArtifactError, match="newer lmprog"):
        lmprog.load_distilled(path)


@pytest.mark.local
@pytest.mark.slow
def test_a_short_distill_with_the_embedded_model(tmp_path):
    """Real calls to SmolLM2 (fresh ledger): the sms_spam example's LM program (its zero-shot Classify: the
    compile shipped a classifier, which calls no LM) labels 24 test texts (half of them spam), a classifier
    learns its answers, and a rerun answers every call from the ledger."""
    pytest.importorskip("llama_cpp")
    shipped = lmprog.load(REPO / "examples" / "sms_spam" / "compiled.json")
    compiled = dataclasses.replace(shipped, program=shipped.zero_shot_program())
    texts = [json.loads(line)["text"] for line in
             (REPO / "examples" / "sms_spam" / "test.jsonl").read_text().splitlines()[:24]]
    lm = lmprog.make_lm("local/smollm2", ledger=tmp_path / "ledger.db")
    distilled = lmprog.distill(compiled, texts, lm=lm, threads=2)
    assert distilled.training["texts"] == 24 and distilled.training["spent"]["calls"] == 24
    assert set(distilled.classes) == {"ham", "spam"}
    assert distilled.throughput["program_predictions_per_second"] > 0
    again = lmprog.distill(compiled, texts, lm=lm, threads=2)
    assert again.training["spent"]["calls"] == 0 and again.predict(texts) == distilled.predict(texts)


@pytest.mark.dense
def test_embedding_features_distill_and_round_trip(labelled, tmp_path):
    """features="embeddings": all-MiniLM-L6-v2 from the dense extra (offline) under the same model."""
    pytest.importorskip("sentence_transformers")
    distilled = lmprog.distill(labelled["compiled"], [{"text": ex.text} for ex in labelled["pool"]],
                               lm=labelled["lm"], features="embeddings", gold=labelled["gold_examples"],
                               min_confidence=0.5)
    assert distilled.features == "embeddings" and distilled.training["spent"]["calls"] == 0  # labels from the ledger
    assert distilled.metrics["classifier_score"] >= 0.7
    texts = [ex.text for ex in labelled["gold_examples"]]
    loaded = lmprog.load_distilled(distilled.save(tmp_path / "dense.skops"))
    assert loaded.predict(texts) == distilled.predict(texts)
