"""pandas DataFrames in and out (the ``parquet`` extra): rows read from a frame as from a file, answers added back.

A DataFrame is accepted wherever examples or rows are (``load_examples`` / ``Task.read_examples``, so
``evaluate``, ``distill`` and the jobs built on them), and ``CompiledProgram.predict(frame)`` and
``Distilled.predict(frame)`` answer with a DataFrame: the frame's columns plus the answer columns.
pandas is never imported here unless the caller already holds a DataFrame.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

from lmprog.data.rows import Row

__all__ = ["is_dataframe", "frame_rows", "frame_records", "with_answers", "FRAME_CHUNK"]

FRAME_CHUNK = 10_000  # rows converted to dicts at a time


def is_dataframe(value: Any) -> bool:
    """Whether ``value`` is a pandas DataFrame (checked without importing pandas)."""
    return any(cls.__name__ == "DataFrame" and cls.__module__.startswith("pandas") for cls in type(value).__mro__)


def frame_records(frame) -> Iterator[dict]:
    """The frame's rows as dicts, a chunk at a time; a missing value (NaN, NaT, None) is None."""
    for start in range(0, len(frame), FRAME_CHUNK):
        for record in frame.iloc[start:start + FRAME_CHUNK].to_dict("records"):
            yield {str(key): _plain(value) for key, value in record.items()}


def frame_rows(frame) -> Iterator[Row]:
    """The frame's rows as :class:`~lmprog.data.rows.Row` s (``line`` is the row's position, from 1)."""
    for number, record in enumerate(frame_records(frame), start=1):
        yield Row(number, record, None)


def with_answers(frame, answers: Sequence[dict], columns: Sequence[str]):
    """A copy of ``frame`` (same index) with one column per name in ``columns`` taken from ``answers``."""
    out = frame.copy()
    for name in columns:
        out[name] = [answer.get(name) for answer in answers]
    return out


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if type(value).__name__ in ("NaTType", "NAType"):
        return None
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item) and type(value).__module__ == "numpy":
        return item()
    if type(value).__module__ == "numpy" and hasattr(value, "tolist"):  # an array cell (a list of labels)
        return value.tolist()
    return value
