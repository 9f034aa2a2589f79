"""The engagement commands, one per pipeline step.

    audit new NAME                      scaffold an engagement folder
    audit validate ENGAGEMENT_DIR       discovery only: check the inputs
    audit estimate ACTIVITIES.csv       scope mapping and estimates, no notebooks
    audit run ENGAGEMENT_DIR --out OUT  the full audit: notebooks and reports
    audit batch DIR... --out ROOT       many engagements, isolated, in parallel

User mistakes print a located message and exit with status 2 (no traceback; --debug
shows one). Other failures exit with status 1.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import pandas as pd
import typer

from audit.cli.common import (
    DaskMode, DebugOpt, Format, MaxCellCharsOpt, MaxInputMbOpt, MaxXlsxMbOpt, MaxXlsxRowsOpt, app, apply_input_caps,
    apply_xlsx_caps, dask_target, guard,
)
from audit.core.exceptions import InputError

# The toolkit's modules load inside each command (ruff PLC0415 noqa "CLI: only this command"),
# so that `audit estimate-usage` and `audit --help` do not import the whole package.


@app.command()
@guard
def run(
    engagement_dir: Annotated[Path, typer.Argument(help="Folder with engagement.yaml and activities.csv (or intake.xlsx).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder; replaced atomically on success.")],
    kernel: Annotated[str, typer.Option(help="Jupyter kernel for the notebooks.")] = "python3",
    cell_timeout: Annotated[int, typer.Option(help="Seconds before a notebook cell is stopped.")] = 600,
    start_timeout: Annotated[int, typer.Option(help="Seconds to wait for the kernel to start.")] = 120,
    pdf: Annotated[bool, typer.Option("--pdf/--no-pdf", help="Also print report.pdf with headless Chromium.")] = True,
    max_input_mb: MaxInputMbOpt = None,
    max_cell_chars: MaxCellCharsOpt = None,
    max_xlsx_rows: MaxXlsxRowsOpt = None,
    max_xlsx_mb: MaxXlsxMbOpt = None,
    fast: Annotated[bool, typer.Option("--fast", help="Skip the notebooks and their pages: the same report.xlsx, "
                                                       "report.html/.pdf and results.json (byte-identical), sooner.")] = False,
    debug: DebugOpt = False,
):
    """Run the full audit of one engagement: notebooks, report.xlsx, report.html/.pdf, results.json.

    Example:  audit run data/sample_engagement --out reports/sample

    Example:  audit run data/sample_engagement --out reports/sample --fast   (no notebooks)
    """
    apply_input_caps(max_input_mb, max_cell_chars)
    apply_xlsx_caps(max_rows=max_xlsx_rows, max_uncompressed_bytes=max_xlsx_mb)
    from audit.orchestration.processes import skip_slow_optional_imports  # noqa: PLC0415 - CLI: only this command
    from audit.orchestration.runner import run_engagement  # noqa: PLC0415 - CLI: only this command
    skip_slow_optional_imports()
    summary = run_engagement(engagement_dir, out, kernel_name=kernel, cell_timeout=cell_timeout,
                             start_timeout=start_timeout, pdf=pdf, progress=sys.stderr.isatty(), notebooks=not fast)
    t = summary["totals"]
    typer.echo(f"Audit written to {summary['out_dir']}")
    typer.echo(f"  total {t['kgco2e'] / 1000:,.2f} tCO2e (range {t['kgco2e_low'] / 1000:,.2f}-"
               f"{t['kgco2e_high'] / 1000:,.2f}); scope 2 market-based {t['scope2_market_kgco2e'] / 1000:,.2f} t")
    for name in ("report.html", "report.pdf", "report.xlsx", "results.json", "manifest.if.yaml", "notebooks/"):
        p = Path(summary["out_dir"]) / name
        if p.exists():
            typer.echo(f"  {p}")
    for note in summary["notes"]:
        typer.echo(f"  note: {note}", err=True)


@app.command()
@guard
def batch(
    engagement_dirs: Annotated[list[Path], typer.Argument(help="Engagement folders (e.g. clients/*).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Root folder: one sub-folder per engagement.")],
    jobs: Annotated[Optional[int], typer.Option("--jobs", "-j", min=1, help="Engagements run at once (one process each); default 1, or every Dask worker thread.")] = None,
    resume: Annotated[bool, typer.Option(help="Rerun only failed and missing engagements.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds before a hung engagement is killed.")] = 1800,
    scheduler: Annotated[Optional[str], typer.Option(help="Run engagements as tasks on a Dask cluster at this address "
                                                          "(tcp://HOST:8786, the scheduler's port, not the dashboard's). "
                                                          "Workers need this toolkit and the same paths to the folders.")] = None,
    dask: Annotated[Optional[DaskMode], typer.Option("--dask", help="'local': a 2-worker Dask cluster on this machine.")] = None,
    pdf: Annotated[bool, typer.Option("--pdf/--no-pdf", help="Also print report.pdf with headless Chromium.")] = True,
    max_input_mb: MaxInputMbOpt = None,
    max_cell_chars: MaxCellCharsOpt = None,
    max_xlsx_rows: MaxXlsxRowsOpt = None,
    max_xlsx_mb: MaxXlsxMbOpt = None,
    debug: DebugOpt = False,
):
    """Audit many engagements into ROOT/<folder name>/; exits 1 if any failed.

    Each engagement runs in its own process; one failure never stops the others.
    ROOT/batch_summary.csv has one row per engagement: engagement, status (ok or failed),
    seconds, error. --resume reruns only the failed and missing ones.

    Example:  audit batch clients/* --out reports/2025Q4 --jobs 2

    Example:  audit batch clients/* --out reports/2025Q4 --scheduler tcp://10.0.0.5:8786
    """
    apply_input_caps(max_input_mb, max_cell_chars)
    apply_xlsx_caps(max_rows=max_xlsx_rows, max_uncompressed_bytes=max_xlsx_mb)
    from audit.orchestration.batch import SUMMARY_FILE, run_batch  # noqa: PLC0415 - CLI: only this command
    from audit.orchestration.distributed import run_batch_dask  # noqa: PLC0415 - CLI: only this command
    target = dask_target(scheduler, dask)
    extra = [] if pdf else ["--no-pdf"]
    if target:
        outcomes = run_batch_dask(engagement_dirs, out, scheduler=target, jobs=jobs, resume=resume,
                                  timeout_s=timeout, extra_args=extra)
    else:
        outcomes = run_batch(engagement_dirs, out, jobs=jobs or 1, resume=resume, timeout_s=timeout, extra_args=extra)
    failed = [o for o in outcomes if o.status != "ok"]
    typer.echo(f"{len(outcomes) - len(failed)} of {len(outcomes)} engagements audited; summary: "
               f"{Path(out).resolve() / SUMMARY_FILE}")
    for o in failed:
        typer.echo(f"  FAILED {o.engagement}: {o.error}", err=True)
    if failed:
        raise typer.Exit(1)


@app.command()
@guard
def estimate(
    activities: Annotated[Path, typer.Argument(help="activities.csv to estimate, or an engagement folder "
                                                     "(its engagement.yaml, activities and usage logs).")],
    engagement: Annotated[Optional[Path], typer.Option(help="engagement.yaml for settings (default: GBR, no market instruments).")] = None,
    format: Annotated[Format, typer.Option("--format", "-f", help="json (results.json shape) or table.")] = Format.table,
    max_input_mb: MaxInputMbOpt = None,
    max_cell_chars: MaxCellCharsOpt = None,
    max_xlsx_rows: MaxXlsxRowsOpt = None,
    max_xlsx_mb: MaxXlsxMbOpt = None,
    debug: DebugOpt = False,
):
    """Estimate emissions for an activity table without notebooks or reports.

    Example:  audit estimate activities.csv --engagement engagement.yaml --format json

    Or give an engagement folder (its usage logs included):  audit estimate data/sample_engagement
    """
    apply_input_caps(max_input_mb, max_cell_chars)
    apply_xlsx_caps(max_rows=max_xlsx_rows, max_uncompressed_bytes=max_xlsx_mb)
    from audit.inventory.estimate import estimate as run_estimate  # noqa: PLC0415 - CLI: only this command
    from audit.inventory.intake import load_activities_file, load_engagement, read_engagement_yaml  # noqa: PLC0415 - CLI: only this command
    from audit.inventory.results import from_estimate  # noqa: PLC0415 - CLI: only this command
    if activities.is_dir():
        if engagement is not None:
            raise InputError("give an engagement folder, or an activities file with --engagement, not both")
        loaded = load_engagement(activities)
    elif activities.suffix.lower() in (".xlsx", ".xlsm", ".xls"):
        folder = activities.parent
        raise InputError(f"{activities}: an Excel intake is read as part of its engagement folder; run "
                         f"'audit estimate {folder}' (or 'audit validate {folder}' to check it first)")
    else:
        eng = read_engagement_yaml(engagement) if engagement else None
        loaded = load_activities_file(activities, eng)
    results = from_estimate(run_estimate(loaded), loaded.warnings)
    for w in loaded.warnings:
        typer.echo(f"warning: {w}", err=True)
    if format is Format.json:
        typer.echo(json.dumps(results.to_json_dict(include_feasibility=False), indent=2, allow_nan=False))
        return

    cols = ["activity_id", "kind", "scope", "scope3_category", "kwh", "kgco2e", "kgco2e_low", "kgco2e_high"]
    with pd.option_context("display.max_rows", None, "display.width", 200, "display.float_format", "{:,.3f}".format):
        typer.echo(results.lines[cols].to_string(index=False))
    t = results.totals
    typer.echo(f"\nTotal {t['kgco2e']:,.1f} kgCO2e ({t['kgco2e_low']:,.1f}-{t['kgco2e_high']:,.1f}); "
               f"scope 1 {t['scope1_kgco2e']:,.1f}, scope 2 location {t['scope2_location_kgco2e']:,.1f} / "
               f"market {t['scope2_market_kgco2e']:,.1f}, scope 3 {t['scope3_kgco2e']:,.1f}")


@app.command()
@guard
def validate(
    engagement_dir: Annotated[Path, typer.Argument(help="Engagement folder to check.")],
    max_input_mb: MaxInputMbOpt = None,
    max_cell_chars: MaxCellCharsOpt = None,
    max_xlsx_rows: MaxXlsxRowsOpt = None,
    max_xlsx_mb: MaxXlsxMbOpt = None,
    debug: DebugOpt = False,
):
    """Check an engagement's inputs and list every problem at once (discovery step).

    Example:  audit validate clients/acme
    """
    apply_input_caps(max_input_mb, max_cell_chars)
    apply_xlsx_caps(max_rows=max_xlsx_rows, max_uncompressed_bytes=max_xlsx_mb)
    from audit.analyses.disclosures import measured_scope3_categories, screening_warnings  # noqa: PLC0415 - CLI: only this command
    from audit.inventory.intake import load_engagement  # noqa: PLC0415 - CLI: only this command
    loaded = load_engagement(engagement_dir)
    kinds = loaded.activities["kind"].value_counts()
    typer.echo(f"{engagement_dir}: {len(loaded.activities)} activities OK "
               f"({', '.join(f'{k} {v}' for k, v in kinds.items())})")
    for w in loaded.warnings:
        typer.echo(f"warning: {w}", err=True)
    for w in screening_warnings(loaded.engagement.scope3_screened_out, measured_scope3_categories(loaded)):
        typer.echo(f"warning: {w}", err=True)


@app.command()
@guard
def new(
    name: Annotated[str, typer.Argument(help="Client or engagement name; the folder name is a safe slug of it.")],
    parent: Annotated[Path, typer.Option("--dir", help="Where to create the folder.")] = Path("."),
    debug: DebugOpt = False,
):
    """Scaffold an engagement folder with engagement.yaml and a starter activities.csv.

    Example:  audit new "Acme Studios" --dir clients
    """
    from audit.orchestration.scaffold import scaffold_engagement  # noqa: PLC0415 - CLI: only this command
    folder = scaffold_engagement(name, parent)
    typer.echo(f"Created {folder}")
    for p in sorted(folder.iterdir()):
        typer.echo(f"  {p.name}")
    typer.echo(f"Next: fill in {folder / 'activities.csv'}, then: audit validate {folder}")
