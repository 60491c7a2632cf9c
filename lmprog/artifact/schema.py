"""The artifact's schema: every key a loader reads is checked for presence and type before it is used,
and an error names the key (``program.params.samples``) and the file."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lmprog.artifact.document import FORMAT_VERSION, KIND
from lmprog.errors import ArtifactError

_NUMBER = (int, float)
_TOP = {
    "format_version": int, "kind": str, "lmprog_version": str, "dspy_version": str, "task": dict,
    "program": dict, "lm": dict, "optimizer": dict, "candidates": list, "dev_score": (*_NUMBER, type(None)),
    "run_id": (str, type(None)), "budget": (dict, type(None)), "integrity": str,
}
_TASK = {"name": str, "instructions": str, "multi_label": bool, "metric": (str, type(None)), "inputs": list,
         "labels": dict}
_PROGRAM = {"class": str, "params": dict, "predictors": dict}
_PREDICTOR = {"fields": list, "state": dict, "lm": (dict, type(None))}
_STATE = {"demos": list, "signature": dict}
_SIGNATURE = {"instructions": str, "fields": list}
STATE_KEYS = {"traces", "train", "demos", "signature", "lm", "fields"}  # what Predict.dump_state writes


def _type_names(kind) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false", dict: "an object",
             list: "a list", type(None): "null"}
    return " or ".join(dict.fromkeys(names[k] for k in kinds))


def require(obj: Mapping, table: Mapping, prefix: str, where: str) -> None:
    """Each key of ``table`` is in ``obj`` with a value of its type(s); ArtifactError naming it otherwise."""
    for key, kind in table.items():
        name = f"{prefix}{key}"
        if key not in obj:
            raise ArtifactError(f"{where} is missing the key '{name}'")
        value = obj[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        bad_bool = isinstance(value, bool) and bool not in kinds
        if bad_bool or not isinstance(value, kinds):
            raise ArtifactError(f"{where}: key '{name}' must be {_type_names(kind)}, not {type(value).__name__}")


def check_document(document: Any, where: str, known_classes: tuple[str, ...]) -> None:
    """Raise ArtifactError naming the first key of ``document`` that is missing or of the wrong type.

    ``known_classes`` are the program classes an artifact may name (lmprog's own and "custom").
    """
    _check_version(document, where)
    require(document, _TOP, "", where)
    if document["kind"] != KIND:
        raise ArtifactError(f"{where}: key 'kind' is {document['kind']!r}, not {KIND!r}")
    _check_task(document["task"], where)
    program = document["program"]
    require(program, _PROGRAM, "program.", where)
    if "output" in program and not isinstance(program["output"], str):
        raise ArtifactError(f"{where}: key 'program.output' must be a string")
    if program["class"] not in known_classes:
        raise ArtifactError(f"{where}: unknown program class {program['class']!r}; an artifact names one of "
                            f"{', '.join(known_classes)} (nothing named in a file is imported)")
    for name, predictor in program["predictors"].items():
        _check_predictor(predictor, f"program.predictors.{name}.", where)


def _check_version(document: Any, where: str) -> None:
    if not isinstance(document, dict):
        raise ArtifactError(f"{where} is not an lmprog artifact (expected a JSON object)")
    version = document.get("format_version")
    if "format_version" not in document:
        raise ArtifactError(f"{where} is missing the key 'format_version'; is it an lmprog artifact?")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ArtifactError(f"{where}: key 'format_version' must be a positive integer, not {version!r}")
    if version > FORMAT_VERSION:
        raise ArtifactError(f"{where} was written by a newer lmprog (format {version}, "
                            f"written by lmprog {document.get('lmprog_version', '?')}); this lmprog reads format "
                            f"{FORMAT_VERSION} and older: upgrade lmprog")


def _check_task(task: dict, where: str) -> None:
    require(task, _TASK, "task.", where)
    for i, item in enumerate(task["inputs"]):
        if not isinstance(item, dict):
            raise ArtifactError(f"{where}: key 'task.inputs[{i}]' must be an object")
        require(item, {"name": str, "description": str}, f"task.inputs[{i}].", where)
    labels = task["labels"]
    require(labels, {"hash": str}, "task.labels.", where)
    if ("embedded" in labels) == ("file" in labels):
        raise ArtifactError(f"{where}: key 'task.labels' must hold exactly one of 'embedded' or 'file'")
    if "embedded" in labels:
        require(labels, {"embedded": list}, "task.labels.", where)
    else:
        require(labels, {"file": dict}, "task.labels.", where)
        require(labels["file"], {"path": str, "name": str, "description": (str, type(None)),
                                 "aliases": (str, type(None)), "alias_separator": str}, "task.labels.file.", where)


def _check_predictor(predictor: Any, prefix: str, where: str) -> None:
    if not isinstance(predictor, dict):
        raise ArtifactError(f"{where}: key '{prefix[:-1]}' must be an object")
    require(predictor, _PREDICTOR, prefix, where)
    state = predictor["state"]
    require(state, _STATE, prefix + "state.", where)
    require(state["signature"], _SIGNATURE, prefix + "state.signature.", where)
    for key, kind in (("traces", list), ("train", list), ("fields", dict)):
        if key in state and not isinstance(state[key], kind):
            raise ArtifactError(f"{where}: key '{prefix}state.{key}' must be {_type_names(kind)}")
    for i, demo in enumerate(state["demos"]):
        if not isinstance(demo, dict):
            raise ArtifactError(f"{where}: key '{prefix}state.demos[{i}]' must be an object")
    for i, saved in enumerate(state["signature"]["fields"]):
        if not isinstance(saved, dict):
            raise ArtifactError(f"{where}: key '{prefix}state.signature.fields[{i}]' must be an object")
        require(saved, {"prefix": str, "description": str}, f"{prefix}state.signature.fields[{i}].", where)
