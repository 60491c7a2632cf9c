"""Printing what the library returns: a report on the terminal, or its JSON; progress bars on stderr."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


def show(report, as_json: bool) -> None:
    """Print ``report`` (an object that renders itself) as rich output, or as JSON with ``--json``."""
    if as_json:
        print(report.to_json())
        return
    from rich.console import Console

    Console().print(report)


@contextlib.contextmanager
def stage_progress(quiet: bool) -> Iterator:
    """A transient progress bar per stage on stderr (none with --json); yields ``advance(stage, done, total)``."""
    from rich.console import Console
    from rich.progress import Progress

    tasks: dict[str, int] = {}
    with Progress(transient=True, disable=quiet, console=Console(stderr=True)) as bar:
        def advance(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done)

        yield advance
