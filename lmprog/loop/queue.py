"""Queue files: the rows ``suggest``, ``audit`` and ``estimate`` ask a person to label, as JSON Lines.

One row per line, in the order to label them:

- the task's input columns (as its data files name them), so the file reads back with ``Task.read_examples``;
- the task's label column: ``null`` to fill in (``suggest``, ``estimate``), or the current gold label
  (``audit``);
- ``queue``: ``"suggest"``, ``"audit"`` or ``"estimate"``; ``reason``: one sentence saying why the row is
  here; ``row``: its index in the file it came from;
- ``audit`` rows also hold ``suggested`` (the label the evidence points to) and ``evidence`` (sentences);
  ``estimate`` rows hold ``estimate``: ``{"draws", "probability", "predicted"}``, which
  ``lmprog estimate --labelled`` needs back unchanged.

The labelling page reads these files; :func:`is_queue_file` is how lmprog knows it wrote one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from lmprog.errors import ConfigurationError

QUEUES = ("suggest", "audit", "estimate")


def queue_row(task, inputs: Mapping[str, str], *, queue: str, reason: str, row: int, label: Any = None,
              **extra: Any) -> dict:
    """One queue row: the input columns, the label column, then ``queue``, ``reason``, ``row`` and ``extra``."""
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}")
    out = {column: inputs[name] for name, column in task.input_columns.items()}
    out[task.label_column] = label
    return out | {"queue": queue, "reason": reason, "row": int(row)} | extra


def write_queue(path: str | os.PathLike, rows: Iterable[Mapping]) -> Path:
    """Write ``rows`` as JSON Lines to ``path``, atomically (a temporary file renamed into place)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ConfigurationError(f"cannot write {path}: {exc.strerror or exc}", path=str(path)) from None
    return path


def is_queue_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a queue file lmprog wrote (its first row names one of :data:`QUEUES`), or is empty."""
    try:
        with Path(path).open("rb") as handle:
            first = handle.readline()
    except OSError:
        return False
    if not first.strip():
        return Path(path).stat().st_size == 0
    try:
        row = json.loads(first)
    except ValueError:
        return False
    return isinstance(row, Mapping) and row.get("queue") in QUEUES and "reason" in row
