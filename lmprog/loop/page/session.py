"""A labelling session: the items, the answers journal and the files the answers go to.

    session = LabelSession.open(task, queue="to_label.jsonl", audit="audit.json")
    session.answer(item_id, ["spam"])      # journaled, fsynced, then applied to the file
    session.close()

Opening a session finishes what a killed one left: every answer in the journal that has no
``applied`` mark is applied again (idempotently). An answer to an item already answered replaces the
earlier answer's row, so changing one's mind leaves one row, not two.
"""

from __future__ import annotations

import threading
from pathlib import Path

from lmprog.errors import ConfigurationError, DataError
from lmprog.loop.page.items import Item, as_labels, audit_items, queue_items
from lmprog.loop.page.journal import AnswerJournal, journal_path
from lmprog.loop.page.labelled import LabelledFile
from lmprog.paths import relative_to
from lmprog.task import Task


class LabelSession:
    """Items to answer and where answers go; safe to call from the server's threads."""

    def __init__(self, task: Task, items: list[Item], target: Path, journal: AnswerJournal):
        self.task, self.items, self.target, self.journal = task, items, target, journal
        self.by_id = {item.id: item for item in items}
        self.errors: dict[str, str] = {}
        self._files: dict[Path, LabelledFile] = {}
        self._lock = threading.Lock()

    @classmethod
    def open(cls, task: Task, *, queue: str | Path | None = None, audit: str | Path | None = None,
             target: str | Path | None = None) -> LabelSession:
        """A session over ``queue`` rows and/or ``audit`` flags; labels go to ``target`` (default: the
        task's ``[data] train``), which is created if missing."""
        if queue is None and audit is None:
            raise ConfigurationError("nothing to label: give a queue of rows (--queue) or audit flags (--audit)")
        target = Path(target) if target is not None else task.data.train
        if target is None:
            raise ConfigurationError(f"task {task.name!r} has no [data] train file for the answers to go to")
        items = queue_items(task, queue, target) if queue is not None else []
        if audit is not None:
            items += audit_items(task, audit, task.data.train)
        session = cls(task, items, target, AnswerJournal(journal_path(target)))
        try:
            session.file(target)  # a target the answers cannot be written to fails now, not at the first answer
            session.recover()
        except BaseException:
            session.close()
            raise
        return session

    def file(self, path: Path) -> LabelledFile:
        path = Path(path).resolve()
        if path not in self._files:
            columns = [*self.task.input_columns.values(), self.task.label_column]
            self._files[path] = LabelledFile(path, columns=columns, separator=self.task.data.label_separator)
        return self._files[path]

    def recover(self) -> int:
        """Apply every journaled answer that is not marked applied; returns how many were."""
        applied = self.journal.applied()
        pending = [r for r in self.journal.final_answers().values() if r["seq"] not in applied]
        for record in pending:
            self._apply(record)
        return len(pending)

    def _apply(self, record: dict) -> None:
        try:
            path = self.journal.path.parent / record["file"]  # stored relative to the journal's folder
            self.file(path).ensure(record["text"], record["stale"], append=record["append"])
        except DataError as exc:
            self.errors[record["id"]] = str(exc)
            return
        self.errors.pop(record["id"], None)
        self.journal.mark_applied(record["seq"])

    def answer(self, item_id: str, labels: list[str]) -> dict:
        """Record the answer ``labels`` to item ``item_id`` and apply it; returns the item's state."""
        item = self.by_id.get(item_id)
        if item is None:
            raise DataError(f"no item {item_id!r} in this session")
        labels = self._checked(labels)
        with self._lock:
            previous = self.journal.final_answers().get(item_id)
            text, action = self._text_for(item, labels)
            stale = set(previous["stale"]) | {previous["text"]} if previous else set()
            if item.original is not None:
                stale.add(item.original)
            stale.discard(text)
            record = self.journal.answer(id=item_id, labels=labels, action=action, text=text,
                                         file=relative_to(item.file, self.journal.path.parent),
                                         stale=sorted(s for s in stale if s), append=item.original is None)
            self._apply(record)
        return self.item_state(item)

    def _checked(self, labels: list[str]) -> list[str]:
        if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
            raise DataError("labels must be a list of label names")
        unknown = [label for label in labels if label not in self.task.labels.names]
        if unknown:
            raise DataError(f"{unknown[0]!r} is not a label of task {self.task.name!r}")
        labels = list(dict.fromkeys(labels))
        if not self.task.multi_label and len(labels) != 1:
            raise DataError(f"task {self.task.name!r} is single-label: answer with exactly one label")
        return labels

    def _text_for(self, item: Item, labels: list[str]) -> tuple[str, str]:
        """The row text the answer makes, and what the answer does (label, keep, take, choose)."""
        value = labels if self.task.multi_label else labels[0]
        record = {**item.record, self.task.label_column: value}
        if item.kind == "label":
            return self.file(item.file).text_of(record), "label"
        action = "keep" if _same(labels, item.given) else "take" if _same(labels, item.suggested) else "choose"
        current = as_labels(item.record.get(self.task.label_column), self.task.data.label_separator or "|")
        return (item.original if _same(labels, current) else self.file(item.file).text_of(record)), action

    def item_state(self, item: Item, finals: dict[str, dict] | None = None) -> dict:
        """What the page shows of ``item``; ``finals`` are the journal's final answers, when known already."""
        last = (self.journal.final_answers() if finals is None else finals).get(item.id)
        return {"id": item.id, "kind": item.kind, "inputs": list(item.inputs.items()), "context": item.context,
                "given": item.given, "suggested": item.suggested, "answer": last["labels"] if last else None,
                "action": last["action"] if last else None, "error": self.errors.get(item.id)}

    def state(self) -> dict:
        """Everything the page shows: the task, its labels and every item with its answer so far."""
        with self._lock:
            finals = self.journal.final_answers()
            items = [self.item_state(item, finals) for item in self.items]
        labels = [{"name": label.name, "description": label.description or ""} for label in self.task.labels]
        return {"task": self.task.name, "multi": self.task.multi_label, "labels": labels,
                "file": self.target.name, "items": items,
                "answered": sum(item["answer"] is not None for item in items)}

    def close(self) -> None:
        self.journal.close()


def _same(labels: list[str], other: list[str] | None) -> bool:
    return other is not None and sorted(labels) == sorted(other)
