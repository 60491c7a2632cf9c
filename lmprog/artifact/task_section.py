"""The artifact's task section: inputs, instructions and the label space, embedded or by reference.

A label space of a few dozen labels is embedded. A large one read from a file (the 13,891 ESCO skills)
is stored by reference: the file's path relative to the artifact, how to read it, and the labels hash,
which loading checks, so an edited label file is caught.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lmprog.errors import ArtifactError, LmprogError
from lmprog.labels import LabelSpace
from lmprog.paths import relative_to
from lmprog.task import Task

EMBED_LABELS_MAX = 1000  # above this many labels, a label space read from a file is stored by reference
LABEL_OPTIONS = {"name": "name", "description": None, "aliases": None, "alias_separator": "|"}


def task_to_dict(task: Task, *, embed: bool | None, labels_file, labels_options, base: Path) -> dict:
    """The task as saved. ``embed=None`` decides: by reference when the space is larger than
    :data:`EMBED_LABELS_MAX` and its file can be read back to the same labels, else embedded."""
    space = task.labels
    labels: dict[str, Any] = {"hash": space.hash}
    if embed is None:
        embed = len(space) <= EMBED_LABELS_MAX or not _referable(space, labels_file, labels_options, base)
    if embed:
        labels["embedded"] = space.to_dict()["labels"]
    else:
        labels["file"] = label_reference(space, labels_file, labels_options, base)
    return {
        "name": task.name,
        "instructions": task.instructions,
        "multi_label": bool(task.multi_label),
        "metric": task.metric,
        "inputs": [{"name": name, "description": desc or ""} for name, desc in task.inputs.items()],
        "labels": labels,
    }


def _referable(space: LabelSpace, labels_file, labels_options, base: Path) -> bool:
    try:
        label_reference(space, labels_file, labels_options, base)
    except ArtifactError:
        return False  # not from a file, or not readable with the given columns: embed it
    return True


def label_reference(space: LabelSpace, labels_file, labels_options, base: Path) -> dict:
    """The reference to the label file the space came from; it must read back to the same labels."""
    if labels_file is None:
        source = space.source
        if not source or not Path(source).is_file():
            raise ArtifactError("the task's labels did not come from a file: pass labels_file= to save them "
                                "by reference, or embed them")
        labels_file = source
    unknown = set(labels_options or {}) - set(LABEL_OPTIONS)
    if unknown:
        raise ArtifactError(f"unknown labels_options {sorted(unknown)}; use {', '.join(LABEL_OPTIONS)}")
    options = {**LABEL_OPTIONS, **dict(labels_options or {})}
    path = Path(labels_file)
    found = _read_labels(path, options).hash
    if found != space.hash:
        raise ArtifactError(
            f"label file {path} read with {options} gives labels hash {found[:12]}, but the task's labels have "
            f"hash {space.hash[:12]}; pass labels_options= with the columns the task was loaded with")
    return {"path": relative_to(path, base), **options}


def _read_labels(path: Path, options: Mapping) -> LabelSpace:
    return LabelSpace.from_file(path, name=options["name"], description=options["description"],
                                aliases=options["aliases"], alias_separator=options["alias_separator"])


def task_from_dict(data: dict, where: str, base: Path) -> Task:
    """The task a (schema-checked) task section describes; its labels must have the recorded hash."""
    space = _embedded_labels(data["labels"], where) if "embedded" in data["labels"] \
        else _referenced_labels(data["labels"], where, base)
    try:
        return Task(inputs={item["name"]: item["description"] for item in data["inputs"]}, labels=space,
                    multi_label=data["multi_label"], instructions=data["instructions"], name=data["name"],
                    metric=data["metric"])
    except LmprogError as error:
        raise ArtifactError(f"{where}: invalid task: {error}") from None


def _embedded_labels(labels: dict, where: str) -> LabelSpace:
    try:
        space = LabelSpace(labels["embedded"])
    except LmprogError as error:
        raise ArtifactError(f"{where}: the embedded labels are invalid: {error}") from None
    if space.hash != labels["hash"]:
        raise ArtifactError(f"{where}: the embedded labels have hash {space.hash}, but the artifact records "
                            f"{labels['hash']}; the labels were edited")
    return space


def _referenced_labels(labels: dict, where: str, base: Path) -> LabelSpace:
    ref = labels["file"]
    label_path = Path(ref["path"])
    if not label_path.is_absolute():
        label_path = base / label_path
    if not label_path.is_file():
        raise ArtifactError(f"{where} refers to label file {label_path}, which does not exist; "
                            "pass labels_base= to say where it is")
    try:
        space = _read_labels(label_path, ref)
    except LmprogError as error:
        raise ArtifactError(f"{where}: its label file {label_path} cannot be read: {error}") from None
    if space.hash != labels["hash"]:
        raise ArtifactError(f"label file {label_path} has changed since {where} was saved: its labels hash is "
                            f"{space.hash}, the artifact expects {labels['hash']}")
    return space
