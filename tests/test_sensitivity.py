"""Sensitivity (audit.analyses.sensitivity): the verdict with changed inputs and the tornado rows."""
from __future__ import annotations

import pytest

from audit.analyses.interventions import VERDICT_ORDER
from audit.analyses.sensitivity import cost_per_tonne_at, option_verdict, sensitivity
from tests.helpers import sample_results


@pytest.fixture(scope="module")
def results():
    return sample_results()


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
    assert option_verdict(rec, net, abated, 85.0, "GBP") == verdict
    assert verdict in VERDICT_ORDER


def test_cost_formula_reproduces_every_record(results):
    s = results.extras["forecast_settings"]
    for rec in results.interventions:
        got = cost_per_tonne_at(rec, s["day_rate"], s["electricity_price_per_kwh"])
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
    rows = sensitivity([vp], results.extras["forecast_settings"], eng, results.totals["kgco2e"])
    cp = next(r for r in rows if r["input"].startswith("Carbon price"))
    assert cp["cost_per_tonne_low"] == cp["cost_per_tonne_high"] == cp["cost_per_tonne_base"]
    assert cp["input_low"] == pytest.approx(0.75 * price) and cp["input_high"] == pytest.approx(1.25 * price)
    below = "co_benefits_only" if vp["co_benefits"] else "not_worth_it"
    assert cp["verdict_low"] == below and cp["verdict_high"] == "worth_it_at_carbon_price"


def test_tornado_top_keeps_the_ranking_order(results):
    rows = sensitivity(results.interventions, results.extras["forecast_settings"], results.engagement,
                          results.totals["kgco2e"], top=2)
    priced = [i["id"] for i in results.interventions
              if i["cost_per_tonne"] is not None and i["abated_kgco2e_per_year"] > 0]
    assert list(dict.fromkeys(r["id"] for r in rows)) == priced[:2]
