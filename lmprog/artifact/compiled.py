""":class:`CompiledProgram`: a compiled program with everything needed to save, reload, audit and use it."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dspy

from lmprog import outputs
from lmprog.artifact.document import FORMAT_VERSION, KIND, canonical, dumps, integrity, lm_settings, plain, \
    write_atomically
from lmprog.artifact.program_section import program_to_dict
from lmprog.artifact.task_section import task_to_dict
from lmprog.errors import ArtifactError
from lmprog.secrets import without_secrets
from lmprog.task import Task


@dataclass
class CompiledProgram:
    """A compiled program with everything needed to reload and audit it.

    Args:
        program: a label module (``Classify``, ``MultiLabelClassify``, ``InferRetrieveRank``, your own
            module implementing :class:`lmprog.modules.protocol.LabelModule`) or any ``dspy.Module``
            built by a program file, with its learned instructions and demos.
        task: the :class:`~lmprog.Task` it labels.
        lm: the LM settings (model, temperature, max_tokens ...); a ``dspy.LM`` is accepted and
            reduced to them. Keys, base URLs and headers are always dropped.
        optimizer: optimizer name, settings and seed.
        candidates: every candidate the optimizer scored (id, instructions, demos, dev_score).
        dev_score: the chosen program's dev score.
        run_id: the ledger run that compiled it.
        budget: the budget's caps and whether one stopped the run.
        program_params: for a custom program only, the options its ``build(task, **params)`` takes.
        examples: the labelled examples the program was compiled from (plain dicts of input fields and the
            gold answer): the supervised floor is trained on them, and distillation learns from them too.
        spent: what the compile that made this object paid (calls, USD, ledger hits, tokens); not saved.

    Predicting: ``compiled(text=...)`` answers one input and ``compiled.predict(rows)`` many, with the
    LM given to :meth:`use`, else the one a ``dspy.context`` sets, else the recorded model through
    ``lmprog.make_lm`` and the default ledger.
    """

    program: dspy.Module
    task: Task
    lm: dict = field(default_factory=dict)
    optimizer: dict = field(default_factory=dict)
    candidates: list = field(default_factory=list)
    dev_score: float | None = None
    run_id: str | None = None
    budget: dict | None = None
    program_params: dict | None = None
    examples: list = field(default_factory=list)
    spent: dict | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.lm, Mapping):
            self.lm = lm_settings(self.lm) or {}
        self._predict_lm = None

    # ------------------------------------------------------------------------------ predicting

    @property
    def output(self) -> outputs.OutputKind:
        """What the program answers with (one label, a label set or a ranking)."""
        return outputs.of(self.program) if getattr(self.program, "task", None) is not None \
            else outputs.for_task(self.task)

    def use(self, lm=None, **make_lm_options) -> CompiledProgram:
        """Predict with ``lm`` from now on (or with :meth:`make_lm` and these options); returns self."""
        self._predict_lm = lm if lm is not None else self.make_lm(**make_lm_options)
        return self

    def predictor_lm(self):
        """The LM predictions use: :meth:`use`'s, else a ``dspy.context``'s (None here), else the recorded model's;
        None for a program that calls no LM (a classifier)."""
        if not list(self.program.named_predictors()):
            return None
        if self._predict_lm is None and dspy.settings.lm is None:
            self._predict_lm = self.make_lm()
        return self._predict_lm

    def __call__(self, **inputs) -> dspy.Prediction:
        """Answer one input (keyword arguments are the task's input fields)."""
        lm = self.predictor_lm()
        if lm is None:
            return self.program(**inputs)
        with dspy.context(lm=lm):
            return self.program(**inputs)

    def predict(self, rows: Sequence[Any], *, threads: int = 8) -> list:
        """Answers for many inputs (dicts of the input fields, ``dspy.Example``s, or strings for a one-input
        task), in order: a label, a list of labels, or a ranking per row; a row whose call failed gets
        None (or []). A pandas DataFrame (the task's input columns) gives a DataFrame: its columns plus the
        answer, ``confidence`` and ``error`` (the failure's kind, or None)."""
        from lmprog.data.frames import frame_records, is_dataframe, with_answers
        from lmprog.modules.protocol import confidence_of
        from lmprog.run import run_module

        frame = rows if is_dataframe(rows) else None
        if frame is not None:
            rows = [{field: row.get(column) for field, column in self.task.input_columns.items()}
                    for row in frame_records(frame)]
        inputs = [self.task.inputs_of(row, where=f"row {index}") for index, row in enumerate(rows)]
        kind = self.output
        outcomes = run_module(self.program, inputs, lm=self.predictor_lm(), threads=threads)
        answers = [outcome.prediction.get(kind.field) if outcome.ok else kind.empty() for outcome in outcomes]
        if frame is None:
            return answers
        failed = [o.error or ("parse_failure" if o.prediction.get("parse_error") else None) for o in outcomes]
        confidence = [confidence_of(self.program, o.prediction) if o.ok else None for o in outcomes]
        table = [{kind.field: a, "confidence": c, "error": e} for a, c, e in zip(answers, confidence, failed)]
        return with_answers(frame, table, [kind.field, "confidence", "error"])

    def make_lm(self, **kwargs):
        """An ``lmprog.make_lm`` LM with the recorded model and sampling settings; ``kwargs``
        (api_base, api_key, ledger, cache, ...) are added or override them."""
        from lmprog.lm import make_lm

        settings = {k: v for k, v in self.lm.items() if k != "model" and not isinstance(v, Mapping)}
        model = kwargs.pop("model", None) or self.lm.get("model")
        return make_lm(model, **{**settings, **kwargs})

    # ------------------------------------------------------------------------------ reading

    def zero_shot_program(self) -> dspy.Module:
        """The program as it was before compile: the module the compile started from (recorded in the optimizer
        section, so a compile that shipped the classifier still has the LM program it was weighed against), else
        the program's own ``zero_shot()``. A shipped program of the same class but other settings (an
        Infer-Retrieve-Rank that ships its retrieval floor) is rebuilt from the recorded settings too."""
        from lmprog.modules.program_file import module_classes
        from lmprog.modules.protocol import params_of, zero_shot

        recorded = (self.optimizer or {}).get("zero_shot_program") or {}
        cls = module_classes().get(recorded.get("class", ""))
        params = recorded.get("params") or {}
        if cls is not None and (type(self.program).__name__ != recorded["class"] or params_of(self.program) != params):
            return zero_shot(cls.from_params(self.task, params))
        return zero_shot(self.program)

    def labelled_examples(self) -> list[dspy.Example]:
        """:attr:`examples` as ``dspy.Example`` objects with the task's inputs marked."""
        fields = self.task.input_fields
        return [dspy.Example(**_example_dict(example)).with_inputs(*fields) for example in self.examples or []]

    @property
    def zero_shot_score(self) -> float | None:
        """The dev score of the uncompiled program (the optimizer's ``zero-shot`` candidate), if scored."""
        return next((c.get("dev_score") for c in self.candidates if c.get("id") == "zero-shot"), None)

    def candidate_scores(self) -> list[dict]:
        """Every candidate's id, dev score and stage, without its prompts."""
        return [{k: c[k] for k in ("id", "dev_score", "stage") if k in c} for c in self.candidates]

    def fingerprint(self) -> str:
        """A hash of what decides the program's answers: task inputs and label space, program class and
        parameters, every predictor's instructions and demos, and the model. The same however the
        artifact stores its labels, so a distilled classifier can name the program it came from."""
        program = program_to_dict(self.program, self.task, program_params=self.program_params, references=None,
                                  base=Path.cwd())
        body = {"inputs": dict(self.task.inputs), "labels": self.task.labels.hash,
                "multi_label": bool(self.task.multi_label), "program": program, "model": (self.lm or {}).get("model")}
        return hashlib.sha256(b"lmprog.program/1\n" + canonical(plain(body, "program"))).hexdigest()

    # ------------------------------------------------------------------------------ saving

    def to_dict(self, *, embed_labels: bool | None = None, labels_file: str | os.PathLike | None = None,
                labels_options: Mapping | None = None, priors_file: str | os.PathLike | None = None,
                base: str | os.PathLike | None = None) -> dict:
        """The artifact as plain data, ``integrity`` included; see :meth:`save` for the options.

        ``base`` is the folder referenced files are stored relative to (default: the current one).
        """
        from lmprog import __version__

        base_dir = Path(base) if base is not None else Path.cwd()
        references = {"priors": priors_file} if priors_file is not None else None
        document = {
            "format_version": FORMAT_VERSION, "kind": KIND, "lmprog_version": __version__,
            "dspy_version": dspy.__version__,
            "task": task_to_dict(self.task, embed=embed_labels, labels_file=labels_file,
                                 labels_options=labels_options, base=base_dir),
            "program": program_to_dict(self.program, self.task, program_params=self.program_params,
                                       references=references, base=base_dir),
            "lm": plain(without_secrets(dict(self.lm or {})), "lm"),
            "optimizer": plain(dict(self.optimizer or {}), "optimizer"),
            "candidates": plain(list(self.candidates or []), "candidates"),
            "dev_score": plain(self.dev_score, "dev_score"),
            "run_id": None if self.run_id is None else str(self.run_id),
            "budget": plain(self.budget, "budget"),
            "examples": plain([_example_dict(example) for example in self.examples or []], "examples"),
        }
        if document["dev_score"] is not None and not isinstance(document["dev_score"], (int, float)):
            raise ArtifactError(f"dev_score must be a number or None, not {self.dev_score!r}")
        if document["budget"] is not None and not isinstance(document["budget"], dict):
            raise ArtifactError("budget must be a dict or None")
        document["integrity"] = integrity(document)
        return document

    def save(self, path: str | os.PathLike, *, embed_labels: bool | None = None,
             labels_file: str | os.PathLike | None = None, labels_options: Mapping | None = None,
             priors_file: str | os.PathLike | None = None) -> Path:
        """Write the artifact to ``path`` (atomically) and return the path.

        Args:
            embed_labels: True stores the label space in the artifact; False stores a reference to the
                label file plus its hash; None (default) embeds up to 1,000 labels and references a larger
                space read from a file (the 13,891 ESCO skills are not copied into every artifact).
            labels_file: the label file to reference (default: the file the labels came from).
            labels_options: how to read it: ``name``, ``description``, ``aliases``,
                ``alias_separator`` as for ``LabelSpace.from_file`` (checked now: reading the file
                this way must give the task's labels).
            priors_file: for InferRetrieveRank with priors, a JSON file (label -> prior) holding
                exactly the program's priors, stored by reference instead of inline.
        Paths are stored relative to the artifact's folder.
        """
        path = Path(path)
        document = self.to_dict(embed_labels=embed_labels, labels_file=labels_file, labels_options=labels_options,
                                priors_file=priors_file, base=path.parent)
        path.parent.mkdir(parents=True, exist_ok=True)
        return write_atomically(path, dumps(document))


def _example_dict(example) -> dict:
    return dict(example.toDict()) if isinstance(example, dspy.Example) else dict(example)
