"""Prediction output files that a killed run leaves resumable: JSON Lines and Parquet.

    sink = open_sink("out.parquet")   # or out.jsonl
    sink.done                         # rows already written by an earlier run (skip that many inputs)
    sink.write(rows)                  # a list of dicts, durable when it returns
    sink.finish()                     # a Parquet output becomes one file

JSONL: rows are appended and fsynced; a half-written last line left by a kill is cut off and redone.
Parquet cannot be appended to, and a killed writer leaves a file without its footer (unreadable).
So rows go to *part files* in ``out.parquet.parts/``, each written to a temporary name and renamed
into place (a part exists whole or not at all), and :meth:`ParquetSink.finish` streams the parts, one
row group at a time, into ``out.parquet`` (again through a temporary file and a rename) and removes
the folder. Resuming counts the rows of the finished parts. A finished ``out.parquet`` that is
continued with more rows is first moved into the folder as its first part.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from lmprog.errors import ConfigurationError

__all__ = ["JsonlSink", "ParquetSink", "open_sink", "is_parquet_predictions", "remove_output", "parts_folder",
           "rows_of"]

PART_ROWS = 1024  # rows buffered before a part file is written


def open_sink(path: str | os.PathLike):
    """The sink for ``path`` by its suffix: ``.parquet`` or anything else as JSON Lines."""
    path = Path(path)
    return ParquetSink(path) if path.suffix.lower() == ".parquet" else JsonlSink(path)


def parts_folder(path: str | os.PathLike) -> Path:
    path = Path(path)
    return path.with_name(path.name + ".parts")


def remove_output(path: str | os.PathLike) -> None:
    """Delete an output file and (Parquet) its unfinished parts."""
    path = Path(path)
    path.unlink(missing_ok=True)
    shutil.rmtree(parts_folder(path), ignore_errors=True)


class JsonlSink:
    """Rows appended as JSON Lines; ``done`` counts complete lines already there."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.done = _resume_lines(self.path)

    def write(self, rows: list[dict]) -> None:
        with self.path.open("a", encoding="utf-8") as sink:
            for row in rows:
                sink.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
            sink.flush()
            os.fsync(sink.fileno())

    def finish(self) -> Path:
        if not self.path.exists():
            self.path.touch()
        return self.path


def _resume_lines(out: Path) -> int:
    if not out.exists():
        return 0
    content = out.read_bytes()
    complete = content[: content.rfind(b"\n") + 1]
    if len(complete) != len(content):
        with out.open("r+b") as f:
            f.truncate(len(complete))
    return complete.count(b"\n")


class ParquetSink:
    """Rows as Parquet part files, combined into one file by :meth:`finish`; see the module docstring."""

    def __init__(self, path: Path, *, part_rows: int = PART_ROWS):
        _require_pyarrow()
        self.path, self.parts = Path(path), parts_folder(path)
        self.part_rows = part_rows
        self._pending: list[dict] = []
        if self.parts.is_dir() and self.path.exists():  # a finish renamed the file but was stopped before cleaning up
            shutil.rmtree(self.parts)
        for stale in self.parts.glob(".*.tmp") if self.parts.is_dir() else ():
            stale.unlink()
        self.done = _parquet_rows(self.path) if self.path.exists() else sum(
            _parquet_rows(part) for part in self._part_files())

    def write(self, rows: list[dict]) -> None:
        self._pending.extend(rows)
        if len(self._pending) >= self.part_rows:
            self.flush()

    def flush(self) -> None:
        """Write the buffered rows as one part file."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not self._pending:
            return
        self._adopt_finished_file()
        table = pa.Table.from_pylist(self._pending)
        number = len(self._part_files())
        final = self.parts / f"part-{number:06d}.parquet"
        temporary = self.parts / f".part-{number:06d}.tmp"
        pq.write_table(table, temporary)
        _fsync(temporary)
        os.replace(temporary, final)
        self._pending = []

    def finish(self) -> Path:
        """Combine the parts into ``path`` (streamed one row group at a time) and remove the folder."""
        self.flush()
        parts = self._part_files()
        if not parts:
            if not self.path.exists():
                _write_empty(self.path)
            return self.path
        _combine(parts, self.path)
        shutil.rmtree(self.parts)
        return self.path

    def _adopt_finished_file(self) -> None:
        self.parts.mkdir(exist_ok=True)
        if self.path.exists():  # continuing a finished file: it becomes the first part
            os.replace(self.path, self.parts / "part-000000.parquet")

    def _part_files(self) -> list[Path]:
        return sorted(self.parts.glob("part-*.parquet")) if self.parts.is_dir() else []


def _combine(parts: list[Path], path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = [pq.ParquetFile(part) for part in parts]
    schema = pa.unify_schemas([f.schema_arrow for f in files], promote_options="permissive")
    temporary = path.with_name(f".{path.name}.tmp")
    with pq.ParquetWriter(temporary, schema) as writer:
        for file in files:
            for group in range(file.num_row_groups):
                writer.write_table(_conform(file.read_row_group(group), schema))
    _fsync(temporary)
    os.replace(temporary, path)


def _conform(table, schema):
    """``table`` with ``schema``'s columns in its order (a column it lacks is all null), cast to it."""
    import pyarrow as pa

    arrays = [(table.column(f.name) if f.name in table.column_names else pa.nulls(table.num_rows, f.type)).cast(f.type)
              for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


def _write_empty(path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({}), path)


def _parquet_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path).metadata.num_rows
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several kinds for a file that is not Parquet
        raise ConfigurationError(f"{path} is not a readable Parquet file ({exc}); remove it or pass --force") from None


def _fsync(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def is_parquet_predictions(path: Path, field: str) -> bool:
    """A Parquet predictions file lmprog wrote: its columns hold the answer field and confidence (or error)."""
    try:
        import pyarrow.parquet as pq

        names = set(pq.ParquetFile(path).schema_arrow.names)
    except Exception:  # noqa: BLE001 - not Parquet (or no pyarrow): not ours
        return False
    return not names or (field in names and bool({"confidence", "error"} & names))


def _require_pyarrow() -> None:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise ConfigurationError("Parquet files need pyarrow: pip install 'lmprog[parquet]'") from None


def rows_of(record: Mapping, answer: Mapping, *, parquet: bool) -> dict:
    """An output row: the input row and its answer; a JSONL row names ``error`` only when there is one,
    a Parquet row always has the column (so every part has the same columns)."""
    row = {**record, **answer}
    if parquet:
        row.setdefault("error", None)
    elif row.get("error") is None:
        row.pop("error", None)
    return row
