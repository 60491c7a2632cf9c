"""The module protocol: what compile, plan, the artifact, evaluate, predict, distill and the reports ask
of a program module, so that they never need to know its class.

A label module is a ``dspy.Module`` with a ``task`` that implements :class:`LabelModule`. The easiest
way is to subclass :class:`LabelModuleBase` (as ``Classify`` and ``InferRetrieveRank`` do) and fill in:

- ``output``: an :class:`~lmprog.outputs.OutputKind` (one label, a label set, a ranking); ``forward``
  returns a ``dspy.Prediction`` with the answer under ``output.field`` (``label`` or ``labels``);
- ``params()`` / ``from_params(task, params, base=)``: the constructor options as plain JSON data, so
  the artifact saves and rebuilds the module (instructions and demos are saved by DSPy's own state);
- ``compile_phases()``: the left-to-right steps compile tunes, one predictor each (:class:`CompilePhase`);
- ``confidence(prediction)``: a number in [0, 1] or None.

Anything else (a plain ``dspy.Module`` from a program file) still compiles and evaluates with the
defaults the helpers below give: one phase per predictor, no confidence unless the prediction has one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import dspy

from lmprog import outputs
from lmprog.errors import ParameterError
from lmprog.outputs import OutputKind


@dataclass(frozen=True)
class CompilePhase:
    """One left-to-right step of a compile: the predictor it tunes and how its candidates are made and scored.

    Args:
        name: the phase's name in candidate ids ("" for a program compiled in one step).
        predictor: the name (as in ``named_predictors()``) of the predictor whose demos and instructions it tunes.
        demo: a labelled example as one of this predictor's demos, made without any LM call.
        scored_as: the program as this phase scores it (e.g. Infer-Retrieve-Rank with Rank switched off
            while Infer is tuned); None scores the whole program.
        instructions: turns a teacher's instruction draft into this predictor's instructions (e.g. adds
            the label list); None: this phase proposes no instructions.
        hard_cases: run the zero-shot program on the training examples and show its mistakes first.
        calls_per_example: new LM calls one scored example costs in this phase (for ``plan``).
        variants: the module's own candidates for this phase, ``(name, transform)``: ``transform(program,
            demos)`` returns a changed copy (``demos``: the training examples as this phase's demos).
    """

    name: str
    predictor: str
    demo: Callable[[dspy.Example], dspy.Example]
    scored_as: Callable[[dspy.Module], dspy.Module] | None = None
    instructions: Callable[[str], str] | None = None
    hard_cases: bool = True
    calls_per_example: int = 1
    variants: tuple = ()


@runtime_checkable
class LabelModule(Protocol):
    """What lmprog asks of a program module (see the module docstring)."""

    task: Any
    output: OutputKind

    def params(self, *, base: Path | None = None, references: Mapping[str, Any] | None = None) -> dict: ...

    @classmethod
    def from_params(cls, task, params: Mapping, *, base: Path | None = None) -> LabelModule: ...

    def compile_phases(self) -> list[CompilePhase]: ...

    def confidence(self, prediction) -> float | None: ...

    def zero_shot(self) -> dspy.Module: ...


class LabelModuleBase(dspy.Module):
    """Defaults for the protocol; subclasses set ``output`` and implement ``params``/``from_params``."""

    output: OutputKind = outputs.LABEL

    def params(self, *, base: Path | None = None, references: Mapping[str, Any] | None = None) -> dict:
        return {}

    @classmethod
    def from_params(cls, task, params: Mapping, *, base: Path | None = None):
        return cls(task, **dict(params))

    def compile_phases(self) -> list[CompilePhase]:
        return default_phases(self)

    def confidence(self, prediction) -> float | None:
        return prediction_confidence(prediction)

    def zero_shot(self) -> dspy.Module:
        """This module as it was before compile: no demos (instructions are the module's own)."""
        return without_demos(self)

    def floor_programs(self) -> list[tuple[str, dspy.Module]]:
        """Programs that need no compile and that the compiled program should never score below (e.g. the
        retrieval alone for Infer-Retrieve-Rank); compile always weighs them."""
        return []


def builtin_subclass(name: str) -> type | None:
    """lmprog's own module class called ``name`` among the loaded subclasses of :class:`LabelModuleBase`
    (a composite module such as Vote rebuilds its members with it; a user's class never matches)."""
    pending = list(LabelModuleBase.__subclasses__())
    while pending:
        cls = pending.pop()
        if cls.__name__ == name and cls.__module__.startswith("lmprog.modules."):
            return cls
        pending.extend(cls.__subclasses__())
    return None


def default_phases(program: dspy.Module) -> list[CompilePhase]:
    """One phase per predictor, in order: demos are the labelled examples themselves, no drafts."""
    names = [name for name, _ in program.named_predictors()]
    return [CompilePhase(name="" if len(names) == 1 else name, predictor=name, demo=lambda ex: ex)
            for name in names]


def compile_phases(program: dspy.Module) -> list[CompilePhase]:
    """The program's own phases, or :func:`default_phases` for a module that does not declare them."""
    phases = getattr(program, "compile_phases", None)
    return list(phases()) if callable(phases) else default_phases(program)


def floor_programs(program: dspy.Module) -> list[tuple[str, dspy.Module]]:
    """The module's floor programs (none for a module that does not state them)."""
    method = getattr(program, "floor_programs", None)
    return list(method()) if callable(method) else []


def prediction_confidence(prediction) -> float | None:
    """The ``confidence`` a prediction carries, as a float in [0, 1], or None."""
    value = prediction.get("confidence") if prediction is not None else None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def confidence_of(program: dspy.Module, prediction) -> float | None:
    """What ``program`` says of its confidence in ``prediction``."""
    method = getattr(program, "confidence", None)
    return method(prediction) if callable(method) else prediction_confidence(prediction)


def without_demos(program: dspy.Module) -> dspy.Module:
    """A copy of ``program`` with every predictor's demos removed."""
    copy = program.deepcopy()
    for _, predictor in copy.named_predictors():
        predictor.demos = []
    return copy


def zero_shot(program: dspy.Module) -> dspy.Module:
    """``program`` as it was before compile (its own ``zero_shot()``, else without demos)."""
    method = getattr(program, "zero_shot", None)
    return method() if callable(method) else without_demos(program)


def params_of(program: dspy.Module, *, base: Path | None = None, references: Mapping[str, Any] | None = None,
              fallback: Mapping | None = None) -> dict:
    """The program's constructor options as plain data (``fallback`` for a module without ``params``)."""
    method = getattr(program, "params", None)
    return dict(method(base=base, references=references)) if callable(method) else dict(fallback or {})


_TYPE_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false", dict: "an object",
               list: "a list", type(None): "null"}


def check_params(params: Mapping, table: Mapping[str, type | tuple[type, ...]], prefix: str = "") -> None:
    """Each key of ``table`` is in ``params`` with a value of its type(s) (a bool is not an int here);
    raises :class:`~lmprog.errors.ParameterError` naming the first key that is not."""
    for key, kinds in table.items():
        kinds = kinds if isinstance(kinds, tuple) else (kinds,)
        if key not in params:
            raise ParameterError(prefix + key)
        value = params[key]
        if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
            expected = " or ".join(dict.fromkeys(_TYPE_NAMES.get(k, k.__name__) for k in kinds))
            raise ParameterError(prefix + key, expected, type(value).__name__)
