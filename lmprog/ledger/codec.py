"""How the ledger stores requests compactly.

Label-task prompts repeat: the system prompt, few-shot demos and DSPy's format reminders are the
same in thousands of calls; only the input text changes. So every string in a request is cut into
paragraphs; a paragraph that has been seen before is stored once (by hash) in the ``texts`` table
and referenced, a new one stays inline (most are the one-off input text). The remaining JSON is
deflated against a small preset dictionary of the request skeleton. The encoding is part of the
schema: change it only with a migration.
"""

from __future__ import annotations

import hashlib
import json
import re
import zlib
from collections.abc import Callable
from typing import Any

# A paragraph this long is stored once and referenced; shorter ones stay inline.
PARAGRAPH_REF_MIN = 48
_REF = "\x00t:"  # a whole string that is one stored paragraph
_PIECES = "\x00p"  # key of {"\x00p": [piece, ...]}: a string cut into inline text and references
_PARAGRAPH_BREAK = re.compile(r"(\n\n)")

# Blob formats, told apart by the first byte. JSON starts with "{" or "[".
_RAW_DEFLATE_WITH_DICT = b"d"
_ZLIB = b"x"  # zlib's own header byte
_RAW_TEXT = b"="
_COMPRESS_MIN = 64
_DICTIONARY = (
    b'{"request":{"config":{"max_tokens":1024,"temperature":0.0},"messages":[{"parts":[{"text":"[[ ## '
    b' ## ]]\\n","type":"text"}],"role":"user"},{"parts":[{"text":"[[ ## completed ## ]]","type":"text"}],'
    b'"role":"assistant"}],"model":"openai/","system":"\\u0000t:"},"rollout":0,"sample":0}'
    b'{"\\u0000p":["\\u0000t:'
)


def text_hash(text: str) -> str:
    """80 bits of sha256: no collision in any ledger a person will fill."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def externalize(value: Any, new_texts: dict[str, str], is_repeated: Callable[[str], bool]) -> Any:
    """``value`` with repeated long paragraphs replaced by references.

    ``is_repeated(hash)`` says whether a paragraph was seen before; the text of each referenced
    paragraph is added to ``new_texts`` (the caller stores those it has not stored yet).
    """
    if isinstance(value, str):
        return _externalize_string(value, new_texts, is_repeated)
    if isinstance(value, dict):
        return {k: externalize(v, new_texts, is_repeated) for k, v in value.items()}
    if isinstance(value, list):
        return [externalize(v, new_texts, is_repeated) for v in value]
    return value


def _externalize_string(text: str, new_texts: dict[str, str], is_repeated: Callable[[str], bool]) -> Any:
    if len(text) < PARAGRAPH_REF_MIN:
        return text
    pieces: list[str] = []
    for part in _PARAGRAPH_BREAK.split(text):
        digest = text_hash(part) if len(part) >= PARAGRAPH_REF_MIN else None
        if digest is not None and is_repeated(digest):
            new_texts[digest] = part
            pieces.append(_REF + digest)
        elif pieces and not pieces[-1].startswith(_REF):
            pieces[-1] += part
        elif part:
            pieces.append(part)
    if len(pieces) == 1:
        return pieces[0]
    return {_PIECES: pieces}


def internalize(value: Any, lookup: Callable[[str], str | None]) -> Any:
    """Undo :func:`externalize`; ``lookup(hash)`` returns a stored paragraph."""
    if isinstance(value, str):
        return _resolve(value, lookup)
    if isinstance(value, dict):
        if len(value) == 1 and _PIECES in value:
            return "".join(_resolve(piece, lookup) for piece in value[_PIECES])
        return {k: internalize(v, lookup) for k, v in value.items()}
    if isinstance(value, list):
        return [internalize(v, lookup) for v in value]
    return value


def _resolve(piece: str, lookup: Callable[[str], str | None]) -> str:
    if piece.startswith(_REF):
        found = lookup(piece[len(_REF):])
        return found if found is not None else f"<missing text {piece[len(_REF):]}>"
    return piece


def pack_json(value: Any) -> bytes:
    """Canonical JSON, deflated against the skeleton dictionary when that is smaller."""
    data = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, _DICTIONARY)
    packed = _RAW_DEFLATE_WITH_DICT + compressor.compress(data) + compressor.flush()
    return packed if len(packed) < len(data) else data


def pack_text(text: str) -> bytes:
    data = text.encode("utf-8")
    if len(data) >= _COMPRESS_MIN:
        packed = zlib.compress(data, 9)
        if len(packed) < len(data):
            return packed
    return _RAW_TEXT + data


def unpack(blob: bytes | str | None) -> str | None:
    """The text of a blob written by :func:`pack_json` or :func:`pack_text`."""
    if blob is None or isinstance(blob, str):
        return blob
    head = blob[:1]
    if head == _RAW_DEFLATE_WITH_DICT:
        decompressor = zlib.decompressobj(-15, _DICTIONARY)
        blob = decompressor.decompress(blob[1:]) + decompressor.flush()
    elif head == _ZLIB:
        blob = zlib.decompress(blob)
    elif head == _RAW_TEXT:
        blob = blob[1:]
    return blob.decode("utf-8")


def unpack_json(blob: bytes | str | None) -> Any:
    text = unpack(blob)
    return json.loads(text) if text else None
