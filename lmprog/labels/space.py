"""The label space: :class:`Label`, and :class:`LabelSpace` (building, files, identity, the container)."""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

from lmprog.errors import DataError
from lmprog.labels.files import read_label_file
from lmprog.labels.parse import LabelMatcher, ParsedLabels

_BUILD_LOCK = threading.Lock()  # the matching index is built on first use, once


@dataclass(frozen=True)
class Label:
    """One label: its position in the space, its name, and optional description and aliases."""

    id: int
    name: str
    description: str | None = None
    aliases: tuple[str, ...] = ()


# ---------------------------------------------------------------- building labels from user input


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
        self._matcher: LabelMatcher | None = None

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
        items, wheres, keys = read_label_file(path, name=name, description=description, aliases=aliases)
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

    def _matching(self) -> LabelMatcher:
        if self._matcher is None:
            with _BUILD_LOCK:
                if self._matcher is None:
                    self._matcher = LabelMatcher(self._labels, self._by_name)
        return self._matcher

    def resolve(self, text: str, *, fuzzy: bool = True) -> Label | None:
        """The label one candidate string names, or None if it names none or more than one."""
        if not isinstance(text, str) or not text.strip():
            return None
        label_id = self._matching().resolve_id(text, fuzzy)
        return None if label_id is None else self._labels[label_id]

    def parse(self, text: str, *, multi: bool = False, fuzzy: bool = True) -> ParsedLabels:
        """Map an LM answer to label names; see the :mod:`lmprog.labels` docstring for the matching rules.

        With ``multi=False`` the result holds at most one label: the whole answer if it names a
        label, else the first piece that does. Pieces that name no label go to ``unparsed``.
        """
        if text is None:
            return ParsedLabels()
        return self._matching().parse(str(text), multi=multi, fuzzy=fuzzy)
