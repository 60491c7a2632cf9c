"""The label loop: what to label next, which labels are wrong, and how good a program is on your own data.

- :func:`suggest` (``suggesting.py``): rows to label next, each with its reason: coverage of the pool with
  no or few labels (scikit-activeml's TypiClust / ProbCover on text embeddings), else uncertainty of a
  compiled program or classifier balanced with diversity and rare labels (``coverage.py``, ``signals.py``).
- :func:`audit` (``auditing.py``): likely wrong gold labels, ranked, with the suggested label and evidence:
  cleanlab's confident learning on a weighted mixture of out-of-fold classifiers, the label names and the
  program's answers (``views.py``).
- :func:`estimate` (``estimating.py``): the program's score on a pool from N labels chosen by active testing,
  with a 95% interval and the width uniform sampling would have (``active_testing.py``).
- ``queue.py``: the queue files the three write for a person to label (the labelling page reads them).

The modules are named for what they do (``suggesting``, not ``suggest``) so that importing one never hides
the function of the same name on this package. Names are imported on first use, so the labelling page
(``lmprog.loop.page``) does not load DSPy or scikit-learn. Needs the ``loop`` extra (cleanlab,
scikit-activeml) for suggest's coverage and for audit.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_EXPORTS = {
    "Audit": "lmprog.loop.auditing", "Flag": "lmprog.loop.auditing", "audit": "lmprog.loop.auditing",
    "Estimate": "lmprog.loop.estimating", "estimate": "lmprog.loop.estimating",
    "QUEUES": "lmprog.loop.queue", "is_queue_file": "lmprog.loop.queue", "queue_row": "lmprog.loop.queue",
    "write_queue": "lmprog.loop.queue",
    "STRATEGIES": "lmprog.loop.suggesting", "Suggested": "lmprog.loop.suggesting",
    "Suggestions": "lmprog.loop.suggesting", "suggest": "lmprog.loop.suggesting",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # pragma: no cover
    from lmprog.loop.auditing import Audit, Flag, audit
    from lmprog.loop.estimating import Estimate, estimate
    from lmprog.loop.queue import QUEUES, is_queue_file, queue_row, write_queue
    from lmprog.loop.suggesting import STRATEGIES, Suggested, Suggestions, suggest


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'lmprog.loop' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
