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


def run_cost(ledger, run_id: str | None, spent: dict) -> dict:
    """A run's cost for reports: from the ledger's record of the run, or, when the ledger is read-only (an
    offline replay records nothing), from ``spent`` (:meth:`BudgetTracker.summary`) counted as it ran."""
    if ledger is None:
        return {}
    if run_id is not None and not getattr(ledger, "readonly", False):
        return ledger_cost(ledger.stats(run_id=run_id))
    return {"paid_calls": spent["calls"], "ledger_hits": spent["hits"], "prompt_tokens": spent["tokens"],
            "completion_tokens": 0, "usd": spent["usd"], "failed_attempts": 0, "attempt_errors": {}, "by_module": []}
