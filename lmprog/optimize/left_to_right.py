"""Compiling Infer-Retrieve-Rank left to right, as in D'Oosterlinck et al. 2024.

First Infer, with Rank switched off: its demos teach the LM to name labels in the label space's
own words (gold label names as the queries), scored by RP@10 of the retrieval ranking. Then Rank,
with the chosen Infer fixed: its demos show a shortlist and the gold labels in it, scored by RP@10
of the final ranking. Rank demos are built from the retriever alone (gold names as queries), so
making them costs no LM call.
"""

from __future__ import annotations

import dspy

from lmprog.errors import BudgetExceededError
from lmprog.modules.irera import OPTIONS_FIELD, QUERIES_FIELD, RANKING_FIELD, InferRetrieveRank
from lmprog.optimize.demos import DemoCandidate, demo_sets
from lmprog.optimize.search import CandidateSearch

RANK_CUTOFF = 10


def rp_at(example: dspy.Example, prediction, k: int = RANK_CUTOFF) -> float:
    """RP@k of one ranking: correct labels in the top k / min(k, number of gold labels)."""
    gold = set(example.get("labels") or [])
    if not gold:
        return 0.0
    ranking = list(prediction.get("labels") or [])[:k] if prediction is not None else []
    return len(gold & set(ranking)) / min(k, len(gold))


class LeftToRightSearch(CandidateSearch):
    """The compile of one InferRetrieveRank program; same interface as the classic search."""

    def __init__(self, program: InferRetrieveRank, task, train, dev, lm, settings, seed, tracker, progress):
        super().__init__(tracker, progress)
        self.base = program
        self.task, self.train, self.dev = task, train, dev
        self.lm, self.settings, self.seed = lm, settings, seed

    def run(self) -> dict:
        best = {"id": "zero-shot", "infer_demos": [], "rank_demos": [], "dev_score": None}
        try:
            best = self._score("zero-shot", [], [], rank=True)
            infer_best = self._score("infer-zero-shot", [], [], rank=False)
            for index, chosen in enumerate(self._sets(self._infer_demo)):
                candidate = self._score(f"infer-demos-{index}", chosen, [], rank=False)
                if candidate["dev_score"] > infer_best["dev_score"]:
                    infer_best = candidate
            best = self.better(best, self._score("infer-best+rank", infer_best["infer_demos"], [], rank=True))
            for index, chosen in enumerate(self._sets(self._rank_demo)):
                best = self.better(best, self._score(f"rank-demos-{index}", infer_best["infer_demos"], chosen,
                                                      rank=True))
        except BudgetExceededError:
            pass
        return best

    def planned_candidates(self) -> int:
        return 3 + 2 * min(self.settings.demo_sets, len(self.train))

    def _sets(self, make_demo) -> list[list[dspy.Example]]:
        pool = [DemoCandidate(example=ex, labels=tuple(ex.get("labels") or ())) for ex in self.train]
        sets = demo_sets(pool, k=self.settings.max_demos, n_sets=self.settings.demo_sets, seed=self.seed,
                         multi_label=True)
        return [[make_demo(c.example) for c in chosen] for chosen in sets]

    def _infer_demo(self, example: dspy.Example) -> dspy.Example:
        inputs = {name: example[name] for name in self.task.input_fields}
        return dspy.Example(**inputs, **{QUERIES_FIELD: list(example.get("labels") or [])})

    def _rank_demo(self, example: dspy.Example) -> dspy.Example:
        gold = list(example.get("labels") or [])
        shortlist = [name for name, _ in self.base.retriever.retrieve(gold, k=self.base.shortlist,
                                                                       priors=self.base.priors)]
        inputs = {name: example[name] for name in self.task.input_fields}
        return dspy.Example(**inputs, **{OPTIONS_FIELD: shortlist,
                                         RANKING_FIELD: [label for label in gold if label in shortlist]})

    def _program(self, infer_demos: list, rank_demos: list, rank: bool) -> InferRetrieveRank:
        retriever, self.base.retriever = self.base.retriever, None
        try:
            program = self.base.deepcopy()  # the predictors, without copying the retriever's index
        finally:
            self.base.retriever = retriever
        program.retriever = retriever
        program.infer.demos, program.rank.demos = list(infer_demos), list(rank_demos)
        program.rank_enabled = rank
        for predictor in (program.infer, program.rank):
            predictor.lm = predictor.lm or self.lm
        return program

    def _score(self, name: str, infer_demos: list, rank_demos: list, *, rank: bool) -> dict:
        score = self.score_fully(self._program(infer_demos, rank_demos, rank), self.dev, self.task,
                                 threads=self.settings.threads, scorer=rp_at)
        record = {"id": name, "stage": "rank" if rank else "infer", "dev_score": round(score.value, 6),
                  "errors": score.errors, "infer_demos": [d.toDict() for d in infer_demos],
                  "rank_demos": [d.toDict() for d in rank_demos]}
        self.record(record)
        return {**record, "infer_demos": infer_demos, "rank_demos": rank_demos}

    def build(self, best: dict) -> InferRetrieveRank:
        program = self._program(best["infer_demos"], best["rank_demos"], rank=True)
        program.infer.lm, program.rank.lm = self.base.infer.lm, self.base.rank.lm
        return program
