"""Disclosure tables: sums equal the totals, mappings cover what they must, element names come
from the data file, SCI and water arithmetic follow their equations."""
from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from audit.analyses import disclosures as D
from audit.core.exceptions import ValidationError

ROOT = Path(__file__).resolve().parent.parent
REL = 1e-12


@pytest.fixture(scope="module")
def sample() -> dict:
    """The shipped sample's estimate (results.json shape without interventions), through the
    CLI so this test does not depend on the package's internal layout."""
    out = subprocess.run([sys.executable, "-m", "audit", "estimate",
                          str(ROOT / "data" / "sample_engagement"), "--format", "json"],
                         capture_output=True, text=True, check=True, cwd=ROOT, timeout=300)
    return json.loads(out.stdout)


def line(aid, scope, kg, cat=None, kwh=0.0, **extra):
    return {"activity_id": aid, "scope": scope, "scope3_category": cat, "kgco2e": kg,
            "kgco2e_market": extra.pop("kg_market", None), "kwh": kwh,
            "method": extra.pop("method", "conversion_factor"), "data_quality": extra.pop("dq", 3),
            "stage": extra.pop("stage", "Production"), "kind": extra.pop("kind", "travel"),
            "derived_from": None, "factor_ids": [], **extra}


SMALL = [
    line("S1", 1, 1000.0, kind="fuel"),
    line("S2", 2, 400.0, kwh=2000.0, kg_market=100.0, kind="electricity", method="metered"),
    line("T1", 3, 300.0, cat=6, dq=2),
    line("T2", 3, 100.0, cat=6, dq=4),
    line("G1", 3, 50.0, cat=1, kwh=250.0, kind="llm_api", method="ecologits_llm"),
    line("E1", 3, 25.0, cat=2, kind="gpu_compute", method="embodied_amortised"),
]


def close(a: float, b: float, rel: float = REL) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-12)


# ----------------------------------------------------------------------------- GHG Protocol
def test_ghg_protocol_sums_equal_the_sample_totals(sample):
    inv = D.ghg_protocol(sample["activities"])
    t = sample["totals"]
    assert close(inv["scope1"]["tco2e"] * 1000, t["scope1_kgco2e"])
    assert close(inv["scope2_location"]["tco2e"] * 1000, t["scope2_location_kgco2e"])
    assert close(inv["scope2_market"]["tco2e"] * 1000, t["scope2_market_kgco2e"])
    assert close(inv["scope3"]["tco2e"] * 1000, t["scope3_kgco2e"])
    assert close(inv["total_location_tco2e"] * 1000, t["kgco2e"])
    assert close(sum(c["tco2e"] for c in inv["scope3"]["categories"]), inv["scope3"]["tco2e"])
    assert sum(c["lines"] for c in inv["scope3"]["categories"]) == inv["scope3"]["lines"]


def test_ghg_protocol_statuses_methods_and_data_quality():
    inv = D.ghg_protocol(SMALL, [{"category": 7, "reason": "Staff work from home"}])
    cats = {c["scope3_category"]: c for c in inv["scope3"]["categories"]}
    assert sorted(cats) == list(range(1, 16))
    assert cats[6]["status"] == D.STATUS_MEASURED and cats[6]["tco2e"] == 0.4
    assert cats[6]["data_quality"] == pytest.approx((300 * 2 + 100 * 4) / 400)
    assert cats[6]["methods"] == ["conversion_factor"]
    assert cats[7]["status"] == D.STATUS_NOT_RELEVANT
    assert cats[7]["exclusion_reason"] == "Staff work from home"
    assert cats[7]["label"] == "not relevant: Staff work from home"
    assert cats[6]["label"] == "relevant, measured" and cats[5]["label"] == "relevant, not yet measured"
    assert cats[5]["status"] == D.STATUS_NOT_MEASURED and cats[5]["exclusion_reason"] is None
    assert inv["scope2_market"]["tco2e"] == 0.1
    assert inv["total_market_tco2e"] == pytest.approx(1.0 + 0.1 + 0.475)
    assert inv["total_location_tco2e"] == pytest.approx(1.0 + 0.4 + 0.475)


def test_scope3_categories_data_covers_1_to_15_with_names():
    cats = D.scope3_categories()
    assert [c["scope3_category"] for c in cats] == list(range(1, 16))
    assert all(c["name"] and c["source"] for c in cats)
    assert {c["direction"] for c in cats} == {"upstream", "downstream"}


def test_bad_scope3_exclusions_are_located_errors():
    with pytest.raises(ValidationError) as err:
        D.check_scope3_exclusions([{"category": 16, "reason": "x"}, {"category": 4, "reason": 7},
                                   {"category": 6, "reason": "a"}, {"category": 6, "reason": "b"},
                                   "nope"])
    problems = err.value.problems
    assert len(problems) == 4
    assert all(p.file == "engagement.yaml" for p in problems)
    assert {p.column for p in problems} == {"scope3_exclusions[0].category",
                                            "scope3_exclusions[1].reason",
                                            "scope3_exclusions[3].category", "scope3_exclusions[4]"}


def test_a_scope3_line_without_category_is_named():
    bad = [line("X-9", 3, 1.0, cat=None), line("X-10", 4, 1.0)]
    with pytest.raises(ValidationError) as err:
        D.ghg_protocol(bad)
    text = str(err.value)
    assert "X-9" in text and "scope3_category" in text and "X-10" in text


# ----------------------------------------------------------------------------- ESRS E1-6
def test_esrs_e1_6_element_names_and_values(sample):
    e = D.esrs_e1_6(sample["activities"], net_revenue=2_000_000)
    t = sample["totals"]
    assert close(e["GrossScope1GreenhouseGasEmissions"], t["scope1_kgco2e"] / 1000)
    assert close(e["GrossLocationBasedScope2GreenhouseGasEmissions"], t["scope2_location_kgco2e"] / 1000)
    assert close(e["GrossMarketBasedScope2GreenhouseGasEmissions"], t["scope2_market_kgco2e"] / 1000)
    assert close(e["GrossScope3GreenhouseGasEmissions"], t["scope3_kgco2e"] / 1000)
    assert close(e["GrossGreenhouseGasEmissions"], t["kgco2e"] / 1000)
    total_market = (t["scope1_kgco2e"] + t["scope2_market_kgco2e"] + t["scope3_kgco2e"]) / 1000
    assert close(e["TotalGHGEmissionsMarketBased"], total_market)
    assert close(e["GHGIntensityLocationBasedPerNetRevenue"], t["kgco2e"] / 1000 / 2_000_000)
    assert e["NetRevenueUsedToCalculateGHGIntensity"] == 2_000_000
    per_category = {k: v for k, v in e.items() if k.startswith("GrossScope3GreenhouseGasEmissions[")}
    assert per_category and close(sum(per_category.values()), e["GrossScope3GreenhouseGasEmissions"])
    for key in per_category:
        n = int(key.split("Category ")[1].split(":")[0])
        assert D.scope3_categories()[n - 1]["name"] in key


def test_esrs_without_revenue_has_no_intensity_and_bad_revenue_is_an_error():
    e = D.esrs_e1_6(SMALL)
    assert not any("Intensity" in k or "NetRevenue" in k for k in e)
    for bad in (0, -5, float("nan"), "1e6", True):
        with pytest.raises(ValidationError, match="net_revenue"):
            D.esrs_e1_6(SMALL, net_revenue=bad)


def test_significance_share_drops_small_categories():
    e = D.esrs_e1_6(SMALL, significance_share=0.2)  # cat 6 is 400/475, cat 1 50/475, cat 2 25/475
    cats = [k for k in e if k.startswith("GrossScope3GreenhouseGasEmissions[")]
    assert cats == ["GrossScope3GreenhouseGasEmissions[Category 6: Business travel]"]


def test_element_data_files_carry_source_and_status():
    allowed = {"verified", "corroborated", "unverified"}
    for name in ("esrs_e1_6_elements.csv", "vsme_b3_datapoints.csv", "esrs_e3_water_elements.csv"):
        with open(ROOT / "data" / "disclosures" / name, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        assert rows, name
        for row in rows:
            assert row["element"] and row["source"], (name, row)
            assert row["verification"] in allowed, (name, row)
    assert D.esrs_e1_6_elements()["total"]["verification"] == "verified"


# ----------------------------------------------------------------------------- VSME B3
def test_vsme_b3_energy_emissions_and_intensity():
    v = D.vsme_b3(SMALL, turnover=500_000, renewable_mwh=1.5)
    assert v["TotalEnergyConsumption"] == pytest.approx(2.0)  # only Scope 1 and 2 kWh: 2000 kWh
    assert v["RenewableEnergyConsumption"] == 1.5
    assert v["NonRenewableEnergyConsumption"] == pytest.approx(0.5)
    assert v["GrossScope1GreenhouseGasEmissions"] == 1.0
    assert v["GrossLocationBasedScope2GreenhouseGasEmissions"] == 0.4
    assert v["GrossMarketBasedScope2GreenhouseGasEmissions"] == 0.1
    assert v["TotalLocationBasedGreenhouseGasEmissionsIntensityValue"] == pytest.approx(1.875 / 500_000)
    with pytest.raises(ValidationError, match="renewable"):
        D.vsme_b3(SMALL, renewable_mwh=3.0)
    assert "GrossScope3GreenhouseGasEmissions" not in D.vsme_b3(SMALL, include_scope3=False)


# ----------------------------------------------------------------------------- ISO 14064-1
def test_iso14064_mapping_covers_1_to_15_and_matches_annex():
    mapped = {}
    for c in D.scope3_categories():
        mapped.setdefault(c["iso14064_category"], set()).add(c["scope3_category"])
    assert mapped == {3: {4, 6, 7, 9}, 4: {1, 2, 3, 5, 8}, 5: {10, 11, 12, 13, 14}, 6: {15}}
    assert [c["iso14064_category"] for c in D.iso14064_categories()] == [1, 2, 3, 4, 5, 6]
    assert D.iso14064_category_of(1, None) == 1 and D.iso14064_category_of(2, None) == 2


def test_iso14064_categories_sum_to_the_total(sample):
    rows = D.iso14064_1(sample["activities"])
    t = sample["totals"]
    assert close(sum(r["tco2e"] for r in rows) * 1000, t["kgco2e"])
    assert close(rows[0]["tco2e"] * 1000, t["scope1_kgco2e"])
    assert close(rows[1]["tco2e"] * 1000, t["scope2_location_kgco2e"])
    assert close(rows[1]["tco2e_market"] * 1000, t["scope2_market_kgco2e"])
    assert sum(r["lines"] for r in rows) == len(sample["activities"])


# ----------------------------------------------------------------------------- allocation
def test_allocation_shares_sum_to_one_and_line_brand_wins():
    lines = [dict(x) for x in SMALL]
    lines[2]["client_brand"] = "=HYPERLINK(\"x\")"  # hostile text stays a key
    out = D.allocation_to_clients(lines, {"Production": "Brand A"})
    shares = [c["share"] for c in out["clients"]] + [out["unallocated"]["share"]]
    assert sum(shares) == pytest.approx(1.0, rel=1e-12)
    brands = {c["client_brand"]: c for c in out["clients"]}
    assert brands["=HYPERLINK(\"x\")"]["tco2e"] == pytest.approx(0.3)
    assert brands["Brand A"]["lines"] == len(SMALL) - 1
    assert out["unallocated"]["lines"] == 0
    market = D.allocation_to_clients(lines, basis="market")
    assert market["total_tco2e"] == pytest.approx(1.0 + 0.1 + 0.475)
    assert market["unallocated"]["lines"] == len(SMALL) - 1


def test_allocation_of_the_sample_by_stage(sample):
    stages = sorted({a["stage"] for a in sample["activities"]})
    out = D.allocation_to_clients(sample["activities"], {stages[0]: "Brand A"})
    assert close(out["total_tco2e"] * 1000, sample["totals"]["kgco2e"])
    assert close(out["clients"][0]["tco2e"] + out["unallocated"]["tco2e"], out["total_tco2e"])


# ----------------------------------------------------------------------------- SCI
def test_sci_arithmetic_on_small_lines():
    rows = D.sci(SMALL, [{"functional_unit": "accepted asset", "R": 5}])
    (r,) = rows
    # boundary: GenAI/compute kinds -> G1 (250 kWh, 50 kg) and the embodied E1 (25 kg)
    assert r["E"] == 250.0
    assert r["I"] == pytest.approx(50_000 / 250)
    assert r["M"] == pytest.approx(25_000)
    assert r["value"] == pytest.approx((250 * 200 + 25_000) / 5)
    assert r["unit"] == "gCO2e per accepted asset"
    assert D.sci_score(10, 200, 500, 5) == 500


def test_sci_on_the_sample_reproduces_the_formula(sample):
    rows = D.sci(sample["activities"], [
        {"functional_unit": "accepted asset", "R": 120},
        {"functional_unit": "1,000 tokens", "R": 4321, "applies_to": ["llm_api"]},
    ])
    for r in rows:
        assert set(r) == {"functional_unit", "value", "unit", "E", "I", "M", "R"}
        assert close(r["value"] * r["R"], r["E"] * r["I"] + r["M"], rel=1e-12)
    llm_kwh = sum(a["kwh"] or 0 for a in sample["activities"] if a["kind"] == "llm_api")
    assert close(rows[1]["E"], llm_kwh)
    with pytest.raises(ValidationError, match="R for 'image'"):
        D.sci(sample["activities"], [{"functional_unit": "image", "R": 0}])
    with pytest.raises(ValidationError, match="applies_too"):
        D.sci(sample["activities"], [{"functional_unit": "image", "R": 3, "applies_too": ["x"]}])


# ----------------------------------------------------------------------------- water
def test_water_litres_equation():
    assert D.water_litres(2.0, 0.5, 1.2, 3.0) == pytest.approx(2.0 * (0.5 + 1.2 * 3.0))
    assert D.water_litres(0.0, 0.5, 1.2, 3.0) == 0.0


def test_water_per_line_on_the_sample(sample):
    rows = D.water_by_activity(sample["activities"], sample["factors"])
    assert len(rows) == len(sample["activities"])
    by_id = {a["activity_id"]: a for a in sample["activities"]}
    mix = json.loads((Path(__import__("ecologits").__file__).parent / "data"
                      / "electricity_mixes.json").read_text())["electricity_mixes"]
    mix = {m["name"]: m["wue"] for m in mix}
    with_water = [r for r in rows if r["water_litres"] is not None]
    assert with_water
    for r in rows:
        a = by_id[r["activity_id"]]
        if a["kind"] in ("travel", "fuel", "freight", "accommodation", "electricity") or a["derived_from"]:
            assert r["water_litres"] is None, r
    for r in with_water:
        assert r["ewif"] == mix[r["ewif_region"]]
        assert close(r["kwh_it"] * r["pue"], by_id[r["activity_id"]]["kwh"])
        assert close(r["water_litres"], r["kwh_it"] * (r["wue"] + r["pue"] * r["ewif"]))
    totals = D.water_totals(rows)
    assert close(totals["water_litres"], sum(r["water_litres"] for r in with_water))
    assert set(totals["esrs_e3"]) == {"TotalWaterConsumption"}


def test_disclosures_block_has_the_contract_keys(sample):
    block = D.disclosures(sample, net_revenue=1e6)
    assert {"ghg_protocol", "esrs_e1_6", "vsme_b3", "iso14064_1"} <= set(block)
    json.dumps(block)  # plain data, serialisable as results.json


def test_extend_results_adds_the_contract_blocks_without_changing_the_input(sample):
    before = json.dumps(sample, sort_keys=True)
    out = D.extend_results(sample, net_revenue=1e6,
                           functional_units=[{"functional_unit": "image", "R": 300}])
    assert json.dumps(sample, sort_keys=True) == before
    assert len(out["activities"]) == len(sample["activities"])
    assert all("water_litres" in a for a in out["activities"])
    water = [a["water_litres"] for a in out["activities"] if a["water_litres"] is not None]
    assert close(out["totals"]["water_litres"], sum(water))
    assert out["totals"]["kgco2e"] == sample["totals"]["kgco2e"]  # water never added to carbon
    assert [r["functional_unit"] for r in out["sci"]] == ["image"]
    assert {"ghg_protocol", "esrs_e1_6", "vsme_b3", "iso14064_1"} <= set(out["disclosures"])
    json.dumps(out, allow_nan=False)


def test_scope3_exclusions_stub_lists_all_15_categories():
    stub = D.scope3_exclusions_stub()
    assert [s["category"] for s in stub] == list(range(1, 16))
    assert all(set(s) == {"category", "reason"} and s["reason"] == "" for s in stub)
    assert D.check_scope3_exclusions(stub) == {}  # blank reasons: not screened yet
    inv = D.ghg_protocol(SMALL, stub)
    assert {c["status"] for c in inv["scope3"]["categories"] if not c["lines"]} == {D.STATUS_NOT_MEASURED}


def test_counted_functional_units_the_lines_count_none_of_are_left_out():
    """An engagement without generative AI: tokens, images and video count nothing, so those
    units get no SCI row (no error, no division by zero); a unit given R, or one the toolkit
    cannot count without R, is unaffected."""
    from types import SimpleNamespace

    def fu(name, r=None):
        return SimpleNamespace(functional_unit=name, R=r, applies_to=None)

    lines = [{"kind": "electricity", "quantity_base": 1200.0}]
    inputs = [{"kind": "electricity", "quantity_base": "1200"}]
    eng = SimpleNamespace(functional_units=[fu("accepted asset"), fu("1,000 tokens"), fu("image"),
                                            fu("video-second"), fu("campaign", 3)])
    assert D.functional_units_of(eng, lines, inputs) == [{"functional_unit": "campaign", "R": 3.0,
                                                          "applies_to": None}]
    with pytest.raises(ValidationError, match=r"functional_units\[0\]\.R"):
        D.functional_units_of(SimpleNamespace(functional_units=[fu("campaign")]), lines, inputs)
