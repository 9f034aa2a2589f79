"""Precision per watt: emissions per accepted asset, and the share spent on generations that
were thrown away, per stage (generative kinds, data/kinds.csv ``generative = yes``)."""
from __future__ import annotations

import pandas as pd

from audit.reference.vocabularies import generative_kinds

GENERATIVE_KINDS = generative_kinds()  # data/kinds.csv, generative = yes


def precision_per_watt(lines: pd.DataFrame) -> list[dict]:
    """Emissions per accepted asset and the share spent on discarded generations, per stage."""
    gen = lines[lines["kind"].isin(GENERATIVE_KINDS) & (lines["derived_from"] == "")]
    out = []
    for stage, g in gen.groupby("stage", sort=False):
        af = g["accepted_fraction"].fillna(1.0).astype(float)
        accepted = float((g["quantity_base"] * af).sum())
        wasted_kg = float((g["kgco2e"] * (1 - af)).sum())
        out.append({"stage": stage, "generated": float(g["quantity_base"].sum()), "accepted": accepted,
                    "kgco2e": float(g["kgco2e"].sum()), "kgco2e_per_accepted": float(g["kgco2e"].sum()) / accepted
                    if accepted else None, "discarded_share_kgco2e": wasted_kg / float(g["kgco2e"].sum())
                    if g["kgco2e"].sum() else None, "kwh_per_accepted": float(g["kwh"].sum()) / accepted
                    if accepted else None})
    return out
