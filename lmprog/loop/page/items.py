"""What a person is asked: rows to label (a queue) and gold labels to review (audit flags).

A **queue** is a data file of the task: ``lmprog suggest``/``audit``/``estimate``'s JSON Lines (see
:mod:`lmprog.loop.queue`), or any file with the task's input columns. Each row is one item, by its
``queue`` field:

- ``suggest`` (or none): label it; the answer is **appended** to the task's labelled file;
- ``estimate``: label it; the answer is written **into the queue file** (the row's label column filled
  in, every other field kept), which ``lmprog estimate`` reads back;
- ``audit``: review the row's gold label (the label column) against ``suggested``; the row is found in
  the task's labelled file by ``row`` (its index there) and corrected **in place**.

An **audit file** (``lmprog audit --json``) is a JSON object with ``flags`` (or a bare list of them).
A flag names a row of the audited file (``data`` at the top, as given to ``lmprog audit`` or beside the
audit file; else the task's ``[data] train``) by
``row`` or ``index`` (0-based row number) or ``line`` (the row's first line), and carries the row's
inputs (in ``inputs``, or under the input field or column names), its label (``given``), the
``suggested`` label and its evidence (``evidence`` and any other fields, shown as context). A row is
always checked against the flag's inputs; without a locator, the first row with those inputs and label.

Every item has a stable id (the row's ``[data] id`` if the task has one, else a hash of its inputs),
so a restarted page knows which rows were answered.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lmprog.data import read_rows
from lmprog.errors import DataError
from lmprog.task import Task

SUGGESTED = ("suggested", "suggestion", "prediction", "predicted")
GIVEN = ("given", "gold")
LOCATORS = ("row", "index", "row_index", "line")
HIDDEN = ("queue", "inputs", *LOCATORS)


@dataclass
class Item:
    """One question: ``kind`` is ``"label"`` or ``"review"``; the answer replaces ``original`` in ``file``
    when there is one, else it is appended to ``file``."""

    id: str
    kind: str
    inputs: dict[str, str]
    record: dict[str, Any]  # the row the answer writes, without its label
    file: Path
    context: list[tuple[str, str]] = field(default_factory=list)
    given: list[str] | None = None
    suggested: list[str] | None = None
    original: str | None = None


@dataclass
class Source:
    """A data file read once: its rows (lmprog's row reader) and its text."""

    path: Path
    rows: list
    text: str

    @classmethod
    def read(cls, path: str | Path) -> Source:
        return cls(Path(path), read_rows(path), Path(path).read_text(encoding="utf-8"))

    def row_text(self, at: int) -> str:
        """The exact text of row ``at``: its lines up to the next row, without blank lines after it."""
        lines = self.text.splitlines(keepends=True)
        start = self.rows[at].line - 1
        end = self.rows[at + 1].line - 1 if at + 1 < len(self.rows) else len(lines)
        body = "".join(lines[start:end])
        core = body.rstrip("\r\n")
        rest = body[len(core):]
        return core + ("\r\n" if rest.startswith("\r\n") else "\n" if rest else "")


def item_id(kind: str, task: Task, inputs: dict[str, str], record: dict, given: list[str] | None = None) -> str:
    if task.data.id and record.get(task.data.id) not in (None, ""):
        return f"{kind}:id:{record[task.data.id]}"
    key = [inputs, given] if given is not None else inputs
    return f"{kind}:" + hashlib.sha256(json.dumps(key, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:20]


def as_labels(value: Any, separator: str = "|") -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    text = str(value).strip()
    if text.startswith("["):
        try:
            return [str(v) for v in json.loads(text)]
        except ValueError:
            pass
    return [part.strip() for part in text.split(separator)] if separator in text else [text]


def inputs_of(task: Task, record: dict, where: str) -> dict[str, str]:
    inputs = {}
    for name, column in task.input_columns.items():
        value = record.get(column, record.get(name))
        if value is None:
            raise DataError(f"{where} has no input column {column!r} (task {task.name!r})")
        inputs[name] = str(value)
    return inputs


def _shown(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return "\n".join(value)
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _context(task: Task, record: dict, *more: str) -> list[tuple[str, str]]:
    skip = {*HIDDEN, *task.input_columns.values(), *task.input_fields, task.label_column, *more}
    return [(str(k), _shown(v)) for k, v in record.items() if k not in skip and v not in (None, "", [])]


def queue_items(task: Task, queue: str | Path, target: Path) -> list[Item]:
    """The rows of ``queue``; answers to rows to label go to ``target`` (see the module docstring)."""
    source = Source.read(queue)
    labelled = None
    items: dict[str, Item] = {}
    for at, row in enumerate(source.rows):
        where = f"{queue}: line {row.line}"
        if row.record is None:
            raise DataError(f"{where}: {row.problem}")
        if row.record.get("queue") == "audit":
            labelled = labelled or Source.read(target)
            item = review_item(task, row.record, labelled, where)
        else:
            item = _label_item(task, row.record, where, target, source if row.record.get("queue") == "estimate"
                               else None, at)
        items.setdefault(item.id, item)
    return list(items.values())


def _label_item(task: Task, record: dict, where: str, target: Path, in_place: Source | None, at: int) -> Item:
    inputs = inputs_of(task, record, where)
    if in_place is not None:  # the answer fills in the queue row itself
        kept, file, original = {k: v for k, v in record.items() if k != task.label_column}, in_place.path, \
            in_place.row_text(at)
    else:
        kept = {column: inputs[name] for name, column in task.input_columns.items()}
        if task.data.id and record.get(task.data.id) not in (None, ""):
            kept[task.data.id] = record[task.data.id]
        file, original = target, None
    offered = next((record[k] for k in (*SUGGESTED, task.label_column) if record.get(k)), None)
    return Item(item_id("label", task, inputs, record), "label", inputs, kept, file,
                _context(task, record, *SUGGESTED), suggested=as_labels(offered) if offered is not None else None,
                original=original)


def audit_items(task: Task, audit: str | Path, default_data: Path | None) -> list[Item]:
    """The flags of the audit file ``audit``, each tied to its row's text in the audited data file."""
    try:
        raw = json.loads(Path(audit).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"audit file {audit} does not exist") from None
    except ValueError as exc:
        raise DataError(f"audit file {audit} is not JSON: {exc}") from None
    flags = raw.get("flags") if isinstance(raw, dict) else raw
    if not isinstance(flags, list):
        raise DataError(f"audit file {audit} has no list of flags")
    named = raw.get("data") if isinstance(raw, dict) else None
    path = _audited(Path(audit), named) if named else default_data
    if path is None:
        raise DataError(f"audit file {audit} names no data file and the task has no [data] train")
    source = Source.read(path)
    return [review_item(task, flag, source, f"{audit}: flag {n}") for n, flag in enumerate(flags, start=1)]


def _audited(audit: Path, named: str) -> Path:
    """The audited data file an audit names: as given (from where audit ran), or beside the audit file."""
    for path in (Path(named), audit.parent / named):
        if path.is_file():
            return path
    raise DataError(f"audit file {audit} names the data file {named}, which is not there (nor beside it)")


def review_item(task: Task, flag: dict, source: Source, where: str) -> Item:
    """An audit flag (or an audit queue row) as a review of its row in ``source``."""
    if not isinstance(flag, dict):
        raise DataError(f"{where} is not a JSON object")
    inputs = inputs_of(task, flag["inputs"] if isinstance(flag.get("inputs"), dict) else flag, where)
    separator = task.data.label_separator or "|"
    given = as_labels(next((flag[k] for k in (*GIVEN, task.label_column) if k in flag), None), separator)
    suggested = as_labels(next((flag[k] for k in SUGGESTED if k in flag), None), separator)
    at = _locate(task, flag, source.rows, inputs, given, separator)
    if at is None:
        raise DataError(f"{where}: no row of {source.path} has these inputs{' and that label' if given else ''}: "
                        f"{next(iter(inputs.values()))[:60]!r}")
    record = dict(source.rows[at].record)
    given = given or as_labels(record.get(task.label_column), separator)
    return Item(item_id("review", task, inputs, record, given), "review", inputs, record, source.path,
                _context(task, flag, *GIVEN, *SUGGESTED), given=given, suggested=suggested or None,
                original=source.row_text(at))


def _locate(task: Task, flag: dict, rows: list, inputs: dict, given: list[str], separator: str) -> int | None:
    def matches(i: int) -> bool:
        return 0 <= i < len(rows) and rows[i].record is not None and _inputs_or_none(task, rows[i].record) == inputs

    if isinstance(flag.get("line"), int):
        found = [i for i, row in enumerate(rows) if row.line == flag["line"]]
        return found[0] if found and matches(found[0]) else None
    for key in ("row", "index", "row_index"):
        if isinstance(flag.get(key), int) and not isinstance(flag.get(key), bool):
            return flag[key] if matches(flag[key]) else None
    for i, row in enumerate(rows):
        if matches(i) and (not given or as_labels(row.record.get(task.label_column), separator) == given):
            return i
    return None


def _inputs_or_none(task: Task, record: dict) -> dict | None:
    try:
        return inputs_of(task, record, "row")
    except DataError:
        return None
