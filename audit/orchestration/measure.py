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

The file format and the register row live in audit.reference.measured (the intake and the
estimator read them there); this module runs the measurement.
"""
from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import pint

from audit.core.units import conversion_factor
from audit.orchestration.footprint import tracker
from audit.reference.measured import MEASURABLE_KINDS
from audit.reference.scopes import kinds_table

# --- units -----------------------------------------------------------------------------------

def kind_for_unit(unit: str) -> tuple[str, str, float]:
    """(kind, base unit, multiplier to the base unit) for a measured unit such as ``images``,
    ``requests``, ``1000 requests``, ``video_second``, ``gpu_hour``. Raises ValueError."""

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
    cpu = next((h for h in getattr(t, "_hardware", []) if type(h).__name__ == "CPU"), None)
    return Measurement(returncode=returncode, kwh=float(data.energy_consumed), duration_s=duration,
                       codecarbon_version=metadata.version("codecarbon"), country=country,
                       cpu_mode=repr(cpu) if cpu is not None else "")


def display_command(command: list[str], engagement_dir: str | Path) -> str:
    """The command as recorded in the factor's source: the program by name only, paths
    inside the engagement folder made relative, the home directory as '~' (client reports
    must not show paths on the consultant's machine)."""
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
