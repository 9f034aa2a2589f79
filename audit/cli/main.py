"""The `audit` command: the Typer ``app`` (audit.cli.common) with every command group registered.

Each group is one module that registers its commands on ``app`` when imported, in the order
`audit --help` lists them:

    disclose    export-manifest, compare
    imports     import-usage
    listing     list
    engagement  run, batch, estimate, validate, new
    tools       shift, measure, training-estimate
    usage       estimate-usage

The groups load the toolkit's heavier modules inside each command, so that `audit --help` and
`audit estimate-usage` do not import the whole package (tests/test_speed.py).
"""
from __future__ import annotations

# Importing a group registers its commands on `app`; this order is the order of `audit --help`.
from audit.cli import disclose, imports, listing, engagement, tools, usage  # noqa: F401
from audit.cli.common import app

__all__ = ["app", "main"]


def main() -> None:  # pragma: no cover - console entry point
    app()
