"""`audit estimate-usage`: estimate an API usage log (millions of requests), optionally on Dask."""
from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import pandas as pd
import typer

from audit.cli.common import DaskMode, DebugOpt, Format, app, dask_target, guard
from audit.cli.imports import FROM_HELP, MEAN_HELP, FromFormat
from audit.core.atomic import atomic_path
from audit.core.exceptions import InputError
from audit.inventory.usage import estimate_usage, log_files
from audit.inventory.usage_import.reading import expand
from audit.inventory.usage.chunks import empty_rows


@app.command("estimate-usage")
@guard
def estimate_usage_cmd(
    log: Annotated[list[str], typer.Argument(help="Usage log: CSV or Parquet files, folders of them (Parquet only "
                                                  "on Dask), or "
                                                  "quoted globs ('usage/*.parquet'). Columns: timestamp, provider, "
                                                  "model, output_tokens [, requests, input_tokens, "
                                                  "cached_input_tokens, latency_s, stage, region]; or provider "
                                                  "exports (see --from).")],
    from_: Annotated[FromFormat, typer.Option("--from", help=FROM_HELP)] = FromFormat.auto,
    mean_output_tokens: Annotated[Optional[float], typer.Option("--mean-output-tokens", min=1,
                                                                help=MEAN_HELP)] = None,
    scheduler: Annotated[Optional[str], typer.Option(help="Dask scheduler address, e.g. tcp://10.0.0.5:8786 "
                                                          "(Parquet input; workers need this toolkit and the files).")] = None,
    dask: Annotated[Optional[DaskMode], typer.Option("--dask", help="'local': a 2-worker Dask cluster on this machine.")] = None,
    chunk_rows: Annotated[int, typer.Option(min=1, help="Requests held in memory at once.")] = 1_000_000,
    default_region: Annotated[str, typer.Option(help="Region of requests with neither a region nor a provider default.")] = "GBR",
    activities: Annotated[Optional[Path], typer.Option(help="Also write an llm_api activities CSV (stage x model x "
                                                            "region x month) to add to an engagement.")] = None,
    by_hour: Annotated[Optional[Path], typer.Option("--by-hour", help="Also write sums by stage x model x region x "
                                                                       "month x UTC hour to this CSV (with the "
                                                                       "hour-aware figure apart).")] = None,
    per_request: Annotated[Optional[Path], typer.Option(help="Also write per-request figures to this Parquet file "
                                                             "(single machine only).")] = None,
    format: Annotated[Format, typer.Option("--format", "-f", help="json or table.")] = Format.table,
    debug: DebugOpt = False,
):
    """Estimate energy and emissions of an LLM API usage log, request by request, streamed.

    Example:  audit estimate-usage usage/requests.csv

    Example:  audit estimate-usage usage/2025/ --dask local --format json

    Example:  audit estimate-usage usage.parquet --activities usage_activities.csv --by-hour usage_by_hour.csv

    Example:  audit estimate-usage exports/openai/ --from openai-usage
    """
    target = dask_target(scheduler, dask)
    source = log if len(log) > 1 else log[0]
    # resolved once, for the checks and the estimate
    files = log_files(source) if from_ is FromFormat.canonical else expand(source)
    _check_outputs({"--activities": activities, "--by-hour": by_hour, "--per-request": per_request}, files)
    with _parquet_sink(per_request) as write:
        result = estimate_usage(files, chunk_rows=chunk_rows, scheduler=target, default_region=default_region,
                                on_chunk=write, fmt=from_.value, mean_output_tokens=mean_output_tokens)
    for line in result.notes:
        typer.echo(line, err=True)
    if activities:
        result.write_activities(activities)
    if by_hour:
        result.write_by_hour(by_hour)
    if format is Format.json:
        typer.echo(json.dumps(result.to_json_dict(), indent=2, allow_nan=False))
    else:
        _print_table(result)
    if activities:
        typer.echo(f"activities written to {activities}", err=True)
    if by_hour:
        typer.echo(f"sums by hour written to {by_hour}", err=True)
    if per_request:
        typer.echo(f"per-request figures written to {per_request}", err=True)


def _check_outputs(outputs: dict[str, Path | None], files: list[Path]) -> None:
    """Refuse, before any work, output paths that would fail or destroy data: a folder, a path
    under a file, one of the input log ``files``, or the same file for two outputs."""
    inputs = {f.resolve() for f in files}
    seen: dict[Path, str] = {}
    for option, path in outputs.items():
        if path is None:
            continue
        where = path.resolve()
        if where.is_dir():
            raise InputError(f"{option} {path}: is a folder; give a file name inside it")
        if any(p.exists() and not p.is_dir() for p in where.parents):
            raise InputError(f"{option} {path}: a file is in the way of this path")
        if where in inputs:
            raise InputError(f"{option} {path}: is one of the input logs; writing there would overwrite it")
        if where in seen:
            raise InputError(f"{option} and {seen[where]} name the same file {path}")
        seen[where] = option


@contextmanager
def _parquet_sink(path: Path | None):
    """Per-request frames appended to one Parquet file as they are computed: yields the
    function that appends a frame (None without a path). The file appears (atomically)
    only if the block ends without an error; with no requests it is an empty table, not a
    broken file."""
    if path is None:
        yield None
        return
    import pyarrow as pa
    import pyarrow.parquet as pq


    with atomic_path(path) as tmp:
        writer = None

        def write(frame) -> None:
            nonlocal writer
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(str(tmp), table.schema)
            writer.write_table(table.cast(writer.schema))

        try:
            yield write
        finally:
            if writer is not None:
                writer.close()
        if writer is None:
            empty_rows().to_parquet(tmp, index=False)


def _print_table(result) -> None:
    t = result.totals
    typer.echo(f"{t['requests']:,} requests: {t['kwh']:,.3f} kWh ({t['kwh_low']:,.3f}-{t['kwh_high']:,.3f}); "
               f"{t['kgco2e']:,.3f} kgCO2e ({t['kgco2e_low']:,.3f}-{t['kgco2e_high']:,.3f}), annual location-based "
               "grid factors")
    with pd.option_context("display.max_rows", 200, "display.width", 200, "display.float_format", "{:,.3f}".format):
        for title, df in (("By model", result.by_model_frame()),
                          ("By stage", result.by("stage")), ("By region", result.by("region")),
                          ("By month", result.by("month"))):
            typer.echo(f"\n{title}")
            typer.echo(df.to_string(index=False) if len(df) else "  (no requests)")
    h = result.hourly
    if h["kgco2e"] is not None:
        typer.echo(f"\nHour-aware (sensitivity, not in the total): {h['requests']:,} requests in "
                   f"{', '.join(h['countries'])}: {h['kgco2e']:,.3f} kgCO2e with month x hour intensities vs "
                   f"{h['kgco2e_annual_same_requests']:,.3f} with annual factors.")
