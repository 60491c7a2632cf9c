"""The candidate families a compile phase tries, each a :class:`Recipe` that builds a program from training examples.

- ``demos-i``: label-covering demo sets sized to the label space (every label shown when the context allows;
  the zero-shot program's mistakes first);
- ``few-demos``: the same with 4 demos (smaller prompts), when the label space asks for more;
- the module's own variants (``CompilePhase.variants``): for Classify, per-input nearest demos and a label
  list in another order; for Infer-Retrieve-Rank, the input itself as the query;
- ``instructions-j``: a teacher's instruction drafts, with the first demo set;
- whole-program families for a one-phase label module: ``shortlist`` (the LM chooses among a classifier's top
  labels) and ``classifier`` (the labels alone, no LM; scoring it is free).

A candidate builds only from the training examples it is given, so in cross-validation its demos (or its
classifier) never come from the examples it is scored on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import dspy

from lmprog import outputs
from lmprog.modules.context_fit import CHARS_PER_TOKEN, context_tokens
from lmprog.modules.protocol import CompilePhase
from lmprog.optimize.crossval import Recipe
from lmprog.optimize.demos import DemoCandidate, demo_set

MIN_DEMOS = 4
ANSWER_ROOM_TOKENS = 512
DEMO_FRAME_CHARS = 60  # field markers around one demo
CONTEXT_SHARE = 0.6  # of the window demos may fill; the rest is instructions, the input and the answer
SHORTLIST_K = 3
FAMILIES = ("demos", "few-demos", "variants", "instructions", "shortlist", "classifier", "vote")


@dataclass
class PhaseContext:
    """What a phase's recipes are made from."""

    phase: CompilePhase
    previous: Recipe  # the program as earlier phases left it
    kind: outputs.OutputKind
    task: object
    k: int  # demos per set
    sets: int
    seed: int
    hard: dict  # id(example) -> the zero-shot program got it wrong
    drafts: Sequence[str] = ()
    whole_program: bool = False  # one-phase module: families that replace the whole program apply
    families: Sequence[str] = FAMILIES


SIZE_SAMPLE = 20  # examples whose demos are measured


def demo_count(task, examples: Sequence[dspy.Example], lm, max_demos: int | None,
               demo: Callable[[dspy.Example], dspy.Example] | None = None) -> int:
    """Demos per set: ``max_demos`` if given; else enough to show every label (at least 4), as many as fit
    in :data:`CONTEXT_SHARE` of the model's context window, measured on the demos themselves (``demo`` makes
    a phase's demo from an example: a Rank demo carries its whole shortlist)."""
    if max_demos is not None:
        return max(1, int(max_demos))
    shown = [demo(ex) if demo is not None else ex for ex in list(examples)[:SIZE_SAMPLE]]
    sizes = [sum(len(str(value)) for value in dict(ex).values()) + DEMO_FRAME_CHARS for ex in shown] or [200]
    per_demo = max(1, sum(sizes) / len(sizes))
    room = (context_tokens(lm) - ANSWER_ROOM_TOKENS) * CHARS_PER_TOKEN * CONTEXT_SHARE
    room -= len(task.label_instructions())
    fits = max(1, int(room // per_demo))
    return max(1, min(max(MIN_DEMOS, len(task.labels)), fits))


def with_state(program: dspy.Module, predictor: str, *, instructions: str | None = None,
               demos: list | None = None) -> dspy.Module:
    """A copy of ``program`` whose predictor has these instructions and/or demos."""
    copy = program.deepcopy()
    target = dict(copy.named_predictors())[predictor]
    if instructions is not None:
        target.signature = target.signature.with_instructions(instructions)
    if demos is not None:
        target.demos = list(demos)
    return copy


def phase_recipes(context: PhaseContext) -> list[Recipe]:
    """The recipes of one phase, in the order ties are broken (earlier wins)."""
    phase, wanted = context.phase, set(context.families)
    prefix = f"{phase.name}-" if phase.name else ""
    recipes: list[Recipe] = []
    if "demos" in wanted:
        recipes += [_demo_recipe(context, f"{prefix}demos-{i}", "demos", i, context.k) for i in range(context.sets)]
    if "few-demos" in wanted and context.k > MIN_DEMOS:
        recipes.append(_demo_recipe(context, f"{prefix}few-demos", "few-demos", 0, MIN_DEMOS))
    if "variants" in wanted:
        recipes += [_variant_recipe(context, f"{prefix}{name}", transform) for name, transform in phase.variants]
    if "instructions" in wanted and phase.instructions is not None:
        recipes += [_draft_recipe(context, f"{prefix}instructions-{j}", draft)
                    for j, draft in enumerate(context.drafts)]
    if context.whole_program:
        recipes += _whole_program_recipes(context, wanted)
    return recipes


def demo_pool(context: PhaseContext, train: Sequence[dspy.Example]) -> list[DemoCandidate]:
    """Training examples as demo candidates of the phase's predictor, the zero-shot program's mistakes marked."""
    field = context.kind.field
    pool = []
    for example in train:
        gold = example.get(field)
        labels = tuple(gold) if isinstance(gold, (list, tuple)) else (gold,)
        pool.append(DemoCandidate(example=example, labels=labels, hard=context.hard.get(id(example), False),
                                  demo=context.phase.demo))
    return pool


def chosen_demos(context: PhaseContext, train: Sequence[dspy.Example], index: int, k: int) -> list:
    chosen = demo_set(demo_pool(context, train), k=k, seed=context.seed, index=index, multi_label=context.kind.multi)
    return [candidate.as_demo() for candidate in chosen]


def _demo_recipe(context: PhaseContext, name: str, family: str, index: int, k: int) -> Recipe:
    predictor, previous = context.phase.predictor, context.previous

    def build(train):
        return with_state(previous.build(train), predictor, demos=chosen_demos(context, train, index, k))

    return Recipe(name, family, build, stage=context.phase.name, info={"demos_per_set": k, "set": index})


def _variant_recipe(context: PhaseContext, name: str, transform: Callable) -> Recipe:
    previous, phase = context.previous, context.phase

    def build(train):
        return transform(previous.build(train).deepcopy(), [phase.demo(example) for example in train])

    return Recipe(name, "variant", build, stage=phase.name)


def _draft_recipe(context: PhaseContext, name: str, draft: str) -> Recipe:
    predictor, previous, phase = context.phase.predictor, context.previous, context.phase

    def build(train):
        return with_state(previous.build(train), predictor, instructions=phase.instructions(draft),
                          demos=chosen_demos(context, train, 0, context.k))

    return Recipe(name, "instructions", build, stage=phase.name, info={"draft": draft})


def _whole_program_recipes(context: PhaseContext, wanted: set) -> list[Recipe]:
    from lmprog.modules.label_classifier import LabelClassifier
    from lmprog.modules.shortlist import ShortlistClassify

    task, seed, recipes = context.task, context.seed, []
    if context.kind is outputs.LABEL and "shortlist" in wanted and len(task.labels) > SHORTLIST_K + 1:
        recipes.append(Recipe("shortlist", "shortlist", lambda train: ShortlistClassify(task, train, k=SHORTLIST_K,
                                                                                        seed=seed),
                              info={"k": SHORTLIST_K}))
    if not context.kind.ranked and "classifier" in wanted:
        recipes.append(Recipe("classifier", "classifier", lambda train: LabelClassifier(task, train, seed=seed),
                              calls=False, info={"model": "TF-IDF (word 1-2 + char 3-5) + logistic regression"}))
    return recipes
