"""Label retrieval: map free-text queries onto a (possibly very large) label space."""

from lmprog.retrieval.retriever import DEFAULT_PRIOR_WEIGHT, LabelRetriever

__all__ = ["LabelRetriever", "DEFAULT_PRIOR_WEIGHT"]
