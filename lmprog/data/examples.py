"""Load labelled (or unlabelled) examples from JSONL, JSON, CSV or TSV files and validate them.

    ds = load_examples("data.csv", text="SMS", label="Label", labels=space)
    train, dev = ds.split(train=0.8, dev=0.2, seed=0)

Every row problem in a file is collected in one pass and reported in one :class:`DataError`
(or dropped and recorded on ``Dataset.dropped`` with ``drop_invalid=True``). Line numbers are
physical lines: for CSV/TSV the header is line 1, so the first data row is line 2.

Examples are ``dspy.Example`` objects with the input fields marked by ``with_inputs`` and the gold
label stored under ``label`` (single-label) or ``labels`` (multi-label, a list). Note that
``example.labels`` is a method of ``dspy.Example``: read a multi-label gold list with
``example["labels"]`` (or :meth:`Dataset.gold`).

The label space is used by duck typing (``name in space``, ``space.resolve(name, fuzzy=False)``),
so this module does not import :mod:`lmprog.labels`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lmprog.data.dataset import Dataset
from lmprog.data.rows import Row, check_format, read_rows
from lmprog.errors import ConfigurationError, DataError

if TYPE_CHECKING:  # pragma: no cover
    import dspy

    from lmprog.labels import LabelSpace

__all__ = ["load_examples"]

_SHOWN = 5  # offenders quoted in an error message


@dataclass
class _Spec:
    fields: list[str]  # the examples' input fields
    columns: list[str]  # the file's column for each input field
    label: str | None
    multi_label: bool
    labels: Any  # LabelSpace | None
    id: str | None
    separator: str | None


def load_examples(
    path: str | Path,
    *,
    text: str | Sequence[str] | Mapping[str, str] = "text",
    label: str | None = "label",
    multi_label: bool = False,
    labels: LabelSpace | None = None,
    id: str | None = None,
    label_separator: str | None = None,
    drop_invalid: bool = False,
    encoding: str = "utf-8-sig",
) -> Dataset:
    """Read examples from a ``.jsonl``, ``.json`` (a list of objects), ``.csv``, ``.tsv`` or ``.parquet`` file, or
    from a pandas DataFrame.

    ``text`` names the input column(s), which become the examples' input fields; a mapping
    ``{field: column}`` reads each input field from a column of another name. ``label`` names the
    gold label column, or None for unlabelled data.
    Multi-label values are a JSON list, or a string split on ``label_separator`` (default ``"|"`` for
    CSV/TSV; in JSON files a string is one label unless a separator is given); an empty value, null,
    or (in JSON) a missing field means no labels, but some row must have the field. With ``labels``,
    each label is resolved to its canonical name (case, whitespace, aliases); unknown labels are
    errors. ``id`` names a column of unique example ids (stored as ``id``). TSV is read without quote
    handling (fields cannot contain tabs or newlines).

    Raises ``DataError`` listing every bad row (first five quoted, with the count), or, with
    ``drop_invalid=True``, drops them and records them in ``Dataset.dropped``.
    """
    from lmprog.data.frames import frame_rows, is_dataframe

    frame = is_dataframe(path)
    shown = "the DataFrame" if frame else str(path)
    suffix = ".parquet" if frame else check_format(path)  # a frame's cells are typed, as a Parquet file's
    spec = _make_spec(text, label, multi_label, labels, id, label_separator, suffix)
    if frame:
        _check_header([str(column) for column in path.columns], shown, spec)
        rows = list(frame_rows(path))
    else:
        rows = read_rows(path, encoding=encoding, on_header=lambda header: _check_header(header, shown, spec))
    examples, problems = _validate(rows, spec)
    if not rows:
        raise DataError(f"{shown} has no rows", path=shown)
    if spec.multi_label and spec.label is not None:
        _check_label_seen(rows, spec.label, shown)
    if problems and (not drop_invalid or not examples):
        raise DataError(_problem_sentence(shown, problems, len(rows)), path=shown, problems=problems)
    return Dataset(examples, input_fields=spec.fields, multi_label=multi_label, path=shown, dropped=problems)


def _validate(rows: list[Row], spec: _Spec) -> tuple[list[dspy.Example], list[tuple[int, str]]]:
    """The examples of the usable rows, and ``(line, problems)`` for the others."""
    examples: list[dspy.Example] = []
    problems: list[tuple[int, str]] = []
    seen_ids: dict[str, int] = {}
    for line, record, problem in rows:
        fields, row_problems = (None, [problem]) if problem else _parse_record(record, spec)
        if fields is not None and spec.id is not None:
            first = seen_ids.setdefault(fields["id"], line)
            if first != line:
                row_problems.append(f"duplicate id {fields['id']!r} (first on line {first})")
        if row_problems:
            problems.append((line, ", ".join(row_problems)))
        else:
            examples.append(_to_example(fields, spec))
    return examples, problems


def _check_label_seen(rows: list[Row], label: str, shown: str) -> None:
    """Some readable row of multi-label data must have the label field (a row without it has no labels)."""
    records = [record for _, record, problem in rows if problem is None]
    if records and not any(label in record for record in records):
        raise DataError(
            f"{shown}: no row has the label field {label!r} (fields: {', '.join(records[0])})",
            path=shown,
            problems=[(0, f"no field {label!r}")],
        )


def _make_spec(text, label, multi_label, labels, id, separator, suffix) -> _Spec:
    pairs = list(text.items()) if isinstance(text, Mapping) else \
        [(name, name) for name in ([text] if isinstance(text, str) else list(text))]
    if not pairs or not all(isinstance(f, str) and f and isinstance(c, str) and c for f, c in pairs):
        raise ConfigurationError(f"text= must name one or more input columns, got {text!r}")
    fields = [field for field, _ in pairs]
    reserved = {"labels" if multi_label else "label"} if label is not None else set()
    if id is not None:
        reserved.add("id")
    clash = reserved.intersection(fields)
    if clash:
        raise ConfigurationError(
            f"input column {sorted(clash)[0]!r} clashes with the field lmprog stores the gold label or id in; "
            "rename that column"
        )
    if separator is None and multi_label and suffix in (".csv", ".tsv"):
        separator = "|"
    return _Spec(fields, [column for _, column in pairs], label, multi_label, labels, id, separator)


def _check_header(header: list[str], shown: str, spec: _Spec) -> None:
    wanted = spec.columns + [c for c in (spec.label, spec.id) if c is not None]
    missing = [c for c in wanted if c not in header]
    if missing:
        names = ", ".join(repr(c) for c in missing)
        noun = "column" if len(missing) == 1 else "columns"
        raise DataError(
            f"{shown}: no {noun} {names} in the header (columns: {', '.join(header)})",
            path=shown,
            problems=[(1, f"no {noun} {names}")],
        )


def _parse_record(record: dict, spec: _Spec) -> tuple[dict | None, list[str]]:
    """The example's fields from one record, or None and the row's problems."""
    problems: list[str] = []
    fields: dict[str, Any] = {}
    for name, column in zip(spec.fields, spec.columns):
        value, problem = _text_value(record, column)
        if problem:
            problems.append(problem)
        fields[name] = value
    if not problems and not any(fields[name].strip() for name in spec.fields):
        problems.append("empty text")
    if spec.label is not None:
        gold, label_problems = _label_value(record, spec)
        problems.extend(label_problems)
        fields["labels" if spec.multi_label else "label"] = gold
    if spec.id is not None:
        value, problem = _text_value(record, spec.id)
        if problem or not value.strip():
            problems.append(problem or "empty id")
        fields["id"] = value.strip() if value else value
    return (None, problems) if problems else (fields, problems)


def _missing(record: dict, name: str) -> str:
    return f"no field {name!r} (fields: {', '.join(record) or 'none'})"


def _text_value(record: dict, name: str) -> tuple[str, str | None]:
    if name not in record:
        return "", _missing(record, name)
    value = record[name]
    if value is None:
        return "", None
    if isinstance(value, str):
        return value, None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value), None
    return "", f"field {name!r} is a {type(value).__name__}, not text"


def _label_value(record: dict, spec: _Spec) -> tuple[Any, list[str]]:
    name = spec.label
    if name not in record:
        # A multi-label row without the field has no labels (the loader checks some row has it).
        return ([], []) if spec.multi_label else (None, [_missing(record, name)])
    value = record[name]
    if spec.multi_label:
        names, problem = _label_list(value, spec.separator)
        if problem:
            return None, [problem]
        resolved = [_resolve(n, spec.labels) for n in names]
        unknown = [n for n, r in zip(names, resolved) if r is None]
        if unknown:
            return None, [f"label {n!r} not in the label space" for n in unknown]
        return list(dict.fromkeys(resolved)), []
    if isinstance(value, list):
        return None, ["label is a list (pass multi_label=True for multi-label data)"]
    if isinstance(value, dict):
        return None, ["label is an object, not a label name"]
    text = "" if value is None else str(value).strip()
    if not text:
        return None, ["missing label"]
    resolved = _resolve(text, spec.labels)
    if resolved is None:
        return None, [f"label {text!r} not in the label space"]
    return resolved, []


def _label_list(value: Any, separator: str | None) -> tuple[list[str], str | None]:
    if value is None:
        return [], None
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith("["):
            try:
                value = json.loads(stripped)
            except json.JSONDecodeError:
                return [], f"labels {stripped[:40]!r} look like a JSON list but do not parse"
        else:
            parts = stripped.split(separator) if separator else [stripped]
            return [p.strip() for p in parts if p.strip()], None
    if not isinstance(value, list):
        return [], f"labels must be a list or a string, got {type(value).__name__}"
    names = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, (str, int)):
            return [], f"labels must be names, got {item!r}"
        if str(item).strip():
            names.append(str(item).strip())
    return names, None


def _resolve(name: str, space: Any) -> str | None:
    if space is None or name in space:
        return name
    found = space.resolve(name, fuzzy=False)  # gold labels: normalize, never guess by edit distance
    return None if found is None else found.name


def _to_example(fields: dict, spec: _Spec) -> dspy.Example:
    import dspy

    return dspy.Example(**fields).with_inputs(*spec.fields)


def _problem_sentence(shown: str, problems: list[tuple[int, str]], n_rows: int) -> str:
    count = len(problems)
    if count == n_rows and count > 1:
        head = f"all {count} rows have problems"
    else:
        head = f"{count} row has a problem" if count == 1 else f"{count} rows have problems"
    quoted = "; ".join(f"line {line}: {message}" for line, message in problems[:_SHOWN])
    more = f"; and {count - _SHOWN} more" if count > _SHOWN else ""
    return f"{shown}: {head} ({quoted}{more})"
