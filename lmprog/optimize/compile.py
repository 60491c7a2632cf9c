"""``lmprog.compile``: from tens of labelled examples to a program that beats zero-shot.

For Classify and MultiLabelClassify:
1. score the zero-shot program on dev, and run it on train to find the hard cases;
2. build label-aware demo sets (every label shown, hard cases first) and score each on dev;
3. have the teacher LM draft instructions and score each with the best demo set;
4. keep the best candidate. Every candidate's dev score is recorded.

Every call goes through the ledger, so a rerun with the same seed pays for nothing it already
did (an interrupted compile resumes for free) and gives a byte-identical artifact. A budget stops
the search cleanly and keeps the best program found so far.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import dspy

from lmprog.artifact import CompiledProgram, lm_settings
from lmprog.budget import Budget, BudgetTracker
from lmprog.errors import BudgetExceededError, ConfigurationError, DataError
from lmprog.ledger import call_key
from lmprog.modules.classify import Classify
from lmprog.modules.irera import InferRetrieveRank
from lmprog.optimize.demos import DemoCandidate, demo_sets
from lmprog.optimize.instructions import propose_instructions
from lmprog.optimize.left_to_right import LeftToRightSearch
from lmprog.optimize.search import CandidateSearch, example_score

MIN_EXAMPLES = 10


@dataclass(frozen=True)
class Settings:
    """Optimizer settings, recorded in the artifact."""

    optimizer: str = "bootstrap"
    max_demos: int = 4
    demo_sets: int = 6
    instructions: int = 3
    threads: int = 8
    dev_fraction: float = 0.5

    def to_dict(self) -> dict:
        """What shapes the result; ``threads`` only changes how fast it comes, so it is left out
        (the same compile on another machine gives the same artifact)."""
        return {k: v for k, v in self.__dict__.items() if k != "threads"}


def compile(program: dspy.Module, trainset: Sequence[dspy.Example], devset: Sequence[dspy.Example] | None = None, *,
            lm, teacher=None, optimizer: str = "bootstrap", budget: Budget | None = None, seed: int = 0,
            seeds: Sequence[int] | None = None, max_demos: int = 4, demo_sets: int = 6, instructions: int = 3,
            threads: int = 8, progress: Callable[[dict], None] | bool | None = None) -> CompiledProgram:
    """Optimize ``program`` (an lmprog module) on labelled examples; see the module docstring.

    Args:
        program: a :class:`~lmprog.Classify`, :class:`~lmprog.MultiLabelClassify` or
            :class:`~lmprog.InferRetrieveRank` (compiled left to right: Infer first with Rank off,
            then Rank; each step keeps its own LM if it has one, else uses ``lm``).
        trainset / devset: labelled ``dspy.Example``s (or a ``Dataset``); without a devset, a seeded
            half of the trainset is held out for scoring. At least 10 examples are needed.
        lm: the student LM (the one the compiled program will use).
        teacher: the LM that drafts instructions (default: ``lm``; not used for InferRetrieveRank).
        budget: a hard cap on paid calls / USD; reaching it keeps the best program so far.
        seed: selects the dev split, demo sets and instruction drafts.
        seeds: compile once per seed and keep the best; ``optimizer["seed_scores"]`` has every
            seed's dev score with their mean and standard deviation. The budget applies to each seed.
        progress: ``True`` for a live terminal display (:class:`lmprog.progress.CompileProgress`), or a
            callable that receives the same events as dicts (start, each candidate, done).
    """
    if progress is True:
        from lmprog.progress import CompileProgress

        progress = CompileProgress()
    if seeds is not None:
        return _compile_seeds(program, trainset, devset, seeds, lm=lm, teacher=teacher, optimizer=optimizer,
                              budget=budget, max_demos=max_demos, demo_sets=demo_sets, instructions=instructions,
                              threads=threads, progress=progress)
    if optimizer != "bootstrap":
        raise ConfigurationError(f"unknown optimizer {optimizer!r}; available: 'bootstrap'")
    if not isinstance(program, (Classify, InferRetrieveRank)):
        raise ConfigurationError("compile() optimizes lmprog's Classify, MultiLabelClassify and InferRetrieveRank, "
                                 f"not {type(program).__name__}")
    settings = Settings(optimizer, max_demos, demo_sets, instructions, threads)
    task = program.task
    train, dev = _split(list(trainset), list(devset) if devset is not None else None, seed, settings.dev_fraction)
    teacher = teacher or lm
    tracker = BudgetTracker(budget)
    engines = {id(e): e for e in (_engine(lm), _engine(teacher)) if e is not None}
    for engine in engines.values():
        engine.budget = tracker
    ledger = _engine(lm).ledger if _engine(lm) is not None else None
    arguments = compile_arguments(program, train, dev, lm, teacher, seed, settings)
    # The same compile gets the same run id, so a rerun (or a resumed, interrupted one) continues
    # its run and the artifact stays byte-identical.
    run_id = compile_run_id(arguments)
    run = ledger.run("compile", arguments, run_id=run_id) if ledger is not None else _NoRun()
    best = None
    try:
        with run as run_id:
            if isinstance(program, InferRetrieveRank):
                search = LeftToRightSearch(program, task, train, dev, lm, settings, seed, tracker, progress)
            else:
                search = _Search(program, task, train, dev, lm, teacher, settings, seed, tracker, progress)
            if progress:
                progress({"event": "start", "total": search.planned_candidates(), "seed": seed, "tracker": tracker})
            best = search.run()
    finally:
        if progress:
            progress({"event": "done", "best": best and best["id"], "dev_score": best and best["dev_score"]})
        for engine in engines.values():
            engine.budget = None
    compiled = search.build(best)
    result = CompiledProgram(
        program=compiled, task=task, lm=lm_settings(lm) or {},
        optimizer={"name": optimizer, "seed": seed, "settings": settings.to_dict(),
                   "teacher": (lm_settings(teacher) or {}).get("model"), "train": len(train), "dev": len(dev)},
        candidates=search.candidates, dev_score=best["dev_score"], run_id=run_id,
        budget={"max_calls": tracker.budget.max_calls, "max_usd": tracker.budget.max_usd,
                "stopped_early": tracker.exhausted},
    )
    result.spent = tracker.summary()  # what this invocation paid (a rerun pays nothing); not saved
    return result


def _compile_seeds(program, trainset, devset, seeds: Sequence[int], **options) -> CompiledProgram:
    if not seeds:
        raise ConfigurationError("seeds must list at least one seed")
    results = [compile(program, trainset, devset, seed=seed, **options) for seed in seeds]
    scores = [r.dev_score if r.dev_score is not None else 0.0 for r in results]
    best = results[max(range(len(results)), key=lambda i: (scores[i], -i))]
    mean = sum(scores) / len(scores)
    std = (sum((x - mean) ** 2 for x in scores) / (len(scores) - 1)) ** 0.5 if len(scores) > 1 else 0.0
    best.optimizer = {**best.optimizer, "seed_scores": {str(s): round(v, 6) for s, v in zip(seeds, scores)},
                      "seed_mean": round(mean, 6), "seed_std": round(std, 6)}
    best.spent = {**best.spent, **{key: sum(r.spent[key] for r in results)
                                   for key in ("calls", "usd", "unpriced_calls", "hits", "tokens")}}
    return best


class _NoRun:
    def __enter__(self):
        return None  # an LM without a ledger (e.g. DSPy's DummyLM): no run to record

    def __exit__(self, *exc):
        return None


def compile_arguments(program, train, dev, lm, teacher, seed: int, settings: Settings) -> dict:
    """What identifies a compile (recorded with its ledger run)."""
    return {"program": type(program).__name__, "task": program.task.name, "labels": program.task.labels.hash,
            "seed": seed, "settings": settings.to_dict(),
            "lm": (lm_settings(lm) or {}).get("model"), "teacher": (lm_settings(teacher) or {}).get("model"),
            "train": _examples_hash(train), "dev": _examples_hash(dev)}


def compile_run_id(arguments: dict) -> str:
    """The ledger run id of the compile that :func:`compile_arguments` describes."""
    return "compile-" + call_key(arguments)[:16]


def _examples_hash(examples: Sequence[dspy.Example]) -> str:
    return call_key([dict(sorted(ex.toDict().items())) for ex in examples])[:16]


def _engine(lm):
    return getattr(lm, "ledger_engine", None)


def _split(train: list, dev: list | None, seed: int, dev_fraction: float) -> tuple[list, list]:
    if dev is not None:
        if len(train) + len(dev) < MIN_EXAMPLES or not dev or not train:
            raise DataError(f"compile needs at least {MIN_EXAMPLES} labelled examples with some in each of train "
                            f"and dev; got {len(train)} train and {len(dev)} dev")
        return train, dev
    if len(train) < MIN_EXAMPLES:
        raise DataError(f"compile needs at least {MIN_EXAMPLES} labelled examples to hold out a dev set; "
                        f"got {len(train)}")
    shuffled = list(train)
    random.Random(seed).shuffle(shuffled)
    cut = max(1, round(len(shuffled) * (1 - dev_fraction)))
    return shuffled[:cut], shuffled[cut:]


class _Search(CandidateSearch):
    """One compile run of a Classify program: scores candidates and remembers every one of them."""

    def __init__(self, program, task, train, dev, lm, teacher, settings: Settings, seed, tracker, progress):
        super().__init__(tracker, progress)
        self.base = program
        self.task, self.train, self.dev = task, train, dev
        self.lm, self.teacher, self.settings, self.seed = lm, teacher, settings, seed

    def run(self) -> dict:
        # Unscored until the zero-shot baseline has run; a budget too small even for that keeps it so.
        best = {"id": "zero-shot", "instructions": self.task.label_instructions(), "demos": [], "dev_score": None}
        try:
            best = self._candidate("zero-shot", self.task.label_instructions(), [])
            pool = self._demo_pool()
            sets = demo_sets(pool, k=self.settings.max_demos, n_sets=self.settings.demo_sets, seed=self.seed,
                             multi_label=self.task.multi_label)
            for index, chosen in enumerate(sets):
                best = self.better(best, self._candidate(f"demos-{index}", self.task.label_instructions(),
                                                          [c.as_demo() for c in chosen]))
            drafts = propose_instructions(self.task, self.train, lm=self.teacher, n=self.settings.instructions,
                                          seed=self.seed)
            for index, draft in enumerate(drafts):
                instructions = self._with_label_list(draft)
                best = self.better(best, self._candidate(f"instructions-{index}", instructions, best["demos"]))
        except BudgetExceededError:
            pass  # keep the best complete candidate; the result says the budget stopped the search
        return best

    def planned_candidates(self) -> int:
        return 1 + min(self.settings.demo_sets, len(self.train)) + self.settings.instructions

    def _with_label_list(self, draft: str) -> str:
        listing = self.task.label_instructions()
        own = self.task.instructions.strip()
        return draft + listing[len(own):] if own and listing.startswith(own) else f"{draft}\n\n{listing}"

    def _program(self, instructions: str, demos: list) -> dspy.Module:
        program = self.base.deepcopy()
        program.predict.signature = program.predict.signature.with_instructions(instructions)
        program.predict.demos = list(demos)
        program.set_lm(self.lm)
        return program

    def _candidate(self, name: str, instructions: str, demos: list) -> dict:
        score = self.score_fully(self._program(instructions, demos), self.dev, self.task,
                                 threads=self.settings.threads)
        candidate = {"id": name, "instructions": instructions, "demos": [dict(d.toDict()) for d in demos],
                     "dev_score": round(score.value, 6), "errors": score.errors}
        self.record(candidate)
        return {**candidate, "demos": demos}

    def _demo_pool(self) -> list[DemoCandidate]:
        """Train examples as demo candidates, marking those the zero-shot program gets wrong."""
        zero_shot = self._program(self.task.label_instructions(), [])
        score = self.score_fully(zero_shot, self.train, self.task, threads=self.settings.threads)
        hard = [value < 1.0 for value in score.per_example]
        pool = []
        for example, is_hard in zip(self.train, hard):
            gold = example.get(self.task.output_field)
            labels = tuple(gold) if isinstance(gold, (list, tuple)) else (gold,)
            pool.append(DemoCandidate(example=example, labels=labels, hard=is_hard))
        return pool

    def build(self, best: dict) -> dspy.Module:
        program = self._program(best["instructions"], best["demos"])
        program.set_lm(None)
        return program


__all__ = ["compile", "Settings", "example_score"]
