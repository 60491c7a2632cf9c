"""What the ledger holds: calls, runs, totals, exports, and deleting calls.

Each function takes a connection; :class:`lmprog.ledger.Ledger` supplies it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

from lmprog.ledger.connections import rows
from lmprog.ledger.texts import full_row

_HEX = frozenset("0123456789abcdef")


def find(conn: sqlite3.Connection, key_prefix: str) -> list[dict]:
    """Every row (successes and failures) whose key starts with ``key_prefix``, request included."""
    prefix = key_prefix.lower()
    if not prefix or any(c not in _HEX for c in prefix):
        return []
    found = rows(conn, "SELECT * FROM calls WHERE lower(hex(key)) LIKE ? ORDER BY id", (prefix + "%",))
    return [full_row(conn, row) for row in found]


def calls(conn: sqlite3.Connection, *, limit: int | None = 20, run_id: str | None = None,
          errors: bool | None = None) -> list[dict]:
    """Recent calls, newest first, without request bodies."""
    where, params = [], []
    if run_id:
        where.append("run_id = ?")
        params.append(run_id)
    if errors is True:
        where.append("error_kind IS NOT NULL")
    elif errors is False:
        where.append("error_kind IS NULL")
    sql = ("SELECT id, lower(hex(key)) AS key, model, module, run_id, created_at, prompt_tokens, completion_tokens, "
           "cost_usd, latency_ms, error_kind, substr(response, 1, 200) AS response FROM calls")
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY id DESC"
    if limit:
        sql += f" LIMIT {int(limit)}"
    return rows(conn, sql, params)


def iter_export(conn: sqlite3.Connection) -> Iterator[dict]:
    """Every call with its full request, oldest first."""
    cursor = conn.execute("SELECT * FROM calls ORDER BY id")
    names = [d[0] for d in cursor.description]
    for row in cursor:
        yield full_row(conn, dict(zip(names, row)))


def runs(conn: sqlite3.Connection, limit: int | None = 20) -> list[dict]:
    """Runs, newest first."""
    sql = "SELECT * FROM runs ORDER BY started_at DESC"
    if limit:
        sql += f" LIMIT {int(limit)}"
    return rows(conn, sql, ())


_GROUP_SQL = """SELECT {col} AS name, count(*) FILTER (WHERE error_kind IS NULL) AS calls,
           count(*) FILTER (WHERE error_kind IS NOT NULL) AS errors,
           coalesce(sum(prompt_tokens), 0) AS prompt_tokens,
           coalesce(sum(completion_tokens), 0) AS completion_tokens, sum(cost_usd) AS cost_usd
    FROM calls {where} GROUP BY {col} ORDER BY calls DESC"""


def stats(conn: sqlite3.Connection, run_id: str | None = None) -> dict:
    """Totals: paid calls, failed attempts, ledger hits, tokens, USD, by model and by module."""
    where, params = ("WHERE run_id = ?", (run_id,)) if run_id else ("", ())
    totals = rows(conn, f"""
        SELECT count(*) FILTER (WHERE error_kind IS NULL) AS calls,
               count(*) FILTER (WHERE error_kind IS NOT NULL) AS errors,
               coalesce(sum(prompt_tokens), 0) AS prompt_tokens,
               coalesce(sum(completion_tokens), 0) AS completion_tokens,
               sum(cost_usd) AS cost_usd,
               count(*) FILTER (WHERE error_kind IS NULL AND cost_usd IS NULL) AS calls_unpriced,
               avg(latency_ms) FILTER (WHERE error_kind IS NULL) AS mean_latency_ms
        FROM calls {where}""", params)[0]
    hits_sql = "SELECT coalesce(sum(hits), 0) FROM runs" + (" WHERE id = ?" if run_id else "")
    totals["hits"] = conn.execute(hits_sql, params).fetchone()[0]
    totals["by_model"] = rows(conn, _GROUP_SQL.format(col="model", where=where), params)
    totals["by_module"] = rows(conn, _GROUP_SQL.format(col="module", where=where), params)
    totals["errors_by_kind"] = dict(conn.execute(
        f"SELECT error_kind, count(*) FROM calls {where} {'AND' if where else 'WHERE'} error_kind IS NOT NULL "
        "GROUP BY error_kind", params).fetchall())
    totals["runs"] = conn.execute("SELECT count(*) FROM runs" + (" WHERE id = ?" if run_id else ""),
                                  params).fetchone()[0]
    return totals


def module_stats(conn: sqlite3.Connection, module_prefix: str) -> dict:
    """Paid calls of the modules whose name starts with ``module_prefix``: how many, their mean
    latency and mean USD (None when some were unpriced)."""
    row = rows(conn, """
        SELECT count(*) AS calls, avg(latency_ms) AS mean_latency_ms, avg(cost_usd) AS mean_cost_usd,
               count(*) FILTER (WHERE cost_usd IS NULL) AS unpriced
        FROM calls WHERE error_kind IS NULL AND substr(module, 1, ?) = ?""",
               (len(module_prefix), module_prefix))[0]
    if row["unpriced"]:
        row["mean_cost_usd"] = None
    return row


def clear(conn: sqlite3.Connection, *, run_id: str | None = None, errors_only: bool = False) -> int:
    """Delete calls (all, one run's, or failed attempts only) inside the caller's write transaction;
    deleting all empties ``texts``, ``runs`` and ``run_hits`` too. Returns how many calls were deleted."""
    where, params = [], []
    if run_id:
        where.append("run_id = ?")
        params.append(run_id)
    if errors_only:
        where.append("error_kind IS NOT NULL")
    deleted = conn.execute("DELETE FROM calls" + (" WHERE " + " AND ".join(where) if where else ""), params).rowcount
    if not run_id and not errors_only:
        conn.execute("DELETE FROM texts")
        conn.execute("DELETE FROM runs")
        conn.execute("DELETE FROM run_hits")
    return deleted
