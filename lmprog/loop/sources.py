"""The label loop's inputs as objects: a task (or its TOML file), a compiled program (or its artifact), a
distilled classifier (or its skops file), and every labelled row known (given, or carried by the artifact)."""

from __future__ import annotations

import os
from pathlib import Path

from lmprog.errors import ConfigurationError
from lmprog.loop.texts import Labelled, fingerprint, read_labelled, text_of


def as_task(task):
    """A :class:`~lmprog.Task`, read from a task file when given a path."""
    from lmprog.task import Task

    if isinstance(task, Task):
        return task
    if isinstance(task, (str, os.PathLike)):
        return Task.from_toml(task)
    raise ConfigurationError(f"task must be a Task or a task file, not {type(task).__name__}")


def as_compiled(compiled, program_file=None):
    """A :class:`~lmprog.CompiledProgram` (None stays None), loaded when given an artifact path."""
    if compiled is None or not isinstance(compiled, (str, os.PathLike)):
        return compiled
    from lmprog.artifact import load

    return load(compiled, program_file=program_file)


def as_model(model):
    """A :class:`~lmprog.Distilled` classifier (None stays None), loaded when given a model file."""
    if model is None or not isinstance(model, (str, os.PathLike)):
        return model
    from lmprog.distillation import load_distilled

    return load_distilled(Path(model))


def check_same_labels(task, other, what: str) -> None:
    """``other`` (a compiled program or classifier) must label the same task: same multi-label setting."""
    theirs = getattr(other, "task", None)
    if theirs is not None and bool(theirs.multi_label) != bool(task.multi_label):
        kind = "multi-label" if theirs.multi_label else "single-label"
        raise ConfigurationError(f"the {what} is for a {kind} task, but task {task.name!r} is not")


def known_labelled(task, labelled, compiled=None) -> Labelled:
    """The labelled rows given, plus the examples ``compiled`` was compiled from, each text once."""
    given = read_labelled(task, labelled)
    extra = read_labelled(task, compiled.labelled_examples(), what="compiled example") if compiled is not None \
        else Labelled([], [])
    seen: set[str] = set()
    out = Labelled([], [])
    for inputs, gold in zip(given.inputs + extra.inputs, given.gold + extra.gold):
        key = fingerprint(text_of(task, inputs))
        if key not in seen:
            seen.add(key)
            out.inputs.append(inputs)
            out.gold.append(gold)
    return out
