"""Measured factors as reference data: the ``measured_factors.csv`` format of an engagement
folder, its factor ids (``measured:<id>``) and the register row each record becomes.

``audit measure`` (audit.orchestration.measure) writes the file; the intake and the
estimator read it through this module.
"""
from __future__ import annotations

import csv
import json
import math
import re
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
