"""What the labels alone give: a plain scikit-learn text classifier trained on the labelled examples.

It is the **supervised floor** every LM program is compared with (TF-IDF of word and character n-grams
with logistic regression, no LM at all), the model that distillation trains on pseudo-labels, and the
source of out-of-fold probabilities for the label loop (audit, suggest). Scored out of fold, so every
example is predicted by a model that did not see it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lmprog.errors import ConfigurationError

FEATURES = ("tfidf", "embeddings")
FOLDS = 5


def input_text(task_inputs: Sequence[str], row: Any) -> str:
    """The text a classifier reads: the task's input fields joined by newlines (a str is taken as is)."""
    if isinstance(row, str):
        return row
    get = row.get if hasattr(row, "get") else (lambda name, default=None: getattr(row, name, default))
    return "\n".join(str(get(name, "") or "") for name in task_inputs)


def text_pipeline(features: str = "tfidf", *, multi_label: bool = False, balance: bool = True, seed: int = 0):
    """An unfitted Pipeline: TF-IDF features (or none: embeddings are computed before it) and logistic
    regression (one-vs-rest for multi-label)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import FeatureUnion, Pipeline
    from sklearn.preprocessing import FunctionTransformer

    if features not in FEATURES:
        raise ConfigurationError(f"unknown features {features!r}; use one of {', '.join(FEATURES)}")
    model = LogisticRegression(C=4.0, max_iter=2000, class_weight="balanced" if balance else None,
                               random_state=seed)
    if multi_label:
        model = OneVsRestClassifier(model)
    if features == "tfidf":
        steps = FeatureUnion([
            ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, strip_accents="unicode")),
            # 3-5: character bigrams add little accuracy and a third of the prediction time
            ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True, min_df=2,
                                      strip_accents="unicode")),
        ])
    else:
        steps = FunctionTransformer()  # the embeddings arrive ready; kept as a step so both pipelines read alike
    return Pipeline([("features", steps), ("model", model)])


def targets(answers: Sequence, classes: Sequence[str], multi_label: bool):
    """Label names as what the model fits: an array of names, or a binary indicator matrix for label sets."""
    if not multi_label:
        return np.asarray(list(answers), dtype=object)
    from sklearn.preprocessing import MultiLabelBinarizer

    return MultiLabelBinarizer(classes=list(classes)).fit_transform([list(a or []) for a in answers])


def out_of_fold_proba(pipeline, X, y, *, multi_label: bool, seed: int = 0, folds: int = FOLDS) -> np.ndarray:
    """Cross-validated probabilities: each example predicted by a model that did not train on it."""
    import warnings

    from sklearn.base import clone
    from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict

    if multi_label:
        splitter = KFold(n_splits=max(2, min(folds, len(y))), shuffle=True, random_state=seed)
    else:
        smallest = min(np.unique(y, return_counts=True)[1])
        splitter = StratifiedKFold(n_splits=max(2, min(folds, smallest)), shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        # A fold may miss a rare label entirely: sklearn warns and predicts it as absent, which is right here.
        warnings.simplefilter("ignore", UserWarning)
        return np.asarray(cross_val_predict(clone(pipeline), X, y, cv=splitter, method="predict_proba"), dtype=float)


@dataclass
class Floor:
    """The supervised floor on some labelled examples: each example's out-of-fold answer and probabilities."""

    classes: list[str]
    answers: list
    proba: np.ndarray
    folds: int

    def to_dict(self) -> dict:
        return {"method": "TF-IDF (word 1-2 + char 3-5) + logistic regression, cross-validated",
                "folds": self.folds, "classes": len(self.classes)}


def supervised_floor(texts: Sequence[str], gold: Sequence, *, multi_label: bool, seed: int = 0,
                     folds: int = FOLDS) -> Floor | None:
    """Out-of-fold answers of the plain classifier trained on ``texts`` and their ``gold`` labels; None when the
    labels cannot be cross-validated (fewer than two labels, or a single-label class with one example only
    is scored as wrong: it cannot be learnt from the other folds)."""
    names = sorted({label for value in gold for label in (value if multi_label else [value]) if label is not None})
    if len(names) < 2 or len(texts) < 4:
        return None
    y = targets(gold, names, multi_label)
    if not multi_label and min(np.unique(y, return_counts=True)[1]) < 2:
        return _floor_with_singletons(texts, gold, names, seed, folds)
    proba = out_of_fold_proba(text_pipeline(multi_label=multi_label, seed=seed), list(texts), y,
                              multi_label=multi_label, seed=seed, folds=folds)
    return Floor(names, answers_from(proba, names, multi_label), proba, folds)


def _floor_with_singletons(texts, gold, names, seed, folds) -> Floor:
    """Single-label data where some label has one example: those examples are answered None (wrong)."""
    from collections import Counter

    counts = Counter(gold)
    keep = [i for i, g in enumerate(gold) if counts[g] >= 2]
    kept_names = sorted({gold[i] for i in keep})
    answers: list = [None] * len(gold)
    proba = np.zeros((len(gold), len(names)))
    if len(kept_names) >= 2:
        y = targets([gold[i] for i in keep], kept_names, False)
        inner = out_of_fold_proba(text_pipeline(seed=seed), [texts[i] for i in keep], y, multi_label=False,
                                  seed=seed, folds=folds)
        columns = [names.index(n) for n in kept_names]
        for row, i in enumerate(keep):
            proba[i, columns] = inner[row]
            answers[i] = kept_names[int(inner[row].argmax())]
    return Floor(names, answers, proba, folds)


def answers_from(proba: np.ndarray, classes: Sequence[str], multi_label: bool) -> list:
    """The label (argmax) or label set (probability at least 0.5) each row of probabilities gives."""
    if multi_label:
        return [[classes[j] for j in np.flatnonzero(row >= 0.5)] for row in proba]
    return [classes[int(j)] for j in proba.argmax(axis=1)]
