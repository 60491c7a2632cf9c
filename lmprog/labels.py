"""The label space of a task: ids, names, descriptions, aliases; loading; mapping LM text to labels.

A :class:`LabelSpace` is built from a list (``LabelSpace(["ham", "spam"])``) or a file
(:meth:`LabelSpace.from_file`: .txt, .csv, .tsv, .json, .jsonl). It is immutable; its ``hash``
identifies the content (names, descriptions and aliases, in order) in artifacts.

:meth:`LabelSpace.parse` turns an LM answer into label names. It tries, from strict to loose:
the exact name; the normalized name (casefolded, whitespace collapsed, surrounding quotes,
punctuation and markdown stripped, typographic quotes and dashes folded); a normalized alias;
the name or alias with all punctuation folded to spaces; and finally a close fuzzy match (optimal
string alignment distance, about one edit per six characters, at least four characters long)
that must point to exactly one label. A piece that is ambiguous at some step, or matches
nothing, is reported in ``unparsed``; it is never mapped to an arbitrary label.
"""

from __future__ import annotations

import ast
import csv
import hashlib
import io
import json
import re
import threading
import unicodedata
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

from rapidfuzz import process
from rapidfuzz.distance import OSA

from lmprog.errors import DataError

__all__ = ["Label", "LabelSpace", "ParsedLabels"]


@dataclass(frozen=True)
class Label:
    """One label: its position in the space, its name, and optional description and aliases."""

    id: int
    name: str
    description: str | None = None
    aliases: tuple[str, ...] = ()


@dataclass
class ParsedLabels:
    """What :meth:`LabelSpace.parse` found in an answer.

    ``labels`` holds matched label names in answer order without duplicates; ``unparsed`` holds
    the pieces of the answer that matched no label (or more than one).
    """

    labels: list[str] = field(default_factory=list)
    unparsed: list[str] = field(default_factory=list)

    @property
    def label(self) -> str | None:
        """The first label, or None when nothing matched."""
        return self.labels[0] if self.labels else None


# --------------------------------------------------------------------------------------------
# Text normalization


_FOLD = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2212": "-",
    "_": " ",
})
# Characters stripped from both ends of a candidate (never '+' or '#': "C++", "C#").
_EDGE = " \t\r\n\"'`.,;:!?*~()[]{}<>"
_NON_ALNUM = re.compile(r"[\W_]+")
_LIST_MARKER = re.compile(r"^\s*(?:\(?\d{1,3}[.)]|[-*\u2022+\u2023\u25e6\u00b7])\s+")
_PREFIX = re.compile(
    r"^\s*(?:(?:the|my)\s+)?(?:final\s+|predicted\s+|correct\s+)?"
    r"(?:answer|label|category|class|classification|intent|prediction|output|result|skill|tag)s?"
    r"(?:\s*\([^)]*\))?(?:\s+(?:is|are)\b\s*:?|\s*[:=]|\s+-)\s*",
    re.IGNORECASE,
)
_DSPY_MARKER = re.compile(r"^\s*\[\[\s*##\s*\w+\s*##\s*\]\]\s*$")
_FENCE = re.compile(r"^\s*```[\w-]*\s*\n?(.*?)\n?\s*```\s*$", re.DOTALL)
_SEPARATORS = re.compile(r"([,;])")
_JSON_KEYS = ("labels", "label", "answers", "answer", "categories", "category", "classes", "class",
              "intents", "intent", "predictions", "prediction", "skills", "skill", "output", "result", "name")


def _key(text: str) -> str:
    """Normalized form: NFKC, typographic quotes and dashes folded, '_' read as a space,
    casefolded, whitespace collapsed, quotes, punctuation and markdown stripped from both ends."""
    if text.isascii():
        folded = text.replace("_", " ").lower()
    else:
        folded = unicodedata.normalize("NFKC", text).translate(_FOLD).casefold()
    return " ".join(folded.split()).strip(_EDGE)


def _loose(key: str) -> str:
    """A normalized key with every run of non-alphanumeric characters turned into one space."""
    if key.isascii() and key.replace(" ", "").isalnum():
        return key
    return _NON_ALNUM.sub(" ", key).strip()


def _clean(piece: str) -> str:
    """Strip a list marker, markdown emphasis and an 'Answer:'-style prefix from one piece."""
    piece = piece.strip().replace("**", "").replace("__", "")
    piece = _LIST_MARKER.sub("", piece, count=1)
    piece = _PREFIX.sub("", piece, count=1)
    return piece.strip()


def _only_prefix_differs(a: str, b: str) -> bool:
    """True when one string is the other with something put in front (a negation such as
    "un", "non-", "not "), which a fuzzy match must not bridge."""
    return a != b and (a.endswith(b) or b.endswith(a))


def _fuzzy_budget(length: int) -> int:
    """Edits allowed for a fuzzy match of a candidate of this length (0: no fuzzy match)."""
    return 0 if length < 4 else min(4, max(1, length // 6))


_AMBIGUOUS = -1
_FUZZY_ALIAS_LIMIT = 20_000  # above this many name and alias keys, fuzzy matching uses names only
_FUZZY_CACHE_SIZE = 4096
_BUILD_LOCK = threading.Lock()  # the matching index is built on first use, once


def _add(table: dict[str, int], key: str, label_id: int) -> None:
    if not key:
        return
    previous = table.get(key)
    if previous is None:
        table[key] = label_id
    elif previous != label_id:
        table[key] = _AMBIGUOUS


# --------------------------------------------------------------------------------------------
# Building labels from user input


def _split_aliases(value: Any, separator: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return value.split(separator) if separator else [value]
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value if v is not None]
    return [str(value)]


def _make_label(index: int, item: str | Label | Mapping, where: str, separator: str = "|",
                keys: tuple[str, str | None, str | None] = ("name", "description", "aliases")) -> Label:
    name_key, description_key, aliases_key = keys
    if isinstance(item, Label):
        name, description, aliases = item.name, item.description, list(item.aliases)
    elif isinstance(item, str):
        name, description, aliases = item, None, []
    elif isinstance(item, Mapping):
        if name_key not in item:
            raise DataError(f"{where}: label has no {name_key!r} field (fields: {', '.join(map(str, item)) or 'none'})")
        name = item[name_key]
        description = item.get(description_key) if description_key else None
        aliases = _split_aliases(item.get(aliases_key) if aliases_key else None, separator)
    else:
        raise DataError(f"{where}: a label must be a string, a Label or a mapping, not {type(item).__name__}")
    if name is None or not isinstance(name, (str, int, float)):
        raise DataError(f"{where}: label name must be a string, not {type(name).__name__}")
    name = str(name).strip()
    if not name:
        raise DataError(f"{where}: empty label name")
    if "\n" in name or "\r" in name:
        raise DataError(f"{where}: label name {name!r} has a line break; a label name is one line")
    if description is not None:
        description = str(description).strip() or None
    cleaned: list[str] = []
    for alias in aliases:
        alias = str(alias).strip()
        if alias and alias != name and alias not in cleaned:
            cleaned.append(alias)
    return Label(id=index, name=name, description=description, aliases=tuple(cleaned))


def _check_unique(labels: Sequence[Label], wheres: Sequence[str], path: str | None) -> None:
    seen: dict[str, int] = {}
    for label, where in zip(labels, wheres):
        first = seen.setdefault(label.name, label.id)
        if first != label.id:
            raise DataError(f"{where}: duplicate label name {label.name!r} (first at {wheres[first]})",
                            path=path)


# --------------------------------------------------------------------------------------------
# Reading files


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


_FORMATS = (".txt", ".csv", ".tsv", ".json", ".jsonl")


# --------------------------------------------------------------------------------------------
# The label space


class LabelSpace:
    """An ordered, immutable set of labels; ``id`` is each label's position.

    ``labels`` may hold strings (names), :class:`Label` objects (their ``id`` is replaced by the
    position) or mappings with ``name`` and optional ``description`` and ``aliases`` (a list, or
    a string split on ``"|"``). Names are stripped; an empty or repeated name raises
    :class:`~lmprog.errors.DataError`.
    """

    def __init__(self, labels: Iterable[str | Label | Mapping], *, source: str | None = None):
        items = list(labels)
        where = source or "labels"
        wheres = [f"{where}: label {i + 1}" for i in range(len(items))]
        self._setup([_make_label(i, item, wheres[i]) for i, item in enumerate(items)], wheres, source)

    def _setup(self, labels: list[Label], wheres: list[str], source: str | None, path: str | None = None) -> None:
        if not labels:
            raise DataError(f"{source or 'the label list'} has no labels", path=path)
        _check_unique(labels, wheres, path)
        self.source = source
        self._labels = tuple(labels)
        self._names = tuple(label.name for label in labels)
        self._by_name = {name: i for i, name in enumerate(self._names)}
        self._index_built = False

    # ----------------------------------------------------------------------------- loading

    @classmethod
    def from_file(cls, path: str | Path, *, name: str = "name", description: str | None = None,
                  aliases: str | None = None, alias_separator: str = "|") -> "LabelSpace":
        """Load labels from .txt (one per line), .csv/.tsv (header row), .json or .jsonl.

        ``name``, ``description`` and ``aliases`` choose the columns (or JSON fields). When
        ``description`` or ``aliases`` is None, a column called "description" or "aliases" is
        used if the file has one. Alias cells are split on ``alias_separator``.
        """
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix not in _FORMATS:
            raise DataError(f"{path.name}: unknown label file type {suffix or '(none)'!r}; "
                            f"use one of {', '.join(_FORMATS)}", path=str(path))
        text = _read_text(path)
        if suffix in (".csv", ".tsv"):
            delimiter = "," if suffix == ".csv" else "\t"
            columns = {"name": name, "description": description, "aliases": aliases}
            items, wheres = _read_table(path, text, delimiter, columns)
            keys = ("name", "description", "aliases")
        else:
            if suffix == ".txt":
                items, wheres = _read_txt(path, text)
            elif suffix == ".json":
                items, wheres = _read_json(path, text)
            else:
                items, wheres = _read_jsonl(path, text)
            keys = (name, description or "description", aliases or "aliases")
            _check_fields(path, items, {"description": description, "aliases": aliases})
        labels = [_make_label(i, item, wheres[i], alias_separator, keys) for i, item in enumerate(items)]
        space = cls.__new__(cls)
        space._setup(labels, wheres, str(path), path=str(path))
        return space

    @classmethod
    def from_dict(cls, data: Mapping) -> "LabelSpace":
        """Rebuild a space saved with :meth:`to_dict`; a stored ``hash`` must match the content."""
        if not isinstance(data, Mapping) or not isinstance(data.get("labels"), list):
            raise DataError("a saved label space must be an object with a \"labels\" list")
        space = cls(data["labels"], source=data.get("source"))
        expected = data.get("hash")
        if expected is not None and expected != space.hash:
            raise DataError(f"saved label space hash {str(expected)[:12]} does not match its labels "
                            f"({space.hash[:12]}); the artifact was edited or is damaged")
        return space

    def to_dict(self) -> dict:
        """Plain JSON-able form; :meth:`from_dict` gives back an equal space with the same hash."""
        labels = []
        for label in self._labels:
            entry: dict[str, Any] = {"name": label.name}
            if label.description is not None:
                entry["description"] = label.description
            if label.aliases:
                entry["aliases"] = list(label.aliases)
            labels.append(entry)
        return {"labels": labels, "source": self.source, "hash": self.hash}

    # ----------------------------------------------------------------------------- container

    @property
    def names(self) -> list[str]:
        return list(self._names)

    @property
    def labels(self) -> tuple[Label, ...]:
        return self._labels

    def __len__(self) -> int:
        return len(self._labels)

    def __iter__(self) -> Iterator[Label]:
        return iter(self._labels)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._by_name

    def __getitem__(self, key: int | str) -> Label:
        if isinstance(key, str):
            if key in self._by_name:
                return self._labels[self._by_name[key]]
            raise KeyError(f"no label named {key!r}")
        if isinstance(key, int) and not isinstance(key, bool) and 0 <= key < len(self._labels):
            return self._labels[key]
        raise KeyError(f"no label with id {key!r} (ids are 0..{len(self._labels) - 1})")

    def index(self, name: str) -> int:
        """The id of the label with exactly this name; KeyError otherwise."""
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"no label named {name!r}") from None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LabelSpace) and self._labels == other._labels

    def __hash__(self) -> int:
        return hash(self.hash)

    def __repr__(self) -> str:
        shown = ", ".join(repr(n) for n in self._names[:5])
        more = f", ... ({len(self)} labels)" if len(self) > 5 else ""
        return f"LabelSpace([{shown}{more}])"

    @cached_property
    def hash(self) -> str:
        """sha256 hex of the names, descriptions and aliases, in order."""
        content = [[label.name, label.description, list(label.aliases)] for label in self._labels]
        blob = json.dumps(content, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(("lmprog.labels/1\n" + blob).encode("utf-8")).hexdigest()

    def describe(self, limit: int | None = None) -> str:
        """The label list as shown to an LM: one "- name: description" line per label."""
        shown = self._labels if limit is None else self._labels[:max(0, limit)]
        lines = [f"- {label.name}: {label.description}" if label.description else f"- {label.name}"
                 for label in shown]
        if len(shown) < len(self._labels):
            lines.append(f"- ... ({len(self._labels) - len(shown)} more labels not shown)")
        return "\n".join(lines)

    # ----------------------------------------------------------------------------- matching

    def _build_index(self) -> None:
        names: dict[str, int] = {}
        aliases: dict[str, int] = {}
        loose_names: dict[str, int] = {}
        loose_aliases: dict[str, int] = {}
        for label in self._labels:
            key = _key(label.name)
            _add(names, key, label.id)
            _add(loose_names, _loose(key), label.id)
            for alias in label.aliases:
                key = _key(alias)
                _add(aliases, key, label.id)
                _add(loose_aliases, _loose(key), label.id)
        # Fuzzy candidates: names win over aliases; ambiguous keys stay in, so that a near miss
        # of an ambiguous alias is itself ambiguous rather than mapped to a neighbour. In a large
        # space (ESCO: 13,891 names, 96,000 aliases) only names are fuzzy-matched, to keep a miss
        # to about a millisecond; aliases still match exactly and normalized.
        if len(names) + len(aliases) <= _FUZZY_ALIAS_LIMIT:
            fuzzy = {**aliases, **names}
        else:
            fuzzy = {**{k: v for k, v in aliases.items() if v == _AMBIGUOUS}, **names}
        buckets: dict[int, tuple[list[str], list[int]]] = {}
        for key, label_id in fuzzy.items():
            keys, ids = buckets.setdefault(len(key), ([], []))
            keys.append(key)
            ids.append(label_id)
        span = max((len(_SEPARATORS.findall(k)) for table in (names, aliases) for k in table), default=0)
        self._max_key_length = max(buckets, default=0)
        self._fuzzy_cache: dict[str, int | None] = {}
        self._tables = (names, aliases, loose_names, loose_aliases)
        self._buckets = buckets
        self._max_span = 2 * span + 1  # parts (pieces and separators) a name may cover
        self._index_built = True

    def _lookup(self, text: str) -> int | None:
        """Exact, normalized, alias and loose matching of one candidate.

        Returns a label id, ``_AMBIGUOUS`` when the first step that matches points to several
        labels, or None.
        """
        if not self._index_built:
            with _BUILD_LOCK:
                if not self._index_built:
                    self._build_index()
        label_id = self._by_name.get(text)
        if label_id is not None:
            return label_id
        cleaned = _clean(text)
        keys = (_key(text), _key(cleaned)) if cleaned != text else (_key(text),)
        names, aliases, loose_names, loose_aliases = self._tables
        for table in (names, aliases):
            for key in keys:
                label_id = table.get(key)
                if label_id is not None:
                    return label_id
        loose = {_loose(k) for k in keys}
        for table in (loose_names, loose_aliases):
            for key in loose:
                label_id = table.get(key)
                if label_id is not None:
                    return label_id
        return None

    def _fuzzy(self, text: str) -> int | None:
        """The single label within the edit budget of the candidate, or None (cached)."""
        key = _key(_clean(text))
        if key in self._fuzzy_cache:
            return self._fuzzy_cache[key]
        label_id = self._fuzzy_search(key)
        if len(self._fuzzy_cache) >= _FUZZY_CACHE_SIZE:
            self._fuzzy_cache.pop(next(iter(self._fuzzy_cache), None), None)
        self._fuzzy_cache[key] = label_id
        return label_id

    def _fuzzy_search(self, key: str) -> int | None:
        budget = _fuzzy_budget(len(key))
        if not budget or len(key) > self._max_key_length + budget:
            return None
        best, found = budget + 1, set()
        for length in range(len(key) - budget, len(key) + budget + 1):
            bucket = self._buckets.get(length)
            if bucket is None:
                continue
            keys, ids = bucket
            for choice, distance, position in process.extract(key, keys, scorer=OSA.distance,
                                                               score_cutoff=min(budget, best), limit=None):
                if _only_prefix_differs(key, choice):  # "unresponsive" is not "responsive"
                    continue
                if distance < best:
                    best, found = distance, {ids[position]}
                elif distance == best:
                    found.add(ids[position])
        label_id = found.pop() if len(found) == 1 else _AMBIGUOUS
        return None if label_id == _AMBIGUOUS else label_id

    def resolve(self, text: str, *, fuzzy: bool = True) -> Label | None:
        """The label one candidate string names, or None if it names none or more than one."""
        if not isinstance(text, str) or not text.strip():
            return None
        label_id = self._resolve_id(text, fuzzy)
        return None if label_id is None else self._labels[label_id]

    def parse(self, text: str, *, multi: bool = False, fuzzy: bool = True) -> ParsedLabels:
        """Map an LM answer to label names; see the module docstring for the matching rules.

        With ``multi=False`` the result holds at most one label: the whole answer if it names a
        label, else the first piece that does. Pieces that name no label go to ``unparsed``.
        """
        if text is None:
            return ParsedLabels()
        text = str(text)
        found: list[int] = []
        unparsed: list[str] = []
        fenced = _FENCE.match(text)
        body = fenced.group(1) if fenced else text
        candidates = _json_candidates(body)
        if candidates is None:
            self._parse_text(body, found, unparsed, fuzzy)
        else:
            for candidate in candidates:
                self._parse_text(candidate, found, unparsed, fuzzy)
        labels = list(dict.fromkeys(self._names[i] for i in found))
        return ParsedLabels(labels=labels[:1] if not multi else labels, unparsed=unparsed)

    def _parse_text(self, text: str, found: list[int], unparsed: list[str], fuzzy: bool) -> None:
        label_id = self._lookup(text)
        if label_id is not None and label_id != _AMBIGUOUS:
            found.append(label_id)
            return
        lines = [line for line in text.splitlines() if line.strip() and not _DSPY_MARKER.match(line)]
        if len(lines) > 1:
            for line in lines:
                self._parse_line(line, found, unparsed, fuzzy)
        elif lines:
            self._parse_line(lines[0], found, unparsed, fuzzy, whole_tried=True)

    def _parse_line(self, line: str, found: list[int], unparsed: list[str], fuzzy: bool,
                    whole_tried: bool = False) -> None:
        line = _clean(line)
        if not whole_tried:
            label_id = self._lookup(line)
            if label_id is not None and label_id != _AMBIGUOUS:
                found.append(label_id)
                return
        parts = _SEPARATORS.split(line)  # piece, sep, piece, sep, ..., piece
        line_found: list[int] = []
        line_unparsed: list[str] = []
        misses: list[str] = []  # a run of consecutive pieces that matched nothing, with separators

        def flush() -> None:
            if misses:
                self._resolve_misses(misses, line_found, line_unparsed, fuzzy)
                misses.clear()

        i = 0
        while i < len(parts):  # longest exact match first, so names with commas stay whole
            matched = None
            for end in range(min(len(parts), i + self._max_span), i, -2):
                label_id = self._lookup("".join(parts[i:end]))
                if label_id is not None and label_id != _AMBIGUOUS:
                    matched = (label_id, end)
                    break
            if matched is None:
                if misses:
                    misses.append(parts[i - 1])
                misses.append(parts[i])
                i += 2
            else:
                flush()
                line_found.append(matched[0])
                i = matched[1] + 1
        flush()
        if line_unparsed and fuzzy and 1 < len(parts) <= self._max_span:
            label_id = self._fuzzy(line)  # the whole line may be one misspelt name with a comma
            if label_id is not None:
                line_found, line_unparsed = [label_id], []
        found.extend(line_found)
        unparsed.extend(line_unparsed)

    def _resolve_misses(self, misses: list[str], found: list[int], unparsed: list[str], fuzzy: bool) -> None:
        """Resolve pieces that matched nothing exactly: each on its own, else the run as one name."""
        pieces = [p for p in misses[::2] if p.strip(_EDGE)]
        ids = [self._resolve_id(piece, fuzzy) for piece in pieces]
        if None in ids and fuzzy and 1 < len(misses) <= self._max_span:
            label_id = self._fuzzy("".join(misses))
            if label_id is not None:
                found.append(label_id)
                return
        for piece, label_id in zip(pieces, ids):
            if label_id is None:
                unparsed.append(piece.strip())
            else:
                found.append(label_id)

    def _resolve_id(self, text: str, fuzzy: bool) -> int | None:
        label_id = self._lookup(text)
        if label_id is None and fuzzy:
            label_id = self._fuzzy(text)
        return None if label_id == _AMBIGUOUS else label_id


def _json_candidates(text: str) -> list[str] | None:
    """The label strings in a JSON (or Python literal) answer; None if the answer is not one."""
    stripped = text.strip()
    if not stripped or stripped[0] not in "[{":
        return None
    try:
        data = json.loads(stripped)
    except ValueError:
        try:
            data = ast.literal_eval(stripped)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return None
    if not isinstance(data, (list, dict)):
        return None
    out: list[str] = []
    _collect(data, out)
    return out


def _collect(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        out.append(str(value))
    elif isinstance(value, (list, tuple)):
        for item in value:
            _collect(item, out)
    elif isinstance(value, dict):
        keys = [k for k in _JSON_KEYS if k in value]
        if keys:
            _collect(value[keys[0]], out)
        else:
            for item in value.values():
                if isinstance(item, (str, list)):
                    _collect(item, out)
