"""Paired comparisons and the supervised floor in reports, and the plain words they are shown with.

A :class:`PairedDifference` is "B minus A" on the same examples, with its 95% interval and a verdict
("better", "worse", "no detectable difference") the library computed; a :class:`FloorInfo` is what the
plain classifier trained on the same labels scores, and how the program compares with it. The terminal
and HTML renderings share these words.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lmprog.report._record import Record, record_field, score_field
from lmprog.report.score import Score, score_text, score_value

__all__ = ["BETTER", "SAME", "SMALL_SAMPLE", "WORSE", "FloorInfo", "FloorPairing", "NamedDifference",
           "PairedDifference", "Selection", "small_sample_note"]

BETTER, WORSE, SAME = "better", "worse", "no detectable difference"
SMALL_SAMPLE = 30  # fewer examples than this: the report says the sample is small


def small_sample_note(score: Score | float | None) -> str | None:
    """What a report says under a score measured on fewer than :data:`SMALL_SAMPLE` examples."""
    if not isinstance(score, Score) or score.n is None or score.n >= SMALL_SAMPLE:
        return None
    wide = score.has_interval and score.high - score.low >= 0.005
    width = f" (its 95% interval is {100 * (score.high - score.low):.0f} points wide)" if wide else ""
    return f"small sample: n={score.n:,}{width}; differences smaller than the intervals are not evidence"


@dataclass
class PairedDifference(Record):
    """``value`` = B minus A on the same ``n`` examples, its 95% interval ``[low, high]`` and the ``verdict``."""

    value: float | None = None
    low: float | None = None
    high: float | None = None
    n: int | None = None
    verdict: str | None = None

    def interval_text(self) -> str:
        """``+4.0 points [-3.0, +11.0]`` (percentage points)."""
        if self.value is None:
            return "–"
        out = f"{100 * self.value:+.1f} points"
        if self.low is not None and self.high is not None:
            out += f" [{100 * self.low:+.1f}, {100 * self.high:+.1f}]"
        return out

    def short_text(self) -> str:
        """``+4.0 [-3.0, +11.0]`` (percentage points, for tables)."""
        if self.value is None:
            return "–"
        if self.low is None or self.high is None:
            return f"{100 * self.value:+.1f}"
        return f"{100 * self.value:+.1f} [{100 * self.low:+.1f}, {100 * self.high:+.1f}]"

    def text(self) -> str:
        """``+4.0 points [-3.0, +11.0]: no detectable difference``."""
        return self.interval_text() if self.value is None else f"{self.interval_text()}: {self.verdict or SAME}"

    @property
    def style(self) -> str:
        return {BETTER: "green", WORSE: "red"}.get(self.verdict or "", "")


def difference_field() -> Any:
    return record_field(PairedDifference, optional=True)


@dataclass
class NamedDifference(PairedDifference):
    """A paired difference between two named rows of a report (``b`` minus ``a``)."""

    a: str = ""
    b: str = ""
    metric: str | None = None

    def sentence(self) -> str:
        """``classifier vs program: -6.0 points [-12.0, +0.0]: no detectable difference (n=50)``."""
        return f"{self.b} vs {self.a}: {self.text()}" + (f" (n={self.n:,})" if self.n else "")


@dataclass
class FloorPairing(Record):
    """The program and the floor on the same examples, and the program minus the floor."""

    examples: int = 0
    program: Score | None = score_field()
    floor: Score | None = score_field()
    difference: PairedDifference | None = difference_field()


@dataclass
class FloorInfo(Record):
    """The supervised floor: the plain classifier trained on the program's labelled examples (``training``
    says how), its headline score, and the paired comparison with the program; ``unknown`` says why there
    is no floor (an artifact without its labelled examples)."""

    method: str = "TF-IDF + logistic regression"
    training: str = ""
    trained_on: int = 0
    unknown: str | None = None
    metric: str | None = None
    score: Score | None = score_field()
    examples: int | None = None
    paired: FloorPairing | None = record_field(FloorPairing, optional=True)
    program: Score | None = score_field()  # the program's score, when it is not on the floor's examples
    unpaired: str | None = None  # why there is no paired comparison

    def lines(self) -> list[str]:
        """The floor in plain words: what it scores, and whether the program does better than the labels alone."""
        if self.unknown:
            return [f"supervised floor ({self.method}): {self.unknown}"]
        lines = [f"supervised floor: {self.method}, {self.training}: {self.metric or 'score'} {score_text(self.score)}"]
        if self.paired is None or self.paired.difference is None:
            return lines + [self._unpaired_line()]
        pair, difference = self.paired, self.paired.difference
        floor, program = score_text(pair.floor), score_text(pair.program)
        scores = f"{self.method} scores {floor} against the program's {program} on the same {pair.examples:,} examples"
        verdict = difference.verdict or SAME
        lead = {WORSE: "the labels alone do better than the program",
                BETTER: "the program does better than the labels alone"}.get(
            verdict, "no detectable difference between the program and the labels alone")
        return lines + [f"{lead}: {scores} (program − floor {difference.interval_text()}: {verdict})"]

    def _unpaired_line(self) -> str:
        reason = self.unpaired or "the program was not scored on the floor's examples"
        program, floor = score_value(self.program), score_value(self.score)
        if program is None or floor is None:
            return f"no paired comparison: {reason}"
        lead = "the program scores below the labels alone" if program < floor else \
            "the program scores at or above the labels alone"
        return (f"{lead}: {self.method} scores {score_text(self.score)} against the program's "
                f"{score_text(self.program)} (not paired: {reason})")

    @property
    def style(self) -> str:
        """Red when the program is below the floor, green when above, plain otherwise."""
        difference = self.paired.difference if self.paired else None
        if difference is None:
            program, floor = score_value(self.program), score_value(self.score)
            return "red" if program is not None and floor is not None and program < floor else ""
        return {WORSE: "red", BETTER: "green"}.get(difference.verdict or "", "")


@dataclass
class Selection(Record):
    """Why the compile kept its program: the best candidate's paired difference to zero-shot and to the
    runner-up on the same ``examples``, and the reason in words (``optimizer.why`` of the artifact)."""

    chosen: str | None = None
    best: str | None = None
    runner_up: str | None = None
    examples: int | None = None
    vs_zero_shot: PairedDifference | None = difference_field()
    vs_runner_up: PairedDifference | None = difference_field()
    reason: str | None = None

    def lines(self) -> list[str]:
        lines = [f"kept {self.chosen}" + (f": {self.reason}" if self.reason else "")]
        if self.vs_zero_shot is not None and self.best != "zero-shot":
            lines.append(f"{self.best} vs zero-shot: {self.vs_zero_shot.text()} (paired, n={self.vs_zero_shot.n or 0:,})")
        if self.vs_runner_up is not None and self.runner_up:
            lines.append(f"{self.best} vs the runner-up {self.runner_up}: {self.vs_runner_up.text()} "
                         f"(paired, n={self.vs_runner_up.n or 0:,})")
        return lines
