"""The registry (audit.analyses.registry): ``apply`` fills the results it is given, and only those."""
from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from audit.analyses import customisation, registry, scorecard
from tests.helpers import sample_results, sample_results_at_carbon_price, sample_results_without_feasibility


@pytest.fixture(scope="module")
def priced():
    """The sample with a carbon price high enough to make the location-shoot cut worth it
    (built once, on a copy: tests.helpers.sample_results_at_carbon_price)."""
    return sample_results_at_carbon_price()


def test_apply_on_a_copy_leaves_the_shared_results_alone(priced):
    base, r = priced
    assert {i["id"]: i["verdict"] for i in r.interventions}["virtual_production"] == "worth_it_at_carbon_price"
    assert base.interventions == [] and base.forecast == [] and "forecast_settings" not in base.extras


def test_customisation_and_scorecard_in_one_estimate_equal_each_run_alone():
    """registry.apply estimates both analyses' synthetic rows together (one validation, one
    estimate): every figure must equal what each analysis computes on its own."""
    r = sample_results()
    together = registry.customisation_and_scorecard(r)
    alone_customisation = customisation.for_results(r)
    alone_scorecard = scorecard.for_results(r, weights=r.engagement.scorecard_weights)
    assert alone_customisation and alone_scorecard["rows"]  # the sample has both, so the test compares something
    assert together["customisation"] == alone_customisation
    assert together["scorecard"] == alone_scorecard
    assert r.extras["customisation"] == alone_customisation and r.extras["scorecard"] == alone_scorecard


def test_customisation_and_scorecard_without_activities_are_empty():
    r = dataclasses.replace(sample_results_without_feasibility(), activities=None)
    assert registry.customisation_and_scorecard(r) == {"customisation": [], "scorecard": {"rows": []}}


def test_apply_leaves_the_activities_and_lines_as_they_were():
    """Options change copies of the activity rows (shallow copies under copy-on-write): the
    audited activities and lines stay exactly as estimated."""
    base = sample_results_without_feasibility()
    acts, lines = base.activities.copy(deep=True), base.lines.copy(deep=True)
    r = dataclasses.replace(base, interventions=[], forecast=[], extras={}, warnings=list(base.warnings))
    registry.apply(r)
    assert r.interventions  # the options ran
    pd.testing.assert_frame_equal(r.activities, acts)
    pd.testing.assert_frame_equal(r.lines, lines)
    pd.testing.assert_frame_equal(base.activities, acts)
