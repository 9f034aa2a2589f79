"""Issue 17 cliff: `estimate()` on 100k activities (the issue measured 71-113 s and 1.8 GB).

    python benchmarks/bench_estimate_100k.py                    # 10k and 100k, plus the per-row estimator on 10k
    python benchmarks/bench_estimate_100k.py --rows 10000 100000 --baseline-rows 10000 --baseline-ref 66c4079

The engagement: the sample's activities (every kind: llm_api incl. the self-hosted fleet row,
image and video generation, gpu/cpu compute, electricity, storage, data transfer, DESNZ
travel/fuel/accommodation/freight) plus rows that reach the other branches of the estimator
(measured ``measured:<id>`` rows, supplier factors, client-supplied power, utilisation, PUE,
latency and grid intensity, a bare parameter count, an ``ecologits`` mode row), loaded once with
``load_engagement`` and tiled with unique ids. The sample's usage logs are left out (they have
their own benchmarks).

Baseline, in the same process: the estimator of ``--baseline-ref`` (default 66c4079, the last
main with the per-row estimator; ``git show REF:audit/inventory/estimate.py``, loaded from a
temporary file as a separate module) on the first ``--baseline-rows`` rows; its lines must
equal this checkout's on the same rows. It imports this checkout's other modules, so it already
has the faster self-hosted method (audit/methods/selfhosted.py): the ratio understates the
change for self-hosted rows with a utilisation. Each run
prints seconds, CPU seconds and the growth of peak RSS (``resource.getrusage``; the peak is
per process, so the baseline runs last). A ``RATIO`` line compares the new estimator with the
baseline on the same rows (wall and CPU: on a shared machine read CPU) and with the issue's
71 s for 100k. The load average is printed first.
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE))

from audit.inventory.estimate import estimate  # noqa: E402
from audit.inventory.intake import load_engagement  # noqa: E402
from audit.reference.factors import load_register  # noqa: E402
from audit.reference.measured import write_measured_factor  # noqa: E402

PER_ROW_ESTIMATOR_REF = "66c4079"  # main before the vectorised estimator (iterrows, row.copy())
ISSUE_SECONDS_100K = 71.0  # issue 17: "100k activities estimate in 71-113 s and 1.8 GB"

EXTRA_ROWS = [  # rows reaching the estimator's other branches (column: value)
    dict(activity_id="X-MEAS-IMG", kind="image_generation", quantity="5000", unit="image",
         mode="measured:sdxl_batch", ownership="owned", hardware="nvidia-a100-80gb"),
    dict(activity_id="X-MEAS-GPU", kind="gpu_compute", quantity="100", unit="gpu_hour",
         mode="measured:render", ownership="owned", hardware="nvidia-a100-80gb"),
    dict(activity_id="X-GPU-POWER", kind="gpu_compute", quantity="50", unit="gpu_hour", power_w="350",
         hardware="nvidia-a100-80gb", ownership="owned", pue="1.3"),
    dict(activity_id="X-GPU-UTIL", kind="gpu_compute", quantity="70", unit="gpu_hour", mode="training",
         utilisation="0.8", hardware="nvidia-h100-sxm", region="aws:us-east-1", provider="aws"),
    dict(activity_id="X-CPU-POWER", kind="cpu_compute", quantity="900", unit="vcpu_hour", power_w="4.5"),
    dict(activity_id="X-CPU-UTIL", kind="cpu_compute", quantity="900", unit="vcpu_hour", utilisation="0.6",
         provider="gcp", region="gcp:europe-west2"),
    dict(activity_id="X-ELEC-CI", kind="electricity", quantity="100", unit="kWh", carbon_intensity_g_per_kwh="120"),
    dict(activity_id="X-IMG-MEAS", kind="image_generation", quantity="800", unit="image", power_w="400",
         latency_s="6", ownership="owned", hardware="nvidia-l4"),
    dict(activity_id="X-IMG-STEPS", kind="image_generation", quantity="800", unit="image", model="sdxl",
         mode="1024x1024;steps:30"),
    dict(activity_id="X-LLM-GEMINI", kind="llm_api", quantity="1000", unit="request", provider="google",
         model="gemini-2.5-flash", input_tokens="100", output_tokens="300"),
    dict(activity_id="X-LLM-MISTRAL", kind="llm_api", quantity="1000", unit="request", provider="mistral",
         model="mistral-large-2512", input_tokens="100", output_tokens="400"),
    dict(activity_id="X-LLM-ECO", kind="llm_api", quantity="1000", unit="request", provider="openai",
         model="gpt-4o-mini", input_tokens="200", output_tokens="100", mode="ecologits"),
    dict(activity_id="X-LLM-70B", kind="llm_api", quantity="1000", unit="request", model="70B",
         input_tokens="200", output_tokens="100", ownership="owned", hardware="nvidia-h100-sxm", power_w="700",
         latency_s="2"),
    dict(activity_id="X-LLM-PUE", kind="llm_api", quantity="1000", unit="request", provider="anthropic",
         model="claude-sonnet-4-5", input_tokens="200", output_tokens="100", pue="1.2"),
]
SUPPLIER_FACTORS = """supplier_factors:
  - preset: google-gemini-apps-2025-energy
  - preset: mistral-large-2-2025-lca
"""
MEASURED = [
    {"factor_id": "sdxl_batch", "kind": "image_generation", "unit": "image", "kwh_per_unit": 0.0004, "n_units": 50,
     "measured_kwh": 0.02, "duration_s": 30.0, "command": "bench", "measured_at": "2025-05-01T10:00:00Z",
     "codecarbon_version": "3.3.2", "country": "GBR", "notes": "benchmark fixture"},
    {"factor_id": "render", "kind": "gpu_compute", "unit": "gpu_hour", "kwh_per_unit": 0.41, "n_units": 1,
     "measured_kwh": 0.41, "duration_s": 3600.0, "command": "bench", "measured_at": "2025-05-01T10:00:00Z",
     "codecarbon_version": "3.3.2", "country": "GBR", "notes": "benchmark fixture"},
]


def make_engagement(folder: Path) -> Path:
    """The sample without usage logs, plus EXTRA_ROWS, supplier factors and measured factors."""
    sample = HERE / "data" / "sample_engagement"
    text = (sample / "engagement.yaml").read_text(encoding="utf-8")
    start = text.index("usage_logs:")
    end = text.index("stages:")
    (folder / "engagement.yaml").write_text(text[:start] + SUPPLIER_FACTORS + text[end:], encoding="utf-8")
    acts = pd.read_csv(sample / "activities.csv", dtype=str, keep_default_na=False)
    extra = pd.DataFrame([{c: r.get(c, "") for c in acts.columns} | {"stage": "Production",
                                                                      "description": f"benchmark row {r['activity_id']}"}
                          for r in EXTRA_ROWS])
    pd.concat([acts, extra], ignore_index=True).to_csv(folder / "activities.csv", index=False)
    for rec in MEASURED:
        write_measured_factor(folder, rec)
    return folder


def tiled(loaded, rows: int):
    """``loaded`` with its activities repeated to ``rows`` rows, ids unique (``<id>-t<copy>``)."""
    base = loaded.activities
    reps = -(-rows // len(base))
    df = pd.concat([base] * reps, ignore_index=True).iloc[:rows].copy()
    copy = np.repeat(np.arange(reps), len(base))[:rows]
    df["activity_id"] = df["activity_id"].astype(str) + "-t" + pd.Series(copy, index=df.index).astype(str)
    df["row_number"] = np.arange(2, rows + 2)
    return dataclasses.replace(loaded, activities=df)


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn, loaded, register) -> tuple[object, dict]:
    before = rss_mb()
    t0, c0 = time.perf_counter(), time.process_time()
    est = fn(loaded, register)
    t1, c1 = time.perf_counter(), time.process_time()
    return est, {"seconds": round(t1 - t0, 2), "cpu_s": round(c1 - c0, 2), "peak_rss_mb": round(rss_mb()),
                 "peak_growth_mb": round(rss_mb() - before)}


def baseline_module(ref: str):
    """The estimator at git ``ref``, loaded as a separate module from a temporary file."""
    src = subprocess.run(["git", "-C", str(HERE), "show", f"{ref}:audit/inventory/estimate.py"], check=True,
                         capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "estimate_baseline.py"
    path.write_text(src, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("estimate_baseline", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up while the class is built
    spec.loader.exec_module(mod)
    return mod


def same_lines(a, b) -> float:
    """Largest relative difference between two estimates' numbers; raises if rows or ids differ."""
    la, lb = a.lines, b.lines
    assert list(la["activity_id"]) == list(lb["activity_id"]), "line order differs"
    assert [list(x) for x in la["factor_ids"]] == [list(x) for x in lb["factor_ids"]], "factor ids differ"
    for col in ("method", "formula", "boundary", "data_quality_basis", "market_basis"):
        assert la[col].astype(str).tolist() == lb[col].astype(str).tolist(), f"{col} differs"
    worst = 0.0
    for col in ("kwh", "kwh_low", "kwh_high", "kgco2e", "kgco2e_low", "kgco2e_high", "kgco2e_market",
                "ecologits_kwh", "embodied_kgco2e_memo"):
        x, y = la[col].to_numpy(float), lb[col].to_numpy(float)
        assert (np.isnan(x) == np.isnan(y)).all(), f"{col}: NaN pattern differs"
        ok = ~np.isnan(x)
        if ok.any():
            worst = max(worst, float(np.max(np.abs(x[ok] - y[ok]) / np.maximum(np.abs(y[ok]), 1e-300))))
    assert a.warnings == b.warnings, "warnings differ"
    assert a.factors_used.equals(b.factors_used), "factors used differ"
    assert a.register.table.equals(b.register.table), "register (with the activity-supplied rows) differs"
    return worst


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--baseline-rows", type=int, default=10_000, help="0: no baseline")
    ap.add_argument("--baseline-ref", default=PER_ROW_ESTIMATOR_REF,
                    help="git ref of the estimator to compare with (default: the last per-row estimator)")
    args = ap.parse_args()
    print(json.dumps({"load_average_1_5_15": [round(x, 2) for x in os.getloadavg()], "cpus": os.cpu_count()}))
    with tempfile.TemporaryDirectory() as tmp:
        loaded = load_engagement(make_engagement(Path(tmp)))
    register = load_register()
    kinds = sorted(set(loaded.activities["kind"]))
    print(json.dumps({"base_rows": len(loaded.activities), "kinds": kinds}))
    estimate(tiled(loaded, 100), register)  # warm the caches (unit registry, EcoLogits, tables)
    results = {}
    for n in args.rows:
        est, r = timed(estimate, tiled(loaded, n), register)
        results[n] = r
        print(json.dumps({"estimator": "this checkout", "activities": n, "lines": len(est.lines)} | r))
        del est
    if args.baseline_rows:
        base = baseline_module(args.baseline_ref)
        sub = tiled(loaded, args.baseline_rows)
        new_est, new_r = timed(estimate, sub, register)
        base.estimate(tiled(loaded, 100), register)
        old_est, old_r = timed(base.estimate, sub, register)
        worst = same_lines(new_est, old_est)
        print(json.dumps({"estimator": f"{args.baseline_ref} (baseline)", "activities": args.baseline_rows} | old_r))
        print(json.dumps({"agreement": "same lines, ids, methods, warnings, factors", "max_rel_diff": worst}))
        print(f"RATIO baseline/new on {args.baseline_rows} rows: {old_r['seconds'] / max(new_r['seconds'], 1e-9):.1f}x wall "
              f"({old_r['seconds']} s vs {new_r['seconds']} s), {old_r['cpu_s'] / max(new_r['cpu_s'], 1e-9):.1f}x CPU "
              f"({old_r['cpu_s']} s vs {new_r['cpu_s']} s)")
    if 100_000 in results:
        print(f"RATIO issue 71 s / new on 100k rows: {ISSUE_SECONDS_100K / max(results[100_000]['seconds'], 1e-9):.1f}x "
              f"({results[100_000]['seconds']} s wall, {results[100_000]['cpu_s']} s CPU, "
              f"peak RSS {results[100_000]['peak_rss_mb']} MB)")
    if len(results) >= 2:
        (a, ra), (b, rb) = sorted(results.items())[:2]
        print(f"LINEARITY {b}/{a} rows: time x{rb['seconds'] / max(ra['seconds'], 1e-9):.1f} for x{b / a:.0f} rows")


if __name__ == "__main__":
    main()
