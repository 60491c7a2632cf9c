"""Typed report sections to and from the plain report data (JSON-able dicts), without loss.

A :class:`Record` has typed fields for what the renderers use. ``from_dict`` keeps every other key
of the data in ``extra`` and remembers which keys the data had, so ``to_dict`` gives back exactly
the dict it was made from: the JSON a report prints is the data it was built from.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from lmprog.errors import ConfigurationError
from lmprog.report.score import Score

R = TypeVar("R", bound="Record")

_BOOKKEEPING = ("extra", "source_keys")


@dataclass
class Record:
    """A section of report data with typed fields; ``extra`` holds the keys no field names."""

    extra: dict[str, Any] = field(default_factory=dict, kw_only=True, repr=False)
    # the keys the data had (None: built in code); a field whose key the data lacked is left out of
    # to_dict() while it keeps its default
    source_keys: frozenset[str] | None = field(default=None, kw_only=True, repr=False, compare=False)

    @classmethod
    def from_dict(cls: type[R], data: Mapping[str, Any] | None, **options: Any) -> R:
        """The record of ``data``; ``options`` set fields that are not data (how to render)."""
        rest = dict(data or {})
        values = {}
        for f in data_fields(cls):
            name = key_of(f)
            if name in rest:
                raw = rest.pop(name)
                load = f.metadata.get("load")
                values[f.name] = load(raw) if load else raw
        return cls(**values, **options, extra=rest, source_keys=frozenset(data or {}) - set(rest))

    def to_dict(self) -> dict[str, Any]:
        """The report data this record stands for."""
        out = {}
        for f in data_fields(type(self)):
            value = getattr(self, f.name)
            if self.source_keys is not None and key_of(f) not in self.source_keys and value == default_of(f):
                continue
            dump = f.metadata.get("dump")
            out[key_of(f)] = dump(value) if dump else value
        out.update(self.extra)
        return out


@dataclass
class Report(Record):
    """A whole report: a record that renders itself (``console.print(report)``, HTML) and prints as JSON."""

    @classmethod
    def from_dict(cls: type[R], data: Mapping[str, Any] | None, **options: Any) -> R:
        return super().from_dict(copy.deepcopy(dict(data or {})), **options)

    def to_dict(self) -> dict[str, Any]:
        return copy.deepcopy(super().to_dict())

    def to_json(self) -> str:
        """The report data as deterministic JSON (see :func:`json_text`)."""
        return json_text(self.to_dict())

    def to_html(self) -> str:
        raise NotImplementedError(f"{type(self).__name__} has no HTML page")

    def write_html(self, path: str | Path) -> Path:
        """Write :meth:`to_html` to ``path`` as UTF-8 and return the path."""
        path = Path(path)
        page = self.to_html()
        try:
            path.write_text(page, encoding="utf-8")
        except OSError as exc:
            raise ConfigurationError(f"cannot write the report to {path}: {exc.strerror or exc}",
                                     path=str(path)) from None
        return path


def json_text(data: Any) -> str:
    """``data`` as deterministic JSON (sorted keys, indent 2, text kept as UTF-8); NaN and infinities
    become null, and anything JSON has no type for becomes its ``str``."""

    def finite(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: finite(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [finite(v) for v in value]
        return value

    return json.dumps(finite(data), sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False, default=str)


# ------------------------------------------------------------------------------ fields


def data_fields(cls: type) -> list[Field]:
    """The fields of ``cls`` that are report data (not bookkeeping, not render options)."""
    return [f for f in fields(cls) if f.name not in _BOOKKEEPING and not f.metadata.get("option")]


def key_of(f: Field) -> str:
    return f.metadata.get("key", f.name)


def default_of(f: Field) -> Any:
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    return MISSING


def named_field(key: str, default: Any = None) -> Any:
    """A field stored under another key in the data (``class`` is not a Python name)."""
    return field(default=default, metadata={"key": key})


def option_field(default: Any) -> Any:
    """A render option: set with ``from_dict(data, name=value)``, never part of the data."""
    return field(default=default, kw_only=True, compare=False, metadata={"option": True})


def _maybe(function: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else function(value)


def record_field(cls: type[Record], *, optional: bool = False) -> Any:
    """A nested section; ``optional``: None by default (a section the data may not have)."""
    metadata = {"load": _maybe(cls.from_dict), "dump": _maybe(lambda r: r.to_dict())}
    if optional:
        return field(default=None, metadata=metadata)
    return field(default_factory=cls, metadata=metadata)


def records_field(cls: type[Record]) -> Any:
    """A list of sections (table rows)."""
    return field(default_factory=list, metadata={"load": _maybe(lambda rows: [cls.from_dict(r) for r in rows]),
                                                 "dump": _maybe(lambda rows: [r.to_dict() for r in rows])})


def score_field(key: str | None = None) -> Any:
    """A :class:`Score` (None when there is none)."""
    metadata = {"load": Score.load, "dump": Score.dump} | ({"key": key} if key else {})
    return field(default=None, metadata=metadata)


def scores_field() -> Any:
    """A name -> :class:`Score` mapping (the metrics of a report)."""
    return field(default_factory=dict, metadata={
        "load": _maybe(lambda values: {k: Score.load(v) for k, v in values.items()}),
        "dump": _maybe(lambda values: {k: Score.dump(v) for k, v in values.items()})})
