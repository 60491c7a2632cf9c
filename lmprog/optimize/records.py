"""What the artifact records of each candidate and of the choice: scores with intervals, paired differences,
and in plain words why the winner won."""

from __future__ import annotations

from collections.abc import Callable

from lmprog.intervals import Difference, paired_difference, proportion_interval
from lmprog.optimize.crossval import CrossValidation, Recipe


def candidate_record(shown: str, recipe: Recipe, cv: CrossValidation, baseline: dict[int, float], *,
                     build: Callable[[Recipe], object], seed: int, stage: str = "") -> dict:
    """One candidate: its id, family, stage, the examples it was scored on (out of fold), its mean score with
    a 95% interval, its paired difference to the baseline (zero-shot, or the phase's starting program) on the
    same examples, and the instructions and demos of its tuned predictor as built from every example."""
    seen = sorted(cv.scores[recipe.id])
    values = [cv.scores[recipe.id][i] for i in seen]
    if all(v in (0.0, 1.0) for v in values):  # right or wrong: a share, with Wilson's interval
        interval = proportion_interval(int(sum(values)), len(values))
    else:
        interval = cv.interval(recipe.id, seen, seed=seed)
    record = {"id": shown, "family": recipe.family, "dev_score": round(interval.value, 6), "n": len(seen),
              "interval": _rounded(interval.to_dict()), "errors": cv.errors.get(recipe.id, 0),
              "calls_lm": recipe.calls}
    if len(seen) == len(cv.examples):  # scored on every example: paired comparisons can use each one
        record["example_scores"] = [round(cv.scores[recipe.id][i], 6) for i in range(len(cv.examples))]
    if stage:
        record["stage"] = stage
    common = [i for i in seen if i in baseline]
    if common and recipe.id != "zero-shot":
        difference = paired_difference([baseline[i] for i in common], [cv.scores[recipe.id][i] for i in common],
                                       seed=seed)
        record["vs_baseline"] = _rounded(difference.to_dict())
    record.update({k: v for k, v in recipe.info.items() if k not in record})
    record.update(_tuned_state(recipe, build, stage))
    return record


def _tuned_state(recipe: Recipe, build: Callable[[Recipe], object], stage: str) -> dict:
    program = build(recipe)
    predictors = dict(program.named_predictors()) if hasattr(program, "named_predictors") else {}
    if not predictors:
        return {}
    name = next((n for n in predictors if stage and n == stage), next(iter(predictors)))
    predictor = predictors[name]
    return {"predictor": name, "instructions": predictor.signature.instructions,
            "demos": [dict(demo.toDict()) for demo in predictor.demos]}


def _rounded(data: dict) -> dict:
    return {k: round(v, 6) if isinstance(v, float) else v for k, v in data.items()}


def selection_reason(chosen: Recipe, best: Recipe, runner_up: Recipe | None, versus_zero: Difference,
                     versus_runner_up: Difference | None, n: int, *, chosen_vs_zero: Difference | None = None) -> dict:
    """Why the winner won: its paired difference to zero-shot and to the runner-up on the same examples;
    ``chosen_vs_zero`` when a free candidate was chosen because the best one's gain was unproven."""
    why = {"chosen": chosen.id, "best": best.id, "examples": n, "vs_zero_shot": _rounded(versus_zero.to_dict())}
    if runner_up is not None and versus_runner_up is not None:
        why.update(runner_up=runner_up.id, vs_runner_up=_rounded(versus_runner_up.to_dict()))
    if chosen_vs_zero is not None:
        why["chosen_vs_zero_shot"] = _rounded(chosen_vs_zero.to_dict())
        why["reason"] = (f"{best.id} scored {versus_zero.describe()} against zero-shot on {n} examples, an interval "
                         f"that does not rule out no gain; {chosen.id} makes no LM call and scored "
                         f"{chosen_vs_zero.describe()}: no worse, at no cost per prediction")
    elif chosen is best and best.id == "zero-shot":
        why["reason"] = "no candidate scored above zero-shot out of fold"
    elif chosen is best and versus_zero.verdict == "better":
        why["reason"] = (f"{best.id} beat zero-shot by {versus_zero.describe()} on {n} examples scored out of fold")
    elif chosen is best:
        why["reason"] = (f"{best.id} makes no LM call and scored {versus_zero.describe()} against zero-shot on {n} "
                         "examples scored out of fold: no worse, at no cost per prediction")
    else:
        why["reason"] = (f"{best.id} scored {versus_zero.describe()} against zero-shot on {n} examples, an interval "
                         "that does not rule out no gain: the zero-shot program was kept")
    return why
