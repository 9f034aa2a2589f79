"""The audit's own footprint, measured with codecarbon's offline tracker (no network)."""
from __future__ import annotations

import json
import logging
import os
import platform
import time
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

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


#: Where the probed CPU model is kept between runs (one small JSON file per user).
CPU_CACHE_ENV = "GENAI_AUDIT_CACHE_DIR"
CPU_CACHE_FILE = "cpu_model.json"


def cache_dir() -> Path:
    """``$GENAI_AUDIT_CACHE_DIR``, else ``$XDG_CACHE_HOME/genai-content-audit`` (~/.cache/…)."""
    if os.environ.get(CPU_CACHE_ENV):
        return Path(os.environ[CPU_CACHE_ENV])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "genai-content-audit"


def machine_key() -> str:
    """What identifies this machine's CPU cheaply: host name, architecture, CPU count and the
    kernel's own CPU model lines (Linux), so that a cached probe is never used on other hardware."""
    models = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            models = "|".join(sorted({ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")}))
    except OSError:
        pass
    return f"{platform.node()}|{platform.machine()}|{os.cpu_count()}|{models}"


def cached_cpu_model() -> str:
    """``cpu_model()`` probed once per machine and kept in ``cache_dir()/cpu_model.json`` (the
    probe costs ~1 s of CPU in a subprocess, on every run). Best effort: "" if it cannot probe."""
    path, key = cache_dir() / CPU_CACHE_FILE, machine_key()
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
        if cached.get("machine") == key and cached.get("cpu_model"):
            return str(cached["cpu_model"])
    except (OSError, ValueError, AttributeError):
        pass
    try:
        model = cpu_model()
    except Exception:  # noqa: BLE001 - codecarbon then probes for itself
        return ""
    if model:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}")
            tmp.write_text(json.dumps({"machine": key, "cpu_model": model}), encoding="utf-8")
            os.replace(tmp, path)
        except OSError:  # a read-only home: probe again next time
            pass
    return model


@contextmanager
def known_cpu_model():
    """While starting a tracker, answer codecarbon's CPU question from ``GENAI_AUDIT_CPU_MODEL``
    (a batch parent has already probed this machine) or from the per-machine cache
    (``cached_cpu_model``), instead of probing again in every run. codecarbon reads only
    ``brand_raw`` from py-cpuinfo, so that is all we hand it; the TDP lookup and everything
    after it are codecarbon's own."""
    model = os.environ.get(CPU_MODEL_ENV, "").strip() or cached_cpu_model()
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
