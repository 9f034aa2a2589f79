"""Issue 13's contract end to end, through the CLI on temporary copies of the sample:
results.json's ``disclosures``, ``sci`` and ``water_litres``; ``audit export-manifest`` and
manifest.if.yaml in the deliverables; the Scope 3 stub of ``audit new`` and the screening
warnings of ``audit validate``; ``audit compare``; the batch portfolio; the disclosure
sheets of report.xlsx equal to the JSON."""
from __future__ import annotations

import json
import math
from pathlib import Path

import openpyxl
import pytest
import yaml
from typer.testing import CliRunner

from audit.analyses import disclosures as D
from audit.cli import app
from audit.core.models import Engagement
from audit.core.paths import ACTIVITIES_FILE, ENGAGEMENT_FILE, OUTPUT_MARKER
from audit.deliverables.excel import DISCLOSURE_SHEETS, build_workbook
from audit.orchestration.batch import mark_batch_root, write_portfolio
from tests.helpers import copy_sample, parse_html, read_rows, rewrite_rows

REL = 1e-9
HOSTILE = '=HYPERLINK("http://x","y")<script>alert(1)</script>'


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args], prog_name="audit")


def estimate_json(folder: Path) -> dict:
    res = invoke("estimate", folder, "--format", "json")
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=REL, abs_tol=1e-12)


@pytest.fixture(scope="module")
def sample_dir(tmp_path_factory) -> Path:
    return copy_sample(tmp_path_factory.mktemp("disclose"))


@pytest.fixture(scope="module")
def results(sample_dir) -> dict:
    return estimate_json(sample_dir)


# --- results.json ------------------------------------------------------------------------------

def test_disclosure_blocks_present_and_sum_to_the_totals(results):
    d = results["disclosures"]
    assert {"ghg_protocol", "esrs_e1_6", "vsme_b3", "iso14064_1"} <= set(d)
    t = results["totals"]
    ghg = d["ghg_protocol"]
    assert close(ghg["scope1"]["tco2e"] * 1000, t["scope1_kgco2e"])
    assert close(ghg["scope2_location"]["tco2e"] * 1000, t["scope2_location_kgco2e"])
    assert close(ghg["scope2_market"]["tco2e"] * 1000, t["scope2_market_kgco2e"])
    assert close(ghg["total_location_tco2e"] * 1000, t["kgco2e"])
    assert close(sum(c["tco2e"] for c in ghg["scope3"]["categories"]) * 1000, t["scope3_kgco2e"])
    assert [c["scope3_category"] for c in ghg["scope3"]["categories"]] == list(range(1, 16))
    assert close(sum(c["tco2e"] for c in d["iso14064_1"]) * 1000, t["kgco2e"])
    esrs = d["esrs_e1_6"]
    assert close(esrs["GrossScope1GreenhouseGasEmissions"] * 1000, t["scope1_kgco2e"])
    assert close(esrs["GrossLocationBasedScope2GreenhouseGasEmissions"] * 1000, t["scope2_location_kgco2e"])
    assert close(esrs["GrossMarketBasedScope2GreenhouseGasEmissions"] * 1000, t["scope2_market_kgco2e"])
    assert close(esrs["GrossScope3GreenhouseGasEmissions"] * 1000, t["scope3_kgco2e"])
    assert close(esrs["GrossGreenhouseGasEmissions"] * 1000, t["kgco2e"])
    assert d["vsme_b3"]["GrossScope1GreenhouseGasEmissions"] == esrs["GrossScope1GreenhouseGasEmissions"]


def test_intensity_per_net_revenue_from_the_engagement(results):
    revenue = results["engagement"]["net_revenue"]
    esrs = results["disclosures"]["esrs_e1_6"]
    assert esrs["NetRevenueUsedToCalculateGHGIntensity"] == revenue
    assert close(esrs["GHGIntensityLocationBasedPerNetRevenue"], results["totals"]["kgco2e"] / 1000 / revenue)


def test_scope3_screening_labels_follow_the_engagement(results):
    cats = {c["scope3_category"]: c for c in results["disclosures"]["ghg_protocol"]["scope3"]["categories"]}
    screened = {e["category"]: e["reason"] for e in results["engagement"]["scope3_exclusions"] if e["reason"]}
    measured = {a["scope3_category"] for a in results["activities"] if a["scope"] == 3}
    for n, c in cats.items():
        if n in measured:
            assert c["label"] == "relevant, measured"
        elif n in screened:
            assert c["label"] == f"not relevant: {screened[n]}"
        else:
            assert c["label"] == "relevant, not yet measured"
    assert any(c["label"] == "relevant, not yet measured" for c in cats.values())  # the sample leaves some open


def test_sci_arithmetic_and_counted_functional_units(results):
    sci = {r["functional_unit"]: r for r in results["sci"]}
    assert set(sci) == {"accepted asset", "1,000 tokens", "image", "video-second"}
    for r in sci.values():
        assert set(r) == {"functional_unit", "value", "unit", "E", "I", "M", "R"}
        assert close(r["value"], (r["E"] * r["I"] + r["M"]) / r["R"])
    rows = read_rows(Path(__file__).resolve().parent.parent / "data" / "sample_engagement" / ACTIVITIES_FILE)
    images = sum(float(r["quantity"]) for r in rows if r["kind"] == "image_generation")
    assert sci["image"]["R"] == images
    image_lines = [a for a in results["activities"] if a["kind"] == "image_generation" and not a["derived_from"]]
    assert close(sci["image"]["E"], sum(a["kwh"] for a in image_lines))
    assert close(sci["image"]["E"] * sci["image"]["I"], sum(a["kgco2e"] for a in image_lines) * 1000)


def test_water_beside_carbon(results):
    acts = results["activities"]
    assert all("water_litres" in a for a in acts)
    with_water = [a["water_litres"] for a in acts if a["water_litres"] is not None]
    assert with_water and all(w > 0 for w in with_water)
    assert close(results["totals"]["water_litres"], sum(with_water))
    # never summed into carbon; travel has no water method
    assert close(results["totals"]["kgco2e"], sum(a["kgco2e"] for a in acts))
    assert all(a["water_litres"] is None for a in acts if a["kind"] in ("travel", "fuel", "freight"))
    assert "boundary" in results["water"]


def test_allocation_to_brand_clients(results):
    alloc = results["disclosures"]["allocation_to_clients"]
    brands = results["engagement"]["client_brands"]
    by_brand = {c["client_brand"]: c for c in alloc["clients"]}
    assert set(by_brand) == set(brands.values())
    for brand, c in by_brand.items():
        stages = {s for s, b in brands.items() if b == brand}
        assert close(c["tco2e"] * 1000, sum(a["kgco2e"] for a in results["activities"] if a["stage"] in stages))
    assert close(sum(c["tco2e"] for c in alloc["clients"]) + alloc["unallocated"]["tco2e"],
                 results["totals"]["kgco2e"] / 1000)


def test_unknown_functional_unit_needs_R(tmp_path):
    folder = copy_sample(tmp_path)
    settings = yaml.safe_load((folder / ENGAGEMENT_FILE).read_text())
    settings["functional_units"] = [{"functional_unit": "campaign"}]
    (folder / ENGAGEMENT_FILE).write_text(yaml.safe_dump(settings))
    res = invoke("estimate", folder, "--format", "json")
    assert res.exit_code == 2
    assert "functional_units[0].R" in res.output and "campaign" in res.output
    settings["functional_units"] = [{"functional_unit": "campaign", "R": 4}]
    (folder / ENGAGEMENT_FILE).write_text(yaml.safe_dump(settings))
    out = estimate_json(folder)
    assert out["sci"][0]["R"] == 4 and out["sci"][0]["unit"] == "gCO2e per campaign"


def test_new_engagement_keys_are_checked(tmp_path):
    folder = copy_sample(tmp_path)
    settings = yaml.safe_load((folder / ENGAGEMENT_FILE).read_text())
    settings["reduction_target_per_yer"] = 0.042
    (folder / ENGAGEMENT_FILE).write_text(yaml.safe_dump(settings))
    res = invoke("validate", folder)
    assert res.exit_code == 2 and "reduction_target_per_yer" in res.output


# --- audit new / validate ----------------------------------------------------------------------

def test_new_writes_a_15_category_stub_and_validate_warns(tmp_path):
    res = invoke("new", "Acme Studios", "--dir", tmp_path)
    assert res.exit_code == 0, res.output
    folder = next(p for p in tmp_path.iterdir() if p.is_dir())
    settings = yaml.safe_load((folder / ENGAGEMENT_FILE).read_text())
    assert [e["category"] for e in settings["scope3_exclusions"]] == list(range(1, 16))
    eng = Engagement.model_validate(settings)
    assert eng.scope3_screened_out == {}
    res = invoke("validate", folder)
    assert res.exit_code == 0, res.output
    measured = {a["scope3_category"] for a in estimate_json(folder)["activities"] if a["scope"] == 3}
    warned = [line for line in res.output.splitlines() if "neither measured nor screened" in line]
    assert len(warned) == 15 - len(measured)
    # a reason silences its category's warning
    settings["scope3_exclusions"][14]["reason"] = "No investments"
    (folder / ENGAGEMENT_FILE).write_text(yaml.safe_dump(settings))
    res = invoke("validate", folder)
    assert not any("category 15 " in line for line in res.output.splitlines())


# --- manifest ----------------------------------------------------------------------------------

def test_export_manifest_from_results_and_from_folder(tmp_path, sample_dir, results):
    rjson = tmp_path / "results.json"
    rjson.write_text(json.dumps(results))
    for source in (rjson, sample_dir):
        out = tmp_path / f"m-{source.name}.if.yaml"
        res = invoke("export-manifest", source, "--out", out)
        assert res.exit_code == 0, res.output
        manifest = yaml.safe_load(out.read_text())
        leaves = [leaf for stage in manifest["tree"]["children"]["inventory"]["children"].values()
                  for leaf in stage["children"].values()]
        assert len(leaves) == len(results["activities"])
        assert set(manifest["tree"]["children"]["sci"]["children"]) == {"accepted-asset", "1-000-tokens", "image",
                                                                       "video-second"}
    res = invoke("export-manifest", tmp_path / "missing.json", "--out", tmp_path / "x.yaml")
    assert res.exit_code == 2 and "no such file" in res.output


def test_write_deliverables_writes_the_manifest(tmp_path):
    from audit.orchestration.runner import write_deliverables
    from tests.helpers import sample_results
    write_deliverables(sample_results(), tmp_path, pdf=False)
    manifest = yaml.safe_load((tmp_path / "manifest.if.yaml").read_text())
    results = json.loads((tmp_path / "results.json").read_text())
    kg = sum(leaf["inputs"][0]["energy"] * leaf["inputs"][0]["grid/carbon-intensity"] / 1000
             + (leaf["inputs"][0]["carbon-embodied"] + leaf["inputs"][0]["carbon-other"]) / 1000
             for stage in manifest["tree"]["children"]["inventory"]["children"].values()
             for leaf in stage["children"].values())
    assert close(kg, results["totals"]["kgco2e"])


# --- compare -----------------------------------------------------------------------------------

def test_compare_json_deltas_and_target(tmp_path, results):
    new_dir = copy_sample(tmp_path, "next")
    settings = yaml.safe_load((new_dir / ENGAGEMENT_FILE).read_text())
    settings["period"] = "2027"
    (new_dir / ENGAGEMENT_FILE).write_text(yaml.safe_dump(settings))
    rows = read_rows(new_dir / ACTIVITIES_FILE)
    flight = next(r for r in rows if r["activity_id"] == "PRO-01")
    flight["quantity"] = str(float(flight["quantity"]) / 2)
    rewrite_rows(new_dir / ACTIVITIES_FILE, rows)
    new = estimate_json(new_dir)
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(results))
    b.write_text(json.dumps(new))
    res = invoke("compare", a, b, "--format", "json", "--out", tmp_path / "cmp")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert close(out["totals"]["change_tco2e"], (new["totals"]["kgco2e"] - results["totals"]["kgco2e"]) / 1000)
    scope3 = next(r for r in out["by_scope"] if r["key"] == "Scope 3")
    assert close(scope3["change_tco2e"], (new["totals"]["scope3_kgco2e"] - results["totals"]["scope3_kgco2e"]) / 1000)
    stages = {r["key"]: r for r in out["by_stage"]}
    assert stages["Production"]["change_tco2e"] < 0 and stages["Ideation"]["change_tco2e"] == 0
    assert close(sum(r["change_tco2e"] for r in out["by_kind"]), out["totals"]["change_tco2e"])
    assert {r["functional_unit"] for r in out["per_functional_unit"]} == {"accepted asset", "1,000 tokens", "image",
                                                                          "video-second"}
    t = out["target"]
    assert t["years"] == 2 and t["reduction_target_per_year"] == 0.042
    assert close(t["target_tco2e"], results["totals"]["kgco2e"] / 1000 * (1 - 0.042 * 2))
    assert t["on_track"] == (new["totals"]["kgco2e"] / 1000 <= t["target_tco2e"])
    assert (tmp_path / "cmp" / "compare.html").is_file() and (tmp_path / "cmp" / "compare.xlsx").is_file()
    table = invoke("compare", a, b)
    assert table.exit_code == 0 and "By stage" in table.output and "Target" in table.output


def test_compare_rejects_what_is_not_results_json(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    res = invoke("compare", bad, bad)
    assert res.exit_code == 2 and "bad.json" in res.output


# --- portfolio ---------------------------------------------------------------------------------

def test_portfolio_rows_html_and_xlsx(tmp_path, results):
    root = tmp_path / "batch"
    hostile = json.loads(json.dumps(results))
    hostile["engagement"]["client"] = HOSTILE
    hostile["interventions"] = [{"id": "X", "name": HOSTILE, "verdict": "do first", "verdict_label": "Do first"}]
    for name, data in (("northlight", results), ("hostile", hostile)):
        (root / name).mkdir(parents=True)
        (root / name / "results.json").write_text(json.dumps(data))
    (root / "failed").mkdir()
    write_portfolio(root, ["northlight", "hostile", "failed"])
    mark_batch_root(root, ["northlight", "hostile"])
    marker = json.loads((root / OUTPUT_MARKER).read_text())
    assert {"portfolio.html", "portfolio.xlsx"} <= set(marker["entries"])
    ws = openpyxl.load_workbook(root / "portfolio.xlsx").active
    header = [c.value for c in ws[1]]
    rows = [dict(zip(header, [c.value for c in r])) for r in ws.iter_rows(min_row=2)]
    assert [r["Engagement"] for r in rows] == ["northlight", "hostile"]
    assert close(rows[0]["Total tCO2e"], results["totals"]["kgco2e"] / 1000)
    genai = sum(a["kgco2e"] for a in results["activities"]
                if a["kind"] in ("llm_api", "image_generation", "video_generation"))
    assert close(rows[0]["GenAI share"], genai / results["totals"]["kgco2e"])
    assets = results["functional_unit_counts"]["accepted asset"]
    assert close(rows[0]["gCO2e per accepted asset"], results["totals"]["kgco2e"] * 1000 / assets)
    assert rows[1]["Client"] == HOSTILE and rows[1]["Top lever"] == HOSTILE and rows[1]["Verdict"] == "Do first"
    assert ws.cell(3, 2).data_type == "s"  # a string that starts with '=' stays text
    page = (root / "portfolio.html").read_text()
    assert "<script>alert" not in page and "&lt;script&gt;" in page
    assert "default-src 'none'" in page
    tags = parse_html(page)
    assert not tags.events
    assert "failed: no results" in page


# --- Excel -------------------------------------------------------------------------------------

def test_excel_disclosure_sheets_equal_the_json():
    from tests.helpers import sample_results
    r = sample_results()
    wb, expected = build_workbook(r)
    assert list(DISCLOSURE_SHEETS) == wb.sheetnames[-3:]
    data = r.to_json_dict()
    ghg, esrs = data["disclosures"]["ghg_protocol"], data["disclosures"]["esrs_e1_6"]
    ws = wb["ESRS E1-6 & VSME B3"]
    values = {}
    for row in ws.iter_rows(min_row=7):
        if isinstance(row[0].value, str) and row[1].value is not None:
            value = expected[(ws.title, row[1].coordinate)] if row[1].data_type == "f" else row[1].value
            values.setdefault(row[0].value, value)
    for element, value in esrs.items():
        assert close(values[element], value), element
    ws = wb["GHG Protocol"]
    labels = {ws.cell(r, 1).value: expected.get((ws.title, f"E{r}")) for r in range(7, ws.max_row + 1)}
    assert close(labels["Total (location-based Scope 2)"], ghg["total_location_tco2e"])
    assert close(labels["Total (market-based Scope 2)"], ghg["total_market_tco2e"])
    assert close(labels["Scope 3 total"], ghg["scope3"]["tco2e"])
    iso = wb["ISO 14064-1"]
    iso_values = [expected[(iso.title, f"C{r}")] for r in range(7, 13)]
    for got, cat in zip(iso_values, data["disclosures"]["iso14064_1"]):
        assert close(got, cat["tco2e"])


def test_method_codes_have_human_names(results):
    codes = {a["method"] for a in results["activities"]}
    names = D.method_names()
    assert codes <= set(names), codes - set(names)
    assert all("_" not in names[c] for c in codes)


def test_client_brand_column_wins_over_the_stage(tmp_path):
    folder = copy_sample(tmp_path)
    rows = read_rows(folder / ACTIVITIES_FILE)
    for r in rows:
        r["client_brand"] = "Column Brand" if r["activity_id"] == "PRO-01" else ""
    rewrite_rows(folder / ACTIVITIES_FILE, rows)
    out = estimate_json(folder)
    brands = {c["client_brand"]: c for c in out["disclosures"]["allocation_to_clients"]["clients"]}
    flight = [a for a in out["activities"] if "PRO-01" in (a["activity_id"], a["derived_from"])]
    assert len(flight) >= 2  # the flight and its well-to-tank line
    assert brands["Column Brand"]["lines"] == len(flight)
    assert close(brands["Column Brand"]["tco2e"] * 1000, sum(a["kgco2e"] for a in flight))
    production = [a for a in out["activities"] if a["stage"] == "Production" and a not in flight]
    assert close(brands["Fjell Outdoor"]["tco2e"] * 1000,
                 sum(a["kgco2e"] for a in out["activities"]
                     if a["stage"] in ("Ideation", "Pre-production", "Production", "Post-production")
                     and a not in flight))
    assert production


def test_functional_unit_shorthands_and_spellings(tmp_path, results):
    folder = copy_sample(tmp_path)
    settings = yaml.safe_load((folder / ENGAGEMENT_FILE).read_text())
    settings["functional_units"] = ["per image", "Accepted assets", {"functional_unit": "campaign", "R": 2}]
    (folder / ENGAGEMENT_FILE).write_text(yaml.safe_dump(settings))
    sci = {r["functional_unit"]: r for r in estimate_json(folder)["sci"]}
    reference = {r["functional_unit"]: r for r in results["sci"]}
    assert sci["per image"]["value"] == reference["image"]["value"]
    assert sci["Accepted assets"]["R"] == reference["accepted asset"]["R"]
    assert sci["campaign"]["R"] == 2
