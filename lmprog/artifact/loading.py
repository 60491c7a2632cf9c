"""Loading an artifact: read, check the schema and the integrity hash, rebuild the task and the program.

Loading never imports or executes anything named in the file and never unpickles: the program class
is looked up in a fixed table of lmprog's modules; a custom program needs the caller to pass
``program_file=`` (a Python file with ``build(task, **params)``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from lmprog.artifact.compiled import CompiledProgram
from lmprog.artifact.document import integrity
from lmprog.artifact.program_section import CUSTOM, known_classes, program_from_dict
from lmprog.artifact.schema import check_document
from lmprog.artifact.task_section import task_from_dict
from lmprog.errors import ArtifactError


def load(path: str | os.PathLike, *, program_file: str | os.PathLike | None = None,
         labels_base: str | os.PathLike | None = None) -> CompiledProgram:
    """Read and check an artifact written by :meth:`CompiledProgram.save` (format 2, or 1 from lmprog 0.1).

    Args:
        path: the artifact (.json).
        program_file: a Python file with ``build(task, **params)``; needed only for a custom
            program (one not made of lmprog's own modules).
        labels_base: the folder relative label and priors file references are resolved against
            (default: the artifact's folder).

    Raises:
        ArtifactError: invalid JSON or schema, a newer format, a modified file, a label file
            whose content changed, or a custom program without ``program_file``.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ArtifactError(f"artifact {path} does not exist", path=str(path)) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ArtifactError(f"artifact {path} cannot be read: {error}", path=str(path)) from None
    try:
        document = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as error:
        raise ArtifactError(f"artifact {path} is not valid JSON: line {error.lineno} column {error.colno}: "
                            f"{error.msg}", path=str(path)) from None
    except ValueError as error:
        raise ArtifactError(f"artifact {path} is not valid JSON: {error}", path=str(path)) from None
    return from_dict(document, path=path, program_file=program_file,
                     labels_base=Path(labels_base) if labels_base is not None else path.parent)


def _reject_constant(name: str):
    raise ValueError(f"{name} is not allowed in an artifact")


def from_dict(document: Any, *, path: str | os.PathLike | None = None,
              program_file: str | os.PathLike | None = None,
              labels_base: str | os.PathLike | None = None) -> CompiledProgram:
    """Rebuild a :class:`CompiledProgram` from :meth:`CompiledProgram.to_dict` output (checked as :func:`load`)."""
    where = f"artifact {path}" if path is not None else "artifact"
    base = Path(labels_base) if labels_base is not None else Path.cwd()
    try:
        check_document(document, where, known_classes())
        if document["integrity"] != integrity(document):
            raise ArtifactError(f"{where} has been modified since it was saved (integrity hash mismatch); "
                                "re-run compile or restore the original file")
        task = task_from_dict(document["task"], where, base)
        program = program_from_dict(document["program"], task, where, program_file, base)
    except ArtifactError as error:
        if error.path is None and path is not None:
            error.path = str(path)
        raise
    params = document["program"]["params"] if document["program"]["class"] == CUSTOM else None
    return CompiledProgram(program=program, task=task, lm=document["lm"], optimizer=document["optimizer"],
                           candidates=document["candidates"], dev_score=document["dev_score"],
                           run_id=document["run_id"], budget=document["budget"], program_params=params,
                           examples=_examples(document, where))


def _examples(document: dict, where: str) -> list:
    """The labelled examples a format-2 artifact carries (format 1 has none)."""
    examples = document.get("examples", [])
    if not isinstance(examples, list) or not all(isinstance(e, dict) for e in examples):
        raise ArtifactError(f"{where}: key 'examples' must be a list of objects")
    return examples
