"""The LM chooses among the labels a classifier trained on the labelled examples ranks highest.

Infer-Retrieve-Rank shortlists a huge label space by retrieval; here the shortlist comes from the most
trustworthy signal a user has, their labels: a :class:`LabelClassifier` ranks the labels, and the LM picks
one of its top ``k``, its answer held to that shortlist. The LM adds what the words alone miss; the
classifier keeps it from the labels it would never need.
"""

from __future__ import annotations

from collections.abc import Sequence

import dspy
from dspy.utils.exceptions import AdapterParseError

from lmprog import outputs
from lmprog.labels import LabelSpace
from lmprog.lm.context import module_name
from lmprog.modules.classify import LabelAdapter, constrained, current_lm
from lmprog.modules.context_fit import fit_inputs
from lmprog.modules.label_classifier import LabelClassifier
from lmprog.modules.protocol import CompilePhase, LabelModuleBase, check_params
from lmprog.task import Task

OPTIONS_FIELD = "options"


def choose_signature(task: Task):
    """Task inputs + ``options`` (the shortlist, most likely first) -> ``label``."""
    fields = {name: (str, dspy.InputField(desc=desc or "")) for name, desc in task.inputs.items()}
    fields[OPTIONS_FIELD] = (list[str], dspy.InputField(desc="the candidate labels, most likely first"))
    fields["label"] = (str, dspy.OutputField(desc="the one candidate label that applies, copied exactly"))
    step = "Choose the one candidate label that applies to the input."
    instructions = "\n\n".join(part for part in (task.instructions.strip(), step) if part)
    return dspy.make_signature(fields, instructions, signature_name="ChooseLabel")


class ShortlistClassify(LabelModuleBase):
    """A single-label task: the LM chooses among a trained classifier's top ``k`` labels (module docstring)."""

    output = outputs.LABEL

    def __init__(self, task: Task, examples: Sequence = (), *, k: int = 3, seed: int = 0):
        super().__init__()
        self.task, self.k = task, int(k)
        self.classifier = LabelClassifier(task, examples, seed=seed)
        self.choose = dspy.Predict(choose_signature(task))

    def params(self, *, base=None, references=None) -> dict:
        return {"k": self.k, **self.classifier.params()}

    @classmethod
    def from_params(cls, task: Task, params, *, base=None) -> ShortlistClassify:
        check_params(params, {"k": int, "examples": list, "seed": int})
        return cls(task, params["examples"], k=params["k"], seed=params["seed"])

    def compile_phases(self) -> list[CompilePhase]:
        return [CompilePhase(name="", predictor="choose", demo=self.demo, hard_cases=False)]

    def demo(self, example: dspy.Example) -> dspy.Example:
        """A labelled example as a demo: its shortlist, and the gold label (added if the shortlist missed it)."""
        inputs = {name: example[name] for name in self.task.input_fields}
        options = self.shortlist(inputs)
        gold = example.get("label")
        if gold not in options:
            options = options[:-1] + [gold]
        return dspy.Example(**inputs, **{OPTIONS_FIELD: options, "label": gold})

    def shortlist(self, inputs: dict) -> list[str]:
        classes, proba = self.classifier.probabilities(inputs)
        order = sorted(range(len(classes)), key=lambda j: (-proba[j], j))
        return [classes[j] for j in order[: self.k]]

    def deepcopy(self) -> ShortlistClassify:
        classifier, self.classifier = self.classifier, None
        try:
            copy = super().deepcopy()
        finally:
            self.classifier = classifier
        copy.classifier = classifier
        copy.choose.lm = self.choose.lm
        return copy

    def forward(self, **inputs) -> dspy.Prediction:
        options = self.shortlist(inputs)
        if len(options) <= 1:
            return dspy.Prediction(label=options[0] if options else None, confidence=None, confidence_source=None)
        lm = current_lm(self.choose)
        with module_name(f"ShortlistClassify:{self.task.name}"), constrained(lm, LabelAdapter("label", options)):
            try:
                answer = self.choose(**fit_inputs(inputs, self.choose, lm), **{OPTIONS_FIELD: options}).label
            except AdapterParseError as error:
                answer = error.lm_response or ""
        label = LabelSpace(options).parse(str(answer or "")).label
        return dspy.Prediction(label=label, raw=str(answer or ""), unparsed=[] if label else [str(answer or "")],
                               confidence=None, confidence_source=None)
