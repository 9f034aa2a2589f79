"""Carbon-aware time shifting: when should a flexible job run?

A profile is piecewise constant: each row's intensity holds from its timestamp to the next
(the last row for the median step). For a job of power P (kW) and duration d starting at
s, emissions are

    kgCO2e(s) = P × ∫_s^{s+d} CI(t) dt / 1000        (CI in g/kWh, t in hours)

computed for every candidate start at once from the cumulative integral F(t) = ∫ CI, as
P × (F(s+d) − F(s)) / 1000 — exact for piecewise-constant CI. F is piecewise linear, so
kgCO2e(s) is piecewise linear in s, with breakpoints where s or s + d crosses a step
boundary t_k. Its minimum over every real start in [earliest, deadline − d] is therefore
at one of these candidates: the earliest start, the latest start deadline − d (a job may
end exactly at the deadline), each step boundary t_k in between, and each t_k − d in
between (the job ends on a step boundary). The optimum equals brute force over all start
times, not only over the profile's own clock (tests/test_shifting.py checks it against
``brute_force`` and a minute-by-minute scan). As in CATS and the Carbon Aware SDK, the
minimum rolling mean wins; ties (integrals within ``_tie_tolerance``) go to the earlier
start.

Shifting gains are reported apart from the annual inventory: annual inventories use annual
average factors, so moving a job in time does not change them (METHODOLOGY §6).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from audit.core.exceptions import InputError, Problem, ValidationError
from audit.reference.profiles import (
        hourly_profiles,  # the one reader of the shipped profiles
    )

# Column names of the exports consultants bring (Electricity Maps, NESO), in preference order.
KNOWN_SHAPES = [
    ("timestamp", "g_co2e_per_kwh"),
    ("Datetime (UTC)", "Carbon Intensity gCO₂eq/kWh (LCA)"),
    ("Datetime (UTC)", "Carbon intensity gCO₂eq/kWh (Life cycle)"),
    ("Datetime (UTC)", "Carbon Intensity gCO₂eq/kWh (direct)"),
    ("Datetime (UTC)", "Carbon intensity gCO₂eq/kWh (direct)"),
    ("from", "actual"),
    ("from", "forecast"),
    ("DATETIME", "CARBON_INTENSITY"),
    ("datetime", "carbon_intensity"),
]
TYPICAL_COUNTRIES = ("GBR", "FRA", "DEU")


@dataclass(frozen=True)
class ShiftResult:
    best_start: pd.Timestamp
    best_end: pd.Timestamp
    kgco2e_best: float
    kgco2e_earliest: float

    @property
    def saving_fraction(self) -> float:
        return 1.0 - self.kgco2e_best / self.kgco2e_earliest if self.kgco2e_earliest > 0 else 0.0

    def to_dict(self) -> dict:
        return {"best_start": self.best_start.isoformat(), "best_end": self.best_end.isoformat(),
                "kgco2e_best": self.kgco2e_best, "kgco2e_earliest": self.kgco2e_earliest,
                "saving_fraction": self.saving_fraction}


# --- profiles ---------------------------------------------------------------------------

def read_profile(path: str | Path) -> pd.Series:
    """An hourly-or-finer intensity series (UTC index, g/kWh) from a CSV in a known shape."""
    path = Path(path)
    name = str(path)
    if not path.exists():
        raise ValidationError([Problem(name, "file not found")])
    try:
        df = pd.read_csv(path, encoding="utf-8-sig")
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ValidationError([Problem(name, f"could not be read as a UTF-8 CSV: {type(exc).__name__}")]) from None
    df.columns = [str(c).strip() for c in df.columns]
    for ts_col, ci_col in KNOWN_SHAPES:
        if ts_col in df.columns and ci_col in df.columns:
            break
    else:
        raise ValidationError([Problem(name, "no timestamp/intensity columns found",
                                       hint="use 'timestamp,g_co2e_per_kwh' (UTC), an Electricity Maps export "
                                            "or a NESO carbon-intensity CSV")])
    ts = pd.to_datetime(df[ts_col], utc=True, errors="coerce", format="mixed")
    ci = pd.to_numeric(df[ci_col], errors="coerce")
    problems = [Problem(name, "not a date-time", row=int(i) + 2, column=ts_col) for i in np.flatnonzero(ts.isna())]
    problems += [Problem(name, "not a non-negative number", row=int(i) + 2, column=ci_col)
                 for i in np.flatnonzero(ci.isna() | (ci < 0) | ~np.isfinite(ci.fillna(0)))]
    if problems:
        raise ValidationError(problems[:50])
    series = pd.Series(ci.to_numpy(float), index=pd.DatetimeIndex(ts), name="g_co2e_per_kwh").sort_index()
    if series.index.has_duplicates:
        raise ValidationError([Problem(name, "timestamps repeat", column=ts_col)])
    if len(series) < 2:
        raise ValidationError([Problem(name, "needs at least two rows")])
    return series


def typical_profile(country: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.Series:
    """An hourly series built from the shipped month x UTC-hour means (Wiesner et al. 2021,
    year-2020 ENTSO-E series) for the span [start, end]."""
    prof = hourly_profiles()
    p = prof[prof["country"] == country.upper()]
    if p.empty:
        raise InputError(f"no shipped profile for '{country}'; shipped: {', '.join(TYPICAL_COUNTRIES)}")
    lookup = p.set_index(["month", "hour_utc"])["g_co2e_per_kwh"]
    idx = pd.date_range(start.floor("h"), end.ceil("h"), freq="h", tz="UTC")
    values = lookup.reindex(list(zip(idx.month, idx.hour))).to_numpy(float)
    return pd.Series(values, index=idx, name="g_co2e_per_kwh")


# --- optimiser ---------------------------------------------------------------------------

def _ns(series: pd.Series) -> pd.Series:
    """The same series on a nanosecond index (pandas 3 may default to microseconds)."""
    return series.set_axis(pd.DatetimeIndex(series.index).as_unit("ns"))


def _cumulative(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Knots t_i (hours since the first timestamp) and F(t_i) = ∫ CI dt (g·h/kWh) of the step
    function. Hours are counted from the series' start, not the epoch, so that whole-hour
    knots are exact floats and on-grid windows need no rounding."""
    stamps = series.index.asi8
    t = (stamps - stamps[0]) / 3.6e12  # ns -> hours
    step = np.median(np.diff(t))
    knots = np.append(t, t[-1] + step)
    F = np.concatenate([[0.0], np.cumsum(series.to_numpy(float) * np.diff(knots))])
    return knots, F


def _integral(knots: np.ndarray, F: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """∫_a^b CI dt for many intervals (F is piecewise linear, so interpolation is exact)."""
    return np.interp(b, knots, F) - np.interp(a, knots, F)


def _tie_tolerance(integral):
    """Windows whose integrals differ by less than this are ties (the earlier start wins).
    Applied to ∫CI dt, not to kgCO2e, so the chosen start never depends on the job's power."""
    return 1e-9 * np.abs(integral) + 1e-12


def best_start(series: pd.Series, duration_hours: float, earliest: pd.Timestamp, deadline: pd.Timestamp,
               power_kw: float = 1.0) -> ShiftResult:
    """The start in [earliest, deadline - duration] with the lowest emissions."""
    earliest, deadline = as_utc(earliest), as_utc(deadline)
    series = _ns(series)
    if duration_hours <= 0:
        raise InputError("--duration-hours must be positive")
    if power_kw < 0:
        raise InputError("--power-kw must not be negative")
    d_ns = int(round(duration_hours * 3.6e12))
    if deadline.value - d_ns < earliest.value:
        raise InputError(f"the job ({duration_hours:g} h) does not fit between {earliest.isoformat()} "
                         f"and {deadline.isoformat()}")
    stamps = series.index.asi8
    if not _covers(stamps, earliest.value, deadline.value):
        raise InputError(f"the profile covers {series.index[0].isoformat()} to "
                         f"{pd.Timestamp(_profile_end_ns(stamps), tz='UTC').isoformat()}, "
                         f"not the whole window {earliest.isoformat()} to {deadline.isoformat()}")
    start_ns, integral_best, integral_first = _solve(series, np.array([float(duration_hours)]),
                                                     np.array([earliest.value]), np.array([deadline.value]))
    start = pd.Timestamp(int(start_ns[0]), tz="UTC")
    return ShiftResult(start, start + pd.Timedelta(d_ns, "ns"), power_kw * float(integral_best[0]) / 1000.0,
                       power_kw * float(integral_first[0]) / 1000.0)


def best_starts(series: pd.Series, jobs: pd.DataFrame) -> pd.DataFrame:
    """``best_start`` for many jobs at once, with the same candidates, first-minimum and tie rule.

    ``jobs`` has columns duration_hours, earliest, deadline and optionally power_kw (default
    1). Returns best_start, best_end, kgco2e_best, kgco2e_earliest, saving_fraction per job.
    Cost: one cumulative integral, then for jobs on the profile's grid a lookup into rolling
    window sums (a sparse table when windows are long), so 1,000 jobs over a year of hours
    take milliseconds; see benchmarks/bench_shifting.py.
    """
    series = _ns(series)
    stamps = series.index.asi8
    dur_h = jobs["duration_hours"].to_numpy(float)
    power = jobs["power_kw"].to_numpy(float) if "power_kw" in jobs else np.ones(len(jobs))
    e_ns, d_ns = (_ns_array(jobs[c]) for c in ("earliest", "deadline"))
    dur_ns = np.round(dur_h * 3.6e12).astype(np.int64)
    if (dur_h <= 0).any() or (d_ns - dur_ns < e_ns).any():
        raise InputError("every job needs a positive duration that fits between its earliest start and deadline")
    if not _covers(stamps, e_ns, d_ns):
        raise InputError("the profile does not cover every job's window")
    start_ns, integral_best, integral_first = _solve(series, dur_h, e_ns, d_ns)
    start = pd.to_datetime(start_ns, utc=True)
    out = pd.DataFrame({"best_start": start, "best_end": start + pd.to_timedelta(dur_ns, "ns"),
                        "kgco2e_best": power * integral_best / 1000.0,
                        "kgco2e_earliest": power * integral_first / 1000.0}, index=jobs.index)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["saving_fraction"] = np.where(out["kgco2e_earliest"] > 0, 1 - out["kgco2e_best"] / out["kgco2e_earliest"], 0.0)
    return out


def _profile_end_ns(stamps: np.ndarray) -> int:
    """Where the profile ends (ns): its last row holds for the median step."""
    return int(stamps[-1] + int(np.median(np.diff(stamps))))


def _covers(stamps: np.ndarray, e_ns, d_ns) -> bool:
    """Whether the profile covers every window [earliest, deadline] (scalars or arrays, ns)."""
    return not (np.any(np.asarray(e_ns) < stamps[0]) or np.any(np.asarray(d_ns) > _profile_end_ns(stamps)))


def _solve(series: pd.Series, dur_h: np.ndarray, e_ns: np.ndarray, d_ns: np.ndarray):
    """Best start (ns), its ∫CI dt and the earliest start's ∫CI dt, per job (validated input).

    Candidates per job, as in the module docstring: the earliest start e, the latest start
    L = deadline − duration, every profile timestamp in (e, L], and every start t_k − d in
    (e, L) from which the job ends on a step boundary t_k. The earliest and latest starts are
    integrated by interpolation. On an evenly spaced profile, a job whose duration is a whole
    number m of steps has t_k − d = t_{k−m}, already a timestamp candidate, and those
    candidates are the rolling sums W_m[i] = F[i+m] − F[i], looked up by index (gathered, or
    from a sparse table of range minima when the windows are long). Every other job's
    timestamp and t_k − d candidates are interpolated, in chunks. The answer is the earliest
    candidate within the tie tolerance of the job's minimum over all of them.
    """
    stamps = series.index.asi8
    knots, F = _cumulative(series)
    n_jobs = len(dur_h)
    dur_ns = np.round(dur_h * 3.6e12).astype(np.int64)
    l_ns = d_ns - dur_ns                                          # latest start: ends at the deadline
    a_first = (e_ns - stamps[0]) / 3.6e12
    first = _integral(knots, F, a_first, a_first + dur_h)
    a_last = (l_ns - stamps[0]) / 3.6e12
    last = np.where(l_ns > e_ns, _integral(knots, F, a_last, a_last + dur_h), np.inf)
    low = np.minimum(first, last)                                 # each job's minimum so far
    # The best of each further group of candidates: its earliest start within the tolerance.
    grid_start, grid_val = np.full(n_jobs, _NO_START), np.full(n_jobs, np.inf)
    end_start, end_val = np.full(n_jobs, _NO_START), np.full(n_jobs, np.inf)

    lo = np.searchsorted(stamps, e_ns, side="right")              # first timestamp after earliest
    hi = np.searchsorted(stamps, l_ns, side="right") - 1          # last one that still fits
    has_grid = hi >= lo
    diffs = np.diff(stamps)
    step_ns = int(diffs[0]) if len(diffs) else 0
    if step_ns > 0 and (diffs == step_ns).all():
        m = np.where(dur_ns % step_ns == 0, dur_ns // step_ns, 0)
    else:
        m = np.zeros(n_jobs, dtype=np.int64)

    # Whole-step jobs on an even profile: timestamp candidates only, as rolling sums, one
    # width at a time (each width gathers or uses a sparse table, by its own windows).
    on_grid = np.flatnonzero(has_grid & (m > 0))
    for width in np.unique(m[on_grid]):
        sel = on_grid[m[on_grid] == width]
        W = F[width:] - F[:-width]
        p, low[sel] = _range_first_within(W, lo[sel], hi[sel], low[sel])
        _keep(grid_start, grid_val, sel, p, stamps[np.maximum(p, 0)], W[np.maximum(p, 0)])

    # Every other job: interpolate its timestamp starts and its starts t_k − d that end on a
    # step boundary before the deadline (those ending at the deadline are the latest start).
    off = np.flatnonzero(m == 0)
    if len(off):
        lo2 = np.searchsorted(stamps, e_ns + dur_ns, side="right")
        hi2 = np.searchsorted(stamps, d_ns, side="left") - 1
        n_grid = np.maximum(hi - lo + 1, 0)
        n_end = np.maximum(hi2 - lo2 + 1, 0)
        t = knots[:-1]
        for chunk in _chunks(off, n_grid[off] + n_end[off]):
            g = chunk[n_grid[chunk] > 0]
            e = chunk[n_end[chunk] > 0]
            if len(g):
                g_pos, g_off = _candidates(lo[g], n_grid[g])
                a = t[g_pos]
                g_val = _integral(knots, F, a, a + np.repeat(dur_h[g], n_grid[g]))
                low[g] = np.minimum(low[g], np.minimum.reduceat(g_val, g_off))
            if len(e):
                e_pos, e_off = _candidates(lo2[e], n_end[e])
                b = t[e_pos]
                e_val = _integral(knots, F, b - np.repeat(dur_h[e], n_end[e]), b)
                low[e] = np.minimum(low[e], np.minimum.reduceat(e_val, e_off))
            if len(g):
                k = _first_at_most(g_val, g_off, n_grid[g], _threshold(low[g]))
                _keep(grid_start, grid_val, g, k, stamps[g_pos[np.maximum(k, 0)]], g_val[np.maximum(k, 0)])
            if len(e):
                k = _first_at_most(e_val, e_off, n_end[e], _threshold(low[e]))
                kk = np.maximum(k, 0)
                _keep(end_start, end_val, e, k, stamps[e_pos[kk]] - dur_ns[e], e_val[kk])

    # The earliest candidate within the tolerance of each job's minimum.
    threshold = _threshold(low)
    start_ns = np.where(last <= threshold, l_ns, _NO_START)
    best = np.where(last <= threshold, last, np.inf)
    for s, v in ((end_start, end_val), (grid_start, grid_val)):
        earlier = s < start_ns
        start_ns, best = np.where(earlier, s, start_ns), np.where(earlier, v, best)
    take_first = first <= threshold
    return np.where(take_first, e_ns, start_ns), np.where(take_first, first, best), first


_NO_START = np.iinfo(np.int64).max
_CHUNK = 2_000_000  # interpolated candidates per chunk (bounds memory for long off-grid windows)


def _threshold(low):
    return low + _tie_tolerance(low)


def _keep(starts, values, jobs, k, start, value):
    """Record, for jobs[k >= 0], a group's chosen candidate (k < 0: nothing within the tolerance)."""
    found = k >= 0
    starts[jobs[found]] = start[found]
    values[jobs[found]] = value[found]


def _chunks(jobs: np.ndarray, cost: np.ndarray):
    """Consecutive runs of jobs whose total cost stays near _CHUNK (one job may exceed it)."""
    edges = np.searchsorted(np.cumsum(cost), np.arange(_CHUNK, int(cost.sum()), _CHUNK), side="right")
    return [c for c in np.split(jobs, np.unique(edges)) if len(c)]


def _first_within(values, offsets, count, floor):
    """Per group (consecutive runs of values), low = min(group minimum, floor) and the index of
    the group's first value within the tie tolerance of low (−1 if none)."""
    low = np.minimum(np.minimum.reduceat(values, offsets), floor)
    return _first_at_most(values, offsets, count, _threshold(low)), low


def _first_at_most(values, offsets, count, threshold):
    """Per group, the index of its first value <= its threshold, or −1."""
    near = np.flatnonzero(values <= np.repeat(threshold, count))
    if not len(near):
        return np.full(len(offsets), -1, dtype=np.int64)
    k = near[np.minimum(np.searchsorted(near, offsets), len(near) - 1)]
    return np.where((k >= offsets) & (k < offsets + count), k, -1)


def _range_first_within(W: np.ndarray, lo: np.ndarray, hi: np.ndarray, floor: np.ndarray):
    """Per query, low = min(min W[lo..hi], floor) and the first i in [lo, hi] with W[i] within
    the tie tolerance of low (−1 if none). Gathers every candidate when the windows are short
    in total (no more than len(W) × the sparse table's levels); otherwise uses the table."""
    length = hi - lo + 1
    if int(np.sum(length)) <= len(W) * int(np.max(length)).bit_length():
        return _gather_first_within(W, lo, hi, floor)
    return _sparse_first_within(W, lo, hi, floor)


def _gather_first_within(W: np.ndarray, lo: np.ndarray, hi: np.ndarray, floor: np.ndarray):
    """``_range_first_within`` by gathering every W[lo..hi] end to end."""
    length = hi - lo + 1
    pos, offsets = _candidates(lo, length)
    k, low = _first_within(W[pos], offsets, length, floor)
    return np.where(k >= 0, pos[np.maximum(k, 0)], -1), low


def _sparse_first_within(W: np.ndarray, lo: np.ndarray, hi: np.ndarray, floor: np.ndarray):
    """``_range_first_within`` answering each query in O(log n) from a sparse table of range
    minima (Bender & Farach-Colton 2000)."""
    length = hi - lo + 1
    n_levels = int(np.max(length)).bit_length()
    table = np.full((n_levels, len(W)), np.inf)  # table[k, i] = min W[i : i + 2^k]
    table[0] = W
    for k in range(1, n_levels):
        h = 1 << (k - 1)
        np.minimum(table[k - 1, :-h], table[k - 1, h:], out=table[k, :len(W) - h])
    k = np.frexp(length)[1] - 1  # floor(log2(length)), exact for integers
    low = np.minimum(np.minimum(table[k, lo], table[k, hi - (1 << k) + 1]), floor)
    threshold = _threshold(low)
    pos = lo.copy()
    for k in range(n_levels - 1, -1, -1):  # skip blocks that hold nothing at or below the threshold
        block = 1 << k
        fits = pos + block - 1 <= hi
        skip = fits & (table[k, np.minimum(pos, len(W) - 1)] > threshold)
        pos += np.where(skip, block, 0)
    return np.where(pos <= hi, pos, -1), low  # pos = hi + 1 when every block was skipped


def _candidates(lo: np.ndarray, count: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions lo..lo+count−1 of every query laid end to end, and where each query starts."""
    starts = np.cumsum(count) - count
    return np.arange(int(count.sum())) + np.repeat(lo - starts, count), starts


def _ns_array(values) -> np.ndarray:
    """UTC nanoseconds for a column of date-times (naive values are taken as UTC)."""
    idx = pd.DatetimeIndex(pd.to_datetime(values, utc=True)).as_unit("ns")
    return idx.asi8


def brute_force(series: pd.Series, duration_hours: float, earliest, deadline, power_kw: float = 1.0) -> ShiftResult:
    """Reference implementation, independent of the cumulative-array code: every candidate
    start of the module docstring (earliest, latest, each step boundary t_k and each t_k − d
    in range), each integrated in plain Python as Σ intensity × overlap, step by step; then
    the earliest start within the tie tolerance of the minimum."""
    earliest, deadline = as_utc(earliest), as_utc(deadline)
    series = _ns(series)
    stamps = [int(s) for s in series.index.asi8]
    bounds = stamps[1:] + [stamps[-1] + int(np.median(np.diff(stamps)))]  # each step's end
    values = [float(v) for v in series.to_numpy(float)]
    d_ns = int(round(duration_hours * 3.6e12))
    first, latest = earliest.value, deadline.value - d_ns
    boundaries = stamps + bounds[-1:]
    candidates = sorted({first, latest} | {t for t in boundaries if first <= t <= latest}
                        | {t - d_ns for t in boundaries if first <= t - d_ns <= latest})

    def integral(s: int) -> float:  # ∫_s^{s+d} CI dt in g·h/kWh
        total = 0.0
        for lo, hi, v in zip(stamps, bounds, values):
            overlap = min(hi, s + d_ns) - max(lo, s)
            if overlap > 0:
                total += v * overlap
        return total / 3.6e12

    totals = [integral(s) for s in candidates]
    low = min(totals)
    i = next(i for i, total in enumerate(totals) if total <= low + _tie_tolerance(low))
    start = pd.Timestamp(candidates[i], tz="UTC")
    return ShiftResult(start, start + pd.Timedelta(d_ns, "ns"), power_kw * totals[i] / 1000.0,
                       power_kw * totals[0] / 1000.0)


def as_utc(ts) -> pd.Timestamp:
    """A date-time as a UTC timestamp in nanoseconds: naive ones are read as UTC, others converted."""
    t = pd.Timestamp(ts)
    t = t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
    return t.as_unit("ns")
