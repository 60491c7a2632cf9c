"""Programs by name or from files, and the table of lmprog's own module classes.

A program file is a Python file with ``build(task, **options)`` that returns a ``dspy.Module``.
``classify``, ``multilabel`` and ``infer_retrieve_rank`` name lmprog's own programs, so the CLI
works from an installed package without the repository's ``programs/`` folder. An artifact names
its module's class; :data:`MODULE_CLASSES` is the fixed table it is looked up in (nothing named in
a file is ever imported); any other class is a custom program, rebuilt from its program file.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path
from typing import Any

from lmprog.errors import ConfigurationError, LmprogError

BUILTIN = ("classify", "multilabel", "infer_retrieve_rank")


def module_classes() -> dict[str, type]:
    """lmprog's own module classes by name, as artifacts record them."""
    from lmprog.modules.classify import Classify, MultiLabelClassify
    from lmprog.modules.irera import InferRetrieveRank
    from lmprog.modules.label_classifier import LabelClassifier
    from lmprog.modules.shortlist import ShortlistClassify
    from lmprog.modules.vote import Vote

    return {cls.__name__: cls for cls in (Classify, MultiLabelClassify, InferRetrieveRank, LabelClassifier,
                                          ShortlistClassify, Vote)}


def build_program(source: str | Path, task, params: dict[str, Any] | None = None, *,
                  error: type[LmprogError] = ConfigurationError):
    """The module that ``build(task, **params)`` in ``source`` returns (or a built-in program's).

    Raises ``error`` (one sentence naming the file) when the file is missing, is not importable, has
    no ``build`` or returns something that is not a ``dspy.Module``.
    """
    import dspy

    params = dict(params or {})
    name = str(source)
    if name in BUILTIN:
        program = _builtin(name, task, params)
    else:
        build = _load_build(Path(source), error)
        try:
            program = build(task, **params)
        except TypeError as exc:
            raise error(f"build() in {source} does not take these options {sorted(params)}: {exc}",
                        path=str(source)) from None
    if not isinstance(program, dspy.Module):
        raise error(f"build() in {source} returned a {type(program).__name__}, not a dspy.Module", path=str(source))
    return program


def _builtin(name: str, task, params: dict):
    from lmprog.modules.classify import Classify, MultiLabelClassify
    from lmprog.modules.irera import InferRetrieveRank
    from lmprog.retrieval import LabelRetriever

    if name == "infer_retrieve_rank":
        kind = params.pop("retriever", "bm25")
        return InferRetrieveRank(task, retriever=LabelRetriever(task.labels, kind=kind), **params)
    module = MultiLabelClassify if name == "multilabel" else Classify
    return module(task, **params)


def _load_build(path: Path, error: type[LmprogError]):
    if not path.is_file():
        raise error(f"program file {path} does not exist (or name a built-in program: {', '.join(BUILTIN)})",
                    path=str(path))
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(f"lmprog_program_{digest}", path)
    if spec is None or spec.loader is None:
        raise error(f"program file {path} cannot be imported as Python", path=str(path))
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)  # the user's own file, named explicitly
    except SyntaxError as exc:
        raise error(f"program file {path} has a syntax error on line {exc.lineno}: {exc.msg}", path=str(path)) from None
    build = getattr(module, "build", None)
    if not callable(build):
        raise error(f"program file {path} has no build(task, **options) function", path=str(path))
    return build
