"""Label retrieval: map free-text queries onto a (possibly very large) label space.

- :class:`LabelRetriever` (``retriever.py``): parameters, the lazy index build, ``search``,
  ``search_many`` and ``retrieve`` (several queries merged, with optional label priors).
- ``bm25.py``: the lexical bm25s index (default, no extra dependencies).
- ``dense.py``: :func:`load_encoder` / :class:`Encoder` (sentence-transformers, offline) and the
  dense index (``pip install 'lmprog[dense]'``).
- ``index_cache.py``: index folder names and atomic writes (``cache/indexes`` by default).
- ``ranking.py``: top-k and IReRa's label priors.

A new kind of index implements what :class:`~lmprog.retrieval.bm25.Bm25Index` does (``settings``,
``build``, ``load``, ``save``, ``top``, ``scores``, ``matched``) and is chosen in
``LabelRetriever._build``.
"""

from lmprog.retrieval.dense import Encoder, load_encoder
from lmprog.retrieval.ranking import DEFAULT_PRIOR_WEIGHT
from lmprog.retrieval.retriever import FIELDS, KINDS, LabelRetriever

__all__ = ["LabelRetriever", "Encoder", "load_encoder", "DEFAULT_PRIOR_WEIGHT", "KINDS", "FIELDS"]
