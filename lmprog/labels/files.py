"""Label files: .txt (one label per line), .csv/.tsv (a header row), .json and .jsonl.

:func:`read_label_file` returns the raw label items of a file (strings or mappings) with where each
one is (``labels.csv:4``), for ``LabelSpace.from_file`` to validate.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lmprog.errors import DataError

FORMATS = (".txt", ".csv", ".tsv", ".json", ".jsonl")


def read_label_file(path: Path, *, name: str, description: str | None,
                    aliases: str | None) -> tuple[list[Any], list[str], tuple[str, str, str]]:
    """The items of a label file, where each is, and the (name, description, aliases) keys to read them by."""
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise DataError(f"{path.name}: unknown label file type {suffix or '(none)'!r}; "
                        f"use one of {', '.join(FORMATS)}", path=str(path))
    text = _read_text(path)
    if suffix in (".csv", ".tsv"):
        delimiter = "," if suffix == ".csv" else "\t"
        columns = {"name": name, "description": description, "aliases": aliases}
        items, wheres = _read_table(path, text, delimiter, columns)
        return items, wheres, ("name", "description", "aliases")
    if suffix == ".txt":
        items, wheres = _read_txt(path, text)
    elif suffix == ".json":
        items, wheres = _read_json(path, text)
    else:
        items, wheres = _read_jsonl(path, text)
    _check_fields(path, items, {"description": description, "aliases": aliases})
    return items, wheres, (name, description or "description", aliases or "aliases")


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataError(f"label file {str(path)!r} does not exist", path=str(path)) from None
    except UnicodeDecodeError as error:
        raise DataError(f"{path.name}: not UTF-8 text (byte {error.start}); save it as UTF-8",
                        path=str(path)) from None
    except OSError as error:
        raise DataError(f"label file {str(path)!r} cannot be read: {error.strerror}", path=str(path)) from None


def _lines(text: str) -> list[str]:
    """Lines split on \\n, \\r\\n or \\r only (str.splitlines also splits on U+2028 and others)."""
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _read_txt(path: Path, text: str) -> tuple[list, list[str]]:
    items, wheres = [], []
    for number, line in enumerate(_lines(text), start=1):
        if line.strip():
            items.append(line)
            wheres.append(f"{path.name}:{number}")
    return items, wheres


def _read_table(path: Path, text: str, delimiter: str, columns: dict[str, str | None]) -> tuple[list, list[str]]:
    """Rows of a CSV/TSV file as {role: cell}; a role whose column is None uses a column named
    after the role if there is one (except "name", which is always required)."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise DataError(f"{path.name}: the file is empty; it needs a header row", path=str(path)) from None
    except csv.Error as error:
        raise DataError(f"{path.name}:1: not a valid header row ({error})", path=str(path)) from None
    header = [h.strip() for h in header]
    positions: dict[str, int] = {}
    for role, column in columns.items():
        if column is None:
            if role in header:
                positions[role] = header.index(role)
            continue
        if column not in header:
            raise DataError(f"{path.name}: no column {column!r} for the label {role}; "
                            f"columns present: {', '.join(header)}", path=str(path))
        positions[role] = header.index(column)
    items, wheres = [], []
    start = reader.line_num + 1
    try:
        for row in reader:
            line, start = start, reader.line_num + 1
            if not any(cell.strip() for cell in row):
                continue
            items.append({role: (row[i] if i < len(row) else None) for role, i in positions.items()})
            wheres.append(f"{path.name}:{line}")
    except csv.Error as error:
        raise DataError(f"{path.name}:{reader.line_num}: not valid {path.suffix[1:].upper()} ({error})",
                        path=str(path)) from None
    return items, wheres


def _read_json(path: Path, text: str) -> tuple[list, list[str]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise DataError(f"{path.name}:{error.lineno}: not valid JSON ({error.msg})", path=str(path)) from None
    if isinstance(data, Mapping) and "labels" in data:
        data = data["labels"]
    if not isinstance(data, list):
        raise DataError(f"{path.name}: expected a list of labels or an object with a \"labels\" list",
                        path=str(path))
    return data, [f"{path.name}: label {i + 1}" for i in range(len(data))]


def _read_jsonl(path: Path, text: str) -> tuple[list, list[str]]:
    items, wheres = [], []
    for number, line in enumerate(_lines(text), start=1):
        if not line.strip():
            continue
        try:
            items.append(json.loads(line))
        except json.JSONDecodeError as error:
            raise DataError(f"{path.name}:{number}: not valid JSON ({error.msg})", path=str(path)) from None
        wheres.append(f"{path.name}:{number}")
    return items, wheres


def _check_fields(path: Path, items: list, fields: dict[str, str | None]) -> None:
    """A field asked for by name must appear in at least one JSON object."""
    objects = [item for item in items if isinstance(item, Mapping)]
    for role, wanted in fields.items():
        if wanted is not None and objects and not any(wanted in item for item in objects):
            present = sorted({str(k) for item in objects for k in item})
            raise DataError(f"{path.name}: no field {wanted!r} for the label {role}; "
                            f"fields present: {', '.join(present)}", path=str(path))
