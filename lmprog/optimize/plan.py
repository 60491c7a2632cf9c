"""``lmprog.plan``: what a compile will cost, estimated without calling any LM.

Calls follow from the program's structure, the data sizes and the number of candidates. Tokens
come from rendering one real prompt per phase with DSPy's adapter (about 4 characters a token),
priced with litellm's offline table. A compile that already ran with the same inputs (its run id
is deterministic) has its calls in the ledger, and those are counted as free.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import dspy

from lmprog.lm.pricing import token_prices
from lmprog.optimize import compile as compile_module

CHARS_PER_TOKEN = 4
ANSWER_TOKENS = 12  # a label answer in DSPy's format, e.g. "[[ ## label ## ]]\nrefund\n\n[[ ## completed ## ]]"
PROPOSAL_TOKENS = 120


@dataclass
class Phase:
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
    task = program.task
    train, dev = compile_module._split(list(trainset), list(devset) if devset is not None else None, seed,
                                       compile_module.Settings().dev_fraction)
    teacher = teacher or lm
    samples = getattr(program, "samples", 1)
    zero_shot = _prompt_tokens(program, train[0], demos=[])
    few_shot = _prompt_tokens(program, train[0], demos=train[:max_demos])
    student, proposer = str(lm.model), str(teacher.model)
    result = Plan(phases=[
        Phase("zero-shot on dev", len(dev) * samples, zero_shot, ANSWER_TOKENS, student),
        Phase("hard cases on train", len(train) * samples, zero_shot, ANSWER_TOKENS, student),
        Phase("demo sets on dev", min(demo_sets, len(train)) * len(dev) * samples, few_shot, ANSWER_TOKENS, student),
        Phase("instruction drafts", instructions, zero_shot + 40 * max_demos, PROPOSAL_TOKENS, proposer),
        Phase("instructions on dev", instructions * len(dev) * samples, few_shot + PROPOSAL_TOKENS, ANSWER_TOKENS,
              student),
    ])
    result.run_id, result.cached_calls = _previous_run(program, train, dev, lm, teacher, seed, max_demos, demo_sets,
                                                       instructions)
    result.usd = _price(result)
    return result


def _prompt_tokens(program, example: dspy.Example, demos: list) -> int:
    adapter = dspy.ChatAdapter()
    signature = program.predict.signature
    messages = adapter.format(signature, [d for d in demos], example.inputs().toDict())
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


def _previous_run(program, train, dev, lm, teacher, seed, max_demos, demo_sets, instructions) -> tuple[str | None, int]:
    engine = getattr(lm, "ledger_engine", None)
    if engine is None:
        return None, 0
    settings = compile_module.Settings("bootstrap", max_demos, demo_sets, instructions)
    run_id = compile_module.compile_run_id(
        compile_module.compile_arguments(program, train, dev, lm, teacher, seed, settings))
    stats = engine.ledger.stats(run_id=run_id)
    return run_id, stats["calls"] + stats["hits"]
