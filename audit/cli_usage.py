"""CLI commands for usage logs (filled in by audit/usage.py's owner)."""
