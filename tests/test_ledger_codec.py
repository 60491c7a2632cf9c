"""The compact request encoding round-trips exactly."""

from __future__ import annotations

import pytest

from lmprog.ledger import codec

SYSTEM = "Your input fields are:\n1. `text` (str)\n\n" + "Classify the message as ham or spam. " * 5


@pytest.mark.parametrize("value", [
    "short",
    "x" * 500,  # starts like a zlib stream
    "d" * 70,  # starts like a dictionary-deflated blob
    "=" + "plain" * 30,
    SYSTEM,
    "para one is long enough to be stored by reference\n\n\n\nsecond paragraph, also long enough to count",
    {"request": {"system": SYSTEM, "messages": [{"text": SYSTEM + "\n\nunique input"}]}, "sample": 0},
    ["é ü 中文 🙂" * 20, None, 1.5, True],
])
@pytest.mark.parametrize("repeated", [False, True], ids=["first-sight", "seen-before"])
def test_round_trip(value, repeated):
    stored: dict[str, str] = {}
    encoded = codec.externalize(value, stored, lambda digest: repeated)
    assert bool(stored) == (repeated and encoded != value)
    blob = codec.pack_json(encoded)
    assert codec.internalize(codec.unpack_json(blob), stored.get) == value
    for text in stored.values():
        assert codec.unpack(codec.pack_text(text)) == text


def test_repeated_paragraphs_become_references_and_new_ones_stay_inline():
    new: dict[str, str] = {}
    request = {"system": SYSTEM, "user": "a one-off input text that is long enough to be a paragraph"}
    encoded = codec.externalize(request, new, lambda h: h == codec.text_hash(SYSTEM.split("\n\n")[1]))
    assert list(new.values()) == [SYSTEM.split("\n\n")[1]]
    assert encoded["user"] == request["user"]
    assert codec.internalize(encoded, new.get) == request


def test_packing_shrinks_a_typical_request():
    request = {"request": {"config": {"max_tokens": 1024, "temperature": 0.0}, "model": "openai/gpt-4o-mini",
                           "messages": [{"parts": [{"text": "[[ ## text ## ]]\nhello", "type": "text"}],
                                         "role": "user"}], "system": "\x00t:0123456789abcdef0123"}, "sample": 0}
    import json

    assert len(codec.pack_json(request)) < 0.7 * len(json.dumps(request))
