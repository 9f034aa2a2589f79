"""Uncertainty of a line: the method's own range widened by the data-quality factor."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from audit.core.paths import DATA_DIR


def combine_log_bounds(central, low, high, k95):
    """Combine a method range with a data-quality factor k95 in log space (independent
    multiplicative errors add in quadrature of their logs). Returns (low, high)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ln_lo = np.where((central > 0) & (low > 0), np.log(central / low), 0.0)
        ln_hi = np.where((central > 0) & (high > 0), np.log(high / central), 0.0)
    ln_k = np.log(k95)
    lo = central * np.exp(-np.sqrt(ln_lo ** 2 + ln_k ** 2))
    hi = central * np.exp(np.sqrt(ln_hi ** 2 + ln_k ** 2))
    return np.minimum(lo, central), np.maximum(hi, central)


@lru_cache(maxsize=1)
def uncertainty_k95() -> dict[int, float]:
    """Data quality (1-5) -> k95, the pedigree-matrix factor of data/uncertainty.csv."""
    df = pd.read_csv(DATA_DIR / "uncertainty.csv")
    return dict(zip(df["data_quality"].astype(int), df["k95"].astype(float)))
