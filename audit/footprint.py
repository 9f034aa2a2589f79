"""The audit's own footprint, measured with codecarbon's offline tracker (no network)."""
from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from importlib import metadata


def tracker(country_iso_code: str = "GBR", tracking_mode: str = "process", measure_power_secs: float = 5):
    """A quiet ``OfflineEmissionsTracker`` (no files, no network) for this process and its
    children. Shared by the audit's own footprint and ``audit measure``."""
    from codecarbon import OfflineEmissionsTracker

    logging.getLogger("codecarbon").setLevel(logging.ERROR)
    return OfflineEmissionsTracker(country_iso_code=country_iso_code, output_methods=[],
                                   log_level="error", measure_power_secs=measure_power_secs,
                                   tracking_mode=tracking_mode)


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
                               "cpu_model": data.cpu_model, "intensity_basis": "codecarbon country table"})
            except Exception as exc:  # noqa: BLE001
                record["error"] = f"tracker failed: {exc}"
