"""Single-label classification: one constrained prediction per example.

Use it from Python (``build(task)``) or point the CLI at this file. Copy it to change it: a
program file only needs a ``build(task, **options)`` function that returns a DSPy module.
"""

import lmprog


def build(task: lmprog.Task, *, reasoning: bool = False, samples: int = 1):
    """A :class:`lmprog.Classify` for ``task``; ``samples > 1`` votes and reports agreement."""
    return lmprog.Classify(task, reasoning=reasoning, samples=samples)
