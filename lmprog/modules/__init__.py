"""Typed program modules: Classify, MultiLabelClassify, LabelRetriever, Infer, Rank, InferRetrieveRank."""
