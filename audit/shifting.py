"""Carbon-aware time shifting: when should a flexible job run?

A profile is piecewise constant: each row's intensity holds from its timestamp to the next
(the last row for the median step). For a job of power P (kW) and duration d starting at
s, emissions are

    kgCO2e(s) = P × ∫_s^{s+d} CI(t) dt / 1000        (CI in g/kWh, t in hours)

computed for every candidate start at once from the cumulative integral F(t) = ∫ CI, as
P × (F(s+d) − F(s)) / 1000 — exact for piecewise-constant CI, and equal to brute force
over all start times (tests/test_shifting.py). Candidates are the earliest start and every
profile timestamp from which the job ends by the deadline (a job may end exactly at it).
As in CATS and the Carbon Aware SDK, the minimum rolling mean wins; ties go to the earlier
start.

Shifting gains are reported apart from the annual inventory: annual inventories use annual
average factors, so moving a job in time does not change them (METHODOLOGY §6).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from audit.exceptions import InputError, Problem, ValidationError
from audit.paths import SOURCES_DIR

CANONICAL = ("timestamp", "g_co2e_per_kwh")
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
    prof = pd.read_csv(SOURCES_DIR / "hourly_profiles_2020.csv")
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
    """Knots t_i (hours since epoch) and F(t_i) = ∫ CI dt (g·h/kWh) of the step function."""
    t = series.index.asi8 / 3.6e12  # ns -> hours
    step = np.median(np.diff(t))
    knots = np.append(t, t[-1] + step)
    F = np.concatenate([[0.0], np.cumsum(series.to_numpy(float) * np.diff(knots))])
    return knots, F


def _integral(knots: np.ndarray, F: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """∫_a^b CI dt for many intervals (F is piecewise linear, so interpolation is exact)."""
    return np.interp(b, knots, F) - np.interp(a, knots, F)


def best_start(series: pd.Series, duration_hours: float, earliest: pd.Timestamp, deadline: pd.Timestamp,
               power_kw: float = 1.0) -> ShiftResult:
    """The start in [earliest, deadline - duration] with the lowest emissions."""
    earliest, deadline = _utc(earliest), _utc(deadline)
    series = _ns(series)
    if duration_hours <= 0:
        raise InputError("--duration-hours must be positive")
    if power_kw < 0:
        raise InputError("--power-kw must not be negative")
    d_ns = int(round(duration_hours * 3.6e12))
    latest = deadline.value - d_ns
    if latest < earliest.value:
        raise InputError(f"the job ({duration_hours:g} h) does not fit between {earliest.isoformat()} "
                         f"and {deadline.isoformat()}")
    knots, F = _cumulative(series)
    if earliest.value / 3.6e12 < knots[0] or deadline.value / 3.6e12 > knots[-1] + 1e-9:
        raise InputError(f"the profile covers {series.index[0].isoformat()} to "
                         f"{pd.Timestamp(int(knots[-1] * 3.6e12), tz='UTC').isoformat()}, "
                         f"not the whole window {earliest.isoformat()} to {deadline.isoformat()}")
    stamps = series.index.asi8
    cand = np.concatenate([[earliest.value], stamps[(stamps > earliest.value) & (stamps <= latest)]])
    a = cand / 3.6e12
    emissions = power_kw * _integral(knots, F, a, a + duration_hours) / 1000.0
    # First minimum within rounding: equal windows (ties) go to the earlier start.
    i = int(np.flatnonzero(emissions <= emissions.min() + _tie_tolerance(emissions.min()))[0])
    start = pd.Timestamp(int(cand[i]), tz="UTC")
    return ShiftResult(start, start + pd.Timedelta(d_ns, "ns"), float(emissions[i]), float(emissions[0]))


def best_starts(series: pd.Series, jobs: pd.DataFrame) -> pd.DataFrame:
    """``best_start`` for many jobs at once: one cumulative integral, every candidate of every
    job evaluated in a few vectorised operations (the same first-minimum and tie rule).

    ``jobs`` has columns duration_hours, earliest, deadline and optionally power_kw (default
    1). Returns best_start, best_end, kgco2e_best, kgco2e_earliest, saving_fraction per job.
    """
    series = _ns(series)
    knots, F = _cumulative(series)
    stamps = series.index.asi8
    dur_h = jobs["duration_hours"].to_numpy(float)
    power = jobs["power_kw"].to_numpy(float) if "power_kw" in jobs else np.ones(len(jobs))
    e_ns, d_ns = (_ns_array(jobs[c]) for c in ("earliest", "deadline"))
    dur_ns = np.round(dur_h * 3.6e12).astype(np.int64)
    latest = d_ns - dur_ns
    if (dur_h <= 0).any() or (latest < e_ns).any():
        raise InputError("every job needs a positive duration that fits between its earliest start and deadline")
    if (e_ns / 3.6e12 < knots[0]).any() or (d_ns / 3.6e12 > knots[-1] + 1e-9).any():
        raise InputError("the profile does not cover every job's window")
    # Candidates per job: the earliest start, then every profile timestamp in (earliest, latest].
    lo = np.searchsorted(stamps, e_ns, side="right")
    hi = np.searchsorted(stamps, latest, side="right")
    n_cand = 1 + np.maximum(hi - lo, 0)
    job = np.repeat(np.arange(len(jobs)), n_cand)
    first = np.cumsum(n_cand) - n_cand
    offset = np.arange(n_cand.sum()) - first[job]
    cand_ns = np.where(offset == 0, e_ns[job], stamps[np.minimum(lo[job] + offset - 1, len(stamps) - 1)])
    a = cand_ns / 3.6e12
    kg = power[job] * _integral(knots, F, a, a + dur_h[job]) / 1000.0
    best = np.minimum.reduceat(kg, first)
    ok = kg <= (best + _tie_tolerance_array(best))[job]
    pick = first + np.minimum.reduceat(np.where(ok, offset, np.iinfo(np.int64).max), first)
    start = pd.to_datetime(cand_ns[pick], utc=True)
    out = pd.DataFrame({"best_start": start, "best_end": start + pd.to_timedelta(dur_ns, "ns"),
                        "kgco2e_best": kg[pick], "kgco2e_earliest": kg[first]}, index=jobs.index)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["saving_fraction"] = np.where(out["kgco2e_earliest"] > 0, 1 - out["kgco2e_best"] / out["kgco2e_earliest"], 0.0)
    return out


def _ns_array(values) -> np.ndarray:
    """UTC nanoseconds for a column of date-times (naive values are taken as UTC)."""
    idx = pd.DatetimeIndex(pd.to_datetime(values, utc=True)).as_unit("ns")
    return idx.asi8


def _tie_tolerance_array(values: np.ndarray) -> np.ndarray:
    return 1e-9 * np.abs(values) + 1e-15


def brute_force(series: pd.Series, duration_hours: float, earliest, deadline, power_kw: float = 1.0) -> ShiftResult:
    """Reference implementation: for each start, sum intensity x overlap interval by interval."""
    earliest, deadline = _utc(earliest), _utc(deadline)
    series = _ns(series)
    t = series.index.asi8 / 3.6e12
    step = np.median(np.diff(t))
    ends = np.append(t[1:], t[-1] + step)
    values = series.to_numpy(float)
    d_ns = int(round(duration_hours * 3.6e12))
    latest = deadline.value - d_ns
    candidates = [earliest.value] + [s for s in series.index.asi8 if earliest.value < s <= latest]
    best = None
    first = None
    for s in candidates:
        a = s / 3.6e12
        b = a + duration_hours
        total = 0.0
        for lo, hi, v in zip(t, ends, values):
            overlap = min(hi, b) - max(lo, a)
            if overlap > 0:
                total += v * overlap
        kg = power_kw * total / 1000.0
        if first is None:
            first = kg
        if best is None or kg < best[1] - _tie_tolerance(best[1]):
            best = (s, kg)
    start = pd.Timestamp(int(best[0]), tz="UTC")
    return ShiftResult(start, start + pd.Timedelta(d_ns, "ns"), best[1], first)


def _tie_tolerance(value: float) -> float:
    return 1e-9 * abs(value) + 1e-15


def best_region(profiles: dict[str, pd.Series], duration_hours: float, earliest, deadline,
                power_kw: float = 1.0) -> dict[str, ShiftResult]:
    """Location shifting: the best start in each candidate region, for comparison."""
    return {name: best_start(s, duration_hours, earliest, deadline, power_kw) for name, s in profiles.items()}


def _utc(ts) -> pd.Timestamp:
    t = pd.Timestamp(ts)
    t = t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
    return t.as_unit("ns")
