"""Audit results: totals are sums of lines, and results.json keeps its contract."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from audit.inventory.results import (
    ACTIVITY_JSON_FIELDS, SCHEMA_VERSION, compute_totals, hotspot_table, independent_range, scope_breakdown,
)
import audit.analyses.registry  # noqa: F401 - registers results.json's disclosure blocks (water_litres), as every run has them
from tests.helpers import SAMPLE_ACTIVITY_COUNT, SAMPLE_INPUT_FILES, sample_results, sample_results_without_feasibility

TOTAL_KEYS = {"kwh", "kgco2e", "kgco2e_low", "kgco2e_high", "scope1_kgco2e", "scope2_location_kgco2e",
              "scope2_market_kgco2e", "scope3_kgco2e"}
ACTIVITY_KEYS = {"activity_id", "kind", "scope", "scope3_category", "kwh", "kgco2e", "kgco2e_low", "kgco2e_high",
                 "factor_ids", "data_quality"}


@pytest.fixture(scope="module")
def results():
    return sample_results_without_feasibility()


@pytest.fixture(scope="module")
def doc(results):
    return results.to_json_dict()


def test_totals_are_sums_over_lines(results):
    t = results.totals
    l = results.lines
    assert set(t) == TOTAL_KEYS
    for key, col in [("kwh", "kwh"), ("kgco2e", "kgco2e"), ("kgco2e_low", "kgco2e_low"),
                     ("kgco2e_high", "kgco2e_high")]:
        assert t[key] == pytest.approx(math.fsum(l[col]), rel=1e-12), key
    assert t["scope1_kgco2e"] + t["scope2_location_kgco2e"] + t["scope3_kgco2e"] == pytest.approx(t["kgco2e"], rel=1e-12)
    assert t["scope2_market_kgco2e"] == pytest.approx(0.4 * t["scope2_location_kgco2e"], rel=1e-12)
    assert t["kgco2e_low"] < t["kgco2e"] < t["kgco2e_high"]
    assert all(isinstance(v, float) for v in t.values())


def test_totals_on_the_sample_add_up_by_activity(results):
    """The parent activities and their derived lines partition the total."""
    l = results.lines
    per_parent = l.assign(parent=l["derived_from"].where(l["derived_from"] != "", l["activity_id"])) \
                  .groupby("parent")["kgco2e"].sum()
    assert len(per_parent) == SAMPLE_ACTIVITY_COUNT
    assert per_parent.sum() == pytest.approx(results.totals["kgco2e"], rel=1e-12)


def test_compute_totals_by_hand():
    lines = pd.DataFrame({
        "scope": [1, 2, 3, 3], "kwh": [0.0, 10.0, 5.0, 0.0], "kgco2e": [1.0, 2.0, 3.0, 4.0],
        "kgco2e_low": [0.5, 1.5, 2.5, 3.5], "kgco2e_high": [2.0, 3.0, 4.0, 5.0], "kgco2e_market": [1.0, 0.5, 3.0, 4.0],
    })
    assert compute_totals(lines) == {
        "kwh": 15.0, "kgco2e": 10.0, "kgco2e_low": 8.0, "kgco2e_high": 14.0, "scope1_kgco2e": 1.0,
        "scope2_location_kgco2e": 2.0, "scope2_market_kgco2e": 0.5, "scope3_kgco2e": 7.0}


def test_independent_range_by_hand():
    lines = pd.DataFrame({"kgco2e": [10.0, 20.0], "kgco2e_low": [7.0, 16.0], "kgco2e_high": [13.0, 25.0]})
    lo, hi = independent_range(lines)
    assert lo == pytest.approx(30 - 5.0, rel=1e-12)  # sqrt(3² + 4²)
    assert hi == pytest.approx(30 + math.sqrt(3 ** 2 + 5 ** 2), rel=1e-12)


def test_independent_range_is_inside_the_correlated_range(results):
    lo, hi = independent_range(results.lines)
    t = results.totals
    assert t["kgco2e_low"] <= lo < t["kgco2e"] < hi <= t["kgco2e_high"]


def test_scope_breakdown_matches_totals(results):
    t = results.totals
    rows = scope_breakdown(results.lines)
    by_label = rows.groupby("scope")["kgco2e"].sum()
    assert by_label["Scope 1"] == pytest.approx(t["scope1_kgco2e"], rel=1e-12)
    assert by_label["Scope 2 (location-based)"] == pytest.approx(t["scope2_location_kgco2e"], rel=1e-12)
    assert by_label["Scope 2 (market-based)"] == pytest.approx(t["scope2_market_kgco2e"], rel=1e-12)
    assert by_label["Scope 3"] == pytest.approx(t["scope3_kgco2e"], rel=1e-12)
    cats = rows.loc[rows["scope"] == "Scope 3", "scope3_category"].tolist()
    assert cats == sorted(cats) == [1, 2, 3, 4, 6]
    location_shares = rows.loc[rows["scope"] != "Scope 2 (market-based)", "share"]
    assert location_shares.sum() == pytest.approx(1.0, rel=1e-12)


def test_hotspots_fold_derived_lines_into_their_activity(results):
    h = hotspot_table(results.lines)
    assert len(h) == SAMPLE_ACTIVITY_COUNT and h["activity_id"].is_unique
    assert not h["activity_id"].str.contains("~").any()
    assert h["kgco2e"].is_monotonic_decreasing
    assert h["kgco2e"].sum() == pytest.approx(results.totals["kgco2e"], rel=1e-12)
    assert h["cumulative_share"].iloc[-1] == pytest.approx(1.0, rel=1e-12)
    l = results.lines
    pro04 = l.loc[l["activity_id"].isin(["PRO-04", "PRO-04~wtt"]), "kgco2e"].sum()
    assert h.set_index("activity_id").at["PRO-04", "kgco2e"] == pytest.approx(pro04, rel=1e-12)


def test_stage_breakdown_follows_the_engagement_order(results):
    s = results.by_stage
    assert s["stage"].tolist() == list(results.engagement.stages)
    assert s["kgco2e"].sum() == pytest.approx(results.totals["kgco2e"], rel=1e-12)
    assert s["kwh"].sum() == pytest.approx(results.totals["kwh"], rel=1e-12)


# --- results.json -----------------------------------------------------------------------------

def test_json_contract(doc, results):
    assert doc["schema_version"] == SCHEMA_VERSION == 1
    # results.json's totals add water (issue 13: beside carbon, never added to it)
    assert set(doc["totals"]) == TOTAL_KEYS | {"water_litres"}
    assert {k: v for k, v in doc["totals"].items() if k != "water_litres"} == results.totals
    assert doc["totals"]["water_litres"] == pytest.approx(
        sum(a["water_litres"] for a in doc["activities"] if a["water_litres"] is not None), rel=1e-12)
    assert doc["engagement"]["client"] == "Northlight Creative Ltd"
    assert "DESNZ 2025" in doc["factor_set"]
    acts = doc["activities"]
    assert len(acts) == len(results.lines)
    assert set(ACTIVITY_JSON_FIELDS) == ACTIVITY_KEYS
    for a in acts:
        assert ACTIVITY_KEYS <= set(a), a["activity_id"]
        assert isinstance(a["scope"], int) and a["scope"] in (1, 2, 3)
        assert (a["scope3_category"] is None) == (a["scope"] != 3)
        assert isinstance(a["data_quality"], int) and 1 <= a["data_quality"] <= 5
        assert isinstance(a["factor_ids"], list) and all(isinstance(f, str) for f in a["factor_ids"])
        assert all(isinstance(a[k], float) for k in ("kwh", "kgco2e", "kgco2e_low", "kgco2e_high"))
        assert a["kgco2e_low"] <= a["kgco2e"] <= a["kgco2e_high"]
    assert sum(a["kgco2e"] for a in acts) == pytest.approx(doc["totals"]["kgco2e"], rel=1e-12)
    cited = {f for a in acts for f in a["factor_ids"]}
    assert cited == {f["factor_id"] for f in doc["factors"]}
    for s in doc["scopes"]:
        assert s["scope3_category"] is None or type(s["scope3_category"]) is int, s


def test_json_serialises_without_nan(doc):
    text = json.dumps(doc, allow_nan=False)
    again = json.loads(text)
    assert again["totals"] == doc["totals"]
    by_id = {a["activity_id"]: a for a in again["activities"]}
    assert by_id["PRO-04~wtt"]["derived_from"] == "PRO-04" and by_id["PRO-04"]["derived_from"] is None


def test_feasibility_keys_only_when_asked(results):
    assert {"interventions", "forecast"} <= set(results.to_json_dict(include_feasibility=True))
    assert not {"interventions", "forecast"} & set(results.to_json_dict(include_feasibility=False))


def test_full_audit_serialises_and_round_trips(tmp_path):
    full = sample_results()
    path = tmp_path / "results.json"
    full.write_json(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["schema_version"] == 1 and data["interventions"] and data["forecast"]
    assert {k: v for k, v in data["totals"].items() if k != "water_litres"} == pytest.approx(full.totals, rel=1e-12)
    assert data["manifest"]["input_files_sha256"].keys() == SAMPLE_INPUT_FILES
    assert np.isfinite([a["kgco2e"] for a in data["activities"]]).all()


def test_html_and_excel_state_the_same_weighted_data_quality():
    """One definition for both reports (the HTML used to weight each parent's score by its
    derived lines' emissions too, which differs where an embodied line is capped at 4)."""
    from audit.deliverables import html as report_html
    from audit.inventory.results import weighted_data_quality

    r = sample_results()
    lines = r.lines
    expected = float((lines["data_quality"] * lines["kgco2e"]).sum() / lines["kgco2e"].sum())
    assert weighted_data_quality(lines) == pytest.approx(expected, rel=1e-12)
    assert report_html.data_quality_rows(r)[1] == pytest.approx(expected, rel=1e-12)
    # Excel's SUMPRODUCT cell carries weighted_data_quality as its value, and the LibreOffice
    # test (test_report_excel) recalculates every formula cell against the value we wrote.


def test_every_stored_analysis_is_the_function_the_reports_fall_back_to():
    """feasibility.apply stores each analysis; results without them (loaded from an older run,
    built by hand) get the same function run now, in the HTML, the workbook and the charts alike."""
    import copy

    from audit.deliverables import excel as report_excel, html as report_html
    from audit.analyses.registry import ANALYSES
    from audit.inventory.results import FEASIBILITY_EXTRAS

    assert set(ANALYSES) == set(FEASIBILITY_EXTRAS)
    full = sample_results()
    bare = copy.copy(full)
    bare.extras = {k: v for k, v in full.extras.items() if k not in FEASIBILITY_EXTRAS}
    for key in FEASIBILITY_EXTRAS:
        assert full.analysis(key) is full.extras[key]
        assert json.dumps(bare.analysis(key), sort_keys=True, default=str) == \
            json.dumps(full.extras[key], sort_keys=True, default=str), key
    assert report_html.customisation_groups(bare) and report_html.scorecard_table(bare)["rows"]
    wb, _ = report_excel.build_workbook(bare)
    for sheet in ("Customisation", "Scorecard", "Sensitivity", "Precision per watt"):
        assert wb[sheet].max_row > report_excel.HEADER_ROW + 1, sheet  # a table, not the empty-sheet note


def test_a_computed_analysis_is_reused_until_its_inputs_change(monkeypatch):
    import copy

    from audit.analyses import registry

    calls = []
    real = registry.ANALYSES["precision_per_watt"]
    monkeypatch.setitem(registry.ANALYSES, "precision_per_watt", lambda r: calls.append(1) or real(r))
    bare = copy.copy(sample_results())
    bare.extras = {}
    first = bare.analysis("precision_per_watt")
    assert bare.analysis("precision_per_watt") is first and len(calls) == 1
    bare.lines = bare.lines.copy()
    bare.analysis("precision_per_watt")
    assert len(calls) == 2


def test_by_family_splits_the_totals_by_kind_family():
    r = sample_results_without_feasibility()
    fam = r.by_family
    assert set(fam.index) == {"Generative AI and compute", "Traditional production"}
    assert fam["kgco2e"].sum() == pytest.approx(r.totals["kgco2e"], rel=1e-12)
    assert fam["share"].sum() == pytest.approx(1.0)
    genai = r.lines[r.lines["kind"].isin(("llm_api", "image_generation", "gpu_compute", "storage"))]
    assert fam.loc["Generative AI and compute", "kwh"] >= genai["kwh"].sum()


def test_factor_trace_has_the_derived_lines_and_every_cited_factor():
    r = sample_results_without_feasibility()
    aid = r.hotspots["activity_id"].iloc[0]
    lines, factors = r.trace(aid)
    derived = r.lines[r.lines["derived_from"] == aid]
    assert len(lines) == 1 + len(derived) and (lines["activity_id"].iloc[0] == aid)
    cited = {f for ids in lines["factor_ids"] for f in ids}
    assert set(factors["factor_id"]) == cited & set(r.factors["factor_id"])
    assert all(isinstance(v, str) for v in factors["value"])  # all significant digits, as text


def test_forecast_table_and_savings_table_flatten_the_feasibility_results():
    r = sample_results()
    table = r.forecast_table()
    assert list(table.index) == [f["year"] for f in r.forecast]
    assert (table["avoided_kgco2e"] == table["bau_kgco2e"] - table["plan_kgco2e"]).all()
    savings = r.savings_table()
    assert len(savings) == sum(len(i["savings_breakdown"]) for i in r.interventions)
    if len(savings):
        assert set(savings["id"]) <= {i["id"] for i in r.interventions}


def test_forecast_assumptions_are_the_headline_keys():
    from audit.analyses.forecast import FORECAST_KEYS, forecast_assumptions

    settings = sample_results().extras["forecast_settings"]
    assert list(forecast_assumptions(settings)) == list(FORECAST_KEYS)
    assert forecast_assumptions(settings)["years"] == settings["years"]
