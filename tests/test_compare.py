"""Period over period (audit.analyses.compare) on two small results.json mappings, by hand.
(The `audit compare` command on real runs: test_disclosure_contract.)"""
from __future__ import annotations

import pytest

from audit.analyses.compare import change_share, compare, linear_target, period_year
from audit.core.exceptions import ValidationError


def results(client: str, period: str, lines: list[tuple[str, str, float]], rate: float | None = None,
            sci: list[dict] | None = None) -> dict:
    """A minimal results.json: activities (stage, kind, kgco2e) and totals that add them up."""
    total = sum(kg for _, _, kg in lines)
    engagement = {"client": client, "period": period}
    if rate is not None:
        engagement["reduction_target_per_year"] = rate
    return {"engagement": engagement, "sci": sci or [],
            "totals": {"kgco2e": total, "scope1_kgco2e": 0.0, "scope2_location_kgco2e": total,
                       "scope2_market_kgco2e": 0.0, "scope3_kgco2e": 0.0},
            "activities": [{"stage": s, "kind": k, "kgco2e": kg} for s, k, kg in lines]}


def test_equations():
    assert change_share(2.0, 3.0) == pytest.approx(0.5)
    assert change_share(0.0, 3.0) is None
    assert linear_target(10.0, 0.042, 2) == pytest.approx(10.0 * (1 - 0.084))
    assert linear_target(10.0, 0.5, 3) == 0.0  # never below zero
    assert period_year("FY2025 Q4") == 2025 and period_year("") is None and period_year(None) is None


def test_two_periods_by_hand():
    base = results("Acme", "2024", [("Ideation", "llm_api", 1000.0), ("Production", "travel", 3000.0)],
                   sci=[{"functional_unit": "asset", "unit": "kgCO2e/asset", "value": 2.0}])
    new = results("Acme", "2026", [("Production", "travel", 2000.0), ("Post", "electricity", 500.0),
                                   ("Ideation", "llm_api", 1500.0)], rate=0.1,
                  sci=[{"functional_unit": "asset", "unit": "kgCO2e/asset", "value": 1.5}])
    got = compare(base, new)
    assert got["totals"]["base_tco2e"] == 4.0 and got["totals"]["new_tco2e"] == 4.0
    assert got["totals"]["change_tco2e"] == 0.0 and got["totals"]["change_share"] == 0.0
    stages = {r["key"]: r for r in got["by_stage"]}
    assert [r["key"] for r in got["by_stage"]] == ["Ideation", "Production", "Post"]  # first appearance
    assert stages["Production"]["change_tco2e"] == pytest.approx(-1.0)
    assert stages["Post"]["base_tco2e"] == 0.0 and stages["Post"]["change_share"] is None
    unit = got["per_functional_unit"][0]
    assert unit["change"] == pytest.approx(-0.5) and unit["change_share"] == pytest.approx(-0.25)
    # two years at 10 % of the base a year: 4 t x (1 - 0.2) = 3.2 t; 4 t is 0.8 t above it
    t = got["target"]
    assert t["years"] == 2 and t["target_tco2e"] == pytest.approx(3.2)
    assert t["gap_tco2e"] == pytest.approx(0.8) and t["on_track"] is False
    assert got["notes"] == []


def test_notes_for_other_clients_and_unknown_years():
    got = compare(results("Acme", "spring", [("A", "llm_api", 10.0)], rate=0.05),
                  results("Beta", "autumn", [("A", "llm_api", 5.0)]))
    assert any("different clients" in n for n in got["notes"])
    assert any("one year assumed" in n for n in got["notes"]) and got["target"]["years"] == 1


def test_a_bad_activity_is_located():
    bad = results("Acme", "2025", [("A", "llm_api", 10.0)])
    bad["activities"][0]["kgco2e"] = "lots"
    with pytest.raises(ValidationError) as err:
        compare(results("Acme", "2024", []), bad, new_label="new/results.json")
    (p,) = err.value.problems
    assert (p.file, p.row, p.column) == ("new/results.json", 1, "kgco2e")
