"""A label task: typed inputs, one label output (single or multi-label), instructions, a label space.

Declared in Python (``lmprog.Task(...)``) or as a TOML task file for the CLI (``Task.from_toml``).
``Task.signature()`` turns it into a ``dspy.Signature`` whose instructions state the label list
once, so demos never repeat it.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lmprog.errors import ConfigurationError
from lmprog.labels import LabelSpace

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

LABEL_FIELD = "label"
LABELS_FIELD = "labels"
# Above this many labels the list is not put in the prompt: Infer-Retrieve-Rank shortlists instead.
MAX_LISTED_LABELS = 200


@dataclass
class DataSpec:
    """Where a task's examples live and which columns hold what (``[data]`` in a task file).

    ``text`` is the column each input field is read from, in the order of the task's inputs (None:
    each input field from the column of its own name); ``label`` the gold label column (None: the
    output field's name, ``label`` or ``labels``); ``id`` an optional column of unique example ids;
    ``label_separator`` splits a multi-label cell. Every data file of the task is read by these
    columns (see :meth:`Task.read_examples`).
    """

    train: Path | None = None
    dev: Path | None = None
    test: Path | None = None
    text: list[str] | None = None
    label: str | None = None
    id: str | None = None
    label_separator: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.text, str):
            self.text = [self.text]

    def input_columns(self, fields: list[str], where: str) -> dict[str, str]:
        """``{input field: column}``; ConfigurationError unless ``text`` names one column per field."""
        if self.text is None:
            return {name: name for name in fields}
        columns = list(self.text)
        if len(columns) != len(fields) or not all(isinstance(c, str) and c.strip() for c in columns):
            raise ConfigurationError(
                f"{where}: [data] text names {len(columns)} column(s) ({', '.join(map(str, columns)) or 'none'}) "
                f"for {len(fields)} input field(s) ({', '.join(fields)}); name one column per input field, "
                "in the order of [inputs]"
            )
        return dict(zip(fields, columns))


@dataclass
class Task:
    """What to label.

    Args:
        inputs: input field names, each with a short description shown to the LM
            (a list of names is fine too).
        labels: the label space (a :class:`LabelSpace`, a list of names, or a path to a label file).
        multi_label: whether an example can have several labels.
        instructions: what the labels mean and how to choose; shown to the LM once.
        name: a short name used in reports and artifacts.
        metric: the headline metric (``accuracy``, ``macro_f1``, ``micro_f1``, ``rp@5`` ...).
    """

    inputs: Mapping[str, str] | list[str]
    labels: LabelSpace | list[str] | str | Path
    multi_label: bool = False
    instructions: str = ""
    name: str = "task"
    metric: str | None = None
    data: DataSpec = field(default_factory=DataSpec)

    def __post_init__(self) -> None:
        if isinstance(self.inputs, (list, tuple)):
            self.inputs = {name: "" for name in self.inputs}
        self.inputs = dict(self.inputs)
        if not self.inputs:
            raise ConfigurationError(f"task {self.name!r} declares no input fields")
        reserved = {LABEL_FIELD, LABELS_FIELD} & set(self.inputs)
        if reserved:
            raise ConfigurationError(f"task {self.name!r}: input field names {sorted(reserved)} are reserved for the output")
        if isinstance(self.labels, (str, Path)):
            self.labels = LabelSpace.from_file(self.labels)
        elif not isinstance(self.labels, LabelSpace):
            self.labels = LabelSpace(self.labels)
        if self.metric is None:
            self.metric = "micro_f1" if self.multi_label else "accuracy"
        self.data.input_columns(self.input_fields, f"task {self.name!r}")

    @property
    def output_field(self) -> str:
        return LABELS_FIELD if self.multi_label else LABEL_FIELD

    @property
    def input_fields(self) -> list[str]:
        return list(self.inputs)

    @property
    def input_columns(self) -> dict[str, str]:
        """``{input field: data column}``: where every data file of this task holds each input.

        The one rule for which columns are inputs: the columns ``[data] text`` names, one per input
        field in the order of ``[inputs]``; without ``[data] text``, each input field's own name.
        Examples always carry the input field names, whatever the columns are called.
        """
        return self.data.input_columns(self.input_fields, f"task {self.name!r}")

    @property
    def label_column(self) -> str:
        """The gold label column of this task's data files: ``[data] label``, else the output field's name."""
        return self.data.label or self.output_field

    def label_instructions(self, *, listed: bool = True) -> str:
        """The task instructions followed by the label list (with descriptions) when it is short enough."""
        parts = [self.instructions.strip()] if self.instructions.strip() else []
        if listed and len(self.labels) <= MAX_LISTED_LABELS:
            choose = "one or more labels" if self.multi_label else "exactly one label"
            parts.append(f"Answer with {choose} from this list, spelled as written:\n{self.labels.describe()}")
        return "\n\n".join(parts)

    def signature(self, *, listed: bool = True):
        """A ``dspy.Signature``: the input fields, then ``label`` (str) or ``labels`` (list[str])."""
        import dspy

        fields: dict[str, Any] = {name: (str, dspy.InputField(desc=desc or "")) for name, desc in self.inputs.items()}
        if self.multi_label:
            fields[LABELS_FIELD] = (list[str], dspy.OutputField(desc="the labels that apply, from the label list"))
        else:
            fields[LABEL_FIELD] = (str, dspy.OutputField(desc="the label, from the label list"))
        return dspy.make_signature(fields, self.label_instructions(listed=listed), signature_name=_class_name(self.name))

    def inputs_of(self, row: Any, *, where: str = "a row") -> dict[str, str]:
        """A row's input fields as text: a dict (or ``dspy.Example``) holding the input field names, or a
        plain string for a one-input task. Raises DataError naming ``where`` when a field is missing."""
        from lmprog.errors import DataError

        if isinstance(row, str):
            if len(self.input_fields) != 1:
                raise DataError(f"{where} is a string, but task {self.name!r} has inputs {self.input_fields}: "
                                "pass dicts")
            return {self.input_fields[0]: row}
        inputs = getattr(row, "inputs", None)
        if callable(inputs):  # a dspy.Example: its marked inputs, if it has any
            try:
                row = inputs()
            except ValueError:
                pass
        missing = [name for name in self.input_fields if name not in row]
        if missing:
            raise DataError(f"{where} has no input field {missing[0]!r} (task {self.name!r} needs {self.input_fields})")
        return {name: str(row[name]) for name in self.input_fields}

    def read_examples(self, path: str | Path, *, labelled: bool = True, drop_invalid: bool = False):
        """The examples of any data file of this task (a :class:`~lmprog.data.Dataset`), labels resolved.

        Inputs are read from :attr:`input_columns` and stored under the input field names; the gold
        label (when ``labelled``) from :attr:`label_column`; ``[data] id`` and ``label_separator``
        apply too. The task file's own splits, ``--data`` files, distillation's unlabelled and gold
        data are all read this way.
        """
        from lmprog.data import load_examples

        return load_examples(path, text=self.input_columns, label=self.label_column if labelled else None,
                             multi_label=self.multi_label, labels=self.labels, id=self.data.id,
                             label_separator=self.data.label_separator, drop_invalid=drop_invalid)

    def load(self, split: str = "train", *, drop_invalid: bool = False):
        """The examples of the task file's ``train``, ``dev`` or ``test`` data (see :meth:`read_examples`).

        Raises ``ConfigurationError`` when the task file names no such data.
        """
        if split not in ("train", "dev", "test"):
            raise ConfigurationError(f"unknown data split {split!r}; use train, dev or test")
        path = getattr(self.data, split)
        if path is None:
            raise ConfigurationError(f"task {self.name!r} names no {split} data ([data] {split} = \"file.jsonl\")")
        return self.read_examples(path, drop_invalid=drop_invalid)

    @classmethod
    def from_signature(cls, signature, *, name: str | None = None) -> Task:
        """A task from a class-based ``dspy.Signature`` whose one output is the label field.

        ```python
        class Spam(dspy.Signature):
            \"\"\"Is the SMS message spam?\"\"\"
            text: str = dspy.InputField(desc="the SMS message")
            label: Literal["ham", "spam"] = dspy.OutputField()
        task = lmprog.Task.from_signature(Spam)
        ```
        ``Literal[...]`` gives a single-label task, ``list[Literal[...]]`` a multi-label one.
        """
        import typing

        outputs = list(signature.output_fields.items())
        if len(outputs) != 1:
            raise ConfigurationError(f"signature {signature.__name__} must have exactly one output field (the label)")
        field_name, info = outputs[0]
        annotation, multi = info.annotation, False
        if typing.get_origin(annotation) is list:
            annotation, multi = typing.get_args(annotation)[0], True
        if typing.get_origin(annotation) is not typing.Literal:
            raise ConfigurationError(
                f"signature {signature.__name__}: output '{field_name}' must be Literal[...] or list[Literal[...]] "
                "listing the labels"
            )
        inputs = {key: (value.json_schema_extra or {}).get("desc", "") or "" for key, value in signature.input_fields.items()}
        return cls(inputs=inputs, labels=[str(v) for v in typing.get_args(annotation)], multi_label=multi,
                   instructions=signature.instructions or "", name=name or signature.__name__)

    @classmethod
    def from_toml(cls, path: str | Path) -> Task:
        """Read a task file. Paths inside it are relative to the file.

        ```toml
        name = "sms_spam"
        instructions = "Is the SMS message spam?"
        multi_label = false
        metric = "accuracy"

        [inputs]
        text = "the SMS message"

        [labels]
        file = "labels.csv"          # or: names = ["ham", "spam"]
        name = "name"                # columns of the label file
        description = "description"

        [data]
        train = "train.jsonl"
        dev = "dev.jsonl"
        test = "test.jsonl"
        text = "text"                # the column of each input, in order (default: the input names)
        label = "label"              # the gold label column (default: label, or labels if multi_label)
        ```
        """
        path = Path(path)
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8-sig"))
        except FileNotFoundError:
            raise ConfigurationError(f"task file {path} does not exist") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigurationError(f"task file {path} is not valid TOML: {exc}") from None
        return _task_from_mapping(raw, path)


def _class_name(name: str) -> str:
    cleaned = "".join(part.capitalize() for part in "".join(c if c.isalnum() else " " for c in name).split())
    return cleaned if cleaned and cleaned[0].isalpha() else "LabelTask"


def _expect(raw: Mapping, key: str, kind: type | tuple[type, ...], path: Path, default: Any = None) -> Any:
    value = raw.get(key, default)
    if value is not None and not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ConfigurationError(f"task file {path}: '{key}' must be {names}, not {type(value).__name__}")
    return value


def _task_from_mapping(raw: Mapping, path: Path) -> Task:
    base = path.parent
    inputs = _expect(raw, "inputs", (dict, list), path) or {"text": ""}
    labels_section = _expect(raw, "labels", dict, path)
    if labels_section is None:
        raise ConfigurationError(f"task file {path}: a [labels] section with 'file' or 'names' is required")
    if "names" in labels_section:
        labels: Any = LabelSpace(_expect(labels_section, "names", list, path), source=str(path))
    elif "file" in labels_section:
        labels = LabelSpace.from_file(
            base / _expect(labels_section, "file", str, path),
            name=_expect(labels_section, "name", str, path, "name"),
            description=_expect(labels_section, "description", str, path),
            aliases=_expect(labels_section, "aliases", str, path),
            alias_separator=_expect(labels_section, "alias_separator", str, path, "|"),
        )
    else:
        raise ConfigurationError(f"task file {path}: [labels] needs 'file' or 'names'")
    data = _data_spec(_expect(raw, "data", dict, path) or {}, list(inputs), path)
    return Task(
        inputs=inputs,
        labels=labels,
        multi_label=_expect(raw, "multi_label", bool, path, False),
        instructions=_expect(raw, "instructions", str, path, ""),
        name=_expect(raw, "name", str, path, path.stem),
        metric=_expect(raw, "metric", str, path),
        data=data,
    )


def _data_spec(section: Mapping, inputs: list[str], path: Path) -> DataSpec:
    """The ``[data]`` section; its ``text`` columns are checked against the task's inputs here, naming the file."""
    base = path.parent
    data = DataSpec(
        train=base / section["train"] if _expect(section, "train", str, path) else None,
        dev=base / section["dev"] if _expect(section, "dev", str, path) else None,
        test=base / section["test"] if _expect(section, "test", str, path) else None,
        text=_expect(section, "text", (str, list), path),
        label=_expect(section, "label", str, path),
        id=_expect(section, "id", str, path),
        label_separator=_expect(section, "label_separator", str, path),
    )
    data.input_columns(inputs, f"task file {path}")
    return data
