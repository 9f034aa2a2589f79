"""The effort/impact matrix (audit.analyses.effort_impact)."""
from __future__ import annotations

import pytest

from audit.analyses import effort_impact
from audit.reference.settings import forecast_defaults
from tests.helpers import sample_results


@pytest.fixture(scope="module")
def results():
    return sample_results()


@pytest.mark.parametrize("days,abated,quadrant", [
    (5, 500.0, "quick win"), (20, 500.0, "major project"), (5, 50.0, "fill-in"), (20, 50.0, "thankless task"),
    (10, 100.0, "quick win"),  # on both lines: the better side
    (5, 0.0, "no gain"), (5, -3.0, "no gain"),
])
def test_quadrant(days, abated, quadrant):
    assert effort_impact.quadrant(days, abated, effort_threshold=10, impact_kg=100.0) == quadrant
    assert quadrant in effort_impact.QUADRANTS


def test_every_quadrant_has_a_chart_label():
    from audit.deliverables.charts import QUADRANT_LABELS
    assert set(effort_impact.QUADRANTS) - {"no gain"} == set(QUADRANT_LABELS)


def test_sample_quadrants(results):
    th = results.extras["effort_impact"]
    assert th["effort_person_days"] == results.engagement.effort_threshold_person_days
    assert th["impact_kgco2e_per_year"] == pytest.approx(
        forecast_defaults()["impact_threshold_share"] * results.totals["kgco2e"], rel=1e-12)
    for rec in results.interventions:
        assert rec["quadrant"] == effort_impact.quadrant(rec["effort_person_days"], rec["abated_kgco2e_per_year"],
                                              th["effort_person_days"], th["impact_kgco2e_per_year"])
