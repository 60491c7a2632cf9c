"""Infer-Retrieve-Rank for thousands of labels (D'Oosterlinck et al. 2024), e.g. the ESCO skills.

An LM names the labels that apply, a retriever maps each name onto the label space, and an LM
ranks the top ``shortlist`` candidates. A program file only needs a ``build(task, **options)``
function that returns a DSPy module.
"""

import lmprog


def build(task: lmprog.Task, *, retriever: str = "bm25", shortlist: int = 50, rank: bool = True):
    """An :class:`lmprog.InferRetrieveRank` over ``task``'s labels (``retriever``: "bm25" or "dense")."""
    return lmprog.InferRetrieveRank(task, retriever=lmprog.LabelRetriever(task.labels, kind=retriever),
                                    shortlist=shortlist, rank=rank)
