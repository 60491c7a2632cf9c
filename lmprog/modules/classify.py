"""Classify and MultiLabelClassify: a DSPy predictor whose answer is held to the label set.

The label list is stated once, in the signature's instructions. Where the LM supports structured
output (API models with JSON schema, the embedded model's grammar) the answer is constrained to an
enum of label names; elsewhere the free-text answer is mapped onto the label space by
``LabelSpace.parse``, and what matches nothing is reported as unparsed, never guessed.
"""

from __future__ import annotations

import contextlib
from typing import Any

import dspy
from dspy.utils.exceptions import AdapterParseError

from lmprog import outputs
from lmprog.errors import ConfigurationError
from lmprog.lm.context import module_name
from lmprog.modules import confidence as conf
from lmprog.modules import label_probabilities as lp
from lmprog.modules.context_fit import fit_inputs
from lmprog.modules.nearest import NearestDemos
from lmprog.modules.protocol import CompilePhase, LabelModuleBase, check_params, without_demos
from lmprog.task import MAX_LISTED_LABELS, Task


NEAREST_MIN, NEAREST_MAX = 4, 8  # nearest demos shown per input


class LabelAdapter(dspy.JSONAdapter):
    """DSPy's JSON adapter with one output field's JSON schema restricted to a list of label names."""

    def __init__(self, field: str, names: list[str], *, multi: bool = False, measure: bool = False):
        super().__init__()
        self.field, self.names, self.multi = field, list(names), multi
        self.measure = measure  # ask for the distribution over the labels (modules.label_probabilities)

    @classmethod
    def for_task(cls, task: Task, *, measure: bool = False) -> LabelAdapter:
        return cls(task.output_field, task.labels.names, multi=task.multi_label, measure=measure)

    def __call__(self, lm, lm_kwargs, signature, demos, inputs):
        if not self.measure:
            return super().__call__(lm, lm_kwargs, signature, demos, inputs)
        # DSPy's own pipeline, but the call is a typed request that asks for label probabilities.
        self._prepare_response_format(lm, lm_kwargs, signature)
        processed = self._call_preprocess(lm, lm_kwargs, signature, inputs)
        response = lp.call(lm, self.format(processed, demos, inputs), lm_kwargs)
        values = self._call_postprocess(processed, signature, [lp.answer_text(response)], lm, lm_kwargs)
        values[0][lp.LABEL_PROBABILITIES] = lp.distribution(response, self.field)
        return values

    def _prepare_response_format(self, lm, lm_kwargs, signature):
        if not lm.supports_response_schema or "response_format" not in lm.supported_params:
            return super()._prepare_response_format(lm, lm_kwargs, signature)
        properties: dict[str, Any] = {}
        for name in signature.output_fields:
            if name == self.field:
                item = {"type": "string", "enum": self.names}
                properties[name] = {"type": "array", "items": item} if self.multi else item
            else:
                properties[name] = {"type": "string"}
        schema = {"type": "object", "properties": properties, "required": list(properties),
                  "additionalProperties": False}
        lm_kwargs["response_format"] = {"type": "json_schema",
                                        "json_schema": {"name": "answer", "schema": schema, "strict": True}}


def constrained(lm, adapter: dspy.Adapter):
    """Use ``adapter`` when the LM can hold its answer to a schema; DSPy's default adapter otherwise."""
    return dspy.context(adapter=adapter) if lm.supports_response_schema else contextlib.nullcontext()


def current_lm(predictor):
    """The LM ``predictor`` calls: its own, else the one ``dspy.context`` sets."""
    lm = predictor.lm or dspy.settings.lm
    if lm is None:
        raise ConfigurationError("no LM configured: use dspy.context(lm=lmprog.make_lm(...)) or set the module's lm")
    return lm


class Classify(LabelModuleBase):
    """Pick the task's label for each example.

    Args:
        task: the :class:`~lmprog.Task` (single-label).
        reasoning: think step by step before answering (a ``reasoning`` field before the label, as
            ``dspy.ChainOfThought`` adds).
        samples: answers drawn per example; above 1 the majority label wins.
        sample_temperature: temperature for those samples.
        logprobs: confidence from the model's probabilities: token log-probabilities, or on the
            embedded model the label probabilities (None: when the LM supports logprobs, except local
            models, so their cached answers stay valid).
        nearest: above 0, the predictor's demos are a pool and each input is shown the ``nearest``
            pool examples most like it (bm25 over the inputs) instead of all of them.

    Every prediction has ``label`` (or ``labels``), ``confidence`` in [0, 1] or None, and
    ``confidence_source``: ``"logprobs"`` (probability of the label's tokens), ``"label_probabilities"``
    (the label's share of the model's distribution over the label list, which is ``label_probabilities``),
    ``"agreement"`` (share of samples that agree), or None when none is available. ``raw`` is the answer
    as the LM wrote it and ``unparsed`` what in it matched no label.
    """

    multi_label = False
    output = outputs.LABEL

    def __init__(self, task: Task, *, reasoning: bool = False, samples: int = 1, sample_temperature: float = 0.7,
                 logprobs: bool | None = None, nearest: int = 0):
        super().__init__()
        if task.multi_label != self.multi_label:
            other = "MultiLabelClassify" if task.multi_label else "Classify"
            raise ConfigurationError(f"task {task.name!r} is {'multi' if task.multi_label else 'single'}-label: use {other}")
        if len(task.labels) > MAX_LISTED_LABELS:
            where = f" (from {task.labels.source})" if task.labels.source else ""
            raise ConfigurationError(
                f"task {task.name!r} has {len(task.labels):,} labels{where}, too many to list in a prompt "
                f"(at most {MAX_LISTED_LABELS}); use InferRetrieveRank"
            )
        if samples < 1:
            raise ConfigurationError(f"samples must be at least 1, not {samples}")
        self.task = task
        self.reasoning = reasoning
        self.samples = samples
        self.sample_temperature = sample_temperature
        self.logprobs = logprobs
        self.nearest = int(nearest)
        self._nearest: NearestDemos | None = None
        signature = task.signature()
        if reasoning:  # ChainOfThought's own field, on a plain Predict so every helper sees one predictor
            signature = signature.prepend("reasoning", dspy.OutputField(desc="think step by step first"), type_=str)
        self.predict = dspy.Predict(signature)

    # -- the module protocol -----------------------------------------------------------------

    def params(self, *, base=None, references=None) -> dict:
        params = {"reasoning": bool(self.reasoning), "samples": int(self.samples),
                  "sample_temperature": float(self.sample_temperature), "logprobs": self.logprobs}
        return {**params, "nearest": self.nearest} if self.nearest else params

    @classmethod
    def from_params(cls, task: Task, params, *, base=None) -> Classify:
        check_params(params, {"reasoning": bool, "samples": int, "sample_temperature": (int, float),
                              "logprobs": (bool, type(None))})
        if "nearest" in params:
            check_params(params, {"nearest": int})
        return cls(task, reasoning=params["reasoning"], samples=params["samples"],
                   sample_temperature=params["sample_temperature"], logprobs=params["logprobs"],
                   nearest=params.get("nearest", 0))

    def compile_phases(self) -> list[CompilePhase]:
        """One step: demos are labelled examples (the zero-shot program's mistakes first), and a teacher's
        instruction drafts get the label list appended."""
        return [CompilePhase(name="", predictor="predict", demo=lambda example: example,
                             instructions=self.instructions_with_labels, calls_per_example=self.samples,
                             variants=(("nearest-demos", self.with_nearest_demos),
                                       ("label-order", self.with_label_order)))]

    def with_nearest_demos(self, program: Classify, demos: list) -> Classify:
        """``program`` showing each input its nearest labelled examples (all of ``demos`` are the pool)."""
        program.predict.demos = list(demos)
        program.nearest = min(NEAREST_MAX, max(NEAREST_MIN, len(self.task.labels)))
        return program

    def with_label_order(self, program: Classify, demos: list) -> Classify:
        """``program`` with the label list in reverse order and a reminder that the order means nothing (a small
        model often answers the first label it is shown)."""
        names = self.task.labels.describe().splitlines()[::-1]
        own = self.task.instructions.strip()
        choose = "one or more labels" if self.multi_label else "exactly one label"
        listing = (f"Answer with {choose} from this list, spelled as written. The list is in no particular order: "
                   f"compare the input with every label before answering.\n" + "\n".join(names))
        text = f"{own}\n\n{listing}" if own else listing
        program.predict.signature = program.predict.signature.with_instructions(text)
        return program

    def instructions_with_labels(self, draft: str) -> str:
        """A drafted instruction followed by the task's label list (as the task's own instructions are)."""
        listing = self.task.label_instructions()
        own = self.task.instructions.strip()
        return draft + listing[len(own):] if own and listing.startswith(own) else f"{draft}\n\n{listing}"

    def sampling(self, samples: int) -> Classify:
        """A copy that draws ``samples`` answers per input (the majority wins; agreement is the confidence)."""
        if samples < 1:
            raise ConfigurationError(f"samples must be at least 1, not {samples}")
        copy = self.deepcopy()
        copy.samples = samples
        return copy

    def zero_shot(self) -> Classify:
        """Without demos, and with the task's own instructions and label list."""
        baseline = without_demos(self)
        baseline.predict.signature = baseline.predict.signature.with_instructions(self.task.label_instructions())
        return baseline

    # -- predicting --------------------------------------------------------------------------

    def forward(self, **inputs) -> dspy.Prediction:
        lm = current_lm(self.predict)
        config: dict[str, Any] = {}
        if self.samples > 1:
            config.update(n=self.samples, temperature=self.sample_temperature)
        measure = self.samples == 1 and not self.multi_label and self._wants_logprobs(lm) and lp.measures(lm)
        if self.samples == 1 and self._wants_logprobs(lm) and not measure:
            config["logprobs"] = True
        demos = self._demos_for(inputs)
        inputs = fit_inputs(inputs, self.predict, lm, demos)
        shown = {} if demos is None else {"demos": demos}
        adapter = LabelAdapter.for_task(self.task, measure=measure)
        with module_name(f"{type(self).__name__}:{self.task.name}"), constrained(lm, adapter):
            try:
                prediction = self.predict(**inputs, config=config, **shown)
            except AdapterParseError as error:
                return self._from_answers([error.lm_response or ""], parse_error=True)
        field = self.task.output_field
        answers = prediction.completions[field] if self.samples > 1 else [prediction[field]]
        logprobs = prediction.get("logprobs") if self.samples == 1 else None
        return self._from_answers(answers, logprobs=logprobs, reasoning=prediction.get("reasoning"),
                                  probabilities=prediction.get(lp.LABEL_PROBABILITIES) if measure else None)

    def _demos_for(self, inputs: dict) -> list | None:
        """With ``nearest`` set, the predictor's demos are a pool and each input is shown its nearest ones."""
        if not self.nearest:
            return None
        pool = self.predict.demos
        if self._nearest is None or self._nearest.pool != list(pool):
            self._nearest = NearestDemos(pool, self.task.input_fields)
        return self._nearest.select(inputs, self.nearest)

    def _wants_logprobs(self, lm) -> bool:
        if self.logprobs is not None:
            return self.logprobs
        return "logprobs" in lm.supported_params and not str(lm.model).startswith("local/")

    def _from_answers(self, answers: list, *, logprobs=None, reasoning=None, parse_error=False,
                      probabilities=None) -> dspy.Prediction:
        parsed = [self.task.labels.parse(_as_text(answer), multi=self.multi_label) for answer in answers]
        raw = _as_text(answers[0])
        unparsed = [piece for result in parsed for piece in result.unparsed]
        if self.multi_label:
            labels = _majority_labels([p.labels for p in parsed])
            score, source = (conf.from_label_votes([p.labels for p in parsed], labels), conf.AGREEMENT) \
                if len(parsed) > 1 else (None, None)
            return dspy.Prediction(labels=labels, confidence=score, confidence_source=source, raw=raw,
                                   unparsed=unparsed, parse_error=parse_error, reasoning=reasoning)
        if len(parsed) > 1:
            label, score = conf.from_votes([p.label for p in parsed])
            source = conf.AGREEMENT
        else:
            label = parsed[0].label
            if probabilities and label in probabilities:
                score, source = probabilities[label], lp.LABEL_PROBABILITIES
            else:
                score = conf.from_logprobs(logprobs, raw, label) if logprobs and label else None
                source = conf.LOGPROBS if score is not None else None
        return dspy.Prediction(label=label, confidence=score, confidence_source=source, raw=raw,
                               unparsed=unparsed, parse_error=parse_error, reasoning=reasoning,
                               label_probabilities=probabilities)


class MultiLabelClassify(Classify):
    """Pick every label that applies (a multi-label :class:`~lmprog.Task`); see :class:`Classify`."""

    multi_label = True
    output = outputs.LABEL_SET


def _as_text(answer: Any) -> str:
    if answer is None:
        return ""
    if isinstance(answer, (list, tuple)):
        return "\n".join(str(a) for a in answer)
    return str(answer)


def _majority_labels(samples: list[list[str]]) -> list[str]:
    """Labels found in at least half of the samples, in first-seen order."""
    if len(samples) == 1:
        return list(samples[0])
    seen: list[str] = []
    for labels in samples:
        seen.extend(label for label in labels if label not in seen)
    return [label for label in seen if sum(label in s for s in samples) * 2 >= len(samples)]
