"""``lmprog.plan``: what a compile will cost, estimated without calling any LM.

Calls follow from the module's compile phases (``compile_phases()``), the data sizes and the number
of candidates. Tokens come from rendering one real prompt per phase with DSPy's adapter (about 4
characters a token), priced with litellm's offline table. A compile that already ran with the same
inputs (its run id is deterministic) has its calls in the ledger, and those are counted as free.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import dspy

from lmprog.lm.pricing import token_prices
from lmprog.modules.protocol import CompilePhase, compile_phases
from lmprog.optimize.compile import Settings, compile_arguments, compile_run_id, split_examples

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
         lm, teacher=None, seed: int = 0, seeds: Sequence[int] | None = None, max_demos: int = 4,
         demo_sets: int = 6, instructions: int = 3, **_ignored) -> Plan:
    """Estimate calls, tokens and USD of ``compile`` with the same arguments; makes no LM call."""
    if seeds is not None:
        plans = [plan(program, trainset, devset, lm=lm, teacher=teacher, seed=s, max_demos=max_demos,
                      demo_sets=demo_sets, instructions=instructions) for s in seeds]
        total = Plan(phases=[p for each in plans for p in each.phases],
                     cached_calls=sum(p.cached_calls for p in plans))
        total.usd = None if any(p.usd is None for p in plans) else sum(p.usd for p in plans)
        return total
    settings = Settings("bootstrap", max_demos, demo_sets, instructions)
    train, dev = split_examples(trainset, devset, seed, settings.dev_fraction)
    teacher = teacher or lm
    phases = compile_phases(program)
    rows = [Phase("zero-shot on dev", len(dev) * sum(p.calls_per_example for p in phases),
                  _prompt_tokens(program, phases[0], train, 0) if phases else 0, ANSWER_TOKENS, str(lm.model))]
    for index, phase in enumerate(phases):
        rows += _phase_rows(program, phase, phases[index + 1:], train, dev, settings, str(lm.model),
                            str(teacher.model))
    result = Plan(phases=[row for row in rows if row.calls])
    result.run_id = compile_run_id(compile_arguments(program, train, dev, lm, teacher, seed, settings))
    result.cached_calls = _cached_calls(lm, result.run_id)
    result.usd = _price(result)
    return result


def _phase_rows(program, phase: CompilePhase, later: list[CompilePhase], train, dev, settings: Settings,
                student: str, proposer: str) -> list[Phase]:
    name = f"{phase.name}: " if phase.name else ""
    calls = phase.calls_per_example
    zero_shot = _prompt_tokens(program, phase, train, 0)
    few_shot = _prompt_tokens(program, phase, train, settings.max_demos)
    drafts = settings.instructions if phase.instructions is not None else 0
    rows = [Phase(f"{name}demo sets on dev", min(settings.demo_sets, len(train)) * len(dev) * calls, few_shot,
                  ANSWER_TOKENS, student)]
    if phase.hard_cases:
        rows.insert(0, Phase(f"{name}hard cases on train", len(train) * calls, zero_shot, ANSWER_TOKENS, student))
    if drafts:
        rows += [Phase(f"{name}instruction drafts", drafts, zero_shot + 40 * settings.max_demos, PROPOSAL_TOKENS,
                       proposer),
                 Phase(f"{name}instructions on dev", drafts * len(dev) * calls, few_shot + PROPOSAL_TOKENS,
                       ANSWER_TOKENS, student)]
    if phase.scored_as is not None and later:
        rows.append(Phase(f"{name}chosen, scored in full", len(dev) * sum(p.calls_per_example for p in later),
                          zero_shot, ANSWER_TOKENS, student))
    return rows


def _prompt_tokens(program, phase: CompilePhase, train, demos: int) -> int:
    """Tokens of the phase's predictor's prompt for the first training example, with ``demos`` demos."""
    if not train:
        return 0
    predictor = dict(program.named_predictors())[phase.predictor]
    signature = predictor.signature
    example = phase.demo(train[0])
    inputs = {name: example.get(name, "") for name in signature.input_fields}
    shown = [phase.demo(ex) for ex in train[:demos]]
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
