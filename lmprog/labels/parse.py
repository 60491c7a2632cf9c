"""Mapping LM text to labels: the matching index of a label space and the answer parser.

The rules are stated in the :mod:`lmprog.labels` docstring. A :class:`LabelMatcher` is built once
per label space, on first use (see ``LabelSpace.parse``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rapidfuzz import process
from rapidfuzz.distance import OSA

from lmprog.labels.normalize import EDGE, clean, fuzzy_budget, json_candidates, key, loose, only_prefix_differs

if TYPE_CHECKING:  # pragma: no cover
    from lmprog.labels.space import Label

AMBIGUOUS = -1
_FUZZY_ALIAS_LIMIT = 20_000  # above this many name and alias keys, fuzzy matching uses names only
_FUZZY_CACHE_SIZE = 4096
_DSPY_MARKER = re.compile(r"^\s*\[\[\s*##\s*\w+\s*##\s*\]\]\s*$")
_FENCE = re.compile(r"^\s*```[\w-]*\s*\n?(.*?)\n?\s*```\s*$", re.DOTALL)
_SEPARATORS = re.compile(r"([,;])")


@dataclass
class ParsedLabels:
    """What :meth:`LabelSpace.parse` found in an answer.

    ``labels`` holds matched label names in answer order without duplicates; ``unparsed`` holds
    the pieces of the answer that matched no label (or more than one).
    """

    labels: list[str] = field(default_factory=list)
    unparsed: list[str] = field(default_factory=list)

    @property
    def label(self) -> str | None:
        """The first label, or None when nothing matched."""
        return self.labels[0] if self.labels else None


def _add(table: dict[str, int], text_key: str, label_id: int) -> None:
    if not text_key:
        return
    previous = table.get(text_key)
    if previous is None:
        table[text_key] = label_id
    elif previous != label_id:
        table[text_key] = AMBIGUOUS


class LabelMatcher:
    """Exact, normalized, alias, loose and fuzzy lookup of candidate strings among ``labels``.

    ``by_name`` maps each exact name to its id. Lookups return a label id, or None.
    """

    def __init__(self, labels: Sequence[Label], by_name: Mapping[str, int]):
        self._names = tuple(label.name for label in labels)
        self._by_name = by_name
        names: dict[str, int] = {}
        aliases: dict[str, int] = {}
        loose_names: dict[str, int] = {}
        loose_aliases: dict[str, int] = {}
        for label in labels:
            name_key = key(label.name)
            _add(names, name_key, label.id)
            _add(loose_names, loose(name_key), label.id)
            for alias in label.aliases:
                alias_key = key(alias)
                _add(aliases, alias_key, label.id)
                _add(loose_aliases, loose(alias_key), label.id)
        self._tables = (names, aliases, loose_names, loose_aliases)
        self._build_fuzzy(names, aliases)
        span = max((len(_SEPARATORS.findall(k)) for table in (names, aliases) for k in table), default=0)
        self._max_span = 2 * span + 1  # parts (pieces and separators) a name may cover

    def _build_fuzzy(self, names: dict[str, int], aliases: dict[str, int]) -> None:
        # Fuzzy candidates: names win over aliases; ambiguous keys stay in, so that a near miss
        # of an ambiguous alias is itself ambiguous rather than mapped to a neighbour. In a large
        # space (ESCO: 13,891 names, 96,000 aliases) only names are fuzzy-matched, to keep a miss
        # to about a millisecond; aliases still match exactly and normalized.
        if len(names) + len(aliases) <= _FUZZY_ALIAS_LIMIT:
            fuzzy = {**aliases, **names}
        else:
            fuzzy = {**{k: v for k, v in aliases.items() if v == AMBIGUOUS}, **names}
        buckets: dict[int, tuple[list[str], list[int]]] = {}
        for text_key, label_id in fuzzy.items():
            keys, ids = buckets.setdefault(len(text_key), ([], []))
            keys.append(text_key)
            ids.append(label_id)
        self._max_key_length = max(buckets, default=0)
        self._fuzzy_cache: dict[str, int | None] = {}
        self._buckets = buckets

    # ----------------------------------------------------------------------------- one candidate

    def lookup(self, text: str) -> int | None:
        """Exact, normalized, alias and loose matching of one candidate.

        Returns a label id, ``AMBIGUOUS`` when the first step that matches points to several
        labels, or None.
        """
        label_id = self._by_name.get(text)
        if label_id is not None:
            return label_id
        cleaned = clean(text)
        keys = (key(text), key(cleaned)) if cleaned != text else (key(text),)
        names, aliases, loose_names, loose_aliases = self._tables
        for table in (names, aliases):
            for text_key in keys:
                label_id = table.get(text_key)
                if label_id is not None:
                    return label_id
        loose_keys = {loose(k) for k in keys}
        for table in (loose_names, loose_aliases):
            for text_key in loose_keys:
                label_id = table.get(text_key)
                if label_id is not None:
                    return label_id
        return None

    def fuzzy(self, text: str) -> int | None:
        """The single label within the edit budget of the candidate, or None (cached)."""
        text_key = key(clean(text))
        if text_key in self._fuzzy_cache:
            return self._fuzzy_cache[text_key]
        label_id = self._fuzzy_search(text_key)
        if len(self._fuzzy_cache) >= _FUZZY_CACHE_SIZE:
            self._fuzzy_cache.pop(next(iter(self._fuzzy_cache), None), None)
        self._fuzzy_cache[text_key] = label_id
        return label_id

    def _fuzzy_search(self, text_key: str) -> int | None:
        budget = fuzzy_budget(len(text_key))
        if not budget or len(text_key) > self._max_key_length + budget:
            return None
        best, found = budget + 1, set()
        for length in range(len(text_key) - budget, len(text_key) + budget + 1):
            bucket = self._buckets.get(length)
            if bucket is None:
                continue
            keys, ids = bucket
            for choice, distance, position in process.extract(text_key, keys, scorer=OSA.distance,
                                                               score_cutoff=min(budget, best), limit=None):
                if only_prefix_differs(text_key, choice):  # "unresponsive" is not "responsive"
                    continue
                if distance < best:
                    best, found = distance, {ids[position]}
                elif distance == best:
                    found.add(ids[position])
        label_id = found.pop() if len(found) == 1 else AMBIGUOUS
        return None if label_id == AMBIGUOUS else label_id

    def resolve_id(self, text: str, fuzzy: bool) -> int | None:
        """The id of the one label ``text`` names (fuzzy matching last, if allowed), or None."""
        label_id = self.lookup(text)
        if label_id is None and fuzzy:
            label_id = self.fuzzy(text)
        return None if label_id == AMBIGUOUS else label_id

    # ----------------------------------------------------------------------------- whole answers

    def parse(self, text: str, *, multi: bool, fuzzy: bool) -> ParsedLabels:
        """Map an LM answer to label names (see ``LabelSpace.parse``)."""
        found: list[int] = []
        unparsed: list[str] = []
        fenced = _FENCE.match(text)
        body = fenced.group(1) if fenced else text
        candidates = json_candidates(body)
        if candidates is None:
            self._parse_text(body, found, unparsed, fuzzy)
        else:
            for candidate in candidates:
                self._parse_text(candidate, found, unparsed, fuzzy)
        labels = list(dict.fromkeys(self._names[i] for i in found))
        return ParsedLabels(labels=labels[:1] if not multi else labels, unparsed=unparsed)

    def _parse_text(self, text: str, found: list[int], unparsed: list[str], fuzzy: bool) -> None:
        label_id = self.lookup(text)
        if label_id is not None and label_id != AMBIGUOUS:
            found.append(label_id)
            return
        lines = [line for line in text.splitlines() if line.strip() and not _DSPY_MARKER.match(line)]
        if len(lines) > 1:
            for line in lines:
                self._parse_line(line, found, unparsed, fuzzy)
        elif lines:
            self._parse_line(lines[0], found, unparsed, fuzzy, whole_tried=True)

    def _parse_line(self, line: str, found: list[int], unparsed: list[str], fuzzy: bool,
                    whole_tried: bool = False) -> None:
        line = clean(line)
        if not whole_tried:
            label_id = self.lookup(line)
            if label_id is not None and label_id != AMBIGUOUS:
                found.append(label_id)
                return
        parts = _SEPARATORS.split(line)  # piece, sep, piece, sep, ..., piece
        line_found: list[int] = []
        line_unparsed: list[str] = []
        misses: list[str] = []  # a run of consecutive pieces that matched nothing, with separators

        def flush() -> None:
            if misses:
                self._resolve_misses(misses, line_found, line_unparsed, fuzzy)
                misses.clear()

        i = 0
        while i < len(parts):  # longest exact match first, so names with commas stay whole
            matched = None
            for end in range(min(len(parts), i + self._max_span), i, -2):
                label_id = self.lookup("".join(parts[i:end]))
                if label_id is not None and label_id != AMBIGUOUS:
                    matched = (label_id, end)
                    break
            if matched is None:
                if misses:
                    misses.append(parts[i - 1])
                misses.append(parts[i])
                i += 2
            else:
                flush()
                line_found.append(matched[0])
                i = matched[1] + 1
        flush()
        if line_unparsed and fuzzy and 1 < len(parts) <= self._max_span:
            label_id = self.fuzzy(line)  # the whole line may be one misspelt name with a comma
            if label_id is not None:
                line_found, line_unparsed = [label_id], []
        found.extend(line_found)
        unparsed.extend(line_unparsed)

    def _resolve_misses(self, misses: list[str], found: list[int], unparsed: list[str], fuzzy: bool) -> None:
        """Resolve pieces that matched nothing exactly: each on its own, else the run as one name."""
        pieces = [p for p in misses[::2] if p.strip(EDGE)]
        ids = [self.resolve_id(piece, fuzzy) for piece in pieces]
        if None in ids and fuzzy and 1 < len(misses) <= self._max_span:
            label_id = self.fuzzy("".join(misses))
            if label_id is not None:
                found.append(label_id)
                return
        for piece, label_id in zip(pieces, ids):
            if label_id is None:
                unparsed.append(piece.strip())
            else:
                found.append(label_id)
