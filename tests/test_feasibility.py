"""Feasibility: MACC equations, the time-shift window, interventions and the forecast."""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from audit.analyses import feasibility as fz, registry
from audit.core.models import Engagement, Intervention
from audit.core.paths import SOURCES_DIR
from audit.reference import pricing
from tests.helpers import BASE_SETTINGS, sample_results, sample_results_without_feasibility

INTERVENTION_KEYS = {"id", "name", "applies_to", "abated_kgco2e_per_year", "abated_low", "abated_high",
                     "cost_per_tonne", "payback_years", "effort_person_days", "verdict", "reason"}


@pytest.fixture(scope="module")
def results():
    return sample_results()


@pytest.fixture(scope="module")
def interventions(results):
    return {i["id"]: i for i in results.interventions}


# --- equations by hand ----------------------------------------------------------------------

def test_annualised_cost():
    assert fz.annualised_cost(1000, 4, 50, 100) == 200.0  # 1000/4 + 50 - 100
    assert fz.annualised_cost(0, 3, 0, 120) == -120.0  # pure savings: negative cost


def test_cost_per_tonne():
    assert fz.cost_per_tonne(200.0, 500.0) == 400.0  # 200 / 0.5 t
    assert fz.cost_per_tonne(-120.0, 2000.0) == -60.0
    assert fz.cost_per_tonne(200.0, 0.0) is None
    assert fz.cost_per_tonne(200.0, -5.0) is None


def test_payback_years():
    assert fz.payback_years(1000, 250) == 4.0
    assert fz.payback_years(0, 0) == 0.0
    assert fz.payback_years(0, 10) == 0.0
    assert fz.payback_years(1000, 0) is None
    assert fz.payback_years(1000, -50) is None


def test_growth_multiplier():
    assert fz.growth_multiplier(0, 0.25, 0.1, 0.1) == 1.0
    assert fz.growth_multiplier(2, 0.25, 0.1, 0.2) == pytest.approx(1.25 ** 2 * 0.9 ** 2 * 0.8 ** 2, rel=1e-12)


# --- time shifting ----------------------------------------------------------------------------

def brute_force_window(country: str, hours: int) -> tuple[float, float, float]:
    prof = pd.read_csv(SOURCES_DIR / "hourly_profiles_2020.csv")
    p = prof[prof["country"] == country]
    annual = p["g_co2e_per_kwh"].mean()
    ratios = []
    for month in range(1, 13):
        by_hour = p[p["month"] == month].set_index("hour_utc")["g_co2e_per_kwh"]
        assert list(by_hour.index.sort_values()) == list(range(24))
        windows = [sum(by_hour[(start + k) % 24] for k in range(hours)) / hours for start in range(24)]
        ratios.append(min(windows) / annual)
    return min(ratios), sum(ratios) / 12, max(ratios)


@pytest.mark.parametrize("country", ["GBR", "FRA", "DEU"])
@pytest.mark.parametrize("hours", [1, 8])
def test_cleanest_window_matches_brute_force(country, hours):
    got = fz.cleanest_window_ratio(country, window_hours=hours)
    assert got == pytest.approx(brute_force_window(country, hours), rel=1e-12)


def test_cleanest_window_in_gbr_is_cleaner_than_average():
    lo, mid, hi = fz.cleanest_window_ratio("GBR")
    assert lo <= mid <= hi
    assert lo < 1 and mid < 1


def test_no_profile_means_no_window():
    assert fz.cleanest_window_ratio("USA") is None


# --- interventions on the sample ----------------------------------------------------------------

def test_interventions_have_the_contract_keys(results):
    assert results.interventions, "the sample should have applicable interventions"
    ids = [i["id"] for i in results.interventions]
    assert len(ids) == len(set(ids))
    for rec in results.interventions:
        assert INTERVENTION_KEYS <= set(rec), rec["id"]
        assert rec["abated_low"] <= rec["abated_kgco2e_per_year"] <= rec["abated_high"], rec["id"]
        assert rec["verdict"] in fz.VERDICT_ORDER and rec["reason"]
        assert isinstance(rec["applies_to"], list) and rec["applies_to"] == sorted(rec["applies_to"])
        assert rec["effort_person_days"] >= 0
    order = [fz.VERDICT_ORDER[i["verdict"]] for i in results.interventions]
    assert order == sorted(order)


def test_interventions_apply_to_the_right_activities(interventions):
    assert interventions["virtual_production"]["applies_to"] == ["PRO-01", "PRO-02", "PRO-03", "PRO-04", "PRO-08",
                                                                 "PRO-09"]
    assert interventions["offpeak_shift"]["applies_to"] == ["POST-01", "POST-02"]
    assert interventions["cleaner_region"]["applies_to"] == ["POST-03", "POST-04", "POST-06"]
    assert interventions["managed_service"]["applies_to"] == ["PRE-05", "PRE-06"]
    # rail only for the recce (4 trips of 344 km), not the Reykjavik flights (no trips: distance unknown)
    assert interventions["flight_to_rail"]["applies_to"] == ["PRO-09"]
    assert interventions["generator_to_grid"]["applies_to"] == ["PRO-04"]


def _vp_money_saved(results, ids, cut: float) -> float:
    """Money no longer spent when the Production rows' quantities fall by ``cut``: by hand
    from the activity table and data/prices/unit_prices.csv (all GBP)."""
    p = {k: v.value for k, v in pricing.unit_prices().items()}
    a = results.activities.set_index("activity_id").loc[ids]
    flights = a[(a["kind"] == "travel") & a["mode"].str.startswith("flight_")]["quantity_base"].sum()
    cars = a[(a["kind"] == "travel") & a["mode"].str.startswith("car_")]["quantity_base"].sum()
    nights = a[a["kind"] == "accommodation"]["quantity_base"].sum()
    diesel = a[(a["kind"] == "fuel") & a["mode"].str.startswith("diesel")]["quantity_base"].sum()
    return cut * (flights * p["flight_per_passenger_km"] + cars * p["car_per_vehicle_km"]
                  + nights * p["hotel_per_room_night"] + diesel * p["diesel_per_litre"])


def test_virtual_production_by_hand(results, interventions):
    """Quantities x 0.6 (0.4-0.8): emissions are linear, so 40 % (20-60 %) is abated, and 40 %
    of the flights, car-km, hotel nights and diesel are no longer bought."""
    rec = interventions["virtual_production"]
    l = results.lines
    ids = rec["applies_to"]
    base = l.loc[l["activity_id"].isin(ids) | l["derived_from"].isin(ids), "kgco2e"].sum()
    assert rec["baseline_kgco2e"] == pytest.approx(base, rel=1e-12)
    assert rec["abated_kgco2e_per_year"] == pytest.approx(0.4 * base, rel=1e-9)
    assert rec["abated_low"] == pytest.approx(0.2 * base, rel=1e-9)
    assert rec["abated_high"] == pytest.approx(0.6 * base, rel=1e-9)
    one_off = 15 * 650  # person-days x default day rate, no capex
    saved = _vp_money_saved(results, ids, 0.4)
    assert saved > 0
    assert rec["one_off_cost"] == one_off
    assert rec["money_saved_per_year"] == pytest.approx(saved, rel=1e-9)
    assert rec["energy_cost_savings_per_year"] == 0  # nothing unpriced and owned is switched off
    assert rec["net_cost_per_year"] == pytest.approx(one_off / 1 + 12000 - saved, rel=1e-9)
    assert rec["net_annual_cost"] == rec["net_cost_per_year"]
    assert rec["cost_per_tonne"] == pytest.approx((one_off + 12000 - saved) / (0.4 * base / 1000), rel=1e-9)
    # payback = one-off / (savings - opex): savings do not cover the LED-volume hire
    assert rec["payback_years"] is None
    assert rec["cost_per_tonne"] > results.engagement.carbon_price_per_tonne
    assert rec["verdict"] == ("co_benefits_only" if rec["co_benefits"] else "not_worth_it")
    # the abatement range's ends are whole scenarios: 20 % and 60 % cuts, money alike
    assert rec["other_savings_low"] == pytest.approx(_vp_money_saved(results, ids, 0.2), rel=1e-9)
    assert rec["other_savings_high"] == pytest.approx(_vp_money_saved(results, ids, 0.6), rel=1e-9)
    assert {"flight_per_passenger_km", "car_per_vehicle_km", "hotel_per_room_night",
            "diesel_per_litre"} <= set(rec["money_price_ids"])
    assert sum(m["money_saved"] for m in rec["money_breakdown"]) == pytest.approx(saved, rel=1e-9)


def test_non_energy_savings_by_hand():
    base = pd.DataFrame({"activity_id": ["F", "C", "H", "R"], "kind": ["travel", "travel", "accommodation", "travel"],
                         "mode": ["flight_long_haul_economy", "car_large_diesel", "", "rail_national"],
                         "quantity_base": [1000.0, 200.0, 10.0, 500.0], "input_tokens": [None] * 4})
    new = base.assign(quantity_base=base["quantity_base"] * 0.5)
    specs = [{"kind": "travel", "mode_prefix": "flight_", "unit_cost": "fl"},
             {"kind": ["accommodation"], "unit_cost": "ht"},
             {"kind": "freight", "unit_cost": "fl"}]  # matches nothing: no entry
    costs = {"fl": {"value": 0.2, "unit": "passenger_km"}, "ht": {"value": 300, "unit": "room_night", "per": 2}}
    got = fz.non_energy_savings(base, new, specs, costs)
    assert [g["unit_cost"] for g in got] == ["fl", "ht"]
    assert got[0]["activities"] == ["F"] and got[0]["quantity_saved"] == 500.0
    assert got[0]["saving"] == pytest.approx(500 * 0.2)  # rail and car are not flights
    assert got[1]["saving"] == pytest.approx(5 * 300 / 2)  # per 2 room-nights
    # a quantity that grows is a cost, not a saving
    more = fz.non_energy_savings(base, base.assign(quantity_base=base["quantity_base"] * 2), specs[:1], costs)
    assert more[0]["saving"] == pytest.approx(-1000 * 0.2)
    # token-based measures: requests x tokens
    llm = pd.DataFrame({"activity_id": ["L"], "kind": ["llm_api"], "mode": [""], "quantity_base": [1000.0],
                        "input_tokens": [2000.0]})
    tok = fz.non_energy_savings(llm, llm.assign(input_tokens=1200.0),
                                [{"kind": "llm_api", "measure": "input_tokens", "unit_cost": "m"}],
                                {"m": {"value": 2.5, "per": 1e6}})
    assert tok[0]["saving"] == pytest.approx(1000 * 800 * 2.5 / 1e6)


def test_savings_specs_only_for_engagement_interventions():
    """Library levers price their money from the activities' own prices; an engagement's own
    intervention may still name assumed unit-cost savings."""
    lib = {i.id: i for i in fz.intervention_library()}
    assert fz.savings_specs(lib["virtual_production"]) == []
    own = Engagement.model_validate({**BASE_SETTINGS, "interventions": [{
        "id": "no_hotels", "name": "No hotels", "applies_to": {"kind": ["accommodation"]},
        "change": {"scale": {"quantity": [0, 0, 0]}}, "effort": {"person_days": 1},
        "savings": [{"kind": "accommodation", "unit_cost": "hotel_per_room_night"}]}]})
    option = next(o for o in fz.interventions_for(own) if o.id == "no_hotels")
    assert fz.savings_specs(option) == [{"kind": "accommodation", "unit_cost": "hotel_per_room_night",
                                         **{k: v for k, v in fz.savings_specs(option)[0].items()
                                            if k not in ("kind", "unit_cost")}}]
    for v in fz.forecast_defaults()["unit_costs"].values():
        assert v["value"] >= 0 and v["unit"] and v["basis"]  # every assumption says where it comes from


def test_unit_cost_overrides_reach_the_settings():
    """An engagement's forecast.unit_costs value replaces the default."""
    eng = Engagement.model_validate({**BASE_SETTINGS, "forecast": {
        "unit_costs": {"hotel_per_room_night": 99.0}, "impact_threshold_share": 0.05}})
    s = fz.settings(eng)
    assert s["unit_costs"]["hotel_per_room_night"]["value"] == 99.0
    assert "override" in s["unit_costs"]["hotel_per_room_night"]["basis"]
    assert s["impact_threshold_share"] == 0.05
    assert fz.forecast_defaults()["unit_costs"]["hotel_per_room_night"]["value"] != 99.0  # not mutated


def test_fewer_wasted_generations_by_hand(interventions):
    """Accepted share x 2 (1.25-3): generations needed fall as old/new."""
    rec = interventions["fewer_wasted_generations"]
    base = rec["baseline_kgco2e"]
    assert rec["abated_kgco2e_per_year"] == pytest.approx(base * (1 - 1 / 2.0), rel=1e-9)
    assert rec["abated_low"] == pytest.approx(base * (1 - 1 / 1.25), rel=1e-9)
    assert rec["abated_high"] == pytest.approx(base * (1 - 1 / 3.0), rel=1e-9)


def test_offpeak_shift_saves_energy_cost_nothing(interventions):
    rec = interventions["offpeak_shift"]
    assert rec["kwh_saved_per_year"] == 0 and rec["cost_savings_per_year"] == 0
    assert rec["abated_kgco2e_per_year"] > 0 and rec["scope_note"]


def test_offpeak_shift_abates_at_most_the_shifted_share(results, interventions):
    rec = interventions["offpeak_shift"]
    ratio = fz.cleanest_window_ratio("GBR")[1]
    l = results.lines
    direct = l.loc[l["activity_id"].isin(rec["applies_to"]), "kgco2e"].sum()
    assert rec["abated_kgco2e_per_year"] >= direct * (1 - ratio) * (1 - 1e-9)
    assert rec["abated_kgco2e_per_year"] <= rec["baseline_kgco2e"] * (1 - ratio) * (1 + 1e-9)


# --- forecast ---------------------------------------------------------------------------------

def test_forecast_shape_and_plan_never_above_bau(results):
    f = results.forecast
    assert [r["year"] for r in f] == [2025, 2026, 2027, 2028]  # base year + 3 default years
    for r in f:
        assert {"year", "bau_kgco2e", "plan_kgco2e"} <= set(r)
        assert 0 <= r["plan_kgco2e"] <= r["bau_kgco2e"]
    assert f[0]["bau_kgco2e"] == pytest.approx(results.totals["kgco2e"], rel=1e-12)


@pytest.fixture(scope="module")
def priced():
    """The sample with a carbon price high enough to make the location-shoot cut worth it.
    Built on a copy: the session's shared results must stay untouched."""
    base = sample_results_without_feasibility()
    eng = base.engagement.model_copy(update={"carbon_price_per_tonne": 10_000.0})
    r = dataclasses.replace(base, engagement=eng, interventions=[], forecast=[], extras={})
    registry.apply(r)
    return base, r


def test_apply_on_a_copy_leaves_the_shared_results_alone(priced):
    base, r = priced
    assert {i["id"]: i["verdict"] for i in r.interventions}["virtual_production"] == "worth_it_at_carbon_price"
    assert base.interventions == [] and base.forecast == [] and "forecast_settings" not in base.extras


def test_chosen_interventions_lower_the_plan(priced):
    _, r = priced
    chosen = [i for i in r.interventions if i["verdict"] in fz.ACTIONABLE_VERDICTS]
    assert set(fz.ACTIONABLE_VERDICTS) == {"pays_for_itself", "worth_it_at_carbon_price"}
    assert {i["id"] for i in chosen} >= {"virtual_production"}
    first = r.forecast[0]
    # Year 0 (no growth yet): the plan removes what the chosen options abate together: more
    # than the biggest alone, never more than their sum (overlaps are combined, not added)
    cut = first["bau_kgco2e"] - first["plan_kgco2e"]
    assert max(i["abated_kgco2e_per_year"] for i in chosen) * (1 - 1e-9) <= cut
    assert cut <= sum(i["abated_kgco2e_per_year"] for i in chosen) * (1 + 1e-9)
    assert all(0 < y["plan_kgco2e"] < y["bau_kgco2e"] for y in r.forecast)


def test_overlapping_options_combine_not_add():
    lines = pd.DataFrame({"activity_id": ["A", "B"], "derived_from": ["", ""], "kgco2e": [100.0, 50.0]})
    got = fz.combined_abatement(lines, [pd.Series({"A": 60.0}), pd.Series({"A": 50.0, "B": 10.0})])
    assert got["A"] == pytest.approx(100 - 100 * 0.4 * 0.5)  # 60 % then half of what is left
    assert got["B"] == pytest.approx(10.0)


def test_forecast_settings_overrides():
    eng = Engagement.model_validate({**BASE_SETTINGS, "forecast": {"years": 2, "day_rate": 500,
                                                                   "usage_growth_per_year": {"llm_api": 0.5}}})
    s = fz.settings(eng)
    assert s["years"] == 2 and s["day_rate"] == 500
    assert s["usage_growth_per_year"]["llm_api"] == 0.5
    assert s["usage_growth_per_year"]["image_generation"] == 0.25  # default kept
    assert fz.forecast_defaults()["usage_growth_per_year"]["llm_api"] == 0.25  # defaults not mutated


def test_engagement_interventions_replace_and_extend_the_library():
    own = {"id": "smaller_model", "name": "Our own right-sizing", "applies_to": {"kind": ["llm_api"]},
           "change": {"set": {"model": "3B"}}, "effort": {"person_days": 1}}
    extra = {"id": "no_flights", "name": "Rail only", "applies_to": {"kind": ["travel"]},
             "change": {"scale": {"quantity": [0, 0, 0]}}, "effort": {"person_days": 0}}
    eng = Engagement.model_validate({**BASE_SETTINGS, "interventions": [own, extra]})
    merged = fz.interventions_for(eng)
    ids = [i.id for i in merged]
    assert ids == [i.id for i in fz.intervention_library()] + ["no_flights"]
    assert next(i for i in merged if i.id == "smaller_model").name == "Our own right-sizing"
    assert all(isinstance(i, fz.Option) for i in merged)


@pytest.mark.parametrize("net,abated,co_benefits,verdict", [
    (-10.0, 1000.0, (), "pays_for_itself"),      # saves money: the carbon cut is free
    (0.0, 1000.0, (), "pays_for_itself"),
    (50.0, 1000.0, (), "worth_it_at_carbon_price"),   # 50 GBP/t <= 85
    (500.0, 1000.0, ("Quieter set",), "co_benefits_only"),
    (500.0, 1000.0, (), "not_worth_it"),
    (-10.0, 0.0, (), "no_gain"),                 # saves money but cuts nothing
])
def test_verdicts(net, abated, co_benefits, verdict):
    rec = {"co_benefits": list(co_benefits), "money_saved_per_year": 100.0}
    assert fz.option_verdict(rec, net, abated, 85.0, "GBP") == verdict
    assert verdict in fz.VERDICT_ORDER


def test_precision_per_watt(results):
    ppw = {r["stage"]: r for r in results.extras["precision_per_watt"]}
    l = results.lines
    pre = l[(l["stage"] == "Pre-production") & l["kind"].isin(fz.GENERATIVE_KINDS) & (l["derived_from"] == "")]
    af = pre["accepted_fraction"].astype(float)
    accepted = float((pre["quantity_base"] * af).sum())
    assert ppw["Pre-production"]["accepted"] == pytest.approx(accepted, rel=1e-12)
    assert ppw["Pre-production"]["kgco2e_per_accepted"] == pytest.approx(pre["kgco2e"].sum() / accepted, rel=1e-12)
    assert 0 < ppw["Pre-production"]["discarded_share_kgco2e"] < 1
    assert np.isfinite([r["kgco2e"] for r in ppw.values()]).all()


def test_payback_is_none_beyond_the_planning_horizon():
    from audit.analyses.feasibility import PAYBACK_HORIZON_YEARS, payback_years

    assert payback_years(1000, 100) == 10
    assert payback_years(1000, 1000 / (PAYBACK_HORIZON_YEARS + 1)) is None
    assert payback_years(1000, 0) is None and payback_years(0, 5) == 0.0


# --- effort/impact quadrants ---------------------------------------------------------------------

@pytest.mark.parametrize("days,abated,quadrant", [
    (5, 500.0, "quick win"), (20, 500.0, "major project"), (5, 50.0, "fill-in"), (20, 50.0, "thankless task"),
    (10, 100.0, "quick win"),  # on both lines: the better side
    (5, 0.0, "no gain"), (5, -3.0, "no gain"),
])
def test_quadrant(days, abated, quadrant):
    assert fz.quadrant(days, abated, effort_threshold=10, impact_kg=100.0) == quadrant
    assert quadrant in fz.QUADRANTS


def test_every_quadrant_has_a_chart_label():
    from audit.deliverables.charts import QUADRANT_LABELS
    assert set(fz.QUADRANTS) - {"no gain"} == set(QUADRANT_LABELS)


def test_sample_quadrants(results):
    th = results.extras["effort_impact"]
    assert th["effort_person_days"] == results.engagement.effort_threshold_person_days
    assert th["impact_kgco2e_per_year"] == pytest.approx(
        fz.forecast_defaults()["impact_threshold_share"] * results.totals["kgco2e"], rel=1e-12)
    for rec in results.interventions:
        assert rec["quadrant"] == fz.quadrant(rec["effort_person_days"], rec["abated_kgco2e_per_year"],
                                              th["effort_person_days"], th["impact_kgco2e_per_year"])


# --- sensitivity (tornado) -----------------------------------------------------------------------

def test_cost_formula_reproduces_every_record(results):
    s = results.extras["forecast_settings"]
    for rec in results.interventions:
        got = fz.cost_per_tonne_at(rec, s["day_rate"], s["electricity_price_per_kwh"])
        if rec["cost_per_tonne"] is None:
            assert got is None, rec["id"]
        else:
            assert got == pytest.approx(rec["cost_per_tonne"], rel=1e-12), rec["id"]


def test_tornado_bars_are_symmetric_for_linear_inputs(results):
    """Day rate, electricity price, unit costs and running cost enter the cost linearly, so ±25 %
    moves the cost per tonne by equal amounts either side of the central value."""
    rows = results.extras["sensitivity"]
    assert rows
    linear = [r for r in rows if r["input"].split(" ±")[0] in ("Day rate", "Electricity price",
                                                              "Non-energy unit costs", "Running cost")]
    assert linear
    for r in linear:
        up = r["cost_per_tonne_high"] - r["cost_per_tonne_base"]
        down = r["cost_per_tonne_base"] - r["cost_per_tonne_low"]
        assert up == pytest.approx(down, rel=1e-9, abs=1e-9), (r["id"], r["input"])
    # and the day-rate swing is exactly the labour share: 25 % x days x rate / lifetime / t abated
    recs = {i["id"]: i for i in results.interventions}
    for r in (r for r in rows if r["input"].startswith("Day rate")):
        rec = recs[r["id"]]
        labour = 0.25 * rec["effort_person_days"] * results.extras["forecast_settings"]["day_rate"]
        assert r["cost_per_tonne_high"] - r["cost_per_tonne_base"] == pytest.approx(
            labour / rec["lifetime_years"] / (rec["abated_kgco2e_per_year"] / 1000), rel=1e-9)


def test_tornado_abatement_ends_by_hand(results):
    rec = {i["id"]: i for i in results.interventions}["virtual_production"]
    row = next(r for r in results.extras["sensitivity"]
               if r["id"] == "virtual_production" and r["input"].startswith("Abatement"))
    for end in ("low", "high"):
        net = rec["one_off_cost"] / rec["lifetime_years"] + rec["opex_per_year"] - rec[f"other_savings_{end}"]
        assert row[f"cost_per_tonne_{end}"] == pytest.approx(net / (rec[f"abated_{end}"] / 1000), rel=1e-12)
    assert row["input_low"] == rec["abated_low"] and row["input_high"] == rec["abated_high"]


def test_tornado_carbon_price_moves_the_verdict_not_the_cost(results):
    recs = {i["id"]: i for i in results.interventions}
    vp = recs["virtual_production"]
    # a carbon price just above 0.8 x the cost per tonne: -25 % leaves it above, +25 % makes it worth it
    price = vp["cost_per_tonne"] * 0.85
    eng = results.engagement.model_copy(update={"carbon_price_per_tonne": price})
    rows = fz.sensitivity([vp], results.extras["forecast_settings"], eng, results.totals["kgco2e"])
    cp = next(r for r in rows if r["input"].startswith("Carbon price"))
    assert cp["cost_per_tonne_low"] == cp["cost_per_tonne_high"] == cp["cost_per_tonne_base"]
    assert cp["input_low"] == pytest.approx(0.75 * price) and cp["input_high"] == pytest.approx(1.25 * price)
    below = "co_benefits_only" if vp["co_benefits"] else "not_worth_it"
    assert cp["verdict_low"] == below and cp["verdict_high"] == "worth_it_at_carbon_price"


def test_tornado_top_keeps_the_ranking_order(results):
    rows = fz.sensitivity(results.interventions, results.extras["forecast_settings"], results.engagement,
                          results.totals["kgco2e"], top=2)
    priced = [i["id"] for i in results.interventions
              if i["cost_per_tonne"] is not None and i["abated_kgco2e_per_year"] > 0]
    assert list(dict.fromkeys(r["id"] for r in rows)) == priced[:2]


# --- what to do first ------------------------------------------------------------------------

def test_action_plan_follows_the_numbers(results):
    plan = {a["topic"]: a["text"] for a in fz.action_plan(results)}
    go = [i for i in results.interventions if i["verdict"] in fz.ACTIONABLE_VERDICTS]
    if go:
        assert plan["First action"].startswith(f"Start with {go[0]['name']}")
    else:
        cheapest = min((i for i in results.interventions if i["cost_per_tonne"] is not None),
                       key=lambda i: i["cost_per_tonne"])
        assert "No option pays for itself" in plan["First action"] and f"({cheapest['id']})" in plan["First action"]
    wins = [r for r in results.extras["customisation"] if r["pays_back"] and r["annual_change_kgco2e"] < 0]
    best = min(wins, key=lambda r: r["annual_change_kgco2e"]) if wins else None
    if best:
        assert plan["Customisation"].startswith(f"For {best['workload']} ")
    ppw = max(results.extras["precision_per_watt"], key=lambda r: r["discarded_share_kgco2e"] * r["kgco2e"])
    assert plan["Precision per watt"].startswith(f"In {ppw['stage']}, ")
    dominated = [r for r in results.extras["scorecard"]["rows"] if r["used_by"] and not r["pareto"]]
    if dominated:
        assert max(dominated, key=lambda r: r["kwh_per_task"])["id"] in plan["Base model"]


def test_action_plan_starts_with_a_do_first_option(priced):
    _, r = priced
    first = fz.action_plan(r)[0]
    go = next(i for i in r.interventions if i["verdict"] in fz.ACTIONABLE_VERDICTS)
    assert first["topic"] == "First action" and first["text"].startswith(f"Start with {go['name']} ({go['id']}")


def test_action_plan_survives_partial_records(results):
    import copy
    r = copy.copy(results)
    r.interventions = [{"id": "x", "abated_kgco2e_per_year": 10.0, "cost_per_tonne": 5.0,
                        "verdict": "worth_it_at_carbon_price"}]
    r.extras = {}
    assert fz.action_plan(r)[0]["text"].startswith("Start with x (x): Worth it at the carbon price.")


def test_usage_growth_by_stage_wins_over_growth_by_kind(tmp_path):
    from audit.orchestration.pipeline import audit_engagement
    from tests.helpers import activity, write_engagement

    rows = [activity(activity_id="E1", stage="Ideation", kind="electricity", quantity="1000", unit="kWh"),
            activity(activity_id="E2", stage="Production", kind="electricity", quantity="1000", unit="kWh")]
    folder = write_engagement(tmp_path, rows, stages=["Ideation", "Production"], upstream_cat3=False, forecast={
        "years": 1, "usage_growth_per_year": {"electricity": 0.5, "Production": 1.0},
        "grid_decarbonisation_per_year": {"GBR": 0.0}, "model_efficiency_per_year": 0.0})
    r = audit_engagement(folder)
    kg = r.lines.set_index("activity_id")["kgco2e"]
    base, year1 = r.forecast[0]["bau_kgco2e"], r.forecast[1]["bau_kgco2e"]
    assert base == pytest.approx(kg.sum(), rel=1e-12)
    assert year1 == pytest.approx(kg["E1"] * 1.5 + kg["E2"] * 2.0, rel=1e-12)
