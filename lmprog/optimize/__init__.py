"""Optimizers that compile lmprog programs: label-aware demos, instruction proposal, budgets."""
