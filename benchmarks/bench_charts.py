"""The report's charts and Excel workbook: CPU per run against another checkout (issue 16).

    .venv/bin/python benchmarks/bench_charts.py --baseline /path/to/other/checkout [--rounds 3] [--repeats 5]

Each round starts one child process per checkout, alternately (baseline, this one), so that
both see the same machine load. A child prepares the sample's audit once
(``prepare_run(..., charts=False)``), warms matplotlib and openpyxl with one render and one
workbook, then takes the best CPU time (``time.process_time``) of ``--repeats`` calls of:
each report chart (``figures.render_svg``), all ten (``figures.render_svgs``),
``excel.write_excel`` and ``html.write_html`` (given the rendered charts, as ``audit run`` does).
It also prints each chart's SVG digest, so the table says whether both checkouts draw the
same bytes. The figures are best over all rounds; the ratio is this checkout / baseline.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]

CHILD = r"""
import hashlib, json, sys, tempfile, time
from pathlib import Path
from audit.core.paths import SAMPLE_ENGAGEMENT_DIR
from audit.inventory.intake import load_engagement
from audit.orchestration.pipeline import prepare_run
from audit.deliverables import figures, html
from audit.deliverables.excel import write_excel

repeats = int(sys.argv[1])
run = prepare_run(load_engagement(SAMPLE_ENGAGEMENT_DIR), charts=False)
out = Path(tempfile.mkdtemp(prefix="bench-charts-"))
svgs = figures.render_svgs(run.results)  # warm
write_excel(run.results, out / "warm.xlsx")
html.write_html(run.results, out / "warm.html", svgs=svgs)
best = {}

def timed(key, fn):
    t0 = time.process_time()
    fn()
    best[key] = min(best.get(key, float("inf")), time.process_time() - t0)

for _ in range(repeats):
    for name in figures.REPORT_CHARTS:
        timed(name, lambda: figures.render_svg(name, run.results))
    timed("all ten charts", lambda: figures.render_svgs(run.results))
    timed("write_excel", lambda: write_excel(run.results, out / "report.xlsx"))
    timed("write_html", lambda: html.write_html(run.results, out / "report.html", svgs=svgs))
digests = {name: hashlib.sha256(svg.encode()).hexdigest()[:16] for name, svg in svgs.items()}
print(json.dumps({"best": best, "digests": digests}))
"""


def child(checkout: Path, repeats: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    done = subprocess.run([sys.executable, "-c", CHILD, str(repeats)], cwd=checkout, env=env,
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", type=Path, required=True, help="another checkout (e.g. main's)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    checkouts = {"baseline": args.baseline.resolve(), "this": HERE}
    print(f"load average (1 min) at start: {os.getloadavg()[0]:.2f}; baseline {checkouts['baseline']}, this {HERE}")
    best: dict[str, dict[str, float]] = {k: {} for k in checkouts}
    digests: dict[str, dict[str, str]] = {}
    for _ in range(args.rounds):
        for label, checkout in checkouts.items():
            got = child(checkout, args.repeats)
            digests[label] = got["digests"]
            for key, seconds in got["best"].items():
                best[label][key] = min(best[label].get(key, float("inf")), seconds)
    print(f"load average (1 min) at end: {os.getloadavg()[0]:.2f}")
    print(f"{'':18s} {'baseline ms':>12s} {'this ms':>9s} {'ratio':>6s}  same SVG bytes")
    for key in best["baseline"]:
        a, b = best["baseline"][key] * 1000, best["this"].get(key, float("nan")) * 1000
        same = ("yes" if digests["baseline"].get(key) == digests["this"].get(key) else "NO") if key in digests["this"] else ""
        print(f"{key:18s} {a:12.1f} {b:9.1f} {b / a:6.2f}  {same}")


if __name__ == "__main__":
    main()
