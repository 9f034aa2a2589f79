"""`audit estimate-usage` on 10M, 30M (and 100M) Parquet rows: wall time and peak memory.

    .venv/bin/python benchmarks/bench_usage_memory.py [--sizes 10 30 100] [--chunk-rows 1000000]

Logs are the seeded synthetic ones of bench_usage_10m.py (1M-row row groups, ~19 MB per
million rows), cached in $TMPDIR/genai-audit-bench/ (100M needs ~2 GB of disk). Each size runs
the real command, ``python -m audit estimate-usage LOG --format json``, in a fresh process; peak
RSS is the child's ru_maxrss. The 10M log is also estimated in a fresh interpreter that times
``estimate_usage(path)`` alone (the "in process" figure).

Targets (issue 16): 100M rows <= 15 s and <= 1.2 GB; memory flat from 10M to 100M; 10M in
process <= 1.5 s. Printed ratios: measured / target, and peak RSS at N / peak RSS at 10M
(flatness: 1.00 is flat) from the same run.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_usage_10m import CHILD, generate  # noqa: E402 - the same log and in-process timing

TARGET_100M_S, TARGET_GB, TARGET_10M_IN_PROCESS_S = 15.0, 1.2, 1.5


def log_path(millions: int) -> Path:
    cache = Path(tempfile.gettempdir()) / "genai-audit-bench"
    cache.mkdir(exist_ok=True)
    path = cache / f"usage_{millions * 1_000_000}.parquet"
    if not path.exists():
        t = time.perf_counter()
        generate(path, millions * 1_000_000)
        print(f"generated {path} ({path.stat().st_size / 1e6:,.0f} MB) in {time.perf_counter() - t:.1f} s", flush=True)
    return path


def run_cli(path: Path, chunk_rows: int) -> dict:
    """`audit estimate-usage` in a fresh process: wall time and that child's peak RSS."""
    cmd = [sys.executable, "-c", "import json, resource, runpy, sys; sys.argv = ['audit'] + sys.argv[1:]; "
           "from audit.cli import app\ntry:\n    app(prog_name='audit')\nexcept SystemExit as e:\n    code = e.code\n"
           "else:\n    code = 0\nprint('MAXRSS', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
           "sys.exit(code)",
           "estimate-usage", str(path), "--format", "json", "--chunk-rows", str(chunk_rows)]
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if proc.returncode:
        sys.exit(proc.stderr[-3000:])
    maxrss_kb = int(next(ln.split()[1] for ln in proc.stderr.splitlines() if ln.startswith("MAXRSS")))
    out = json.loads(proc.stdout)
    return {"wall_s": wall, "peak_gb": maxrss_kb / 1e6 * 1.024, "requests": out["requests"],
            "kgco2e": out["kgco2e"]}


def run_in_process(path: Path, chunk_rows: int) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, str(path), str(chunk_rows)], capture_output=True, text=True)
    if proc.returncode:
        sys.exit(proc.stderr[-3000:])
    return json.loads(proc.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10, 30], help="millions of rows (add 100 for the target)")
    ap.add_argument("--chunk-rows", type=int, default=1_000_000)
    args = ap.parse_args()
    paths = {m: log_path(m) for m in args.sizes}
    print(f"load average (1 min) before: {os.getloadavg()[0]:.2f}; {os.cpu_count()} CPUs")
    inproc = run_in_process(paths[min(args.sizes)], args.chunk_rows)
    print(f"{min(args.sizes)}M in process: estimate_usage {inproc['estimate_s']:.2f} s (imports {inproc['import_s']:.2f} s), "
          f"peak RSS {inproc['maxrss_kb'] / 1e6 * 1.024:.2f} GB")
    base = None
    for m in args.sizes:
        r = run_cli(paths[m], args.chunk_rows)
        assert r["requests"] == m * 1_000_000, r
        base = base or r
        print(f"{m:>4}M audit estimate-usage: {r['wall_s']:6.2f} s, peak RSS {r['peak_gb']:.2f} GB "
              f"({r['peak_gb'] / base['peak_gb']:.2f}x the {min(args.sizes)}M peak), {r['kgco2e']:,.1f} kgCO2e", flush=True)
        if m == 100:
            print(f"RATIO 100M time/target {r['wall_s'] / TARGET_100M_S:.2f}, memory/target {r['peak_gb'] / TARGET_GB:.2f}")
    print(f"RATIO {min(args.sizes)}M in-process time/target {inproc['estimate_s'] / TARGET_10M_IN_PROCESS_S:.2f}; "
          f"memory flatness {max(args.sizes)}M/{min(args.sizes)}M {r['peak_gb'] / base['peak_gb']:.2f}; "
          f"load average after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
