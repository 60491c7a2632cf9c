"""The candidate search of a compile, for any module that states its compile phases.

The zero-shot program is scored first. Then each phase (``module.compile_phases()``), left to right,
tunes one predictor: label-aware demo sets (the zero-shot program's mistakes first, where the phase
asks for it), then the teacher's instruction drafts with the phase's best demos. A phase that scores
the program in a special form (Infer-Retrieve-Rank's Infer step, with Rank off) compares its candidates
among themselves, and its winner is then scored as the whole program. A phase's choice is fixed for
the phases after it. Every candidate is recorded; the best whole-program score wins, ties keeping the
earlier, simpler candidate. Reaching the budget keeps the best candidate scored in full.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import dspy

from lmprog import outputs
from lmprog.errors import BudgetExceededError
from lmprog.modules.protocol import CompilePhase, compile_phases, zero_shot
from lmprog.optimize.demos import DemoCandidate, demo_sets
from lmprog.optimize.instructions import draft_instructions
from lmprog.run import BUDGET, RunContext, run_module


@dataclass
class Score:
    """A program's mean score on some examples, each example's score, and how many inputs failed."""

    value: float
    per_example: list[float]
    errors: int = 0


def score_program(program: dspy.Module, examples: Sequence[dspy.Example], *, lm, threads: int,
                  kind: outputs.OutputKind) -> Score:
    """Run ``program`` on every example and score it; an input that failed scores 0 and counts as an error.

    Raises BudgetExceededError when the budget stopped any input (a partial score is no score).
    """
    outcomes = run_module(program, [example.inputs() for example in examples], lm=lm, threads=threads)
    if any(outcome.error == BUDGET for outcome in outcomes):
        raise BudgetExceededError("budget exhausted while scoring a candidate")
    values = [kind.example_score(example.get(kind.field), outcome.prediction.get(kind.field)) if outcome.ok else 0.0
              for example, outcome in zip(examples, outcomes)]
    value = sum(values) / len(values) if values else 0.0
    return Score(value, values, sum(not outcome.ok for outcome in outcomes))


@dataclass(frozen=True)
class SearchSettings:
    """What the search needs of the optimizer settings."""

    max_demos: int
    demo_sets: int
    instructions: int
    threads: int


class PhasedSearch:
    """One compile run: scores candidates phase by phase and remembers every one of them."""

    def __init__(self, program: dspy.Module, train: Sequence, dev: Sequence, *, lm, teacher, settings: SearchSettings,
                 seed: int, run: RunContext):
        self.base = zero_shot(program)
        self.kind = outputs.of(program)
        self.phases = compile_phases(program)
        self.train, self.dev = list(train), list(dev)
        self.lm, self.teacher, self.settings, self.seed, self.run_context = lm, teacher, settings, seed, run
        self.candidates: list[dict] = []
        self.skipped_drafts: list[dict] = []  # instruction drafts the teacher gave that could not be used

    def planned_candidates(self) -> int:
        sets = min(self.settings.demo_sets, len(self.train))
        per_phase = [sets + (self.settings.instructions if phase.instructions else 0)
                     + (2 if phase.scored_as is not None else 0) for phase in self.phases]
        return 1 + sum(per_phase)

    def run(self) -> dict:
        """The best candidate scored in full (unscored, ``dev_score`` None, if the budget allowed none)."""
        first = self.phases[0].predictor if self.phases else None
        self.best = {"id": "zero-shot", "choices": {}, "dev_score": None}
        try:
            self.best = self._score("zero-shot", {}, first, stage=self._whole_stage())
            fixed: dict = {}
            for phase in self.phases:
                fixed = self._run_phase(phase, fixed)
        except BudgetExceededError:
            pass  # keep the best complete candidate; the result says the budget stopped the search
        return self.best

    def build(self, best: dict) -> dspy.Module:
        """The program the winning candidate describes."""
        return self._program(best["choices"])

    # -- one phase ---------------------------------------------------------------------------

    def _run_phase(self, phase: CompilePhase, fixed: dict) -> dict:
        """Score this phase's candidates (updating ``self.best``); returns the choices fixed for later phases."""
        prepared = phase.scored_as is not None
        prefix = f"{phase.name}-" if phase.name else ""
        scored_as = phase if prepared else None
        if prepared:
            phase_best = self._score(f"{prefix}zero-shot", fixed, phase.predictor, stage=phase.name, scored_as=phase)
        else:
            phase_best = self.best
        pool = self._demo_pool(phase, fixed)
        sets = demo_sets(pool, k=self.settings.max_demos, n_sets=self.settings.demo_sets, seed=self.seed,
                         multi_label=self.kind.multi)
        own = self._own_instructions(phase)
        for index, chosen in enumerate(sets):
            choice = {phase.predictor: (own, [candidate.as_demo() for candidate in chosen])}
            candidate = self._score(f"{prefix}demos-{index}", {**fixed, **choice}, phase.predictor,
                                    stage=phase.name, scored_as=scored_as)
            phase_best = self._keep(phase_best, candidate, prepared)
        for index, draft in enumerate(self._drafts(phase)):
            demos = phase_best["choices"].get(phase.predictor, (own, []))[1]
            choice = {phase.predictor: (phase.instructions(draft), demos)}
            candidate = self._score(f"{prefix}instructions-{index}", {**fixed, **choice}, phase.predictor,
                                    stage=phase.name, scored_as=scored_as)
            phase_best = self._keep(phase_best, candidate, prepared)
        if phase.predictor in phase_best["choices"]:
            fixed = {**fixed, phase.predictor: phase_best["choices"][phase.predictor]}
        if prepared:
            later = [p.name for p in self.phases[self.phases.index(phase) + 1:]]
            name = f"{phase.name}-best+{'+'.join(later) if later else 'full'}"
            self.best = better(self.best, self._score(name, fixed, phase.predictor, stage=self._whole_stage()))
        return fixed

    def _keep(self, phase_best: dict, candidate: dict, prepared: bool) -> dict:
        """The phase's best after ``candidate``; a candidate scored as the whole program may also be the best."""
        if prepared:  # scored in the phase's own form: comparable within the phase only
            return candidate if candidate["dev_score"] > phase_best["dev_score"] else phase_best
        self.best = better(self.best, candidate)
        return better(phase_best, candidate)

    def _drafts(self, phase: CompilePhase) -> list[str]:
        if phase.instructions is None or self.settings.instructions <= 0:
            return []
        drafts = draft_instructions(self.base.task, self.train, lm=self.teacher, n=self.settings.instructions,
                                    seed=self.seed)
        self.skipped_drafts += [{"phase": phase.name, **skipped} for skipped in drafts.skipped]
        return drafts.drafts

    def _demo_pool(self, phase: CompilePhase, fixed: dict) -> list[DemoCandidate]:
        """Training examples as demo candidates of this phase, marking those the current program gets wrong."""
        hard = [False] * len(self.train)
        if phase.hard_cases:
            program = self._program(fixed, phase if phase.scored_as is not None else None)
            score = score_program(program, self.train, lm=self.lm, threads=self.settings.threads, kind=self.kind)
            hard = [value < 1.0 for value in score.per_example]
        pool = []
        for example, is_hard in zip(self.train, hard):
            gold = example.get(self.kind.field)
            labels = tuple(gold) if isinstance(gold, (list, tuple)) else (gold,)
            pool.append(DemoCandidate(example=example, labels=labels, hard=is_hard, demo=phase.demo))
        return pool

    # -- candidates --------------------------------------------------------------------------

    def _own_instructions(self, phase: CompilePhase) -> str:
        return dict(self.base.named_predictors())[phase.predictor].signature.instructions

    def _program(self, choices: dict, phase: CompilePhase | None = None) -> dspy.Module:
        program = self.base.deepcopy()
        predictors = dict(program.named_predictors())
        for name, (instructions, demos) in choices.items():
            predictors[name].signature = predictors[name].signature.with_instructions(instructions)
            predictors[name].demos = list(demos)
        return phase.scored_as(program) if phase is not None and phase.scored_as is not None else program

    def _whole_stage(self) -> str:
        """The stage of a candidate scored as the whole program: the last phase's."""
        return self.phases[-1].name if self.phases else ""

    def _score(self, name: str, choices: dict, predictor: str | None, *, stage: str,
               scored_as: CompilePhase | None = None) -> dict:
        score = score_program(self._program(choices, scored_as), self.dev, lm=self.lm,
                              threads=self.settings.threads, kind=self.kind)
        record = {"id": name, "dev_score": round(score.value, 6), "errors": score.errors}
        if stage:
            record["stage"] = stage
        if predictor is not None:
            own = dict(self.base.named_predictors())[predictor]
            instructions, demos = choices.get(predictor, (own.signature.instructions, own.demos))
            record.update(predictor=predictor, instructions=instructions,
                          demos=[dict(demo.toDict()) for demo in demos])
        self.candidates.append(record)
        self.run_context.report({"event": "candidate", **record, "calls": self.run_context.budget.calls,
                                 "usd": self.run_context.budget.usd})
        return {**record, "choices": dict(choices)}


def better(best: dict, new: dict) -> dict:
    """The higher dev score; ties (and an unscored best) keep the earlier, simpler candidate."""
    if best["dev_score"] is None:
        return new
    return new if new["dev_score"] > best["dev_score"] else best
