"""The labelled file a person's answers go to: rows serialized in its own format, written so a kill loses nothing.

Only two changes are ever made, and both are idempotent, so an answer can be applied again after a
crash without writing it twice (:meth:`LabelledFile.ensure`):

- **append** a row's text (one JSON line, or one CSV/TSV record) unless that exact text is already a
  row of the file; a torn append left by a kill (a partial last row with no line break) is cut off
  first. The write is flushed and fsynced before it returns.
- **replace** a row's text by another (a corrected label, a changed answer): the file is written to a
  temporary file in the same folder, fsynced and renamed over the original, so it is either the old
  or the new file, never half of each.

Formats: ``.jsonl``, ``.csv`` and ``.tsv`` (a ``.json`` list or Parquet cannot be appended to safely).
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from lmprog.errors import ConfigurationError, DataError

WRITABLE = (".jsonl", ".csv", ".tsv")
MULTI_SEPARATOR = "|"  # how a CSV/TSV cell holds several labels unless the task names another separator


class LabelledFile:
    """A labelled data file (``.jsonl``, ``.csv``, ``.tsv``) that answers are appended to or corrected in."""

    def __init__(self, path: str | os.PathLike, *, columns: list[str], separator: str | None = None):
        self.path = Path(path)
        self.separator = separator or MULTI_SEPARATOR
        self.suffix = self.path.suffix.lower()
        if self.suffix not in WRITABLE:
            raise ConfigurationError(f"answers cannot be written to {self.path}: lmprog appends labelled rows to "
                                     f"{', '.join(WRITABLE)} files (convert it, or point [data] train at one)")
        self.columns = list(columns)
        self.header = self._read_header() if self.suffix != ".jsonl" else None
        if self.header is not None:
            missing = [c for c in columns if c not in self.header]
            if missing and self._torn():
                self.header = None
            elif missing:
                raise DataError(f"{self.path} has no column {missing[0]!r}; its header is {', '.join(self.header)}")
        self.columns = self.header or self.columns

    def _read_header(self) -> list[str] | None:
        if not self.path.exists() or self.path.stat().st_size == 0:
            return None
        with self.path.open(encoding="utf-8-sig", newline="") as handle:
            first = next(csv.reader(handle, delimiter="\t" if self.suffix == ".tsv" else ","), None)
        return [c.strip() for c in first] if first else None

    def _torn(self) -> bool:
        """Whether the file is only the start of the header lmprog writes first (a kill tore its first write)."""
        content = self.read()
        return not content.endswith("\n") and self.header_text().startswith(content)

    # -- rows as text ---------------------------------------------------------------------------

    def text_of(self, record: Mapping) -> str:
        """One row as this file writes it, with its line break (a cell holding a label list is ``a|b``)."""
        if self.suffix == ".jsonl":
            return json.dumps(dict(record), ensure_ascii=False) + "\n"
        cells = [_cell(record.get(column), self.separator) for column in self.columns]
        if self.suffix == ".tsv":
            bad = next((c for c in cells if any(ch in c for ch in "\t\n\r")), None)
            if bad is not None:
                raise DataError(f"a TSV file cannot hold a tab or a line break inside a field: {bad[:60]!r}")
            return "\t".join(cells) + "\n"
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerow(cells)
        return out.getvalue()

    def header_text(self) -> str:
        return self.text_of(dict(zip(self.columns, self.columns))) if self.suffix != ".jsonl" else ""

    # -- changes ----------------------------------------------------------------------------------

    def ensure(self, wanted: str | None, stale: Iterable[str] = (), *, append: bool = True) -> str:
        """Make ``wanted`` a row of the file and no ``stale`` text one, changing as little as needed.

        The first stale row found is replaced by ``wanted`` (other stale rows are removed); without
        one, ``wanted`` is appended if it is not already there (``append=False``: that is an error,
        the row to correct is gone). Returns what was done: ``"present"``, ``"appended"``,
        ``"replaced"``; raises DataError when nothing can be done."""
        content = self.read()
        stale = [s for s in dict.fromkeys(stale) if s and s != wanted and _find(content, s) >= 0]
        if stale:
            self._rewrite(content, wanted, stale)
            return "replaced"
        if wanted is None or _find(content, wanted) >= 0:
            return "present"
        if not append:
            raise DataError(f"the row to correct is no longer in {self.path}: {wanted.strip()[:80]!r}")
        self._append(content, wanted)
        return "appended"

    def read(self) -> str:
        try:
            return self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return ""
        except UnicodeDecodeError as exc:
            raise DataError(f"{self.path} is not UTF-8 text ({exc}); answers are only written to UTF-8 files") from None

    def _append(self, content: str, text: str) -> None:
        created, prefix = not self.path.exists(), ""
        if content and not content.endswith("\n") and (self.header_text() + text).startswith(content):
            self._truncate(0)  # the file's first write (header and row), torn by a kill: write it whole
            content = ""
        if not content and self.suffix != ".jsonl":
            prefix = self.header_text()
        elif content and not content.endswith("\n"):
            last = content[content.rfind("\n") + 1:]
            if text.startswith(last):  # our own append, torn by a kill: cut it off and write it whole
                self._truncate(len(content.encode("utf-8")) - len(last.encode("utf-8")))
            else:  # a file whose last row has no line break
                prefix = "\n"
        with self.path.open("a", encoding="utf-8", newline="") as handle:
            handle.write(prefix + text)
            handle.flush()
            os.fsync(handle.fileno())
        if created:
            fsync_folder(self.path.parent)

    def _truncate(self, size: int) -> None:
        with self.path.open("r+b") as handle:
            handle.truncate(size)
            handle.flush()
            os.fsync(handle.fileno())

    def _rewrite(self, content: str, wanted: str | None, stale: list[str]) -> None:
        first, *others = stale
        start, end = _span(content, first)
        keep = wanted if wanted is not None and _span(content, wanted) is None else ""
        content = content[:start] + keep + content[end:]
        for text in others:
            found = _span(content, text)
            if found is not None:
                content = content[:found[0]] + content[found[1]:]
        replace_file(self.path, content)


def replace_file(path: Path, content: str) -> None:
    """Write ``content`` to ``path`` atomically: a temporary file beside it, fsynced, renamed into place."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        if path.exists():
            os.chmod(temporary, path.stat().st_mode & 0o777)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    fsync_folder(path.parent)


def fsync_folder(folder: Path) -> None:
    """Make a created or renamed file's directory entry durable (a no-op where folders cannot be opened)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def _span(content: str, text: str) -> tuple[int, int] | None:
    """Where ``text`` (a row, normally with its line break) is a whole row of ``content``: start and end
    (after its line break); None if it is not. The file's last row may lack its line break."""
    bare = text.rstrip("\r\n")
    start = 0
    while (at := content.find(bare, start)) >= 0:
        end = at + len(bare)
        if at == 0 or content[at - 1] == "\n":
            if content.startswith("\r\n", end):
                return at, end + 2
            if end == len(content) or content[end] == "\n":
                return at, min(end + 1, len(content))
        start = at + 1
    return None


def _find(content: str, text: str) -> int:
    found = _span(content, text)
    return -1 if found is None else found[0]


def _cell(value, separator: str) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return separator.join(str(v) for v in value)
    return str(value)
