"""What to do first (audit.analyses.action_plan): the recommendations follow the numbers."""
from __future__ import annotations

import pytest

from audit.analyses.action_plan import action_plan
from audit.analyses.interventions import ACTIONABLE_VERDICTS
from tests.helpers import sample_results, sample_results_at_carbon_price


@pytest.fixture(scope="module")
def results():
    return sample_results()


@pytest.fixture(scope="module")
def priced():
    """The sample with a carbon price high enough to make the location-shoot cut worth it
    (built once, on a copy: tests.helpers.sample_results_at_carbon_price)."""
    return sample_results_at_carbon_price()


def test_action_plan_follows_the_numbers(results):
    plan = {a["topic"]: a["text"] for a in action_plan(results)}
    go = [i for i in results.interventions if i["verdict"] in ACTIONABLE_VERDICTS]
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
    first = action_plan(r)[0]
    go = next(i for i in r.interventions if i["verdict"] in ACTIONABLE_VERDICTS)
    assert first["topic"] == "First action" and first["text"].startswith(f"Start with {go['name']} ({go['id']}")


def test_action_plan_survives_partial_records(results):
    import copy
    r = copy.copy(results)
    r.interventions = [{"id": "x", "abated_kgco2e_per_year": 10.0, "cost_per_tonne": 5.0,
                        "verdict": "worth_it_at_carbon_price"}]
    r.extras = {}
    assert action_plan(r)[0]["text"].startswith("Start with x (x): Worth it at the carbon price.")
