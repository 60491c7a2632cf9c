"""The one row reader: data files, label files and prediction input are all read here.

    for line, record, problem in iter_rows("data.csv"):
        ...

Each row is a :class:`Row` ``(line, record, problem)``. ``line`` is the physical line the row starts on
(lines end at ``\\n``; for CSV/TSV the header is line 1 and a quoted line break counts). ``record`` is
the row: a dict of its fields, or None when the row cannot be read at all. ``problem`` says why the
row cannot be used as it is (a malformed JSON line, a CSV row with the wrong number of fields; that
row keeps the fields it has), or is None. Blank lines are not rows. What makes the whole file
unreadable (no such file, an undecodable byte, a broken JSON list, broken CSV quoting) raises
:class:`FileReadError`, whose ``kind`` says which.

Formats, by suffix (:data:`SUFFIXES`): ``.jsonl`` (one JSON object per line), ``.json`` (a list of
objects), ``.csv`` and ``.tsv`` (a header row; TSV has no quoting, so a field cannot hold a tab or a
line break, unless ``quoted_tsv=True``), ``.parquet`` (read by record batches with pyarrow, the
``parquet`` extra; a row's ``line`` is its number). :func:`iter_rows` streams: it holds one chunk of the file at a time (a ``.json`` list is
the exception: it is parsed whole). :func:`read_rows` decodes the whole file before the first row, so
an encoding error anywhere is reported before any row problem.

A new format is one function ``(source: TextSource) -> Iterator[Row]`` added to ``_FORMATS``; a
binary format (Parquet) reads ``source.path`` itself instead of the decoded text.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

from lmprog.errors import ConfigurationError, DataError

__all__ = ["Row", "FileReadError", "TextSource", "iter_rows", "read_rows", "iter_lines", "check_format", "SUFFIXES"]

_CHUNK = 1 << 20  # bytes decoded at a time when streaming


class Row(NamedTuple):
    """One row of a file: the line it starts on, its fields (None if unreadable), why it is unusable."""

    line: int
    record: Any
    problem: str | None


class FileReadError(DataError):
    """The file as a whole cannot be read as rows.

    ``kind`` is ``"format"`` (unknown suffix), ``"missing"``, ``"unreadable"`` (an OS error),
    ``"encoding"``, ``"syntax"`` (broken JSON or CSV; with ``errors="raise"``, any unreadable row)
    or ``"shape"`` (JSON that is not a list of rows). ``line``, ``offset`` (bytes, for
    ``"encoding"``) and ``detail`` (the parser's own words) say where and what, when known.
    """

    def __init__(self, message: str, *, path: str, kind: str, line: int | None = None,
                 offset: int | None = None, detail: str | None = None,
                 problems: list[tuple[int, str]] | None = None):
        super().__init__(message, path=path, problems=problems)
        self.kind, self.line, self.offset, self.detail = kind, line, offset, detail


@dataclass
class TextSource:
    """A file being read, with the caller's options; formats ask it for decoded lines or text."""

    path: Path
    shown: str
    encoding: str = "utf-8-sig"
    objects: bool = True
    json_key: str | None = None
    on_header: Callable[[list[str]], None] | None = None
    strict: bool = False
    whole_file: bool = False
    quoted_tsv: bool = False

    def chunks(self) -> Iterator[str]:
        """The decoded text, in chunks; a leading byte order mark is dropped."""
        handle = _open(self.path, self.shown)
        with handle:
            chunks = _decode(handle, self.shown, self.encoding, -1 if self.whole_file else _CHUNK)
            if self.whole_file:
                chunks = iter(["".join(chunks)])
            first = True
            for chunk in chunks:
                if first and chunk:
                    chunk, first = chunk.removeprefix("\ufeff"), False
                yield chunk

    def text(self) -> str:
        return "".join(self.chunks())

    def lines(self, *, universal: bool = False) -> Iterator[str]:
        """Lines with their line break: split on ``\\n``, or (``universal``) on ``\\r\\n``, ``\\r`` and ``\\n``."""
        return _split_lines(self.chunks(), universal)

    def row(self, line: int, value: Any) -> Row:
        """A parsed value as a row: with ``objects``, anything but a JSON object is unreadable."""
        if self.objects and not isinstance(value, dict):
            return self.unreadable(line, f"expected a JSON object, got {type(value).__name__}")
        return Row(line, value, None)

    def unreadable(self, line: int, problem: str, detail: str | None = None) -> Row:
        """A row that cannot be read; with ``strict``, the error that stops the file there."""
        if self.strict:
            raise FileReadError(f"{self.shown}: line {line}: {problem}", path=self.shown, kind="syntax", line=line,
                                detail=detail or problem, problems=[(line, problem)])
        return Row(line, None, problem)


# --------------------------------------------------------------------------- the public readers


def check_format(path: str | Path) -> str:
    """The file's suffix, lower-cased; FileReadError (kind ``"format"``) if no format reads it."""
    shown, path = str(path), Path(path)
    suffix = path.suffix.lower()
    if suffix not in _FORMATS:
        raise FileReadError(f"{shown}: unsupported file type {path.suffix or '(none)'!r}; use one of "
                            f"{', '.join(SUFFIXES)}", path=shown, kind="format")
    return suffix


def iter_rows(path: str | Path, *, encoding: str = "utf-8-sig", objects: bool = True, json_key: str | None = None,
              on_header: Callable[[list[str]], None] | None = None, errors: str = "collect",
              whole_file: bool = False, quoted_tsv: bool = False) -> Iterator[Row]:
    """The rows of a .jsonl, .json, .csv or .tsv file, read as they are consumed.

    ``objects=False`` lets a JSON row be any value (a label file's bare strings); ``json_key`` lets a
    .json file be an object holding the list under that key (its rows then have line 0: not known).
    ``on_header(header)`` is called with a CSV/TSV header row (stripped) before the first row; it may
    raise. ``errors="raise"`` raises FileReadError at the first row that cannot be read instead of
    yielding it. ``whole_file=True`` decodes the whole file before the first row. ``quoted_tsv=True``
    reads CSV-style quotes in a .tsv file (label files, often written by spreadsheets, have them; data
    files are read without, so a text may hold a stray quote). The suffix is checked now; the file is
    opened when the first row is asked for.
    """
    suffix = check_format(path)
    if errors not in ("collect", "raise"):
        raise ConfigurationError(f"errors= must be 'collect' or 'raise', not {errors!r}")
    source = TextSource(Path(path), str(path), encoding, objects, json_key, on_header, errors == "raise", whole_file,
                        quoted_tsv)
    return _FORMATS[suffix](source)


def read_rows(path: str | Path, **options: Any) -> list[Row]:
    """Every row of the file (the whole file is decoded first); options as for :func:`iter_rows`."""
    return list(iter_rows(path, whole_file=True, **options))


def iter_lines(path: str | Path, *, encoding: str = "utf-8-sig") -> Iterator[tuple[int, str]]:
    """``(line number, line)`` for each line of a text file, without its line break (``\\n``, ``\\r\\n`` or ``\\r``)."""
    source = TextSource(Path(path), str(path), encoding)
    for number, line in enumerate(source.lines(universal=True), start=1):
        yield number, line.removesuffix("\n").removesuffix("\r")


# --------------------------------------------------------------------------- bytes to text


def _open(path: Path, shown: str) -> BinaryIO:
    try:
        return path.open("rb")
    except FileNotFoundError:
        raise FileReadError(f"{shown} does not exist", path=shown, kind="missing") from None
    except OSError as exc:
        raise _os_error(exc, shown) from None


def _os_error(exc: OSError, shown: str) -> FileReadError:
    reason = exc.strerror or str(exc)
    return FileReadError(f"{shown} cannot be read: {reason}", path=shown, kind="unreadable", detail=reason)


def _decode(handle: BinaryIO, shown: str, encoding: str, size: int) -> Iterator[str]:
    """Decoded chunks of ``size`` bytes (-1: all at once); an undecodable byte is named by offset and line."""
    try:
        b"\n".decode(encoding)  # unknown, or not a text encoding (rot13)
    except UnicodeDecodeError:
        pass  # a text encoding that cannot decode this one byte (utf-16)
    except LookupError:
        raise ConfigurationError(f"unknown text encoding {encoding!r}") from None
    decoder = codecs.getincrementaldecoder(encoding)()
    fed = newlines = 0
    while True:
        try:
            data = handle.read(size)
        except OSError as exc:
            raise _os_error(exc, shown) from None
        fed += len(data)
        newlines += data.count(b"\n")
        try:
            yield decoder.decode(data, final=not data)
        except UnicodeDecodeError as exc:
            raise _encoding_error(exc, fed, newlines, shown, encoding) from None
        if not data:
            return


def _encoding_error(exc: UnicodeDecodeError, fed: int, newlines: int, shown: str, encoding: str) -> FileReadError:
    # exc.object is the tail of the bytes fed so far (a decoder's held-back bytes, then this chunk;
    # less a byte order mark it skipped), so the offset in the file is counted back from ``fed``.
    tail = exc.object[exc.start:]
    offset = fed - len(tail)
    line = newlines - tail.count(b"\n") + 1
    return FileReadError(
        f"{shown} is not valid {encoding} text: byte 0x{tail[0]:02x} at byte offset {offset} (line {line}); "
        "re-save the file as UTF-8 or pass encoding=",
        path=shown, kind="encoding", line=line, offset=offset, problems=[(line, f"invalid byte at offset {offset}")],
    )


def _split_lines(chunks: Iterable[str], universal: bool) -> Iterator[str]:
    pending = ""
    for chunk in chunks:
        if not chunk:
            continue
        lines = list(io.StringIO(pending + chunk, newline="" if universal else "\n"))
        pending = lines.pop()  # may go on in the next chunk (a trailing "\r" may be half of "\r\n")
        yield from lines
        if pending.endswith("\n"):
            yield pending
            pending = ""
    if pending:
        yield pending


# --------------------------------------------------------------------------- formats


def _jsonl(source: TextSource) -> Iterator[Row]:
    for number, physical in enumerate(source.lines(), start=1):
        line = physical.removesuffix("\n").rstrip("\r")
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            detail = f"{exc.msg} at column {exc.colno}"
            yield source.unreadable(number, f"malformed JSON ({detail})", detail)
            continue
        yield source.row(number, value)


def _delimited(source: TextSource, delimiter: str) -> Iterator[Row]:
    quoting = csv.QUOTE_NONE if delimiter == "\t" and not source.quoted_tsv else csv.QUOTE_MINIMAL
    reader = csv.reader(source.lines(universal=True), delimiter=delimiter, quoting=quoting)
    header: list[str] | None = None
    previous_end = 0
    try:
        for cells in reader:
            start, previous_end = previous_end + 1, reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if header is None:
                header = [cell.strip() for cell in cells]
                if source.on_header is not None:
                    source.on_header(header)
                continue
            problem = None if len(cells) == len(header) else f"{len(cells)} fields where the header has {len(header)}"
            yield Row(start, dict(zip(header, cells)), problem)
    except csv.Error as exc:
        line = reader.line_num
        raise FileReadError(f"{source.shown}: malformed CSV on line {line} ({exc})", path=source.shown,
                            kind="syntax", line=line, detail=str(exc), problems=[(line, str(exc))]) from None


def _parquet(source: TextSource) -> Iterator[Row]:
    """Rows of a Parquet file, one record batch at a time (``line`` is the row's number, from 1)."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ConfigurationError("Parquet files need pyarrow: pip install 'lmprog[parquet]'") from None
    if not source.path.exists():
        raise FileReadError(f"{source.shown} does not exist", path=source.shown, kind="missing")
    try:
        batches = pq.ParquetFile(source.path).iter_batches(batch_size=4096)
        number = 0
        for batch in batches:
            for record in batch.to_pylist():
                number += 1
                yield Row(number, record, None)
    except OSError as exc:
        raise _os_error(exc, source.shown) from None
    except Exception as exc:  # noqa: BLE001 - pyarrow's ArrowInvalid for a file that is not Parquet
        raise FileReadError(f"{source.shown} is not a readable Parquet file ({exc})", path=source.shown,
                            kind="syntax", detail=str(exc)) from None


_FORMATS: dict[str, Callable[[TextSource], Iterator[Row]]] = {
    ".jsonl": _jsonl,
    ".json": lambda source: _JsonList(source).rows(),
    ".csv": lambda source: _delimited(source, ","),
    ".tsv": lambda source: _delimited(source, "\t"),
    ".parquet": _parquet,
}
SUFFIXES = tuple(_FORMATS)


class _JsonList:
    """The values of a top-level JSON list, each with the line its first character is on."""

    _decoder = json.JSONDecoder()

    def __init__(self, source: TextSource):
        self.source = source
        self.content = ""

    def skip(self, pos: int) -> int:
        content = self.content
        while pos < len(content) and content[pos] in " \t\r\n":
            pos += 1
        return pos

    def fail(self, message: str, pos: int, kind: str = "syntax") -> FileReadError:
        line = self.content.count("\n", 0, pos) + 1
        shown = self.source.shown
        return FileReadError(f"{shown}: malformed JSON on line {line} ({message})", path=shown, kind=kind, line=line,
                             detail=message, problems=[(line, message)])

    def decode(self, pos: int) -> tuple[Any, int]:
        try:
            return self._decoder.raw_decode(self.content, pos)
        except json.JSONDecodeError as exc:
            raise self.fail(exc.msg, exc.pos) from None

    def rows(self) -> Iterator[Row]:
        self.content = content = self.source.text()
        pos = self.skip(0)
        if pos == len(content):
            return
        if content[pos] == "{" and self.source.json_key is not None:
            yield from self.wrapped(pos)
            return
        if content[pos] != "[":
            raise self.fail("expected a list of objects, one per example", pos, "shape")
        pos = self.skip(pos + 1)
        if pos < len(content) and content[pos] == "]":
            if self.skip(pos + 1) != len(content):
                raise self.fail("extra data after the list", self.skip(pos + 1))
            return
        while True:
            start = self.skip(pos)
            value, pos = self.decode(start)
            yield self.source.row(content.count("\n", 0, start) + 1, value)
            pos = self.skip(pos)
            if pos < len(content) and content[pos] == ",":
                pos += 1
            elif pos < len(content) and content[pos] == "]":
                if self.skip(pos + 1) != len(content):
                    raise self.fail("extra data after the list", self.skip(pos + 1))
                return
            else:
                raise self.fail("expected ',' or ']'", pos)

    def wrapped(self, pos: int) -> Iterator[Row]:
        document, end = self.decode(pos)
        if self.skip(end) != len(self.content):
            raise self.fail("extra data after the object", self.skip(end))
        values = document.get(self.source.json_key)
        if not isinstance(values, list):
            raise self.fail(f"expected a list of rows or an object with a {self.source.json_key!r} list", pos, "shape")
        for value in values:
            yield self.source.row(0, value)
