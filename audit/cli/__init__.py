"""The `audit` command line, one module per command group: ``main`` (the engagement commands
and the tools), ``usage`` (``estimate-usage``), ``imports`` (``import-usage``), ``listing`` (``list``) and
``disclose`` (``export-manifest``, ``compare``) register their commands on ``common.app``."""
from audit.cli import disclose, imports, listing, main, usage  # noqa: F401 - importing a group registers its commands on `app`
from audit.cli.common import app

__all__ = ["app"]
