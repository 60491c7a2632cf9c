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
the function of the same name on this package. Needs the ``loop`` extra (cleanlab, scikit-activeml).
"""

from lmprog.loop.auditing import Audit, Flag, audit
from lmprog.loop.estimating import Estimate, estimate
from lmprog.loop.queue import QUEUES, is_queue_file, queue_row, write_queue
from lmprog.loop.suggesting import STRATEGIES, Suggested, Suggestions, suggest

__all__ = ["Audit", "Estimate", "Flag", "QUEUES", "STRATEGIES", "Suggested", "Suggestions", "audit", "estimate",
           "is_queue_file", "queue_row", "suggest", "write_queue"]
