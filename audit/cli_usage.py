"""`audit estimate-usage`: estimate an API usage log (millions of requests), optionally on Dask."""
from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from audit.cli import DebugOpt, Format, _guard, app
from audit.exceptions import InputError


class DaskMode(str, Enum):
    local = "local"


@app.command("estimate-usage")
@_guard
def estimate_usage_cmd(
    log: Annotated[list[str], typer.Argument(help="Usage log: CSV or Parquet files, folders of Parquet files, or "
                                                  "quoted globs ('usage/*.parquet'). Columns: timestamp, provider, "
                                                  "model, output_tokens [, input_tokens, latency_s, stage, region].")],
    scheduler: Annotated[Optional[str], typer.Option(help="Dask scheduler address, e.g. tcp://10.0.0.5:8786 "
                                                          "(Parquet input; workers need this toolkit and the files).")] = None,
    dask: Annotated[Optional[DaskMode], typer.Option("--dask", help="'local': a 2-worker Dask cluster on this machine.")] = None,
    chunk_rows: Annotated[int, typer.Option(min=1, help="Requests held in memory at once.")] = 1_000_000,
    default_region: Annotated[str, typer.Option(help="Region of requests with neither a region nor a provider default.")] = "GBR",
    activities: Annotated[Optional[Path], typer.Option(help="Also write an llm_api activities CSV (stage x model x month) "
                                                            "for an engagement.")] = None,
    per_request: Annotated[Optional[Path], typer.Option(help="Also write per-request figures to this Parquet file "
                                                             "(single machine only).")] = None,
    format: Annotated[Format, typer.Option("--format", "-f", help="json or table.")] = Format.table,
    debug: DebugOpt = False,
):
    """Estimate energy and emissions of an LLM API usage log, request by request, streamed.

    Example:  audit estimate-usage usage/2025/ --dask local --format json
    """
    from audit.usage import estimate_usage

    if scheduler and dask:
        raise InputError("give either --scheduler or --dask local, not both")
    target = scheduler or (dask.value if dask else None)
    writer = _ParquetSink(per_request) if per_request else None
    try:
        result = estimate_usage(log if len(log) > 1 else log[0], chunk_rows=chunk_rows, scheduler=target, progress=sys.stderr.isatty(),
                                default_region=default_region, on_chunk=writer.write if writer else None)
    finally:
        if writer:
            writer.close()
    if activities:
        activities.parent.mkdir(parents=True, exist_ok=True)
        result.to_activities().to_csv(activities, index=False)
    if format is Format.json:
        typer.echo(json.dumps(result.to_json_dict(), indent=2, allow_nan=False))
    else:
        _print_table(result)
    if activities:
        typer.echo(f"activities written to {activities}", err=True)
    if per_request:
        typer.echo(f"per-request figures written to {per_request}", err=True)


class _ParquetSink:
    """Per-request frames appended to one Parquet file as they are computed."""

    def __init__(self, path: Path):
        self.path = path
        self.writer = None

    def write(self, frame) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(frame, preserve_index=False)
        if self.writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.writer = pq.ParquetWriter(str(self.path), table.schema)
        self.writer.write_table(table.cast(self.writer.schema))

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _print_table(result) -> None:
    import pandas as pd

    t = result.totals
    typer.echo(f"{t['requests']:,} requests: {t['kwh']:,.3f} kWh ({t['kwh_low']:,.3f}-{t['kwh_high']:,.3f}); "
               f"{t['kgco2e']:,.3f} kgCO2e ({t['kgco2e_low']:,.3f}-{t['kgco2e_high']:,.3f}), annual location-based "
               "grid factors")
    with pd.option_context("display.max_rows", 200, "display.width", 200, "display.float_format", "{:,.3f}".format):
        for title, df in (("By model", pd.DataFrame(result.by_model)),
                          ("By stage", result.by("stage")), ("By month", result.by("month"))):
            typer.echo(f"\n{title}")
            typer.echo(df.to_string(index=False))
    h = result.hourly
    if h["kgco2e"] is not None:
        typer.echo(f"\nHour-aware (sensitivity, not in the total): {h['requests']:,} requests in "
                   f"{', '.join(h['countries'])}: {h['kgco2e']:,.3f} kgCO2e with month x hour intensities vs "
                   f"{h['kgco2e_annual_same_requests']:,.3f} with annual factors.")
