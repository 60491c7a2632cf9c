"""What the jobs share: LMs on one ledger, artifacts and data read the way every command reads them,
and how lmprog recognises files it wrote itself (the only ones a command replaces without --force)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from lmprog.errors import ConfigurationError
from lmprog.paths import starts_with

HTML_MARKER = b'<meta name="generator" content="lmprog">'


@dataclass
class Models:
    """The LMs a command uses, on one ledger: the student ``lm`` and the ``teacher`` (None: the student)."""

    lm: object
    teacher: object | None = None


def open_models(model: str | None, *, teacher: str | None = None, api_base: str | None = None,
                ledger: str | os.PathLike | None = None, offline: bool = False, readonly: bool = False) -> Models:
    """``make_lm`` for the student (and teacher) sharing one Ledger; ``offline`` (or ``readonly``) answers
    only from the ledger (a miss is an error, never paid for) and leaves the file untouched: no hits counted,
    no run recorded, so replaying a committed ledger leaves a checkout clean."""
    from lmprog.ledger import Ledger, ledger_path
    from lmprog.lm import make_lm

    path = ledger_path(ledger)
    readonly = readonly or offline
    if readonly:
        if not path.exists():
            raise ConfigurationError(f"no ledger at {path.absolute()} to replay from (set --ledger or LMPROG_LEDGER)")
        shared = Ledger.open_readonly(path)
    else:
        shared = Ledger(path)
    cache = "replay" if offline or readonly else "readwrite"
    student = make_lm(model, api_base=api_base, ledger=shared, cache=cache)
    second = make_lm(teacher, api_base=api_base, ledger=shared, cache=cache) if teacher else None
    return Models(student, second)


def load_artifact(path: str | os.PathLike, program_file: str | os.PathLike | None = None):
    from lmprog.artifact import load

    return load(path, program_file=program_file)


def load_labelled(path: str | os.PathLike, task):
    """Labelled examples of ``task`` from a data file, read by the task's one column rule."""
    return task.read_examples(path)


def parse_options(pairs: list[str] | None) -> dict:
    """``KEY=VALUE`` program options; a VALUE that parses as JSON is read as JSON, else as text."""
    options = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigurationError(f"--option {pair!r} is not KEY=VALUE")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


def parse_seeds(seeds: str | None) -> list[int] | None:
    if seeds is None:
        return None
    try:
        return [int(s) for s in seeds.split(",") if s.strip()]
    except ValueError:
        raise ConfigurationError(f"--seeds {seeds!r} must be integers separated by commas, e.g. 0,1,2") from None


def is_report_file(path: Path) -> bool:
    """An HTML report lmprog wrote."""
    return starts_with(path, [HTML_MARKER])


def is_predictions_file(path: Path, field: str) -> bool:
    """A predictions file lmprog wrote for this task (so predict continues it): empty, or JSON Lines whose
    first row holds the answer field and the confidence (or error) predict adds, or Parquet with those columns."""
    if Path(path).suffix.lower() == ".parquet":
        from lmprog.data.sinks import is_parquet_predictions

        return is_parquet_predictions(Path(path), field)
    try:
        with path.open("rb") as handle:
            first = handle.readline()
    except OSError:
        return False
    if not first.strip():
        return path.stat().st_size == 0 or not first
    try:
        row = json.loads(first)
    except ValueError:
        return False
    return isinstance(row, Mapping) and field in row and ("confidence" in row or "error" in row)
