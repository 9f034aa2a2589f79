"""Issue 15 beyond the LLM method: supplier-specific factors, images by model/resolution/steps,
gpu_compute uses and TPUs, CCF storage replication, hosted embodied share, data quality that
follows the method, and the contract columns (boundary, ecologits_kwh) in results.json."""
from __future__ import annotations

import pytest

from audit.core.exceptions import ValidationError
from audit.inventory.estimate import estimate, parse_image_mode
from audit.inventory.intake import load_engagement
from audit.inventory.results import from_estimate
from audit.reference.factors import load_register
from tests.helpers import activity, by_id, write_engagement


def run(tmp_path, rows, **settings):
    return estimate(load_engagement(write_engagement(tmp_path, rows, **settings)))


def llm(**fields):
    base = dict(activity_id="L1", kind="llm_api", quantity="1000", unit="request", provider="google",
                model="gemini-2.5-flash", input_tokens="100", output_tokens="300")
    return activity(**(base | fields))


def image(**fields):
    return activity(**(dict(activity_id="I1", kind="image_generation", quantity="1000", unit="image") | fields))


# --- supplier-specific factors -------------------------------------------------------------------

def test_supplier_preset_energy_per_request_is_used_and_said(tmp_path):
    est = run(tmp_path, [llm(), llm(activity_id="L2", provider="openai", model="gpt-4o")],
              supplier_factors=[{"preset": "google-gemini-apps-2025-energy"}])
    l = by_id(est.lines)
    assert l.at["L1", "kwh"] == pytest.approx(1000 * 0.24 / 1000)
    assert l.at["L1", "kwh_low"] < l.at["L1", "kwh"] < l.at["L1", "kwh_high"]  # only the data-quality-2 widening
    assert l.at["L1", "kwh_high"] / l.at["L1", "kwh"] < 1.06
    assert l.at["L1", "method"] == "supplier_specific" and l.at["L1", "data_quality"] == 2
    assert l.at["L1", "boundary"] == "serving"
    assert any(f.startswith("supplier:1:") for f in l.at["L1", "factor_ids"])
    assert l.at["L1", "ecologits_kwh"] > 0  # EcoLogits' figure still beside it
    assert l.at["L2", "method"] == "production_llm"  # another provider: not touched
    cited = est.factors_used.set_index("factor_id")
    fid = next(f for f in l.at["L1", "factor_ids"] if f.startswith("supplier:"))
    assert "arXiv:2508.15734" in cited.at[fid, "source"] and int(cited.at[fid, "year"]) == 2025


def test_supplier_carbon_per_request_location_and_market(tmp_path):
    est = run(tmp_path, [llm(provider="mistral", model="mistral-large-2512", output_tokens="400"),
                         llm(activity_id="L2")],
              supplier_factors=[{"preset": "mistral-large-2-2025-lca"},
                                {"preset": "google-gemini-apps-2025-carbon-market"}])
    l = by_id(est.lines)
    assert l.at["L1", "kgco2e"] == pytest.approx(1000 * 1.14 / 1000) and l.at["L1", "boundary"] == "lifecycle"
    assert l.at["L2", "kgco2e_market"] == pytest.approx(1000 * 0.03 / 1000)
    assert l.at["L2", "kgco2e"] != pytest.approx(l.at["L2", "kgco2e_market"])  # location-based stays modelled


def test_supplier_factor_needs_its_provenance(tmp_path):
    folder = write_engagement(tmp_path, [llm()], supplier_factors=[{"provider": "google", "value": 0.2,
                                                                    "unit": "wh_per_request"}])
    with pytest.raises(ValidationError, match="source"):
        load_engagement(folder)


def test_unknown_preset_is_located(tmp_path):
    with pytest.raises(ValidationError, match="preset"):
        run(tmp_path, [llm()], supplier_factors=[{"preset": "no-such-preset"}])


# --- images ------------------------------------------------------------------------------------------

def test_image_mode_syntax():
    assert parse_image_mode("1024x1024;steps:30") == (1024 * 1024, 30)
    assert parse_image_mode("steps:4") == (None, 4)
    assert parse_image_mode("") == (None, None)
    with pytest.raises(ValueError):
        parse_image_mode("hd")


def test_turbo_and_sdxl_differ_and_scale_with_steps_and_pixels(tmp_path):
    rows = [image(activity_id="SDXL", model="sdxl"), image(activity_id="TURBO", model="sdxl-turbo"),
            image(activity_id="S60", model="sdxl", mode="steps:60"),
            image(activity_id="S512", model="sdxl", mode="512x512"),
            image(activity_id="GEN", provider="stability")]
    l = by_id(run(tmp_path, rows, llm_boundary="accelerator").lines)
    assert l.at["SDXL", "kwh"] == pytest.approx(1000 * 0.000363)  # published at its reference settings
    assert l.at["SDXL", "kwh"] / l.at["TURBO", "kwh"] > 5
    assert 1.9 < l.at["S60", "kwh"] / l.at["SDXL", "kwh"] < 2.0  # linear in steps plus a 3 % fixed part
    assert l.at["S512", "kwh"] / l.at["SDXL", "kwh"] == pytest.approx(0.25 ** 0.6)
    assert l.at["GEN", "method"] == "image_generic_fallback" and "FALLBACK" in l.at["GEN", "formula"]
    assert l.at["SDXL", "data_quality"] == 3 and l.at["GEN", "data_quality"] == 4


def test_hosted_names_resolve_to_a_documented_proxy(tmp_path):
    l = by_id(run(tmp_path, [image(model="dall-e-3", provider="openai"),
                             image(activity_id="MJ", model="Midjourney", provider="midjourney")]).lines)
    assert l.at["I1", "method"] == "image_proxy" and l.at["I1", "data_quality"] == 5
    assert "proxy:image:flux-class" in l.at["I1", "factor_ids"]
    assert "proxy:image:sd35-large-class" in l.at["MJ", "factor_ids"]


def test_bad_image_mode_is_a_located_error(tmp_path):
    with pytest.raises(ValidationError) as err:
        run(tmp_path, [image(model="sdxl", mode="ultra")])
    p = err.value.problems[0]
    assert p.column == "mode" and p.row == 2


# --- gpu_compute uses, TPUs, storage, embodied, contract --------------------------------------------

def test_gpu_uses_have_their_own_utilisation_and_host_share(tmp_path):
    base = dict(kind="gpu_compute", quantity="100", unit="gpu_hour", hardware="nvidia-h100-sxm", pue="1.0")
    rows = [activity(activity_id=m or "BLANK", mode=m, **base) for m in ("training", "serving", "rendering", "")]
    l = by_id(run(tmp_path, rows).lines)
    reg = load_register()
    host = reg.value("gpu-host-share:default")
    for m in ("training", "serving", "rendering"):
        assert l.at[m, "kwh"] == pytest.approx(100 * 700 * reg.value(f"gpu-utilisation:{m}") * (1 + host) / 1000)
    assert l.at["BLANK", "kwh"] == pytest.approx(100 * 700 / 1000)  # unspecified use: TDP, no host share
    assert l.at["serving", "kwh"] < l.at["training", "kwh"]


def test_tpu_v4_uses_googles_measured_power(tmp_path):
    l = by_id(run(tmp_path, [activity(kind="gpu_compute", quantity="10", unit="gpu_hour", hardware="google-tpu-v4",
                                      mode="training", pue="1.0")]).lines)
    assert l.at["A1", "kwh"] == pytest.approx(10 * 192 * 0.90 * 1.43 / 1000)
    v6e = by_id(run(tmp_path / "b", [activity(kind="gpu_compute", quantity="10", unit="gpu_hour",
                                               hardware="google-tpu-v6e")]).lines)
    assert v6e.at["A1", "data_quality"] == 5  # a power derived from marketing claims


def test_storage_class_applies_ccf_replication(tmp_path):
    base = dict(kind="storage", quantity="10", unit="tb_month", pue="1.0")
    l = by_id(run(tmp_path, [activity(activity_id="HDD", mode="hdd", **base),
                             activity(activity_id="S3", mode="aws_s3", **base)]).lines)
    assert l.at["S3", "kwh"] == pytest.approx(6 * l.at["HDD", "kwh"])
    assert "ccf:replication:aws_s3" in l.at["S3", "factor_ids"]


def test_hosted_embodied_is_a_memo_under_serving_and_a_line_under_lifecycle(tmp_path):
    serving = by_id(run(tmp_path / "s", [llm()]).lines)
    assert "L1~embodied" not in serving.index and serving.at["L1", "embodied_kgco2e_memo"] > 0
    life = by_id(run(tmp_path / "l", [llm()], llm_boundary="lifecycle").lines)
    e = life.loc["L1~embodied"]
    assert e["kgco2e"] == pytest.approx(serving.at["L1", "embodied_kgco2e_memo"])
    assert e["scope3_category"] == life.at["L1", "scope3_category"] and "lifecycle" in e["boundary"]


def test_consultant_data_quality_override_is_kept_logged_and_shown(tmp_path):
    row = activity(kind="travel", quantity="1000", unit="passenger_km", mode="flight_short_haul_economy",
                   data_quality="2")
    est = run(tmp_path, [row])
    line = by_id(est.lines).loc["A1"]
    assert line["data_quality"] == 2 and "override" in line["data_quality_basis"]
    assert any("A1" in w and "overrides" in w for w in est.warnings)


def test_results_json_has_boundary_everywhere_and_ecologits_kwh_on_llm_lines(tmp_path):
    est = run(tmp_path, [llm(), activity(activity_id="E1")])
    doc = from_estimate(est).to_json_dict(include_feasibility=False)
    acts = {a["activity_id"]: a for a in doc["activities"]}
    assert all(isinstance(a["boundary"], str) and a["boundary"] for a in acts.values())
    assert acts["L1"]["ecologits_kwh"] > acts["L1"]["kwh"] > 0
    assert acts["E1"]["ecologits_kwh"] is None


def test_unknown_llm_mode_is_a_located_error(tmp_path):
    with pytest.raises(ValidationError) as err:
        run(tmp_path, [llm(mode="fast")])
    assert err.value.problems[0].column == "mode" and "production" in err.value.problems[0].hint
