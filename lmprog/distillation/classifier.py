"""The distilled classifier: a scikit-learn Pipeline trained on a program's pseudo-labels.

Features are word (1-2) and character (3-5) n-gram TF-IDF, or sentence embeddings with the
``dense`` extra; the model is LogisticRegression for single-label tasks and one-vs-rest
LogisticRegression for multi-label ones. A ranking task (Infer-Retrieve-Rank) is learnt as
multi-label over the labels its pseudo-labels use, and answers with a ranking by probability.

:class:`Distilled` saves to one skops file (no pickle) that also holds the label mapping, the
fingerprint of the program it was distilled from, and what distillation measured.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lmprog import outputs
from lmprog.supervised import input_text, text_pipeline
from lmprog.errors import ArtifactError
from lmprog.labels import LabelSpace
from lmprog.task import Task

FORMAT_VERSION = 1
KIND = "lmprog.distilled"
RANKING_SIZE = 20  # labels a distilled ranking returns (the headline RP@10 reads the first 10)


def build_pipeline(features: str, *, multi_label: bool, balance: bool, seed: int):
    """An unfitted Pipeline (see :func:`lmprog.supervised.text_pipeline`)."""
    return text_pipeline(features, multi_label=multi_label, balance=balance, seed=seed)


class Encoder:
    """Sentence embeddings for ``features="embeddings"`` (all-MiniLM-L6-v2 from the dense extra, offline)."""

    def __init__(self, model: str | None = None):
        from lmprog.retrieval import load_encoder

        self._encoder = load_encoder(model)
        self.identity = self._encoder.identity
        self.model = model

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        return self._encoder(texts)


def headline_score(model, gold: Sequence, predicted: Sequence) -> float | None:
    """The task's headline metric of ``predicted`` against ``gold``, as ``model``'s output kind scores it
    (with another model's answers as ``gold``: the agreement between the two)."""
    task = model.task
    return model.output.headline_value(list(gold), list(predicted), labels=task.labels.names, metric=task.metric)


@dataclass
class Distilled:
    """A classifier distilled from a compiled program; see :func:`lmprog.distill`.

    ``classes`` are the labels it can answer (for an extreme label space, the ones the
    pseudo-labels used); ``training`` says what was pseudo-labelled, kept and dropped and why;
    ``metrics`` has agreement with the program (cross-validated on the pseudo-labels) and, with
    gold data, the scores of program, classifier and cascade; ``cascade`` has the curve of score
    against the fraction of examples sent to the LM; ``throughput`` predictions per second and
    USD per 1,000 predictions.
    """

    pipeline: Any
    task: Task
    classes: list[str]
    ranked: bool
    features: str = "tfidf"
    encoder_model: str | None = None
    labels_hash: str | None = None  # of the program's full label space (descriptions and aliases included)
    program: dict = field(default_factory=dict)  # class, fingerprint, lm model, artifact path, run id
    training: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    cascade: dict = field(default_factory=dict)
    throughput: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._encoder: Encoder | None = None

    # ------------------------------------------------------------------------------ predict

    @property
    def multi_label(self) -> bool:
        return self.task.multi_label

    @property
    def output(self) -> outputs.OutputKind:
        """What the classifier answers with: a ranking (distilled from a ranking program), a label set or a label."""
        return outputs.RANKING if self.ranked else outputs.for_task(self.task)

    def features_of(self, rows: Sequence[Any]):
        """What the pipeline reads for ``rows`` (texts, dicts with the task's input fields, or examples)."""
        texts = [input_text(self.task.input_fields, row) for row in rows]
        if self.features == "embeddings":
            if self._encoder is None:
                self._encoder = Encoder(self.encoder_model)
            return self._encoder(texts)
        return texts

    def predict_proba(self, rows: Sequence[Any]) -> np.ndarray:
        """Probabilities, one row per input, one column per label of ``classes``."""
        if not len(rows):
            return np.zeros((0, len(self.classes)))
        return np.asarray(self.pipeline.predict_proba(self.features_of(rows)), dtype=float)

    def predict(self, rows: Sequence[Any]) -> list:
        """A label per input (single-label), a list of labels (multi-label), or a ranking (ranking tasks); a
        pandas DataFrame gives a DataFrame: its columns plus the answer and ``confidence``."""
        from lmprog.data.frames import frame_records, is_dataframe, with_answers

        if not is_dataframe(rows):
            return self.answers(self.predict_proba(rows))
        columns = self.task.input_columns
        texts = [{field: row.get(column) for field, column in columns.items()} for row in frame_records(rows)]
        return with_answers(rows, self.answer_rows(texts), [self.task.output_field, "confidence"])

    def answers(self, proba: np.ndarray) -> list:
        """Predictions from :meth:`predict_proba` output."""
        if self.ranked:
            order = np.argsort(-proba, axis=1, kind="stable")[:, :RANKING_SIZE]
            return [[self.classes[j] for j in row] for row in order]
        if self.multi_label:
            return [[self.classes[j] for j in np.flatnonzero(row >= 0.5)] for row in proba]
        return [self.classes[j] for j in proba.argmax(axis=1)]

    def confidence(self, proba: np.ndarray) -> np.ndarray:
        """How sure each prediction is, in [0, 1]: the top probability (single-label and rankings), or
        for multi-label the least certain of the per-label yes/no decisions."""
        if not len(proba):
            return np.zeros(0)
        if self.multi_label and not self.ranked:
            return np.maximum(proba, 1 - proba).min(axis=1)
        return proba.max(axis=1)

    def answer_rows(self, rows: Sequence[Any]) -> list[dict]:
        """One answer dict per row: the task's output field, ``confidence`` and ``source``."""
        proba = self.predict_proba(rows)
        field_name = self.task.output_field
        return [{field_name: answer, "confidence": float(c), "source": "classifier"}
                for answer, c in zip(self.answers(proba), self.confidence(proba))]

    def evaluate(self, examples: Sequence[Any], *, program_answers: Sequence | None = None) -> dict:
        """Score on labelled ``examples`` (the task's headline metric); with ``program_answers`` (the
        compiled program's answers on the same examples) also the agreement with the program."""
        examples = list(examples)
        started = time.perf_counter()
        predicted = self.predict(examples)
        seconds = time.perf_counter() - started
        gold = [_gold(example, self.task.output_field) for example in examples]
        out = {"examples": len(examples), "score": headline_score(self, gold, predicted),
               "predictions_per_second": len(examples) / seconds if seconds > 0 else None}
        if program_answers is not None:
            out["agreement"] = headline_score(self, list(program_answers), predicted)
        return out

    # ------------------------------------------------------------------------------- files

    def save(self, path: str | os.PathLike) -> Path:
        """Write one skops file (no pickle) with the pipeline, label mapping and measurements."""
        import skops.io as sio

        path = Path(path)
        document = {
            "kind": KIND, "format_version": FORMAT_VERSION, "lmprog_version": _version(),
            "sklearn_version": _sklearn_version(),
            "task": {"name": self.task.name, "instructions": self.task.instructions,
                     "inputs": dict(self.task.inputs), "multi_label": bool(self.task.multi_label),
                     "metric": self.task.metric, "labels_hash": self.labels_hash or self.task.labels.hash,
                     "label_names": list(self.task.labels.names)},
            "classes": list(self.classes), "ranked": bool(self.ranked), "features": self.features,
            "encoder_model": self.encoder_model, "program": dict(self.program), "training": dict(self.training),
            "metrics": dict(self.metrics), "cascade": dict(self.cascade), "throughput": dict(self.throughput),
            "pipeline": self.pipeline,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        try:
            sio.dump(_plain(document), tmp)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return path


def is_distilled_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a model file ``lmprog distill`` wrote (a skops archive that names lmprog's kind)."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            return KIND.encode() in archive.read("schema.json")
    except (OSError, KeyError, zipfile.BadZipFile):
        return False


def load_distilled(path: str | os.PathLike) -> Distilled:
    """Read a :meth:`Distilled.save` file, checking its kind, version and label mapping.

    skops rebuilds only scikit-learn's and numpy's own types; a file holding any other type is
    refused (nothing in it is executed or unpickled).
    """
    import skops.io as sio

    path = Path(path)
    where = f"model {path}"
    if not path.is_file():
        raise ArtifactError(f"{where} does not exist", path=str(path))
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as error:  # noqa: BLE001 - skops raises zip, JSON and key errors for broken files
        raise ArtifactError(f"{where} is not a skops file lmprog can read ({type(error).__name__}: {error})",
                            path=str(path)) from None
    if untrusted:
        raise ArtifactError(f"{where} holds types lmprog does not load: {', '.join(untrusted[:5])}; "
                            "it was not written by lmprog distill", path=str(path))
    try:
        document = sio.load(path, trusted=None)
    except Exception as error:  # noqa: BLE001 - as above: any failure to rebuild is a bad file
        raise ArtifactError(f"{where} cannot be loaded ({type(error).__name__}: {error})", path=str(path)) from None
    return _from_document(document, where, str(path))


def _from_document(document: Any, where: str, path: str) -> Distilled:
    if not isinstance(document, dict) or document.get("kind") != KIND:
        raise ArtifactError(f"{where} is not an lmprog distilled classifier", path=path)
    version = document.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise ArtifactError(f"{where}: format_version must be a positive integer, not {version!r}", path=path)
    if version > FORMAT_VERSION:
        raise ArtifactError(f"{where} was written by a newer lmprog (format {version}); this lmprog reads format "
                            f"{FORMAT_VERSION} and older: upgrade lmprog", path=path)
    for key, kind in (("task", dict), ("classes", list), ("ranked", bool), ("features", str), ("program", dict),
                      ("training", dict), ("metrics", dict), ("cascade", dict), ("throughput", dict)):
        if not isinstance(document.get(key), kind):
            raise ArtifactError(f"{where}: key {key!r} is missing or has the wrong type", path=path)
    spec = document["task"]
    try:
        labels = LabelSpace(spec["label_names"])
        task = Task(inputs=spec["inputs"], labels=labels, multi_label=spec["multi_label"],
                    instructions=spec.get("instructions", ""), name=spec["name"], metric=spec.get("metric"))
    except (KeyError, TypeError) as error:
        raise ArtifactError(f"{where}: its task is incomplete ({error})", path=path) from None
    # Names only: the program's full label space (descriptions, aliases) is identified by labels_hash.
    distilled = Distilled(pipeline=document["pipeline"], task=task, classes=list(document["classes"]),
                          ranked=document["ranked"], features=document["features"],
                          encoder_model=document.get("encoder_model"), labels_hash=spec.get("labels_hash"),
                          program=document["program"],
                          training=document["training"], metrics=document["metrics"], cascade=document["cascade"],
                          throughput=document["throughput"])
    check_label_mapping(distilled, where)
    return distilled


def check_label_mapping(distilled: Distilled, where: str) -> None:
    """The classes are distinct labels of the task and match the fitted model's outputs."""
    classes = distilled.classes
    if len(set(classes)) != len(classes) or not classes:
        raise ArtifactError(f"{where}: its label mapping is empty or has repeated labels")
    unknown = [c for c in classes if c not in distilled.task.labels]
    if unknown:
        raise ArtifactError(f"{where}: its classes include labels not in the task's label space: {unknown[:3]}")
    model = getattr(distilled.pipeline, "named_steps", {}).get("model")
    if model is None or not hasattr(distilled.pipeline, "predict_proba"):
        raise ArtifactError(f"{where}: it holds no fitted scikit-learn pipeline with a 'model' step")
    if distilled.multi_label:
        fitted = len(getattr(model, "estimators_", []))
        if fitted != len(classes):
            raise ArtifactError(f"{where}: its model has {fitted} per-label classifiers for {len(classes)} labels")
    else:
        fitted = [str(c) for c in getattr(model, "classes_", [])]
        if fitted != classes:
            raise ArtifactError(f"{where}: its model's classes {fitted[:5]} do not match its label mapping")


def _gold(example: Any, field_name: str):
    return example.get(field_name) if hasattr(example, "get") else getattr(example, field_name, None)


def _plain(value: Any) -> Any:
    """Plain data for skops: tuples become lists and numpy scalars Python numbers (the pipeline stays)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _version() -> str:
    import lmprog

    return lmprog.__version__


def _sklearn_version() -> str:
    import sklearn

    return sklearn.__version__
