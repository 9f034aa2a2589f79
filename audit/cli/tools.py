"""The tools beside the engagement pipeline.

    audit shift --profile P ...         the start time with the lowest emissions for a flexible job
    audit measure ... -- COMMAND        measure an in-house step with codecarbon: a kWh-per-unit factor
    audit training-estimate ...         GPU-hours and kWh of a training run (C = 6·N·D), as an activity row

User mistakes print a located message and exit with status 2 (no traceback; --debug
shows one). Other failures exit with status 1.
"""
from __future__ import annotations

import csv as _csv
import io as _io
import json
import math as _math
from pathlib import Path
from typing import Annotated, Optional

import pandas as pd
import typer

from audit.cli.common import DebugOpt, Format, app, guard
from audit.core.exceptions import InputError
from audit.core.paths import ACTIVITIES_FILE, ENGAGEMENT_FILE

# The toolkit's modules load inside each command (ruff PLC0415 noqa "CLI: only this command"),
# so that `audit estimate-usage` and `audit --help` do not import the whole package.


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
        start, end = shifting.as_utc(earliest), shifting.as_utc(deadline)
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
