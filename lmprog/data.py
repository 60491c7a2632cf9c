"""Load labelled (or unlabelled) examples from JSONL, JSON, CSV or TSV files, validate them, split them.

    ds = load_examples("data.csv", text="SMS", label="Label", labels=space)
    train, dev = ds.split(train=0.8, dev=0.2, seed=0)

Every row problem in a file is collected in one pass and reported in one :class:`DataError`
(or dropped and recorded on ``Dataset.dropped`` with ``drop_invalid=True``). Line numbers are
physical lines: for CSV/TSV the header is line 1, so the first data row is line 2.

Examples are ``dspy.Example`` objects with the input fields marked by ``with_inputs`` and the gold
label stored under ``label`` (single-label) or ``labels`` (multi-label, a list). Note that
``example.labels`` is a method of ``dspy.Example``: read a multi-label gold list with
``example["labels"]`` (or :meth:`Dataset.gold`).
"""

from __future__ import annotations

import csv
import io
import json
import random
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lmprog.errors import ConfigurationError, DataError

if TYPE_CHECKING:  # pragma: no cover
    import dspy

    from lmprog.labels import LabelSpace

__all__ = ["Dataset", "load_examples", "SUFFIXES"]

SUFFIXES = (".jsonl", ".json", ".csv", ".tsv")
_SHOWN = 5  # offenders quoted in an error message


# --------------------------------------------------------------------------- Dataset


class Dataset:
    """A list of ``dspy.Example`` plus what is needed to use it: input fields, label kind, origin.

    ``dropped`` lists ``(line, message)`` for rows skipped by ``load_examples(drop_invalid=True)``.
    """

    def __init__(
        self,
        examples: Sequence[dspy.Example],
        *,
        input_fields: Sequence[str],
        multi_label: bool = False,
        path: str | None = None,
        dropped: Sequence[tuple[int, str]] = (),
    ):
        self.examples = list(examples)
        self.input_fields = list(input_fields)
        self.multi_label = multi_label
        self.path = path
        self.dropped = list(dropped)

    @property
    def label_field(self) -> str:
        """``"labels"`` for multi-label data, else ``"label"``."""
        return "labels" if self.multi_label else "label"

    @property
    def has_labels(self) -> bool:
        """True when every example carries a gold label (False for data loaded with ``label=None``)."""
        return bool(self.examples) and all(self.label_field in ex for ex in self.examples)

    def gold(self) -> list:
        """Gold label per example: a name (single-label) or a list of names (multi-label)."""
        return [ex[self.label_field] for ex in self.examples]

    def label_counts(self) -> Counter:
        """How many examples carry each label (each label of a multi-label example counts once)."""
        counts: Counter = Counter()
        for ex in self.examples:
            value = ex.get(self.label_field)
            if value is None:
                continue
            counts.update(value if self.multi_label else [value])
        return counts

    def __len__(self) -> int:
        return len(self.examples)

    def __iter__(self) -> Iterator[dspy.Example]:
        return iter(self.examples)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return self._subset(self.examples[index])
        return self.examples[index]

    def __repr__(self) -> str:
        kind = "multi-label" if self.multi_label else "single-label"
        return f"Dataset({len(self)} examples, {kind}, inputs={self.input_fields}, path={self.path!r})"

    def _subset(self, examples: Sequence[dspy.Example]) -> Dataset:
        return Dataset(examples, input_fields=self.input_fields, multi_label=self.multi_label, path=self.path)

    def split(
        self,
        *,
        train: int | float,
        dev: int | float,
        test: int | float | None = None,
        seed: int = 0,
        stratify: bool = True,
    ) -> tuple[Dataset, ...]:
        """Split into ``(train, dev)`` or ``(train, dev, test)``, seeded and deterministic.

        Sizes are counts (int) or fractions of ``len(self)`` (float in [0, 1]); they may sum to less
        than the whole, and fractions that sum to 1 use every example. Single-label data is stratified
        with scikit-learn's ``train_test_split`` at each step where every class has at least two
        examples and each side can hold one of every class; otherwise that step is a plain seeded
        shuffle. Then, when ``stratify`` is on and train is at least as large as the number of
        classes, each class missing from train swaps one example (from dev, test or the unrequested
        rest) into train, so every class has a demo candidate. Multi-label and unlabelled data are
        shuffled, never stratified. Examples keep the shuffled order. Asking for more examples than exist raises ``DataError``.
        """
        sizes = _split_sizes(len(self), train=train, dev=dev, test=test)
        need = sum(sizes)
        if need > len(self):
            parts = " + ".join(f"{name} {n}" for name, n in zip(("train", "dev", "test"), sizes))
            where = f" in {self.path}" if self.path else ""
            raise DataError(
                f"the split needs {need} examples ({parts}) but there are only {len(self)}{where}; "
                "ask for fewer or add data",
                path=self.path,
            )
        y = self.gold() if (stratify and not self.multi_label and self.has_labels) else None
        groups = _partition(len(self), sizes, y, seed)
        return tuple(self._subset([self.examples[i] for i in group]) for group in groups)


def _split_sizes(n: int, *, train, dev, test) -> list[int]:
    requested = [("train", train), ("dev", dev)] + ([("test", test)] if test is not None else [])
    sizes, fractions = [], []
    for name, value in requested:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigurationError(f"split size {name}={value!r} must be a count (int) or a fraction (float)")
        if isinstance(value, float):
            if not 0.0 <= value <= 1.0:
                raise ConfigurationError(f"split fraction {name}={value!r} must be between 0 and 1")
            fractions.append(value)
            sizes.append(int(value * n + 1e-9))
        else:
            if value < 0:
                raise ConfigurationError(f"split size {name}={value!r} must not be negative")
            sizes.append(value)
    # Fractions that make up the whole set use every example: the rounding remainder goes to train.
    if len(fractions) == len(requested) and abs(sum(fractions) - 1.0) < 1e-9:
        sizes[0] += n - sum(sizes)
    return sizes


def _partition(n: int, sizes: list[int], y: list | None, seed: int) -> list[list[int]]:
    """Indices for each requested part (train first). ``y`` enables stratification."""
    pool, unused = list(range(n)), []
    if sum(sizes) < n:  # leave the unrequested examples out first
        pool, unused = _two_way(pool, sum(sizes), y, seed)
    parts: list[list[int]] = []
    for k, size in enumerate(reversed(sizes[1:])):  # test, then dev; train is what remains
        pool, part = _two_way(pool, len(pool) - size, y, seed + k + 1)
        parts.append(part)
    groups = [pool] + list(reversed(parts))
    if y is not None:
        _cover_train(groups + [unused], y)
    return groups


def _two_way(pool: list[int], keep: int, y: list | None, seed: int) -> tuple[list[int], list[int]]:
    """Split ``pool`` into ``keep`` indices and the rest, stratified when feasible."""
    rest = len(pool) - keep
    if keep == 0 or rest == 0:
        shuffled = pool[:]
        random.Random(seed).shuffle(shuffled)
        return shuffled[:keep], shuffled[keep:]
    from sklearn.model_selection import train_test_split

    strata = None
    if y is not None:
        counts = Counter(y[i] for i in pool)
        if min(counts.values()) >= 2 and min(keep, rest) >= len(counts):
            strata = [y[i] for i in pool]
    kept, other = train_test_split(pool, train_size=keep, test_size=rest, random_state=seed, stratify=strata)
    return list(kept), list(other)


def _cover_train(groups: list[list[int]], y: list) -> None:
    """Swap one example of each class missing from train (from any other group) into train.

    The example leaving train is the last one of train's most frequent class, if that has two or more.
    """
    train = groups[0]
    classes_everywhere = {y[i] for g in groups for i in g}
    if len(train) < len(classes_everywhere):
        return
    for group in groups[1:]:
        for pos, idx in enumerate(group):
            train_counts = Counter(y[i] for i in train)
            if y[idx] in train_counts:
                continue
            common, count = max(train_counts.items(), key=lambda kv: (kv[1], str(kv[0])))
            if count < 2:
                return
            out_pos = max(p for p, i in enumerate(train) if y[i] == common)
            group[pos], train[out_pos] = train[out_pos], idx


# --------------------------------------------------------------------------- loading


@dataclass
class _Spec:
    text: list[str]
    label: str | None
    multi_label: bool
    labels: Any  # LabelSpace | None
    id: str | None
    separator: str | None


def load_examples(
    path: str | Path,
    *,
    text: str | Sequence[str] = "text",
    label: str | None = "label",
    multi_label: bool = False,
    labels: LabelSpace | None = None,
    id: str | None = None,
    label_separator: str | None = None,
    drop_invalid: bool = False,
    encoding: str = "utf-8-sig",
) -> Dataset:
    """Read examples from a ``.jsonl``, ``.json`` (a list of objects), ``.csv`` or ``.tsv`` file.

    ``text`` names the input column(s); ``label`` the gold label column, or None for unlabelled data.
    Multi-label values are a JSON list, or a string split on ``label_separator`` (default ``"|"`` for
    CSV/TSV; in JSON files a string is one label unless a separator is given); an empty value, null,
    or (in JSON) a missing field means no labels, but some row must have the field. With ``labels``,
    each label is resolved to its canonical name (case, whitespace, aliases); unknown labels are
    errors. ``id`` names a column of unique example ids (stored as ``id``). TSV is read without quote
    handling (fields cannot contain tabs or newlines).

    Raises ``DataError`` listing every bad row (first five quoted, with the count), or, with
    ``drop_invalid=True``, drops them and records them in ``Dataset.dropped``.
    """
    shown = str(path)
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise DataError(
            f"{shown}: unsupported file type {path.suffix or '(none)'!r}; use one of {', '.join(SUFFIXES)}",
            path=shown,
        )
    spec = _make_spec(text, label, multi_label, labels, id, label_separator, suffix)
    content = _read_text(path, shown, encoding)
    if suffix == ".jsonl":
        rows = _rows_jsonl(content)
    elif suffix == ".json":
        rows = _rows_json(content, shown)
    else:
        rows = _rows_delimited(content, shown, "\t" if suffix == ".tsv" else ",", spec)

    examples: list[dspy.Example] = []
    problems: list[tuple[int, str]] = []
    seen_ids: dict[str, int] = {}
    n_rows = 0
    label_seen, first_record = False, None
    for line, record, problem in rows:
        n_rows += 1
        if record is not None:
            first_record = record if first_record is None else first_record
            label_seen = label_seen or spec.label in record
        fields, row_problems = (None, [problem]) if problem else _parse_record(record, spec)
        if fields is not None and spec.id is not None:
            first = seen_ids.setdefault(fields["id"], line)
            if first != line:
                row_problems.append(f"duplicate id {fields['id']!r} (first on line {first})")
        if row_problems:
            problems.append((line, ", ".join(row_problems)))
        else:
            examples.append(_to_example(fields, spec))

    if n_rows == 0:
        raise DataError(f"{shown} has no rows", path=shown)
    if spec.multi_label and spec.label is not None and first_record is not None and not label_seen:
        raise DataError(
            f"{shown}: no row has the label field {spec.label!r} (fields: {', '.join(first_record)})",
            path=shown,
            problems=[(0, f"no field {spec.label!r}")],
        )
    if problems and (not drop_invalid or not examples):
        raise DataError(_problem_sentence(shown, problems, n_rows), path=shown, problems=problems)
    return Dataset(examples, input_fields=spec.text, multi_label=multi_label, path=shown, dropped=problems)


def _make_spec(text, label, multi_label, labels, id, separator, suffix) -> _Spec:
    fields = [text] if isinstance(text, str) else list(text)
    if not fields or not all(isinstance(f, str) and f for f in fields):
        raise ConfigurationError(f"text= must name one or more input columns, got {text!r}")
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
    return _Spec(fields, label, multi_label, labels, id, separator)


def _read_text(path: Path, shown: str, encoding: str) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{shown} does not exist", path=shown) from None
    except OSError as exc:
        raise DataError(f"{shown} cannot be read: {exc.strerror or exc}", path=shown) from None
    try:
        content = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise DataError(
            f"{shown} is not valid {encoding} text: byte 0x{raw[exc.start]:02x} at byte offset {exc.start} "
            f"(line {line}); re-save the file as UTF-8 or pass encoding=",
            path=shown,
            problems=[(line, f"invalid byte at offset {exc.start}")],
        ) from None
    except LookupError:
        raise ConfigurationError(f"unknown text encoding {encoding!r}") from None
    return content.removeprefix("\ufeff")


_Row = tuple[int, "dict | None", "str | None"]  # (line, record, problem that makes the row unreadable)


def _rows_jsonl(content: str) -> Iterator[_Row]:
    for number, physical in enumerate(content.split("\n"), start=1):
        line = physical.rstrip("\r")
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, None, f"malformed JSON ({exc.msg} at column {exc.colno})"
            continue
        if not isinstance(record, dict):
            yield number, None, f"expected a JSON object, got {type(record).__name__}"
        else:
            yield number, record, None


def _rows_json(content: str, shown: str) -> Iterator[_Row]:
    """Objects of a top-level JSON list, each with the line its ``{`` is on."""
    decoder = json.JSONDecoder()
    ws = " \t\r\n"

    def skip(pos: int) -> int:
        while pos < len(content) and content[pos] in ws:
            pos += 1
        return pos

    def fail(msg: str, pos: int):
        line = content.count("\n", 0, pos) + 1
        return DataError(f"{shown}: malformed JSON on line {line} ({msg})", path=shown, problems=[(line, msg)])

    pos = skip(0)
    if pos == len(content):
        return
    if content[pos] != "[":
        raise fail("expected a list of objects, one per example", pos)
    pos = skip(pos + 1)
    if pos < len(content) and content[pos] == "]":
        return
    while True:
        start = skip(pos)
        try:
            record, pos = decoder.raw_decode(content, start)
        except json.JSONDecodeError as exc:
            raise fail(exc.msg, exc.pos) from None
        line = content.count("\n", 0, start) + 1
        if isinstance(record, dict):
            yield line, record, None
        else:
            yield line, None, f"expected a JSON object, got {type(record).__name__}"
        pos = skip(pos)
        if pos < len(content) and content[pos] == ",":
            pos += 1
        elif pos < len(content) and content[pos] == "]":
            if skip(pos + 1) != len(content):
                raise fail("extra data after the list", skip(pos + 1))
            return
        else:
            raise fail("expected ',' or ']'", pos)


def _rows_delimited(content: str, shown: str, delimiter: str, spec: _Spec) -> Iterator[_Row]:
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    reader = csv.reader(io.StringIO(content, newline=""), delimiter=delimiter, quoting=quoting)
    header: list[str] | None = None
    previous_end = 0
    try:
        for row in reader:
            start, previous_end = previous_end + 1, reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if header is None:
                header = [cell.strip() for cell in row]
                _check_header(header, shown, spec)
                continue
            if len(row) != len(header):
                yield start, None, f"{len(row)} fields where the header has {len(header)}"
            else:
                yield start, dict(zip(header, row)), None
    except csv.Error as exc:
        line = reader.line_num
        raise DataError(
            f"{shown}: malformed CSV on line {line} ({exc})", path=shown, problems=[(line, str(exc))]
        ) from None


def _check_header(header: list[str], shown: str, spec: _Spec) -> None:
    wanted = spec.text + [c for c in (spec.label, spec.id) if c is not None]
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
    for name in spec.text:
        value, problem = _text_value(record, name)
        if problem:
            problems.append(problem)
        fields[name] = value
    if not problems and not any(fields[name].strip() for name in spec.text):
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

    return dspy.Example(**fields).with_inputs(*spec.text)


def _problem_sentence(shown: str, problems: list[tuple[int, str]], n_rows: int) -> str:
    count = len(problems)
    if count == n_rows and count > 1:
        head = f"all {count} rows have problems"
    else:
        head = f"{count} row has a problem" if count == 1 else f"{count} rows have problems"
    quoted = "; ".join(f"line {line}: {message}" for line, message in problems[:_SHOWN])
    more = f"; and {count - _SHOWN} more" if count > _SHOWN else ""
    return f"{shown}: {head} ({quoted}{more})"
