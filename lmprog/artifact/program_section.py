"""The artifact's program section: which module, its parameters, and each predictor's DSPy state.

Asked of the module through its protocol (``params()``, ``from_params()``, ``output``), never by class:
a module class in lmprog's fixed table (:func:`lmprog.modules.program_file.module_classes`) is rebuilt by
``from_params``; any other is a custom program, rebuilt by ``build(task, **params)`` from the program
file the caller names. DSPy's LM state is never saved or restored.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path

import dspy

from lmprog import outputs
from lmprog.artifact.document import lm_settings, plain
from lmprog.artifact.schema import STATE_KEYS
from lmprog.errors import ArtifactError, LmprogError, ParameterError
from lmprog.modules.program_file import build_program, module_classes
from lmprog.modules.protocol import params_of
from lmprog.task import Task

CUSTOM = "custom"


def known_classes() -> tuple[str, ...]:
    """The program classes an artifact may name."""
    return (*module_classes(), CUSTOM)


def program_to_dict(program: dspy.Module, task: Task, *, program_params: Mapping | None,
                    references: Mapping | None, base: Path) -> dict:
    """The program as saved (see the module docstring)."""
    if not isinstance(program, dspy.Module):
        raise ArtifactError(f"program must be a dspy.Module, not {type(program).__name__}")
    cls = type(program)
    builtin = module_classes().get(cls.__name__) is cls
    own_task = getattr(program, "task", None)
    if own_task is not None:
        _check_same_task(own_task, task)
    # A custom program is rebuilt by build(task, **params) from its program file: its params are build()'s
    # options, given by the caller or, for a module that states its own params(), those.
    params = params_of(program, base=base, references=references) if builtin or program_params is None \
        else dict(program_params)
    predictors = {name: {"fields": list(predictor.signature.fields), "state": _predictor_state(predictor, name),
                         "lm": lm_settings(predictor.lm)} for name, predictor in program.named_predictors()}
    if not predictors and not builtin:  # lmprog's classifier program has none: its parameters are all it is
        raise ArtifactError(f"program {cls.__name__} has no dspy.Predict to save")
    out = {"class": cls.__name__ if builtin else CUSTOM, "params": plain(params, "program.params"),
           "output": outputs.of(program).name if own_task is not None else outputs.for_task(task).name,
           "predictors": predictors}
    if not builtin:
        out["custom_class"] = cls.__name__
    return out


def _check_same_task(program_task: Task, task: Task) -> None:
    if program_task.labels.hash != task.labels.hash or dict(program_task.inputs) != dict(task.inputs) \
            or program_task.multi_label != task.multi_label:
        raise ArtifactError(f"the program was built for task {program_task.name!r}, which differs from the "
                            f"CompiledProgram's task {task.name!r} (inputs, labels or multi_label)")


def _predictor_state(predictor, name: str) -> dict:
    """DSPy's own state of one Predict (instructions, field prefixes, demos), without its LM."""
    clone = copy.copy(predictor)  # dump_state would try to serialize the LM (and its engine)
    clone.lm = None
    state = clone.dump_state(json_mode=True)
    state["lm"] = None
    return plain(state, f"predictor {name!r}")


def program_from_dict(data: dict, task: Task, where: str, program_file, base: Path) -> dspy.Module:
    """Rebuild the module a (schema-checked) program section describes, with its predictors' state."""
    name = data["class"]
    try:
        if name == CUSTOM:
            program = _build_custom(data, task, where, program_file)
        else:
            program = module_classes()[name].from_params(task, data["params"], base=base)
    except ParameterError as error:
        _raise_parameter_error(error, where)
    except ArtifactError:
        raise
    except LmprogError as error:
        raise ArtifactError(f"{where}: cannot rebuild its {name} program: {error}") from None
    apply_state(program, data["predictors"], where)
    return program


def _raise_parameter_error(error: ParameterError, where: str):
    key = f"program.params.{error.key}"
    if error.expected is None:
        raise ArtifactError(f"{where} is missing the key '{key}'") from None
    raise ArtifactError(f"{where}: key '{key}' must be {error.expected}, not {error.found}") from None


def _build_custom(data: dict, task: Task, where: str, program_file) -> dspy.Module:
    label = data.get("custom_class", CUSTOM)
    if program_file is None:
        raise ArtifactError(f"{where} holds a custom program ({label}): pass program_file= (the Python file with "
                            "build(task, **params) it was compiled from) to load it")
    return build_program(program_file, task, data["params"], error=ArtifactError)


def apply_state(program: dspy.Module, saved: dict, where: str) -> None:
    """Load each predictor's saved DSPy state; only DSPy's own state keys pass, and never an LM."""
    predictors = dict(program.named_predictors())
    if set(predictors) != set(saved):
        raise ArtifactError(f"{where}: the rebuilt program has predictors {sorted(predictors)}, the artifact has "
                            f"{sorted(saved)}; it was saved from a different program")
    for name, predictor in predictors.items():
        entry = saved[name]
        fields = list(predictor.signature.fields)
        if entry["fields"] != fields or len(entry["state"]["signature"]["fields"]) != len(fields):
            raise ArtifactError(f"{where}: predictor {name!r} has fields {fields}, the artifact has {entry['fields']}; "
                                "it was saved from a different program")
        unknown = sorted(set(entry["state"]) - STATE_KEYS)
        if unknown:  # Predict.load_state sets every key as an attribute: only DSPy's own keys pass
            raise ArtifactError(f"{where}: key 'program.predictors.{name}.state' has unknown keys {unknown}")
        state = copy.deepcopy(entry["state"])
        state["lm"] = None  # LMs (and their secrets) are never restored from a file
        try:
            predictor.load_state(state)
        except (ValueError, TypeError, KeyError) as error:
            raise ArtifactError(f"{where}: the state of predictor {name!r} cannot be loaded: {error}") from None
        predictor.demos = [dspy.Example(**demo) for demo in predictor.demos]
