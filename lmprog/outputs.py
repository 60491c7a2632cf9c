"""What a label program answers, and how that answer is scored: one label, a label set, or a ranking.

Every lmprog module says which :class:`OutputKind` it answers with (``module.output``). Compile,
evaluation, distillation and reports ask the kind, never the module's class: how one example scores,
which metrics a set of answers gets, which metric is the headline, and how an answer reads as a set of
labels for per-label scores.

- :data:`LABEL`: one label name (or None when the answer did not parse); example score 1/0; metrics
  accuracy and macro F1.
- :data:`LABEL_SET`: a list of label names; example score the F1 of the two sets (both empty: 1);
  metrics micro/macro F1 and the mean example F1.
- :data:`RANKING`: a ranked list of label names; example score RP@10; metrics RP@k, P@k and R@k at
  k = 1, 5, 10.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from lmprog import metrics as m

LABEL_FIELD = "label"
LABELS_FIELD = "labels"
RANK_CUTOFFS = (1, 5, 10)
DEFAULT_RANK_CUTOFF = 10
_RANK_METRIC = re.compile(r"^(rp|p|r)@(\d+)$")


class OutputKind:
    """How one kind of answer is read and scored; see the module docstring."""

    name = ""
    multi = False  # answers are lists of labels
    ranked = False  # answers are ordered, best first

    @property
    def field(self) -> str:
        """The prediction (and gold example) field holding the answer."""
        return LABELS_FIELD if self.multi else LABEL_FIELD

    def empty(self) -> Any:
        """The answer of a failed prediction."""
        return [] if self.multi else None

    def example_score(self, gold: Any, predicted: Any) -> float:
        raise NotImplementedError

    def metrics(self, gold: Sequence, predicted: Sequence, labels: Sequence[str]) -> dict[str, float]:
        raise NotImplementedError

    def headline(self, task_metric: str | None) -> str:
        """The headline metric: the task's, when this kind computes it."""
        return task_metric or self.default_metric

    default_metric = ""

    def as_set(self, predicted: Any, metric: str | None = None) -> Any:
        """The answer as the labels it asserts (a ranking is cut at the headline's k) for per-label scores."""
        return predicted

    def headline_value(self, gold: Sequence, predicted: Sequence, *, labels: Sequence[str],
                       metric: str | None = None) -> float | None:
        """The headline metric of ``predicted`` against ``gold``; pairs whose gold is None are left out
        (with another program's answers as gold this is the agreement between the two)."""
        pairs = [(g, p) for g, p in zip(gold, predicted) if g is not None]
        if not pairs:
            return None
        values = self.metrics([g for g, _ in pairs], [p for _, p in pairs], labels)
        return values.get(self.headline(metric))

    def __repr__(self) -> str:
        return f"OutputKind({self.name!r})"


class _Label(OutputKind):
    name = "label"
    default_metric = "accuracy"

    def example_score(self, gold, predicted) -> float:
        return float(predicted is not None and predicted == gold)

    def metrics(self, gold, predicted, labels) -> dict[str, float]:
        if not gold:
            return {}
        return {"accuracy": m.accuracy(gold, predicted), "macro_f1": m.f1(gold, predicted, average="macro",
                                                                          labels=list(labels))}


class _LabelSet(OutputKind):
    name = "label_set"
    multi = True
    default_metric = "micro_f1"

    def example_score(self, gold, predicted) -> float:
        gold, predicted = set(gold or ()), set(predicted or ())
        if not gold and not predicted:
            return 1.0
        overlap = len(gold & predicted)
        return 0.0 if overlap == 0 else 2 * overlap / (len(gold) + len(predicted))

    def metrics(self, gold, predicted, labels) -> dict[str, float]:
        if not gold:
            return {}
        sets = [list(p or []) for p in predicted]
        return {"micro_f1": m.f1_multilabel(gold, sets, average="micro", labels=list(labels)),
                "macro_f1": m.f1_multilabel(gold, sets, average="macro", labels=list(labels)),
                "example_f1": sum(self.example_score(g, p) for g, p in zip(gold, sets)) / len(gold)}


class _Ranking(OutputKind):
    name = "ranking"
    multi = True
    ranked = True
    default_metric = f"rp@{DEFAULT_RANK_CUTOFF}"

    def example_score(self, gold, predicted) -> float:
        gold = set(gold or ())
        if not gold:
            return 0.0
        top = list(dict.fromkeys(predicted or ()))[:DEFAULT_RANK_CUTOFF]
        return len(gold & set(top)) / min(DEFAULT_RANK_CUTOFF, len(gold))

    def metrics(self, gold, predicted, labels) -> dict[str, float]:
        if not gold:
            return {}
        rankings = [list(p or []) for p in predicted]
        out = {}
        for k in RANK_CUTOFFS:
            out[f"rp@{k}"] = m.rp_at_k(gold, rankings, k)
            out[f"p@{k}"] = m.precision_at_k(gold, rankings, k)
            out[f"r@{k}"] = m.recall_at_k(gold, rankings, k)
        return out

    def headline(self, task_metric: str | None) -> str:
        return task_metric if _RANK_METRIC.match(task_metric or "") else self.default_metric

    def as_set(self, predicted, metric=None) -> list:
        match = _RANK_METRIC.match(metric or "")
        return list(predicted or [])[:int(match.group(2)) if match else DEFAULT_RANK_CUTOFF]


LABEL: OutputKind = _Label()
LABEL_SET: OutputKind = _LabelSet()
RANKING: OutputKind = _Ranking()
KINDS = {kind.name: kind for kind in (LABEL, LABEL_SET, RANKING)}


def for_task(task) -> OutputKind:
    """The kind a plain classifier of ``task`` answers with: a label set for multi-label tasks, else a label."""
    return LABEL_SET if task.multi_label else LABEL


def of(program) -> OutputKind:
    """What ``program`` (an lmprog module, or any module with a ``task``) answers with: its ``output``
    if it declares one, else what a plain classifier of its task would."""
    kind = getattr(program, "output", None)
    return kind if isinstance(kind, OutputKind) else for_task(program.task)


def by_name(name: str) -> OutputKind:
    """The kind saved as ``name`` (``label``, ``label_set``, ``ranking``); KeyError for others."""
    return KINDS[name]
