"""Spend and floods: budgets in force, what `/newspec usage` shows, per-person limits."""
