"""Carbon-aware shifting: `audit.shifting.best_start` vs a per-start Python loop.

    .venv/bin/python benchmarks/bench_shifting.py [--jobs 1000] [--seed 0]

Profile: 8,784 hourly values (2024, a leap year): the shipped GBR month x hour means with
±10 % seeded noise (so that equal windows, whose tie rule would otherwise dominate, are rare).
Jobs: 1,000 random (duration 1-24 h whole hours, earliest start any hour of the year,
deadline = earliest + duration + 0-168 h of flexibility, power 0.5-5 kW).

Baseline (fair, not brute_force): for each candidate start, sum the window's hourly values
with a Python loop; keep the first minimum (same tie tolerance as best_start).
Candidate: one `best_start(...)` call per job (the public API, as `audit shift` uses it).
Also timed, and labelled as a prototype that is NOT in the toolkit: all jobs at once on one
cumulative integral (`audit.shifting._cumulative` / `_integral`, one np.interp for every
candidate of every job), to show what a batch API would give.
Every job's best start and kgCO2e are checked equal across the three.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from audit import shifting

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
        best_s, best_kg, first = None, None, None
        for s in range(e, end - d + 1):
            total = 0.0
            for h in range(s, s + d):
                total += values[h]
            kg = p * total / 1000.0
            if first is None:
                first = kg
            if best_kg is None or kg < best_kg - (1e-9 * abs(best_kg) + 1e-15):
                best_s, best_kg = s, kg
        out.append((best_s, best_kg))
    return out


def with_best_start(series: pd.Series, dur, earliest, deadline, power):
    t0 = series.index[0]
    out = []
    for d, e, end, p in zip(dur.tolist(), earliest.tolist(), deadline.tolist(), power.tolist()):
        r = shifting.best_start(series, d, t0 + pd.Timedelta(hours=e), t0 + pd.Timedelta(hours=end), p)
        out.append((int((r.best_start - t0) / pd.Timedelta(hours=1)), r.kgco2e_best))
    return out


def with_best_starts(series: pd.Series, dur, earliest, deadline, power):
    """The toolkit's batch API: `audit.shifting.best_starts` over all jobs at once."""
    t0 = series.index[0]
    jobs = pd.DataFrame({"duration_hours": dur.astype(float), "earliest": t0 + pd.to_timedelta(earliest, "h"),
                         "deadline": t0 + pd.to_timedelta(deadline, "h"), "power_kw": power})
    r = shifting.best_starts(series, jobs)
    hours = ((r["best_start"] - t0) / pd.Timedelta(hours=1)).astype(int).tolist()
    return list(zip(hours, r["kgco2e_best"].tolist()))


def all_at_once(series: pd.Series, dur, earliest, deadline, power):
    """Prototype batch evaluation (not in the toolkit): every candidate of every job in one np.interp."""
    knots, F = shifting._cumulative(shifting._ns(series))
    t0 = knots[0]
    n_cand = deadline - dur - earliest + 1
    job = np.repeat(np.arange(len(dur)), n_cand)
    offsets = np.arange(n_cand.sum()) - np.repeat(np.cumsum(n_cand) - n_cand, n_cand)
    start = earliest[job] + offsets
    a = t0 + start
    kg = power[job] * shifting._integral(knots, F, a, a + dur[job]) / 1000.0
    bounds = np.cumsum(n_cand) - n_cand
    best = np.minimum.reduceat(kg, bounds)
    tol = 1e-9 * np.abs(best) + 1e-15
    ok = kg <= (best + tol)[job]
    first_ok = np.minimum.reduceat(np.where(ok, offsets, np.iinfo(np.int64).max), bounds)
    idx = bounds + first_ok
    return list(zip(start[idx].tolist(), kg[idx].tolist()))


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
    sample = 20
    _, t_sample = timed(per_start_loop, values, dur[:sample], earliest[:sample], deadline[:sample], power[:sample])
    t_base = t_sample * n_jobs / sample
    batch, t_batch = timed(with_best_starts, series, dur, earliest, deadline, power, repeat=3)
    base_sample = per_start_loop(values, dur[:sample], earliest[:sample], deadline[:sample], power[:sample])
    assert same(batch[:sample], base_sample), "best_starts disagrees with the per-start loop"
    print(f"\n[literal reading] {n_jobs:,} jobs x 8,784 start hours: baseline {t_base:.1f} s "
          f"(timed on {sample} jobs, scaled), best_starts {t_batch * 1000:.0f} ms; equal on the sample")
    return t_base / t_batch, None


def main() -> None:
    import os
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs (other work slows wall times)")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    series = profile(args.seed)
    print(f"profile: {len(series):,} hourly values (2024)")
    ratio, single = scenario(series, args.jobs, args.seed, 168, "target scenario: week-long windows")
    long_ratio, long_single = scenario(series, 100, args.seed, 24 * 60, "two-month windows, for context")
    year_ratio, _ = scenario_year(series, args.jobs, args.seed)
    print(f"\nRATIO best_starts vs baseline: {ratio:.1f}x (target >= {TARGET:g}x): {'MET' if ratio >= TARGET else 'NOT MET'}")
    print(f"      one best_start call per job: {single:.2f}x; two-month windows: batch {long_ratio:.1f}x, "
          f"per call {long_single:.1f}x")
    print(f"      literal reading (each job searched over all 8,784 hours): {year_ratio:.0f}x "
          f"(target >= {TARGET:g}x): {'MET' if year_ratio >= TARGET else 'NOT MET'}")


if __name__ == "__main__":
    main()
