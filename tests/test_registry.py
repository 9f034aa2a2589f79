"""The registry (audit.analyses.registry): ``apply`` fills the results it is given, and only those."""
from __future__ import annotations

import pytest

from tests.helpers import sample_results_at_carbon_price


@pytest.fixture(scope="module")
def priced():
    """The sample with a carbon price high enough to make the location-shoot cut worth it
    (built once, on a copy: tests.helpers.sample_results_at_carbon_price)."""
    return sample_results_at_carbon_price()


def test_apply_on_a_copy_leaves_the_shared_results_alone(priced):
    base, r = priced
    assert {i["id"]: i["verdict"] for i in r.interventions}["virtual_production"] == "worth_it_at_carbon_price"
    assert base.interventions == [] and base.forecast == [] and "forecast_settings" not in base.extras
