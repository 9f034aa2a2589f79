"""`audit batch` of N copies of the sample with --jobs 2 (no PDF), against the 6-minute target.

    .venv/bin/python benchmarks/bench_batch100.py [--engagements 100] [--jobs 2]

Baseline in the same run: ONE `audit run` of the sample (with notebooks, no PDF) in a child
process, timed (wall and CPU); the batch is then compared with N x that run / jobs, the time
a batch would take if two engagements shared two cores perfectly. Printed: the batch's wall
time, its ratio to the target (360 s for 100 engagements, scaled for other N) and to that
ideal, and the CPU per engagement. Every engagement must end "ok" with a results.json
identical to the single run's.

``--cold N`` also runs a batch of N copies with a new interpreter per engagement
(``GENAI_AUDIT_COLD_CHILDREN=1``, as before the warm workers) in the same run, and prints
both CPU-per-engagement figures and their ratio (the batch's CPU includes the warm workers'
own start, paid once per job slot). ``--cold-kernels N`` likewise with warm children whose
notebook kernels are new interpreters (``GENAI_AUDIT_COLD_KERNELS=1``), not forked from the
worker (``orchestration.processes``).
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample_engagement"
TARGET_S_PER_100 = 360.0


def cpu_children() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engagements", type=int, default=100)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--cold", type=int, default=0, help="also a batch of N copies with cold children")
    ap.add_argument("--cold-kernels", type=int, default=0,
                    help="also a batch of N copies whose kernels are new interpreters (not forked)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-batch100-"))
    clients = tmp / "clients"
    for i in range(args.engagements):
        shutil.copytree(SAMPLE, clients / f"client-{i:03d}")
    print(f"load average (1 min) before: {os.getloadavg()[0]:.2f}; {os.cpu_count()} CPUs", flush=True)
    c0, t0 = cpu_children(), time.perf_counter()
    subprocess.run([sys.executable, "-m", "audit", "run", str(clients / "client-000"), "--out", str(tmp / "single"),
                    "--no-pdf"], check=True, capture_output=True)
    single_wall, single_cpu = time.perf_counter() - t0, cpu_children() - c0
    print(f"one audit run: {single_wall:.1f} s wall, {single_cpu:.1f} s CPU", flush=True)
    c0, t0 = cpu_children(), time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "audit", "batch", *sorted(map(str, clients.iterdir())),
                           "--out", str(tmp / "batch"), "--jobs", str(args.jobs), "--no-pdf"], capture_output=True, text=True)
    wall, cpu = time.perf_counter() - t0, cpu_children() - c0
    if proc.returncode:
        sys.exit(f"batch failed:\n{proc.stderr[-3000:]}")
    reference = (tmp / "single" / "results.json").read_bytes()
    # A warning names the engagement folder: compare with the folder's name put back.
    same = sum((d / "results.json").read_bytes().replace(d.name.encode(), b"client-000") == reference
               for d in (tmp / "batch").iterdir() if d.is_dir())
    target = TARGET_S_PER_100 * args.engagements / 100
    ideal = single_wall * args.engagements / args.jobs
    print(f"batch of {args.engagements} with --jobs {args.jobs}: {wall:.1f} s wall ({wall / 60:.1f} min), "
          f"{cpu / args.engagements:.1f} s CPU per engagement; results.json identical to the single run: "
          f"{same}/{args.engagements}")
    print(f"RATIO batch/target {wall / target:.2f} (target {target:.0f} s); batch/(N x one run / jobs) "
          f"{wall / ideal:.2f}; load average after {os.getloadavg()[0]:.2f}", flush=True)
    per_warm = cpu / args.engagements
    for n, env_name, what in ((args.cold, "GENAI_AUDIT_COLD_CHILDREN", "cold children (a new interpreter per engagement)"),
                              (args.cold_kernels, "GENAI_AUDIT_COLD_KERNELS",
                               "cold kernels (warm children, each kernel a new interpreter)")):
        if not n:
            continue
        dirs = sorted(map(str, clients.iterdir()))[:n]
        c0, t0 = cpu_children(), time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "audit", "batch", *dirs, "--out", str(tmp / env_name),
                               "--jobs", str(args.jobs), "--no-pdf"], capture_output=True, text=True,
                              env={**os.environ, env_name: "1"})
        other_wall, other_cpu = time.perf_counter() - t0, cpu_children() - c0
        if proc.returncode:
            sys.exit(f"{what} batch failed:\n{proc.stderr[-3000:]}")
        per_other = other_cpu / n
        print(f"{what}, {n} copies: {other_wall:.1f} s wall, {per_other:.1f} s CPU per engagement; "
              f"RATIO CPU per engagement this batch/that one {per_warm / per_other:.2f}; load average after "
              f"{os.getloadavg()[0]:.2f}", flush=True)
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
