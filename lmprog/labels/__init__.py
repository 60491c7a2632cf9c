"""The label space of a task: ids, names, descriptions, aliases; loading; mapping LM text to labels.

A :class:`LabelSpace` is built from a list (``LabelSpace(["ham", "spam"])``) or a file
(:meth:`LabelSpace.from_file`: .txt, .csv, .tsv, .json, .jsonl). It is immutable; its ``hash``
identifies the content (names, descriptions and aliases, in order) in artifacts.

:meth:`LabelSpace.parse` turns an LM answer into label names. It tries, from strict to loose:
the exact name; the normalized name (casefolded, whitespace collapsed, surrounding quotes,
punctuation and markdown stripped, typographic quotes and dashes folded); a normalized alias;
the name or alias with all punctuation folded to spaces; and finally a close fuzzy match (optimal
string alignment distance, about one edit per six characters, at least four characters long)
that must point to exactly one label. A piece that is ambiguous at some step, or matches
nothing, is reported in ``unparsed``; it is never mapped to an arbitrary label.

Modules: ``space`` (Label, LabelSpace), ``files`` (label files), ``normalize`` (text keys) and
``parse`` (the matching index and the answer parser).
"""

from lmprog.labels.parse import ParsedLabels
from lmprog.labels.space import Label, LabelSpace

__all__ = ["Label", "LabelSpace", "ParsedLabels"]
