"""Shifting optimiser: equals brute force on random profiles (the `audit shift` command: test_cli_tools)."""
import zlib

import numpy as np
import pandas as pd
import pytest

from audit.analyses import shifting
from audit.core.exceptions import InputError, ValidationError


def _profile(rng, n=96, freq="h", start="2025-01-01"):
    """n random intensities (20-500 g/kWh) every ``freq`` from ``start``; freq="uneven":
    steps of 10 to 90 minutes, drawn first."""
    if freq == "uneven":
        gaps = rng.choice([10, 15, 30, 45, 60, 90], n - 1)
        idx = pd.DatetimeIndex(pd.Timestamp(start, tz="UTC") + pd.to_timedelta(np.r_[0, np.cumsum(gaps)], "min"))
    else:
        idx = pd.date_range(start, periods=n, freq=freq, tz="UTC")
    return pd.Series(rng.uniform(20, 500, n), index=idx)


def _random_jobs(rng, s, n, durations, end=None):
    """Up to n jobs on profile ``s``: a duration from ``durations``, an earliest start within
    3,000 minutes of the profile's start, up to 30 h of slack before the deadline, 0.5-4 kW.
    With ``end``, deadlines are capped there and jobs that then do not fit are left out."""
    rows = []
    for _ in range(n):
        dur = float(rng.choice(durations))
        earliest = s.index[0] + pd.Timedelta(minutes=int(rng.integers(0, 3000)))
        deadline = earliest + pd.Timedelta(hours=dur + float(rng.uniform(0, 30)))
        if end is not None:
            deadline = min(deadline, end)
            if deadline - earliest < pd.Timedelta(hours=dur):
                continue
        rows.append({"duration_hours": dur, "earliest": earliest, "deadline": deadline,
                     "power_kw": float(rng.uniform(0.5, 4))})
    return pd.DataFrame(rows)


def _assert_same_shift(got, ref, rel):
    """Same best start, and kgCO2e (best and earliest) within ``rel``; ``got`` is a
    ShiftResult or a row of best_starts."""
    assert got.best_start == ref.best_start
    assert got.kgco2e_best == pytest.approx(ref.kgco2e_best, rel=rel)
    assert got.kgco2e_earliest == pytest.approx(ref.kgco2e_earliest, rel=rel)


def _assert_batch_equals_one_call_per_job(s, jobs, brute_every=None):
    """best_starts over ``jobs`` equals one best_start call per job (1e-12 relative) and, for
    every ``brute_every``-th job, brute_force (1e-9 relative)."""
    batch = shifting.best_starts(s, jobs)
    for i, j in jobs.iterrows():
        one = shifting.best_start(s, j.duration_hours, j.earliest, j.deadline, j.power_kw)
        _assert_same_shift(batch.loc[i], one, rel=1e-12)
        if brute_every and i % brute_every == 0:
            ref = shifting.brute_force(s, j.duration_hours, j.earliest, j.deadline, j.power_kw)
            _assert_same_shift(batch.loc[i], ref, rel=1e-9)


@pytest.mark.parametrize("seed", range(25))
def test_optimiser_equals_brute_force_on_random_profiles(seed):
    rng = np.random.default_rng(seed)
    freq = ["h", "30min", "15min"][seed % 3]
    s = _profile(rng, n=120, freq=freq)
    duration = float(rng.choice([0.5, 1, 2.5, 3, 7.25, 12]))
    earliest = s.index[0] + pd.Timedelta(minutes=int(rng.integers(0, 200)))
    deadline = earliest + pd.Timedelta(hours=duration + float(rng.uniform(0, 20)))
    deadline = min(deadline, s.index[-1])
    if deadline - earliest < pd.Timedelta(hours=duration):
        pytest.skip("window shorter than the job for this draw")
    fast = shifting.best_start(s, duration, earliest, deadline, power_kw=2.0)
    slow = shifting.brute_force(s, duration, earliest, deadline, power_kw=2.0)
    _assert_same_shift(fast, slow, rel=1e-9)


def test_hand_computed_case_and_job_may_end_at_deadline():
    idx = pd.date_range("2025-01-01", periods=6, freq="h", tz="UTC")
    s = pd.Series([300, 300, 100, 50, 400, 400], index=idx)
    r = shifting.best_start(s, 2, idx[0], idx[0] + pd.Timedelta(hours=5), power_kw=1)
    assert r.best_start == idx[2] and r.best_end == idx[4]  # ends at 04:00 <= deadline 05:00
    assert r.kgco2e_best == pytest.approx((100 + 50) / 1000)
    assert r.kgco2e_earliest == pytest.approx(600 / 1000)
    assert r.saving_fraction == pytest.approx(0.75)
    exact = shifting.best_start(s, 2, idx[0], idx[4], power_kw=1)  # deadline exactly at the best end
    assert exact.best_end == idx[4]


def test_errors_are_clear():
    idx = pd.date_range("2025-01-01", periods=4, freq="h", tz="UTC")
    s = pd.Series([1.0, 2, 3, 4], index=idx)
    with pytest.raises(InputError, match="does not fit"):
        shifting.best_start(s, 5, idx[0], idx[3])
    with pytest.raises(InputError, match="profile covers"):
        shifting.best_start(s, 1, idx[0] - pd.Timedelta(hours=3), idx[2])


def test_typical_gb_profile_prefers_night_or_midday():
    start = pd.Timestamp("2025-06-10T00:00", tz="UTC")
    s = shifting.typical_profile("GBR", start, start + pd.Timedelta(days=2))
    r = shifting.best_start(s, 3, start + pd.Timedelta(hours=17), start + pd.Timedelta(hours=41))
    assert r.kgco2e_best <= r.kgco2e_earliest and 0 <= r.saving_fraction < 1


def test_reads_electricity_maps_and_neso_shapes(tmp_path):
    em = tmp_path / "em.csv"
    em.write_text("Datetime (UTC),Country,Carbon Intensity gCO₂eq/kWh (direct),Carbon Intensity gCO₂eq/kWh (LCA)\n"
                  "2025-01-01 00:00:00,GB,100,120\n2025-01-01 01:00:00,GB,80,90\n", encoding="utf-8")
    assert list(shifting.read_profile(em)) == [120, 90]  # life-cycle column preferred
    neso = tmp_path / "neso.csv"
    neso.write_text("from,to,forecast,actual,index\n2025-01-01T00:00Z,2025-01-01T00:30Z,150,140,moderate\n"
                    "2025-01-01T00:30Z,2025-01-01T01:00Z,130,135,moderate\n")
    assert list(shifting.read_profile(neso)) == [140, 135]
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,g_co2e_per_kwh\n2025-01-01T00:00Z,abc\nnot-a-date,5\n")
    with pytest.raises(ValidationError) as err:
        shifting.read_profile(bad)
    assert {(p.row, p.column) for p in err.value.problems} == {(2, "g_co2e_per_kwh"), (3, "timestamp")}


@pytest.mark.parametrize("seed", range(6))
def test_batch_api_equals_one_call_per_job(seed):
    rng = np.random.default_rng(100 + seed)
    s = _profile(rng, n=300, freq=["h", "30min"][seed % 2])
    _assert_batch_equals_one_call_per_job(s, _random_jobs(rng, s, 40, [0.5, 1, 3, 6.5]))


def _naive_first_near_min(W, lo, hi):
    out = []
    for a, b in zip(lo, hi):
        window = W[a:b + 1]
        low = window.min()
        out.append(a + int(np.flatnonzero(window <= low + shifting._tie_tolerance(low))[0]))
    return np.array(out)


@pytest.mark.parametrize("strategy", ["_gather_first_within", "_sparse_first_within"])
@pytest.mark.parametrize("seed", range(8))
def test_range_first_minimum_strategies_agree_with_naive_including_ties(seed, strategy):
    """Both halves of _range_first_within (gather, sparse table), called directly."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(50, 400))
    # Small integers make many exact ties; the rule is "earliest start among equal windows".
    W = rng.integers(0, 6, n).astype(float) * (1 + seed)
    lo = rng.integers(0, n, 200)
    hi = np.minimum(lo + rng.integers(0, n, 200), n - 1)
    # Plus one query over the whole of W (the sparse table's top level).
    lo, hi = np.append(lo, 0), np.append(hi, n - 1)
    expected = _naive_first_near_min(W, lo, hi)
    pos, low = getattr(shifting, strategy)(W, lo, hi, np.full(len(lo), np.inf))
    assert (pos == expected).all()
    assert (low == [W[a:b + 1].min() for a, b in zip(lo, hi)]).all()
    assert (W[pos] <= shifting._threshold(low)).all()


@pytest.mark.parametrize("freq", ["h", "30min"])
def test_batch_api_over_long_windows_equals_brute_force(freq):
    """Year-long windows take the sparse-table path; every job must still equal one best_start
    call, and a sample of them brute force."""
    rng = np.random.default_rng(7)
    s = _profile(rng, n=400, freq=freq)
    step = s.index[1] - s.index[0]
    rows = []
    for k in range(120):  # many jobs so that the windows are long in total
        dur = float(rng.choice([1, 2, 3.5, 5]))
        rows.append({"duration_hours": dur, "earliest": s.index[int(rng.integers(0, 40))],
                     "deadline": s.index[-1] + step, "power_kw": 2.0})
    # Brute force is slow: every 15th job suffices.
    _assert_batch_equals_one_call_per_job(s, pd.DataFrame(rows), brute_every=15)


def test_constant_profile_keeps_the_earliest_start():
    idx = pd.date_range("2025-01-01", periods=200, freq="h", tz="UTC")
    s = pd.Series(np.full(200, 123.0), index=idx)
    jobs = pd.DataFrame({"duration_hours": [1.0, 4.0, 7.0], "earliest": [idx[3], idx[0], idx[10]],
                         "deadline": [idx[-1]] * 3})
    out = shifting.best_starts(s, jobs)
    assert list(out["best_start"]) == list(jobs["earliest"])
    assert (out["saving_fraction"] == 0).all()


# --- every real start time: breakpoints where the job starts OR ends on a step boundary -------

def _decreasing_day():
    idx = pd.date_range("2025-01-01", periods=24, freq="h", tz="UTC")
    return pd.Series(1000.0 - 40 * np.arange(24), index=idx)


@pytest.mark.parametrize("duration, earliest, deadline, start, kg", [
    (1, "2025-01-01T00:00Z", "2025-01-01T23:30Z", "2025-01-01T22:30Z", 0.10),   # latest start, off the grid
    (2.5, "2025-01-01T00:30Z", "2025-01-01T23:00Z", "2025-01-01T20:30Z", 0.38),  # ends exactly at the deadline
])
def test_off_grid_optimum_is_found(duration, earliest, deadline, start, kg):
    s = _decreasing_day()
    for r in (shifting.best_start(s, duration, earliest, deadline, power_kw=1),
              shifting.brute_force(s, duration, earliest, deadline, power_kw=1)):
        assert r.best_start == pd.Timestamp(start)
        assert r.best_end == pd.Timestamp(start) + pd.Timedelta(hours=duration)
        assert r.kgco2e_best == pytest.approx(kg, rel=1e-12)
    jobs = pd.DataFrame({"duration_hours": [float(duration)], "earliest": [pd.Timestamp(earliest)],
                         "deadline": [pd.Timestamp(deadline)]})
    batch = shifting.best_starts(s, jobs)
    assert batch.at[0, "best_start"] == pd.Timestamp(start)
    assert batch.at[0, "kgco2e_best"] == pytest.approx(kg, rel=1e-12)


def test_flat_stretch_keeps_its_earliest_start():
    """A job shorter than a step costs the same anywhere inside one step: the earliest such start wins."""
    idx = pd.date_range("2025-01-01", periods=4, freq="h", tz="UTC")
    s = pd.Series([300.0, 100, 100, 300], index=idx)
    r = shifting.best_start(s, 0.5, "2025-01-01T00:10Z", "2025-01-01T03:50Z")
    assert r.best_start == pd.Timestamp("2025-01-01T01:00Z") and r.kgco2e_best == pytest.approx(0.05)
    r = shifting.best_start(s, 0.5, "2025-01-01T01:20Z", "2025-01-01T03:50Z")
    assert r.best_start == pd.Timestamp("2025-01-01T01:20Z") and r.saving_fraction == 0


def _scan_kg(series, starts_min, duration_min, power_kw):
    """kgCO2e for each start (minutes after the first timestamp), as Σ intensity × overlap over
    the steps, on a dense matrix: independent of the optimiser's cumulative arrays."""
    lo = ((series.index - series.index[0]) / pd.Timedelta(minutes=1)).to_numpy(float)
    hi = np.append(lo[1:], lo[-1] + np.median(np.diff(lo)))
    a = np.asarray(starts_min, float)[:, None]
    overlap = np.clip(np.minimum(hi, a + duration_min) - np.maximum(lo, a), 0, None)
    return power_kw * (overlap @ series.to_numpy(float)) / 60 / 1000


@pytest.mark.parametrize("seed", range(40))
def test_optimum_over_every_start_time(seed):
    """best_start equals brute_force, and no start on a dense minute-by-minute scan beats it."""
    rng = np.random.default_rng(1000 + seed)
    kind = ["h", "30min", "15min", "uneven"][seed % 4]
    s = _profile(rng, n=int(rng.integers(40, 120)), freq=kind)
    step_min = float(np.median(np.diff(s.index.as_unit("ns").asi8)) / 6e10)
    span_min = (s.index[-1] - s.index[0]) / pd.Timedelta(minutes=1) + step_min
    if seed % 2:  # a whole number of steps (on an uneven profile, of the median step)
        duration_min = step_min * int(rng.integers(1, 8))
    else:         # not a whole number of steps
        duration_min = float(rng.choice([20, 25, 50, 75, 100, 150, 215, 435]))
        duration_min += step_min if duration_min % step_min == 0 else 0
    if seed % 3 == 0:   # earliest on a timestamp, deadline on one (or the profile's end)
        earliest_min = (s.index[int(rng.integers(0, len(s) // 3))] - s.index[0]) / pd.Timedelta(minutes=1)
        ends = [(t - s.index[0]) / pd.Timedelta(minutes=1) for t in s.index] + [span_min]
        later = [t for t in ends if t >= earliest_min + duration_min]
        deadline_min = later[int(rng.integers(0, len(later)))]
    else:               # both off the grid, on whole minutes
        earliest_min = float(rng.integers(0, int(span_min // 3)))
        deadline_min = float(rng.integers(int(earliest_min + duration_min), int(span_min) + 1))
    t0 = s.index[0]
    earliest, deadline = t0 + pd.Timedelta(minutes=earliest_min), t0 + pd.Timedelta(minutes=deadline_min)
    duration = duration_min / 60
    fast = shifting.best_start(s, duration, earliest, deadline, power_kw=1.5)
    slow = shifting.brute_force(s, duration, earliest, deadline, power_kw=1.5)
    _assert_same_shift(fast, slow, rel=1e-9)
    scan = _scan_kg(s, np.arange(earliest_min, deadline_min - duration_min + 1), duration_min, 1.5)
    assert scan.min() >= fast.kgco2e_best * (1 - 1e-9)
    # Every candidate lies on a whole minute here, so the scan also reaches the optimum.
    assert scan.min() == pytest.approx(fast.kgco2e_best, rel=1e-9)
    assert scan[0] == pytest.approx(fast.kgco2e_earliest, rel=1e-9)


@pytest.mark.parametrize("kind", ["h", "30min", "15min", "uneven"])
@pytest.mark.parametrize("chunk", [None, 50])
def test_batch_api_equals_one_call_per_job_off_grid(kind, chunk, monkeypatch):
    """Many jobs at once (durations on and off the step, windows on and off the grid) equal
    one best_start call per job; chunk=50 forces the interpolated candidates into chunks."""
    if chunk:
        monkeypatch.setattr(shifting, "_CHUNK", chunk)
    rng = np.random.default_rng(zlib.crc32(kind.encode()) % 1000)  # not hash(): salted per process
    s = _profile(rng, n=250, freq=kind)
    step = np.median(np.diff(s.index.as_unit("ns").asi8))
    end = s.index[-1] + pd.Timedelta(int(step), "ns")
    jobs = _random_jobs(rng, s, 60, [0.25, 0.5, 1, 1 / 3, 2.5, 4, 6.75], end=end)
    _assert_batch_equals_one_call_per_job(s, jobs, brute_every=10)
