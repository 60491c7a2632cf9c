"""Typed program modules: Classify, MultiLabelClassify, LabelRetriever, InferRetrieveRank."""

from lmprog.modules.classify import Classify, MultiLabelClassify
from lmprog.modules.irera import InferRetrieveRank
from lmprog.retrieval import LabelRetriever

__all__ = ["Classify", "MultiLabelClassify", "InferRetrieveRank", "LabelRetriever"]
