"""The forecast: business as usual and with the chosen options, for the base year and each
forecast year (docs/methodology.md, Feasibility), and the forecast settings every feasibility
analysis uses (data/forecast_defaults.yaml with the engagement's ``forecast:`` overrides).

    BAU multiplier after t years = (1+g)^t × (1−d)^t × (1−e)^t
    (g usage growth by stage or kind, d grid decarbonisation by country, e model efficiency,
    generative kinds only)

Options that act on the same activity are combined, not added (:func:`combined_abatement`).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from audit.analyses.interventions import InterventionResult
from audit.inventory.results import parent_key
from audit.reference.settings import forecast_defaults
from audit.reference.vocabularies import generative_kinds

GENERATIVE_KINDS = generative_kinds()  # data/kinds.csv, generative = yes


def settings(engagement) -> dict:
    """Forecast defaults with the engagement's overrides applied."""
    d = {k: (dict(v) if isinstance(v, dict) else v) for k, v in forecast_defaults().items()}
    o = engagement.forecast
    for key in ("years", "model_efficiency_per_year", "electricity_price_per_kwh", "day_rate"):
        if getattr(o, key) is not None:
            d[key] = getattr(o, key)
    d["usage_growth_per_year"].update(o.usage_growth_per_year)
    d["grid_decarbonisation_per_year"].update(o.grid_decarbonisation_per_year)
    d["unit_costs"] = {k: dict(v) for k, v in d.get("unit_costs", {}).items()}
    for key, value in (getattr(o, "unit_costs", None) or {}).items():  # once ForecastSettings has it
        entry = d["unit_costs"].setdefault(key, {"unit": "", "basis": ""})
        entry.update({"value": float(value), "basis": "engagement override (forecast.unit_costs)"})
    if getattr(o, "impact_threshold_share", None) is not None:
        d["impact_threshold_share"] = o.impact_threshold_share
    return d


# The forecast assumptions a reader needs to judge the lines (notebook 03 and the reports).
FORECAST_KEYS = ("years", "usage_growth_per_year", "model_efficiency_per_year", "grid_decarbonisation_per_year",
                 "electricity_price_per_kwh", "day_rate")


def forecast_assumptions(settings_: dict) -> dict:
    """The headline forecast settings (``FORECAST_KEYS``) of the settings an analysis used."""
    return {k: settings_[k] for k in FORECAST_KEYS}


def growth_multiplier(years: int, usage_growth: float, decarbonisation: float, efficiency: float) -> float:
    """BAU multiplier after ``years``: (1+g)^t x (1-d)^t x (1-e)^t."""
    return (1 + usage_growth) ** years * (1 - decarbonisation) ** years * (1 - efficiency) ** years


def combined_abatement(lines: pd.DataFrame, cuts: list[pd.Series], periods_per_year: float = 1.0) -> pd.Series:
    """kgCO2e a year the chosen options abate together, per baseline activity (parent key).

    Options that act on the same activity do not add up (local crew and fewer hotel nights
    both cut the same nights): each removes its share of what is left,

        remaining = base × Π (1 − min(cut_i / base, 1)),   abated = base − remaining

    so the plan never removes more than the activity emits."""
    if not cuts:
        return pd.Series(dtype=float)
    base = lines.groupby(parent_key(lines))["kgco2e"].sum() * float(periods_per_year)  # a year, like the cuts
    frame = pd.concat(cuts, axis=1).fillna(0.0)
    out = {}
    for key, row in frame.iterrows():
        b = float(base.get(key, 0.0))
        if b <= 0:
            out[key] = float(row.sum())
            continue
        remaining = b * float(np.prod([1 - min(max(v / b, 0.0), 1.0) if v >= 0 else 1 - v / b for v in row]))
        out[key] = b - remaining
    return pd.Series(out, dtype=float)


def forecast(results, chosen: list[InterventionResult], settings_: dict) -> list[dict]:
    """BAU and with-plan emissions for the base year and each forecast year. With
    ``period_type: campaign`` the base is one campaign × campaigns a year."""
    lines = results.lines
    base_year = results.engagement.reporting_year or 0
    growth = settings_["usage_growth_per_year"]
    decarb = settings_["grid_decarbonisation_per_year"]
    eff = settings_["model_efficiency_per_year"]
    parent = parent_key(lines)
    abated = combined_abatement(lines, [c.abated_by_line for c in chosen], results.engagement.periods_per_year)
    out = []
    # Growth by stage where the engagement gives one for the line's stage, else by kind.
    line_growth = [growth.get(s, growth.get(k, 0.0)) for s, k in zip(lines["stage"], lines["kind"])]
    for t in range(0, int(settings_["years"]) + 1):
        mult = np.array([growth_multiplier(
            t, g, decarb.get(c, decarb.get("default", 0.0)) if kwh > 0 else 0.0,
            eff if k in GENERATIVE_KINDS else 0.0)
            for g, k, c, kwh in zip(line_growth, lines["kind"], lines["country"], lines["kwh"])])
        # The inventory is one period's (a campaign or a year): a year is periods_per_year of them.
        bau_lines = lines["kgco2e"].to_numpy() * mult * results.engagement.periods_per_year
        bau = float(bau_lines.sum())
        per_parent_mult = pd.Series(mult, index=parent.values).groupby(level=0).mean()
        plan_cut = float(sum(v * per_parent_mult.get(k, 1.0) for k, v in abated.items())) if len(abated) else 0.0
        out.append({"year": base_year + t, "bau_kgco2e": bau, "plan_kgco2e": max(bau - plan_cut, 0.0)})
    return out
