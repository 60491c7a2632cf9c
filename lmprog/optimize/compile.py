"""``lmprog.compile``: from tens of labelled examples to a program that beats zero-shot.

The module says how it is compiled (``compile_phases()``, see :mod:`lmprog.modules.protocol`); the
search (:mod:`lmprog.optimize.search`) scores the zero-shot program on dev, then, phase by phase,
label-aware demo sets (every label shown, the zero-shot program's mistakes first) and the teacher's
instruction drafts, and keeps the best candidate. Every candidate's dev score is recorded.

Every call goes through the ledger, so a rerun with the same seed pays for nothing it already
did (an interrupted compile resumes for free) and gives a byte-identical artifact. A budget stops
the search cleanly and keeps the best program found so far.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import dspy

from lmprog.artifact import CompiledProgram, lm_settings
from lmprog.errors import ConfigurationError, DataError
from lmprog.ledger import call_key
from lmprog.modules.protocol import params_of
from lmprog.optimize.families import FAMILIES
from lmprog.optimize.search import PhasedSearch, SearchSettings
from lmprog.run import Budget, open_run

MIN_EXAMPLES = 10
OPTIMIZERS = ("bootstrap",)


@dataclass(frozen=True)
class Settings:
    """Optimizer settings, recorded in the artifact."""

    optimizer: str = "bootstrap"
    max_demos: int | None = None  # None: enough to show every label, as many as fit the context
    demo_sets: int = 3
    instructions: int = 2
    threads: int = 8
    folds: int = 5
    families: tuple = FAMILIES

    def to_dict(self) -> dict:
        """What shapes the result; ``threads`` only changes how fast it comes, so it is left out
        (the same compile on another machine gives the same artifact)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.__dict__.items() if k != "threads"}

    def search(self) -> SearchSettings:
        return SearchSettings(self.max_demos, self.demo_sets, self.instructions, self.threads, self.folds, tuple(self.families))


def compile(program: dspy.Module, trainset: Sequence[dspy.Example], devset: Sequence[dspy.Example] | None = None, *,
            lm, teacher=None, optimizer: str = "bootstrap", budget: Budget | None = None, seed: int = 0,
            seeds: Sequence[int] | None = None, max_demos: int | None = None, demo_sets: int = 3,
            instructions: int = 2, threads: int = 8, folds: int = 5, families: Sequence[str] = FAMILIES,
            progress: Callable[[dict], None] | bool | None = None) -> CompiledProgram:
    """Optimize ``program`` on labelled examples; see the module docstring.

    Args:
        program: a label module (:class:`~lmprog.Classify`, :class:`~lmprog.MultiLabelClassify`,
            :class:`~lmprog.InferRetrieveRank`, or your own module implementing
            :class:`lmprog.modules.protocol.LabelModule`); it is compiled phase by phase as it states in
            ``compile_phases()``. Predictors keep their own LM if they have one, else use ``lm``.
        trainset / devset: labelled ``dspy.Example``s (or a ``Dataset``); both are used, every example
            scored out of fold (``folds``-fold cross-validation). At least 10 examples are needed.
        lm: the student LM (the one the compiled program will use).
        teacher: the LM that drafts instructions (default: ``lm``).
        budget: a hard cap on paid calls / USD; reaching it keeps the best program so far.
        seed: selects the folds, the racing order, demo sets and instruction drafts.
        seeds: compile once per seed and keep the best; ``optimizer["seed_scores"]`` has every
            seed's score with their mean and standard deviation. The budget applies to each seed.
        max_demos: demos per set (default: enough to show every label, as many as fit the context).
        families: the candidate families to try (see :mod:`lmprog.optimize.families`).
        progress: ``True`` for a live terminal display (:class:`lmprog.run.progress.CompileProgress`), or a
            callable that receives the same events as dicts (start, rungs, each candidate, done).
    """
    if progress is True:
        from lmprog.run.progress import CompileProgress

        progress = CompileProgress()
    if seeds is not None:
        return _compile_seeds(program, trainset, devset, seeds, lm=lm, teacher=teacher, optimizer=optimizer,
                              budget=budget, max_demos=max_demos, demo_sets=demo_sets, instructions=instructions,
                              threads=threads, folds=folds, families=families, progress=progress)
    _check(program, optimizer, families)
    settings = Settings(optimizer, max_demos, demo_sets, instructions, threads, folds, tuple(families))
    examples = labelled_examples(trainset, devset)
    teacher = teacher or lm
    arguments = compile_arguments(program, examples, lm, teacher, seed, settings)
    # The same compile gets the same run id, so a rerun (or a resumed, interrupted one) continues
    # its run and the artifact stays byte-identical.
    with open_run(lm, "compile", arguments, run_id=compile_run_id(arguments), budget=budget,
                  progress=progress or None) as run:
        search = PhasedSearch(program, examples, lm=lm, teacher=teacher, settings=settings.search(), seed=seed,
                              run=run)
        best = _search(search, run, seed)
    return _result(program, search, best, lm, teacher, optimizer, seed, settings, examples, run)


def _check(program, optimizer: str, families: Sequence[str]) -> None:
    if optimizer not in OPTIMIZERS:
        raise ConfigurationError(f"unknown optimizer {optimizer!r}; available: {', '.join(map(repr, OPTIMIZERS))}")
    if getattr(program, "task", None) is None:
        raise ConfigurationError(f"compile() needs a label module with a task (lmprog's modules, or a module "
                                 f"implementing lmprog.modules.protocol.LabelModule), not {type(program).__name__}")
    unknown = sorted(set(families) - set(FAMILIES))
    if unknown:
        raise ConfigurationError(f"unknown candidate families {unknown}; available: {', '.join(FAMILIES)}")


def _result(program, search: PhasedSearch, best: dict, lm, teacher, optimizer, seed, settings, examples, run):
    tracker, n, k = run.budget, len(examples), min(settings.folds, len(examples))
    details = {"skipped_drafts": search.skipped_drafts} if search.skipped_drafts else {}
    return CompiledProgram(
        program=search.build(best), task=program.task, lm=lm_settings(lm) or {},
        optimizer={"name": optimizer, "seed": seed, "settings": settings.to_dict(),
                   "teacher": (lm_settings(teacher) or {}).get("model"), "examples": n, "folds": k,
                   "train": n - n // k, "dev": n // k, "why": search.why,
                   "zero_shot_program": {"class": type(search.base).__name__,
                                         "params": params_of(search.base)}, **details},
        candidates=search.candidates, dev_score=best["dev_score"], run_id=run.run_id,
        budget={"max_calls": tracker.budget.max_calls, "max_usd": tracker.budget.max_usd,
                "stopped_early": tracker.exhausted},
        examples=examples, spent=tracker.summary())


def _search(search: PhasedSearch, run, seed: int) -> dict:
    best = None
    run.report({"event": "start", "total": search.planned_candidates(), "seed": seed, "tracker": run.budget})
    try:
        best = search.run()
    finally:
        run.report({"event": "done", "best": best and best["id"], "dev_score": best and best["dev_score"]})
    return best


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


def compile_arguments(program, examples, lm, teacher, seed: int, settings: Settings) -> dict:
    """What identifies a compile (recorded with its ledger run)."""
    return {"program": type(program).__name__, "task": program.task.name, "labels": program.task.labels.hash,
            "seed": seed, "settings": settings.to_dict(),
            "lm": (lm_settings(lm) or {}).get("model"), "teacher": (lm_settings(teacher) or {}).get("model"),
            "examples": _examples_hash(examples)}


def compile_run_id(arguments: dict) -> str:
    """The ledger run id of the compile that :func:`compile_arguments` describes."""
    return "compile-" + call_key(arguments)[:16]


def _examples_hash(examples: Sequence[dspy.Example]) -> str:
    return call_key([dict(sorted(ex.toDict().items())) for ex in examples])[:16]


def labelled_examples(trainset: Sequence, devset: Sequence | None = None) -> list:
    """Every labelled example a compile learns from and is scored on (train, then dev); DataError with fewer
    than :data:`MIN_EXAMPLES`."""
    examples = [*trainset, *(devset or [])]
    if len(examples) < MIN_EXAMPLES:
        raise DataError(f"compile needs at least {MIN_EXAMPLES} labelled examples to score candidates out of fold; "
                        f"got {len(examples)}")
    return examples


__all__ = ["compile", "compile_arguments", "compile_run_id", "labelled_examples", "Settings", "MIN_EXAMPLES"]
