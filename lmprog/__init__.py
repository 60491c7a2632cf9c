"""lmprog: declare a label task, compile a DSPy program for it from tens of labels, and keep a
SQLite ledger of every LM call.

The public API is re-exported here lazily, so ``import lmprog`` (and ``lmprog --help``) does not
import dspy or litellm until a name that needs them is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

_EXPORTS = {
    "make_lm": "lmprog.lm",
    "open_ledger": "lmprog.lm",
    "Ledger": "lmprog.ledger",
    "module_name": "lmprog.lm.context",
    "errors": "lmprog.errors",
    "LmprogError": "lmprog.errors",
    "Task": "lmprog.task",
    "LabelSpace": "lmprog.labels",
    "load_examples": "lmprog.data",
    "metrics": "lmprog.metrics",
    "Classify": "lmprog.modules.classify",
    "MultiLabelClassify": "lmprog.modules.classify",
    "InferRetrieveRank": "lmprog.modules.irera",
    "LabelRetriever": "lmprog.retrieval",
    "CompiledProgram": "lmprog.artifact",
    "load": "lmprog.artifact",
    "Budget": "lmprog.run",
    "compile": "lmprog.optimize.compile",
    "plan": "lmprog.optimize.plan",
    "evaluate": "lmprog.evaluation",
    "Evaluation": "lmprog.evaluation",
    "distill": "lmprog.distillation",
    "Distilled": "lmprog.distillation",
    "Cascade": "lmprog.distillation",
    "load_distilled": "lmprog.distillation",
    "suggest": "lmprog.loop",
    "audit": "lmprog.loop",
    "estimate": "lmprog.loop",
}

__all__ = sorted(_EXPORTS) + ["__version__"]

if TYPE_CHECKING:  # pragma: no cover
    from lmprog import errors, metrics
    from lmprog.artifact import CompiledProgram, load
    from lmprog.run import Budget
    from lmprog.optimize.compile import compile
    from lmprog.optimize.plan import plan
    from lmprog.evaluation import Evaluation, evaluate
    from lmprog.distillation import Cascade, Distilled, distill, load_distilled
    from lmprog.loop import audit, estimate, suggest
    from lmprog.data import load_examples
    from lmprog.errors import LmprogError
    from lmprog.labels import LabelSpace
    from lmprog.modules.classify import Classify, MultiLabelClassify
    from lmprog.modules.irera import InferRetrieveRank
    from lmprog.retrieval import LabelRetriever
    from lmprog.task import Task
    from lmprog.ledger import Ledger
    from lmprog.lm import make_lm, open_ledger
    from lmprog.lm.context import module_name


def __getattr__(name: str):
    module_path = _EXPORTS.get(name)
    if module_path is None:
        raise AttributeError(f"module 'lmprog' has no attribute {name!r}")
    module = importlib.import_module(module_path)
    value = module if name in ("errors", "metrics") else getattr(module, name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
