"""``lmprog.estimate``: a compiled program's score on the user's own pool, with a 95% interval, from N labels.

Two steps, as the person labels in between:

1. ``estimate(compiled, pool, labels=N)``: the program answers every pool row (ledgered, budgeted); a
   surrogate (a distilled classifier, else the program's confidence) predicts where it is wrong; N rows are
   drawn by active testing (:mod:`lmprog.loop.active_testing`) and returned as rows to label.
2. ``estimate(compiled, pool, labelled_file=...)``: the same answers (from the ledger, no new payment), the
   labels read back, and the estimate with its interval next to the width uniform sampling would have.

The rows to label carry how they were drawn (``estimate``: draws, probability, predicted score); the second
step recomputes the design from the pool, the answers and the surrogate, and refuses to mix in rows drawn
under another one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lmprog.errors import ConfigurationError, DataError
from lmprog.intervals import Interval
from lmprog.loop.active_testing import (UNIFORM_SHARE, Design, draw_probability, estimate_from, expected_scores,
                                        sampling_design)
from lmprog.loop.queue import queue_row
from lmprog.loop.signals import ProgramAnswers, program_answers
from lmprog.loop.sources import as_compiled, as_model
from lmprog.loop.texts import fingerprint, read_inputs, record_inputs, text_of

METRIC_NAMES = {"label": "accuracy", "label_set": "example F1", "ranking": "RP@10"}
TOLERANCE = 1e-6


@dataclass
class Estimate:
    """What :func:`estimate` did: the rows drawn to label (``to_label``), and once labelled the estimate
    (``interval``) with the width uniform sampling would have (``uniform_width``)."""

    metric: str
    pool: int
    labels: int
    surrogate: str
    predicted_mean: float
    to_label: list[dict] = field(default_factory=list)
    interval: Interval | None = None
    uniform_width: float | None = None
    program_failed: int = 0
    spent: dict | None = None
    seed: int = 0
    uniform_share: float = UNIFORM_SHARE

    @property
    def width(self) -> float | None:
        i = self.interval
        return None if i is None or i.low is None else i.high - i.low

    def queue_rows(self, task) -> list[dict]:
        """The rows to label as a queue (see :mod:`lmprog.loop.queue`)."""
        return [queue_row(task, r["inputs"], queue="estimate", row=r["row"], reason=r["reason"],
                          estimate={"draws": r["draws"], "probability": r["probability"], "predicted": r["predicted"]})
                for r in self.to_label]

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "pool": self.pool, "labels": self.labels, "surrogate": self.surrogate,
                "predicted_mean": self.predicted_mean, "to_label": list(self.to_label),
                "interval": None if self.interval is None else self.interval.to_dict(),
                "width": self.width, "uniform_width": self.uniform_width, "program_failed": self.program_failed,
                "spent": self.spent, "seed": self.seed, "uniform_share": self.uniform_share}


def estimate(compiled, unlabeled, *, labels: int | None = None, surrogate=None, labelled_file=None, sample_file=None,
             seed: int = 0, uniform_share: float = UNIFORM_SHARE, lm=None, budget=None, threads: int = 8,
             progress: Callable[[int, int], None] | None = None) -> Estimate:
    """Draw ``labels`` rows of ``unlabeled`` to label (no ``labelled_file``), or estimate the program's score on
    ``unlabeled`` from the labelled draws in ``labelled_file``.

    Args:
        compiled: a compiled program or artifact path; it answers every pool row (ledgered, under ``budget``).
        unlabeled: the pool (a data file or a sequence of rows).
        surrogate: a distilled classifier (or skops path) that predicts where the program is wrong; default: the
            program's own confidence (with none, rows are drawn uniformly).
        labelled_file: the rows to label, labelled (the file step 1 wrote, labels filled in); with
            ``sample_file`` (the file step 1 wrote), any file holding labels for those rows' texts.
        uniform_share: the share of each draw's probability spread evenly over the pool.
    """
    if not 0.0 < uniform_share <= 1.0:
        raise ConfigurationError(f"uniform_share must be in (0, 1], not {uniform_share}")
    if labelled_file is None and (labels is None or labels < 2):
        raise ConfigurationError("give labels=N (at least 2) rows to draw, or labelled_file= with the labelled draws")
    compiled, surrogate = as_compiled(compiled), as_model(surrogate)
    task = compiled.task
    inputs = read_inputs(task, unlabeled, what="unlabeled")
    if not inputs:
        raise DataError("the pool of unlabelled texts is empty")
    lm = lm if lm is not None else compiled.make_lm()
    answers = program_answers(compiled, inputs, range(len(inputs)), lm=lm, command="estimate", budget=budget,
                              arguments={"pool": len(inputs), "labels": labels, "seed": seed}, threads=threads,
                              progress=progress)
    predicted, name = _predicted(compiled, inputs, answers, surrogate, seed)
    probability = draw_probability(predicted, uniform_share=uniform_share)
    base = Estimate(METRIC_NAMES[compiled.output.name], len(inputs), 0, name, float(np.mean(predicted)),
                    program_failed=answers.failed, spent=answers.spent, seed=seed, uniform_share=uniform_share)
    if labelled_file is None:
        return _drawn(base, inputs, predicted, labels, seed, uniform_share)
    return _estimated(base, compiled, inputs, answers, Design(probability, predicted, np.zeros(0, dtype=int)),
                      labelled_file, sample_file)


def _predicted(compiled, inputs, answers: ProgramAnswers, surrogate, seed: int) -> tuple[np.ndarray, str]:
    """Each row's predicted score and what predicted it."""
    if surrogate is not None:
        proba = surrogate.predict_proba(list(inputs))
        name = "distilled classifier"
        return expected_scores(compiled.output, answers.answers, proba, surrogate.classes, seed=seed), name
    confidence = answers.confidence
    if np.isnan(confidence).all():
        return np.zeros(len(inputs)), "none (uniform sampling: the program reports no confidence)"
    filled = np.where(np.isnan(confidence), np.nanmean(confidence), confidence)
    return np.where(answers.asked, filled, 0.0), "program confidence"


def _drawn(base: Estimate, inputs, predicted, labels: int, seed: int, uniform_share: float) -> Estimate:
    design = sampling_design(predicted, labels, seed=seed, uniform_share=uniform_share)
    rows, counts = np.unique(design.draws, return_counts=True)
    base.labels = int(labels)
    uniform = base.surrogate.startswith("none")
    for row, count in sorted(zip(rows, counts), key=lambda pair: int(pair[0])):
        q, f = float(design.probability[row]), float(design.predicted[row])
        why = "at random (no surrogate)" if uniform else \
            f"with {q * len(inputs):.2f}x the uniform probability: predicted score {f:.2f}"
        base.to_label.append({"row": int(row), "inputs": inputs[row], "draws": int(count), "probability": q,
                              "predicted": f, "reason": f"drawn {int(count)}x {why}"})
    return base


def _estimated(base: Estimate, compiled, inputs, answers: ProgramAnswers, design: Design, labelled_file,
               sample_file) -> Estimate:
    task = compiled.task
    sample = _sample_rows(sample_file or labelled_file)
    gold = _labels_by_text(task, labelled_file)
    draws, scores = [], []
    for record in sample:
        row = int(record["row"])
        if row >= len(inputs) or fingerprint(text_of(task, record_inputs(task, record, where=f"sample row {row}"))) \
                != fingerprint(text_of(task, inputs[row])):
            raise DataError(f"sample row {row} is not that row of the pool: draw the rows again with labels=N")
        if abs(float(record["estimate"]["probability"]) - design.probability[row]) > TOLERANCE:
            raise DataError("the rows to label were drawn with another program, surrogate, pool or seed; draw "
                            "them again with labels=N")
        key = fingerprint(text_of(task, inputs[row]))
        if key not in gold:
            raise DataError(f"row {row} of the sample has no label in {labelled_file}; label every drawn row")
        score = compiled.output.example_score(gold[key], answers.answers[row])
        count = int(record["estimate"]["draws"])
        draws += [row] * count
        scores += [score] * count
    result = estimate_from(Design(design.probability, design.predicted, np.asarray(draws, dtype=int)), scores)
    base.labels = len(draws)
    base.interval = Interval(result.value, result.low, result.high, result.n, "active testing")
    base.uniform_width = result.uniform_width
    return base


def _sample_rows(path) -> list[dict]:
    """The rows of a queue file ``estimate`` wrote (those with an ``estimate`` record)."""
    from lmprog.data import read_rows

    records = [row.record for row in read_rows(Path(path)) if isinstance(row.record, dict)]
    sample = [r for r in records if isinstance(r.get("estimate"), dict) and "row" in r]
    if not sample:
        raise DataError(f"{path} holds no drawn rows (rows with an 'estimate' record): pass the file "
                        "'lmprog estimate --labels N --out' wrote, or name it with sample_file=")
    return sample


def _labels_by_text(task, path) -> dict[str, Any]:
    """Gold labels of a labelled file by text fingerprint (rows without a label are skipped)."""
    try:
        examples = task.read_examples(path, drop_invalid=True)
    except DataError as exc:  # every row is unusable: most likely none is labelled yet
        problem = f" (line {exc.problems[0][0]}: {exc.problems[0][1]})" if exc.problems else ""
        raise DataError(f"no row of {path} has a usable label{problem}; label every drawn row",
                        path=str(path)) from None
    return {fingerprint(text_of(task, task.inputs_of(ex))): ex.get(task.output_field) for ex in examples}
