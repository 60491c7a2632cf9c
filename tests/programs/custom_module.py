"""A label module written outside lmprog, as a user would: it implements the module protocol and nothing
else, and must compile, plan, save, load and evaluate like lmprog's own modules (tests/test_protocol.py)."""

import dspy

from lmprog import outputs
from lmprog.modules.protocol import CompilePhase, LabelModuleBase


class KeywordFirst(LabelModuleBase):
    """Answers from a keyword table when one matches, else asks the LM (one predictor, ``decide``)."""

    output = outputs.LABEL

    def __init__(self, task, keywords=None):
        super().__init__()
        self.task = task
        self.keywords = dict(keywords or {})
        self.decide = dspy.Predict(task.signature())

    def params(self, *, base=None, references=None) -> dict:
        return {"keywords": dict(self.keywords)}

    def compile_phases(self):
        return [CompilePhase(name="", predictor="decide", demo=lambda example: example)]

    def confidence(self, prediction):
        return 1.0 if prediction.get("source") == "keyword" else None

    def forward(self, **inputs):
        text = " ".join(str(value) for value in inputs.values()).lower()
        for word, label in self.keywords.items():
            if word in text:
                return dspy.Prediction(label=label, source="keyword")
        answer = self.decide(**inputs)
        return dspy.Prediction(label=self.task.labels.parse(str(answer.label)).label, source="lm")


def build(task, keywords=None):
    return KeywordFirst(task, keywords=keywords)
