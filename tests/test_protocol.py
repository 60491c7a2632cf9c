"""The module protocol: a module written outside lmprog compiles, plans, saves, loads, evaluates and predicts
like the built-ins, and lmprog's own modules answer the protocol's questions."""

from __future__ import annotations

from pathlib import Path

import dspy
import pytest

import lmprog
from lmprog import outputs
from lmprog.modules.program_file import build_program
from lmprog.modules.protocol import LabelModule, compile_phases, confidence_of, zero_shot
from lmprog.task import Task
from lmprog.testing import answer_fields, last_user_message

PROGRAM_FILE = Path(__file__).parent / "programs" / "custom_module.py"
TASK = Task(inputs={"text": "the message"}, labels=["billing", "card", "refund", "transfer"],
            instructions="Which banking intent is this?", name="bank")
CUES = {"bill": "billing", "card": "card", "refund": "refund", "transfer": "transfer"}


def examples(n: int = 24) -> list[dspy.Example]:
    cues = list(CUES)
    return [dspy.Example(text=f"question {i} about my {cues[i % 4]}", label=CUES[cues[i % 4]]).with_inputs("text")
            for i in range(n)]


def scripted(body: dict) -> str:
    """Zero-shot it always says 'billing'; with demos it reads the cue."""
    if len(body["messages"]) <= 2:
        return answer_fields(label="billing")
    user = last_user_message(body)
    return answer_fields(label=next((name for cue, name in CUES.items() if cue in user), "billing"))


pytestmark = pytest.mark.server(rule=scripted)


def custom(keywords=None):
    return build_program(PROGRAM_FILE, TASK, {"keywords": keywords or {"refund": "refund"}})


def test_the_custom_module_implements_the_protocol():
    program = custom()
    assert isinstance(program, LabelModule)
    assert program.output is outputs.LABEL
    assert [phase.predictor for phase in compile_phases(program)] == ["decide"]


def test_a_custom_module_compiles_plans_saves_loads_and_evaluates(server, lm_for, tmp_path):
    lm = lm_for(server)
    program = custom()
    options = dict(lm=lm, demo_sets=2, instructions=0, families=("demos",))
    estimate = lmprog.plan(program, examples(), **options)
    compiled = lmprog.compile(program, examples(), **options)
    assert compiled.zero_shot_score < compiled.dev_score == 1.0
    assert [c["id"] for c in compiled.candidates] == ["zero-shot", "demos-0", "demos-1"]
    # the plan counted what the compile paid for (keyword answers make no call, so never more)
    assert server.request_count <= estimate.calls
    path = compiled.save(tmp_path / "custom.json")
    with pytest.raises(lmprog.errors.ArtifactError, match="pass program_file="):
        lmprog.load(path)
    loaded = lmprog.load(path, program_file=PROGRAM_FILE)
    assert type(loaded.program).__name__ == "KeywordFirst" and loaded.program.keywords == {"refund": "refund"}
    assert [d["label"] for d in loaded.program.decide.demos] == [d["label"] for d in compiled.program.decide.demos]
    evaluation = lmprog.evaluate(loaded, examples(8), lm=lm)
    assert evaluation.score == 1.0 and evaluation.output is outputs.LABEL
    keyword = next(r for r in evaluation.results if "refund" in r.text)
    assert keyword.confidence == 1.0  # asked of the module, not read off its class
    assert loaded.use(lm).predict(["my card is gone", {"text": "a refund please"}]) == ["card", "refund"]


def test_the_zero_shot_version_of_a_compiled_program_is_asked_of_the_module(server, lm_for):
    compiled = lmprog.compile(lmprog.Classify(TASK), examples(), lm=lm_for(server), demo_sets=1, instructions=0)
    assert compiled.program.predict.demos
    baseline = zero_shot(compiled.program)
    assert not baseline.predict.demos
    assert baseline.predict.signature.instructions == TASK.label_instructions()


def test_builtin_modules_answer_the_protocol(tmp_path):
    from lmprog.retrieval import LabelRetriever

    multi = Task(inputs=["text"], labels=["a", "b"], multi_label=True)
    assert lmprog.Classify(TASK).output is outputs.LABEL
    assert lmprog.MultiLabelClassify(multi).output is outputs.LABEL_SET
    irera = lmprog.InferRetrieveRank(multi, retriever=LabelRetriever(multi.labels, index_dir=tmp_path))
    assert irera.output is outputs.RANKING
    assert [(p.name, p.predictor) for p in irera.compile_phases()] == [("infer", "infer"), ("rank", "rank")]
    assert irera.params()["retriever"]["kind"] == "bm25"
    rebuilt = lmprog.InferRetrieveRank.from_params(multi, irera.params())
    assert rebuilt.params() == irera.params()
    assert confidence_of(lmprog.Classify(TASK), dspy.Prediction(label="card", confidence=0.75)) == 0.75


def test_a_format_1_artifact_still_loads():
    path = Path(__file__).parent / "data" / "artifact-format-1.json"
    loaded = lmprog.load(path)
    assert loaded.task.name == "sms_spam" and type(loaded.program).__name__ == "Classify"
    assert loaded.output is outputs.LABEL and loaded.candidates
