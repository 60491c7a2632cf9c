"""The SQLite ledger: one row per LM call, which is both the record of what was spent and the cache.

``store`` (the Ledger: open read-write or read-only, put/get), ``connections`` (one SQLite
connection per thread), ``schema`` (tables and append-only migrations), ``claims`` (one paid call
per key across threads, Ledger objects and processes), ``queries`` (stats, calls, runs, find,
export, clear), ``runs`` (the run a Ledger attributes calls to), ``codec`` and ``texts`` (the
compact request encoding), ``records`` (CallRecord, call keys), ``merge`` (shards merged idempotently).
"""

from lmprog.ledger.records import CachedAnswer, CallRecord, call_key, canonical_json
from lmprog.ledger.schema import SCHEMA_VERSION, migrations
from lmprog.ledger.store import CACHE_MODES, DEFAULT_LEDGER, Ledger, ledger_path

__all__ = ["CACHE_MODES", "DEFAULT_LEDGER", "SCHEMA_VERSION", "CachedAnswer", "CallRecord", "Ledger", "call_key",
           "canonical_json", "ledger_path", "migrations"]
