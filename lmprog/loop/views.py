"""Independent opinions on which label each labelled row has, and their weighted mixture.

Each **view** gives, for every row, probabilities over the labels (for label sets: one yes/no probability per
label), made without the row's own label:

- the plain classifier (TF-IDF) and the same on text embeddings, out of fold
  (:func:`lmprog.supervised.out_of_fold_proba`);
- the label names and descriptions: how close the text's embedding is to each label's (a softmax at a few
  temperatures), which knows nothing of the labels given;
- the compiled program's answers, when there is one (its confidence on its answer, the rest spread).

:func:`mixture_weights` weighs the views by how well each predicts the labels given (the maximum-likelihood
weights of their mixture, by EM), so a view that knows the task (the label names of banking intents) counts
and one that does not (the names ``ham`` and ``spam``) drops out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp

from lmprog.supervised import out_of_fold_proba, targets, text_pipeline

LABEL_TEXT_TEMPERATURES = (0.02, 0.05, 0.1)
UNKNOWN_CONFIDENCE = 0.8  # a program answer whose confidence is unknown
EM_ROUNDS = 200
FLOOR = 1e-6


@dataclass
class View:
    """One opinion: ``proba[i, j]`` for row i and label ``classes[j]`` (a distribution over the labels, or per-label
    yes/no probabilities for label sets)."""

    name: str
    proba: np.ndarray


def classifier_views(texts: list[str], vectors: np.ndarray | None, gold: list, classes: list[str], *,
                     multi_label: bool, seed: int, folds: int) -> list[View]:
    """Out-of-fold probabilities of the TF-IDF classifier and, with ``vectors``, of the embedding classifier."""
    import warnings

    y = targets(gold, classes, multi_label)
    sources = [("TF-IDF classifier (out of fold)", text_pipeline(multi_label=multi_label, seed=seed), texts)]
    if vectors is not None:
        sources.append(("embedding classifier (out of fold)",
                        text_pipeline("embeddings", multi_label=multi_label, seed=seed), vectors))
    views = []
    for name, pipeline, features in sources:
        with warnings.catch_warnings():
            # a fold may miss a label with few rows: its column is 0 there, which is what out of fold means
            warnings.simplefilter("ignore", RuntimeWarning)
            proba = out_of_fold_proba(pipeline, features, y, multi_label=multi_label, seed=seed, folds=folds)
        views.append(View(name, _columns(proba, len(classes))))
    return views


def _columns(proba: np.ndarray, width: int) -> np.ndarray:
    return proba if proba.shape[1] == width else np.pad(proba, ((0, 0), (0, width - proba.shape[1])))


def label_text_views(vectors: np.ndarray, label_vectors: np.ndarray) -> list[View]:
    """How near each text is to each label's name and description (cosine), as a softmax per temperature."""
    similarity = vectors @ label_vectors.T
    views = []
    for temperature in LABEL_TEXT_TEMPERATURES:
        logits = similarity / temperature
        views.append(View(f"label names and descriptions (temperature {temperature})",
                          np.exp(logits - logsumexp(logits, axis=1, keepdims=True))))
    return views


def label_texts(task, classes: list[str]) -> list[str]:
    """Each label as text: its name (underscores as spaces) and its description."""
    out = []
    for name in classes:
        label = task.labels[name] if name in task.labels else None
        words = name.replace("_", " ")
        out.append(f"{words}: {label.description}" if label is not None and label.description else words)
    return out


def program_view(answers: list, confidence: np.ndarray, classes: list[str], multi_label: bool) -> View:
    """The program's answers as probabilities: its confidence on its answer, the rest spread evenly."""
    proba = np.zeros((len(answers), len(classes)))
    for i, answer in enumerate(answers):
        c = UNKNOWN_CONFIDENCE if np.isnan(confidence[i]) else float(np.clip(confidence[i], 0.01, 0.99))
        if answer is None:
            proba[i] = 0.5 if multi_label else 1.0 / len(classes)
        elif multi_label:
            chosen = set(answer)
            proba[i] = [c if name in chosen else 1 - c for name in classes]
        elif answer in classes:
            proba[i] = (1 - c) / max(1, len(classes) - 1)
            proba[i, classes.index(answer)] = c
        else:
            proba[i] = 1.0 / len(classes)
    return View("compiled program", proba)


def given_log_likelihood(view: View, y: np.ndarray, multi_label: bool) -> np.ndarray:
    """Per row, the log-probability the view gives the labels given (``y``: label codes, or an indicator matrix)."""
    p = np.clip(view.proba, FLOOR, 1 - FLOOR)
    if multi_label:
        return (y * np.log(p) + (1 - y) * np.log(1 - p)).sum(axis=1)
    return np.log(p[np.arange(len(y)), y])


def mixture_weights(log_likelihoods: np.ndarray, rounds: int = EM_ROUNDS) -> np.ndarray:
    """Maximum-likelihood weights of a mixture of views (EM), from a rows x views matrix of log-likelihoods."""
    views = log_likelihoods.shape[1]
    weights = np.full(views, 1.0 / views)
    for _ in range(rounds):
        joint = log_likelihoods + np.log(np.maximum(weights, 1e-300))
        responsibility = np.exp(joint - logsumexp(joint, axis=1, keepdims=True))
        weights = responsibility.mean(axis=0)
    return weights


def combined(views: list[View], weights: np.ndarray) -> np.ndarray:
    return sum(w * v.proba for w, v in zip(weights, views))
