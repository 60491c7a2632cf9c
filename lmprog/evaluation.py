"""``lmprog.evaluate``: run a program on labelled examples and keep one record per example.

The records are what reports are made of: metrics (sklearn, via :mod:`lmprog.metrics`), per-label
scores, confusions, calibration, errors by kind, failed examples, and the ledger's account of what
the run cost. Every call goes through the ledger, so evaluating again (or re-rendering a report)
pays for nothing.
"""

from __future__ import annotations

import concurrent.futures
import functools
import json
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import dspy

from lmprog import metrics as m
from lmprog.artifact import CompiledProgram
from lmprog.budget import Budget, tracked
from lmprog.errors import BudgetExceededError, ConfigurationError, LmprogError
from lmprog.lm.engine import error_kind
from lmprog.optimize.search import example_score
from lmprog.task import Task

CONFUSION_MATRIX_MAX_LABELS = 30
FAILURES_SHOWN = 8
_RANK_METRIC = re.compile(r"^(rp|p|r)@(\d+)$")


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
    """The outcome of :func:`evaluate`: per-example results plus the run's cost, ready to report."""

    task: Task
    results: list[ExampleResult]
    program: str
    lm: str | None = None
    run_id: str | None = None
    cost: dict = field(default_factory=dict)
    data_path: str | None = None
    compiled: CompiledProgram | None = None
    budget_stopped: bool = False

    @property
    def ranked(self) -> bool:
        """True for programs that return a ranking (Infer-Retrieve-Rank), scored at cut-offs."""
        return self.program == "InferRetrieveRank"

    @functools.cached_property
    def metrics(self) -> dict[str, float]:
        """Headline candidates: accuracy / F1 for classifiers, RP@k, P@k, R@k for rankings."""
        gold = [r.gold for r in self.results]
        predicted = [r.predicted for r in self.results]
        if not self.results:
            return {}
        if self.ranked:
            rankings = [list(p or []) for p in predicted]
            out = {}
            for k in (1, 5, 10):
                out[f"rp@{k}"] = m.rp_at_k(gold, rankings, k)
                out[f"p@{k}"] = m.precision_at_k(gold, rankings, k)
                out[f"r@{k}"] = m.recall_at_k(gold, rankings, k)
            return out
        if self.task.multi_label:
            sets = [list(p or []) for p in predicted]
            names = self.task.labels.names
            return {"micro_f1": m.f1_multilabel(gold, sets, average="micro", labels=names),
                    "macro_f1": m.f1_multilabel(gold, sets, average="macro", labels=names),
                    "example_f1": sum(r.score for r in self.results) / len(self.results)}
        return {"accuracy": m.accuracy(gold, predicted),
                "macro_f1": m.f1(gold, predicted, average="macro", labels=self.task.labels.names)}

    @property
    def score(self) -> float | None:
        """The task's headline metric (``task.metric``)."""
        return self.metrics.get(self.headline_metric)

    @property
    def headline_metric(self) -> str:
        metric = self.task.metric
        if self.ranked and not _RANK_METRIC.match(metric or ""):
            return "rp@10"
        return metric

    def errors(self) -> dict[str, int]:
        return dict(Counter(r.error for r in self.results if r.error))

    def report(self, *, before: float | None = None, before_label: str | None = None,
               after_label: str | None = None, kind: str = "evaluation") -> dict:
        """The report data (plain JSON) that :mod:`lmprog.report` renders; with no results, the
        headline value is None and the tables are empty."""
        metrics = self.metrics
        if self.results and self.headline_metric not in metrics:
            raise ConfigurationError(f"task {self.task.name!r}: unknown metric {self.task.metric!r}; "
                                     f"available: {', '.join(sorted(metrics))}")
        compiled = self.compiled
        return {
            "kind": kind,
            "title": f"{self.task.name} · {self.program} · {self.lm or 'no LM'}",
            "task": {"name": self.task.name, "multi_label": self.task.multi_label, "metric": self.headline_metric,
                     "labels": len(self.task.labels)},
            "program": {"class": self.program, "lm": self.lm, "artifact": None, "run_id": self.run_id},
            "data": {"path": self.data_path, "examples": len(self.results)},
            "headline": {"metric": self.headline_metric, "value": metrics.get(self.headline_metric), "before": before,
                         "before_label": before_label, "after_label": after_label},
            "metrics": metrics,
            "per_label": self._per_label(),
            "confusions": self._confusions(),
            "confusion_matrix": self._confusion_matrix(),
            "calibration": self._calibration(),
            "cost": self.cost,
            "errors": self.errors(),
            "failures": self._failures(),
            "candidates": compiled.candidate_scores() if compiled else [],
            "budget": (compiled.budget if compiled and compiled.budget else
                       {"max_calls": None, "max_usd": None, "stopped_early": self.budget_stopped}),
        }

    def _cut(self, predicted) -> Any:
        """Predictions as sets for per-label scores: a ranking is cut at the headline's k."""
        if not self.ranked:
            return predicted
        match = _RANK_METRIC.match(self.headline_metric)
        k = int(match.group(2)) if match else 10
        return list(predicted or [])[:k]

    def _per_label(self) -> list[dict]:
        gold = [r.gold for r in self.results]
        predicted = [self._cut(r.predicted) for r in self.results]
        if self.task.multi_label:
            predicted = [list(p or []) for p in predicted]
            seen = {label for labels in gold + predicted for label in labels or []}
            labels = [name for name in self.task.labels.names if name in seen]
            if not labels:
                return []
            return m.per_label_report(gold, predicted, labels=labels)
        return m.per_label_report(gold, predicted, labels=self.task.labels.names)

    def _confusions(self) -> list[dict]:
        if self.task.multi_label:
            return []
        pairs = m.confusions([r.gold for r in self.results], [r.predicted for r in self.results], top=10)
        return [{"gold": g, "predicted": p, "count": n} for g, p, n in pairs]

    def _confusion_matrix(self) -> dict | None:
        names = self.task.labels.names
        if self.task.multi_label or len(names) > CONFUSION_MATRIX_MAX_LABELS or not self.results:
            return None
        from sklearn.metrics import confusion_matrix

        gold = [r.gold for r in self.results]
        predicted = [r.predicted if r.predicted in names else "(no answer)" for r in self.results]
        columns = names + (["(no answer)"] if "(no answer)" in predicted else [])
        matrix = confusion_matrix(gold, predicted, labels=columns)
        return {"labels": names, "columns": columns, "matrix": matrix[:len(names)].tolist()}

    def _calibration(self) -> dict:
        confidences = [r.confidence for r in self.results]
        known = [c for c in confidences if c is not None]
        sources = {r.confidence_source for r in self.results}
        if not known:
            return {"source": None, "ece": None, "bins": []}
        correct = [r.score >= 1.0 for r in self.results]
        bins = m.reliability_bins(confidences, correct)
        return {"source": next((s for s in sources if s), None),
                "ece": m.expected_calibration_error(confidences, correct),
                "bins": [b._asdict() for b in bins]}

    def _failures(self) -> list[dict]:
        failed = [r for r in self.results if r.error or r.score < 1.0]
        return [{"text": r.text[:500], "gold": r.gold, "predicted": r.predicted, "error": r.message or r.error}
                for r in failed[:FAILURES_SHOWN]]

    def to_jsonl(self) -> str:
        """One JSON object per example (for ``--json`` and for diffing runs)."""
        return "".join(json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in self.results)


def zero_shot_version(program):
    """``program`` as it was before compile: no demos, and a Classify's instructions back to the task's own."""
    from lmprog.modules.classify import Classify

    module = program.program if isinstance(program, CompiledProgram) else program
    baseline = module.deepcopy()
    for _, predictor in baseline.named_predictors():
        predictor.demos = []
    if isinstance(baseline, Classify):
        baseline.predict.signature = baseline.predict.signature.with_instructions(baseline.task.label_instructions())
    return baseline


def evaluate(program, examples: Sequence[dspy.Example], *, lm=None, threads: int = 8, budget: Budget | None = None,
             data_path: str | None = None, artifact_path: str | None = None,
             progress: Callable[[int, int], None] | None = None) -> Evaluation:
    """Run ``program`` (a :class:`CompiledProgram` or an lmprog module) on labelled ``examples``.

    Args:
        lm: the LM to predict with (default: the compiled program's recorded model via ``make_lm``).
        threads: examples in flight at once.
        budget: a cap on paid calls / USD; examples it stops are recorded with error ``budget``.
        data_path / artifact_path: recorded with the ledger run, so ``lmprog report RUN_ID`` can replay it.
        progress: called with ``(done, total)`` as examples finish.

    A failure on one example (provider error after retries, unparseable answer) is recorded on that
    example and the rest go on; an lmprog error the user must act on (a replay miss) is raised.
    """
    compiled = program if isinstance(program, CompiledProgram) else None
    module = compiled.program if compiled else program
    task = getattr(module, "task", None) or (compiled.task if compiled else None)
    if task is None:
        raise ConfigurationError("evaluate() needs an lmprog module or a CompiledProgram (they carry the task)")
    if lm is None:
        lm = compiled.make_lm() if compiled else dspy.settings.lm
    if lm is None:
        raise ConfigurationError("no LM: pass lm=lmprog.make_lm(...)")
    examples = list(examples)
    ledger = getattr(lm, "ledger", None)
    arguments = {"program": type(module).__name__, "task": task.name, "examples": len(examples), "data": data_path,
                 "artifact": artifact_path, "artifact_run": compiled.run_id if compiled else None}
    with tracked(lm, budget) as tracker:
        if ledger is not None:
            with ledger.run("evaluate", arguments) as run_id:
                results = _run(module, examples, task, lm, threads, progress)
            cost = ledger_cost(ledger.stats(run_id=run_id))
        else:
            run_id, cost = None, {}
            results = _run(module, examples, task, lm, threads, progress)
    return Evaluation(task=task, results=results, program=type(module).__name__, lm=str(lm.model), run_id=run_id,
                      cost=cost, data_path=data_path, compiled=compiled, budget_stopped=tracker.exhausted)


def run_program(module, inputs, lm) -> tuple[dspy.Prediction | None, str | None, str | None]:
    """One prediction: ``(prediction, None, None)``, or ``(None, error kind, message)`` when this
    input failed (budget reached, provider error after retries). lmprog errors a user must act on
    (a replay miss) are raised."""
    with dspy.context(lm=lm):
        try:
            return module(**inputs), None, None
        except BudgetExceededError as exc:
            return None, "budget", str(exc)
        except LmprogError:
            raise
        except Exception as exc:  # noqa: BLE001 - a provider failure after retries: this input failed
            return None, error_kind(exc), f"{type(exc).__name__}: {exc}"[:300]


def _run(module, examples, task, lm, threads, progress) -> list[ExampleResult]:
    def one(index: int, example: dspy.Example) -> ExampleResult:
        gold = example.get(task.output_field)
        text = "\n".join(str(example.get(name, "")) for name in task.input_fields)
        prediction, error, message = run_program(module, example.inputs(), lm)
        if prediction is None:
            return ExampleResult(index, text, gold, None, 0.0, error=error, message=message)
        predicted = prediction.get(task.output_field)
        result = ExampleResult(index, text, gold, predicted, example_score(task, example, prediction),
                               confidence=prediction.get("confidence"),
                               confidence_source=prediction.get("confidence_source"))
        if prediction.get("parse_error") or (predicted in (None, []) and prediction.get("unparsed")):
            result.error = "parse_failure"
            result.message = f"unparsed answer: {str(prediction.get('raw') or '')[:200]!r}"
        return result

    return run_in_parallel(one, examples, threads=threads, progress=progress)


def run_in_parallel(one: Callable[[int, Any], Any], items: Sequence, *, threads: int,
                    progress: Callable[[int, int], None] | None = None) -> list:
    """``[one(i, item) for i, item in enumerate(items)]``, ``threads`` at a time, in input order; an
    lmprog error (a replay miss) cancels what has not started and is raised."""
    results: list = [None] * len(items)
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        futures = {pool.submit(one, i, item): i for i, item in enumerate(items)}
        try:
            for done, future in enumerate(concurrent.futures.as_completed(futures), 1):
                results[futures[future]] = future.result()
                if progress:
                    progress(done, len(items))
        except LmprogError:
            for pending in futures:
                pending.cancel()
            raise
    return results


def headline_score(task: Task, gold: Sequence, predicted: Sequence, *, ranked: bool = False) -> float | None:
    """The task's headline metric of ``predicted`` against ``gold`` (label, label lists or rankings),
    as :attr:`Evaluation.score` computes it. With another program's answers as ``gold`` it is the
    agreement between the two (pairs whose reference answer is missing are left out)."""
    field_name = task.output_field
    results = [ExampleResult(i, "", g, p, example_score(task, {field_name: g}, {field_name: p}))
               for i, (g, p) in enumerate(zip(gold, predicted)) if g is not None]
    return Evaluation(task=task, results=results, program="InferRetrieveRank" if ranked else "classifier").score


def ledger_cost(stats: dict) -> dict:
    """A run's cost for reports, from :meth:`Ledger.stats`."""
    return {"paid_calls": stats["calls"], "ledger_hits": stats["hits"], "prompt_tokens": stats["prompt_tokens"],
            "completion_tokens": stats["completion_tokens"],
            "usd": None if stats["calls"] and stats.get("calls_unpriced") == stats["calls"] else stats["cost_usd"] or 0.0,
            "failed_attempts": stats["errors"], "attempt_errors": stats.get("errors_by_kind", {}),
            "by_module": [{k: row.get(k) for k in ("name", "calls", "prompt_tokens", "completion_tokens", "cost_usd")}
                          | {"module": row.get("name")} for row in stats.get("by_module", [])]}


__all__ = ["evaluate", "Evaluation", "ExampleResult", "headline_score", "ledger_cost", "run_in_parallel", "run_program", "zero_shot_version"]
