"""Monte Carlo uncertainty: split-lognormal lines, independent, summed per scope."""
from __future__ import annotations

import json
import math
import time

import numpy as np
import pandas as pd
import pytest

from audit.methods.montecarlo import Z975, analytic_percentile, sample_split_lognormal, simulate, split_lognormal_sigmas
from audit.inventory.results import independent_range
from tests.helpers import sample_estimate, sample_results_without_feasibility


def lines(rows):
    return pd.DataFrame(rows, columns=["kgco2e_low", "kgco2e", "kgco2e_high", "scope"])


@pytest.fixture(scope="module")
def sample_lines():
    return sample_estimate().lines


def test_each_line_reproduces_its_own_low_central_high():
    rng = np.random.default_rng(1)
    x = sample_split_lognormal([2.0], [10.0], [80.0], 400_000, rng)[0]
    assert np.percentile(x, 2.5) == pytest.approx(2.0, rel=0.01)
    assert np.median(x) == pytest.approx(10.0, rel=0.005)
    assert np.percentile(x, 97.5) == pytest.approx(80.0, rel=0.02)


@pytest.mark.parametrize("low,central,high", [(5.0, 10.0, 20.0), (8.0, 10.0, 10.0), (10 / 1.1, 10.0, 11.0)])
def test_one_line_converges_to_the_analytic_lognormal(low, central, high):
    out = simulate(lines([(low, central, high, 2)]), n=200_000, seed=3)
    for q in (5, 50, 95):
        expected = analytic_percentile(low, central, high, q)
        assert out[f"total_p{q}"] == pytest.approx(expected, rel=0.01), q
        assert out["by_scope"]["scope2_location"][f"p{q}"] == out[f"total_p{q}"]
    if low * high == pytest.approx(central ** 2):  # symmetric in log space: an ordinary lognormal
        sigma = math.log(high / central) / Z975
        assert out["total_p95"] == pytest.approx(central * math.exp(1.6448536 * sigma), rel=0.01)
        assert out["total_mean"] == pytest.approx(central * math.exp(sigma ** 2 / 2), rel=0.01)


def test_sigmas_by_hand():
    s_lo, s_hi = split_lognormal_sigmas([5.0, 0.0, 3.0, 0.0], [10.0, 10.0, 3.0, 0.0], [40.0, 20.0, 3.0, 0.0])
    assert s_lo[0] == pytest.approx(math.log(2) / Z975) and s_hi[0] == pytest.approx(math.log(4) / Z975)
    assert s_lo[1] == s_hi[1] == pytest.approx(math.log(2) / Z975)  # low 0: upper sigma both sides
    assert s_lo[2] == s_hi[2] == 0 and s_lo[3] == s_hi[3] == 0


def test_percentiles_bracket_the_central_and_sit_inside_the_correlated_bounds(sample_lines):
    out = simulate(sample_lines)
    central = sample_lines["kgco2e"].sum()
    assert out["total_p5"] < central < out["total_p95"]
    assert out["total_p5"] <= out["total_p50"] <= out["total_p95"]
    assert out["total_p5"] >= sample_lines["kgco2e_low"].sum()  # independent errors partly cancel
    assert out["total_p95"] <= sample_lines["kgco2e_high"].sum()
    assert out["central"] == pytest.approx(central, rel=1e-12)
    for g, s in (("scope1", 1), ("scope2_location", 2), ("scope3", 3)):
        sub = sample_lines[sample_lines["scope"] == s]
        p = out["by_scope"][g]
        assert sub["kgco2e_low"].sum() <= p["p5"] <= p["p50"] <= p["p95"] <= sub["kgco2e_high"].sum() + 1e-9
    # Sums of the per-scope draws are the total's draws: the means add up.
    assert sum(p["mean"] for p in out["by_scope"].values()) == pytest.approx(out["total_mean"], rel=1e-12)


def test_reproducible_with_a_seed(sample_lines):
    a, b = simulate(sample_lines, n=5000, seed=42), simulate(sample_lines, n=5000, seed=42)
    assert a == b
    assert simulate(sample_lines, n=5000, seed=43)["total_p95"] != a["total_p95"]


def test_chunking_does_not_change_the_draws(monkeypatch, sample_lines):
    import audit.methods.montecarlo as mc

    whole = simulate(sample_lines, n=2000, seed=7)
    monkeypatch.setattr(mc, "_CHUNK", 7)
    assert simulate(sample_lines, n=2000, seed=7)["total_p50"] == pytest.approx(whole["total_p50"], rel=1e-12)


def test_constant_lines_give_a_constant_total():
    out = simulate(lines([(1.0, 1.0, 1.0, 1), (2.0, 2.0, 2.0, 3), (0.0, 0.0, 0.0, 3)]), n=100)
    assert out["total_p5"] == out["total_p95"] == pytest.approx(3.0)


def test_cheap_enough_to_run_with_every_estimate(sample_lines):
    simulate(sample_lines)
    t0 = time.perf_counter()
    simulate(sample_lines, n=10000)
    assert time.perf_counter() - t0 < 0.5  # ~20 ms; generous for loaded CI machines


def test_results_carry_it_and_results_json_reports_it():
    r = sample_results_without_feasibility()
    mc = r.extras["monte_carlo"]
    assert mc["n"] == 10000 and mc["seed"] == 0
    doc = r.to_json_dict(include_feasibility=False)
    u = doc["uncertainty"]
    assert {"method", "n", "seed", "total_p5", "total_p50", "total_p95", "independent_range_low",
            "independent_range_high"} <= set(u)
    lo, hi = independent_range(r.lines)
    assert (u["independent_range_low"], u["independent_range_high"]) == (pytest.approx(lo), pytest.approx(hi))
    assert u["total_p5"] == mc["total_p5"] and "split-lognormal" in u["method"]
    json.dumps(doc, allow_nan=False)
