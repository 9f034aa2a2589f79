"""Forecast and feasibility: is the gain worth the effort?

Interventions (data/interventions.yaml, extendable per engagement) change the validated
activity table; the estimator is re-run on the changed rows, so an intervention's gain
uses exactly the same methodology and factors as the baseline. Costs follow the
marginal abatement cost curve convention (METHODOLOGY §7):

    cost_per_tonne = (annualised one-off cost + Δopex − annual savings) / tCO2e abated per year
    payback_years  = one-off cost / annual net savings
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from audit.models import Intervention
from audit.paths import DATA_DIR, INTERVENTIONS_FILE, SOURCES_DIR

GENAI_KINDS = ("llm_api", "image_generation", "video_generation")
BOUNDS = ("low", "central", "high")


@lru_cache(maxsize=1)
def intervention_library() -> tuple[Intervention, ...]:
    raw = yaml.safe_load(INTERVENTIONS_FILE.read_text(encoding="utf-8"))
    return tuple(Intervention.model_validate(x) for x in raw)


@lru_cache(maxsize=1)
def forecast_defaults() -> dict:
    return yaml.safe_load((DATA_DIR / "forecast_defaults.yaml").read_text(encoding="utf-8"))


def settings(engagement) -> dict:
    """Forecast defaults with the engagement's overrides applied."""
    d = {k: (dict(v) if isinstance(v, dict) else v) for k, v in forecast_defaults().items()}
    o = engagement.forecast
    for key in ("years", "model_efficiency_per_year", "electricity_price_per_kwh", "day_rate"):
        if getattr(o, key) is not None:
            d[key] = getattr(o, key)
    d["usage_growth_per_year"].update(o.usage_growth_per_year)
    d["grid_decarbonisation_per_year"].update(o.grid_decarbonisation_per_year)
    return d


def interventions_for(engagement) -> list[Intervention]:
    own = {i.id: i for i in engagement.interventions}
    merged = [own.pop(i.id, i) for i in intervention_library()]
    return merged + list(own.values())


# --- equations -----------------------------------------------------------------------------

def annualised_cost(one_off: float, lifetime_years: float, opex_per_year: float, savings_per_year: float) -> float:
    """Net annual cost = one-off / lifetime + Δopex − savings (MACC bar height numerator)."""
    return one_off / lifetime_years + opex_per_year - savings_per_year


def cost_per_tonne(net_annual_cost: float, abated_kg_per_year: float) -> float | None:
    """MACC bar height: net annual cost / tCO2e abated per year (None when nothing is abated)."""
    return net_annual_cost / (abated_kg_per_year / 1000.0) if abated_kg_per_year > 0 else None


PAYBACK_HORIZON_YEARS = 50  # beyond this, "pays back" means nothing to a client


def payback_years(one_off: float, net_savings_per_year: float) -> float | None:
    """Payback = one-off cost / annual net savings. None when savings never pay it back
    (no net savings, or longer than PAYBACK_HORIZON_YEARS)."""
    if one_off == 0 and net_savings_per_year >= 0:
        return 0.0
    if net_savings_per_year <= 0:
        return None
    years = one_off / net_savings_per_year
    return years if years <= PAYBACK_HORIZON_YEARS else None


def growth_multiplier(years: int, usage_growth: float, decarbonisation: float, efficiency: float) -> float:
    """BAU multiplier after ``years``: (1+g)^t x (1-d)^t x (1-e)^t."""
    return (1 + usage_growth) ** years * (1 - decarbonisation) ** years * (1 - efficiency) ** years


# --- hourly profile for time shifting ---------------------------------------------------------

@lru_cache(maxsize=1)
def hourly_profiles() -> pd.DataFrame:
    """Mean gCO2e/kWh by country x month x UTC hour (Wiesner et al. 2021, year 2020)."""
    return pd.read_csv(SOURCES_DIR / "hourly_profiles_2020.csv")


def cleanest_window_ratio(country: str, window_hours: int = 8) -> tuple[float, float, float] | None:
    """Mean intensity of each month's cleanest contiguous window / the annual mean.

    Returns (best month ratio, mean ratio, worst month ratio) — the low/central/high scale of
    grid intensity for work moved into that window — or None without a profile."""
    prof = hourly_profiles()
    p = prof[prof["country"] == country]
    if p.empty:
        return None
    ratios = []
    annual = p["g_co2e_per_kwh"].mean()
    for _, m in p.groupby("month"):
        v = m.sort_values("hour_utc")["g_co2e_per_kwh"].to_numpy()
        ring = np.concatenate([v, v[: window_hours - 1]])
        means = np.convolve(ring, np.ones(window_hours) / window_hours, mode="valid")[: len(v)]
        ratios.append(means.min() / annual)
    return float(min(ratios)), float(np.mean(ratios)), float(max(ratios))


# --- applying interventions ----------------------------------------------------------------

@dataclass
class InterventionResult:
    record: dict
    abated_by_line: pd.Series  # kgCO2e per baseline line id (central), for the plan forecast


def _matches(activities: pd.DataFrame, applies_to: dict[str, list[str]]) -> pd.Series:
    mask = pd.Series(True, index=activities.index)
    for col, allowed in applies_to.items():
        mask &= activities[col].astype(str).isin([str(a) for a in allowed])
    return mask


def _changed(rows: pd.DataFrame, change: dict, bound: int, baseline_lines: pd.DataFrame) -> pd.DataFrame | None:
    rows = rows.copy()
    for col, val in change.get("set", {}).items():
        rows[col] = val
        if col == "region" and val == "":
            rows["country"] = ""
    for col, triple in change.get("scale", {}).items():
        rows[col] = rows[col].astype(float) * triple[bound]
        if col == "quantity":
            rows["quantity_base"] = rows["quantity_base"] * triple[bound]
    if "accepted_fraction_scale" in change:
        old = rows["accepted_fraction"].fillna(1.0).astype(float)
        new = np.minimum(old * change["accepted_fraction_scale"][bound], 1.0)
        factor = old / new
        rows["quantity"] = rows["quantity"] * factor
        rows["quantity_base"] = rows["quantity_base"] * factor
        rows["accepted_fraction"] = new
    if "intensity_scale" in change:
        ci = baseline_lines.set_index("activity_id").loc[rows["activity_id"], "intensity_g_per_kwh"].to_numpy()
        scales = []
        for country in rows["country"].where(rows["country"] != "", rows["region"]):
            r = cleanest_window_ratio(country)
            scales.append(np.nan if r is None else r[bound])
        scales = np.asarray(scales, float)
        keep = ~np.isnan(scales)
        if not keep.any():
            return None
        rows = rows[keep]
        rows["carbon_intensity_g_per_kwh"] = ci[keep] * scales[keep]
    return rows


def evaluate(results, intervention: Intervention, settings_: dict) -> InterventionResult | None:
    """Gain vs effort of one intervention on one engagement, or None if it applies to nothing."""
    from audit.estimate import estimate
    from audit.intake import LoadedEngagement

    acts = results.activities
    mask = _matches(acts, intervention.applies_to)
    if not mask.any():
        return None
    rows = acts[mask]
    lines = results.lines
    affected_lines = lines[lines["activity_id"].isin(rows["activity_id"]) | lines["derived_from"].isin(rows["activity_id"])]
    base_kg = float(affected_lines["kgco2e"].sum())
    owned = affected_lines[affected_lines["ownership"].isin(["owned", "leased"])]
    base_kwh_owned = float(owned["kwh"].sum())
    abated, kwh_saved, by_line = {}, {}, None
    eng = results.engagement
    for b, bound in enumerate(BOUNDS):
        new_rows = _changed(rows, intervention.change, b, lines)
        if new_rows is None or new_rows.empty:
            return None
        ids = set(new_rows["activity_id"])
        base_subset = affected_lines[affected_lines["activity_id"].isin(ids) | affected_lines["derived_from"].isin(ids)]
        if "intensity_scale" in intervention.change:
            # Shifted rows carry an intensity override, so their re-estimate has no DESNZ
            # upstream lines; compare direct lines only (kWh, and so T&D, do not change).
            base_subset = base_subset[base_subset["derived_from"] == ""]
        new = estimate(LoadedEngagement(eng, new_rows, Path("."))).lines
        abated[bound] = float(base_subset["kgco2e"].sum() - new["kgco2e"].sum())
        new_owned = new[new["ownership"].isin(["owned", "leased"])]
        base_owned = base_subset[base_subset["ownership"].isin(["owned", "leased"])]
        kwh_saved[bound] = float(base_owned["kwh"].sum() - new_owned["kwh"].sum())
        if bound == "central":
            key = lambda df: df["activity_id"].where(df["derived_from"] == "", df["derived_from"])  # noqa: E731
            by_line = (base_subset.groupby(key(base_subset))["kgco2e"].sum()
                       - new.groupby(key(new))["kgco2e"].sum()).fillna(0.0)
    lo, mid, hi = sorted([abated["low"], abated["central"], abated["high"]])
    effort = intervention.effort
    one_off = effort.capex + effort.person_days * settings_["day_rate"]
    savings = max(kwh_saved["central"], 0.0) * settings_["electricity_price_per_kwh"]
    net_cost = annualised_cost(one_off, effort.lifetime_years, effort.opex_per_year, savings)
    cpt = cost_per_tonne(net_cost, mid)
    pb = payback_years(one_off, savings - effort.opex_per_year) if mid > 0 else None
    verdict, reason = _verdict(cpt, mid, base_kg, effort.person_days, eng, results.totals["kgco2e"])
    record = {
        "id": intervention.id, "name": intervention.name, "description": intervention.description,
        "applies_to": sorted(rows["activity_id"]), "abated_kgco2e_per_year": mid, "abated_low": lo,
        "abated_high": hi, "baseline_kgco2e": base_kg, "kwh_saved_per_year": kwh_saved["central"],
        "cost_savings_per_year": savings, "one_off_cost": one_off, "opex_per_year": effort.opex_per_year,
        "net_annual_cost": net_cost, "cost_per_tonne": cpt, "payback_years": pb,
        "effort_person_days": effort.person_days, "verdict": verdict, "reason": reason,
        "risks": intervention.risks, "basis": intervention.basis,
        "scope_note": ("Hourly-profile saving: an annual-factor inventory will not show it."
                       if "intensity_scale" in intervention.change else ""),
        "energy_owned_kwh": base_kwh_owned,
    }
    return InterventionResult(record, by_line)


def _verdict(cpt, abated_kg, base_kg, person_days, eng, total_kg) -> tuple[str, str]:
    price = eng.carbon_price_per_tonne
    cur = eng.currency
    threshold = eng.effort_threshold_person_days
    share = abated_kg / total_kg if total_kg else 0.0
    if abated_kg <= 0 or cpt is None:
        return "no gain", "It does not reduce emissions for this engagement's activities."
    t = abated_kg / 1000
    words = f"abates {t:,.2f} tCO2e a year ({share:.1%} of the footprint) at {cpt:,.0f} {cur}/tCO2e"
    if share < 0.001:
        return "not worth it", f"It {words}: too small a share of the footprint to justify {person_days:g} person-days."
    if cpt <= price and person_days <= threshold:
        return "do first", (f"It {words}, below the internal carbon price of {price:,.0f} {cur}/t, "
                            f"for {person_days:g} person-days (within the {threshold:g}-day threshold).")
    if cpt <= price:
        return "worth it", (f"It {words}, below the carbon price of {price:,.0f} {cur}/t, but needs {person_days:g} "
                            f"person-days (above the {threshold:g}-day threshold): plan it as a project.")
    if cpt <= 2 * price:
        return "marginal", f"It {words}, up to twice the carbon price of {price:,.0f} {cur}/t: worth it only with co-benefits."
    return "not worth it", f"It {words}, more than twice the carbon price of {price:,.0f} {cur}/t."


VERDICT_ORDER = {"do first": 0, "worth it": 1, "marginal": 2, "not worth it": 3, "no gain": 4}


def forecast(results, chosen: list[InterventionResult], settings_: dict) -> list[dict]:
    """BAU and with-plan emissions for the base year and each forecast year."""
    lines = results.lines
    base_year = results.engagement.base_year or _first_year(results.engagement.period)
    growth = settings_["usage_growth_per_year"]
    decarb = settings_["grid_decarbonisation_per_year"]
    eff = settings_["model_efficiency_per_year"]
    parent = lines["activity_id"].where(lines["derived_from"] == "", lines["derived_from"])
    abated = (pd.concat([c.abated_by_line for c in chosen]).groupby(level=0).sum() if chosen
              else pd.Series(dtype=float))
    out = []
    for t in range(0, int(settings_["years"]) + 1):
        mult = np.array([growth_multiplier(
            t, growth.get(k, 0.0),
            decarb.get(c, decarb.get("default", 0.0)) if kwh > 0 else 0.0,
            eff if k in GENAI_KINDS else 0.0) for k, c, kwh in zip(lines["kind"], lines["country"], lines["kwh"])])
        bau_lines = lines["kgco2e"].to_numpy() * mult
        bau = float(bau_lines.sum())
        per_parent_mult = pd.Series(mult, index=parent.values).groupby(level=0).mean()
        plan_cut = float(sum(v * per_parent_mult.get(k, 1.0) for k, v in abated.items())) if len(abated) else 0.0
        out.append({"year": base_year + t, "bau_kgco2e": bau, "plan_kgco2e": max(bau - plan_cut, 0.0)})
    return out


def _first_year(period: str) -> int:
    import re
    m = re.search(r"(19|20)\d{2}", period)
    return int(m.group(0)) if m else 0


def apply(results) -> None:
    """Fill ``results.interventions``, ``results.forecast`` and the feasibility extras."""
    s = settings(results.engagement)
    evaluated = [e for i in interventions_for(results.engagement) if (e := evaluate(results, i, s))]
    evaluated.sort(key=lambda e: (VERDICT_ORDER[e.record["verdict"]],
                                  e.record["cost_per_tonne"] if e.record["cost_per_tonne"] is not None else 1e18))
    results.interventions = [e.record for e in evaluated]
    chosen = [e for e in evaluated if e.record["verdict"] in ("do first", "worth it")]
    results.forecast = forecast(results, chosen, s)
    results.extras["forecast_settings"] = s
    results.extras["precision_per_watt"] = precision_per_watt(results.lines)


def precision_per_watt(lines: pd.DataFrame) -> list[dict]:
    """Emissions per accepted asset and the share spent on discarded generations, per stage."""
    gen = lines[lines["kind"].isin(GENAI_KINDS) & (lines["derived_from"] == "")]
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
