"""What ``lmprog cache browse`` shows in Datasette: SQL functions that make stored requests readable, and
canned queries (spend by run, module and model; failed calls by kind; slowest calls; calls to read).

SQL functions (registered on every connection Datasette opens):

``lmprog_request(request)``  the stored request decoded (texts restored) as JSON
``lmprog_prompt(request)``   the same as plain text: the system prompt, then each message under its role
``lmprog_unpack(blob)``      any packed column (``response_extra``, a ``texts`` row) as text
"""

from __future__ import annotations

import functools
import json
import sqlite3
import zlib
from typing import Any

from lmprog.ledger import codec

DATABASE = "ledger"  # the ledger's name in Datasette's URLs: /ledger, /ledger/spend_by_run.json
TEXT_CACHE = 4096  # paragraphs kept decoded per connection (the same few repeat in every request)


def register_functions(conn: sqlite3.Connection) -> None:
    """Add the ``lmprog_*`` SQL functions to ``conn`` (a connection to a ledger)."""

    @functools.lru_cache(maxsize=TEXT_CACHE)
    def stored_text(digest: str) -> str | None:
        try:
            row = conn.execute("SELECT data FROM texts WHERE hash = ?", (digest,)).fetchone()
        except sqlite3.OperationalError:  # not a ledger
            return None
        return codec.unpack(row[0]) if row else None

    def request_of(blob) -> Any:
        return codec.internalize(codec.unpack_json(blob), stored_text) if blob is not None else None

    def as_json(blob) -> str | None:
        request = request_of(blob)
        return None if request is None else json.dumps(request, ensure_ascii=False, sort_keys=True)

    def as_prompt(blob) -> str | None:
        request = request_of(blob)
        return None if request is None else prompt_text(request)

    conn.create_function("lmprog_request", 1, _safe(as_json), deterministic=True)
    conn.create_function("lmprog_prompt", 1, _safe(as_prompt), deterministic=True)
    conn.create_function("lmprog_unpack", 1, _safe(codec.unpack), deterministic=True)


def _safe(function):
    """A SQL function that answers a value it cannot decode with a note instead of failing the query."""

    @functools.wraps(function)
    def call(value):
        try:
            return function(value)
        except (ValueError, TypeError, zlib.error) as exc:  # UnicodeDecodeError is a ValueError
            return f"<cannot decode: {type(exc).__name__}>"

    return call


def prompt_text(keyed: dict) -> str:
    """A stored request (``{"request": {...}, "sample": n}``) as the text a person reads."""
    request = keyed.get("request", keyed) if isinstance(keyed, dict) else {}
    blocks = []
    if request.get("system"):
        blocks.append(f"system:\n{request['system']}")
    for message in request.get("messages") or []:
        parts = [part.get("text") if part.get("type") == "text" else f"[{part.get('type')}]"
                 for part in message.get("parts") or []]
        blocks.append(f"{message.get('role')}:\n" + "\n".join(p for p in parts if p))
    return "\n\n".join(blocks)


def _when(column: str) -> str:
    return f"datetime({column}, 'unixepoch', 'localtime')"


_SPEND_COLUMNS = """count(*) FILTER (WHERE error_kind IS NULL) AS paid_calls,
       count(*) FILTER (WHERE error_kind IS NOT NULL) AS failed_attempts,
       coalesce(sum(prompt_tokens), 0) AS prompt_tokens,
       coalesce(sum(completion_tokens), 0) AS completion_tokens,
       round(sum(cost_usd), 6) AS cost_usd,
       count(*) FILTER (WHERE error_kind IS NULL AND cost_usd IS NULL) AS unpriced_calls,
       round(avg(latency_ms) FILTER (WHERE error_kind IS NULL), 1) AS mean_latency_ms"""

_SPEND_BY = """SELECT {column} AS {name}, {spend}
FROM calls GROUP BY {column} ORDER BY cost_usd DESC, paid_calls DESC"""

# Decoding runs only on the rows shown: the rows are picked first (MATERIALIZED keeps SQLite from
# decoding every row it sorts).
_READABLE = """WITH picked AS MATERIALIZED (
  SELECT id, key, model, module, run_id, created_at, latency_ms, prompt_tokens, completion_tokens, cost_usd,
         error_kind, error, response, request
  FROM calls {where} ORDER BY {order} LIMIT {limit})
SELECT id, lower(hex(key)) AS key, model, module, run_id, {when} AS at, round(latency_ms, 1) AS latency_ms,
       prompt_tokens, completion_tokens, cost_usd, error_kind, coalesce(response, error) AS answer,
       lmprog_prompt(request) AS prompt{request}
FROM picked ORDER BY {order}"""

QUERIES: dict[str, dict[str, str]] = {
    "spend_by_run": {
        "title": "Spend by run",
        "description": "Paid calls, failed attempts, ledger hits, tokens and USD of each run, newest first.",
        "sql": f"""SELECT runs.id AS run, runs.command, {_when('runs.started_at')} AS started,
       {_when('runs.ended_at')} AS ended, coalesce(paid_calls, 0) AS paid_calls, runs.hits AS ledger_hits,
       coalesce(failed_attempts, 0) AS failed_attempts, coalesce(prompt_tokens, 0) AS prompt_tokens,
       coalesce(completion_tokens, 0) AS completion_tokens, cost_usd, coalesce(unpriced_calls, 0) AS unpriced_calls,
       mean_latency_ms
FROM runs LEFT JOIN (SELECT run_id, {_SPEND_COLUMNS} FROM calls GROUP BY run_id) AS spend
  ON spend.run_id = runs.id
ORDER BY runs.started_at DESC""",
    },
    "spend_by_module": {
        "title": "Spend by module",
        "description": "Paid calls, failed attempts, tokens, USD and mean latency of each program module.",
        "sql": _SPEND_BY.format(column="module", name="module", spend=_SPEND_COLUMNS),
    },
    "spend_by_model": {
        "title": "Spend by model",
        "description": "Paid calls, failed attempts, tokens, USD and mean latency of each model.",
        "sql": _SPEND_BY.format(column="model", name="model", spend=_SPEND_COLUMNS),
    },
    "failed_by_kind": {
        "title": "Failed calls by kind",
        "description": "Failed attempts (kept for reports, never served) by error kind, with the latest error.",
        "sql": f"""SELECT error_kind, count(*) AS attempts, count(DISTINCT key) AS distinct_calls,
       count(DISTINCT run_id) AS runs, {_when('min(created_at)')} AS first, {_when('max(created_at)')} AS last,
       (SELECT error FROM calls AS latest WHERE latest.error_kind = failed.error_kind ORDER BY id DESC LIMIT 1)
         AS latest_error
FROM calls AS failed WHERE error_kind IS NOT NULL GROUP BY error_kind ORDER BY attempts DESC""",
    },
    "slowest_calls": {
        "title": "Slowest calls",
        "description": "The 100 calls that took longest, with their prompts.",
        "sql": _READABLE.format(where="WHERE latency_ms IS NOT NULL", order="latency_ms DESC", limit=100,
                                when=_when("created_at"), request=""),
    },
    "recent_calls": {
        "title": "Recent calls, readable",
        "description": "The latest 100 calls with the prompt as text and the full request as JSON.",
        "sql": _READABLE.format(where="", order="id DESC", limit=100, when=_when("created_at"),
                                request=", lmprog_request(request) AS request"),
    },
    "call": {
        "title": "One call",
        "description": "Every attempt of the call whose key starts with the given hex digits.",
        "sql": _READABLE.format(where="WHERE lower(hex(key)) LIKE lower(:key) || '%'", order="id", limit=50,
                                when=_when("created_at"), request=", lmprog_request(request) AS request"),
    },
}
