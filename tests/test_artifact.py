"""Compiled-program artifacts: round trips, determinism, integrity, label references, secrets, safety."""

from __future__ import annotations

import json
import sys

import dspy
import pytest

import lmprog
from lmprog.artifact import FORMAT_VERSION, CompiledProgram, integrity, load, lm_settings
from lmprog.errors import ArtifactError
from lmprog.labels import LabelSpace
from lmprog.modules.classify import Classify, MultiLabelClassify
from lmprog.modules.irera import InferRetrieveRank
from lmprog.retrieval import LabelRetriever
from lmprog.task import Task
from lmprog.testing import TestLMServer, answer_fields, last_user_message

SKILLS_CSV = """name,description,aliases
JavaScript,a scripting language for the web,JS|ECMAScript
SQL,querying relational databases,structured query language
Python (computer programming),a general-purpose language,Python
project management,planning and running projects,PM
Linux,an operating system,GNU/Linux
"""

TOP_LEVEL = {"format_version", "kind", "lmprog_version", "dspy_version", "task", "program", "lm", "optimizer",
             "candidates", "dev_score", "run_id", "budget", "examples", "integrity"}  # examples: format 2


def spam_task() -> Task:
    labels = LabelSpace([{"name": "ham", "description": "a normal message"},
                         {"name": "spam", "description": "unsolicited advertising", "aliases": ["junk"]}])
    return Task(inputs={"text": "the SMS message"}, labels=labels, instructions="Is the SMS spam?", name="sms")


def bank_task() -> Task:
    return Task(inputs={"text": "a customer message", "channel": "where it came from"},
                labels=["billing", "refund", "card"], multi_label=True, name="bank")


def teach(predictor, instructions: str, demos: list[dict]) -> None:
    """What an optimizer leaves behind: new instructions and few-shot demos, set by hand here."""
    predictor.signature = predictor.signature.with_instructions(instructions)
    predictor.demos = [dspy.Example(**demo).with_inputs(*[k for k in demo if k not in ("label", "labels")])
                       for demo in demos]


def classify(reasoning: bool = False) -> Classify:
    program = Classify(spam_task(), reasoning=reasoning, samples=1, logprobs=False)
    predictor = program.predict  # reasoning is a field prepended to the same Predict
    demos = [{"text": "hi mum, home at 6", "label": "ham"}, {"text": "WIN a prize now!!", "label": "spam"}]
    if reasoning:
        demos[1]["reasoning"] = "prize offers are spam"
    teach(predictor, "Decide whether the SMS is spam. Ünïcödé stays as is.", demos)
    return program


def multilabel() -> MultiLabelClassify:
    program = MultiLabelClassify(bank_task(), samples=3, sample_temperature=0.5)
    teach(program.predict, "List every topic of the message.",
          [{"text": "refund my card fee", "channel": "email", "labels": ["refund", "card"]}])
    return program


def write_skills(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir(exist_ok=True)
    path = folder / "skills.csv"
    path.write_text(SKILLS_CSV, encoding="utf-8")
    return path


def irera(tmp_path, priors=None) -> InferRetrieveRank:
    task = Task(inputs={"text": "a sentence from a job ad"}, labels=LabelSpace.from_file(write_skills(tmp_path)),
                multi_label=True, name="skills", instructions="Which skills does the ad ask for?", metric="rp@5")
    program = InferRetrieveRank(task, retriever=LabelRetriever(task.labels, fields=("name", "aliases", "description"),
                                                               index_dir=tmp_path / "idx"),
                                shortlist=4, priors=priors)
    teach(program.infer, "Name the skills.", [{"text": "we use js", "queries": ["JavaScript"]}])
    teach(program.rank, "Rank the options.", [{"text": "we use js", "options": ["JavaScript", "SQL"],
                                               "ranking": ["JavaScript"]}])
    return program


def compiled(program, **kwargs) -> CompiledProgram:
    defaults = dict(lm={"model": "openai/test-model", "temperature": 0.0, "max_tokens": 256},
                    optimizer={"name": "bootstrap_random_search", "seed": 7, "settings": {"candidates": 2}},
                    candidates=[{"id": 0, "instructions": "a", "demos": [], "dev_score": 0.5},
                                {"id": 1, "instructions": "b", "demos": [{"text": "x", "label": "ham"}],
                                 "dev_score": 0.75}],
                    dev_score=0.75, run_id="run-abc", budget={"paid_calls": 12, "usd": 0.0, "stopped_by_cap": False})
    return CompiledProgram(program=program, task=program.task, **{**defaults, **kwargs})


def predictor_states(program) -> dict:
    return {name: (p.signature.instructions, [dict(d) for d in p.demos],
                   [(f.json_schema_extra["prefix"], f.json_schema_extra["desc"]) for f in p.signature.fields.values()])
            for name, p in program.named_predictors()}


def rewrite(path, change) -> None:
    """Edit an artifact and, unlike a tamperer, keep its integrity hash valid."""
    document = json.loads(path.read_text(encoding="utf-8"))
    change(document)
    document["integrity"] = integrity(document)
    path.write_text(json.dumps(document), encoding="utf-8")


# ------------------------------------------------------------------------------------------ round trips


@pytest.mark.parametrize("make", [classify, lambda: classify(reasoning=True), multilabel],
                         ids=["classify", "classify-cot", "multilabel"])
def test_round_trip(tmp_path, make):
    original = compiled(make())
    path = original.save(tmp_path / "a.json")
    loaded = load(path)
    assert type(loaded.program) is type(original.program)
    assert predictor_states(loaded.program) == predictor_states(original.program)
    assert loaded.to_dict() == original.to_dict()
    assert (loaded.program.reasoning, loaded.program.samples, loaded.program.sample_temperature,
            loaded.program.logprobs) == (original.program.reasoning, original.program.samples,
                                         original.program.sample_temperature, original.program.logprobs)
    assert loaded.task.labels == original.task.labels and loaded.task.inputs == original.task.inputs
    assert list(loaded.task.inputs) == list(original.task.inputs)  # field order survives sorted keys
    assert (loaded.dev_score, loaded.run_id, loaded.candidates, loaded.budget) == \
        (0.75, "run-abc", original.candidates, original.budget)
    assert all(isinstance(d, dspy.Example) for _, p in loaded.program.named_predictors() for d in p.demos)


def test_file_format(tmp_path):
    path = compiled(classify()).save(tmp_path / "a.json")
    text = path.read_text(encoding="utf-8")
    document = json.loads(text)
    assert set(document) == TOP_LEVEL  # no created_at: same seed and ledger, same bytes
    assert document["format_version"] == FORMAT_VERSION and document["lmprog_version"] == lmprog.__version__
    assert document["dspy_version"] == dspy.__version__
    assert document["program"]["class"] == "Classify"
    demos = document["program"]["predictors"]["predict"]["state"]["demos"]
    assert demos == [{"text": "hi mum, home at 6", "label": "ham"}, {"text": "WIN a prize now!!", "label": "spam"}]
    assert "Ünïcödé" in text and text.endswith("}\n")
    assert document["task"]["labels"]["embedded"][1] == {"name": "spam", "description": "unsolicited advertising",
                                                         "aliases": ["junk"]}


def test_irera_round_trip_with_embedded_labels(tmp_path):
    original = compiled(irera(tmp_path, priors={"SQL": 0.5, "Linux": 0.1}))
    loaded = load(original.save(tmp_path / "out" / "a.json"))
    program = loaded.program
    assert isinstance(program, InferRetrieveRank)
    assert predictor_states(program) == predictor_states(original.program)
    assert (program.shortlist, program.rank_enabled, program.priors) == (4, True, {"SQL": 0.5, "Linux": 0.1})
    assert (program.retriever.kind, tuple(program.retriever.fields)) == ("bm25", ("name", "aliases", "description"))
    assert loaded.to_dict() == original.to_dict()


def test_irera_round_trip_with_labels_by_reference(tmp_path):
    original = compiled(irera(tmp_path))
    path = original.save(tmp_path / "out" / "a.json", embed_labels=False)
    reference = json.loads(path.read_text())["task"]["labels"]
    assert "embedded" not in reference and reference["file"]["path"] == "../data/skills.csv"
    assert reference["hash"] == original.task.labels.hash
    loaded = load(path)
    assert loaded.task.labels == original.task.labels
    assert predictor_states(loaded.program) == predictor_states(original.program)
    assert loaded.to_dict() == original.to_dict()
    # moved elsewhere: labels_base says where the label file is
    moved = tmp_path / "elsewhere" / "deep" / "a.json"
    moved.parent.mkdir(parents=True)
    moved.write_bytes(path.read_bytes())
    with pytest.raises(ArtifactError, match="does not exist; pass labels_base="):
        load(moved)
    assert load(moved, labels_base=tmp_path / "out").task.labels == original.task.labels


def test_reference_needs_a_label_file_read_the_same_way(tmp_path):
    with pytest.raises(ArtifactError, match="did not come from a file"):
        compiled(classify()).save(tmp_path / "a.json", embed_labels=False)
    program = irera(tmp_path)
    with pytest.raises(ArtifactError, match="pass labels_options="):
        compiled(program).save(tmp_path / "a.json", embed_labels=False, labels_options={"description": "aliases"})


def test_priors_by_reference(tmp_path):
    priors = {"SQL": 0.5, "Linux": 0.1}
    priors_path = tmp_path / "priors.json"
    priors_path.write_text(json.dumps(priors))
    path = compiled(irera(tmp_path, priors=priors)).save(tmp_path / "a.json", priors_file=priors_path)
    assert json.loads(path.read_text())["program"]["params"]["priors"]["file"]["path"] == "priors.json"
    assert load(path).program.priors == priors
    priors_path.write_text(json.dumps({"SQL": 0.9}))
    with pytest.raises(ArtifactError, match="priors.json has changed"):
        load(path)


# ------------------------------------------------------------------------------------------ determinism


def test_same_program_saves_byte_identical(tmp_path):
    first = compiled(classify()).save(tmp_path / "a.json")
    again = compiled(classify()).save(tmp_path / "b.json")  # built anew, same state
    assert first.read_bytes() == again.read_bytes()
    resaved = load(first).save(tmp_path / "c.json")
    assert resaved.read_bytes() == first.read_bytes()


def test_irera_saves_byte_identical(tmp_path):
    program = irera(tmp_path)
    a = compiled(program).save(tmp_path / "a.json", embed_labels=False)
    b = compiled(program).save(tmp_path / "b.json", embed_labels=False)
    assert a.read_bytes() == b.read_bytes()


# ------------------------------------------------------------------------------------------ rejections


def test_tampered_demo_is_rejected(tmp_path):
    path = compiled(classify()).save(tmp_path / "a.json")
    text = path.read_text(encoding="utf-8")
    tampered = text.replace('"label": "spam"', '"label": "ham"', 1)
    assert tampered != text
    path.write_text(tampered, encoding="utf-8")
    with pytest.raises(ArtifactError, match=r"a\.json has been modified") as info:
        load(path)
    assert info.value.path == str(path)


def test_newer_format_is_rejected(tmp_path):
    path = compiled(classify()).save(tmp_path / "a.json")
    rewrite(path, lambda d: d.update(format_version=FORMAT_VERSION + 1))
    with pytest.raises(ArtifactError, match="written by a newer lmprog"):
        load(path)


@pytest.mark.parametrize("value", ["1", 1.0, True, 0, None])
def test_wrong_format_version_is_rejected(tmp_path, value):
    path = compiled(classify()).save(tmp_path / "a.json")
    rewrite(path, lambda d: d.update(format_version=value))
    with pytest.raises(ArtifactError, match="'format_version' must be a positive integer"):
        load(path)


def test_invalid_json_names_file_line_and_column(tmp_path):
    path = compiled(classify()).save(tmp_path / "a.json")
    lines = path.read_text().splitlines()
    lines[3] = lines[3] + ","  # a stray comma on line 4
    path.write_text("\n".join(lines))
    with pytest.raises(ArtifactError, match=r"a\.json is not valid JSON: line \d+ column \d+"):
        load(path)
    (tmp_path / "nan.json").write_text('{"format_version": NaN}')
    with pytest.raises(ArtifactError, match="not valid JSON"):
        load(tmp_path / "nan.json")
    with pytest.raises(ArtifactError, match="does not exist"):
        load(tmp_path / "missing.json")


@pytest.mark.parametrize("key, change", [
    ("candidates", lambda d: d.pop("candidates")),
    ("task.metric", lambda d: d["task"].pop("metric")),
    ("task.labels.hash", lambda d: d["task"]["labels"].pop("hash")),
    ("program.predictors.predict.state.demos", lambda d: d["program"]["predictors"]["predict"]["state"].pop("demos")),
    ("program.params.samples", lambda d: d["program"]["params"].pop("samples")),
])
def test_missing_key_is_named(tmp_path, key, change):
    path = compiled(classify()).save(tmp_path / "a.json")
    rewrite(path, change)
    with pytest.raises(ArtifactError, match=f"missing the key '{key}'"):
        load(path)


@pytest.mark.parametrize("key, change", [
    ("dev_score", lambda d: d.update(dev_score="0.75")),
    ("task.multi_label", lambda d: d["task"].update(multi_label="no")),
    ("program.params.reasoning", lambda d: d["program"]["params"].update(reasoning=1)),
    ("program.predictors.predict.state.demos",
     lambda d: d["program"]["predictors"]["predict"]["state"].update(demos={})),
])
def test_wrong_type_is_named(tmp_path, key, change):
    path = compiled(classify()).save(tmp_path / "a.json")
    rewrite(path, change)
    with pytest.raises(ArtifactError, match=f"key '{key}' must be"):
        load(path)


def test_unknown_predictor_state_keys_are_not_set_as_attributes(tmp_path):
    path = compiled(classify()).save(tmp_path / "a.json")
    rewrite(path, lambda d: d["program"]["predictors"]["predict"]["state"].update(forward="os.system"))
    with pytest.raises(ArtifactError, match=r"unknown keys \['forward'\]"):
        load(path)


def test_changed_label_file_is_rejected(tmp_path):
    original = compiled(irera(tmp_path))
    path = original.save(tmp_path / "a.json", embed_labels=False)
    label_file = tmp_path / "data" / "skills.csv"
    label_file.write_text(SKILLS_CSV.replace("an operating system", "a kernel"), encoding="utf-8")
    with pytest.raises(ArtifactError, match="skills.csv has changed") as info:
        load(path)
    message = str(info.value)
    assert original.task.labels.hash in message and LabelSpace.from_file(label_file).hash in message


def test_edited_embedded_labels_are_rejected_even_with_a_valid_integrity_hash(tmp_path):
    original = compiled(classify())
    path = original.save(tmp_path / "a.json")
    rewrite(path, lambda d: d["task"]["labels"]["embedded"][0].update(name="eggs"))
    with pytest.raises(ArtifactError, match="the embedded labels have hash") as info:
        load(path)
    assert original.task.labels.hash in str(info.value)


def test_a_different_program_state_is_rejected(tmp_path):
    path = compiled(classify()).save(tmp_path / "a.json")
    rewrite(path, lambda d: d["program"]["params"].update(reasoning=True))  # CoT has predictor predict.predict
    with pytest.raises(ArtifactError, match="saved from a different program"):
        load(path)


# ------------------------------------------------------------------------------------------ secrets


def test_secrets_never_reach_the_file(tmp_path):
    secret, base = "sk-SECRET-4f9a2b", "http://127.0.0.1:9/v1"
    lm = lmprog.make_lm("openai/x", api_base=base, api_key=secret, ledger=tmp_path / "l.db")
    raw = dspy.LM("openai/y", api_key=secret, api_base=base, temperature=0.3)
    program = irera(tmp_path)
    program.infer.lm, program.rank.lm = lm, raw
    paths = [
        compiled(program, lm=lm).save(tmp_path / "from_lm.json"),
        compiled(program, lm={"model": "openai/x", "api_key": secret, "api_base": base, "base_url": base,
                              "temperature": 0.0, "extra": {"extra_headers": {"Authorization": f"Bearer {secret}"}},
                              "infer": lm_settings(lm), "rank": lm_settings(raw)}).save(tmp_path / "from_dict.json"),
    ]
    for path in paths:
        text = path.read_text(encoding="utf-8")
        assert secret not in text and "127.0.0.1:9" not in text and "api_key" not in text and "api_base" not in text
        document = json.loads(text)
        assert document["lm"]["model"] == "openai/x" and document["lm"]["temperature"] == 0.0
        steps = document["program"]["predictors"]
        assert steps["infer"]["lm"] == {"model": "openai/x", "temperature": 0.0, "max_tokens": 1024}
        assert steps["rank"]["lm"]["model"] == "openai/y" and steps["rank"]["lm"]["temperature"] == 0.3
        loaded = load(path)
        assert loaded.program.infer.lm is None and loaded.program.rank.lm is None  # never restored from a file
    assert lm_settings(None) is None


def test_unsaveable_values_are_refused_with_the_place(tmp_path):
    with pytest.raises(ArtifactError, match=r"optimizer\.metric_fn: a builtin_function_or_method is not plain JSON"):
        compiled(classify(), optimizer={"metric_fn": len}).save(tmp_path / "a.json")
    with pytest.raises(ArtifactError, match=r"dev_score: nan is not a finite number"):
        compiled(classify(), dev_score=float("nan")).save(tmp_path / "a.json")
    assert not (tmp_path / "a.json").exists()


# ------------------------------------------------------------------------------------------ custom programs

PROGRAM_FILE = '''
import dspy


class TwoViews(dspy.Module):
    def __init__(self, task, hint):
        super().__init__()
        self.hint = hint
        self.first = dspy.Predict(task.signature())
        self.second = dspy.ChainOfThought(task.signature())

    def forward(self, **inputs):
        return self.first(**inputs)


def build(task, *, hint="none"):
    return TwoViews(task, hint)
'''


def import_file(path, name):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_custom_program_needs_and_uses_program_file(tmp_path):
    program_file = tmp_path / "two_views.py"
    program_file.write_text(PROGRAM_FILE)
    task = spam_task()
    program = import_file(program_file, "two_views_test").build(task, hint="be brief")
    teach(program.first, "First view.", [{"text": "hello", "label": "ham"}])
    teach(program.second.predict, "Second view.", [{"text": "WIN", "label": "spam", "reasoning": "prize"}])
    original = CompiledProgram(program=program, task=task, lm={"model": "openai/x"},
                               program_params={"hint": "be brief"})
    path = original.save(tmp_path / "a.json")
    document = json.loads(path.read_text())
    assert (document["program"]["class"], document["program"]["custom_class"]) == ("custom", "TwoViews")
    with pytest.raises(ArtifactError, match="pass program_file="):
        load(path)
    loaded = load(path, program_file=program_file)
    assert type(loaded.program).__name__ == "TwoViews" and loaded.program.hint == "be brief"
    assert predictor_states(loaded.program) == predictor_states(program)
    assert loaded.to_dict() == original.to_dict()
    assert loaded.program_params == {"hint": "be brief"}
    with pytest.raises(ArtifactError, match="does not exist"):
        load(path, program_file=tmp_path / "nope.py")


def test_builtin_programs_load_without_any_user_file(tmp_path):
    path = compiled(multilabel()).save(tmp_path / "a.json")
    modules = set(sys.modules)
    loaded = load(path)
    assert isinstance(loaded.program, MultiLabelClassify)
    assert not {m for m in set(sys.modules) - modules if m.startswith("lmprog_program_")}


@pytest.mark.parametrize("name", ["os.system", "evil_artifact_module.Evil", "builtins.eval", "Classify "])
def test_class_names_in_the_file_are_never_imported(tmp_path, monkeypatch, name):
    marker = tmp_path / "imported"
    (tmp_path / "evil_artifact_module.py").write_text(
        f"open({str(marker)!r}, 'w').write('x')\nclass Evil:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    path = compiled(classify()).save(tmp_path / "a.json")
    rewrite(path, lambda d: d["program"].update({"class": name}))  # a valid hash: only the class check stops it
    with pytest.raises(ArtifactError, match="unknown program class"):
        load(path)
    assert not marker.exists() and "evil_artifact_module" not in sys.modules


# ------------------------------------------------------------------------------------------ predictions


def test_reloaded_classify_predicts_the_same(tmp_path, lm_for):
    original = compiled(classify())
    loaded = load(original.save(tmp_path / "a.json"))
    with TestLMServer(rule=answer_fields(label="spam")) as server, dspy.context(lm=lm_for(server, cache="off")):
        before = original(text="free prize, call now")
        after = loaded(text="free prize, call now")
    assert (before.label, after.label) == ("spam", "spam")
    first, second = server.requests
    assert first["messages"] == second["messages"]  # the same prompt, demos and instructions
    assert "Decide whether the SMS is spam." in first["messages"][0]["content"]
    assert "WIN a prize now!!" in json.dumps(first["messages"])


def test_reloaded_irera_predicts_the_same(tmp_path, monkeypatch, lm_for):
    monkeypatch.chdir(tmp_path)  # the reloaded retriever indexes under cache/indexes here

    def rule(body):
        if "ranking" in body["messages"][0]["content"]:
            return answer_fields(ranking=json.dumps(["SQL", "JavaScript"]))
        assert "web apps" in last_user_message(body)
        return answer_fields(queries=json.dumps(["JS", "SQL databases"]))

    original = compiled(irera(tmp_path))
    loaded = load(original.save(tmp_path / "a.json", embed_labels=False))
    with TestLMServer(rule=rule) as server, dspy.context(lm=lm_for(server, cache="off")):
        before = original(text="web apps in js with sql")
        after = loaded(text="web apps in js with sql")
    assert before["labels"][:2] == after["labels"][:2] == ["SQL", "JavaScript"]
    assert before.shortlist == after.shortlist
    assert [r["messages"] for r in server.requests[:2]] == [r["messages"] for r in server.requests[2:]]


def test_make_lm_uses_recorded_settings(tmp_path):
    program = compiled(classify(), lm={"model": "openai/test-model", "temperature": 0.2, "max_tokens": 64})
    lm = program.make_lm(api_base="http://127.0.0.1:9/v1", ledger=tmp_path / "l.db")
    assert lm.model == "openai/test-model" and lm.kwargs["temperature"] == 0.2 and lm.kwargs["max_tokens"] == 64


def test_saved_artifact_is_an_ordinary_readable_file(tmp_path):
    import os
    import stat

    import lmprog
    from lmprog.artifact import CompiledProgram

    task = lmprog.Task(inputs=["text"], labels=["a", "b"])
    path = CompiledProgram(program=lmprog.Classify(task), task=task).save(tmp_path / "compiled.json")
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask
