"""`audit run` with a big usage log: what the notebook kernel pays for the log.

    .venv/bin/python benchmarks/bench_usage_handoff.py [--requests 1000000] [--repeats 3]

`audit run` validates an engagement (usage logs included) before it starts the kernel; the
kernel then loads the engagement again. Baseline: the kernel estimates the log again
(`engagement_usage` with nothing handed over, as before the hand-off). Measured: the kernel
reads the sums the run handed over (`write_handoff` + GENAI_AUDIT_USAGE_HANDOFF). Both run in
this process on the same engagement (a synthetic, seeded Parquet log in a temporary folder);
the two results must be identical. RATIO = baseline time / hand-off time (higher is better).
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path


def best_of(repeats: int, fn) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    import pandas as pd

    import audit.inventory.usage.logs as usage
    from audit.core.paths import SAMPLE_ENGAGEMENT_DIR

    print(f"load average (1 min): {os.getloadavg()[0]:.2f}")
    root = Path(tempfile.mkdtemp(prefix="bench-handoff-"))
    try:
        folder = Path(shutil.copytree(SAMPLE_ENGAGEMENT_DIR, root / "client"))
        usage.synthetic_log(args.requests, seed=3).to_parquet(folder / "usage" / "big.parquet", row_group_size=250_000)
        logs, region = ["usage/big.parquet"], "GBR"

        def kernel_estimates_again():
            usage._ENGAGEMENT_CACHE.clear()
            return usage.engagement_usage(folder, logs, region)

        baseline_s, estimated = best_of(args.repeats, kernel_estimates_again)
        handoff = usage.write_handoff(root / "handoff", folder, logs, region)
        os.environ[usage.USAGE_HANDOFF_ENV] = str(handoff)
        try:
            handed_s, handed = best_of(args.repeats, kernel_estimates_again)
        finally:
            os.environ.pop(usage.USAGE_HANDOFF_ENV, None)
        pd.testing.assert_frame_equal(handed.groups, estimated.groups)
        assert handed.to_json_dict() == estimated.to_json_dict()
        print(f"{args.requests:,} requests, {len(estimated.groups):,} groups; results identical")
        print(f"kernel estimates the log again: {baseline_s:.3f} s (best of {args.repeats})")
        print(f"kernel reads the hand-off:      {handed_s:.3f} s (best of {args.repeats})")
        print(f"RATIO {baseline_s / handed_s:.1f}x (saved {baseline_s - handed_s:.2f} s per run)")
    finally:
        usage._ENGAGEMENT_CACHE.clear()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
