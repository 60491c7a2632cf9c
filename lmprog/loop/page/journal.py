"""The answers journal: every answer a person gives, appended and fsynced before it is applied.

It lives next to the labelled file (``train.jsonl.lmprog-answers.jsonl``), one JSON object per line:

- ``{"kind": "answer", "seq": 3, "id": ..., "labels": [...], "action": ..., "file": ..., "text": ...,
  "stale": [...], "append": true}``: what the answer makes of the file (``text`` must be a row of
  ``file``; no ``stale`` text may stay one), complete enough to be applied again from the journal alone;
- ``{"kind": "applied", "seq": 3}``: that answer is in the file.

On opening, a torn last line (a kill during the write) is cut off: that answer was never confirmed.
An answer whose ``applied`` mark is missing (a kill between the journal and the file) is applied again;
applying is idempotent (:meth:`lmprog.loop.page.labelled.LabelledFile.ensure`), so the row is
written once. The journal is held under an exclusive lock, so two servers never answer into one file.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from lmprog.errors import ConfigurationError, DataError

SUFFIX = ".lmprog-answers.jsonl"


def journal_path(labelled: str | os.PathLike) -> Path:
    """Where the journal of answers to ``labelled`` lives."""
    labelled = Path(labelled)
    return labelled.with_name(labelled.name + SUFFIX)


class AnswerJournal:
    """The journal of ``path`` (created if missing), locked for this process until :meth:`close`."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        created = not self.path.exists()
        self._handle = self.path.open("a+b")
        try:
            _lock(self._handle, self.path)
            self.records = self._read()
        except BaseException:
            self._handle.close()
            raise
        if created:
            from lmprog.loop.page.labelled import fsync_folder

            fsync_folder(self.path.parent)

    def _read(self) -> list[dict]:
        self._handle.seek(0)
        data = self._handle.read()
        end = data.rfind(b"\n") + 1
        if end < len(data):  # a torn last record: cut it off
            self._handle.truncate(end)
            self._handle.flush()
            os.fsync(self._handle.fileno())
        records = []
        for number, line in enumerate(data[:end].splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                raise DataError(f"{self.path}: line {number} is not a JSON record; the answers journal was edited "
                                "by hand or damaged") from None
            records.append(record)
        return records

    def append(self, record: dict) -> dict:
        """Write ``record`` durably (flushed and fsynced) and keep it; returns it."""
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"
        self._handle.seek(0, os.SEEK_END)
        self._handle.write(line)
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self.records.append(record)
        return record

    def answer(self, **fields) -> dict:
        """Append an answer record with the next sequence number."""
        seq = 1 + max((r.get("seq", 0) for r in self.records if r.get("kind") == "answer"), default=0)
        return self.append({"kind": "answer", "seq": seq, "at": round(time.time(), 3), **fields})

    def mark_applied(self, seq: int) -> None:
        self.append({"kind": "applied", "seq": seq})

    def final_answers(self) -> dict[str, dict]:
        """The last answer of each item id, in the order they were last answered."""
        last: dict[str, dict] = {}
        for record in self.records:
            if record.get("kind") == "answer":
                last.pop(record["id"], None)
                last[record["id"]] = record
        return last

    def applied(self) -> set[int]:
        return {r["seq"] for r in self.records if r.get("kind") == "applied"}

    def close(self) -> None:
        self._handle.close()


def _lock(handle, path: Path) -> None:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no advisory lock
        return
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise ConfigurationError(f"another lmprog label is writing answers to this file (its journal {path} is "
                                 "locked); stop it first") from None
