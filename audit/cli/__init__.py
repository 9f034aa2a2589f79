"""The `audit` command line, one module per command group: ``engagement`` (run, batch, estimate,
validate, new), ``tools`` (shift, measure, training-estimate), ``usage`` (``estimate-usage``),
``imports`` (``import-usage``), ``listing`` (``list``) and ``disclose`` (``export-manifest``,
``compare``) register their commands on ``common.app``; ``main`` registers every group."""
from audit.cli.main import app

__all__ = ["app"]
