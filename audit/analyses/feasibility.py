"""Forecast and feasibility: is the gain worth the effort?

Interventions (data/interventions.yaml, extendable per engagement) change the validated
activity table; the estimator is re-run on the changed rows, so an intervention's gain
uses exactly the same methodology and factors as the baseline. Costs follow the
marginal abatement cost curve convention (docs/methodology.md, Feasibility):

    one_off        = capex + person_days × day_rate
    savings        = max(kWh saved, 0) × electricity price + Σ Δquantity × unit cost
    cost_per_tonne = (one_off / lifetime + Δopex − savings) / tCO2e abated per year
    payback_years  = one_off / (savings − Δopex)

Non-energy savings (flights, hotel nights, fuel no longer bought) come from an
intervention's optional ``savings`` entries and the unit costs in
data/forecast_defaults.yaml (consultant assumptions, overridable). ``sensitivity``
re-evaluates the same formula with one input moved at a time (the tornado chart), and
``quadrant`` places each option on the effort/impact matrix.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from audit.core.models import Intervention
from audit.inventory.estimate import estimate
from audit.inventory.intake import LoadedEngagement
from audit.inventory.results import parent_key
from audit.reference.profiles import hourly_profiles
from audit.reference.settings import forecast_defaults, intervention_entries
from audit.reference.vocabularies import generative_kinds

GENERATIVE_KINDS = generative_kinds()  # data/kinds.csv, generative = yes
BOUNDS = ("low", "central", "high")


def _model_accepts(key: str) -> bool:
    return key in Intervention.model_fields


@lru_cache(maxsize=1)
def intervention_library() -> tuple[Intervention, ...]:
    # ``savings`` is read here (library_savings) unless the Intervention model carries it.
    return tuple(Intervention.model_validate({k: v for k, v in x.items() if k != "savings" or _model_accepts(k)})
                 for x in intervention_entries())


@lru_cache(maxsize=1)
def library_savings() -> dict[str, tuple[dict, ...]]:
    """Intervention id -> its ``savings`` entries in data/interventions.yaml."""
    return {x["id"]: tuple(dict(s) for s in x.get("savings") or ()) for x in intervention_entries()}


def savings_specs(intervention: Intervention) -> list[dict]:
    """An intervention's non-energy savings entries: its own (once the engagement model
    carries ``savings``), else the library entry's with the same id."""
    own = getattr(intervention, "savings", None)
    if own:
        return [s if isinstance(s, dict) else s.model_dump() for s in own]
    return [dict(s) for s in library_savings().get(intervention.id, ())]


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


def non_energy_savings(base_rows: pd.DataFrame, new_rows: pd.DataFrame, specs: list[dict],
                       unit_costs: dict) -> list[dict]:
    """Costs no longer incurred: for each ``savings`` entry, Δquantity × unit cost.

    Δquantity = Σ base quantity_base − Σ changed quantity_base over the rows the entry
    matches (``kind``, optional ``mode_prefix``); with ``measure: input_tokens`` (or
    output_tokens) the quantity is requests × tokens. The unit cost is
    ``unit_costs[entry.unit_cost].value`` per ``per`` units (default 1). A negative
    Δquantity is a cost increase and is kept as such."""
    out = []
    for spec in specs:
        kinds = spec.get("kind")
        kinds = [kinds] if isinstance(kinds, str) else list(kinds or [])
        prefixes = spec.get("mode_prefix")
        prefixes = [prefixes] if isinstance(prefixes, str) else list(prefixes or [])
        mask = base_rows["kind"].isin(kinds) if kinds else pd.Series(True, index=base_rows.index)
        if prefixes:
            mask &= base_rows["mode"].astype(str).map(lambda m: any(m.startswith(p) for p in prefixes))
        ids = set(base_rows.loc[mask, "activity_id"])
        if not ids:
            continue
        measure = spec.get("measure", "quantity")

        def qty(df: pd.DataFrame) -> float:
            df = df[df["activity_id"].isin(ids)]
            q = df["quantity_base"].astype(float)
            return float((q if measure == "quantity" else q * df[measure].fillna(0.0).astype(float)).sum())

        cost = unit_costs[spec["unit_cost"]]
        per = float(cost.get("per", 1) or 1)
        delta = qty(base_rows) - qty(new_rows)
        out.append({"unit_cost": spec["unit_cost"], "activities": sorted(ids), "measure": measure,
                    "quantity_saved": delta, "unit": cost.get("unit", ""), "cost_per_unit": float(cost["value"]) / per,
                    "saving": delta * float(cost["value"]) / per, "basis": cost.get("basis", "")})
    return out


def growth_multiplier(years: int, usage_growth: float, decarbonisation: float, efficiency: float) -> float:
    """BAU multiplier after ``years``: (1+g)^t x (1-d)^t x (1-e)^t."""
    return (1 + usage_growth) ** years * (1 - decarbonisation) ** years * (1 - efficiency) ** years


# --- hourly profile for time shifting ---------------------------------------------------------

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
    abated, kwh_saved, other, breakdown, by_line = {}, {}, {}, {}, None
    specs = savings_specs(intervention)
    eng = results.engagement
    for b, bound in enumerate(BOUNDS):
        new_rows = _changed(rows, intervention.change, b, lines)
        if new_rows is None or new_rows.empty:
            return None
        ids = set(new_rows["activity_id"])
        base_subset = affected_lines[affected_lines["activity_id"].isin(ids) | affected_lines["derived_from"].isin(ids)]
        if "intensity_scale" in intervention.change:
            # Shifted rows carry an intensity override, so their re-estimate has no DESNZ
            # upstream lines; compare direct lines only (kWh, and so T&D and the embodied
            # share of the hardware, do not change).
            base_subset = base_subset[base_subset["derived_from"] == ""]
        new = estimate(LoadedEngagement(eng, new_rows, Path("."))).lines
        if "intensity_scale" in intervention.change:
            # Likewise on the changed side: derived lines (embodied hardware, upstream) do not
            # move with the hour of use, and the override drops the DESNZ ones.
            new = new[new["derived_from"] == ""]
        abated[bound] = float(base_subset["kgco2e"].sum() - new["kgco2e"].sum())
        new_owned = new[new["ownership"].isin(["owned", "leased"])]
        base_owned = base_subset[base_subset["ownership"].isin(["owned", "leased"])]
        kwh_saved[bound] = float(base_owned["kwh"].sum() - new_owned["kwh"].sum())
        breakdown[bound] = non_energy_savings(rows, new_rows, specs, settings_["unit_costs"])
        other[bound] = float(sum(x["saving"] for x in breakdown[bound]))
        if bound == "central":
            by_line = (base_subset.groupby(parent_key(base_subset))["kgco2e"].sum()
                       - new.groupby(parent_key(new))["kgco2e"].sum()).fillna(0.0)
    # The abatement range's low and high ends, and the bound (scenario) each comes from.
    lo_b = min(BOUNDS, key=lambda b: (abated[b], BOUNDS.index(b)))
    hi_b = max(BOUNDS, key=lambda b: (abated[b], -BOUNDS.index(b)))
    lo, mid, hi = sorted([abated["low"], abated["central"], abated["high"]])
    effort = intervention.effort
    one_off = effort.capex + effort.person_days * settings_["day_rate"]
    energy_savings = max(kwh_saved["central"], 0.0) * settings_["electricity_price_per_kwh"]
    savings = energy_savings + other["central"]
    net_cost = annualised_cost(one_off, effort.lifetime_years, effort.opex_per_year, savings)
    cpt = cost_per_tonne(net_cost, mid)
    pb = payback_years(one_off, savings - effort.opex_per_year) if mid > 0 else None
    verdict, reason = _verdict(cpt, mid, base_kg, effort.person_days, eng, results.totals["kgco2e"])
    record = {
        "id": intervention.id, "name": intervention.name, "description": intervention.description,
        "applies_to": sorted(rows["activity_id"]), "abated_kgco2e_per_year": mid, "abated_low": lo,
        "abated_high": hi, "baseline_kgco2e": base_kg, "kwh_saved_per_year": kwh_saved["central"],
        "cost_savings_per_year": savings, "energy_cost_savings_per_year": energy_savings,
        "other_savings_per_year": other["central"], "one_off_cost": one_off, "capex": effort.capex,
        "lifetime_years": effort.lifetime_years, "opex_per_year": effort.opex_per_year,
        "net_annual_cost": net_cost, "cost_per_tonne": cpt, "payback_years": pb,
        "effort_person_days": effort.person_days, "verdict": verdict, "reason": reason,
        "risks": intervention.risks, "basis": intervention.basis,
        "scope_note": ("Hourly-profile saving: an annual-factor inventory will not show it."
                       if "intensity_scale" in intervention.change else ""),
        "energy_owned_kwh": base_kwh_owned,
        # the abatement range's ends re-evaluated as whole scenarios (for the tornado)
        "kwh_saved_low": kwh_saved[lo_b], "kwh_saved_high": kwh_saved[hi_b],
        "other_savings_low": other[lo_b], "other_savings_high": other[hi_b],
        "savings_breakdown": breakdown["central"],
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
ACTIONABLE_VERDICTS = ("do first", "worth it")  # the options that go into the plan and the forecast


def forecast(results, chosen: list[InterventionResult], settings_: dict) -> list[dict]:
    """BAU and with-plan emissions for the base year and each forecast year."""
    lines = results.lines
    base_year = results.engagement.reporting_year or 0
    growth = settings_["usage_growth_per_year"]
    decarb = settings_["grid_decarbonisation_per_year"]
    eff = settings_["model_efficiency_per_year"]
    parent = parent_key(lines)
    abated = (pd.concat([c.abated_by_line for c in chosen]).groupby(level=0).sum() if chosen
              else pd.Series(dtype=float))
    out = []
    # Growth by stage where the engagement gives one for the line's stage, else by kind.
    line_growth = [growth.get(s, growth.get(k, 0.0)) for s, k in zip(lines["stage"], lines["kind"])]
    for t in range(0, int(settings_["years"]) + 1):
        mult = np.array([growth_multiplier(
            t, g, decarb.get(c, decarb.get("default", 0.0)) if kwh > 0 else 0.0,
            eff if k in GENERATIVE_KINDS else 0.0)
            for g, k, c, kwh in zip(line_growth, lines["kind"], lines["country"], lines["kwh"])])
        bau_lines = lines["kgco2e"].to_numpy() * mult
        bau = float(bau_lines.sum())
        per_parent_mult = pd.Series(mult, index=parent.values).groupby(level=0).mean()
        plan_cut = float(sum(v * per_parent_mult.get(k, 1.0) for k, v in abated.items())) if len(abated) else 0.0
        out.append({"year": base_year + t, "bau_kgco2e": bau, "plan_kgco2e": max(bau - plan_cut, 0.0)})
    return out


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


# --- effort/impact matrix --------------------------------------------------------------------

QUADRANTS = ("quick win", "major project", "fill-in", "thankless task", "no gain")


def effort_impact_thresholds(engagement, total_kg: float, settings_: dict) -> dict:
    """The matrix's dividing lines: the engagement's effort threshold (person-days) and a
    documented share of the footprint (``impact_threshold_share``, forecast_defaults.yaml)."""
    share = float(settings_.get("impact_threshold_share", 0.01))
    return {"effort_person_days": float(engagement.effort_threshold_person_days), "impact_share": share,
            "impact_kgco2e_per_year": share * float(total_kg)}


def quadrant(person_days: float, abated_kg: float, effort_threshold: float, impact_kg: float) -> str:
    """Quick win (high impact, effort within the threshold), major project (high impact,
    more effort), fill-in (low impact, little effort), thankless task (low impact, much
    effort); 'no gain' when nothing is abated. Boundaries count as the better side."""
    if not abated_kg or abated_kg <= 0:
        return "no gain"
    high = abated_kg >= impact_kg
    easy = person_days <= effort_threshold
    return {(True, True): "quick win", (True, False): "major project", (False, True): "fill-in",
            (False, False): "thankless task"}[(high, easy)]


# --- sensitivity (tornado) ------------------------------------------------------------------

SENSITIVITY_SWING = 0.25  # ±25 % on prices and rates


def cost_per_tonne_at(rec: dict, day_rate: float, electricity_price: float, scenario: str = "central",
                      savings_scale: float = 1.0, opex_scale: float = 1.0) -> float | None:
    """Re-evaluate the MACC formula for one intervention record with changed inputs.

    ``scenario`` is 'central', or 'low'/'high' for the ends of the abatement range (the
    whole changed scenario: its abatement, kWh saved and non-energy savings together)."""
    suffix = {"central": "", "low": "_low", "high": "_high"}[scenario]
    abated = rec["abated_kgco2e_per_year"] if scenario == "central" else rec[f"abated{suffix}"]
    kwh = rec["kwh_saved_per_year"] if scenario == "central" else rec[f"kwh_saved{suffix}"]
    other = rec["other_savings_per_year"] if scenario == "central" else rec[f"other_savings{suffix}"]
    one_off = rec["capex"] + rec["effort_person_days"] * day_rate
    savings = max(kwh, 0.0) * electricity_price + other * savings_scale
    net = annualised_cost(one_off, rec["lifetime_years"], rec["opex_per_year"] * opex_scale, savings)
    return cost_per_tonne(net, abated)


def sensitivity(records: list[dict], settings_: dict, engagement, total_kg: float, top: int | None = None,
                swing: float = SENSITIVITY_SWING) -> list[dict]:
    """One row per (measure, input): the cost per tonne with that input at its low and high
    value, everything else central. Inputs: the abatement range (low/high scenarios), the
    day rate, the electricity price, non-energy unit costs and running cost (±``swing``,
    when they enter the formula) and the carbon price, which does not change the cost per
    tonne, only the verdict (reported as verdict_low/verdict_high)."""
    needed = ("capex", "lifetime_years", "kwh_saved_low", "other_savings_per_year")
    measures = [r for r in records if (r.get("abated_kgco2e_per_year") or 0) > 0
                and r.get("cost_per_tonne") is not None and all(k in r for k in needed)]
    if top is not None:
        measures = measures[:top]
    rate, price = float(settings_["day_rate"]), float(settings_["electricity_price_per_kwh"])
    cp = float(engagement.carbon_price_per_tonne)
    lo_f, hi_f = 1 - swing, 1 + swing
    out = []
    for rec in measures:
        base = cost_per_tonne_at(rec, rate, price)

        def verdict(cpt, abated, eng=engagement):
            return _verdict(cpt, abated, rec.get("baseline_kgco2e", 0.0), rec["effort_person_days"], eng, total_kg)[0]

        def row(name, unit, lo_v, hi_v, cpt_lo, cpt_hi, ab_lo=None, ab_hi=None, v_lo=None, v_hi=None):
            out.append({"id": rec["id"], "input": name, "unit": unit, "input_low": lo_v, "input_high": hi_v,
                        "cost_per_tonne_base": base, "cost_per_tonne_low": cpt_lo, "cost_per_tonne_high": cpt_hi,
                        "verdict_base": rec["verdict"],
                        "verdict_low": v_lo or verdict(cpt_lo, ab_lo if ab_lo is not None else rec["abated_kgco2e_per_year"]),
                        "verdict_high": v_hi or verdict(cpt_hi, ab_hi if ab_hi is not None else rec["abated_kgco2e_per_year"])})

        row("Abatement (low–high range)", "kgCO2e/yr", rec["abated_low"], rec["abated_high"],
            cost_per_tonne_at(rec, rate, price, "low"), cost_per_tonne_at(rec, rate, price, "high"),
            rec["abated_low"], rec["abated_high"])
        if rec["effort_person_days"]:
            row(f"Day rate ±{swing:.0%}", f"{engagement.currency}/day", rate * lo_f, rate * hi_f,
                cost_per_tonne_at(rec, rate * lo_f, price), cost_per_tonne_at(rec, rate * hi_f, price))
        if rec["kwh_saved_per_year"] > 0:
            row(f"Electricity price ±{swing:.0%}", f"{engagement.currency}/kWh", price * lo_f, price * hi_f,
                cost_per_tonne_at(rec, rate, price * lo_f), cost_per_tonne_at(rec, rate, price * hi_f))
        if rec["other_savings_per_year"]:
            row(f"Non-energy unit costs ±{swing:.0%}", "× default", lo_f, hi_f,
                cost_per_tonne_at(rec, rate, price, savings_scale=lo_f),
                cost_per_tonne_at(rec, rate, price, savings_scale=hi_f))
        if rec["opex_per_year"]:
            row(f"Running cost ±{swing:.0%}", f"{engagement.currency}/yr", rec["opex_per_year"] * lo_f,
                rec["opex_per_year"] * hi_f, cost_per_tonne_at(rec, rate, price, opex_scale=lo_f),
                cost_per_tonne_at(rec, rate, price, opex_scale=hi_f))
        eng_lo = engagement.model_copy(update={"carbon_price_per_tonne": cp * lo_f})
        eng_hi = engagement.model_copy(update={"carbon_price_per_tonne": cp * hi_f})
        row(f"Carbon price ±{swing:.0%}", f"{engagement.currency}/tCO2e", cp * lo_f, cp * hi_f, base, base,
            v_lo=verdict(base, rec["abated_kgco2e_per_year"], eng_lo),
            v_hi=verdict(base, rec["abated_kgco2e_per_year"], eng_hi))
    return out


# --- what to do first, in words ---------------------------------------------------------------

def action_plan(results) -> list[dict]:
    """The feasibility findings as short plain-words recommendations, most important first:
    [{"topic", "text"}]. Written from the results (interventions, sensitivity, customisation,
    scorecard, precision per watt), never typed in, so they follow the numbers."""
    eng = results.engagement
    cur, price = eng.currency, float(eng.carbon_price_per_tonne)
    total = float(results.totals["kgco2e"]) or 1.0
    out: list[dict] = []
    recs = [{"name": r.get("id", ""), "effort_person_days": 0.0, "quadrant": "", **r}
            for r in (results.interventions or []) if (r.get("abated_kgco2e_per_year") or 0) > 0]
    go = [r for r in recs if r.get("verdict") in ACTIONABLE_VERDICTS]
    priced = sorted((r for r in recs if r.get("cost_per_tonne") is not None), key=lambda r: r["cost_per_tonne"])

    def t(kg: float) -> str:
        return f"{kg / 1000:,.2f} tCO2e"

    if go:
        r = go[0]
        out.append({"topic": "First action", "text": (
            f"Start with {r['name']} ({r['id']}, {r['verdict']}): it avoids {t(r['abated_kgco2e_per_year'])} a year "
            f"({r['abated_kgco2e_per_year'] / total:.1%} of the footprint) at {r['cost_per_tonne']:,.0f} {cur}/tCO2e "
            f"for {r['effort_person_days'] or 0:g} person-days" + (f" ({r['quadrant']})." if r["quadrant"] else "."))})
    elif priced:
        r = priced[0]
        times = f", {r['cost_per_tonne'] / price:,.0f} times the carbon price" if price > 0 else ""
        out.append({"topic": "First action", "text": (
            f"No option pays at the internal carbon price of {price:,.0f} {cur}/tCO2e. The cheapest per tonne is "
            f"{r['name']} ({r['id']}) at {r['cost_per_tonne']:,.0f} {cur}/tCO2e{times}: do it only for its "
            f"co-benefits, or revisit its costs with the client.")})
    biggest = max(recs, key=lambda r: r["abated_kgco2e_per_year"], default=None)
    if biggest is not None and (not go or biggest["id"] != go[0]["id"]):
        other = biggest.get("other_savings_per_year") or 0.0
        out.append({"topic": "Biggest lever", "text": (
            f"{biggest['name']} ({biggest['id']}) avoids the most, {t(biggest['abated_kgco2e_per_year'])} a year "
            f"({biggest['abated_kgco2e_per_year'] / total:.0%} of the footprint), for "
            f"{biggest['effort_person_days'] or 0:g} person-days: a {biggest['quadrant'] or 'measure'} in effort terms, "
            f"at {biggest['cost_per_tonne']:,.0f} {cur}/tCO2e" if biggest.get("cost_per_tonne") is not None else
            f"{biggest['name']} ({biggest['id']}) avoids the most")
            + (f" after {other:,.0f} {cur} a year of avoided travel, hotel and fuel costs (assumed unit costs)."
               if other else ".")})
    sens = results.analysis("sensitivity") or []
    if sens:
        flips = [r for r in sens if len({r["verdict_low"], r["verdict_high"], r["verdict_base"]}) > 1]
        first = sens[0]["id"]
        own = [r for r in sens if r["id"] == first and not r["input"].startswith("Carbon price")
               and r["cost_per_tonne_low"] is not None and r["cost_per_tonne_high"] is not None]
        widest = max(own, key=lambda r: abs(r["cost_per_tonne_high"] - r["cost_per_tonne_low"]), default=None)
        lo_hi = sorted((widest["cost_per_tonne_low"], widest["cost_per_tonne_high"])) if widest else None
        text = (f"For {first}, the cost per tonne moves most with {_lower_first(widest['input'])}: "
                f"{lo_hi[0]:,.0f} to {lo_hi[1]:,.0f} {cur}/tCO2e. " if widest else "")
        text += ("No verdict changes when any one input moves within its range." if not flips else
                 "Verdicts that could change: " + "; ".join(
                     f"{r['id']} ({_lower_first(r['input'])}: '{r['verdict_low']}' at the low end, "
                     f"'{r['verdict_high']}' at the high end)" for r in flips[:3])
                 + ".")
        out.append({"topic": "Robustness", "text": text})
    cust = results.analysis("customisation") or []
    wins = sorted((r for r in cust if r.get("pays_back") and r.get("annual_change_kgco2e", 0) < 0),
                  key=lambda r: r["annual_change_kgco2e"])
    if wins:
        r = wins[0]
        base = next(b for b in cust if b["workload"] == r["workload"] and b["baseline"])
        out.append({"topic": "Customisation", "text": (
            f"For {r['workload']} ({base['model']}, {r['requests_per_year']:,.0f} requests a year), "
            f"the option '{_lower_first(r['name'])}' pays back its {r['one_off_kgco2e']:,.2f} kgCO2e of training after "
            f"{r['break_even_requests']:,.0f} requests ({r['payback_months']:,.1f} months) and takes the workload "
            f"from {base['annual_kgco2e']:,.2f} to {r['annual_kgco2e']:,.2f} kgCO2e a year, if an evaluation set "
            f"shows the smaller model is good enough. Retrieval (RAG) adds emissions per request: choose it for "
            f"accuracy, not carbon.")})
    elif cust:
        out.append({"topic": "Customisation", "text": (
            "No fine-tune pays back its training at this engagement's request volumes; keep prompting, and "
            "compress prompts before adding retrieved context.")})
    sc = (results.analysis("scorecard") or {}).get("rows") or []
    front = [r for r in sc if r.get("pareto")]
    dominated = [r for r in sc if r.get("used_by") and not r.get("pareto")]
    if dominated and front:
        worst = max(dominated, key=lambda r: r["kwh_per_task"])
        better = [f for f in front if f["weighted_score"] >= worst["weighted_score"]
                  and f["kwh_per_task"] <= worst["kwh_per_task"]]
        alt = min(better or front, key=lambda f: f["kwh_per_task"])
        out.append({"topic": "Base model", "text": (
            f"{worst['id']} (used by {', '.join(worst['used_by'])}) is off the Pareto front: {alt['id']} scores "
            f"{alt['weighted_score']:.2f} against {worst['weighted_score']:.2f} at "
            f"{alt['kwh_per_task'] * 1000:,.3g} Wh instead of {worst['kwh_per_task'] * 1000:,.3g} Wh per task. "
            f"The scores are the consultant's (illustrative by default): confirm them with the client before "
            f"switching.")})
    ppw = [r for r in (results.analysis("precision_per_watt") or []) if r.get("discarded_share_kgco2e") is not None]
    if ppw:
        r = max(ppw, key=lambda r: r["discarded_share_kgco2e"] * r["kgco2e"])
        out.append({"topic": "Precision per watt", "text": (
            f"In {r['stage']}, {r['discarded_share_kgco2e']:.0%} of the generative-AI emissions "
            f"({r['kgco2e'] * r['discarded_share_kgco2e']:,.2f} kgCO2e) went on generations that were thrown away: "
            f"better briefs, templates and review gates come before more generation.")})
    return out


def _lower_first(text: str) -> str:
    """'Day rate ±25%' -> 'day rate ±25%'; acronyms ('LoRA …') keep their case."""
    word = text.split(" ", 1)[0]
    return text[:1].lower() + text[1:] if len(word) > 1 and word[1:].islower() else text
