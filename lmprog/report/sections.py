"""The sections of an evaluation or compile report, typed, each with the words it is shown with.

The data comes from :meth:`lmprog.Evaluation.report`; nothing here computes a metric. The wording
is shared by the terminal and the HTML renderings, so both say the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lmprog.report._record import Record, named_field, records_field, score_field
from lmprog.report.comparisons import PairedDifference, difference_field, small_sample_note
from lmprog.report.score import Score, score_text, score_value

__all__ = ["BUDGET_NOTE", "MODULE_COST_COLUMNS", "NO_CONFIDENCE", "BudgetInfo", "Calibration", "CalibrationBin",
           "Candidate", "Confusion", "ConfusionMatrix", "Cost", "DataInfo", "Failure", "Headline", "LabelScore",
           "ModuleCost", "ProgramInfo", "TaskInfo", "best_candidate", "candidate_mark", "labels_text", "nonzero_errors",
           "points_text", "select_per_label", "shorten", "usd_text", "versus_header"]

SOURCES = {"logprobs": "token log-probabilities", "agreement": "agreement across samples"}
NO_CONFIDENCE = "no confidence available"
BUDGET_NOTE = "budget reached: kept the best program found so far"
UNPAIRED_NOTE = "the change is not a paired comparison (no answers of both programs on the same examples): no interval"


def usd_text(value: float | None) -> str:
    return "unpriced" if value is None else f"${value:,.4f}"


def labels_text(value: Any) -> str:
    """A label, a label list or a ranking as one line; a missing answer says so."""
    if value is None:
        return "(no answer)"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value)) or "(none)"
    return str(value)


def shorten(text: str, width: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def points_text(before: Score | float | None, after: Score | float | None) -> str | None:
    """The change from ``before`` to ``after`` in percentage points (``+25.0 points``)."""
    before, after = score_value(before), score_value(after)
    if before is None or after is None:
        return None
    return f"{(after - before) * 100:+.1f} points"


@dataclass
class TaskInfo(Record):
    name: str = "?"
    multi_label: bool = False
    metric: str | None = None
    labels: int = 0


@dataclass
class ProgramInfo(Record):
    class_name: str = named_field("class", "?")
    lm: str | None = None
    artifact: str | None = None
    run_id: str | None = None


@dataclass
class DataInfo(Record):
    path: str | None = None
    examples: int = 0


@dataclass
class Headline(Record):
    """The headline metric, and what it was before when the report compares two programs."""

    metric: str = "score"
    value: Score | None = score_field()
    before: Score | None = score_field()
    before_label: str | None = None
    after_label: str | None = None
    difference: PairedDifference | None = difference_field()  # after minus before, on the same examples

    def parts(self) -> tuple[str | None, str, str | None]:
        """("before-label value" or None, "after-label value", the change or None): the paired difference
        with its interval and verdict when the report has one, else the bare change in points."""
        before = None
        if self.before is not None:
            before = f"{self.before_label or 'before'} {score_text(self.before)}"
        after = score_text(self.value)
        if self.after_label:
            after = f"{self.after_label} {after}"
        if self.difference is not None and self.difference.value is not None:
            return before, after, self.difference.text()
        return before, after, points_text(self.before, self.value)

    @property
    def change_style(self) -> str:
        """How the change is coloured: by the verdict of a paired difference, else by its sign."""
        if self.difference is not None and self.difference.value is not None:
            return self.difference.style
        change = points_text(self.before, self.value) or ""
        return "red" if change.startswith("-") else "green"

    def notes(self) -> list[str]:
        """Warnings under the headline: it rests on few examples; its change is not a paired comparison."""
        notes = [note] if (note := small_sample_note(self.value)) else []
        if self.before is not None and self.value is not None and self.difference is None:
            notes.append(UNPAIRED_NOTE)
        return notes


@dataclass
class LabelScore(Record):
    label: Any = ""
    precision: float | None = None
    recall: float | None = None
    f1: Score | None = score_field()
    support: int = 0

    @property
    def f1_value(self) -> float:
        return score_value(self.f1) or 0.0


def select_per_label(per_label: list[LabelScore], top: int) -> tuple[list[tuple[str, list[LabelScore]]], str | None]:
    """All rows for small label spaces; else the ``top`` best and worst by F1 among supported labels.

    Returns ``[(group, rows)]`` (group: all, best or worst) and a note on what was left out.
    """
    if len(per_label) <= 2 * top:
        return [("all", list(per_label))], None
    supported = sorted((r for r in per_label if r.support > 0), key=lambda r: (-r.f1_value, str(r.label)))
    unsupported = len(per_label) - len(supported)
    if len(supported) <= 2 * top:
        note = f"{len(supported):,} labels with support shown; {unsupported:,} labels without support left out"
        return [("all", supported)], note
    left_out = len(per_label) - 2 * top
    note = (f"showing the {top} best and {top} worst by F1 of {len(supported):,} labels with support; "
            f"{left_out:,} of {len(per_label):,} labels left out ({unsupported:,} without support)")
    return [("best", supported[:top]), ("worst", supported[-top:])], note


@dataclass
class Confusion(Record):
    gold: Any = None
    predicted: Any = None
    count: int = 0


@dataclass
class ConfusionMatrix(Record):
    """Counts, gold ``labels`` down and predicted ``columns`` (default: the labels) across."""

    labels: list[str] = field(default_factory=list)
    matrix: list[list[int]] = field(default_factory=list)
    columns: list[str] | None = None


@dataclass
class CalibrationBin(Record):
    lower: float = 0.0
    upper: float = 0.0
    count: int = 0
    mean_confidence: float | None = None
    accuracy: float | None = None


@dataclass
class Calibration(Record):
    source: str | None = None
    ece: Score | None = score_field()
    bins: list[CalibrationBin] = records_field(CalibrationBin)

    @property
    def available(self) -> bool:
        return self.source is not None and self.ece is not None

    def summary(self) -> str:
        if not self.available:
            return NO_CONFIDENCE
        source = SOURCES.get(self.source, self.source)
        counted = sum(b.count for b in self.bins)
        return f"ECE {score_text(self.ece)} · confidence from {source} · {counted:,} predictions"


@dataclass
class ModuleCost(Record):
    module: str | None = None
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None

    def cells(self) -> list[str]:
        """module, calls, prompt tokens, completion tokens, USD (as text)."""
        return [self.module or "(no module)", f"{self.calls:,}", f"{self.prompt_tokens:,}",
                f"{self.completion_tokens:,}", usd_text(self.cost_usd)]


@dataclass
class Cost(Record):
    """What a run cost, from the ledger."""

    paid_calls: int = 0
    ledger_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    usd: float | None = None
    failed_attempts: int = 0
    attempt_errors: dict[str, int] = field(default_factory=dict)
    by_module: list[ModuleCost] = records_field(ModuleCost)

    def summary(self) -> str:
        return (f"paid calls {self.paid_calls:,} · ledger hits {self.ledger_hits:,} · "
                f"tokens {self.prompt_tokens:,} prompt + {self.completion_tokens:,} completion · "
                f"{usd_text(self.usd)}")


MODULE_COST_COLUMNS = ["module", "calls", "prompt tokens", "completion tokens", "USD"]


def nonzero_errors(errors: dict[str, int] | None) -> list[tuple[str, int]]:
    """The error kinds that happened, the most frequent first."""
    return sorted(((k, v) for k, v in (errors or {}).items() if v), key=lambda kv: (-kv[1], kv[0]))


@dataclass
class Failure(Record):
    """A failed example: its text, gold and predicted labels, and the error if the program failed."""

    text: str = ""
    gold: Any = None
    predicted: Any = None
    error: str | None = None


@dataclass
class Candidate(Record):
    """An optimizer candidate and its dev score (None: not scored, e.g. the budget ran out)."""

    id: str = ""
    dev_score: Score | None = score_field()
    stage: str | None = None
    interval: dict | None = None  # the dev score's 95% interval {value, low, high, n}, when the compile records it
    vs_zero_shot: PairedDifference | None = difference_field()
    vs_baseline: PairedDifference | None = difference_field()  # to zero-shot or the phase's starting program
    vs_runner_up: PairedDifference | None = difference_field()
    chosen: bool | None = None

    @property
    def versus(self) -> PairedDifference | None:
        """The candidate's paired difference to zero-shot, else to its phase's baseline."""
        return self.vs_zero_shot if self.vs_zero_shot is not None else self.vs_baseline

    @property
    def score(self) -> Score | None:
        """The dev score, with its interval when the artifact records one."""
        interval = self.interval or {}
        if interval.get("value") is None:
            return self.dev_score
        return Score(interval["value"], interval.get("low"), interval.get("high"), interval.get("n"))


def best_candidate(candidates: list[Candidate], chosen: str | None = None) -> str | None:
    """The id of the candidate the compile chose when the artifact says so (``chosen``, or a candidate marked
    ``chosen``), else of the best dev score."""
    if chosen is not None:
        return chosen
    marked = [c for c in candidates if c.chosen]
    if marked:
        return marked[0].id
    scored = [c for c in candidates if c.dev_score is not None]
    return max(scored, key=lambda c: score_value(c.dev_score)).id if scored else None


def versus_header(candidates: list[Candidate]) -> str | None:
    """The header of the candidates' paired-difference column; None when no candidate has one."""
    if any(c.vs_zero_shot is not None for c in candidates):
        return "vs zero-shot"
    return "vs baseline" if any(c.vs_baseline is not None for c in candidates) else None


def candidate_mark(candidates: list[Candidate], chosen: str | None = None) -> str:
    """How the kept candidate is marked: chosen by the compile's selection, or best by dev score."""
    return "★ chosen" if chosen is not None or any(c.chosen for c in candidates) else "★ best"


@dataclass
class BudgetInfo(Record):
    max_calls: int | None = None
    max_usd: float | None = None
    stopped_early: bool = False

    def note(self) -> str | None:
        """What the report says when the budget stopped the run early; None otherwise."""
        if not self.stopped_early:
            return None
        limits = []
        if self.max_calls is not None:
            limits.append(f"max {self.max_calls:,} paid calls")
        if self.max_usd is not None:
            limits.append(f"max ${self.max_usd:,.2f}")
        return BUDGET_NOTE + (f" ({', '.join(limits)})" if limits else "")
