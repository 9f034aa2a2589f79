"""Measured factors: a client's in-house step run under codecarbon, as a citable factor.

``audit measure --unit images --per 50 --engagement DIR -- python render.py`` runs the
command under codecarbon's ``OfflineEmissionsTracker`` (no network; CPU power from RAPL
when readable, else from the CPU's TDP and load; RAM from codecarbon's power model; GPUs
through NVML when present) and records

    kWh per unit = measured kWh / N

in ``DIR/measured_factors.csv`` (one row per ``factor_id``; a new measurement of the same
id replaces the old one). An activity opts in with ``mode = measured:<factor_id>``; the
estimator then uses ``kWh = quantity x kWh per unit x PUE`` and cites the register factor
``measured:<factor_id>`` (data quality 1 unless the row says otherwise).

This module has no import-time dependency on the intake or the estimator: both import it.
"""
from __future__ import annotations

import csv
import json
import math
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from audit.core.atomic import atomic_path

MEASURED_FILE = "measured_factors.csv"
MEASURED_COLUMNS = ("factor_id", "kind", "unit", "kwh_per_unit", "n_units", "measured_kwh", "duration_s",
                    "command", "measured_at", "codecarbon_version", "country", "notes")
MODE_PREFIX = "measured:"
# Kinds whose energy can be replaced by a measured kWh per unit (energy-based compute kinds).
MEASURABLE_KINDS = ("llm_api", "image_generation", "video_generation", "gpu_compute", "cpu_compute")


def slug(text: str) -> str:
    """A factor id as the intake normalises it: lower case, runs of other characters -> '_'."""
    return re.sub(r"[^a-z0-9_]+", "_", str(text).strip().lower()).strip("_")


def measured_factor_id(mode: str) -> str | None:
    """``measured:<id>`` -> ``<id>`` (normalised); any other mode -> None."""
    mode = str(mode or "").strip()
    if not mode.lower().startswith(MODE_PREFIX):
        return None
    return slug(mode[len(MODE_PREFIX):])


# --- the file --------------------------------------------------------------------------------

def read_measured_factors(folder: str | Path) -> pd.DataFrame:
    """``folder/measured_factors.csv`` as a frame indexed by factor_id (empty if absent).

    Raises ValueError naming the problem when the file is malformed.
    """
    path = Path(folder) / MEASURED_FILE
    if not path.exists():
        return pd.DataFrame(columns=MEASURED_COLUMNS).set_index("factor_id", drop=False)
    df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    missing = [c for c in MEASURED_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing columns {', '.join(missing)}")
    df["factor_id"] = df["factor_id"].map(slug)
    if df["factor_id"].duplicated().any():
        raise ValueError(f"{path}: factor_id appears more than once: {sorted(set(df['factor_id'][df['factor_id'].duplicated()]))}")
    for c in ("kwh_per_unit", "n_units", "measured_kwh", "duration_s"):
        num = pd.to_numeric(df[c], errors="coerce")
        bad = num.isna() | ~num.map(lambda v: math.isfinite(v) if v == v else False) | (num < 0)
        if bad.any():
            raise ValueError(f"{path}: column {c} must be a non-negative number (factor {df['factor_id'][bad].iloc[0]!r})")
        df[c] = num.astype(float)
    return df.set_index("factor_id", drop=False)


def write_measured_factor(folder: str | Path, record: dict) -> Path:
    """Append ``record`` to ``folder/measured_factors.csv`` or replace the row with its factor_id.

    Written to a temporary file and moved into place, so a crash never leaves half a file.
    """
    folder = Path(folder)
    path = folder / MEASURED_FILE
    rows: list[dict] = []
    if path.exists():
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = [r for r in csv.DictReader(f) if slug(r.get("factor_id", "")) != record["factor_id"]]
    rows.append({c: record.get(c, "") for c in MEASURED_COLUMNS})
    with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=MEASURED_COLUMNS, lineterminator="\n", extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return path


def register_row(record: dict) -> dict:
    """The factor-register row (``measured:<factor_id>``) for one measured_factors.csv record."""
    fid = slug(record["factor_id"])
    unit = record["unit"]
    when = str(record.get("measured_at", ""))
    day = when[:10] or "unknown date"
    m = re.match(r"(\d{4})", when)
    n_units = float(record["n_units"])
    return {
        "factor_id": f"measured:{fid}", "name": f"Measured energy per {unit}: {fid}",
        "value": float(record["kwh_per_unit"]), "unit": f"kWh/{unit}", "kind": record.get("kind", ""),
        "mode": "", "region": "", "part": "measured", "per_unit": unit,
        "source": (f"Measured with codecarbon {record.get('codecarbon_version', '?')} OfflineEmissionsTracker on "
                   f"{day}: {float(record['measured_kwh']):.6g} kWh for {n_units:g} {unit} in "
                   f"{float(record['duration_s']):.1f} s; command: {record.get('command', '')}"),
        "source_ref": f"{MEASURED_FILE}, factor_id {fid}",
        "year": int(m.group(1)) if m else pd.NA,
        "licence": "Client data (confidential)",
        "notes": "; ".join(x for x in (f"IT energy at the machine (CPU, RAM, GPU); country {record.get('country', '')}",
                                      str(record.get("notes", "") or "")) if x),
    }


def record_json(record) -> str:
    """A measured record as the JSON string the validated activity table carries
    (column ``measured_factor``), so an estimate needs no access to the folder."""
    d = {c: (record[c] if c in record else "") for c in MEASURED_COLUMNS}
    for c in ("kwh_per_unit", "n_units", "measured_kwh", "duration_s"):
        d[c] = float(d[c])
    return json.dumps(d, sort_keys=True)


# --- units -----------------------------------------------------------------------------------

def kind_for_unit(unit: str) -> tuple[str, str, float]:
    """(kind, base unit, multiplier to the base unit) for a measured unit such as ``images``,
    ``requests``, ``1000 requests``, ``video_second``, ``gpu_hour``. Raises ValueError."""
    import pint

    from audit.reference.scopes import kinds_table
    from audit.core.units import conversion_factor

    kt = kinds_table()
    hits = []
    for kind in MEASURABLE_KINDS:
        base = kt.loc[kind, "base_unit"]
        try:
            hits.append((kind, base, conversion_factor(unit, base)))
        except (pint.DimensionalityError, pint.UndefinedUnitError):
            continue
        except Exception as exc:  # noqa: BLE001 - pint raises many parse errors
            raise ValueError(f"unknown unit {unit!r}: {exc}") from None
    if len(hits) != 1:
        bases = ", ".join(f"{kt.loc[k, 'base_unit']} ({k})" for k in MEASURABLE_KINDS)
        raise ValueError(f"unit {unit!r} is not a unit of a measurable kind; use one of: {bases}")
    return hits[0]


# --- running a command under codecarbon -------------------------------------------------------

@dataclass
class Measurement:
    returncode: int
    kwh: float
    duration_s: float
    codecarbon_version: str
    country: str
    cpu_mode: str = ""  # how codecarbon got CPU power (RAPL, or TDP x load)
    error: str = ""


def run_measured(command: list[str], country: str, measure_power_secs: float = 1.0,
                 cwd: str | Path | None = None) -> Measurement:
    """Run ``command`` (no shell) under ``OfflineEmissionsTracker`` in process mode.

    codecarbon's process mode adds up the CPU time of this process and its children
    between samples, and counts a child only from the first sample that sees it. So we
    take a sample right after the child starts, and keep the finished child unreaped
    (``waitid(WNOWAIT)``, a zombie that still reports its CPU time) until the tracker's
    final sample; only then is it reaped. Grandchildren started later lose at most one
    sampling interval (``measure_power_secs``) of CPU time each.
    """
    from audit.orchestration.footprint import tracker

    t = tracker(country, tracking_mode="process", measure_power_secs=measure_power_secs)
    t.start()
    try:
        proc = subprocess.Popen(command, cwd=cwd)
    except BaseException:
        t.stop()
        raise
    t0 = time.perf_counter()
    try:
        time.sleep(0.06)  # > codecarbon's 50 ms staleness threshold, so flush() samples
        t.flush()
        if hasattr(os, "waitid") and sys.platform.startswith("linux"):
            while True:
                try:
                    os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
                    break
                except InterruptedError:
                    continue
        else:  # pragma: no cover - non-Linux: the last interval of the child may be missed
            proc.wait()
        duration = time.perf_counter() - t0  # the command's wall time, without the tracker's
    except BaseException:
        proc.kill()
        proc.wait()
        t.stop()
        raise
    t.stop()
    returncode = proc.wait()
    data = t.final_emissions_data
    from importlib import metadata
    cpu = next((h for h in getattr(t, "_hardware", []) if type(h).__name__ == "CPU"), None)
    return Measurement(returncode=returncode, kwh=float(data.energy_consumed), duration_s=duration,
                       codecarbon_version=metadata.version("codecarbon"), country=country,
                       cpu_mode=repr(cpu) if cpu is not None else "")


def display_command(command: list[str], engagement_dir: str | Path) -> str:
    """The command as recorded in the factor's source: the program by name only, paths
    inside the engagement folder made relative, the home directory as '~' (client reports
    must not show paths on the consultant's machine)."""
    import shlex

    root = str(Path(engagement_dir).resolve())
    home = str(Path.home())
    out = []
    for i, arg in enumerate(command):
        a = str(arg)
        if i == 0:
            a = Path(a).name or a
        else:
            if root and root in a:
                a = a.replace(root + os.sep, "").replace(root, ".")
            if home and len(home) > 1 and home in a:
                a = a.replace(home, "~")
        out.append(a)
    return shlex.join(out)


def utc_now_iso() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
