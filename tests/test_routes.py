"""Same deliverable, three routes: per accepted asset, ranges, unknown costs, rebound."""
from __future__ import annotations

import pytest
from pydantic import ValidationError

from audit.analyses import routes as r

KG = {"PRO-01": (900.0, 1000.0, 1300.0), "PRO-04": (1500.0, 1700.0, 1900.0), "PRE-01": (5.0, 8.0, 14.0),
      "POST-03": (40.0, 60.0, 90.0)}
COST = {"PRO-01": 4560.0, "PRO-04": 928.0, "PRE-01": 210.0, "POST-03": None}


def _deliverable():
    return r.Deliverable.model_validate({
        "deliverable": "40 key visuals", "asset": "key visual", "accepted_assets": 40,
        "options": [{"id": "shoot", "name": "Location shoot", "kind": "traditional", "activities": ["PRO-01", "PRO-04"]},
                   {"id": "gen", "name": "Generated", "kind": "generative", "activities": ["PRE-01", "POST-03"],
                    "fixed_activities": ["POST-03"]}]})


def test_per_accepted_asset_with_range_and_cost():
    d = _deliverable()
    s = r.route_summary(d.options[0], d, KG, COST)
    assert s["kgco2e_per_accepted_asset"] == pytest.approx((1000 + 1700) / 40)
    assert s["low"] == pytest.approx((900 + 1500) / 40) and s["high"] == pytest.approx((1300 + 1900) / 40)
    assert s["cost_per_accepted_asset"] == pytest.approx((4560 + 928) / 40)
    assert s["low"] <= s["kgco2e_per_accepted_asset"] <= s["high"]


def test_unknown_cost_is_not_a_partial_sum():
    d = _deliverable()
    s = r.route_summary(d.options[1], d, KG, COST)
    assert s["cost"] is None and s["cost_per_accepted_asset"] is None and s["cost_unknown"] == ["POST-03"]


def test_rebound_when_volume_grows():
    d = _deliverable()
    shoot = r.route_summary(d.options[0], d, KG, COST)
    gen = r.route_summary(d.options[1], d, KG, COST)
    rows = r.scale_sensitivity(gen, (1, 10, 1000), reference_kgco2e=shoot["kgco2e"])
    per_asset = [x["kgco2e_per_accepted_asset"] for x in rows]
    assert per_asset[0] > per_asset[1] > per_asset[2]           # fixed work spreads thinner
    assert rows[0]["kgco2e"] == pytest.approx(gen["kgco2e"])
    assert rows[-1]["kgco2e"] == pytest.approx(60 + 8 / 40 * 40 * 1000)
    assert rows[0]["times_reference"] < 1 < rows[-1]["times_reference"]   # cheap at 1x, more in all at 1000x
    assert r.rebound_volume(40, 0.5, 1.0) == pytest.approx(60)


def test_bad_routes_are_refused():
    with pytest.raises(ValidationError):
        r.Route(id="x", name="x", kind="drone", activities=["A"])
    with pytest.raises(ValidationError, match="fixed_activities"):
        r.Route(id="x", name="x", kind="hybrid", activities=["A"], fixed_activities=["B"])
    with pytest.raises(ValidationError, match="unique"):
        r.Deliverable(deliverable="d", asset="a", accepted_assets=1,
                      options=[r.Route(id="x", name="x", kind="hybrid", activities=["A"])] * 2)
