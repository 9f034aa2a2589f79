"""The audit's own footprint, measured with codecarbon's offline tracker (no network)."""
from __future__ import annotations

import logging
import os
import time
from contextlib import contextmanager
from importlib import metadata

#: Set by a local batch for its children: the CPU model, probed once (see ``known_cpu_model``).
CPU_MODEL_ENV = "GENAI_AUDIT_CPU_MODEL"


def tracker(country_iso_code: str = "GBR", tracking_mode: str = "process", measure_power_secs: float = 5):
    """A quiet ``OfflineEmissionsTracker`` (no files, no network) for this process and its
    children. Shared by the audit's own footprint and ``audit measure``."""
    from codecarbon import OfflineEmissionsTracker

    logging.getLogger("codecarbon").setLevel(logging.ERROR)
    return OfflineEmissionsTracker(country_iso_code=country_iso_code, output_methods=[],
                                   log_level="error", measure_power_secs=measure_power_secs,
                                   tracking_mode=tracking_mode)


def cpu_model() -> str:
    """The CPU model as codecarbon identifies it (via py-cpuinfo, which probes the machine in
    a subprocess: about 1 s of CPU each time a process asks)."""
    from codecarbon.core.util import detect_cpu_model

    return detect_cpu_model() or ""


@contextmanager
def known_cpu_model():
    """While starting a tracker, answer codecarbon's CPU question from ``GENAI_AUDIT_CPU_MODEL``
    when a batch parent has already probed this machine, instead of probing again in every
    child. codecarbon reads only ``brand_raw`` from py-cpuinfo, so that is all we hand it;
    the TDP lookup and everything after it are codecarbon's own."""
    model = os.environ.get(CPU_MODEL_ENV, "").strip()
    if not model:
        yield
        return
    import cpuinfo

    original = cpuinfo.get_cpu_info
    cpuinfo.get_cpu_info = lambda: {"brand_raw": model}
    try:
        yield
    finally:
        cpuinfo.get_cpu_info = original


@contextmanager
def measured(country_iso_code: str = "GBR"):
    """Measure the enclosed work; yields a dict filled in when the block exits.

    ``OfflineEmissionsTracker`` reads codecarbon's shipped grid table and never calls out.
    Falls back to a timed-only record if the tracker cannot start (e.g. no RAPL access is
    fine; an unknown country code is not), so measuring never breaks an audit.
    """
    record: dict = {"method": "codecarbon OfflineEmissionsTracker", "country": country_iso_code,
                    "codecarbon_version": metadata.version("codecarbon")}
    logging.getLogger("codecarbon").setLevel(logging.ERROR)
    t0 = time.perf_counter()
    tracker_ = None
    try:
        tracker_ = tracker(country_iso_code)
        with known_cpu_model():
            tracker_.start()
    except Exception as exc:  # noqa: BLE001 - measurement is best effort, never fatal
        record["error"] = f"tracker unavailable: {exc}"
        tracker_ = None
    try:
        yield record
    finally:
        record["duration_s"] = time.perf_counter() - t0
        if tracker_ is not None:
            try:
                kg = tracker_.stop()
                data = tracker_.final_emissions_data
                record.update({"kgco2e": float(kg or 0.0), "energy_kwh": float(data.energy_consumed),
                               "cpu_energy_kwh": float(data.cpu_energy), "ram_energy_kwh": float(data.ram_energy),
                               "cpu_model": data.cpu_model, "tracking_mode": data.tracking_mode,
                               "intensity_basis": f"codecarbon's offline country table ({country_iso_code})"})
            except Exception as exc:  # noqa: BLE001
                record["error"] = f"tracker failed: {exc}"
