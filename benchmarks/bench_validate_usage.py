"""Usage logs: what validation costs now that it never estimates (issue 11), and what `audit run` pays.

    .venv/bin/python benchmarks/bench_validate_usage.py [--requests 1000000] [--repeats 3] [--csv]

On a copy of the sample engagement with a synthetic, seeded log of N requests added, best of
``--repeats`` (each cold: the process's usage cache cleared):

- validate: ``load_engagement`` (reads and sums the logs; before issue 11 it also estimated them);
- sums: ``engagement_usage_sums`` alone (the validation's pass over the logs);
- estimate: ``engagement_usage`` alone (the estimate step's pass: every request's energy);
- sums from an estimate: ``engagement_usage_sums`` when the estimate is already in the process (no read).

`audit run` validates first and then estimates (the hand-off to its kernel), so it pays
sums + estimate; an order that estimates first would pay the estimate only (sums taken from it).
Run it with PYTHONPATH pointing at another checkout to time that checkout's ``load_engagement``
(the other lines need this branch's functions and are skipped there).
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import yaml


def best_of(repeats: int, fn, before=None) -> float:
    best = float("inf")
    for _ in range(repeats):
        if before is not None:
            before()
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--csv", action="store_true", help="write the log as CSV (default Parquet)")
    args = ap.parse_args()

    import audit.inventory.usage.logs as usage
    from audit.core.paths import SAMPLE_ENGAGEMENT_DIR
    from audit.inventory.intake import load_engagement

    print(f"load average (1 min) at start: {os.getloadavg()[0]:.2f}; code from {Path(usage.__file__).parents[3]}")
    root = Path(tempfile.mkdtemp(prefix="bench-validate-usage-"))
    try:
        folder = Path(shutil.copytree(SAMPLE_ENGAGEMENT_DIR, root / "client"))
        log = usage.synthetic_log(args.requests, seed=3)
        name = "usage/big.csv" if args.csv else "usage/big.parquet"
        if args.csv:
            log.assign(timestamp=log["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")).to_csv(folder / name, index=False)
        else:
            log.to_parquet(folder / name, row_group_size=250_000)
        settings = yaml.safe_load((folder / "engagement.yaml").read_text(encoding="utf-8"))
        settings["usage_logs"] = [*settings["usage_logs"], name]
        (folder / "engagement.yaml").write_text(yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")
        clear = usage._ENGAGEMENT_CACHE.clear

        validate_s = best_of(args.repeats, lambda: load_engagement(folder), clear)
        print(f"{args.requests:,} requests ({'CSV' if args.csv else 'Parquet'}) + the sample's logs")
        print(f"validate (load_engagement):          {validate_s:.3f} s")
        if hasattr(usage, "engagement_usage_sums"):
            eng = load_engagement(folder).engagement
            a = (folder, eng.usage_logs, eng.default_region, eng.model_aliases)
            sums_s = best_of(args.repeats, lambda: usage.engagement_usage_sums(*a), clear)
            full_s = best_of(args.repeats, lambda: usage.engagement_usage(*a), clear)
            usage.engagement_usage(*a)
            derived_s = best_of(args.repeats, lambda: (usage._ENGAGEMENT_CACHE.pop((usage._engagement_key(*a)[0], "sums"), None),
                                                      usage.engagement_usage_sums(*a)))
            print(f"sums (validation's pass, no energy):  {sums_s:.3f} s")
            print(f"estimate (every request's energy):    {full_s:.3f} s")
            print(f"sums taken from the estimate:         {derived_s:.3f} s")
            print(f"audit run pays sums + estimate = {sums_s + full_s:.3f} s for the logs "
                  f"({(sums_s + full_s) / full_s:.2f}x one estimating pass)")
        print(f"load average (1 min) at end: {os.getloadavg()[0]:.2f}")
    finally:
        usage._ENGAGEMENT_CACHE.clear()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
