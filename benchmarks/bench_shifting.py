"""Carbon-aware shifting: `audit.analyses.shifting.best_starts` vs a per-start Python loop.

    .venv/bin/python benchmarks/bench_shifting.py [--jobs 1000] [--seed 0]

Profile: 8,784 hourly values (2024, a leap year): the shipped GBR month x hour means with
±10 % seeded noise (so that equal windows, whose tie rule would otherwise dominate, are rare).

Target (issue #7, read literally): 1,000 jobs of 1-24 h, each searched over the 8,784 hourly
values of the year. The Python baseline is timed on a sample of jobs and scaled linearly
(all 1,000 would take minutes); the sample's answers are checked equal.

Context: 1,000 random jobs whose windows are at most a week (earliest start any hour,
deadline = earliest + duration + 0-168 h), where the baseline itself is only ~50 ms, and
100 jobs with two-month windows. One `best_start` call per job (what `audit shift` does for
one job) is timed too.

Baseline (fair, not brute_force): for each candidate start, sum the window's hourly values
with a Python loop; keep the first minimum (same tie rule as the toolkit: within 1e-9
relative of the best integral, earlier start wins). Every best start and kgCO2e compared
is checked equal to 1e-9 relative. Looping over whole hours is the full candidate set here:
the toolkit also considers starts at which a job ENDS on a step boundary and the latest
start (deadline − duration), but with an hourly profile, whole-hour durations and whole-hour
windows those are whole hours too (off-grid cases are tested in tests/test_shifting.py).
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from audit.analyses import shifting

TARGET = 100.0


def profile(seed: int) -> pd.Series:
    s = shifting.typical_profile("GBR", pd.Timestamp("2024-01-01", tz="UTC"), pd.Timestamp("2024-12-31T23:00", tz="UTC"))
    rng = np.random.default_rng(seed)
    return s * (1 + 0.1 * rng.uniform(-1, 1, len(s)))


def jobs(n: int, seed: int, hours: int, max_slack: int = 168):
    rng = np.random.default_rng(seed + 1)
    dur = rng.integers(1, 25, n)
    slack = rng.integers(0, max_slack + 1, n)
    earliest = rng.integers(0, hours - dur - slack)
    power = rng.uniform(0.5, 5, n)
    return dur, earliest, earliest + dur + slack, power


def per_start_loop(values: list[float], dur, earliest, deadline, power):
    """For each start hour, sum the window with a Python loop; first minimum wins."""
    out = []
    for d, e, end, p in zip(dur.tolist(), earliest.tolist(), deadline.tolist(), power.tolist()):
        best_s, best_kg = None, None
        for s in range(e, end - d + 1):
            total = 0.0
            for h in range(s, s + d):
                total += values[h]
            if best_kg is None or total < best_kg - (1e-9 * abs(best_kg) + 1e-12):  # tie rule on the integral
                best_s, best_kg = s, total
        out.append((best_s, p * best_kg / 1000.0))
    return out


def with_best_start(series: pd.Series, dur, earliest, deadline, power):
    t0 = series.index[0]
    out = []
    for d, e, end, p in zip(dur.tolist(), earliest.tolist(), deadline.tolist(), power.tolist()):
        r = shifting.best_start(series, d, t0 + pd.Timedelta(hours=e), t0 + pd.Timedelta(hours=end), p)
        out.append((int((r.best_start - t0) / pd.Timedelta(hours=1)), r.kgco2e_best))
    return out


def with_best_starts(series: pd.Series, dur, earliest, deadline, power):
    """The toolkit's batch API: `audit.analyses.shifting.best_starts` over all jobs at once."""
    t0 = series.index[0]
    jobs = pd.DataFrame({"duration_hours": dur.astype(float), "earliest": t0 + pd.to_timedelta(earliest, "h"),
                         "deadline": t0 + pd.to_timedelta(deadline, "h"), "power_kw": power})
    r = shifting.best_starts(series, jobs)
    hours = ((r["best_start"] - t0) / pd.Timedelta(hours=1)).astype(int).tolist()
    return list(zip(hours, r["kgco2e_best"].tolist()))


def timed(fn, *args, repeat=1):
    best = None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn(*args)
        dt = time.perf_counter() - t
        best = dt if best is None else min(best, dt)
    return out, best


def same(a, b) -> bool:
    return all(sa == sb and abs(ka - kb) <= 1e-9 * abs(kb) for (sa, ka), (sb, kb) in zip(a, b)) and len(a) == len(b)


def scenario(series, n_jobs, seed, max_slack, label):
    dur, earliest, deadline, power = jobs(n_jobs, seed, len(series), max_slack)
    n_cand = deadline - dur - earliest + 1
    print(f"\n[{label}] {n_jobs:,} jobs, flexibility 0-{max_slack} h: {int(n_cand.sum()):,} candidate starts, "
          f"{int((n_cand * dur).sum()):,} hour-values summed by the baseline")
    values = series.to_numpy(float).tolist()
    with_best_starts(series, dur[:5], earliest[:5], deadline[:5], power[:5])  # warm-up
    base, t_base = timed(per_start_loop, values, dur, earliest, deadline, power, repeat=3)
    batch, t_batch = timed(with_best_starts, series, dur, earliest, deadline, power, repeat=5)
    single, t_single = timed(with_best_start, series, dur, earliest, deadline, power, repeat=1)
    assert same(batch, base), "best_starts disagrees with the per-start loop"
    assert same(single, base), "best_start disagrees with the per-start loop"
    print(f"baseline  per-start Python loop            {t_base * 1000:9.1f} ms")
    print(f"candidate best_starts (batch API)          {t_batch * 1000:9.1f} ms")
    print(f"context   best_start, one call per job     {t_single * 1000:9.1f} ms  ({t_single / n_jobs * 1e6:.0f} µs per job)")
    print(f"all {n_jobs} best starts and kgCO2e equal (1e-9 relative) across the three")
    return t_base / t_batch, t_base / t_single


def scenario_year(series, n_jobs, seed):
    """Every job may start at any hour of the year (the target's literal reading). The Python
    baseline is timed on a sample of jobs and scaled, since it would take minutes."""
    rng = np.random.default_rng(seed)
    dur = rng.integers(1, 25, n_jobs)
    earliest = np.zeros(n_jobs, dtype=np.int64)
    deadline = np.full(n_jobs, len(series), dtype=np.int64)
    power = rng.uniform(0.5, 5, n_jobs)
    values = series.to_numpy(float).tolist()
    sample = 50
    base_sample, t_sample = timed(per_start_loop, values, dur[:sample], earliest[:sample], deadline[:sample],
                                  power[:sample])
    t_base = t_sample * n_jobs / sample
    batch, t_batch = timed(with_best_starts, series, dur, earliest, deadline, power, repeat=3)
    assert same(batch[:sample], base_sample), "best_starts disagrees with the per-start loop"
    print(f"\n[target: each job searched over the whole year] {n_jobs:,} jobs x 8,784 start hours: baseline {t_base:.1f} s "
          f"(timed on {sample} jobs, scaled), best_starts {t_batch * 1000:.0f} ms; equal on the sample")
    return t_base / t_batch


def main() -> None:
    import os
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs (other work slows wall times)")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    series = profile(args.seed)
    print(f"profile: {len(series):,} hourly values (2024)")
    year_ratio = scenario_year(series, args.jobs, args.seed)
    ratio, single = scenario(series, args.jobs, args.seed, 168, "context: week-long windows")
    long_ratio, _ = scenario(series, 100, args.seed, 24 * 60, "context: two-month windows")
    print(f"\nRATIO best_starts vs per-start Python loop, {args.jobs:,} jobs x 8,784 hourly values: "
          f"{year_ratio:.0f}x (target >= {TARGET:g}x): {'MET' if year_ratio >= TARGET else 'NOT MET'}")
    print(f"      context: week-long windows {ratio:.1f}x, two-month windows {long_ratio:.1f}x "
          f"(the baseline there is only tens of ms); one best_start call per job {single:.2f}x")


if __name__ == "__main__":
    main()
