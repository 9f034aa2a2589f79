"""Monte Carlo propagation of the lines' ranges to the total and to each scope.

Each emission line has a central value c and a 95 % range [low, high] (estimate.py: the
method's published range combined with the pedigree data-quality factor, in log space).
We read low and high as the 2.5th and 97.5th percentiles of a **split lognormal** with
median c:

    ln X = ln c + σ_lo · Z  if Z < 0,   ln c + σ_hi · Z  if Z ≥ 0,   Z ~ N(0, 1)
    σ_lo = ln(c / low) / 1.95996,       σ_hi = ln(high / c) / 1.95996

so each line reproduces its own low, central and high exactly (an ordinary lognormal
would force a symmetric range in log space; our ranges are often one-sided, e.g. TDP
utilisation 0.5-1.0 around 1.0). Lines are sampled independently (the opposite
assumption to the fully correlated sum of bounds in ``totals``; IPCC 2006 Vol. 1 Ch. 3
Approach 2), vectorised with numpy, and summed per scope; the 5th, 50th and 95th
percentiles are reported. Market-based Scope 2 is not sampled (its lines have no range).

Limits: independence understates the spread where lines share a factor (one grid factor,
one PUE); the fully correlated ``kgco2e_low/high`` of the totals is the other bound. A line
whose low is 0 (no lower information) uses its upper σ on both sides.
"""
from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pandas as pd

Z975 = 1.959963984540054  # standard normal 97.5th percentile: low/high are the 2.5/97.5 percentiles
METHOD = "split-lognormal Monte Carlo, lines independent (low/high = 2.5th/97.5th percentiles, median = central)"
SCOPE_GROUPS = {"scope1": 1, "scope2_location": 2, "scope3": 3}
_CHUNK = 512  # lines sampled at once (memory: CHUNK x n floats)


def split_lognormal_sigmas(low, central, high) -> tuple[np.ndarray, np.ndarray]:
    """(σ_lo, σ_hi) in log space so that low / high are the 2.5 / 97.5 percentiles around the
    median ``central``. Zero-width sides give σ = 0; a non-positive low borrows σ_hi."""
    low, central, high = (np.asarray(x, float) for x in (low, central, high))
    pos = central > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        s_hi = np.where(pos & (high > central), np.log(high / central) / Z975, 0.0)
        s_lo = np.where(pos & (low > 0) & (low < central), np.log(central / low) / Z975, 0.0)
    s_lo = np.where(pos & (low <= 0), s_hi, s_lo)
    return s_lo, s_hi


def sample_split_lognormal(low, central, high, n: int, rng: np.random.Generator) -> np.ndarray:
    """Draws of shape (lines, n); a line with central <= 0 is a constant (its central)."""
    central = np.asarray(central, float)
    s_lo, s_hi = split_lognormal_sigmas(low, central, high)
    z = rng.standard_normal((len(central), n))
    scale = np.where(z < 0, s_lo[:, None], s_hi[:, None])
    return np.where(central[:, None] > 0, central[:, None] * np.exp(z * scale), central[:, None])


def _percentiles(x: np.ndarray, wide: bool = False) -> dict[str, float]:
    qs = [2.5, 5, 50, 95, 97.5] if wide else [5, 50, 95]
    out = {f"p{q:g}".replace(".", "_"): float(v) for q, v in zip(qs, np.percentile(x, qs))}
    out["mean"] = float(x.mean())
    return out


def simulate(lines: pd.DataFrame, n: int = 10000, seed: int = 0) -> dict:
    """p5 / p50 / p95 of the total (location-based) and per scope, from ``n`` independent
    split-lognormal draws per line. Reproducible: the same lines and seed give the same numbers."""
    if n < 1:
        raise ValueError("n must be at least 1")
    rng = np.random.default_rng(seed)
    c = np.nan_to_num(lines["kgco2e"].to_numpy(float))
    lo = np.nan_to_num(lines["kgco2e_low"].to_numpy(float))
    hi = np.nan_to_num(lines["kgco2e_high"].to_numpy(float))
    scope = lines["scope"].to_numpy()
    sums = {g: np.zeros(n) for g in SCOPE_GROUPS}
    for start in range(0, len(c), _CHUNK):
        sl = slice(start, start + _CHUNK)
        draws = sample_split_lognormal(lo[sl], c[sl], hi[sl], n, rng)
        for g, s in SCOPE_GROUPS.items():
            mask = scope[sl] == s
            if mask.any():
                sums[g] += draws[mask].sum(axis=0)
    total = sum(sums.values())
    out = {"method": METHOD, "n": int(n), "seed": int(seed)}
    t = _percentiles(total, wide=True)  # 2.5/97.5 too, to compare with the 95 % ranges
    out.update({f"total_{k}": v for k, v in t.items()})
    out["by_scope"] = {g: _percentiles(v) for g, v in sums.items()}
    out["central"] = float(c.sum())
    return out


def analytic_percentile(low: float, central: float, high: float, q: float) -> float:
    """The q-th percentile (0-100) of one line's split lognormal (for checks and docs)."""
    z = NormalDist().inv_cdf(q / 100)
    s_lo, s_hi = (float(v[0]) for v in split_lognormal_sigmas([low], [central], [high]))
    return central * math.exp(z * (s_lo if z < 0 else s_hi))
