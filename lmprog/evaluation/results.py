""":class:`Evaluation`: a program's answers on labelled examples, one record each, and what they add up to.

Scores, per-label tables, confusions, calibration and failures are computed here from the records; the
output kind of the program (:mod:`lmprog.outputs`) says how answers are scored, never its class.
"""

from __future__ import annotations

import functools
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from lmprog import metrics as m
from lmprog import outputs
from lmprog.errors import ConfigurationError
from lmprog.task import Task

CONFUSION_MATRIX_MAX_LABELS = 30
FAILURES_SHOWN = 8
NO_ANSWER = "(no answer)"


@dataclass
class ExampleResult:
    """One example: what the program answered, how it scored, and what went wrong if anything."""

    index: int
    text: str
    gold: Any
    predicted: Any
    score: float
    confidence: float | None = None
    confidence_source: str | None = None
    error: str | None = None  # parse_failure, budget, timeout, rate_limit, server_error, ...
    message: str | None = None

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class Evaluation:
    """The outcome of :func:`lmprog.evaluate`: per-example results plus the run's cost, ready to report.

    ``program`` is the program's display name, ``output`` the kind of answer it gives.
    """

    task: Task
    results: list[ExampleResult]
    program: str
    output: outputs.OutputKind = outputs.LABEL
    lm: str | None = None
    run_id: str | None = None
    cost: dict = field(default_factory=dict)
    data_path: str | None = None
    compiled: Any = None  # the CompiledProgram evaluated, if it was one
    budget_stopped: bool = False

    @property
    def ranked(self) -> bool:
        """True for programs that return a ranking (Infer-Retrieve-Rank), scored at cut-offs."""
        return self.output.ranked

    @functools.cached_property
    def metrics(self) -> dict[str, float]:
        """Headline candidates: accuracy / F1 for classifiers, RP@k, P@k, R@k for rankings."""
        return self.output.metrics([r.gold for r in self.results], [r.predicted for r in self.results],
                                   self.task.labels.names)

    @property
    def score(self) -> float | None:
        """The task's headline metric (``task.metric``)."""
        return self.metrics.get(self.headline_metric)

    @property
    def headline_metric(self) -> str:
        return self.output.headline(self.task.metric)

    def errors(self) -> dict[str, int]:
        return dict(Counter(r.error for r in self.results if r.error))

    def check_metric(self) -> None:
        """Raise ConfigurationError when the task's metric is not one this program's answers get."""
        if self.results and self.headline_metric not in self.metrics:
            raise ConfigurationError(f"task {self.task.name!r}: unknown metric {self.task.metric!r}; "
                                     f"available: {', '.join(sorted(self.metrics))}")

    def per_label(self) -> list[dict]:
        """Precision, recall, F1 and support per label (a ranking cut at the headline's k)."""
        gold = [r.gold for r in self.results]
        predicted = [self.output.as_set(r.predicted, self.headline_metric) for r in self.results]
        if self.output.multi:
            predicted = [list(p or []) for p in predicted]
            seen = {label for labels in gold + predicted for label in labels or []}
            labels = [name for name in self.task.labels.names if name in seen]
            return m.per_label_report(gold, predicted, labels=labels) if labels else []
        return m.per_label_report(gold, predicted, labels=self.task.labels.names)

    def confusions(self) -> list[dict]:
        """The most frequent single-label mistakes (none for label sets)."""
        if self.output.multi:
            return []
        pairs = m.confusions([r.gold for r in self.results], [r.predicted for r in self.results], top=10)
        return [{"gold": g, "predicted": p, "count": n} for g, p, n in pairs]

    def confusion_matrix(self) -> dict | None:
        """The full single-label confusion matrix, for up to 30 labels."""
        names = self.task.labels.names
        if self.output.multi or len(names) > CONFUSION_MATRIX_MAX_LABELS or not self.results:
            return None
        from sklearn.metrics import confusion_matrix

        gold = [r.gold for r in self.results]
        predicted = [r.predicted if r.predicted in names else NO_ANSWER for r in self.results]
        columns = names + ([NO_ANSWER] if NO_ANSWER in predicted else [])
        matrix = confusion_matrix(gold, predicted, labels=columns)
        return {"labels": names, "columns": columns, "matrix": matrix[:len(names)].tolist()}

    def calibration(self) -> dict:
        """Expected calibration error and reliability bins, where the program reports confidence."""
        confidences = [r.confidence for r in self.results]
        if not any(c is not None for c in confidences):
            return {"source": None, "ece": None, "bins": []}
        correct = [r.score >= 1.0 for r in self.results]
        bins = m.reliability_bins(confidences, correct)
        return {"source": next((r.confidence_source for r in self.results if r.confidence_source), None),
                "ece": m.expected_calibration_error(confidences, correct),
                "bins": [b._asdict() for b in bins]}

    def failures(self) -> list[dict]:
        """A few examples the program got wrong or failed on."""
        failed = [r for r in self.results if r.error or r.score < 1.0]
        return [{"text": r.text[:500], "gold": r.gold, "predicted": r.predicted, "error": r.message or r.error}
                for r in failed[:FAILURES_SHOWN]]

    def report(self, *, before: float | dict | None = None, before_label: str | None = None,
               after_label: str | None = None, kind: str = "evaluation", baseline: Evaluation | None = None,
               floor=None) -> dict:
        """The report data (plain JSON) that :mod:`lmprog.report` renders; with no results, the
        headline value is None and the tables are empty. Scores carry their 95% intervals.

        ``baseline``: another program's evaluation of the same examples (the zero-shot program): it is
        the "before", and the headline gets the paired difference. ``floor``: the supervised floor
        (:mod:`lmprog.evaluation.floor`), reported with its paired difference to this program.
        """
        from lmprog.evaluation import intervals_of

        self.check_metric()
        compiled = self.compiled
        metrics = intervals_of.metric_scores(self)
        headline = {"metric": self.headline_metric, "value": metrics.get(self.headline_metric), "before": before,
                    "before_label": before_label, "after_label": after_label}
        if baseline is not None:
            headline["before"] = intervals_of.headline_score(baseline)
            difference = intervals_of.paired(baseline, self)
            if difference is not None:
                headline["difference"] = difference.to_dict()
        data = {
            "kind": kind,
            "title": f"{self.task.name} · {self.program} · {self.lm or 'no LM'}",
            "task": {"name": self.task.name, "multi_label": self.task.multi_label, "metric": self.headline_metric,
                     "labels": len(self.task.labels)},
            "program": {"class": self.program, "lm": self.lm, "artifact": None, "run_id": self.run_id},
            "data": {"path": self.data_path, "examples": len(self.results)},
            "headline": headline,
            "metrics": metrics,
            "per_label": intervals_of.per_label_scores(self, self.per_label()),
            "confusions": self.confusions(),
            "confusion_matrix": self.confusion_matrix(),
            "calibration": intervals_of.with_ece(self, self.calibration()),
            "cost": self.cost,
            "errors": self.errors(),
            "failures": self.failures(),
            "candidates": candidate_records(compiled) if compiled else [],
            "budget": (compiled.budget if compiled and compiled.budget else
                       {"max_calls": None, "max_usd": None, "stopped_early": self.budget_stopped}),
        }
        if floor is not None:
            data["floor"] = intervals_of.floor_data(self, floor)
        return data

    def to_jsonl(self) -> str:
        """One JSON object per example (for ``--json`` and for diffing runs)."""
        return "".join(json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in self.results)


CANDIDATE_KEYS = ("id", "dev_score", "stage", "interval", "vs_zero_shot", "vs_baseline", "vs_runner_up", "chosen")


def candidate_records(compiled) -> list[dict]:
    """The compile's candidates as reports show them: id, stage, dev score and, where the artifact records
    them, the dev score's interval and paired differences (to zero-shot, to the runner-up); no prompts."""
    candidates = getattr(compiled, "candidates", None)
    if not isinstance(candidates, list):
        return compiled.candidate_scores()
    return [_with_interval(compiled, {k: c[k] for k in CANDIDATE_KEYS if k in c}) for c in candidates]


def candidate_record(compiled, candidate_id: str | None = None) -> dict:
    """The record of candidate ``candidate_id`` ({} when there is none); without an id, of the program the
    compile kept: the one ``optimizer.why`` names, else the first with the artifact's dev score."""
    candidates = [c for c in getattr(compiled, "candidates", None) or [] if isinstance(c, dict)]
    if candidate_id is None:
        candidate_id = ((getattr(compiled, "optimizer", None) or {}).get("why") or {}).get("chosen")
    if candidate_id is not None:
        return _with_interval(compiled, next((c for c in candidates if c.get("id") == candidate_id), {}))
    score = getattr(compiled, "dev_score", None)
    return _with_interval(compiled, next((c for c in candidates if score is not None and c.get("dev_score") == score),
                                         {}))


def _with_interval(compiled, record: dict) -> dict:
    """An older artifact's record, which has no interval, with Wilson's: its dev score of a single-label
    program is the share of its ``optimizer.dev`` examples answered right."""
    from lmprog.intervals import proportion_interval

    n = (getattr(compiled, "optimizer", None) or {}).get("dev")
    score = record.get("dev_score")
    if "interval" in record or score is None or not n or getattr(compiled, "output", None) is not outputs.LABEL:
        return record
    hits = score * n
    if abs(hits - round(hits)) > 1e-6:
        return record
    return record | {"interval": proportion_interval(int(round(hits)), int(n)).to_dict()}
