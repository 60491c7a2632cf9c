"""Runs: the run context (ledger run, budget, progress), budgets, and the one runner."""

from lmprog.run.budget import Budget, BudgetTracker
from lmprog.run.context import RunContext, activate, current_run, ledger_of, open_run
from lmprog.run.runner import BUDGET, Outcome, run_each, run_module, run_one

__all__ = ["BUDGET", "Budget", "BudgetTracker", "Outcome", "RunContext", "activate", "current_run", "ledger_of",
           "open_run", "run_each", "run_module", "run_one"]
