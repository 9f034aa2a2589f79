"""`audit run` on the sample (no PDF), with notebooks and with --fast, against the in-process floor.

    .venv/bin/python benchmarks/bench_run.py [--repeats 3]

Floor: a fresh Python process that does the same work with the library and nothing else:
``load_engagement`` (validation, the usage log included), ``prepare_run`` (estimate,
results, analyses, the ten charts as SVG), the steps' files and ``write_deliverables``
(results.json, report.xlsx, report.html). It pays the interpreter start and the imports, as
the command does; the warm figure (the same work again in an already warm process) is printed
for context. Candidates: ``python -m audit run data/sample_engagement --out … --no-pdf``
with and without ``--fast``. The three are run interleaved, ``--repeats`` times each, and the
best of each is compared (this VM's load changes from minute to minute). The two runs'
results.json must be byte-identical.

Targets (issue 16): with notebooks <= 1.5x the floor; --fast <= 1.1x the floor.
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample_engagement"

FLOOR = r"""
import sys, time
from pathlib import Path
t0 = time.perf_counter()
from audit.inventory.intake import load_engagement
from audit.orchestration.pipeline import prepare_run, write_steps
from audit.orchestration.runner import write_deliverables

def work(out):
    out.mkdir(parents=True, exist_ok=True)
    run = prepare_run(load_engagement(sys.argv[1]))
    write_steps(run, out)
    write_deliverables(run.results, out, pdf=False, svgs=run.svgs)

work(Path(sys.argv[2]))
t1 = time.perf_counter()
if len(sys.argv) > 3:
    work(Path(sys.argv[2]) / "again")
print(f"WARM {time.perf_counter() - t1:.3f} FIRST {t1 - t0:.3f}")
"""


def timed(cmd: list[str]) -> tuple[float, float, str]:
    """Wall time and CPU time (user + system of the child and the processes it waited for,
    the notebook kernel included) of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    py = sys.executable
    tmp = Path(tempfile.mkdtemp(prefix="bench-run-"))
    cmds = {"floor": [py, "-c", FLOOR, str(SAMPLE)],
            "fast": [py, "-m", "audit", "run", str(SAMPLE), "--no-pdf", "--fast", "--out"],
            "notebooks": [py, "-m", "audit", "run", str(SAMPLE), "--no-pdf", "--out"]}
    wall: dict[str, list[float]] = {k: [] for k in cmds}
    cpu: dict[str, list[float]] = {k: [] for k in cmds}
    print(f"load average (1 min) before: {os.getloadavg()[0]:.2f}; {os.cpu_count()} CPUs", flush=True)
    for i in range(args.repeats):
        for name, cmd in cmds.items():
            w, c, _ = timed([*cmd, str(tmp / f"{name}{i}")])
            wall[name].append(w)
            cpu[name].append(c)
        print(f"  repeat {i + 1}: " + ", ".join(f"{k} {wall[k][-1]:.2f} s wall / {cpu[k][-1]:.2f} s CPU" for k in cmds)
              + f" (load {os.getloadavg()[0]:.2f})", flush=True)
    _, _, out = timed([*cmds["floor"], str(tmp / "warm"), "again"])
    same = all((tmp / f"fast{i}" / "results.json").read_bytes() == (tmp / f"notebooks{i}" / "results.json").read_bytes()
               for i in range(args.repeats))
    best = {k: min(v) for k, v in wall.items()}
    best_cpu = {k: min(v) for k, v in cpu.items()}
    print(f"best of {args.repeats}, wall: floor {best['floor']:.2f} s (the same work again in that warm process: "
          f"{float(out.split()[1]):.2f} s), --fast {best['fast']:.2f} s, notebooks {best['notebooks']:.2f} s")
    print(f"best of {args.repeats}, CPU: floor {best_cpu['floor']:.2f} s, --fast {best_cpu['fast']:.2f} s, "
          f"notebooks {best_cpu['notebooks']:.2f} s")
    print(f"results.json byte-identical between --fast and the notebook path: {same}")
    print(f"RATIO wall: notebooks/floor {best['notebooks'] / best['floor']:.2f} (target <= 1.5), "
          f"--fast/floor {best['fast'] / best['floor']:.2f} (target <= 1.1); CPU: notebooks/floor "
          f"{best_cpu['notebooks'] / best_cpu['floor']:.2f}, --fast/floor {best_cpu['fast'] / best_cpu['floor']:.2f}; "
          f"load average after {os.getloadavg()[0]:.2f}")
    if not same:
        sys.exit("results.json differs between --fast and the notebook path")


if __name__ == "__main__":
    main()
