"""Text normalization for matching: label keys, loose keys, cleaning one piece of an answer, JSON answers."""

from __future__ import annotations

import ast
import json
import re
import unicodedata
from typing import Any

_FOLD = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2212": "-",
    "_": " ",
})
# Characters stripped from both ends of a candidate (never '+' or '#': "C++", "C#").
EDGE = " \t\r\n\"'`.,;:!?*~()[]{}<>"
_NON_ALNUM = re.compile(r"[\W_]+")
_LIST_MARKER = re.compile(r"^\s*(?:\(?\d{1,3}[.)]|[-*\u2022+\u2023\u25e6\u00b7])\s+")
_PREFIX = re.compile(
    r"^\s*(?:(?:the|my)\s+)?(?:final\s+|predicted\s+|correct\s+)?"
    r"(?:answer|label|category|class|classification|intent|prediction|output|result|skill|tag)s?"
    r"(?:\s*\([^)]*\))?(?:\s+(?:is|are)\b\s*:?|\s*[:=]|\s+-)\s*",
    re.IGNORECASE,
)
_JSON_KEYS = ("labels", "label", "answers", "answer", "categories", "category", "classes", "class",
              "intents", "intent", "predictions", "prediction", "skills", "skill", "output", "result", "name")


def key(text: str) -> str:
    """Normalized form: NFKC, typographic quotes and dashes folded, '_' read as a space,
    casefolded, whitespace collapsed, quotes, punctuation and markdown stripped from both ends."""
    if text.isascii():
        folded = text.replace("_", " ").lower()
    else:
        folded = unicodedata.normalize("NFKC", text).translate(_FOLD).casefold()
    return " ".join(folded.split()).strip(EDGE)


def loose(normalized: str) -> str:
    """A normalized key with every run of non-alphanumeric characters turned into one space."""
    if normalized.isascii() and normalized.replace(" ", "").isalnum():
        return normalized
    return _NON_ALNUM.sub(" ", normalized).strip()


def clean(piece: str) -> str:
    """Strip a list marker, markdown emphasis and an 'Answer:'-style prefix from one piece."""
    piece = piece.strip().replace("**", "").replace("__", "")
    piece = _LIST_MARKER.sub("", piece, count=1)
    piece = _PREFIX.sub("", piece, count=1)
    return piece.strip()


def only_prefix_differs(a: str, b: str) -> bool:
    """True when one string is the other with something put in front (a negation such as
    "un", "non-", "not "), which a fuzzy match must not bridge."""
    return a != b and (a.endswith(b) or b.endswith(a))


def fuzzy_budget(length: int) -> int:
    """Edits allowed for a fuzzy match of a candidate of this length (0: no fuzzy match)."""
    return 0 if length < 4 else min(4, max(1, length // 6))


def json_candidates(text: str) -> list[str] | None:
    """The label strings in a JSON (or Python literal) answer; None if the answer is not one."""
    stripped = text.strip()
    if not stripped or stripped[0] not in "[{":
        return None
    try:
        data = json.loads(stripped)
    except ValueError:
        try:
            data = ast.literal_eval(stripped)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return None
    if not isinstance(data, (list, dict)):
        return None
    out: list[str] = []
    _collect(data, out)
    return out


def _collect(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        out.append(str(value))
    elif isinstance(value, (list, tuple)):
        for item in value:
            _collect(item, out)
    elif isinstance(value, dict):
        keys = [k for k in _JSON_KEYS if k in value]
        if keys:
            _collect(value[keys[0]], out)
        else:
            for item in value.values():
                if isinstance(item, (str, list)):
                    _collect(item, out)
