"""What every command group shares: the Typer ``app``, the common options and ``guard``
(toolkit errors become a located message and an exit status, no traceback)."""
from __future__ import annotations

import functools
import traceback
from importlib import metadata
from enum import Enum
from typing import Annotated

import typer

from audit.core.exceptions import AuditError, InputError

app = typer.Typer(
    help="Sustainability audits of content pipelines that use generative AI.\n\n"
         "Start with `audit new CLIENT`, fill in the activities, then `audit run CLIENT --out reports/CLIENT`.\n\n"
         "Example:  audit run data/sample_engagement --out reports/sample",
    invoke_without_command=True, pretty_exceptions_enable=False, add_completion=False, rich_markup_mode=None,
)


def toolkit_version() -> str:
    """The installed distribution's version (pyproject), or the source tree's when not installed."""
    try:
        return metadata.version("genai-content-audit")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


@app.callback()
def root(ctx: typer.Context,
         version: Annotated[bool, typer.Option("--version", help="Print the toolkit's version and exit.")] = False):
    """`audit` alone prints this help and exits 0; `audit --version` prints the version."""
    if version:
        typer.echo(f"audit (genai-content-audit) {toolkit_version()}")
        raise typer.Exit(0)
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(0)

DebugOpt = Annotated[bool, typer.Option("--debug", help="Show the full traceback on errors.")]


class DaskMode(str, Enum):
    local = "local"


def dask_target(scheduler: str | None, dask: DaskMode | None) -> str | None:
    """The Dask cluster --scheduler/--dask ask for: an address, "local", or None for none;
    refuses both at once."""
    if scheduler and dask:
        raise InputError("give either --scheduler or --dask local, not both")
    return scheduler or (dask.value if dask else None)


class Format(str, Enum):
    json = "json"
    table = "table"


def guard(fn):
    """Turn toolkit errors into a clean message and exit status (2 for bad input)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        debug = kwargs.get("debug", False)
        try:
            return fn(*args, **kwargs)
        except AuditError as exc:
            if debug:
                traceback.print_exc()
            label = "error in input" if isinstance(exc, InputError) else "error"
            typer.echo(f"{label}: {exc}", err=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            typer.echo("interrupted: no report was written", err=True)
            raise typer.Exit(130) from None

    return wrapper
