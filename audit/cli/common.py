"""What every command group shares: the Typer ``app``, the common options and ``guard``
(toolkit errors become a located message and an exit status, no traceback)."""
from __future__ import annotations

import functools
import traceback
from enum import Enum
from typing import Annotated

import typer

from audit.core.exceptions import AuditError, InputError

app = typer.Typer(
    help="Sustainability audits of content pipelines that use generative AI.\n\n"
         "Start with `audit new CLIENT`, fill in the activities, then `audit run CLIENT --out reports/CLIENT`.\n\n"
         "Example:  audit run data/sample_engagement --out reports/sample",
    no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False, rich_markup_mode=None,
)

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
