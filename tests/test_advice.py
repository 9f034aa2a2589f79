"""Issue 12 end to end: money beside carbon, the real levers, one verdict vocabulary, routes,
campaign or year. Engagements are written to temporary folders; the CLI runs through CliRunner."""
from __future__ import annotations

import json
import re

import openpyxl
import pytest
from typer.testing import CliRunner

from audit.analyses import verdicts
from audit.cli.main import app
from audit.deliverables.excel import write_excel
from audit.deliverables.html import render_html
from audit.orchestration.pipeline import audit_engagement
from audit.reference import pricing
from audit.reference.factors import load_register
from tests.helpers import activity, write_engagement

runner = CliRunner()

# A content studio whose routine LLM work runs on a frontier model, at production volume.
FRONTIER_ROWS = [
    activity(activity_id="LLM-01", stage="Ideation", description="Product copy with a frontier model",
             kind="llm_api", quantity="2000000", unit="request", provider="openai", model="gpt-4o",
             ownership="purchased_service", input_tokens="2000", output_tokens="400"),
    activity(activity_id="LLM-02", stage="Localisation", description="Translation QA with a frontier model",
             kind="llm_api", quantity="600000", unit="request", provider="anthropic", model="claude-sonnet-4-5",
             ownership="purchased_service", input_tokens="1500", output_tokens="600"),
]

# A two-week location shoot: a diesel generator and crew flying London-Paris.
SHOOT_ROWS = [
    activity(activity_id="GEN-01", stage="Production", description="Location generator", kind="fuel",
             quantity="3000", unit="litre", mode="diesel", ownership="leased"),
    activity(activity_id="FLY-01", stage="Production", description="Crew flights London-Paris and back",
             kind="travel", quantity="13760", unit="passenger_km", mode="flight_short_haul_economy",
             ownership="employee", trips="40"),
    activity(activity_id="FLY-02", stage="Production", description="Crew flights London-Reykjavik and back",
             kind="travel", quantity="45600", unit="passenger_km", mode="flight_short_haul_economy",
             ownership="employee", trips="24"),
]


@pytest.fixture(scope="module")
def frontier(tmp_path_factory):
    folder = write_engagement(tmp_path_factory.mktemp("frontier"), FRONTIER_ROWS, stages=["Ideation", "Localisation"])
    return folder, audit_engagement(folder)


@pytest.fixture(scope="module")
def shoot(tmp_path_factory):
    folder = write_engagement(tmp_path_factory.mktemp("shoot"), SHOOT_ROWS)
    return folder, audit_engagement(folder)


def _by_id(results) -> dict:
    return {i["id"]: i for i in results.interventions}


def _net_by_hand(rec: dict, day_rate: float = 650.0) -> float:
    """Net cost = (person-days × day rate + capex) / lifetime + opex − money saved."""
    return ((rec["effort_person_days"] * day_rate + rec["capex"]) / rec["lifetime_years"] + rec["opex_per_year"]
            - rec["money_saved_per_year"])


# --- money beside carbon: the frontier model ------------------------------------------------

def test_frontier_model_levers_count_their_fees(frontier):
    _, results = frontier
    recs = _by_id(results)
    for lever in ("smaller_model", "prompt_caching"):
        rec = recs[lever]
        assert rec["abated_kgco2e_per_year"] > 0
        assert rec["money_saved_per_year"] > 0, lever
        assert rec["net_cost_per_year"] == pytest.approx(_net_by_hand(rec), rel=1e-9)
        assert rec["verdict"] in verdicts.order() and rec["verdict_reason"] and rec["what_would_change_it"]
        # the money is the fee difference of the activities it changed
        assert sum(m["money_saved"] for m in rec["money_breakdown"]) == pytest.approx(rec["money_saved_per_year"])
    small = recs["smaller_model"]
    # a routine-work switch at this volume saves far more in fees than its six person-days
    assert small["net_cost_per_year"] < 0 and small["verdict"] == "pays_for_itself"
    assert small["quality_risk"]


def test_smaller_model_fee_saving_by_hand(frontier):
    """gpt-4o -> gpt-4o-mini for 80 % of requests (central), both at genai-prices list prices."""
    _, results = frontier
    rec = _by_id(results)["smaller_model"]
    row = next(m for m in rec["money_breakdown"] if m["activity_id"] == "LLM-01")
    before = pricing.api_price("openai", "gpt-4o", 2000, 0, 400, 2_000_000, currency="GBP").amount
    after = (pricing.api_price("openai", "gpt-4o-mini", 2000, 0, 400, 1_600_000, currency="GBP").amount
             + pricing.api_price("openai", "gpt-4o", 2000, 0, 400, 400_000, currency="GBP").amount)
    assert row["cost_before"] == pytest.approx(before) and row["cost_after"] == pytest.approx(after)
    assert before / after > 3  # the fee cut is real


def test_every_cost_id_resolves_in_the_prices_register(frontier, tmp_path):
    _, results = frontier
    path = tmp_path / "results.json"
    results.write_json(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    direct = [a for a in data["activities"] if not a["derived_from"]]
    assert direct and all(a["cost"] is not None and a["cost"] > 0 for a in direct)
    for a in data["activities"]:
        assert "cost" in a and "cost_ids" in a
        for pid in a["cost_ids"]:
            entry = data["prices"][pid]
            assert {"value", "unit", "currency", "source", "year"} <= set(entry)
    for rec in data["interventions"]:
        for pid in rec["money_price_ids"]:
            assert pid in data["prices"]
        for key in ("money_saved_per_year", "net_cost_per_year", "verdict", "verdict_reason"):
            assert key in rec
        assert rec["per_campaign"] is None  # period_type year


def test_cli_estimate_json_carries_costs(frontier):
    folder, _ = frontier
    res = runner.invoke(app, ["estimate", str(folder), "--format", "json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    llm = next(a for a in data["activities"] if a["activity_id"] == "LLM-01")
    assert llm["cost"] > 0 and all(pid in data["prices"] for pid in llm["cost_ids"])


def test_engagement_price_override_wins(tmp_path):
    rows = [activity(activity_id="H1", kind="accommodation", quantity="10", unit="room_night", ownership="employee")]
    folder = write_engagement(tmp_path, rows, prices={"hotel_per_room_night": 200})
    results = audit_engagement(folder)
    hotel = next(a for a in results.to_json_dict()["activities"] if a["activity_id"] == "H1")
    assert hotel["cost"] == pytest.approx(2000.0)
    assert results.prices["hotel_per_room_night"].source.startswith("Engagement override")


def test_currency_conversion_uses_the_dated_rates(tmp_path):
    rows = [activity(activity_id="H1", kind="accommodation", quantity="10", unit="room_night", ownership="employee")]
    eur = audit_engagement(write_engagement(tmp_path, rows, name="eur", currency="EUR"))
    cost = next(a for a in eur.to_json_dict()["activities"] if a["activity_id"] == "H1")["cost"]
    gbp_per_eur = pricing.currency_rates()["GBP"].units_per_eur
    assert cost == pytest.approx(10 * 150 / gbp_per_eur)
    own = audit_engagement(write_engagement(tmp_path, rows, name="own", currency="EUR",
                                            currency_rates={"GBP": 0.5}))
    cost = next(a for a in own.to_json_dict()["activities"] if a["activity_id"] == "H1")["cost"]
    assert cost == pytest.approx(10 * 150 / 0.5)


def test_bad_money_keys_are_located(tmp_path):
    folder = write_engagement(tmp_path, [activity()], prices={"my_new_price": {"value": 3}},
                              currency_rates={"XYZ": -1}, period_type="quarter")
    res = runner.invoke(app, ["validate", str(folder)])
    assert res.exit_code != 0
    out = res.output
    assert "Traceback" not in out
    assert "prices.my_new_price" in out and "currency_rates" in out and "period_type" in out


def test_routes_naming_unknown_activities_are_located(tmp_path):
    routes = {"deliverable": "4 visuals", "asset": "visual", "accepted_assets": 4,
              "options": [{"id": "a", "name": "A", "kind": "generative", "activities": ["NOPE-1"]}]}
    folder = write_engagement(tmp_path, [activity()], routes=routes)
    res = runner.invoke(app, ["validate", str(folder)])
    # located, and the route's figures are unknown rather than a partial sum; the audit still runs
    assert "routes.options.0.activities.0" in res.output and "NOPE-1" in res.output
    entry = audit_engagement(folder).to_json_dict()["routes"][0]
    assert entry["kgco2e_per_accepted_asset"] is None and entry["missing_activities"] == ["NOPE-1"]
    assert entry["cost_per_accepted_asset"] is None and entry["scale"] == []


# --- the shoot: generator and rail levers ----------------------------------------------------

def test_shoot_shows_generator_and_rail_levers_with_desnz_factors(shoot):
    _, results = shoot
    recs = _by_id(results)
    register = load_register()
    for lever in ("generator_to_battery_hybrid", "generator_to_grid", "flight_to_rail"):
        rec = recs[lever]
        assert rec["abated_kgco2e_per_year"] > 0, lever
        assert rec["factor_ids"] and all(f in register for f in rec["factor_ids"]), lever
        assert all(f.startswith("desnz-") for f in rec["factor_ids"])
        assert rec["money_saved_per_year"] is not None and "money_saved_per_year" in rec
    grid = recs["generator_to_grid"]
    assert grid["money_saved_per_year"] > 0  # fuel no longer bought, net of grid electricity
    # rail only where the trip is short enough: Paris (344 km) moves, Reykjavik (1,900 km) does not
    assert recs["flight_to_rail"]["applies_to"] == ["FLY-01"]
    battery = recs["generator_to_battery_hybrid"]
    assert "battery_unit_hire_per_day" in battery["money_not_counted"]  # said, not hidden


def test_hvo_lever_says_its_factor_is_missing(shoot):
    _, results = shoot
    assert "generator_to_hvo" not in _by_id(results)
    assert any("generator_to_hvo" in w and "not shipped" in w for w in results.warnings)


# --- one verdict vocabulary everywhere --------------------------------------------------------

OLD_WORDS = ("do first", "marginal", "worth it", "times the carbon price")


def _labels_in(text: str) -> set[str]:
    return {lab for lab in verdicts.labels().values() if lab in text}


def test_no_contradictory_labels_in_json_html_excel(frontier, tmp_path):
    _, results = frontier
    path = tmp_path / "results.json"
    results.write_json(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    ids = set(verdicts.order())
    for rec in data["interventions"]:
        assert rec["verdict"] in ids and rec["verdict_label"] == verdicts.label(rec["verdict"])
    for row in data.get("sensitivity", []):
        assert {row["verdict_base"], row["verdict_low"], row["verdict_high"]} <= ids
    # HTML: each option's row shows its own label and no other
    html = render_html(results)
    # the old words never appear as a verdict (the heading "What to do first" is not one)
    assert not re.search(r">\s*(do first|worth it|marginal|not worth it)\s*<", html)  # the old lower-case words
    assert not re.search(r"(verdict|assessment): (do first|worth it|marginal)", html, re.I)
    for rec in data["interventions"]:
        block = re.search(r"<td><strong>" + re.escape(rec["id"]) + r"</strong><br>(.*?)</tbody>", html, re.S)
        assert block, rec["id"]
        strongs = set(re.findall(r"<strong>([^<]+)</strong>", block.group(1)))
        assert strongs & set(verdicts.labels().values()) == {verdicts.label(rec["verdict"])}
    # Excel: the Feasibility sheet's Verdict column holds the same label per option
    xlsx = tmp_path / "report.xlsx"
    write_excel(results, xlsx)
    ws = openpyxl.load_workbook(xlsx)["Feasibility"]
    header = next(r for r in ws.iter_rows() if any(c.value == "Verdict" for c in r))
    col = {c.value: c.column for c in header}
    shown = {}
    for r in range(header[0].row + 1, ws.max_row + 1):
        oid = ws.cell(r, col["ID"]).value
        if oid in {i["id"] for i in data["interventions"]}:
            shown[oid] = ws.cell(r, col["Verdict"]).value
    assert shown == {i["id"]: verdicts.label(i["verdict"]) for i in data["interventions"]}
    for row in ws.iter_rows(values_only=True):
        for v in row:
            if isinstance(v, str):
                assert not any(w in v.lower() for w in ("do first", "times the carbon price")), v


def test_sensitivity_and_plan_use_the_same_verdict_function(frontier):
    _, results = frontier
    for row in results.extras["sensitivity"]:
        rec = _by_id(results)[row["id"]]
        assert row["verdict_base"] == rec["verdict"]
    plan = results.analysis("sensitivity")
    assert plan is results.extras["sensitivity"]


# --- campaign or year ----------------------------------------------------------------------

def test_campaign_figures_scale_by_campaigns_per_year(tmp_path):
    year = audit_engagement(write_engagement(tmp_path, SHOOT_ROWS, name="year"))
    camp = audit_engagement(write_engagement(tmp_path, SHOOT_ROWS, name="camp", period_type="campaign",
                                             campaigns_per_year=4))
    y, c = _by_id(year)["generator_to_grid"], _by_id(camp)["generator_to_grid"]
    assert c["abated_kgco2e_per_year"] == pytest.approx(4 * y["abated_kgco2e_per_year"], rel=1e-9)
    assert c["money_saved_per_year"] == pytest.approx(4 * y["money_saved_per_year"], rel=1e-9)
    pc = c["per_campaign"]
    assert pc["campaigns_per_year"] == 4
    assert pc["abated_kgco2e"] == pytest.approx(y["abated_kgco2e_per_year"], rel=1e-9)
    assert pc["money_saved"] == pytest.approx(y["money_saved_per_year"], rel=1e-9)
    assert pc["net_cost"] == pytest.approx(c["net_cost_per_year"] / 4, rel=1e-9)
    assert y["per_campaign"] is None
    # the forecast's base year is a year of campaigns
    assert camp.forecast[0]["bau_kgco2e"] == pytest.approx(4 * year.forecast[0]["bau_kgco2e"], rel=1e-9)
    # a yearly cost is counted once a year, a per-campaign saving four times: verdicts may differ, never silently
    assert c["net_cost_per_year"] == pytest.approx(_net_by_hand(c), rel=1e-9)


# --- routes ----------------------------------------------------------------------------------

def test_routes_per_accepted_asset_and_rebound(tmp_path):
    rows = SHOOT_ROWS + [
        activity(activity_id="IMG-01", stage="Production", description="Generated key visuals", kind="image_generation",
                 quantity="4000", unit="image", provider="openai", ownership="purchased_service",
                 accepted_fraction="0.01"),
        activity(activity_id="GPU-01", stage="Production", description="Style fine-tune", kind="gpu_compute",
                 quantity="50", unit="gpu_hour", provider="gcp", hardware="nvidia-l4", ownership="purchased_service"),
    ]
    routes = {"deliverable": "40 key visuals", "asset": "key visual", "accepted_assets": 40, "options": [
        {"id": "shoot", "name": "Location shoot", "kind": "traditional", "activities": ["GEN-01", "FLY-01", "FLY-02"],
         "fixed_activities": ["GEN-01", "FLY-01", "FLY-02"]},
        {"id": "gen", "name": "Generated", "kind": "generative", "activities": ["IMG-01", "GPU-01"],
         "fixed_activities": ["GPU-01"]}]}
    folder = write_engagement(tmp_path, rows, routes=routes)
    results = audit_engagement(folder)
    data = results.to_json_dict()
    by = {r["id"]: r for r in data["routes"]}
    lines = results.lines
    shoot_kg = lines[lines["activity_id"].isin(["GEN-01", "FLY-01", "FLY-02"])
                     | lines["derived_from"].isin(["GEN-01", "FLY-01", "FLY-02"])]["kgco2e"].sum()
    assert by["shoot"]["kgco2e_per_accepted_asset"] == pytest.approx(shoot_kg / 40, rel=1e-9)
    for r in by.values():
        assert r["low"] <= r["kgco2e_per_accepted_asset"] <= r["high"]
    assert by["shoot"]["cost_per_accepted_asset"] > 0
    gen = by["gen"]
    # rebound: a cheap route's total grows with volume; the shoot's does not
    totals = [s["kgco2e"] for s in gen["scale"]]
    assert totals == sorted(totals) and totals[-1] > totals[0]
    assert all(s["times_reference"] == pytest.approx(1.0) for s in by["shoot"]["scale"])
    html = render_html(results)
    assert 'id="routes"' in html and "40 key visuals" in html
    xlsx = tmp_path / "r.xlsx"
    write_excel(results, xlsx)
    ws = openpyxl.load_workbook(xlsx)["Routes"]
    assert any(c.value == "gen" for row in ws.iter_rows() for c in row)


# --- self-hosted inference -------------------------------------------------------------------

def test_selfhosted_row_uses_gpus_hours_and_batch(tmp_path):
    base = dict(activity_id="SH-1", stage="Production", kind="llm_api", quantity="100000", unit="request",
                provider="huggingface", model="meta-llama/Meta-Llama-3.1-8B-Instruct", ownership="owned",
                region="GBR", input_tokens="500", output_tokens="200", gpus="1", serving_hours="720")
    one = audit_engagement(write_engagement(tmp_path, [activity(**base, batch_size="1")], name="b1"))
    many = audit_engagement(write_engagement(tmp_path, [activity(**base, batch_size="64")], name="b64"))
    l1 = one.lines[one.lines["activity_id"] == "SH-1"].iloc[0]
    l64 = many.lines[many.lines["activity_id"] == "SH-1"].iloc[0]
    assert l1["method"] == "selfhosted_llm" and l1["kwh"] > l64["kwh"] > 0
    # managed service becomes a real comparison for the self-hosted row
    rec = _by_id(one)["managed_service"]
    assert rec["applies_to"] == ["SH-1"] and rec["verdict"] in verdicts.order()


def test_saved_step_results_keep_costs_and_prices(tmp_path):
    """audit run writes its deliverables from the results step 3 saved: costs survive."""
    from audit.orchestration import pipeline

    folder = write_engagement(tmp_path, SHOOT_ROWS)
    work = tmp_path / "work"
    first = pipeline.assess_feasibility(work, folder).to_json_dict()
    again = pipeline.load_results(work).to_json_dict()
    assert again["prices"] == first["prices"] and first["prices"]
    assert [a["cost"] for a in again["activities"]] == [a["cost"] for a in first["activities"]]
