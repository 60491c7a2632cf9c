"""Multi-label classification for label spaces small enough to list in the prompt (up to ~200).

A program file only needs a ``build(task, **options)`` function that returns a DSPy module.
"""

import lmprog


def build(task: lmprog.Task, *, reasoning: bool = False, samples: int = 1):
    """A :class:`lmprog.MultiLabelClassify` for ``task``."""
    return lmprog.MultiLabelClassify(task, reasoning=reasoning, samples=samples)
