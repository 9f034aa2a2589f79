"""The `audit` command line, one module per command group."""
from audit.cli.main import app

__all__ = ["app"]
