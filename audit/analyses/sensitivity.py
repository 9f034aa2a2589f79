"""Sensitivity (the tornado chart): the MACC formula of audit.analyses.interventions re-evaluated
with one input at its low and high value, everything else central; and the verdict a record
would get with changed inputs (the same verdict function as the record's own)."""
from __future__ import annotations

from audit.analyses import verdicts
from audit.analyses.interventions import VERDICT_ORDER, annualised_cost, cost_per_tonne


def option_verdict(rec: dict, net_cost: float, abated: float, carbon_price: float, currency: str,
                   money_saved_per_year: float | None = None) -> str:
    """The verdict id for a record with changed inputs: the same function as the record's own
    verdict (audit.analyses.verdicts.verdict), so sensitivity and the plan never disagree."""
    return verdicts.verdict(abated, net_cost, carbon_price,
                            money_saved_per_year=rec.get("money_saved_per_year", 0.0) if money_saved_per_year is None
                            else money_saved_per_year, co_benefits=tuple(rec.get("co_benefits") or ()),
                            currency=currency).verdict.value


SENSITIVITY_SWING = 0.25  # ±25 % on prices and rates


def net_cost_at(rec: dict, day_rate: float, electricity_price: float, scenario: str = "central",
                savings_scale: float = 1.0, opex_scale: float = 1.0) -> tuple[float, float, float]:
    """(net cost per year, money saved per year, abated kgCO2e per year) of one record with
    changed inputs (see :func:`cost_per_tonne_at`)."""
    suffix = {"central": "", "low": "_low", "high": "_high"}[scenario]
    abated = rec["abated_kgco2e_per_year"] if scenario == "central" else rec[f"abated{suffix}"]
    kwh = rec["kwh_saved_per_year"] if scenario == "central" else rec[f"kwh_saved{suffix}"]
    other = rec["other_savings_per_year"] if scenario == "central" else rec[f"other_savings{suffix}"]
    saved = max(kwh, 0.0) * electricity_price + other * savings_scale
    net = verdicts.net_cost_per_year(rec["effort_person_days"], day_rate, rec["capex"], rec["lifetime_years"],
                                     rec["opex_per_year"] * opex_scale, saved)
    return net, saved, abated


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
    measures = [r for r in measures if r.get("verdict") in VERDICT_ORDER]
    if top is not None:
        measures = measures[:top]
    rate, price = float(settings_["day_rate"]), float(settings_["electricity_price_per_kwh"])
    cp = float(engagement.carbon_price_per_tonne)
    lo_f, hi_f = 1 - swing, 1 + swing
    out = []
    for rec in measures:
        base = cost_per_tonne_at(rec, rate, price)

        def verdict(cpt, abated, eng=engagement, rec=rec):
            # cost per tonne × tonnes = the net cost; the same verdict function as the record's
            net = cpt * abated / 1000.0 if cpt is not None else 0.0
            return option_verdict(rec, net, abated, float(eng.carbon_price_per_tonne), eng.currency)

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
