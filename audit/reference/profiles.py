"""Hourly grid-intensity profiles: the one reader of the shipped month × UTC-hour table."""
from __future__ import annotations

from functools import lru_cache

import pandas as pd

from audit.core.paths import SOURCES_DIR

HOURLY_PROFILES_FILE = SOURCES_DIR / "hourly_profiles_2020.csv"


@lru_cache(maxsize=1)
def hourly_profiles() -> pd.DataFrame:
    """Mean gCO2e/kWh by country x month x UTC hour (Wiesner et al. 2021, year 2020)."""
    return pd.read_csv(HOURLY_PROFILES_FILE)
