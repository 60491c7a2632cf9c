"""Data: the one row reader of input files, examples validated from it, datasets and seeded splits.

Modules: ``rows`` (:func:`iter_rows` / :func:`read_rows`: .jsonl, .json, .csv, .tsv rows with line
numbers; every input file is read there), ``examples`` (:func:`load_examples`: rows validated into
``dspy.Example`` objects) and ``dataset`` (:class:`Dataset` and its seeded, stratified splits).
"""

from lmprog.data.dataset import Dataset
from lmprog.data.examples import load_examples
from lmprog.data.rows import SUFFIXES, FileReadError, Row, iter_lines, iter_rows, read_rows

__all__ = ["Dataset", "load_examples", "SUFFIXES", "Row", "FileReadError", "iter_rows", "read_rows", "iter_lines"]
