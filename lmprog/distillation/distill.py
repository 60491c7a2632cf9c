"""``lmprog.distill``: from a compiled LM program to a scikit-learn classifier that costs nothing per call.

1. the program pseudo-labels the unlabelled texts (ledgered, budgeted, parallel, resumable);
2. noisy pseudo-labels are filtered out, and each reason counted;
3. a Pipeline is trained on what is left (classes balanced by weight);
4. agreement with the program is measured out of fold (5-fold cross-validation), and with gold
   data the program, the classifier and the cascade are scored against gold;
5. the cascade curve (score against the fraction of inputs sent to the LM) is drawn, on gold when
   given, else on the out-of-fold answers against the program's own.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dspy
import numpy as np

from lmprog.artifact import CompiledProgram
from lmprog.distillation.cascade import cascade_curve
from lmprog.distillation.classifier import Distilled, build_pipeline, headline_score, input_text
from lmprog.distillation.pseudo_labels import (RANKED_PSEUDO_LABELS, PseudoLabel, confidence_known,
                                               filter_pseudo_labels, label_inputs)
from lmprog.errors import ConfigurationError, DataError
from lmprog.run import Budget, open_run
from lmprog.supervised import FEATURES, out_of_fold_proba, targets

MIN_TRAINING_EXAMPLES = 10
CV_FOLDS = 5


def distill(compiled: CompiledProgram, unlabeled, *, lm=None, features: str = "tfidf", gold=None,
            min_confidence: float | None = None, samples: int = 1, balance: bool = True, seed: int = 0,
            budget: Budget | None = None, threads: int = 8, artifact_path: str | None = None,
            progress: Callable[[str, int, int], None] | None = None) -> Distilled:
    """Distill ``compiled`` into a classifier trained on its answers to ``unlabeled``.

    Args:
        compiled: a :class:`~lmprog.CompiledProgram` (``lmprog.compile`` or ``lmprog.load``).
        unlabeled: texts to pseudo-label: a data file (JSONL, JSON, CSV, TSV with the task's input
            fields), or a sequence of dicts, ``dspy.Example``s or strings (single-input tasks).
        lm: the LM the program labels with (default: the artifact's recorded model).
        features: ``"tfidf"`` (word and character n-grams) or ``"embeddings"`` (sentence-transformers,
            the ``dense`` extra).
        gold: labelled examples (a file or a sequence) to score program, classifier and cascade on,
            and to draw the cascade curve on.
        min_confidence: drop pseudo-labels whose confidence (logprobs, or agreement between samples)
            is below this.
        samples: answers drawn per input (Classify programs); above 1 the confidence is their agreement,
            so ``min_confidence`` drops inputs the samples disagree on.
        balance: weight classes inversely to their frequency.
        seed: for the cross-validation folds and the model.
        budget: a cap on paid LM calls / USD; reaching it trains on what was labelled so far.
        progress: called with ``(stage, done, total)`` while labelling.
    """
    if features not in FEATURES:
        raise ConfigurationError(f"unknown features {features!r}; use one of {', '.join(FEATURES)}")
    if min_confidence is not None and not 0.0 <= min_confidence <= 1.0:
        raise ConfigurationError(f"min_confidence must be between 0 and 1, not {min_confidence}")
    task = compiled.task
    lm = lm if lm is not None else compiled.make_lm()
    inputs = _inputs(unlabeled, task)
    gold_examples = _gold(gold, task) if gold is not None else None
    arguments = {"artifact": artifact_path, "fingerprint": compiled.fingerprint(), "texts": len(inputs),
                 "samples": samples, "gold": len(gold_examples) if gold_examples is not None else None}
    with open_run(lm, "distill", arguments, budget=budget) as run:
        labels, gold_answers = _pseudo_labels(compiled, inputs, gold_examples, lm=lm, samples=samples,
                                              threads=threads, progress=progress)
        if min_confidence is not None and not confidence_known(labels):
            raise ConfigurationError("min_confidence needs a confidence, but the program reported none (its LM "
                                     "returns no logprobs): pass samples=3 to measure agreement between samples")
    kept, dropped, rare = filter_pseudo_labels(labels, task, min_confidence=min_confidence)
    _check_enough(kept, dropped, len(labels), task)
    distilled = _fitted(compiled, kept, features=features, balance=balance, seed=seed,
                        program_info={"artifact": artifact_path, "distill_run": run.run_id})
    distilled.training = _training_summary(labels, kept, dropped, rare, distilled.classes, task, distilled.ranked,
                                           run.budget, min_confidence, samples, balance, seed, features)
    gold_used = distilled.metrics.get("gold_labels", 0)
    distilled.training["gold_labels"] = gold_used
    if gold_used:
        distilled.training["notes"].append(f"also trained on the {gold_used:,} labelled examples the program was "
                                           "compiled from (a user's label wins over the program's answer)")
    if gold_examples is not None:
        gold_metrics, distilled.cascade = _gold_scores(distilled, gold_examples, gold_answers, distilled.ranked)
        distilled.metrics.update(gold_metrics)
    texts = [input_text(task.input_fields, item.inputs) for item in kept]
    distilled.throughput = _throughput(distilled, texts, compiled, lm)
    return distilled


def _pseudo_labels(compiled, inputs, gold_examples, *, lm, samples, threads, progress):
    """The program's answers on the unlabelled inputs and, given gold examples, on those."""
    program, task = _labelling_program(compiled.program, samples), compiled.task
    labels = label_inputs(program, inputs, task, lm=lm, threads=threads, ranked=compiled.output.ranked,
                          progress=progress and (lambda d, t: progress("pseudo-label", d, t)))
    gold_answers = None
    if gold_examples is not None:
        gold_answers = label_inputs(program, [dict(ex.inputs()) for ex in gold_examples], task, lm=lm,
                                    threads=threads, ranked=False,
                                    progress=progress and (lambda d, t: progress("program on gold", d, t)))
    return labels, gold_answers


def _training_rows(compiled, kept: list[PseudoLabel]) -> tuple[list[str], list, int]:
    """Texts and answers to train on: the kept pseudo-labels first (a text the user labelled takes the user's
    label), then the labelled examples the program was compiled from; and how many gold labels were used."""
    task = compiled.task
    field = task.output_field
    gold = {input_text(task.input_fields, ex): ex.get(field) for ex in compiled.labelled_examples()}
    texts = [input_text(task.input_fields, item.inputs) for item in kept]
    answers = [gold.get(text, item.answer) for text, item in zip(texts, kept)]
    extra = [text for text in gold if text not in set(texts)]
    used = sum(text in gold for text in texts) + len(extra)
    return texts + extra, answers + [gold[text] for text in extra], used


def _fitted(compiled, kept: list[PseudoLabel], *, features, balance, seed, program_info: dict) -> Distilled:
    """The classifier trained on the kept pseudo-labels and the gold labels the program was compiled from, with
    its out-of-fold agreement with the program (on the pseudo-labelled texts) and the cascade curve."""
    task, ranked = compiled.task, compiled.output.ranked
    texts, answers, gold_used = _training_rows(compiled, kept)
    classes = sorted({a for answer in answers for a in (answer if task.multi_label else [answer]) if a is not None})
    distilled = Distilled(pipeline=build_pipeline(features, multi_label=task.multi_label, balance=balance, seed=seed),
                          task=task, classes=classes, ranked=ranked, features=features,
                          labels_hash=task.labels.hash, program={
                              "class": type(compiled.program).__name__, "fingerprint": compiled.fingerprint(),
                              "model": compiled.lm.get("model"), "compile_run": compiled.run_id, **program_info})
    X = distilled.features_of(texts)
    y = _targets(answers, classes, task.multi_label)
    oof = _out_of_fold(distilled, X, y, seed)
    distilled.pipeline.fit(X, y)
    n = len(kept)
    program_answers = [item.answer for item in kept]
    oof_answers, oof_confidence = distilled.answers(oof[:n]), distilled.confidence(oof[:n])
    distilled.metrics = {"agreement_cv": headline_score(distilled, program_answers, oof_answers),
                         "pseudo_labels": n, "gold_labels": gold_used}
    distilled.cascade = {"reference": "program (out-of-fold pseudo-labels)", "examples": n,
                         "curve": cascade_curve(oof_confidence, oof_answers, program_answers, program_answers, task,
                                                ranked=ranked)}
    return distilled


def _labelling_program(program: dspy.Module, samples: int) -> dspy.Module:
    if samples < 1:
        raise ConfigurationError(f"samples must be at least 1, not {samples}")
    if samples == 1:
        return program
    sampling = getattr(program, "sampling", None)
    if not callable(sampling):
        raise ConfigurationError(f"samples= needs a program that can draw several answers per input (one with "
                                 f"sampling(n), such as Classify), not {type(program).__name__}")
    return sampling(samples)


def _inputs(unlabeled, task) -> list[dict]:
    """The unlabelled inputs as dicts of the task's input fields (a data file is read by the task's columns)."""
    from lmprog.data.frames import is_dataframe

    if isinstance(unlabeled, (str, Path)) or is_dataframe(unlabeled):
        unlabeled = task.read_examples(unlabeled, labelled=False)
    rows = [task.inputs_of(item, where=f"unlabeled item {index}") for index, item in enumerate(unlabeled)]
    if not rows:
        raise DataError("there are no unlabeled texts to distill from")
    return rows


def _gold(gold, task) -> list[dspy.Example]:
    from lmprog.data.frames import is_dataframe

    examples = list(task.read_examples(gold) if isinstance(gold, (str, Path)) or is_dataframe(gold) else gold)
    if not examples:
        raise DataError("the gold data has no examples")
    return examples


def _check_enough(kept: list[PseudoLabel], dropped, total: int, task) -> None:
    reasons = ", ".join(f"{n} {reason}" for reason, n in dropped.most_common()) or "none dropped"
    distinct = {a for item in kept for a in (item.answer if task.multi_label else [item.answer])}
    if len(kept) < MIN_TRAINING_EXAMPLES or len(distinct) < 2:
        raise DataError(f"only {len(kept)} of {total} pseudo-labels are usable ({reasons}), with {len(distinct)} "
                        f"distinct labels; distill needs at least {MIN_TRAINING_EXAMPLES} with 2 labels: give more "
                        "unlabeled texts, a larger budget or a lower min_confidence")


def _targets(answers: list, classes: list[str], multi_label: bool):
    return targets(answers, classes, multi_label)


def _out_of_fold(distilled: Distilled, X, y, seed: int) -> np.ndarray:
    """Cross-validated probabilities: each example predicted by a model that did not train on it."""
    return out_of_fold_proba(distilled.pipeline, X, y, multi_label=distilled.multi_label, seed=seed, folds=CV_FOLDS)


def _gold_scores(distilled: Distilled, gold_examples, gold_answers: list[PseudoLabel], ranked: bool):
    task = distilled.task
    gold = [ex.get(task.output_field) for ex in gold_examples]
    program = [item.answer if item.error is None else ([] if task.multi_label else None) for item in gold_answers]
    # The program's answers as a reference: what it would teach (a ranking's top labels), None where it failed.
    reference = [None if item.error is not None else item.answer[:RANKED_PSEUDO_LABELS] if ranked else item.answer
                 for item in gold_answers]
    proba = distilled.predict_proba(gold_examples)
    answers, confidence = distilled.answers(proba), distilled.confidence(proba)
    metrics = {"gold_examples": len(gold), "program_score": headline_score(distilled, gold, program),
               "classifier_score": headline_score(distilled, gold, answers),
               "agreement_gold": headline_score(distilled, reference, answers),
               "program_errors_on_gold": sum(item.error is not None for item in gold_answers)}
    curve = {"reference": "gold", "examples": len(gold),
             "curve": cascade_curve(confidence, answers, program, gold, task, ranked=ranked)}
    return metrics, curve


def _throughput(distilled: Distilled, texts: list[str], compiled: CompiledProgram, lm) -> dict:
    """Classifier predictions per second (measured now, in one batch) and the program's, from the
    latency and cost the ledger recorded for its calls."""
    repeats = max(1, 2000 // max(1, len(texts)))
    started = time.perf_counter()
    for _ in range(repeats):
        distilled.predict_proba(texts)
    seconds = time.perf_counter() - started
    out: dict[str, Any] = {"classifier_predictions_per_second": len(texts) * repeats / seconds if seconds else None,
                           "classifier_usd_per_1000": 0.0}
    ledger = getattr(lm, "ledger", None)
    if ledger is not None:
        module = f"{type(compiled.program).__name__}:{compiled.task.name}"
        stats = ledger.module_stats(module)
        calls_per_prediction = len(compiled.program.named_predictors())
        if stats["calls"] and stats["mean_latency_ms"]:
            per_prediction = stats["mean_latency_ms"] / 1000 * calls_per_prediction
            out.update(program_seconds_per_prediction=per_prediction,
                       program_predictions_per_second=1 / per_prediction,
                       program_usd_per_1000=None if stats["mean_cost_usd"] is None
                       else stats["mean_cost_usd"] * calls_per_prediction * 1000,
                       program_latency_from=f"mean of the ledger's {stats['calls']:,} paid calls of {module}")
    return out


def _training_summary(labels, kept, dropped, rare, classes, task, ranked, tracker, min_confidence, samples, balance,
                      seed, features) -> dict:
    summary = {"texts": len(labels), "pseudo_labelled": sum(item.error is None for item in labels),
               "kept": len(kept), "dropped": dict(dropped), "rare_labels_removed": rare, "classes": len(classes),
               "label_space": len(task.labels), "min_confidence": min_confidence, "samples": samples,
               "balance": "class weights inversely proportional to frequency" if balance else None,
               "seed": seed, "features": features, "spent": tracker.summary(),
               "budget_stopped": tracker.exhausted, "notes": []}
    if len(classes) < len(task.labels):
        unseen = len(task.labels) - len(classes)
        summary["notes"].append(f"trained on the {len(classes):,} labels the pseudo-labels use; the other "
                                f"{unseen:,} of the {len(task.labels):,} labels are never predicted")
    if tracker.exhausted:
        failed = dropped.get("failed", 0)
        summary["notes"].append(f"the budget stopped pseudo-labelling: {failed:,} texts were not labelled")
    if ranked:
        summary["notes"].append("a ranking program: pseudo-labels are the labels its Rank step chose; the classifier "
                                "ranks its labels by probability")
    return summary
