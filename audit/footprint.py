"""The audit's own footprint, measured with codecarbon's offline tracker (no network)."""
from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from importlib import metadata


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
    tracker = None
    try:
        from codecarbon import OfflineEmissionsTracker

        tracker = OfflineEmissionsTracker(country_iso_code=country_iso_code, output_methods=[],
                                          log_level="error", measure_power_secs=5, tracking_mode="process")
        tracker.start()
    except Exception as exc:  # noqa: BLE001 - measurement is best effort, never fatal
        record["error"] = f"tracker unavailable: {exc}"
        tracker = None
    try:
        yield record
    finally:
        record["duration_s"] = time.perf_counter() - t0
        if tracker is not None:
            try:
                kg = tracker.stop()
                data = tracker.final_emissions_data
                record.update({"kgco2e": float(kg or 0.0), "energy_kwh": float(data.energy_consumed),
                               "cpu_model": data.cpu_model, "intensity_basis": "codecarbon country table"})
            except Exception as exc:  # noqa: BLE001
                record["error"] = f"tracker failed: {exc}"
