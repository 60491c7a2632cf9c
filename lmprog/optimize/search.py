"""The candidate search of a compile: cross-validated, raced, and honest about what it can tell apart.

1. The zero-shot program answers every labelled example (this also finds the examples it gets wrong).
2. Each compile phase of the module (``module.compile_phases()``), left to right, races its candidates
   (:mod:`lmprog.optimize.families`) out of fold: every example is scored by a program built without it, and
   only the better half of the candidates goes on to more examples. The phase's best is fixed for later phases.
3. The final choice weighs, on every labelled example: zero-shot, the phases' result, a vote of the best
   candidates, the module's floor programs and, for a one-phase label module, the classifier the labels alone
   give. The best wins only if its paired difference to zero-shot has an interval above zero; otherwise the
   zero-shot program is kept. :attr:`PhasedSearch.why` says why the winner won.

Reaching the budget keeps the best candidate scored so far (on the examples it was scored on).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import dspy

from lmprog import outputs
from lmprog.errors import BudgetExceededError
from lmprog.modules.protocol import CompilePhase, compile_phases, floor_programs, zero_shot
from lmprog.modules.vote import Vote, majority
from lmprog.optimize.crossval import CrossValidation, Recipe, assign_folds, race_order
from lmprog.optimize.families import FAMILIES, PhaseContext, demo_count, phase_recipes
from lmprog.optimize.instructions import draft_instructions
from lmprog.optimize.race import race
from lmprog.optimize.records import candidate_record, selection_reason
from lmprog.run import RunContext

VOTE_MEMBERS = 3


@dataclass(frozen=True)
class SearchSettings:
    """What the search needs of the optimizer settings."""

    demos: int | None  # demos per set (None: sized to the label space and the context, per phase)
    demo_sets: int
    instructions: int
    threads: int
    folds: int = 5
    families: tuple = FAMILIES


class PhasedSearch:
    """One compile run: races candidates phase by phase and remembers every one of them."""

    def __init__(self, program: dspy.Module, examples: Sequence, *, lm, teacher, settings: SearchSettings, seed: int,
                 run: RunContext):
        self.base = zero_shot(program)
        self.kind = outputs.of(program)
        self.task = program.task
        self.phases = compile_phases(program)
        self.floors = floor_programs(self.base)
        self.examples = list(examples)
        self.lm, self.teacher, self.settings, self.seed, self.run_context = lm, teacher, settings, seed, run
        self.folds = assign_folds(self.examples, self.kind, seed=seed, folds=settings.folds)
        self.order = race_order(self.folds, seed=seed)
        self.candidates: list[dict] = []
        self.skipped_drafts: list[dict] = []
        self.why: dict = {}
        self.zero = Recipe("zero-shot", "zero-shot", lambda train: self.base,
                           stage=self.phases[-1].name if self.phases else "")
        self.final = CrossValidation(self.examples, self.folds, kind=self.kind, lm=lm, threads=settings.threads)
        # (id shown, recipe, where it was scored, stage shown)
        self._recorded: list[tuple[str, Recipe, CrossValidation, str]] = []

    def planned_candidates(self) -> int:
        """Candidates the search will record (instruction drafts counted as asked for)."""
        drafts = self.settings.instructions if "instructions" in self.settings.families else 0
        count = 1 + len(self.floors)
        for phase in self.phases:
            context = self._context(phase, self.zero, {}, draft=False)
            count += len(phase_recipes(context)) + (drafts if phase.instructions is not None else 0)
            count += 1 if phase.scored_as is not None else 0
        whole = len(self.phases) == 1 and not self.kind.ranked and "vote" in self.settings.families
        return count + (1 if whole else 0)

    def run(self) -> dict:
        """The winning candidate's record (``dev_score`` None if the budget allowed not even zero-shot)."""
        chosen: Recipe | None = None
        try:
            self.final.score([self.zero], self.order)
            self._record(self.zero, self.final)
            result = self._phases()
            chosen = self._choose(result)
        except BudgetExceededError:
            chosen = self._choose_after_budget()
        self._report_candidates()
        if chosen is None:
            self.best_recipe = self.zero
            return {"id": "zero-shot", "dev_score": None}
        self.best_recipe = chosen
        return next(c for c in self.candidates if c["id"] == chosen.id)

    def build(self, best: dict) -> dspy.Module:
        """The program the winning candidate describes, built from every labelled example."""
        return self.best_recipe.build(self.examples)

    # -- phases ------------------------------------------------------------------------------

    def _phases(self) -> Recipe:
        hard = {id(ex): self.final.scores["zero-shot"][i] < 1.0 for i, ex in enumerate(self.examples)}
        current = self.zero
        for phase in self.phases:
            cv = self.final if phase.scored_as is None else CrossValidation(
                self.examples, self.folds, kind=self.kind, lm=self.lm, threads=self.settings.threads,
                scored_as=phase.scored_as)
            recipes = phase_recipes(self._context(phase, current, hard))
            if cv is self.final and current is not self.zero and not self._in_final(current.id):
                cv.score([current], self.order)  # the earlier phases' choice, scored as the whole program
                self._record(current, cv, shown=f"{current.id}+{phase.name}", stage=phase.name)
            elif cv is not self.final:
                cv.score([current], self.order)
                self._record(current, cv, shown=f"{phase.name}-{'zero-shot' if current is self.zero else 'start'}",
                             stage=phase.name)
            for recipe in recipes:
                self._record(recipe, cv)
            race(cv, recipes, self.order, on_rung=self.run_context.report)
            finalists = [r for r in [current, *recipes] if cv.scored(r.id, self.order)]
            current = max(finalists, key=lambda r: cv.mean(r.id, self.order))  # ties: the earlier, simpler one
        return current

    def _context(self, phase: CompilePhase, previous: Recipe, hard: dict, *, draft: bool = True) -> PhaseContext:
        drafts = self._drafts(phase) if draft and phase.instructions is not None else []
        k = demo_count(self.task, self.examples, self.lm, self.settings.demos, demo=phase.demo)
        return PhaseContext(phase, previous, self.kind, self.task, k, self.settings.demo_sets, self.seed, hard,
                            drafts, whole_program=len(self.phases) == 1, families=self.settings.families)

    def _drafts(self, phase: CompilePhase) -> list[str]:
        if self.settings.instructions <= 0 or "instructions" not in self.settings.families:
            return []
        drafts = draft_instructions(self.task, self.examples, lm=self.teacher, n=self.settings.instructions,
                                    seed=self.seed)
        self.skipped_drafts += [{"phase": phase.name, **skipped} for skipped in drafts.skipped]
        return drafts.drafts

    # -- the final choice ----------------------------------------------------------------------

    def _choose(self, result: Recipe) -> Recipe:
        contenders = [self.zero]
        if result is not self.zero:
            if not self._in_final(result.id):
                self._record(result, self.final, shown=f"{result.id}, whole program")
            self.final.score([result], self.order)
            contenders.append(result)
        floors = [Recipe(name, "floor", (lambda program: lambda train: program)(program), stage=self.zero.stage,
                         calls=False)
                  for name, program in self.floors]
        for recipe in floors:
            self._record(recipe, self.final)
        self.final.score(floors, self.order)
        contenders += floors + self._fully_scored_in_final(exclude={r.id for r in contenders})
        vote = self._vote(contenders)
        return self._select(contenders + ([vote] if vote else []))

    def _in_final(self, recipe_id: str) -> bool:
        return any(cv is self.final and recipe.id == recipe_id for _, recipe, cv, _ in self._recorded)

    def _fully_scored_in_final(self, exclude: set) -> list[Recipe]:
        return [recipe for _, recipe, cv, _ in self._recorded
                if cv is self.final and recipe.id not in exclude and self.final.scored(recipe.id, self.order)]

    def _vote(self, contenders: list[Recipe]) -> Recipe | None:
        if self.kind.ranked or "vote" not in self.settings.families:
            return None
        ranked = sorted(contenders, key=lambda r: -self.final.mean(r.id, self.order))[:VOTE_MEMBERS]
        if len(ranked) < VOTE_MEMBERS:
            return None
        answers = {i: majority([self.final.answers[r.id][i] for r in ranked], self.kind.multi)[0]
                   for i in self.order}
        self.final.add("vote", answers)
        vote = Recipe("vote", "vote", lambda train: Vote(self.task, [r.build(train) for r in ranked]),
                      info={"members": [r.id for r in ranked]})
        self._record(vote, self.final)
        return vote

    def _select(self, contenders: list[Recipe]) -> Recipe:
        indices = self.order
        best = max(contenders, key=lambda r: self.final.mean(r.id, indices))  # ties: the earlier one
        runner_up = max((r for r in contenders if r is not best), key=lambda r: self.final.mean(r.id, indices),
                        default=None)
        versus_zero = self.final.versus("zero-shot", best.id, indices, seed=self.seed)
        # A candidate must show a gain its paired interval supports to replace zero-shot, unless it calls no LM
        # at all: then no worse out of fold is enough (the same quality as far as the labels can tell, for free).
        zero_mean = self.final.mean("zero-shot", indices)
        free = not best.calls and self.final.mean(best.id, indices) >= zero_mean
        chosen = best if best is self.zero or versus_zero.verdict == "better" or free else self.zero
        fallback = None
        if chosen is self.zero and best is not self.zero:  # the best LM candidate's gain is unproven: a free one?
            chosen = max((r for r in contenders if not r.calls and self.final.mean(r.id, indices) >= zero_mean),
                         key=lambda r: self.final.mean(r.id, indices), default=self.zero)
            if chosen is not self.zero:
                fallback = self.final.versus("zero-shot", chosen.id, indices, seed=self.seed)
        versus_runner_up = self.final.versus(runner_up.id, best.id, indices, seed=self.seed) if runner_up else None
        self.why = selection_reason(chosen, best, runner_up, versus_zero, versus_runner_up, len(indices),
                                    chosen_vs_zero=fallback)
        return chosen

    def _choose_after_budget(self) -> Recipe | None:
        if not self.final.scored("zero-shot", self.order):
            return None
        scored = [(recipe, cv) for _, recipe, cv, _ in self._recorded if cv is self.final and cv.scores.get(recipe.id)]
        best, best_mean = self.zero, self.final.mean("zero-shot", self.order)
        for recipe, cv in scored:
            seen = list(cv.scores[recipe.id])
            if cv.mean(recipe.id, seen) > best_mean and cv.versus("zero-shot", recipe.id, seen,
                                                                 seed=self.seed).verdict == "better":
                best, best_mean = recipe, cv.mean(recipe.id, seen)
        self.why = {"chosen": best.id, "reason": "the budget stopped the search; the best candidate scored so far "
                                                 "that beat zero-shot on the same examples was kept"}
        return best

    # -- records -------------------------------------------------------------------------------

    def _record(self, recipe: Recipe, cv: CrossValidation, shown: str | None = None, stage: str | None = None) -> None:
        self._recorded.append((shown or recipe.id, recipe, cv, recipe.stage if stage is None else stage))

    def _report_candidates(self) -> None:
        zero = self.final.scores.get("zero-shot", {})
        for shown, recipe, cv, stage in self._recorded:
            if not cv.scores.get(recipe.id):
                continue
            baseline = zero if cv is self.final else cv.scores.get(self._phase_start(cv), {})
            record = candidate_record(shown, recipe, cv, baseline, build=self._built_for_record, seed=self.seed,
                                      stage=stage)
            self.candidates.append(record)
            self.run_context.report({"event": "candidate", **record, "calls": self.run_context.budget.calls,
                                     "usd": self.run_context.budget.usd})

    def _phase_start(self, cv: CrossValidation) -> str:
        return next((recipe.id for _, recipe, where, _ in self._recorded if where is cv), "zero-shot")

    def _built_for_record(self, recipe: Recipe) -> dspy.Module:
        return recipe.build(self.examples)
