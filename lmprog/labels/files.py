"""Label files: .txt (one label per line), .csv/.tsv (a header row), .json and .jsonl.

:func:`read_label_file` returns the raw label items of a file (strings or mappings) with where each
one is (``labels.csv:4``), for ``LabelSpace.from_file`` to validate. The files are read by the one
row reader (:mod:`lmprog.data.rows`); this module turns its rows into label items and words its
errors for label files. A label file is read whole before any label is checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lmprog.data.rows import FileReadError, iter_lines, read_rows
from lmprog.errors import DataError

FORMATS = (".txt", ".csv", ".tsv", ".json", ".jsonl")


def read_label_file(path: Path, *, name: str, description: str | None,
                    aliases: str | None) -> tuple[list[Any], list[str], tuple[str, str, str]]:
    """The items of a label file, where each is, and the (name, description, aliases) keys to read them by."""
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise DataError(f"{path.name}: unknown label file type {suffix or '(none)'!r}; "
                        f"use one of {', '.join(FORMATS)}", path=str(path))
    if suffix in (".csv", ".tsv"):
        columns = {"name": name, "description": description, "aliases": aliases}
        items, wheres = _read_table(path, columns)
        return items, wheres, ("name", "description", "aliases")
    try:
        if suffix == ".txt":
            items, wheres = _read_txt(path)
        else:
            items, wheres = _read_json(path, suffix)
    except FileReadError as error:
        raise _reworded(error, path) from None
    _check_fields(path, items, {"description": description, "aliases": aliases})
    return items, wheres, (name, description or "description", aliases or "aliases")


def _read_txt(path: Path) -> tuple[list, list[str]]:
    items, wheres = [], []
    for number, line in iter_lines(path):
        if line.strip():
            items.append(line)
            wheres.append(f"{path.name}:{number}")
    return items, wheres


def _read_json(path: Path, suffix: str) -> tuple[list, list[str]]:
    """A .json list (or ``{"labels": [...]}``) or .jsonl lines; each item is a name or an object."""
    if suffix == ".json":
        rows = read_rows(path, objects=False, json_key="labels")
        return [row.record for row in rows], [f"{path.name}: label {i + 1}" for i in range(len(rows))]
    rows = read_rows(path, objects=False, errors="raise")
    return [row.record for row in rows], [f"{path.name}:{row.line}" for row in rows]


def _read_table(path: Path, columns: dict[str, str | None]) -> tuple[list, list[str]]:
    """Rows of a CSV/TSV file as {role: cell}; a role whose column is None uses a column named
    after the role if there is one (except "name", which is always required). A row may be
    shorter or longer than the header."""
    chosen: dict[str, str] = {}
    headers: list[list[str]] = []

    def on_header(header: list[str]) -> None:
        headers.append(header)
        for role, column in columns.items():
            if column is None:
                if role in header:
                    chosen[role] = role
                continue
            if column not in header:
                raise DataError(f"{path.name}: no column {column!r} for the label {role}; "
                                f"columns present: {', '.join(header)}", path=str(path))
            chosen[role] = column

    try:
        rows = read_rows(path, on_header=on_header, quoted_tsv=True)
    except FileReadError as error:
        raise _reworded(error, path, header_read=bool(headers)) from None
    if not headers:
        raise DataError(f"{path.name}: the file is empty; it needs a header row", path=str(path))
    items = [{role: record.get(column) for role, column in chosen.items()} for _, record, _ in rows]
    return items, [f"{path.name}:{line}" for line, _, _ in rows]


def _reworded(error: FileReadError, path: Path, *, header_read: bool = True) -> DataError:
    """The reader's error in the words of a label file."""
    where = str(path)
    if error.kind == "missing":
        message = f"label file {where!r} does not exist"
    elif error.kind == "unreadable":
        message = f"label file {where!r} cannot be read: {error.detail}"
    elif error.kind == "encoding":
        message = f"{path.name}: not UTF-8 text (byte {error.offset}); save it as UTF-8"
    elif error.kind == "shape":
        message = f"{path.name}: expected a list of labels or an object with a \"labels\" list"
    elif path.suffix.lower() in (".json", ".jsonl"):
        message = f"{path.name}:{error.line}: not valid JSON ({error.detail})"
    elif not header_read:
        message = f"{path.name}:1: not a valid header row ({error.detail})"
    else:
        message = f"{path.name}:{error.line}: not valid {path.suffix[1:].upper()} ({error.detail})"
    return DataError(message, path=where)


def _check_fields(path: Path, items: list, fields: dict[str, str | None]) -> None:
    """A field asked for by name must appear in at least one JSON object."""
    objects = [item for item in items if isinstance(item, Mapping)]
    for role, wanted in fields.items():
        if wanted is not None and objects and not any(wanted in item for item in objects):
            present = sorted({str(k) for item in objects for k in item})
            raise DataError(f"{path.name}: no field {wanted!r} for the label {role}; "
                            f"fields present: {', '.join(present)}", path=str(path))
