"""audit.reference.settings and .profiles: the settings files of data/, read in one place."""
from audit.reference.profiles import hourly_profiles
from audit.reference.settings import forecast_defaults, intervention_entries, scorecard_config, scorecard_factors


def test_forecast_defaults_carry_the_forecast_keys_and_priced_unit_costs():
    d = forecast_defaults()
    for key in ("years", "usage_growth_per_year", "model_efficiency_per_year", "grid_decarbonisation_per_year",
                "electricity_price_per_kwh", "day_rate", "unit_costs", "customisation"):
        assert key in d, key
    assert all("value" in v and "unit" in v for v in d["unit_costs"].values())


def test_intervention_library_has_unique_ids():
    ids = [x["id"] for x in intervention_entries()]
    assert ids and len(ids) == len(set(ids))


def test_scorecard_factors_have_weights_in_file_order():
    config = scorecard_config()
    assert scorecard_factors() == tuple(config["factors"])
    assert all(float(v["weight"]) >= 0 for v in config["factors"].values())


def test_hourly_profiles_cover_24_hours_and_12_months():
    prof = hourly_profiles()
    assert set(prof["hour_utc"]) == set(range(24)) and set(prof["month"]) == set(range(1, 13))
    assert (prof["g_co2e_per_kwh"] >= 0).all()
