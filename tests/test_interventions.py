"""Interventions (audit.analyses.interventions): the MACC equations, the time-shift window, and
the options evaluated on the sample."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from audit.analyses.forecast import settings
from audit.analyses.interventions import (
    VERDICT_ORDER, annualised_cost, cleanest_window_ratio, cost_per_tonne, evaluate_many, non_energy_savings,
    payback_years, records,
)
from audit.analyses.options import interventions_for
from audit.core.models import Intervention
from audit.core.paths import SOURCES_DIR
from audit.reference import pricing
from tests.helpers import sample_results, sample_results_without_feasibility

INTERVENTION_KEYS = {"id", "name", "applies_to", "abated_kgco2e_per_year", "abated_low", "abated_high",
                     "cost_per_tonne", "payback_years", "effort_person_days", "verdict", "reason"}


@pytest.fixture(scope="module")
def results():
    return sample_results()


@pytest.fixture(scope="module")
def interventions(results):
    return {i["id"]: i for i in results.interventions}


def test_annualised_cost():
    assert annualised_cost(1000, 4, 50, 100) == 200.0  # 1000/4 + 50 - 100
    assert annualised_cost(0, 3, 0, 120) == -120.0  # pure savings: negative cost


def test_cost_per_tonne():
    assert cost_per_tonne(200.0, 500.0) == 400.0  # 200 / 0.5 t
    assert cost_per_tonne(-120.0, 2000.0) == -60.0
    assert cost_per_tonne(200.0, 0.0) is None
    assert cost_per_tonne(200.0, -5.0) is None


def test_payback_years():
    assert payback_years(1000, 250) == 4.0
    assert payback_years(0, 0) == 0.0
    assert payback_years(0, 10) == 0.0
    assert payback_years(1000, 0) is None
    assert payback_years(1000, -50) is None


def test_payback_is_none_beyond_the_planning_horizon():
    from audit.analyses.interventions import PAYBACK_HORIZON_YEARS, payback_years

    assert payback_years(1000, 100) == 10
    assert payback_years(1000, 1000 / (PAYBACK_HORIZON_YEARS + 1)) is None
    assert payback_years(1000, 0) is None and payback_years(0, 5) == 0.0


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
    got = cleanest_window_ratio(country, window_hours=hours)
    assert got == pytest.approx(brute_force_window(country, hours), rel=1e-12)


def test_cleanest_window_in_gbr_is_cleaner_than_average():
    lo, mid, hi = cleanest_window_ratio("GBR")
    assert lo <= mid <= hi
    assert lo < 1 and mid < 1


def test_no_profile_means_no_window():
    assert cleanest_window_ratio("USA") is None


def test_interventions_have_the_contract_keys(results):
    assert results.interventions, "the sample should have applicable interventions"
    ids = [i["id"] for i in results.interventions]
    assert len(ids) == len(set(ids))
    for rec in results.interventions:
        assert INTERVENTION_KEYS <= set(rec), rec["id"]
        assert rec["abated_low"] <= rec["abated_kgco2e_per_year"] <= rec["abated_high"], rec["id"]
        assert rec["verdict"] in VERDICT_ORDER and rec["reason"]
        assert isinstance(rec["applies_to"], list) and rec["applies_to"] == sorted(rec["applies_to"])
        assert rec["effort_person_days"] >= 0
    order = [VERDICT_ORDER[i["verdict"]] for i in results.interventions]
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
    got = non_energy_savings(base, new, specs, costs)
    assert [g["unit_cost"] for g in got] == ["fl", "ht"]
    assert got[0]["activities"] == ["F"] and got[0]["quantity_saved"] == 500.0
    assert got[0]["saving"] == pytest.approx(500 * 0.2)  # rail and car are not flights
    assert got[1]["saving"] == pytest.approx(5 * 300 / 2)  # per 2 room-nights
    # a quantity that grows is a cost, not a saving
    more = non_energy_savings(base, base.assign(quantity_base=base["quantity_base"] * 2), specs[:1], costs)
    assert more[0]["saving"] == pytest.approx(-1000 * 0.2)
    # token-based measures: requests x tokens
    llm = pd.DataFrame({"activity_id": ["L"], "kind": ["llm_api"], "mode": [""], "quantity_base": [1000.0],
                        "input_tokens": [2000.0]})
    tok = non_energy_savings(llm, llm.assign(input_tokens=1200.0),
                                [{"kind": "llm_api", "measure": "input_tokens", "unit_cost": "m"}],
                                {"m": {"value": 2.5, "per": 1e6}})
    assert tok[0]["saving"] == pytest.approx(1000 * 800 * 2.5 / 1e6)


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
    ratio = cleanest_window_ratio("GBR")[1]
    l = results.lines
    direct = l.loc[l["activity_id"].isin(rec["applies_to"]), "kgco2e"].sum()
    assert rec["abated_kgco2e_per_year"] >= direct * (1 - ratio) * (1 - 1e-9)
    assert rec["abated_kgco2e_per_year"] <= rec["baseline_kgco2e"] * (1 - ratio) * (1 + 1e-9)


def _typed(recs: list[dict]) -> list[list[tuple]]:
    """Records as (column, type, value) with NaN made comparable."""
    return [[(k, type(v), "NaN" if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()] for r in recs]


@pytest.mark.parametrize("extra", [{}, {"obj": pd.Series([np.float64(1.5), "x", None], dtype=object)}])
def test_records_are_to_dict_records_value_and_type(extra):
    frame = pd.DataFrame({"activity_id": pd.Series(["a", None, "c~kept"], dtype="str"), "quantity": [1.0, np.nan, 3.25],
                          "data_quality": np.array([1, 2, 3], dtype="int64"), "flag": [True, False, True], **extra})
    expected = frame.to_dict(orient="records")
    assert _typed(records(frame)) == _typed(expected)
    assert type(records(frame)[0]["quantity"]) is float and type(records(frame)[0]["data_quality"]) is int
    if extra:  # an object column goes through pandas, which unboxes numpy scalars
        assert type(records(frame)[0]["obj"]) is float


def test_records_of_an_empty_frame():
    assert records(pd.DataFrame({"a": pd.Series([], dtype=float)})) == []


def test_an_option_without_a_factor_is_named_and_the_others_are_still_evaluated():
    """One re-estimate for every option; when it fails (a mode with no factor), the options
    are re-estimated one at a time: the failing one is named, every other one evaluated with
    the figures of the shared re-estimate (to rounding: a lone re-estimate may sum its lines
    in another order)."""
    r = sample_results_without_feasibility()
    teleport = Intervention.model_validate({"id": "teleport", "name": "Teleport", "applies_to": {"kind": ["travel"]},
                                            "change": {"set": {"mode": "teleport_pod"}},
                                            "effort": {"person_days": 1}})
    options = interventions_for(r.engagement)
    s = settings(r.engagement)
    shared = evaluate_many(r, options, s)
    alone = evaluate_many(r, [*options, teleport], s)
    done, why = alone[-1]
    assert done is None and "Option teleport (Teleport) is not evaluated" in why and "teleport_pod" in why
    compared = 0
    for (a, why_a), (b, why_b) in zip(shared, alone[:-1], strict=True):
        assert why_a == why_b and (a is None) == (b is None)
        if a is None:
            continue
        for key in ("abated_kgco2e_per_year", "abated_low", "abated_high", "kwh_saved_per_year",
                    "money_saved_per_year"):
            assert b.record[key] == pytest.approx(a.record[key], rel=1e-9, abs=1e-12), (a.record["id"], key)
        assert b.record["verdict"] == a.record["verdict"] and b.record["applies_to"] == a.record["applies_to"]
        compared += 1
    assert compared >= 15
