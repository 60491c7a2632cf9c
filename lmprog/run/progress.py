"""A live terminal display of a compile: candidates scored, paid calls, ledger hits, tokens, USD.

``compile(..., progress=CompileProgress())`` (or ``progress=True``) shows it; any other callable
receives the same events as plain dicts:

- ``{"event": "start", "total": N, "seed": S, "tracker": BudgetTracker}`` before the first candidate,
- ``{"event": "rung", "rung": r, "rungs": R, "examples": n, "candidates": [ids]}`` as the race goes on,
- ``{"event": "candidate", "id": ..., "dev_score": ..., "calls": ..., "usd": ...}`` for each candidate, once scored,
- ``{"event": "done", "best": ..., "dev_score": ...}`` at the end.
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn
from rich.text import Text


class _SpendColumn(ProgressColumn):
    """Reads the run's BudgetTracker at every refresh, so the counts move between candidates too."""

    def __init__(self, display: "CompileProgress"):
        super().__init__()
        self.display = display

    def render(self, task) -> Text:
        tracker = self.display.tracker
        if tracker is None:
            return Text("")
        usd = "unpriced" if tracker.calls and tracker.unpriced == tracker.calls else f"${tracker.usd:,.4f}"
        return Text(f"paid calls {tracker.calls:,} · ledger hits {tracker.hits:,} · tokens {tracker.tokens:,} · {usd}",
                    style="cyan")


class CompileProgress:
    """Rich progress for :func:`lmprog.compile`; prints nothing when the console is not a terminal."""

    def __init__(self, console: Console | None = None):
        self.console = console or Console(stderr=True)
        self.tracker = None
        self.best: tuple[str, float] | None = None
        self._progress: Progress | None = None
        self._task = None

    def __call__(self, event: dict) -> None:
        kind = event.get("event")
        if kind == "start":
            self._start(event)
        elif kind == "candidate" and self._progress is not None:
            score = event.get("dev_score")
            if score is not None and (self.best is None or score > self.best[1]):
                self.best = (event["id"], score)
            best = f"best {self.best[1]:.3f} ({self.best[0]})" if self.best else ""
            self._progress.update(self._task, advance=1, best=best)
        elif kind == "rung" and self._progress is not None:
            self._progress.update(self._task, description=f"compile: rung {event['rung']}/{event['rungs']}, "
                                                          f"{len(event['candidates'])} candidates on "
                                                          f"{event['examples']} examples")
        elif kind == "done":
            self._stop()

    def _start(self, event: dict) -> None:
        self._stop()
        self.tracker, self.best = event.get("tracker"), None
        self._progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(bar_width=24), MofNCompleteColumn(),
            TextColumn("candidates"), _SpendColumn(self), TextColumn("{task.fields[best]}", style="green"),
            TimeElapsedColumn(), console=self.console, transient=False, disable=not self.console.is_terminal)
        seed = event.get("seed")
        self._task = self._progress.add_task(f"compile (seed {seed})" if seed is not None else "compile",
                                             total=event.get("total"), best="")
        self._progress.start()

    def _stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
