"""Racing: every candidate is scored on the first few examples, only the better half goes on to more.

Successive halving over rungs of examples (about a fifth, then half, then all of them): after each rung the
candidates are ranked by their mean score on the same examples (paired), and the better half (rounded down, at
least :data:`FINALISTS`) continues. Candidates whose programs make no LM call cost nothing to score and are scored
on every example at once. So the compile spends its calls where candidates are close, and scores the finalists
on every labelled example.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from lmprog.optimize.crossval import CrossValidation, Recipe

FINALISTS = 2


def rungs_for(n: int) -> list[int]:
    """Example counts of the rungs for ``n`` examples: about 20%, 50%, 100% (at least 4 and 8 examples)."""
    sizes = [min(n, max(4, round(0.2 * n))), min(n, max(8, round(0.5 * n))), n]
    return sorted(set(sizes))


def schedule(candidates: int, n: int) -> list[tuple[int, int]]:
    """``(candidates scored, new examples each)`` per rung, for ``candidates`` that call an LM (for ``plan``)."""
    out, alive, seen = [], candidates, 0
    for size in rungs_for(n):
        out.append((alive, size - seen))
        seen = size
        alive = min(alive, max(FINALISTS, alive // 2))
    return out


def race(cv: CrossValidation, recipes: Sequence[Recipe], order: Sequence[int], *,
         on_rung: Callable[[dict], None] | None = None) -> dict[str, int]:
    """Race ``recipes`` over ``order``; returns, per recipe id, how many examples it was scored on. Finalists
    end scored on every example. Raises BudgetExceededError from the scoring (what was scored is kept in ``cv``)."""
    free = [recipe for recipe in recipes if not recipe.calls]
    cv.score(free, order)
    reached = {recipe.id: len(order) for recipe in free}
    alive = [recipe for recipe in recipes if recipe.calls]
    rungs = rungs_for(len(order))
    for rung, size in enumerate(rungs):
        indices = list(order[:size])
        cv.score(alive, indices)
        reached.update({recipe.id: size for recipe in alive})
        if on_rung:
            on_rung({"event": "rung", "rung": rung + 1, "rungs": len(rungs), "examples": size,
                     "candidates": [recipe.id for recipe in alive]})
        if size == len(order):
            break
        keep = max(FINALISTS, len(alive) // 2)
        position = {recipe.id: i for i, recipe in enumerate(alive)}
        ranked = sorted(alive, key=lambda recipe: (-cv.mean(recipe.id, indices), position[recipe.id]))
        survivors = {recipe.id for recipe in ranked[:keep]}
        alive = [recipe for recipe in alive if recipe.id in survivors]
    return reached
