"""``lmprog.plan``: what a compile will cost, estimated without calling any LM.

The compile's schedule is known in advance: the zero-shot program on every labelled example, the teacher's
drafts, then each phase's race (:func:`lmprog.optimize.race.schedule`: every LM candidate on the first rung,
the better half on the next...). Tokens come from rendering one real prompt per phase with DSPy's adapter
(about 4 characters a token), priced with litellm's offline table. A compile that already ran with the same
inputs (its run id is deterministic) has its calls in the ledger, and those are counted as free.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import dspy

from lmprog import outputs
from lmprog.lm.pricing import token_prices
from lmprog.modules.protocol import CompilePhase, compile_phases
from lmprog.optimize.compile import Settings, compile_arguments, compile_run_id, labelled_examples
from lmprog.optimize.families import FAMILIES, MIN_DEMOS, SHORTLIST_K, demo_count
from lmprog.optimize.race import schedule

CHARS_PER_TOKEN = 4
ANSWER_TOKENS = 12  # a label answer in DSPy's format, e.g. "[[ ## label ## ]]\nrefund\n\n[[ ## completed ## ]]"
PROPOSAL_TOKENS = 120


@dataclass
class Phase:
    """One row of the plan: a kind of LM call, how many, and their tokens each."""

    name: str
    calls: int
    prompt_tokens: int
    completion_tokens: int
    model: str


@dataclass
class Plan:
    """The estimate: per phase and in total; ``paid_calls`` excludes calls already in the ledger."""

    phases: list[Phase] = field(default_factory=list)
    cached_calls: int = 0
    usd: float | None = 0.0
    run_id: str | None = None

    @property
    def calls(self) -> int:
        return sum(p.calls for p in self.phases)

    @property
    def paid_calls(self) -> int:
        return max(0, self.calls - self.cached_calls)

    @property
    def prompt_tokens(self) -> int:
        return sum(p.calls * p.prompt_tokens for p in self.phases)

    @property
    def completion_tokens(self) -> int:
        return sum(p.calls * p.completion_tokens for p in self.phases)

    def to_dict(self) -> dict:
        return {"calls": self.calls, "paid_calls": self.paid_calls, "cached_calls": self.cached_calls,
                "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "usd": self.usd, "run_id": self.run_id,
                "phases": [p.__dict__ for p in self.phases]}


def plan(program: dspy.Module, trainset: Sequence[dspy.Example], devset: Sequence[dspy.Example] | None = None, *,
         lm, teacher=None, seed: int = 0, seeds: Sequence[int] | None = None, max_demos: int | None = None,
         demo_sets: int = 3, instructions: int = 2, folds: int = 5, families: Sequence[str] = FAMILIES,
         **_ignored) -> Plan:
    """Estimate calls, tokens and USD of ``compile`` with the same arguments; makes no LM call."""
    if seeds is not None:
        plans = [plan(program, trainset, devset, lm=lm, teacher=teacher, seed=s, max_demos=max_demos,
                      demo_sets=demo_sets, instructions=instructions, folds=folds, families=families) for s in seeds]
        total = Plan(phases=[p for each in plans for p in each.phases],
                     cached_calls=sum(p.cached_calls for p in plans))
        total.usd = None if any(p.usd is None for p in plans) else sum(p.usd for p in plans)
        return total
    settings = Settings("bootstrap", max_demos, demo_sets, instructions, 8, folds, tuple(families))
    examples = labelled_examples(trainset, devset)
    teacher = teacher or lm
    phases = compile_phases(program)
    rows = [Phase("zero-shot on every example", len(examples) * sum(p.calls_per_example for p in phases),
                  _prompt_tokens(program, phases[0], examples, 0) if phases else 0, ANSWER_TOKENS, str(lm.model))]
    for index, phase in enumerate(phases):
        k = demo_count(program.task, examples, lm, max_demos, demo=phase.demo)
        rows += _phase_rows(program, phase, index, examples, k, settings, str(lm.model), str(teacher.model),
                            one_phase=len(phases) == 1)
    result = Plan(phases=[row for row in rows if row.calls])
    result.run_id = compile_run_id(compile_arguments(program, examples, lm, teacher, seed, settings))
    result.cached_calls = _cached_calls(lm, result.run_id)
    result.usd = _price(result)
    return result


def _lm_candidates(program, phase: CompilePhase, k: int, settings: Settings, one_phase: bool) -> int:
    wanted = set(settings.families)
    count = settings.demo_sets if "demos" in wanted else 0
    count += 1 if "few-demos" in wanted and k > MIN_DEMOS else 0
    count += len(phase.variants) if "variants" in wanted else 0
    count += settings.instructions if "instructions" in wanted and phase.instructions is not None else 0
    kind = outputs.of(program) if getattr(program, "task", None) is not None else None
    if one_phase and kind is outputs.LABEL and "shortlist" in wanted and len(program.task.labels) > SHORTLIST_K + 1:
        count += 1
    return count


def _phase_rows(program, phase: CompilePhase, index: int, examples, k: int, settings: Settings, student: str,
                proposer: str, *, one_phase: bool) -> list[Phase]:
    name = f"{phase.name}: " if phase.name else ""
    per_example = phase.calls_per_example
    candidates = _lm_candidates(program, phase, k, settings, one_phase)
    raced = sum(alive * new for alive, new in schedule(candidates, len(examples))) if candidates else 0
    few_shot = _prompt_tokens(program, phase, examples, k)
    rows = [Phase(f"{name}candidates raced on held-out examples", raced * per_example, few_shot, ANSWER_TOKENS,
                  student)]
    drafts = settings.instructions if "instructions" in settings.families and phase.instructions is not None else 0
    if drafts:
        rows.insert(0, Phase(f"{name}instruction drafts", drafts, _prompt_tokens(program, phase, examples, 0)
                             + 40 * min(k, 8), PROPOSAL_TOKENS, proposer))
    if index > 0 and phase.scored_as is None:
        rows.append(Phase(f"{name}earlier phases' choice, scored in full", len(examples) * per_example,
                          few_shot, ANSWER_TOKENS, student))
    return rows


def _prompt_tokens(program, phase: CompilePhase, examples, demos: int) -> int:
    """Tokens of the phase's predictor's prompt for the first example, with ``demos`` demos."""
    if not examples:
        return 0
    predictor = dict(program.named_predictors())[phase.predictor]
    signature = predictor.signature
    example = phase.demo(examples[0])
    inputs = {name: example.get(name, "") for name in signature.input_fields}
    shown = [phase.demo(ex) for ex in examples[:demos]]
    messages = dspy.ChatAdapter().format(signature, shown, inputs)
    return sum(len(str(m.get("content", ""))) for m in messages) // CHARS_PER_TOKEN + 1


def _price(result: Plan) -> float | None:
    total = 0.0
    for phase in result.phases:
        prices = token_prices(phase.model)
        if prices is None:
            return None
        total += phase.calls * (phase.prompt_tokens * prices[0] + phase.completion_tokens * prices[1])
    if result.calls:
        total *= result.paid_calls / result.calls
    return total


def _cached_calls(lm, run_id: str) -> int:
    ledger = getattr(lm, "ledger", None)
    if ledger is None:
        return 0
    stats = ledger.stats(run_id=run_id)
    return stats["calls"] + stats["hits"]
