"""Issue 17 cliff: `audit validate` on an intake of 1,048,576 rows (Excel's row limit: the
header plus 1,048,575 activities), timed in a child process with its peak memory.

    python benchmarks/bench_intake_cliff.py                 # this checkout
    python benchmarks/bench_intake_cliff.py --checkout /work/main --rows 200000

Rows repeat the sample engagement's 31 activities with unique ids; the engagement file is the
sample's without usage logs. Prints one JSON line: rows, seconds, peak RSS (MB), exit code.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent


def make_engagement(folder: Path, rows: int) -> Path:
    sample = HERE / "data" / "sample_engagement"
    text = (sample / "engagement.yaml").read_text(encoding="utf-8")
    text = text.replace("usage_logs:\n  - usage/api_gateway_requests.csv\n", "")
    (folder / "engagement.yaml").write_text(text, encoding="utf-8")
    lines = (sample / "activities.csv").read_text(encoding="utf-8").splitlines()
    header, body = lines[0], lines[1:]
    with open(folder / "activities.csv", "w", encoding="utf-8") as f:
        f.write(header + "\n")
        for n in range(rows):
            line = body[n % len(body)]
            f.write(f"R{n:07d}" + line[line.index(","):] + "\n")
    return folder


def run(checkout: Path, folder: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(checkout))
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "audit", "validate", str(folder)], env=env,
                          capture_output=True, text=True, check=False, cwd=checkout)  # -m puts cwd first on sys.path
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"seconds": round(seconds, 1), "peak_rss_mb": round(peak_mb), "exit": proc.returncode,
            "output_tail": (proc.stdout + proc.stderr)[-300:]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_048_575)
    ap.add_argument("--checkout", type=Path, default=HERE)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = make_engagement(Path(tmp), args.rows)
        size_mb = (folder / "activities.csv").stat().st_size / 2**20
        result = run(args.checkout, folder)
    print(json.dumps({"rows": args.rows, "csv_mb": round(size_mb, 1), "checkout": str(args.checkout)} | result))


if __name__ == "__main__":
    main()
