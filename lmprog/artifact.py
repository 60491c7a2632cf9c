"""Compiled programs saved as versioned JSON artifacts: :class:`CompiledProgram` and :func:`load`.

An artifact is one JSON object, written deterministically (sorted keys, indent 1, UTF-8, a
trailing newline), so the same program, seed and ledger give a byte-identical file::

    format_version   1 (this lmprog reads 1 and older; newer is refused)
    kind             "lmprog.compiled_program"
    lmprog_version   dspy_version
    task             name, instructions, multi_label, metric, inputs [{name, description}],
                     labels {hash, and either "embedded": [labels] or "file": {path, name,
                     description, aliases, alias_separator}}
    program          class ("Classify", "MultiLabelClassify", "InferRetrieveRank" or "custom"),
                     custom_class (custom only), params (constructor parameters),
                     predictors {name: {fields, state (DSPy's Predict.dump_state), lm}}
    lm               model and sampling settings; never api keys, base URLs or headers
    optimizer        name, settings, seed (as given)
    candidates       every candidate's id, instructions, demos, dev score (as given)
    dev_score  run_id  budget
    integrity        sha256 of the canonical JSON of everything else

Loading never imports or executes anything named in the file and never unpickles: the program
class is looked up in a fixed table of lmprog's modules; a custom program needs the caller to pass
``program_file=`` (a Python file with ``build(task, **params)``). DSPy's LM state is never saved
or restored: set the LM with ``dspy.context(lm=...)`` (or :meth:`CompiledProgram.make_lm`).
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import json
import math
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dspy

from lmprog.errors import ArtifactError, LmprogError
from lmprog.labels import LabelSpace
from lmprog.modules.classify import Classify, MultiLabelClassify
from lmprog.modules.irera import InferRetrieveRank
from lmprog.retrieval import LabelRetriever
from lmprog.program_file import build_program
from lmprog.task import Task

__all__ = ["CompiledProgram", "load", "from_dict", "lm_settings", "FORMAT_VERSION"]

FORMAT_VERSION = 1
KIND = "lmprog.compiled_program"
CUSTOM = "custom"
_CLASSIC = {"Classify": Classify, "MultiLabelClassify": MultiLabelClassify}
_PROGRAM_CLASSES = (*_CLASSIC, "InferRetrieveRank", CUSTOM)

# Keys never written to an artifact, at any depth of the LM settings: credentials and endpoints.
_SECRET_KEY = re.compile(
    r"(api_?key|secret|passw(or)?d|credential|authori[sz]ation|bearer|(auth|access|session|id|refresh)_?token"
    r"|api_?base|base_?url|endpoint|headers|cookie|^key$|_key$|^token$)",
    re.IGNORECASE,
)


def _is_secret_key(name: str) -> bool:
    return bool(_SECRET_KEY.search(str(name)))


def lm_settings(lm) -> dict | None:
    """What an artifact may record about a ``dspy.LM``: its model string and sampling settings.

    API keys, base URLs, headers and anything that looks like a credential are left out.
    """
    if lm is None:
        return None
    if isinstance(lm, Mapping):
        return _strip_secrets(dict(lm))
    settings: dict[str, Any] = {"model": str(getattr(lm, "model", type(lm).__name__))}
    for key, value in sorted((getattr(lm, "kwargs", None) or {}).items()):
        if not _is_secret_key(key) and _is_json_scalar_tree(value):
            settings[key] = value
    return settings


def _strip_secrets(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _strip_secrets(v) for k, v in value.items() if not _is_secret_key(k)}
    if isinstance(value, (list, tuple)):
        return [_strip_secrets(v) for v in value]
    return value


def _is_json_scalar_tree(value: Any) -> bool:
    if value is None or isinstance(value, (str, bool, int)):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, (list, tuple)):
        return all(_is_json_scalar_tree(v) for v in value)
    if isinstance(value, Mapping):
        return all(isinstance(k, str) and _is_json_scalar_tree(v) for k, v in value.items())
    return False


# --------------------------------------------------------------------------------------------
# JSON


def _plain(value: Any, where: str) -> Any:
    """``value`` as plain JSON data (dspy.Example -> dict, tuple -> list); ArtifactError otherwise."""
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ArtifactError(f"cannot save {where}: {value!r} is not a finite number")
        return float(value)
    if isinstance(value, dspy.Example):
        value = value.toDict()
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ArtifactError(f"cannot save {where}: key {key!r} is not a string")
            out[key] = _plain(item, f"{where}.{key}")
        return out
    if isinstance(value, (list, tuple)):
        return [_plain(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if type(value).__module__ == "numpy" and hasattr(value, "item"):  # numpy scalars from metrics
        return _plain(value.item(), where)
    if isinstance(value, Path):
        return value.as_posix()
    raise ArtifactError(f"cannot save {where}: a {type(value).__name__} is not plain JSON data")


def _canonical(document: Mapping) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def _integrity(document: Mapping) -> str:
    body = {k: v for k, v in document.items() if k != "integrity"}
    return hashlib.sha256(b"lmprog.artifact/1\n" + _canonical(body)).hexdigest()


def _dumps(document: Mapping) -> str:
    return json.dumps(document, sort_keys=True, indent=1, ensure_ascii=False, allow_nan=False) + "\n"


def _priors_hash(priors: Mapping) -> str:
    return hashlib.sha256(b"lmprog.priors/1\n" + _canonical(dict(priors))).hexdigest()


# --------------------------------------------------------------------------------------------
# Saving


@dataclass
class CompiledProgram:
    """A compiled program with everything needed to reload and audit it.

    Args:
        program: an lmprog module (``Classify``, ``MultiLabelClassify``, ``InferRetrieveRank``)
            or any ``dspy.Module`` built by a program file, with its learned instructions and demos.
        task: the :class:`~lmprog.Task` it labels.
        lm: the LM settings (model, temperature, max_tokens ...); a ``dspy.LM`` is accepted and
            reduced to them. Keys, base URLs and headers are always dropped.
        optimizer: optimizer name, settings and seed.
        candidates: every candidate the optimizer scored (id, instructions, demos, dev_score).
        dev_score: the chosen program's dev score.
        run_id: the ledger run that compiled it.
        budget: what was spent and whether a cap stopped the run.
        program_params: for a custom program only, the options its ``build(task, **params)`` takes.
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

    def __post_init__(self) -> None:
        if not isinstance(self.lm, Mapping):
            self.lm = lm_settings(self.lm) or {}

    def __call__(self, **inputs) -> dspy.Prediction:
        """Predict with the program (the LM comes from ``dspy.context`` or the predictors)."""
        return self.program(**inputs)

    @property
    def zero_shot_score(self) -> float | None:
        """The dev score of the uncompiled program (the optimizer's ``zero-shot`` candidate), if scored."""
        return next((c.get("dev_score") for c in self.candidates if c.get("id") == "zero-shot"), None)

    def candidate_scores(self) -> list[dict]:
        """Every candidate's id, dev score and (for Infer-Retrieve-Rank) stage, without its prompts."""
        return [{k: c[k] for k in ("id", "dev_score", "stage") if k in c} for c in self.candidates]

    def fingerprint(self) -> str:
        """A hash of what decides the program's answers: task inputs and label space, program class and
        parameters, every predictor's instructions and demos, and the model. The same however the
        artifact stores its labels, so a distilled classifier can name the program it came from."""
        body = {"inputs": dict(self.task.inputs), "labels": self.task.labels.hash,
                "multi_label": bool(self.task.multi_label), "program": self._program_dict(None, Path.cwd()),
                "model": (self.lm or {}).get("model")}
        return hashlib.sha256(b"lmprog.program/1\n" + _canonical(_plain(body, "program"))).hexdigest()

    def make_lm(self, **kwargs):
        """An ``lmprog.make_lm`` LM with the recorded model and sampling settings; ``kwargs``
        (api_base, api_key, ledger, cache, ...) are added or override them."""
        from lmprog.lm import make_lm

        settings = {k: v for k, v in self.lm.items() if k != "model" and not isinstance(v, Mapping)}
        model = kwargs.pop("model", None) or self.lm.get("model")
        return make_lm(model, **{**settings, **kwargs})

    # ----------------------------------------------------------------------------- to JSON

    def to_dict(self, *, embed_labels: bool = True, labels_file: str | os.PathLike | None = None,
                labels_options: Mapping | None = None, priors_file: str | os.PathLike | None = None,
                base: str | os.PathLike | None = None) -> dict:
        """The artifact as plain data, ``integrity`` included; see :meth:`save` for the options.

        ``base`` is the folder referenced files are stored relative to (default: the current one).
        """
        base_dir = Path(base) if base is not None else Path.cwd()
        document = {
            "format_version": FORMAT_VERSION,
            "kind": KIND,
            "lmprog_version": _lmprog_version(),
            "dspy_version": dspy.__version__,
            "task": self._task_dict(embed_labels, labels_file, labels_options, base_dir),
            "program": self._program_dict(priors_file, base_dir),
            "lm": _plain(_strip_secrets(dict(self.lm or {})), "lm"),
            "optimizer": _plain(dict(self.optimizer or {}), "optimizer"),
            "candidates": _plain(list(self.candidates or []), "candidates"),
            "dev_score": _plain(self.dev_score, "dev_score"),
            "run_id": None if self.run_id is None else str(self.run_id),
            "budget": _plain(self.budget, "budget"),
        }
        if document["dev_score"] is not None and not isinstance(document["dev_score"], (int, float)):
            raise ArtifactError(f"dev_score must be a number or None, not {self.dev_score!r}")
        if document["budget"] is not None and not isinstance(document["budget"], dict):
            raise ArtifactError("budget must be a dict or None")
        document["integrity"] = _integrity(document)
        return document

    def save(self, path: str | os.PathLike, *, embed_labels: bool = True,
             labels_file: str | os.PathLike | None = None, labels_options: Mapping | None = None,
             priors_file: str | os.PathLike | None = None) -> Path:
        """Write the artifact to ``path`` (atomically) and return the path.

        Args:
            embed_labels: store the label space in the artifact (default). With False, store a
                reference to the label file plus its hash (for large spaces such as ESCO).
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
        text = _dumps(document)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
                handle.write(text)
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes the file private; an artifact is an ordinary file
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    def _task_dict(self, embed: bool, labels_file, labels_options, base: Path) -> dict:
        task = self.task
        space = task.labels
        labels: dict[str, Any] = {"hash": space.hash}
        if embed:
            labels["embedded"] = space.to_dict()["labels"]
        else:
            labels["file"] = _label_reference(space, labels_file, labels_options, base)
        return {
            "name": task.name,
            "instructions": task.instructions,
            "multi_label": bool(task.multi_label),
            "metric": task.metric,
            "inputs": [{"name": name, "description": desc or ""} for name, desc in task.inputs.items()],
            "labels": labels,
        }

    def _program_dict(self, priors_file, base: Path) -> dict:
        program = self.program
        if not isinstance(program, dspy.Module):
            raise ArtifactError(f"program must be a dspy.Module, not {type(program).__name__}")
        cls = type(program)
        if cls in _CLASSIC.values():
            _check_same_task(program.task, self.task)
            name = cls.__name__
            params: dict[str, Any] = {"reasoning": bool(program.reasoning), "samples": int(program.samples),
                                      "sample_temperature": float(program.sample_temperature),
                                      "logprobs": program.logprobs}
        elif cls is InferRetrieveRank:
            _check_same_task(program.task, self.task)
            name = cls.__name__
            params = {"shortlist": int(program.shortlist), "rank": bool(program.rank_enabled),
                      "retriever": _retriever_dict(program.retriever, self.task),
                      "priors": _priors_dict(program.priors, priors_file, base)}
        else:
            name = CUSTOM
            params = _plain(dict(self.program_params or {}), "program_params")
        predictors = {}
        for pred_name, predictor in program.named_predictors():
            predictors[pred_name] = {
                "fields": list(predictor.signature.fields),
                "state": _predictor_state(predictor, pred_name),
                "lm": lm_settings(predictor.lm),
            }
        if not predictors:
            raise ArtifactError(f"program {cls.__name__} has no dspy.Predict to save")
        out = {"class": name, "params": params, "predictors": predictors}
        if name == CUSTOM:
            out["custom_class"] = cls.__name__
        return out


def _umask() -> int:
    """The process umask, read without setting it (os.umask would change it for other threads)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def _lmprog_version() -> str:
    import lmprog

    return lmprog.__version__


def _check_same_task(program_task: Task, task: Task) -> None:
    if program_task.labels.hash != task.labels.hash or dict(program_task.inputs) != dict(task.inputs) \
            or program_task.multi_label != task.multi_label:
        raise ArtifactError(f"the program was built for task {program_task.name!r}, which differs from the "
                            f"CompiledProgram's task {task.name!r} (inputs, labels or multi_label)")


def _predictor_state(predictor, name: str) -> dict:
    """DSPy's own state of one Predict (instructions, field prefixes, demos), without its LM."""
    clone = copy.copy(predictor)  # dump_state would try to serialize the LM (and its engine)
    clone.lm = None
    state = clone.dump_state(json_mode=True)
    state["lm"] = None
    return _plain(state, f"predictor {name!r}")


def _retriever_dict(retriever: LabelRetriever, task: Task) -> dict:
    labels = retriever.labels if isinstance(retriever.labels, LabelSpace) else LabelSpace(retriever.labels)
    if labels.hash != task.labels.hash:
        raise ArtifactError("the program's retriever searches other labels than the task's; "
                            "build it with LabelRetriever(task.labels, ...)")
    fields = [retriever.fields] if isinstance(retriever.fields, str) else list(retriever.fields)
    return {"kind": retriever.kind, "fields": fields, "model": retriever.model}


def _priors_dict(priors, priors_file, base: Path) -> dict | None:
    if not priors:
        if priors_file is not None:
            raise ArtifactError("priors_file was given but the program has no priors")
        return None
    priors = _plain(dict(priors), "priors")
    if priors_file is None:
        return {"inline": priors}
    priors_path = Path(priors_file)
    on_disk = _read_priors(priors_path)
    if _priors_hash(on_disk) != _priors_hash(priors):
        raise ArtifactError(f"priors file {priors_path} does not hold the program's priors")
    return {"file": {"path": _relative(priors_path, base), "hash": _priors_hash(priors)}}


def _read_priors(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(f"priors file {path} does not exist", path=str(path)) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ArtifactError(f"priors file {path} is not valid JSON: {error}", path=str(path)) from None
    if not isinstance(data, dict) or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                             for v in data.values()):
        raise ArtifactError(f"priors file {path} must be a JSON object of label -> number", path=str(path))
    return data


_LABEL_OPTIONS = {"name": "name", "description": None, "aliases": None, "alias_separator": "|"}


def _label_reference(space: LabelSpace, labels_file, labels_options, base: Path) -> dict:
    if labels_file is None:
        source = space.source
        if not source or not Path(source).is_file():
            raise ArtifactError("the task's labels did not come from a file: pass labels_file= to save them "
                                "by reference, or embed them")
        labels_file = source
    unknown = set(labels_options or {}) - set(_LABEL_OPTIONS)
    if unknown:
        raise ArtifactError(f"unknown labels_options {sorted(unknown)}; use {', '.join(_LABEL_OPTIONS)}")
    options = {**_LABEL_OPTIONS, **dict(labels_options or {})}
    path = Path(labels_file)
    found = _read_labels(path, options).hash
    if found != space.hash:
        raise ArtifactError(
            f"label file {path} read with {options} gives labels hash {found[:12]}, but the task's labels have "
            f"hash {space.hash[:12]}; pass labels_options= with the columns the task was loaded with")
    return {"path": _relative(path, base), **options}


def _read_labels(path: Path, options: Mapping) -> LabelSpace:
    return LabelSpace.from_file(path, name=options["name"], description=options["description"],
                                aliases=options["aliases"], alias_separator=options["alias_separator"])


def _relative(path: Path, base: Path) -> str:
    try:
        return Path(os.path.relpath(path.resolve(), base.resolve())).as_posix()
    except ValueError:  # another drive on Windows
        return path.resolve().as_posix()


# --------------------------------------------------------------------------------------------
# Loading


def load(path: str | os.PathLike, *, program_file: str | os.PathLike | None = None,
         labels_base: str | os.PathLike | None = None) -> CompiledProgram:
    """Read and check an artifact written by :meth:`CompiledProgram.save`.

    Args:
        path: the artifact (.json).
        program_file: a Python file with ``build(task, **params)``; needed only for a custom
            program (one not made of lmprog's own modules).
        labels_base: the folder relative label and priors file references are resolved against
            (default: the artifact's folder).

    Raises:
        ArtifactError: invalid JSON or schema, a newer format, a modified file, a label file
            whose content changed, or a custom program without ``program_file``.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ArtifactError(f"artifact {path} does not exist", path=str(path)) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ArtifactError(f"artifact {path} cannot be read: {error}", path=str(path)) from None
    try:
        document = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as error:
        raise ArtifactError(f"artifact {path} is not valid JSON: line {error.lineno} column {error.colno}: "
                            f"{error.msg}", path=str(path)) from None
    except ValueError as error:
        raise ArtifactError(f"artifact {path} is not valid JSON: {error}", path=str(path)) from None
    return from_dict(document, path=path, program_file=program_file,
                     labels_base=Path(labels_base) if labels_base is not None else path.parent)


def _reject_constant(name: str):
    raise ValueError(f"{name} is not allowed in an artifact")


def from_dict(document: Any, *, path: str | os.PathLike | None = None,
              program_file: str | os.PathLike | None = None,
              labels_base: str | os.PathLike | None = None) -> CompiledProgram:
    """Rebuild a :class:`CompiledProgram` from :meth:`CompiledProgram.to_dict` output (checked as :func:`load`)."""
    where = f"artifact {path}" if path is not None else "artifact"
    base = Path(labels_base) if labels_base is not None else Path.cwd()
    try:
        _check_schema(document, where)
        if document["integrity"] != _integrity(document):
            raise ArtifactError(f"{where} has been modified since it was saved (integrity hash mismatch); "
                                "re-run compile or restore the original file")
        task = _load_task(document["task"], where, base)
        program = _build_program(document["program"], task, where, program_file, base)
    except ArtifactError as error:
        if error.path is None and path is not None:
            error.path = str(path)
        raise
    params = document["program"]["params"] if document["program"]["class"] == CUSTOM else None
    return CompiledProgram(program=program, task=task, lm=document["lm"], optimizer=document["optimizer"],
                           candidates=document["candidates"], dev_score=document["dev_score"],
                           run_id=document["run_id"], budget=document["budget"], program_params=params)


# -- schema -----------------------------------------------------------------------------------

_NUMBER = (int, float)
_TOP = {
    "format_version": int, "kind": str, "lmprog_version": str, "dspy_version": str, "task": dict,
    "program": dict, "lm": dict, "optimizer": dict, "candidates": list, "dev_score": (*_NUMBER, type(None)),
    "run_id": (str, type(None)), "budget": (dict, type(None)), "integrity": str,
}
_TASK = {"name": str, "instructions": str, "multi_label": bool, "metric": (str, type(None)), "inputs": list,
         "labels": dict}
_PROGRAM = {"class": str, "params": dict, "predictors": dict}
_PREDICTOR = {"fields": list, "state": dict, "lm": (dict, type(None))}
_STATE = {"demos": list, "signature": dict}
_SIGNATURE = {"instructions": str, "fields": list}
_STATE_KEYS = {"traces", "train", "demos", "signature", "lm", "fields"}  # what Predict.dump_state writes


def _type_names(kind) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false", dict: "an object",
             list: "a list", type(None): "null"}
    return " or ".join(dict.fromkeys(names[k] for k in kinds))


def _require(obj: Mapping, table: Mapping, prefix: str, where: str) -> None:
    for key, kind in table.items():
        name = f"{prefix}{key}"
        if key not in obj:
            raise ArtifactError(f"{where} is missing the key '{name}'")
        value = obj[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        bad_bool = isinstance(value, bool) and bool not in kinds
        if bad_bool or not isinstance(value, kinds):
            raise ArtifactError(f"{where}: key '{name}' must be {_type_names(kind)}, not {type(value).__name__}")


def _check_schema(document: Any, where: str) -> None:
    if not isinstance(document, dict):
        raise ArtifactError(f"{where} is not an lmprog artifact (expected a JSON object)")
    version = document.get("format_version")
    if "format_version" not in document:
        raise ArtifactError(f"{where} is missing the key 'format_version'; is it an lmprog artifact?")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ArtifactError(f"{where}: key 'format_version' must be a positive integer, not {version!r}")
    if version > FORMAT_VERSION:
        raise ArtifactError(f"{where} was written by a newer lmprog (format {version}, "
                            f"written by lmprog {document.get('lmprog_version', '?')}); this lmprog reads format "
                            f"{FORMAT_VERSION} and older: upgrade lmprog")
    _require(document, _TOP, "", where)
    if document["kind"] != KIND:
        raise ArtifactError(f"{where}: key 'kind' is {document['kind']!r}, not {KIND!r}")
    task = document["task"]
    _require(task, _TASK, "task.", where)
    for i, item in enumerate(task["inputs"]):
        if not isinstance(item, dict):
            raise ArtifactError(f"{where}: key 'task.inputs[{i}]' must be an object")
        _require(item, {"name": str, "description": str}, f"task.inputs[{i}].", where)
    labels = task["labels"]
    _require(labels, {"hash": str}, "task.labels.", where)
    if ("embedded" in labels) == ("file" in labels):
        raise ArtifactError(f"{where}: key 'task.labels' must hold exactly one of 'embedded' or 'file'")
    if "embedded" in labels:
        _require(labels, {"embedded": list}, "task.labels.", where)
    else:
        _require(labels, {"file": dict}, "task.labels.", where)
        _require(labels["file"], {"path": str, "name": str, "description": (str, type(None)),
                                  "aliases": (str, type(None)), "alias_separator": str}, "task.labels.file.", where)
    program = document["program"]
    _require(program, _PROGRAM, "program.", where)
    if program["class"] not in _PROGRAM_CLASSES:
        raise ArtifactError(f"{where}: unknown program class {program['class']!r}; an artifact names one of "
                            f"{', '.join(_PROGRAM_CLASSES)} (nothing named in a file is imported)")
    for name, predictor in program["predictors"].items():
        prefix = f"program.predictors.{name}."
        if not isinstance(predictor, dict):
            raise ArtifactError(f"{where}: key '{prefix[:-1]}' must be an object")
        _require(predictor, _PREDICTOR, prefix, where)
        _require(predictor["state"], _STATE, prefix + "state.", where)
        _require(predictor["state"]["signature"], _SIGNATURE, prefix + "state.signature.", where)
        for key, kind in (("traces", list), ("train", list), ("fields", dict)):
            if key in predictor["state"] and not isinstance(predictor["state"][key], kind):
                raise ArtifactError(f"{where}: key '{prefix}state.{key}' must be {_type_names(kind)}")
        for i, demo in enumerate(predictor["state"]["demos"]):
            if not isinstance(demo, dict):
                raise ArtifactError(f"{where}: key '{prefix}state.demos[{i}]' must be an object")
        for i, saved in enumerate(predictor["state"]["signature"]["fields"]):
            if not isinstance(saved, dict):
                raise ArtifactError(f"{where}: key '{prefix}state.signature.fields[{i}]' must be an object")
            _require(saved, {"prefix": str, "description": str}, f"{prefix}state.signature.fields[{i}].", where)


# -- task -------------------------------------------------------------------------------------


def _load_task(data: dict, where: str, base: Path) -> Task:
    labels = data["labels"]
    expected = labels["hash"]
    if "embedded" in labels:
        try:
            space = LabelSpace(labels["embedded"])
        except LmprogError as error:
            raise ArtifactError(f"{where}: the embedded labels are invalid: {error}") from None
        if space.hash != expected:
            raise ArtifactError(f"{where}: the embedded labels have hash {space.hash}, but the artifact records "
                                f"{expected}; the labels were edited")
    else:
        ref = labels["file"]
        label_path = Path(ref["path"])
        if not label_path.is_absolute():
            label_path = base / label_path
        if not label_path.is_file():
            raise ArtifactError(f"{where} refers to label file {label_path}, which does not exist; "
                                "pass labels_base= to say where it is")
        try:
            space = _read_labels(label_path, ref)
        except LmprogError as error:
            raise ArtifactError(f"{where}: its label file {label_path} cannot be read: {error}") from None
        if space.hash != expected:
            raise ArtifactError(f"label file {label_path} has changed since {where} was saved: its labels hash is "
                                f"{space.hash}, the artifact expects {expected}")
    try:
        return Task(inputs={item["name"]: item["description"] for item in data["inputs"]}, labels=space,
                    multi_label=data["multi_label"], instructions=data["instructions"], name=data["name"],
                    metric=data["metric"])
    except LmprogError as error:
        raise ArtifactError(f"{where}: invalid task: {error}") from None


# -- program ----------------------------------------------------------------------------------


def _build_program(data: dict, task: Task, where: str, program_file, base: Path) -> dspy.Module:
    name, params = data["class"], data["params"]
    try:
        if name in _CLASSIC:
            _require(params, {"reasoning": bool, "samples": int, "sample_temperature": _NUMBER,
                              "logprobs": (bool, type(None))}, "program.params.", where)
            program = _CLASSIC[name](task, reasoning=params["reasoning"], samples=params["samples"],
                                     sample_temperature=params["sample_temperature"], logprobs=params["logprobs"])
        elif name == "InferRetrieveRank":
            program = _build_irera(params, task, where, base)
        else:
            program = _build_custom(data, task, where, program_file)
    except LmprogError as error:
        if isinstance(error, ArtifactError):
            raise
        raise ArtifactError(f"{where}: cannot rebuild its {name} program: {error}") from None
    _apply_state(program, data["predictors"], where)
    return program


def _build_irera(params: dict, task: Task, where: str, base: Path) -> InferRetrieveRank:
    _require(params, {"shortlist": int, "rank": bool, "retriever": dict, "priors": (dict, type(None))},
             "program.params.", where)
    spec = params["retriever"]
    _require(spec, {"kind": str, "fields": list, "model": (str, type(None))}, "program.params.retriever.", where)
    retriever = LabelRetriever(task.labels, kind=spec["kind"], fields=tuple(spec["fields"]), model=spec["model"])
    retriever._check_params()  # a bad kind or field fails now, not at the first prediction
    return InferRetrieveRank(task, retriever=retriever, shortlist=params["shortlist"], rank=params["rank"],
                             priors=_load_priors(params["priors"], where, base))


def _load_priors(data: dict | None, where: str, base: Path) -> dict | None:
    if data is None:
        return None
    if "inline" in data:
        priors = data["inline"]
        if not isinstance(priors, dict):
            raise ArtifactError(f"{where}: key 'program.params.priors.inline' must be an object")
        return priors
    ref = data.get("file")
    if not isinstance(ref, dict):
        raise ArtifactError(f"{where}: key 'program.params.priors' must hold 'inline' or 'file'")
    _require(ref, {"path": str, "hash": str}, "program.params.priors.file.", where)
    priors_path = Path(ref["path"])
    if not priors_path.is_absolute():
        priors_path = base / priors_path
    priors = _read_priors(priors_path)
    found = _priors_hash(priors)
    if found != ref["hash"]:
        raise ArtifactError(f"priors file {priors_path} has changed since {where} was saved: its hash is {found}, "
                            f"the artifact expects {ref['hash']}")
    return priors


def _build_custom(data: dict, task: Task, where: str, program_file) -> dspy.Module:
    label = data.get("custom_class", "custom")
    if program_file is None:
        raise ArtifactError(f"{where} holds a custom program ({label}): pass program_file= (the Python file with "
                            "build(task, **params) it was compiled from) to load it")
    return build_program(program_file, task, data["params"], error=ArtifactError)


def _apply_state(program: dspy.Module, saved: dict, where: str) -> None:
    predictors = dict(program.named_predictors())
    if set(predictors) != set(saved):
        raise ArtifactError(f"{where}: the rebuilt program has predictors {sorted(predictors)}, the artifact has "
                            f"{sorted(saved)}; it was saved from a different program")
    for name, predictor in predictors.items():
        entry = saved[name]
        fields = list(predictor.signature.fields)
        if entry["fields"] != fields or len(entry["state"]["signature"]["fields"]) != len(fields):
            raise ArtifactError(f"{where}: predictor {name!r} has fields {fields}, the artifact has {entry['fields']}; "
                                "it was saved from a different program")
        unknown = sorted(set(entry["state"]) - _STATE_KEYS)
        if unknown:  # Predict.load_state sets every key as an attribute: only DSPy's own keys pass
            raise ArtifactError(f"{where}: key 'program.predictors.{name}.state' has unknown keys {unknown}")
        state = copy.deepcopy(entry["state"])
        state["lm"] = None  # LMs (and their secrets) are never restored from a file
        try:
            predictor.load_state(state)
        except (ValueError, TypeError, KeyError) as error:
            raise ArtifactError(f"{where}: the state of predictor {name!r} cannot be loaded: {error}") from None
        predictor.demos = [dspy.Example(**demo) for demo in predictor.demos]
