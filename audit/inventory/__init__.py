"""Inventory: reading and validating an engagement, estimation per kind, usage logs, results."""
