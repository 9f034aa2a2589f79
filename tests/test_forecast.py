"""The forecast (audit.analyses.forecast): the growth equation, the settings, BAU and plan."""
from __future__ import annotations

import pandas as pd
import pytest

from audit.analyses.forecast import combined_abatement, growth_multiplier, settings
from audit.analyses.interventions import ACTIONABLE_VERDICTS
from audit.core.models import Engagement
from audit.reference.settings import forecast_defaults
from tests.helpers import BASE_SETTINGS, sample_results, sample_results_at_carbon_price


@pytest.fixture(scope="module")
def results():
    return sample_results()


def test_growth_multiplier():
    assert growth_multiplier(0, 0.25, 0.1, 0.1) == 1.0
    assert growth_multiplier(2, 0.25, 0.1, 0.2) == pytest.approx(1.25 ** 2 * 0.9 ** 2 * 0.8 ** 2, rel=1e-12)


def test_unit_cost_overrides_reach_the_settings():
    """An engagement's forecast.unit_costs value replaces the default."""
    eng = Engagement.model_validate({**BASE_SETTINGS, "forecast": {
        "unit_costs": {"hotel_per_room_night": 99.0}, "impact_threshold_share": 0.05}})
    s = settings(eng)
    assert s["unit_costs"]["hotel_per_room_night"]["value"] == 99.0
    assert "override" in s["unit_costs"]["hotel_per_room_night"]["basis"]
    assert s["impact_threshold_share"] == 0.05
    assert forecast_defaults()["unit_costs"]["hotel_per_room_night"]["value"] != 99.0  # not mutated


def test_forecast_shape_and_plan_never_above_bau(results):
    f = results.forecast
    assert [r["year"] for r in f] == [2025, 2026, 2027, 2028]  # base year + 3 default years
    for r in f:
        assert {"year", "bau_kgco2e", "plan_kgco2e"} <= set(r)
        assert 0 <= r["plan_kgco2e"] <= r["bau_kgco2e"]
    assert f[0]["bau_kgco2e"] == pytest.approx(results.totals["kgco2e"], rel=1e-12)


@pytest.fixture(scope="module")
def priced():
    """The sample with a carbon price high enough to make the location-shoot cut worth it
    (built once, on a copy: tests.helpers.sample_results_at_carbon_price)."""
    return sample_results_at_carbon_price()


def test_chosen_interventions_lower_the_plan(priced):
    _, r = priced
    chosen = [i for i in r.interventions if i["verdict"] in ACTIONABLE_VERDICTS]
    assert set(ACTIONABLE_VERDICTS) == {"pays_for_itself", "worth_it_at_carbon_price"}
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
    got = combined_abatement(lines, [pd.Series({"A": 60.0}), pd.Series({"A": 50.0, "B": 10.0})])
    assert got["A"] == pytest.approx(100 - 100 * 0.4 * 0.5)  # 60 % then half of what is left
    assert got["B"] == pytest.approx(10.0)


def test_forecast_settings_overrides():
    eng = Engagement.model_validate({**BASE_SETTINGS, "forecast": {"years": 2, "day_rate": 500,
                                                                   "usage_growth_per_year": {"llm_api": 0.5}}})
    s = settings(eng)
    assert s["years"] == 2 and s["day_rate"] == 500
    assert s["usage_growth_per_year"]["llm_api"] == 0.5
    assert s["usage_growth_per_year"]["image_generation"] == 0.25  # default kept
    assert forecast_defaults()["usage_growth_per_year"]["llm_api"] == 0.25  # defaults not mutated


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
