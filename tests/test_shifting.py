"""Shifting optimiser: equals brute force on random profiles; contract of `audit shift`."""
import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from audit import shifting
from audit.cli import app
from audit.exceptions import InputError, ValidationError


def _profile(rng, n=96, freq="h", start="2025-01-01"):
    idx = pd.date_range(start, periods=n, freq=freq, tz="UTC")
    return pd.Series(rng.uniform(20, 500, n), index=idx)


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
    assert fast.best_start == slow.best_start
    assert fast.kgco2e_best == pytest.approx(slow.kgco2e_best, rel=1e-9)
    assert fast.kgco2e_earliest == pytest.approx(slow.kgco2e_earliest, rel=1e-9)


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


def test_cli_contract_json(tmp_path):
    idx = pd.date_range("2025-03-01", periods=48, freq="h", tz="UTC")
    values = 200 + 100 * np.sin(np.arange(48) / 24 * 2 * np.pi)
    path = tmp_path / "p.csv"
    pd.DataFrame({"timestamp": idx.strftime("%Y-%m-%dT%H:%M:%SZ"), "g_co2e_per_kwh": values}).to_csv(path, index=False)
    res = CliRunner().invoke(app, ["shift", "--profile", str(path), "--duration-hours", "4", "--earliest",
                                   "2025-03-01T02:00:00Z", "--deadline", "2025-03-02T06:00:00Z", "--power-kw", "3",
                                   "--format", "json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert set(out) == {"best_start", "best_end", "kgco2e_best", "kgco2e_earliest", "saving_fraction"}
    ref = shifting.brute_force(shifting.read_profile(path), 4, "2025-03-01T02:00:00Z", "2025-03-02T06:00:00Z", 3)
    assert pd.Timestamp(out["best_start"]) == ref.best_start
    assert out["kgco2e_best"] == pytest.approx(ref.kgco2e_best)
    assert out["saving_fraction"] == pytest.approx(1 - ref.kgco2e_best / ref.kgco2e_earliest)


def test_cli_bad_window_exits_2_without_traceback(tmp_path):
    res = CliRunner().invoke(app, ["shift", "--profile", "GBR", "--duration-hours", "30", "--earliest",
                                   "2025-03-01T00:00", "--deadline", "2025-03-01T10:00"])
    assert res.exit_code == 2 and "does not fit" in res.output and "Traceback" not in res.output


@pytest.mark.parametrize("seed", range(6))
def test_batch_api_equals_one_call_per_job(seed):
    rng = np.random.default_rng(100 + seed)
    s = _profile(rng, n=300, freq=["h", "30min"][seed % 2])
    rows = []
    for _ in range(40):
        dur = float(rng.choice([0.5, 1, 3, 6.5]))
        earliest = s.index[0] + pd.Timedelta(minutes=int(rng.integers(0, 3000)))
        deadline = earliest + pd.Timedelta(hours=dur + float(rng.uniform(0, 30)))
        rows.append({"duration_hours": dur, "earliest": earliest, "deadline": deadline,
                     "power_kw": float(rng.uniform(0.5, 4))})
    jobs = pd.DataFrame(rows)
    batch = shifting.best_starts(s, jobs)
    for i, j in jobs.iterrows():
        one = shifting.best_start(s, j.duration_hours, j.earliest, j.deadline, j.power_kw)
        assert batch.at[i, "best_start"] == one.best_start
        assert batch.at[i, "kgco2e_best"] == pytest.approx(one.kgco2e_best, rel=1e-12)
        assert batch.at[i, "kgco2e_earliest"] == pytest.approx(one.kgco2e_earliest, rel=1e-12)


def _naive_first_near_min(W, lo, hi):
    out = []
    for a, b in zip(lo, hi):
        window = W[a:b + 1]
        low = window.min()
        out.append(a + int(np.flatnonzero(window <= low + shifting._tie_tolerance(low))[0]))
    return np.array(out)


@pytest.mark.parametrize("seed", range(8))
def test_range_first_minimum_strategies_agree_with_naive_including_ties(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(50, 400))
    # Small integers make many exact ties; the rule is "earliest start among equal windows".
    W = rng.integers(0, 6, n).astype(float) * (1 + seed)
    lo = rng.integers(0, n, 200)
    hi = np.minimum(lo + rng.integers(0, n, 200), n - 1)
    expected = _naive_first_near_min(W, lo, hi)
    gathered, _ = shifting._first_near_min_gather(W, lo, hi - lo + 1)
    assert (gathered == expected).all()
    # Force the sparse-table path with one very long query among the short ones.
    lo2, hi2 = np.append(lo, 0), np.append(hi, n - 1)
    sparse, values = shifting._first_near_min(np.tile(W, 1), lo2, hi2)
    assert (sparse == np.append(expected, _naive_first_near_min(W, [0], [n - 1]))).all()
    assert (values == W[sparse]).all()


@pytest.mark.parametrize("freq", ["h", "30min"])
def test_batch_api_over_long_windows_equals_brute_force(freq):
    """Year-long windows take the sparse-table path; every job must still equal brute force."""
    rng = np.random.default_rng(7)
    s = _profile(rng, n=400, freq=freq)
    step = s.index[1] - s.index[0]
    rows = []
    for k in range(120):  # many jobs so that the windows are long in total
        dur = float(rng.choice([1, 2, 3.5, 5]))
        rows.append({"duration_hours": dur, "earliest": s.index[int(rng.integers(0, 40))],
                     "deadline": s.index[-1] + step, "power_kw": 2.0})
    jobs = pd.DataFrame(rows)
    batch = shifting.best_starts(s, jobs)
    for i in range(0, len(jobs), 15):  # brute force is slow; a sample suffices
        j = jobs.iloc[i]
        ref = shifting.brute_force(s, j.duration_hours, j.earliest, j.deadline, j.power_kw)
        assert batch.at[i, "best_start"] == ref.best_start
        assert batch.at[i, "kgco2e_best"] == pytest.approx(ref.kgco2e_best, rel=1e-9)
        assert batch.at[i, "kgco2e_earliest"] == pytest.approx(ref.kgco2e_earliest, rel=1e-9)


def test_constant_profile_keeps_the_earliest_start():
    idx = pd.date_range("2025-01-01", periods=200, freq="h", tz="UTC")
    s = pd.Series(np.full(200, 123.0), index=idx)
    jobs = pd.DataFrame({"duration_hours": [1.0, 4.0, 7.0], "earliest": [idx[3], idx[0], idx[10]],
                         "deadline": [idx[-1]] * 3})
    out = shifting.best_starts(s, jobs)
    assert list(out["best_start"]) == list(jobs["earliest"])
    assert (out["saving_fraction"] == 0).all()
