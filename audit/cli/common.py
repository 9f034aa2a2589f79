"""What every command group shares: the Typer ``app``, the common options and ``guard``
(toolkit errors become a located message and an exit status, no traceback)."""
from __future__ import annotations

import errno
import functools
import os
import traceback
from importlib import metadata
from enum import Enum
from typing import Annotated, Optional

import typer

from audit.core.exceptions import AuditError, InputError
from audit.core.safefiles import MAX_INPUT_BYTES, MAX_INPUT_BYTES_ENV
from audit.core.textinput import MAX_CELL_CHARS, MAX_CELL_CHARS_ENV
from audit.core.xlsxguard import XLSX_LIMITS

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


_XLSX = {lim.keyword: lim for lim in XLSX_LIMITS}


def _xlsx_help(keyword: str) -> str:
    lim = _XLSX[keyword]
    return (f"{lim.flag_help} (default {lim.default / lim.flag_scale:,g}; or set {lim.env}"
            + (" in bytes)." if lim.flag_scale != 1 else ")."))


def apply_xlsx_caps(**values: float | None) -> None:
    """The intake.xlsx caps given on the command line (``check_xlsx`` keyword -> value in the flag's
    unit) into their environment variables (``audit.core.xlsxguard.XLSX_LIMITS``), for this process
    and the kernels and batch children it starts, as ``apply_input_caps`` does."""
    for keyword, value in values.items():
        if value is not None:
            lim = _XLSX[keyword]
            scaled = value * lim.flag_scale
            os.environ[lim.env] = str(max(1, int(scaled)) if lim.whole else scaled)


@app.callback()
def root(ctx: typer.Context,
         version: Annotated[bool, typer.Option("--version", help="Print the toolkit's version and exit.")] = False,
         max_xlsx_rows: Annotated[Optional[int], typer.Option(
             "--max-xlsx-rows", min=1, help=_xlsx_help("max_rows"))] = None,
         max_xlsx_mb: Annotated[Optional[float], typer.Option(
             "--max-xlsx-mb", min=0.001, help=_xlsx_help("max_uncompressed_bytes"))] = None,
         max_xlsx_ratio: Annotated[Optional[float], typer.Option(
             "--max-xlsx-ratio", min=1.0, help=_xlsx_help("max_ratio"))] = None,
         max_xlsx_parts: Annotated[Optional[int], typer.Option(
             "--max-xlsx-parts", min=1, help=_xlsx_help("max_entries"))] = None):
    """`audit` alone prints this help and exits 0; `audit --version` prints the version.

    The intake.xlsx caps can go before the command, for any command that reads a workbook:
    `audit --max-xlsx-rows 200000 validate CLIENT` (run, batch, validate and estimate also take
    --max-xlsx-rows and --max-xlsx-mb after the command)."""
    apply_xlsx_caps(max_rows=max_xlsx_rows, max_uncompressed_bytes=max_xlsx_mb, max_ratio=max_xlsx_ratio,
                    max_entries=max_xlsx_parts)
    if version:
        typer.echo(f"audit (genai-content-audit) {toolkit_version()}")
        raise typer.Exit(0)
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(0)

DebugOpt = Annotated[bool, typer.Option("--debug", help="Show the full traceback on errors.")]
MaxInputMbOpt = Annotated[Optional[float], typer.Option(
    "--max-input-mb", min=0.001,
    help=f"Largest input file read, in MB (default {MAX_INPUT_BYTES >> 20:,}; or set {MAX_INPUT_BYTES_ENV} in bytes).")]
MaxCellCharsOpt = Annotated[Optional[int], typer.Option(
    "--max-cell-chars", min=1,
    help=f"Longest cell of an activities table, in characters (default {MAX_CELL_CHARS:,}; or set {MAX_CELL_CHARS_ENV}).")]

MaxXlsxRowsOpt = Annotated[Optional[int], typer.Option("--max-xlsx-rows", min=1, help=_xlsx_help("max_rows"))]
MaxXlsxMbOpt = Annotated[Optional[float], typer.Option("--max-xlsx-mb", min=0.001,
                                                       help=_xlsx_help("max_uncompressed_bytes"))]


def apply_input_caps(max_input_mb: float | None, max_cell_chars: int | None) -> None:
    """Set the input caps for this process and the ones it starts (notebook kernels, batch
    children inherit the environment; Dask workers do not: set the variables there)."""
    if max_input_mb is not None:
        os.environ[MAX_INPUT_BYTES_ENV] = str(max(1, int(max_input_mb * (1 << 20))))
    if max_cell_chars is not None:
        os.environ[MAX_CELL_CHARS_ENV] = str(max_cell_chars)


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


# Errors of the disk rather than of the toolkit (a full disk, a quota, a read-only file system):
# a message and exit status 2, no traceback (issue 17).
DISK_ERRORS = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded",
               errno.EROFS: "read-only file system"}


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
        except OSError as exc:
            if exc.errno not in DISK_ERRORS:
                raise
            if debug:
                traceback.print_exc()
            where = f" ({exc.filename})" if exc.filename else ""
            typer.echo(f"error: could not write{where}: {exc.strerror or DISK_ERRORS[exc.errno]}; "
                       "no output was replaced (each file is written whole or not at all). "
                       "Free some space or choose another --out, then run again.", err=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            typer.echo("interrupted: no report was written", err=True)
            raise typer.Exit(130) from None

    return wrapper
