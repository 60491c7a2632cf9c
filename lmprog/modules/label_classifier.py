"""The labels alone as a program: a plain classifier trained on the labelled examples, no LM call.

On a small model, TF-IDF with logistic regression trained on 50 labels often beats every prompt; the
compile considers it as one more candidate and ships it when it wins. The training examples are its
parameters (the artifact saves them as data, never a pickle); the model is refitted on load, which with
the same examples and seed gives the same model.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Sequence

import dspy
import numpy as np

from lmprog import outputs
from lmprog.modules.protocol import CompilePhase, LabelModuleBase, check_params
from lmprog.supervised import answers_from, input_text, targets, text_pipeline
from lmprog.task import Task

CONFIDENCE_SOURCE = "classifier"


def example_rows(task: Task, examples: Sequence) -> list[dict]:
    """Labelled examples as plain dicts of the input fields and the gold answer (what is saved)."""
    field = task.output_field
    rows = []
    for example in examples:
        get = example.get if hasattr(example, "get") else example.__getitem__
        row = {name: str(get(name, "")) for name in task.input_fields}
        gold = get(field, None)
        row[field] = list(gold or []) if task.multi_label else gold
        rows.append(row)
    return rows


class LabelClassifier(LabelModuleBase):
    """TF-IDF (word and character n-grams) + logistic regression trained on ``examples`` (see the module docstring).

    Predictions carry ``confidence``: the top probability (single-label) or the least certain yes/no of the
    labels (multi-label).
    """

    def __init__(self, task: Task, examples: Sequence = (), *, seed: int = 0):
        super().__init__()
        self.task, self.seed = task, int(seed)
        self.output = outputs.for_task(task)
        self.examples = example_rows(task, examples)
        self._model = None
        self._lock = threading.Lock()

    def params(self, *, base=None, references=None) -> dict:
        return {"examples": self.examples, "seed": self.seed}

    @classmethod
    def from_params(cls, task: Task, params, *, base=None) -> LabelClassifier:
        check_params(params, {"examples": list, "seed": int})
        return cls(task, params["examples"], seed=params["seed"])

    def compile_phases(self) -> list[CompilePhase]:
        return []  # nothing to tune: it is trained on the labels it is given

    def zero_shot(self) -> LabelClassifier:
        return self

    def deepcopy(self) -> LabelClassifier:
        return self  # immutable once built; sharing the fitted model is safe

    def _fitted(self):
        with self._lock:
            if self._model is None:
                self._model = self._fit()
            return self._model

    def _fit(self):
        field, multi = self.task.output_field, self.task.multi_label
        answers = [row[field] for row in self.examples]
        classes = sorted({a for answer in answers for a in (answer if multi else [answer]) if a is not None})
        if len(classes) < 2:
            return classes, None
        texts = [input_text(self.task.input_fields, row) for row in self.examples]
        pipeline = text_pipeline(multi_label=multi, seed=self.seed)
        with warnings.catch_warnings():  # a label every example has (or none has) is learnt as a constant
            warnings.simplefilter("ignore", UserWarning)
            pipeline.fit(texts, targets(answers, classes, multi))
        return classes, pipeline

    def probabilities(self, inputs: dict) -> tuple[list[str], np.ndarray]:
        """The classes and their probabilities for one input."""
        classes, pipeline = self._fitted()
        if pipeline is None:
            return classes, np.ones(len(classes))
        with warnings.catch_warnings():  # a constant label (see _fit) warns on every prediction too
            warnings.simplefilter("ignore", UserWarning)
            return classes, np.asarray(pipeline.predict_proba([input_text(self.task.input_fields, inputs)])[0])

    def forward(self, **inputs) -> dspy.Prediction:
        classes, proba = self.probabilities(inputs)
        multi = self.task.multi_label
        if not classes:
            return dspy.Prediction(**{self.task.output_field: [] if multi else None}, confidence=None,
                                   confidence_source=None)
        answer = answers_from(proba[None, :], classes, multi)[0]
        confidence = float(np.maximum(proba, 1 - proba).min()) if multi else float(proba.max())
        return dspy.Prediction(**{self.task.output_field: answer}, confidence=confidence,
                               confidence_source=CONFIDENCE_SOURCE)
