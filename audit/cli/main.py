"""Command line, the engagement commands (one per pipeline step) and the tools.

    audit new NAME                      scaffold an engagement folder
    audit validate ENGAGEMENT_DIR       discovery only: check the inputs
    audit estimate ACTIVITIES.csv       scope mapping and estimates, no notebooks
    audit run ENGAGEMENT_DIR --out OUT  the full audit: notebooks and reports
    audit batch DIR... --out ROOT       many engagements, isolated, in parallel

User mistakes print a located message and exit with status 2 (no traceback; --debug
shows one). Other failures exit with status 1.
"""
from __future__ import annotations

import csv as _csv
import io as _io
import json
import math as _math
import sys
from pathlib import Path
from typing import Annotated, Optional

import pandas as pd
import typer

from audit.cli.common import (
    DaskMode, DebugOpt, Format, MaxCellCharsOpt, MaxInputMbOpt, app, apply_input_caps, dask_target, guard,
)
from audit.core.exceptions import InputError
from audit.core.paths import ACTIVITIES_FILE, ENGAGEMENT_FILE

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
    fast: Annotated[bool, typer.Option("--fast", help="Skip the notebooks and their pages: the same report.xlsx, "
                                                       "report.html/.pdf and results.json (byte-identical), sooner.")] = False,
    debug: DebugOpt = False,
):
    """Run the full audit of one engagement: notebooks, report.xlsx, report.html/.pdf, results.json.

    Example:  audit run data/sample_engagement --out reports/sample

    Example:  audit run data/sample_engagement --out reports/sample --fast   (no notebooks)
    """
    apply_input_caps(max_input_mb, max_cell_chars)
    from audit.orchestration.runner import run_engagement, skip_slow_optional_imports  # noqa: PLC0415 - CLI: only this command
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
    debug: DebugOpt = False,
):
    """Estimate emissions for an activity table without notebooks or reports.

    Example:  audit estimate activities.csv --engagement engagement.yaml --format json

    Or give an engagement folder (its usage logs included):  audit estimate data/sample_engagement
    """
    apply_input_caps(max_input_mb, max_cell_chars)
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
    debug: DebugOpt = False,
):
    """Check an engagement's inputs and list every problem at once (discovery step).

    Example:  audit validate clients/acme
    """
    apply_input_caps(max_input_mb, max_cell_chars)
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


@app.command()
@guard
def shift(
    profile: Annotated[list[str], typer.Option("--profile", "-p", help="Hourly CSV (timestamp,g_co2e_per_kwh; Electricity Maps or NESO exports also read) or a shipped country profile: GBR, FRA, DEU. Repeat to compare regions.")],
    duration_hours: Annotated[float, typer.Option(help="How long the job runs.")],
    earliest: Annotated[str, typer.Option(help="Earliest start, ISO 8601 (UTC if no offset).")],
    deadline: Annotated[str, typer.Option(help="Latest end, ISO 8601; the job may end exactly then.")],
    power_kw: Annotated[float, typer.Option(help="Average power of the job in kW.")] = 1.0,
    format: Annotated[Format, typer.Option("--format", "-f")] = Format.table,
    debug: DebugOpt = False,
):
    """Find the start time with the lowest emissions for a flexible job (carbon-aware shifting).

    Example:  audit shift --profile GBR --duration-hours 6 --earliest 2025-03-01T18:00 --deadline 2025-03-02T12:00 --power-kw 2.4 --format json
    """
    from audit.analyses import shifting  # noqa: PLC0415 - CLI: only this command

    try:
        start, end = shifting._utc(earliest), shifting._utc(deadline)
    except (ValueError, TypeError) as exc:
        raise InputError(f"--earliest/--deadline must be ISO 8601 date-times: {exc}") from None
    results = {}
    for p in profile:
        if p.upper() in shifting.TYPICAL_COUNTRIES and not Path(p).exists():
            series = shifting.typical_profile(p, start, end + pd.Timedelta(hours=1))
        else:
            series = shifting.read_profile(p)
        results[p] = shifting.best_start(series, duration_hours, start, end, power_kw)
    best_name = min(results, key=lambda k: results[k].kgco2e_best)
    best = results[best_name]
    if format is Format.json:
        out = best.to_dict()
        if len(results) > 1:
            out["best_profile"] = best_name
            out["by_profile"] = {k: v.to_dict() for k, v in results.items()}
        typer.echo(json.dumps(out, indent=2))
        return
    for name, r in results.items():
        typer.echo(f"{name}: start {r.best_start.isoformat()} -> end {r.best_end.isoformat()}: "
                   f"{r.kgco2e_best:,.3f} kgCO2e vs {r.kgco2e_earliest:,.3f} at the earliest start "
                   f"({r.saving_fraction:.1%} saved)")
    if len(results) > 1:
        typer.echo(f"Lowest: {best_name}")
    typer.echo("Note: hourly-profile savings are reported apart from the annual inventory (annual factors).")


@app.command(context_settings={"allow_interspersed_args": False})
@guard
def measure(
    command: Annotated[list[str], typer.Argument(help="The command to measure, after `--` (run without a shell).")],
    unit: Annotated[str, typer.Option(help="What one run produces, in a unit of a measurable kind: images, requests, "
                                           "video_second, gpu_hour, vcpu_hour (any pint spelling, e.g. '1000 requests').")],
    per: Annotated[float, typer.Option(help="How many units the command produces (e.g. 50 for 50 images).")],
    engagement: Annotated[Path, typer.Option(help="Engagement folder: its default_region is the country; "
                                                  "measured_factors.csv is written there.")],
    activity_id: Annotated[Optional[str], typer.Option(help="Activity the factor is for: checks its kind and names "
                                                            "the factor after it unless --factor-id is given.")] = None,
    factor_id: Annotated[Optional[str], typer.Option(help="Id of the measured factor (activities opt in with "
                                                          "mode measured:<id>). A new measurement replaces the old.")] = None,
    notes: Annotated[str, typer.Option(help="Recorded with the factor (e.g. batch size, machine).")] = "",
    debug: DebugOpt = False,
):
    """Measure a client's in-house step with codecarbon and record kWh per unit as a factor.

    Writes ENGAGEMENT/measured_factors.csv (nothing if the command fails; exits with its status).
    An activity uses the factor when its mode is measured:<factor_id>.

    Example:  audit measure --unit images --per 50 --engagement clients/acme --activity-id PRE-09 -- python render.py
    """
    from audit.inventory.intake import read_engagement_yaml  # noqa: PLC0415 - CLI: only this command
    from audit.orchestration import measure as m  # noqa: PLC0415 - CLI: only this command
    from audit.reference import measured  # noqa: PLC0415 - CLI: only this command

    if not engagement.is_dir():
        raise InputError(f"{engagement}: engagement folder not found")
    eng = read_engagement_yaml(engagement / ENGAGEMENT_FILE)
    try:
        kind, base_unit, multiplier = m.kind_for_unit(unit)
    except ValueError as exc:
        raise InputError(f"--unit: {exc}") from None
    if not (_math.isfinite(per) and per > 0):
        raise InputError("--per must be a positive number of units")
    fid = measured.slug(factor_id or activity_id or "")
    if not fid:
        raise InputError("give --factor-id (or --activity-id) to name the measured factor")
    if activity_id:
        _check_measured_activity(engagement, activity_id, kind)
    try:
        result = m.run_measured(list(command), eng.default_region)
    except FileNotFoundError:
        typer.echo(f"error: command not found: {command[0]}; nothing written", err=True)
        raise typer.Exit(127) from None
    except PermissionError:
        typer.echo(f"error: command not executable: {command[0]}; nothing written", err=True)
        raise typer.Exit(126) from None
    if result.returncode != 0:
        status = result.returncode if result.returncode > 0 else 128 - result.returncode
        typer.echo(f"error: the command exited with status {result.returncode}; nothing written", err=True)
        raise typer.Exit(status)
    if not result.kwh > 0:
        typer.echo("error: codecarbon recorded no energy for the command; nothing written", err=True)
        raise typer.Exit(1)
    n_units = per * multiplier
    record = {
        "factor_id": fid, "kind": kind, "unit": base_unit, "kwh_per_unit": repr(result.kwh / n_units),
        "n_units": repr(n_units), "measured_kwh": repr(result.kwh), "duration_s": f"{result.duration_s:.3f}",
        "command": m.display_command(command, engagement), "measured_at": m.utc_now_iso(),
        "codecarbon_version": result.codecarbon_version, "country": result.country,
        "notes": "; ".join(x for x in (f"codecarbon process mode, {result.cpu_mode}" if result.cpu_mode else "",
                                      notes) if x),
    }
    path = measured.write_measured_factor(engagement, record)
    typer.echo(f"Measured {result.kwh:.6g} kWh in {result.duration_s:.1f} s for {n_units:g} {base_unit} "
               f"= {result.kwh / n_units:.6g} kWh per {base_unit}")
    typer.echo(f"Wrote factor '{fid}' ({kind}) to {path}")
    typer.echo(f"Use it: set mode to measured:{fid} on the {kind} activit{'y ' + activity_id if activity_id else 'ies'} "
               "it measures; results cite it as measured:" + fid)


def _check_measured_activity(engagement: Path, activity_id: str, kind: str) -> None:
    """The activity exists in the engagement's table and is of the measured kind (raw read:
    the table may already point at this factor, which does not exist yet)."""
    from audit.inventory.intake import read_activities_csv  # noqa: PLC0415 - CLI: only this command
    csv_path = engagement / ACTIVITIES_FILE
    if not csv_path.exists():
        return
    raw = read_activities_csv(csv_path).rename(columns=lambda c: str(c).strip().lower().replace(" ", "_"))
    if "activity_id" not in raw.columns:
        return
    hit = raw[raw["activity_id"].str.strip() == activity_id]
    if hit.empty:
        raise InputError(f"--activity-id: no activity '{activity_id}' in {csv_path}")
    found = str(hit["kind"].iloc[0]).strip().lower().replace(" ", "_").replace("-", "_") if "kind" in hit else kind
    if found != kind:
        raise InputError(f"--activity-id: {activity_id} is {found}, but --unit measures {kind}")


@app.command("training-estimate")
@guard
def training_estimate(
    params: Annotated[float, typer.Option(help="Model parameters N (e.g. 7e9).")],
    tokens: Annotated[float, typer.Option(help="Training tokens D (e.g. 2e12).")],
    hardware: Annotated[str, typer.Option(help="Accelerator with a peak FLOP/s factor, e.g. nvidia-h100-sxm.")],
    mfu: Annotated[Optional[float], typer.Option(help="Model-FLOPs utilisation (default: factor training:mfu-default, 0.4).")] = None,
    pue: Annotated[Optional[float], typer.Option(help="PUE (default: provider's, else the on-premise average).")] = None,
    power_w: Annotated[Optional[float], typer.Option(help="Average draw per GPU in W (default: TDP x default utilisation).")] = None,
    provider: Annotated[str, typer.Option(help="Cloud provider, if rented (sets ownership to purchased_service).")] = "",
    region: Annotated[str, typer.Option(help="Region for the activity row (blank: the engagement default).")] = "",
    activity_id: Annotated[str, typer.Option(help="activity_id of the row to paste into activities.csv.")] = "TRN-01",
    stage: Annotated[str, typer.Option(help="Stage of the row.")] = "Training",
    format: Annotated[Format, typer.Option("--format", "-f", help="json or table.")] = Format.table,
    debug: DebugOpt = False,
):
    """GPU-hours and kWh of a training or fine-tuning run from parameters x tokens (C = 6·N·D).

    Prints the gpu_compute activity row to enter the run with.

    Example:  audit training-estimate --params 7e9 --tokens 2e12 --hardware nvidia-h100-sxm --mfu 0.4 --pue 1.1
    """
    from audit.methods.training import estimate_training  # noqa: PLC0415 - CLI: only this command
    from audit.reference.vocabularies import providers  # noqa: PLC0415 - CLI: only this command

    provider = provider.strip().lower()
    if provider and provider not in providers().index:
        raise InputError(f"--provider: unknown provider '{provider}'; known: {', '.join(providers().index)}")
    est = estimate_training(params, tokens, hardware, mfu=mfu, pue=pue, power_w=power_w, activity_id=activity_id,
                            stage=stage, provider=provider, region=region)
    if format is Format.json:
        typer.echo(json.dumps(est.to_dict(), indent=2, allow_nan=False))
        return
    typer.echo(f"Compute    6·N·D = {est.flops:.4g} FLOP")
    spread = (f"; {est.gpu_hours_low:,.0f}-{est.gpu_hours_high:,.0f} over the MFU range"
              if est.gpu_hours_low != est.gpu_hours_high else "")
    typer.echo(f"GPU-hours  {est.gpu_hours:,.0f} on {est.hardware} ({est.peak_flops_per_s / 1e12:g} TFLOP/s peak, "
               f"MFU {est.mfu:g}{spread})")
    typer.echo(f"Energy     {est.kwh:,.1f} kWh ({est.gpu_power_w:g} W per GPU, PUE {est.pue:g})")
    typer.echo(f"Factors    {', '.join(est.factor_ids)}")
    buf = _io.StringIO()
    w = _csv.DictWriter(buf, fieldnames=list(est.activity), lineterminator="\n")
    w.writeheader()
    w.writerow(est.activity)
    typer.echo("\nActivity row (activities.csv columns):\n" + buf.getvalue().rstrip())


def main() -> None:  # pragma: no cover - console entry point
    app()

