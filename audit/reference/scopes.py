"""GHG Protocol scope mapping. The rules are data (data/scope_rules.csv); this module only
looks them up, so a methodologist can change a mapping without touching code."""
from __future__ import annotations

from functools import lru_cache

import pandas as pd

from audit.core.paths import KINDS_FILE, SCOPE_RULES_FILE

SCOPE3_CATEGORY_NAMES = {
    1: "Purchased goods and services", 2: "Capital goods", 3: "Fuel- and energy-related activities",
    4: "Upstream transportation and distribution", 5: "Waste generated in operations",
    6: "Business travel", 7: "Employee commuting", 8: "Upstream leased assets",
    9: "Downstream transportation and distribution", 10: "Processing of sold products",
    11: "Use of sold products", 12: "End-of-life treatment of sold products",
    13: "Downstream leased assets", 14: "Franchises", 15: "Investments",
}


@lru_cache(maxsize=1)
def scope_rules() -> pd.DataFrame:
    df = pd.read_csv(SCOPE_RULES_FILE, dtype={"scope3_category": "Int64"})
    if df.duplicated(["kind", "ownership"]).any():
        raise ValueError(f"{SCOPE_RULES_FILE}: a (kind, ownership) pair appears twice")
    return df


@lru_cache(maxsize=1)
def kinds_table() -> pd.DataFrame:
    return pd.read_csv(KINDS_FILE, keep_default_na=False).set_index("kind")


@lru_cache(maxsize=1)
def _ownership_by_kind() -> dict[str, tuple[str, ...]]:
    return {str(k): tuple(g) for k, g in scope_rules().groupby("kind", sort=False)["ownership"]}


def allowed_ownership(kind: str) -> list[str]:
    """Ownerships scope_rules.csv has a rule for, in file order (asked once per activity row)."""
    return list(_ownership_by_kind().get(kind, ()))


def map_scopes(activities: pd.DataFrame) -> pd.DataFrame:
    """Add ``scope, scope3_category, scope_category_name, scope_rationale`` by (kind, ownership).

    Vectorised as a merge; a pair with no rule is caught by intake validation first.
    """
    rules = scope_rules().rename(columns={"category_name": "scope_category_name",
                                          "rationale": "scope_rationale"})
    out = activities.merge(rules, on=["kind", "ownership"], how="left", validate="many_to_one")
    out.index = activities.index
    return out
