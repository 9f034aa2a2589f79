"""One verdict set, defined once; money saved counts; campaign and year figures."""
from __future__ import annotations

import pytest
from pydantic import ValidationError

from audit.analyses import verdicts as v


def test_the_set_is_defined_once_with_labels():
    defs = v.definitions()
    assert list(defs) == list(v.Verdict)
    labels = [d.label for d in defs.values()]
    assert len(set(labels)) == len(labels)
    assert v.label("pays_for_itself") == defs[v.Verdict.PAYS_FOR_ITSELF].label


def test_net_cost_counts_money_saved():
    # 6 person-days at 650 over 2 years = 1,950 a year; 12,000 of fees saved
    assert v.net_cost_per_year(6, 650, 0, 2, 0, 12000) == pytest.approx(6 * 650 / 2 - 12000)
    assert v.net_cost_per_year(1, 500, 1000, 4, 300, 0) == pytest.approx((500 + 1000) / 4 + 300)
    with pytest.raises(ValueError):
        v.net_cost_per_year(1, 1, 0, 0, 0, 0)


def test_a_model_switch_that_saves_fees_pays_for_itself():
    saved = 12000.0
    net = v.net_cost_per_year(6, 650, 0, 2, 0, saved)
    r = v.verdict(500, net, 100, money_saved_per_year=saved, currency="GBP")
    assert r.verdict is v.Verdict.PAYS_FOR_ITSELF and r.label == v.label(r.verdict)
    share = (net + saved) / saved
    assert f"{share:.0%}" in r.what_would_change_it
    assert r.cost_per_tonne == pytest.approx(net / 0.5)


@pytest.mark.parametrize("abated, net, price, co, expected", [
    (1000, 50, 100, (), v.Verdict.WORTH_IT_AT_CARBON_PRICE),
    (1000, 100, 100, (), v.Verdict.WORTH_IT_AT_CARBON_PRICE),      # boundary counts as worth it
    (1000, 101, 100, (), v.Verdict.NOT_WORTH_IT),
    (1000, 5000, 100, ("cleaner air on set",), v.Verdict.CO_BENEFITS_ONLY),
    (0, -500, 100, (), v.Verdict.NO_GAIN),
    (-10, 100, 100, (), v.Verdict.NO_GAIN),
    (10, 0, 100, (), v.Verdict.PAYS_FOR_ITSELF),
    (1000, 50, 0, (), v.Verdict.NOT_WORTH_IT),                     # no carbon price: costs are not worth it
])
def test_rules(abated, net, price, co, expected):
    r = v.verdict(abated, net, price, co_benefits=co)
    assert r.verdict is expected
    assert r.reason and r.what_would_change_it


def test_what_would_change_it_gives_the_threshold_carbon_price():
    r = v.verdict(2000, 1000, 100, currency="EUR")    # 500 EUR per tonne
    assert r.verdict is v.Verdict.NOT_WORTH_IT
    assert "500 EUR per tonne" in r.what_would_change_it
    worth = v.verdict(2000, 1000, 600, currency="EUR")
    assert worth.verdict is v.Verdict.WORTH_IT_AT_CARBON_PRICE and "500 EUR" in worth.what_would_change_it


def test_lever_hint_is_carried():
    r = v.verdict(10, -5, 100, money_saved_per_year=10, hint="Keep 80% of requests on the small model.")
    assert r.what_would_change_it.endswith("Keep 80% of requests on the small model.")


def test_campaign_and_year_figures():
    camp = v.Period(period_type="campaign", campaigns_per_year=4)
    year = v.Period()
    assert v.per_year(10, camp) == 40 and v.per_year(10, year) == 10
    assert v.per_campaign(40, camp) == 10
    rec = {"abated_kgco2e_per_year": 400.0, "money_saved_per_year": 800.0, "net_cost_per_year": -200.0}
    block = v.period_figures(rec, camp)
    assert block == {"abated_kgco2e": 100.0, "money_saved": 200.0, "net_cost": -50.0, "campaigns_per_year": 4}
    assert v.period_figures(rec, year) is None
    with pytest.raises(ValidationError):
        v.Period(period_type="campaign", campaigns_per_year=0)
    with pytest.raises(ValidationError):
        v.Period(period_type="quarter")
