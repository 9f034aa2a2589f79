"""`audit estimate-usage` on 10M, 30M (and 100M) Parquet rows: wall time, CPU time and peak memory.

    .venv/bin/python benchmarks/bench_usage_memory.py [--sizes 10 30 100] [--chunk-rows 1000000]
        [--baseline OTHER_CHECKOUT] [--repeat 2] [--in-flight 2]

Logs are the seeded synthetic ones of bench_usage_10m.py (1M-row row groups, ~19 MB per
million rows), cached in $TMPDIR/genai-audit-bench/ (100M needs ~2 GB of disk). Each size runs
the real command, ``python -m audit estimate-usage LOG --format json``, in a fresh process; peak
RSS is the child's ru_maxrss and CPU its user + system time (every thread). The smallest log is
also estimated in a fresh interpreter that times ``estimate_usage(path)`` alone (the "in
process" figure, with the CPU time of that call).

``--baseline DIR``: a checkout of the code to compare with (e.g. ``git worktree add /tmp/base
main``): every measurement is made for it too, interleaved with this checkout's and repeated
``--repeat`` times (best kept), so both sides meet the same load; the totals must agree to
1e-12 relative and the RATIO lines give this checkout / the baseline. Without it, this
checkout is run against the targets only. The 1-minute load average is printed before and
after: on a shared machine wall times move with it, CPU times much less. ``--in-flight N``
sets GENAI_AUDIT_USAGE_IN_FLIGHT for this checkout (Parquet batches estimated at once;
default 1), to try two batches at a time on an idle 2-CPU machine.

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


HERE = Path(__file__).resolve().parents[1]


IN_FLIGHT: str | None = None  # --in-flight, for this checkout's children


def _env(checkout: Path) -> dict:
    """The environment that makes a child import ``audit`` from ``checkout``."""
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    if IN_FLIGHT and checkout == HERE:
        env["GENAI_AUDIT_USAGE_IN_FLIGHT"] = IN_FLIGHT
    return env


def run_cli(path: Path, chunk_rows: int, checkout: Path = HERE) -> dict:
    """`audit estimate-usage` in a fresh process: wall time, that child's CPU time and peak RSS."""
    cmd = [sys.executable, "-c", "import json, resource, runpy, sys; sys.argv = ['audit'] + sys.argv[1:]; "
           "from audit.cli import app\ntry:\n    app(prog_name='audit')\nexcept SystemExit as e:\n    code = e.code\n"
           "else:\n    code = 0\nru = resource.getrusage(resource.RUSAGE_SELF)\n"
           "print('MAXRSS', ru.ru_maxrss, ru.ru_utime + ru.ru_stime, file=sys.stderr)\n"
           "sys.exit(code)",
           "estimate-usage", str(path), "--format", "json", "--chunk-rows", str(chunk_rows)]
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(checkout))
    wall = time.perf_counter() - t
    if proc.returncode:
        sys.exit(proc.stderr[-3000:])
    _, maxrss_kb, cpu = next(ln.split() for ln in proc.stderr.splitlines() if ln.startswith("MAXRSS"))
    out = json.loads(proc.stdout)
    return {"wall_s": wall, "cpu_s": float(cpu), "peak_gb": int(maxrss_kb) / 1e6 * 1.024,
            "requests": out["requests"], "kgco2e": out["kgco2e"],
            "totals": {k: out[k] for k in ("requests", "kwh", "kwh_low", "kwh_high", "kgco2e", "kgco2e_low", "kgco2e_high")}}


def run_in_process(path: Path, chunk_rows: int, checkout: Path = HERE) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, str(path), str(chunk_rows)], capture_output=True, text=True,
                          env=_env(checkout))
    if proc.returncode:
        sys.exit(proc.stderr[-3000:])
    return json.loads(proc.stdout)


def best(runs: list[dict], key: str) -> dict:
    return min(runs, key=lambda r: r[key])


def agree(a: dict, b: dict) -> float:
    """Largest relative difference between two sets of totals (asserted <= 1e-12)."""
    diff = max(abs(a[k] - b[k]) / max(abs(b[k]), 1e-300) for k in b)
    assert diff <= 1e-12, (a, b)
    return diff


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10, 30], help="millions of rows (add 100 for the target)")
    ap.add_argument("--chunk-rows", type=int, default=1_000_000)
    ap.add_argument("--baseline", type=Path, help="another checkout to time in the same run (e.g. main before this change)")
    ap.add_argument("--repeat", type=int, default=1, help="runs per measurement and side (best kept)")
    ap.add_argument("--in-flight", type=int, help="Parquet batches at once for this checkout (default 1)")
    args = ap.parse_args()
    global IN_FLIGHT
    IN_FLIGHT = str(args.in_flight) if args.in_flight else None
    sides = {"this": HERE} | ({"baseline": args.baseline.resolve()} if args.baseline else {})
    paths = {m: log_path(m) for m in args.sizes}
    small = min(args.sizes)
    print(f"load average (1 min) before: {os.getloadavg()[0]:.2f}; {os.cpu_count()} CPUs; "
          f"{', '.join(f'{k} = {v}' for k, v in sides.items())}")
    inproc = {k: [] for k in sides}
    for _ in range(args.repeat):
        for side, checkout in sides.items():
            inproc[side].append(run_in_process(paths[small], args.chunk_rows, checkout))
    for side in sides:
        r = best(inproc[side], "estimate_s")
        print(f"{side:>8} {small}M in process: estimate_usage {r['estimate_s']:.2f} s wall, "
              f"{r['estimate_cpu_s']:.2f} s CPU (imports {r['import_s']:.2f} s), "
              f"peak RSS {r['maxrss_kb'] / 1e6 * 1.024:.2f} GB, {r['kgco2e']:,.4f} kgCO2e", flush=True)
    if args.baseline:
        diff = agree(best(inproc["this"], "estimate_s")["totals"], best(inproc["baseline"], "estimate_s")["totals"])
        this, base = best(inproc["this"], "estimate_s"), best(inproc["baseline"], "estimate_s")
        this_cpu, base_cpu = best(inproc["this"], "estimate_cpu_s"), best(inproc["baseline"], "estimate_cpu_s")
        print(f"RATIO {small}M in process this/baseline: wall {this['estimate_s'] / base['estimate_s']:.2f}, "
              f"CPU {this_cpu['estimate_cpu_s'] / base_cpu['estimate_cpu_s']:.2f}; totals agree to {diff:.1e} relative")
    cli: dict[str, dict[int, dict]] = {k: {} for k in sides}
    for m in args.sizes:
        runs = {k: [] for k in sides}
        for _ in range(args.repeat):
            for side, checkout in sides.items():
                runs[side].append(run_cli(paths[m], args.chunk_rows, checkout))
        for side in sides:
            r = best(runs[side], "wall_s") | {"cpu_s": best(runs[side], "cpu_s")["cpu_s"],
                                              "peak_gb": max(x["peak_gb"] for x in runs[side])}
            assert r["requests"] == m * 1_000_000, r
            cli[side][m] = r
            first = cli[side][small]
            print(f"{side:>8} {m:>4}M audit estimate-usage: {r['wall_s']:6.2f} s wall, {r['cpu_s']:6.2f} s CPU, "
                  f"peak RSS {r['peak_gb']:.2f} GB ({r['peak_gb'] / first['peak_gb']:.2f}x the {small}M peak), "
                  f"{r['kgco2e']:,.1f} kgCO2e (load now {os.getloadavg()[0]:.2f})", flush=True)
        if args.baseline:
            this, base = cli["this"][m], cli["baseline"][m]
            diff = agree(this["totals"], base["totals"])
            print(f"RATIO {m}M this/baseline: wall {this['wall_s'] / base['wall_s']:.2f}, CPU {this['cpu_s'] / base['cpu_s']:.2f}, "
                  f"peak RSS {this['peak_gb'] / base['peak_gb']:.2f}; totals agree to {diff:.1e} relative")
    this = cli["this"]
    if 100 in this:
        print(f"RATIO 100M time/target {this[100]['wall_s'] / TARGET_100M_S:.2f}, "
              f"memory/target {this[100]['peak_gb'] / TARGET_GB:.2f}")
    r = best(inproc["this"], "estimate_s")
    print(f"RATIO {small}M in-process time/target {r['estimate_s'] / TARGET_10M_IN_PROCESS_S:.2f}; "
          f"memory flatness {max(args.sizes)}M/{small}M {this[max(args.sizes)]['peak_gb'] / this[small]['peak_gb']:.2f}; "
          f"load average after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
