"""What a run cost, for reports: paid calls, ledger hits, tokens, USD, failed attempts, by module."""

from __future__ import annotations


def ledger_cost(stats: dict) -> dict:
    """A run's cost for reports, from :meth:`Ledger.stats`."""
    unpriced = stats["calls"] and stats.get("calls_unpriced") == stats["calls"]
    return {"paid_calls": stats["calls"], "ledger_hits": stats["hits"], "prompt_tokens": stats["prompt_tokens"],
            "completion_tokens": stats["completion_tokens"],
            "usd": None if unpriced else stats["cost_usd"] or 0.0,
            "failed_attempts": stats["errors"], "attempt_errors": stats.get("errors_by_kind", {}),
            "by_module": [{k: row.get(k) for k in ("name", "calls", "prompt_tokens", "completion_tokens", "cost_usd")}
                          | {"module": row.get("name")} for row in stats.get("by_module", [])]}
