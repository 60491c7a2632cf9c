"""pandas DataFrames in and out: CompiledProgram.predict(frame) and Distilled.predict(frame) answer with a
DataFrame; evaluate and load_examples take a DataFrame where they take a file."""

from __future__ import annotations

import pytest

pd = pytest.importorskip("pandas")

import lmprog  # noqa: E402
from lmprog.artifact import CompiledProgram  # noqa: E402
from lmprog.data import load_examples  # noqa: E402
from lmprog.distillation.classifier import Distilled  # noqa: E402
from lmprog.evaluation import evaluate  # noqa: E402
from lmprog.supervised import text_pipeline  # noqa: E402
from lmprog.testing import answer_fields, last_user_message  # noqa: E402
from tests.test_compile import CUES, TASK  # noqa: E402

CUE_NAMES = list(CUES)


def reader(body: dict) -> str:
    return answer_fields(label=next((n for c, n in CUES.items() if c in last_user_message(body)), "billing"))


def frame(n: int, *, labelled: bool = False):
    data = {"id": range(100, 100 + n), "text": [f"about my {CUE_NAMES[i % 4]} {i}" for i in range(n)]}
    if labelled:
        data["label"] = [CUES[CUE_NAMES[i % 4]] for i in range(n)]
    return pd.DataFrame(data).set_index("id")


@pytest.mark.server(rule=reader)
def test_compiled_predict_and_evaluate_take_a_dataframe(server, lm_for):
    compiled = CompiledProgram(lmprog.Classify(TASK), TASK, lm={"model": "openai/test-model"}).use(lm_for(server))
    rows = frame(12)
    answered = compiled.predict(rows, threads=4)
    assert isinstance(answered, pd.DataFrame) and list(answered.index) == list(rows.index)
    assert list(answered.columns) == ["text", "label", "confidence", "error"]
    assert list(answered["label"]) == [CUES[CUE_NAMES[i % 4]] for i in range(12)]
    assert answered["error"].isna().all() and rows.columns.tolist() == ["text"]  # the input frame is untouched
    result = evaluate(compiled, frame(12, labelled=True), lm=lm_for(server))
    assert result.score == 1.0 and server.request_count == 12  # the same 12 inputs: answered by the ledger


def test_load_examples_and_distilled_predict_take_a_dataframe():
    examples = load_examples(frame(8, labelled=True), labels=TASK.labels)
    assert len(examples) == 8 and examples[0].text == "about my bill 0" and examples[0].label == "billing"
    with pytest.raises(lmprog.errors.DataError, match="no column 'label'"):
        load_examples(frame(3))
    train = frame(40, labelled=True)
    pipeline = text_pipeline("tfidf", multi_label=False, balance=True, seed=0).fit(list(train["text"]),
                                                                                  list(train["label"]))
    model = Distilled(pipeline, TASK, classes=list(pipeline.classes_), ranked=False)
    answered = model.predict(frame(8))
    assert list(answered.columns) == ["text", "label", "confidence"]
    assert list(answered["label"]) == [CUES[CUE_NAMES[i % 4]] for i in range(8)]
    assert model.predict(["about my card"]) == ["card"]
