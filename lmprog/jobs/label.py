"""``lmprog label``: the labelling page for a task's suggested rows and audit flags."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lmprog.task import Task


@dataclass
class LabelSummary:
    """What a labelling session left: answers given (in total, in the journal) and where they went."""

    task: str
    items: int
    answered: int
    file: Path
    journal: Path


def label_page(task_file: str | os.PathLike, *, queue: str | os.PathLike | None = None,
               audit: str | os.PathLike | None = None, port: int = 0,
               ready: Callable[[str], None] | None = None) -> LabelSummary:
    """Serve the labelling page for ``task_file`` on 127.0.0.1 until interrupted (Ctrl-C).

    Rows of ``queue`` are labelled and appended to the task's ``[data] train`` file; flags of ``audit``
    are reviewed (keep the gold label, take the suggested one, or choose another) and corrected in the
    audited file. Answers a killed server left unapplied are applied first. ``ready(url)`` is called
    with the page's address (it holds the access token) once the port is bound.
    """
    from lmprog.loop.page import LabelSession, serve

    task = Task.from_toml(task_file)
    session = LabelSession.open(task, queue=queue, audit=audit)
    try:
        serve(session, port=port, ready=ready)
    except KeyboardInterrupt:
        pass
    state = session.state()
    return LabelSummary(task=task.name, items=len(state["items"]), answered=state["answered"], file=session.target,
                        journal=session.journal.path)
