"""The ``texts`` table as one ledger sees it: paragraphs stored once, and requests restored from them."""

from __future__ import annotations

import sqlite3

from lmprog.ledger import codec

_SEEN_LIMIT = 200_000


class Texts:
    """Which long paragraphs are stored (or were met before), for one Ledger object."""

    def __init__(self):
        self._known: set[str] = set()  # paragraph hashes stored in ``texts``
        self._seen: set[str] = set()  # paragraph hashes met in this process

    def pack_request(self, conn: sqlite3.Connection, request: dict) -> tuple[bytes, dict[str, str]]:
        """The stored form of ``request`` and the paragraphs it references that are not stored yet."""
        new_texts: dict[str, str] = {}
        packed = codec.pack_json(codec.externalize(request, new_texts, lambda digest: self._is_repeated(conn, digest)))
        return packed, {h: t for h, t in new_texts.items() if h not in self._known}

    def stored(self, digests) -> None:
        """Note paragraphs as stored (after their transaction committed)."""
        self._known.update(digests)

    def forget(self) -> None:
        """The ``texts`` table was emptied."""
        self._known.clear()

    def _is_repeated(self, conn: sqlite3.Connection, digest: str) -> bool:
        """Seen in this process or already stored; the first sighting is remembered, not stored."""
        if digest in self._known or digest in self._seen:
            return True
        if len(self._seen) > _SEEN_LIMIT:
            self._seen.clear()
        self._seen.add(digest)
        row = conn.execute("SELECT 1 FROM texts WHERE hash = ?", (digest,)).fetchone()
        if row is not None:
            self._known.add(digest)
        return row is not None


def full_row(conn: sqlite3.Connection, row: dict) -> dict:
    """A ``calls`` row with its key in hex and its request and extra fields decoded."""
    row["key"] = row["key"].hex() if isinstance(row["key"], bytes) else row["key"]
    row["request"] = codec.internalize(codec.unpack_json(row["request"]), lambda h: _text(conn, h))
    row["response_extra"] = codec.unpack_json(row["response_extra"])
    return row


def _text(conn: sqlite3.Connection, digest: str) -> str | None:
    row = conn.execute("SELECT data FROM texts WHERE hash = ?", (digest,)).fetchone()
    return codec.unpack(row[0]) if row else None
