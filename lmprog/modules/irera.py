"""Infer-Retrieve-Rank for label spaces too large to list (D'Oosterlinck et al. 2024).

Infer: an LM writes free-text terms for the labels that apply. Retrieve: each term is searched in
the label space; a label keeps its best score over the terms (optionally weighted by priors).
Rank: an LM orders the top-N shortlist. The output is a full ranking: the ranked choices first,
then the rest of the shortlist in retrieval order.
"""

from __future__ import annotations

from collections.abc import Mapping

import dspy
from dspy.utils.exceptions import AdapterParseError

from lmprog import outputs
from lmprog.errors import ArtifactError, ConfigurationError
from lmprog.labels import LabelSpace
from lmprog.lm.context import module_name
from lmprog.modules.classify import LabelAdapter, constrained, current_lm
from lmprog.modules.context_fit import fit_inputs
from lmprog.modules.priors import priors_from_params, priors_params
from lmprog.modules.protocol import CompilePhase, LabelModuleBase, check_params
from lmprog.retrieval import LabelRetriever
from lmprog.task import Task

QUERIES_FIELD = "queries"
# What the retriever is asked: the Infer step's terms (the paper), the input itself (no Infer call: the
# retrieval floor), or both.
QUERY_MODES = ("inferred", "input", "input+inferred")
OPTIONS_FIELD = "options"
RANKING_FIELD = "ranking"


def _step_signature(task: Task, name: str, step: str, outputs: dict, extra_inputs: dict | None = None):
    fields = {field: (str, dspy.InputField(desc=desc or "")) for field, desc in task.inputs.items()}
    fields.update(extra_inputs or {})
    fields.update(outputs)
    instructions = "\n\n".join(part for part in (task.instructions.strip(), step) if part)
    return dspy.make_signature(fields, instructions, signature_name=name)


def infer_signature(task: Task):
    """Task inputs -> ``queries``: short descriptions of every label that applies."""
    return _step_signature(
        task, "InferLabels",
        "Name every label that applies to the input as a short phrase in the vocabulary of the label space.",
        {QUERIES_FIELD: (list[str], dspy.OutputField(desc="short phrases naming each label that applies, one per label"))},
    )


def rank_signature(task: Task):
    """Task inputs + ``options`` (the shortlist) -> ``ranking``: the options that apply, best first."""
    return _step_signature(
        task, "RankLabels",
        "Choose the candidate labels that apply to the input and order them from most to least relevant.",
        {RANKING_FIELD: (list[str], dspy.OutputField(
            desc="the candidate labels that apply, most relevant first, copied exactly from the options"))},
        extra_inputs={OPTIONS_FIELD: (list[str], dspy.InputField(desc="candidate labels"))},
    )


class InferRetrieveRank(LabelModuleBase):
    """Extreme multi-label classification with two LM steps around a retriever.

    Args:
        task: a multi-label :class:`~lmprog.Task`; its label space may have thousands of labels.
        retriever: a :class:`LabelRetriever` (default: bm25 over names and aliases).
        shortlist: how many retrieved labels the Rank step sees (N, default 50).
        rank: run the Rank step (``False`` returns the retrieval order; used when optimizing Infer).
        priors: label -> prior probability, to weight retrieval scores (as in IReRa).
        infer_lm / rank_lm: LMs for each step (default: the LM in ``dspy.context``).

    The prediction has ``labels`` (the full ranking), ``queries``, ``shortlist`` and ``ranked``
    (the labels the Rank step chose, in its order). There is no token-level confidence for a
    ranking: ``confidence`` is None.
    """

    output = outputs.RANKING

    def __init__(self, task: Task, *, retriever: LabelRetriever | None = None, shortlist: int = 50,
                 rank: bool = True, priors: Mapping[str, float] | None = None, infer_lm=None, rank_lm=None,
                 queries: str = "inferred"):
        super().__init__()
        if not task.multi_label:
            raise ConfigurationError(f"task {task.name!r} is single-label; InferRetrieveRank needs multi_label = true")
        if shortlist < 1:
            raise ConfigurationError(f"shortlist must be at least 1, not {shortlist}")
        if queries not in QUERY_MODES:
            raise ConfigurationError(f"queries must be one of {', '.join(QUERY_MODES)}, not {queries!r}")
        self.queries = queries
        self.task = task
        self.retriever = retriever or LabelRetriever(task.labels)
        self.shortlist = shortlist
        self.rank_enabled = rank
        self.priors = dict(priors) if priors else None
        self.infer = dspy.Predict(infer_signature(task))
        self.rank = dspy.Predict(rank_signature(task))
        self.infer.lm = infer_lm
        self.rank.lm = rank_lm

    # -- the module protocol -----------------------------------------------------------------

    def params(self, *, base=None, references=None) -> dict:
        """Shortlist size, whether Rank runs, the retriever's settings and the priors (inline, or by
        reference to ``references["priors"]``, a JSON file holding exactly these priors)."""
        params = {"shortlist": int(self.shortlist), "rank": bool(self.rank_enabled),
                  "retriever": self._retriever_params(),
                  "priors": priors_params(self.priors, (references or {}).get("priors"), base)}
        return {**params, "queries": self.queries} if self.queries != "inferred" else params

    def _retriever_params(self) -> dict:
        retriever = self.retriever
        labels = retriever.labels if isinstance(retriever.labels, LabelSpace) else LabelSpace(retriever.labels)
        if labels.hash != self.task.labels.hash:
            raise ArtifactError("the program's retriever searches other labels than the task's; "
                                "build it with LabelRetriever(task.labels, ...)")
        fields = [retriever.fields] if isinstance(retriever.fields, str) else list(retriever.fields)
        return {"kind": retriever.kind, "fields": fields, "model": retriever.model}

    @classmethod
    def from_params(cls, task: Task, params, *, base=None) -> InferRetrieveRank:
        check_params(params, {"shortlist": int, "rank": bool, "retriever": dict, "priors": (dict, type(None))})
        spec = params["retriever"]
        check_params(spec, {"kind": str, "fields": list, "model": (str, type(None))}, prefix="retriever.")
        retriever = LabelRetriever(task.labels, kind=spec["kind"], fields=tuple(spec["fields"]), model=spec["model"])
        retriever.validate()  # a bad kind or field fails now, not at the first prediction
        if "queries" in params:
            check_params(params, {"queries": str})
        return cls(task, retriever=retriever, shortlist=params["shortlist"], rank=params["rank"],
                   priors=priors_from_params(params["priors"], base), queries=params.get("queries", "inferred"))

    def compile_phases(self) -> list[CompilePhase]:
        """Left to right, as in the paper: Infer first with Rank switched off (its demos name the gold labels,
        scored by the retrieval's RP@10), then Rank with Infer fixed (its demos are shortlists the retriever
        makes from the gold labels, so making them costs no LM call)."""
        return [CompilePhase(name="infer", predictor="infer", demo=self.infer_demo, scored_as=_without_rank,
                             hard_cases=False, variants=(("query-input+terms", _querying("input+inferred")),)),
                CompilePhase(name="rank", predictor="rank", demo=self.rank_demo, hard_cases=False)]

    def floor_programs(self) -> list[tuple[str, InferRetrieveRank]]:
        """The retrieval floor: the retriever given the input itself, no LM call; a compiled program should never
        score below it."""
        floor = self.deepcopy()
        floor.queries, floor.rank_enabled = "input", False
        return [("retrieval-floor", floor)]

    def infer_demo(self, example: dspy.Example) -> dspy.Example:
        """A labelled example as an Infer demo: the gold label names are the queries."""
        inputs = {name: example[name] for name in self.task.input_fields}
        return dspy.Example(**inputs, **{QUERIES_FIELD: list(example.get("labels") or [])})

    def rank_demo(self, example: dspy.Example) -> dspy.Example:
        """A labelled example as a Rank demo: the shortlist retrieved for its gold labels, and the gold labels in it."""
        gold = list(example.get("labels") or [])
        shortlist = [name for name, _ in self.retriever.retrieve(gold, k=self.shortlist, priors=self.priors)]
        inputs = {name: example[name] for name in self.task.input_fields}
        return dspy.Example(**inputs, **{OPTIONS_FIELD: shortlist,
                                         RANKING_FIELD: [label for label in gold if label in shortlist]})

    def deepcopy(self) -> InferRetrieveRank:
        """A copy of the predictors (with their own LMs) that shares the retriever and its index."""
        retriever, self.retriever = self.retriever, None
        try:
            copy = super().deepcopy()
        finally:
            self.retriever = retriever
        copy.retriever = retriever
        copy.infer.lm, copy.rank.lm = self.infer.lm, self.rank.lm
        return copy

    # -- predicting --------------------------------------------------------------------------

    def forward(self, **inputs) -> dspy.Prediction:
        text = " ".join(str(inputs.get(name, "")) for name in self.task.input_fields).strip()
        queries = [] if self.queries == "input" else self._infer(inputs)
        if self.queries != "inferred" and text:
            queries = [text, *queries]
        retrieved = self.retriever.retrieve(queries, k=self.shortlist, priors=self.priors) if queries else []
        shortlist = [name for name, _ in retrieved]
        ranked = self._rank(inputs, shortlist) if self.rank_enabled and shortlist else []
        ranking = ranked + [name for name in shortlist if name not in ranked]
        return dspy.Prediction(labels=ranking, queries=queries, shortlist=shortlist, ranked=ranked,
                               confidence=None, confidence_source=None)

    def _infer(self, inputs: dict) -> list[str]:
        lm = current_lm(self.infer)  # a clear error now rather than deep inside DSPy
        with module_name(f"InferRetrieveRank:{self.task.name}.infer"):
            try:
                answer = self.infer(**fit_inputs(inputs, self.infer, lm))[QUERIES_FIELD]
            except AdapterParseError as error:
                answer = error.lm_response or ""
        return _as_phrases(answer)

    def _rank(self, inputs: dict, shortlist: list[str]) -> list[str]:
        lm = current_lm(self.rank)
        options = LabelSpace(shortlist)
        with module_name(f"InferRetrieveRank:{self.task.name}.rank"), \
                constrained(lm, LabelAdapter(RANKING_FIELD, shortlist, multi=True)):
            try:
                answer = self.rank(**fit_inputs(inputs, self.rank, lm), **{OPTIONS_FIELD: shortlist})[RANKING_FIELD]
            except AdapterParseError as error:
                answer = error.lm_response or ""
        text = "\n".join(map(str, answer)) if isinstance(answer, (list, tuple)) else str(answer or "")
        return options.parse(text, multi=True).labels


def _querying(mode: str):
    def transform(program: InferRetrieveRank, demos: list) -> InferRetrieveRank:
        program.queries = mode
        return program

    return transform


def _without_rank(program: InferRetrieveRank) -> InferRetrieveRank:
    program.rank_enabled = False
    return program


def _as_phrases(answer) -> list[str]:
    """Queries as a clean list: a list answer as is, a text answer split on newlines, commas and bullets."""
    if isinstance(answer, (list, tuple)):
        items = [str(a) for a in answer]
    else:
        items = str(answer or "").replace(";", "\n").replace(",", "\n").splitlines()
    phrases = []
    for item in items:
        phrase = item.strip().lstrip("-*•0123456789.) ").strip().strip("\"'`").strip()
        if phrase and phrase not in phrases:
            phrases.append(phrase)
    return phrases
