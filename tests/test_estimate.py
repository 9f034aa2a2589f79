"""The estimator: contract formulas, provenance of every factor, bounds, linearity, scopes."""
from __future__ import annotations

import math
import random

import numpy as np
import pandas as pd
import pytest

from audit.inventory.estimate import RESULT_COLUMNS, combine_log_bounds, estimate, hours_per_month
from audit.reference.factors import load_register
from audit.inventory.intake import load_engagement
from audit.core.paths import ACTIVITIES_FILE
from tests.helpers import (
    SAMPLE_ACTIVITY_COUNT, activity, by_id, copy_sample, read_rows, rewrite_rows, sample_estimate, write_engagement,
)

GBR_GRID_KG = 0.177  # DESNZ 2025 UK electricity, kgCO2e/kWh
ONPREM_PUE = 1.56
USA_G = 369.473  # codecarbon grid:codecarbon:USA, gCO2e/kWh


def run(tmp_path, rows, **settings):
    return estimate(load_engagement(write_engagement(tmp_path, rows, **settings)))


@pytest.fixture(scope="module")
def sample():
    return sample_estimate()


@pytest.fixture(scope="module")
def lines(sample):
    return by_id(sample.lines)


# --- the contract formula ----------------------------------------------------------------

def test_an_unknown_llm_with_a_measured_power_draw_uses_the_measurement(tmp_path):
    """The intake accepts a model EcoLogits does not know when power_w is given; the estimate
    must then use power x latency x PUE, not crash looking the model up."""
    row = activity(activity_id="L1", kind="llm_api", quantity="1000", unit="request", provider="openai",
                   model="my-custom-model", output_tokens="300", power_w="700", latency_s="2", pue="1.2")
    est = run(tmp_path, [row])
    line = by_id(est.lines).loc["L1"]
    assert line["kwh"] == pytest.approx(1000 * 700 * 2 / 3600 / 1000 * 1.2, rel=1e-12)
    assert "activity:L1:power_w" in line["factor_ids"]


def test_gpu_compute_contract_formula(tmp_path):
    row = activity(activity_id="G1", kind="gpu_compute", quantity="123.4", unit="gpu_hour", power_w="333",
                   pue="1.23", carbon_intensity_g_per_kwh="456.7")
    est = run(tmp_path, [row])
    g = by_id(est.lines).loc["G1"]
    kwh = 123.4 * 333 / 1000 * 1.23
    assert g["kwh"] == pytest.approx(kwh, rel=1e-12)
    assert g["kgco2e"] == pytest.approx(g["kwh"] * 456.7 / 1000, rel=1e-12)
    assert g["kgco2e"] == pytest.approx(kwh * 456.7 / 1000, rel=1e-12)
    assert g["intensity_g_per_kwh"] == 456.7
    ids = ["activity:G1:power_w", "activity:G1:pue", "activity:G1:carbon_intensity_g_per_kwh"]
    assert list(g["factor_ids"]) == ids
    used = est.factors_used.set_index("factor_id")
    assert used.loc[ids, "value"].tolist() == [333.0, 1.23, 456.7]
    for fid, col in zip(ids, ("power_w", "pue", "carbon_intensity_g_per_kwh")):
        assert "row 2" in used.at[fid, "source"] and col in used.at[fid, "source"]
        assert used.at[fid, "licence"].startswith("Client data")
    # Owned (default) -> Scope 2; a client-supplied intensity is not the DESNZ factor: no upstream lines.
    assert g["scope"] == 2 and len(est.lines) == 1
    assert g["kgco2e_market"] == g["kgco2e"] and g["market_basis"].startswith("location fallback")


def test_result_columns_are_the_contract(sample):
    assert list(sample.lines.columns) == RESULT_COLUMNS


# --- provenance and bounds on the sample -----------------------------------------------------

def test_every_factor_id_of_the_sample_resolves(sample):
    cited = {f for ids in sample.lines["factor_ids"] for f in ids}
    used = sample.factors_used
    assert set(used["factor_id"]) == cited
    assert used["value"].notna().all() and (used["source"].str.len() > 0).all()
    assert all(len(ids) >= 1 for ids in sample.lines["factor_ids"])


def test_low_central_high_are_ordered_for_every_line(sample):
    l = sample.lines
    for prefix in ("kwh", "kgco2e"):
        lo, mid, hi = (l[f"{prefix}{s}"].to_numpy(float) for s in ("_low", "", "_high"))
        assert np.isfinite(lo).all() and np.isfinite(hi).all()
        assert (lo <= mid).all() and (mid <= hi).all(), prefix
        assert (lo >= 0).all()
    assert (l["kgco2e"] > 0).all()


def test_sample_has_one_line_per_activity_plus_derived_lines(sample):
    l = sample.lines
    parents = l[l["derived_from"] == ""]
    assert len(parents) == SAMPLE_ACTIVITY_COUNT
    derived = l[l["derived_from"] != ""]
    assert (derived["activity_id"].str.split("~").str[0] == derived["derived_from"]).all()
    assert set(derived["derived_from"]) <= set(parents["activity_id"])
    assert (derived["kwh"] == 0).all() and (derived["scope"] == 3).all()


# --- hand-computed lines of the sample ----------------------------------------------------------

HAND = {
    # activity_id: (kWh, kgCO2e)
    "IDE-04": (1450.0, 1450 * GBR_GRID_KG),
    "PRO-07": (3200.0, 3200 * GBR_GRID_KG),  # 3.2 MWh
    "POST-01": (2600 * 300 / 1000 * ONPREM_PUE, 2600 * 300 / 1000 * ONPREM_PUE * GBR_GRID_KG),  # TDP x 1.0
    "POST-02": (900 * 380 / 1000 * ONPREM_PUE, 900 * 380 / 1000 * ONPREM_PUE * GBR_GRID_KG),  # measured draw
    "POST-03": (320 * 400 / 1000 * 1.135, 320 * 400 / 1000 * 1.135 * USA_G / 1000),  # aws:us-east-1
    "POST-04": (140 * 72 * 0.7 / 1000 * 1.1, 140 * 72 * 0.7 / 1000 * 1.1 * GBR_GRID_KG),  # gcp, L4 at 70 %
    "POST-06": (12000 * (0.78 + 0.5 * (3.76 - 0.78)) / 1000 * 1.185,
                12000 * (0.78 + 0.5 * (3.76 - 0.78)) / 1000 * 1.185 * GBR_GRID_KG),
    "PRE-01": (26000 * 0.002907 * 1.2, 26000 * 0.002907 * 1.2 * USA_G / 1000),
    # TB-months x hours per month (see test_storage_in_tb_hours_round_trips_exactly) x kWh/TB-h x PUE
    "DEL-01": (14 * hours_per_month() * 0.0012 * 1.135, 14 * hours_per_month() * 0.0012 * 1.135 * GBR_GRID_KG),
    "DEL-02": (60 * hours_per_month() * 0.00065 * 1.135, 60 * hours_per_month() * 0.00065 * 1.135 * GBR_GRID_KG),
    "DEL-03": (8500 * 0.001 * 1.135, 8500 * 0.001 * 1.135 * GBR_GRID_KG),  # 8.5 TB
    "PRO-04": (0.0, 640 * 2.57082),  # diesel, litres
    "PRO-04~wtt": (0.0, 640 * 0.61101),
    "PRO-01": (0.0, 45600 * 0.12576),  # short-haul economy, with RF
    "PRE-04": (0.0, 3800 * 0.12576),
    "PRO-03": (0.0, 1850 * 0.21007),  # large diesel car, vehicle-km
    "DEL-05": (0.0, 1240 * 0.03546),  # national rail
    "PRO-06": (0.0, 96 * 0.10163),  # HGV average
    "IDE-04~td": (0.0, 1450 * 0.01853),
    "IDE-04~wtt": (0.0, 1450 * 0.0459),
}


@pytest.mark.parametrize("activity_id", list(HAND))
def test_hand_computed_lines(lines, activity_id):
    assert 730 <= hours_per_month() <= 731
    kwh, kg = HAND[activity_id]
    assert lines.at[activity_id, "kwh"] == pytest.approx(kwh, rel=1e-9)
    assert lines.at[activity_id, "kgco2e"] == pytest.approx(kg, rel=1e-9)


def test_video_line_equals_seconds_times_its_registered_factor(sample, lines):
    per_s = sample.register.value("ecologits:video:google/veo-3.0")
    assert lines.at["PRE-03", "kwh"] == pytest.approx(90 * per_s, rel=1e-12)
    assert list(lines.at["PRE-03", "factor_ids"]) == ["ecologits:video:google/veo-3.0", "grid:codecarbon:USA"]


def test_hotel_without_desnz_factor_uses_the_labelled_proxy(sample, lines):
    proxy = sample.register.row("proxy:hotel-desnz-mean")
    hotels = load_register().find(kind="accommodation", part="direct")["value"].astype(float)
    assert float(proxy["value"]) == pytest.approx(hotels.mean(), rel=1e-12)
    assert lines.at["PRO-02", "kgco2e"] == pytest.approx(36 * hotels.mean(), rel=1e-12)
    assert lines.at["PRO-02", "data_quality"] == 4  # given 2; a proxy caps quality at 4


def test_llm_api_follows_the_documented_equation(tmp_path):
    """METHODOLOGY 'LLM requests', re-implemented from the published coefficients."""
    reg = load_register()
    c = {k: reg.value(f"ecologits:llm:{k}") for k in ("gpu_energy_alpha", "gpu_energy_beta", "gpu_energy_gamma",
                                                      "latency_alpha", "latency_beta", "latency_gamma",
                                                      "batch_size", "server_power", "gpu_memory")}
    prefill = reg.value("genai:prefill-wh-per-token-per-bparam")
    pue = reg.bounds("ecologits:provider:huggingface_hub")[1]  # no provider: EcoLogits' default
    p, out_tok, in_tok, b = 70.0, 100, 1000, c["batch_size"]

    def per_request(latency_cap):
        gpu = out_tok * (c["gpu_energy_alpha"] * math.exp(c["gpu_energy_beta"] * b) * p + c["gpu_energy_gamma"]) / 1000
        n_gpu = 2 ** math.ceil(math.log2(math.ceil(1.2 * p * 16 / 8 / c["gpu_memory"])))
        assert n_gpu == 4
        lat = min(out_tok * (c["latency_alpha"] * p + c["latency_beta"] * b + c["latency_gamma"]), latency_cap)
        server = lat / 3600 * c["server_power"] * n_gpu / 8 / b
        return pue * (server + n_gpu * gpu + in_tok * p * prefill / 1000)

    rows = [activity(activity_id="L-long", kind="llm_api", unit="request", quantity="250", model="70B",
                     input_tokens=str(in_tok), output_tokens=str(out_tok), latency_s="600"),
            activity(activity_id="L-capped", kind="llm_api", unit="request", quantity="250", model="70B",
                     input_tokens=str(in_tok), output_tokens=str(out_tok), latency_s="0.5")]
    est = run(tmp_path, rows, llm_method="ecologits")  # issue 15: the EcoLogits equation, selected engagement-wide
    l = by_id(est.lines)
    assert l.at["L-long", "kwh"] == pytest.approx(250 * per_request(600.0), rel=1e-12)
    assert l.at["L-capped", "kwh"] == pytest.approx(250 * per_request(0.5), rel=1e-12)
    assert l.at["L-capped", "kwh"] < l.at["L-long", "kwh"]
    assert "activity:L-long:model" in l.at["L-long", "factor_ids"]
    assert est.register.value("activity:L-long:model") == 70.0
    # Hosted without a provider: Scope 3 cat 1, in the engagement's default region.
    assert l.at["L-long", "scope"] == 3 and l.at["L-long", "region"] == "GBR"


def test_input_tokens_add_prefill_energy(tmp_path):
    rows = [activity(activity_id=f"L{n}", kind="llm_api", unit="request", quantity="1", provider="openai",
                     model="gpt-4o", input_tokens=str(n), output_tokens="200", latency_s="5") for n in (0, 10000)]
    l = by_id(run(tmp_path / "eco", rows, llm_method="ecologits").lines)
    extra = l.at["L10000", "kwh"] - l.at["L0", "kwh"]
    assert extra == pytest.approx(1.2 * 10000 * 88 * 7.86e-7 / 1000, rel=1e-9)  # PUE x tokens x P x e_prefill
    # Issue 15, production method (default): tokens x k_pre (J per token per B active) x P, then the
    # serving scale (1 + host share) x idle factor x PUE.
    l = by_id(run(tmp_path / "prod", rows).lines)
    extra = l.at["L10000", "kwh"] - l.at["L0", "kwh"]
    assert extra == pytest.approx(10000 * 2.5e-3 * 88 * 1.43 * 1.10 * 1.2 / 3.6e6, rel=1e-9)


# --- uncertainty -----------------------------------------------------------------------------

def test_combine_log_bounds_by_hand():
    lo, hi = combine_log_bounds(np.array([10.0]), np.array([5.0]), np.array([20.0]), np.array([1.1]))
    k = math.log(1.1)
    assert lo[0] == pytest.approx(10 * math.exp(-math.hypot(math.log(2), k)), rel=1e-12)
    assert hi[0] == pytest.approx(10 * math.exp(math.hypot(math.log(2), k)), rel=1e-12)
    lo, hi = combine_log_bounds(np.array([0.0]), np.array([0.0]), np.array([0.0]), np.array([1.5]))
    assert lo[0] == 0 and hi[0] == 0


@pytest.mark.parametrize("dq,k95", [(1, 1.0), (2, 1.05), (3, 1.1), (4, 1.2), (5, 1.5)])
def test_data_quality_widens_the_range_by_the_pedigree_factor(tmp_path, dq, k95):
    l = by_id(run(tmp_path, [activity(data_quality=str(dq))], upstream_cat3=False).lines).loc["A1"]
    assert l["kgco2e"] == pytest.approx(100 * GBR_GRID_KG, rel=1e-12)
    assert l["kgco2e_high"] == pytest.approx(l["kgco2e"] * k95, rel=1e-12)
    assert l["kgco2e_low"] == pytest.approx(l["kgco2e"] / k95, rel=1e-12)


# --- linearity and row order -----------------------------------------------------------------

KEY_COLUMNS = ["kwh", "kwh_low", "kwh_high", "kgco2e", "kgco2e_low", "kgco2e_high", "kgco2e_market"]


def test_results_scale_linearly_with_quantity(tmp_path, sample):
    folder = copy_sample(tmp_path)
    rows = read_rows(folder / ACTIVITIES_FILE)
    for r in rows:
        r["quantity"] = repr(float(r["quantity"]) * 3)
    rewrite_rows(folder / ACTIVITIES_FILE, rows)
    tripled = by_id(estimate(load_engagement(folder)).lines)
    base = by_id(sample.lines)
    assert set(tripled.index) == set(base.index)
    assert set(base.loc[base["derived_from"] == "", "kind"]) == {
        "llm_api", "image_generation", "video_generation", "gpu_compute", "cpu_compute", "electricity", "fuel",
        "travel", "accommodation", "freight", "storage", "data_transfer"}
    base = base[~base.index.str.startswith("USG-")]  # the usage log's requests were not tripled
    # a self-hosted deployment's GPUs are up for the same hours: only its serving energy grows
    selfhosted = base.index[base["method"] == "selfhosted_llm"]
    assert len(selfhosted) and (tripled.loc[selfhosted, "kwh"] > base.loc[selfhosted, "kwh"]).all()
    assert (tripled.loc[selfhosted, "kwh"] < 3 * base.loc[selfhosted, "kwh"]).all()
    base = base[~base.index.isin(selfhosted) & ~base["derived_from"].isin(selfhosted)]
    t = tripled.loc[base.index]
    for col in KEY_COLUMNS:
        np.testing.assert_allclose(t[col].to_numpy(float), 3 * base[col].to_numpy(float), rtol=1e-9, err_msg=col)


def test_results_do_not_depend_on_row_order(tmp_path, sample):
    folder = copy_sample(tmp_path)
    rows = read_rows(folder / ACTIVITIES_FILE)
    random.Random(20250401).shuffle(rows)
    assert rows[0]["activity_id"] != "IDE-01"
    rewrite_rows(folder / ACTIVITIES_FILE, rows)
    shuffled = by_id(estimate(load_engagement(folder)).lines)
    base = by_id(sample.lines)
    assert set(shuffled.index) == set(base.index)
    s = shuffled.loc[base.index]
    for col in KEY_COLUMNS:
        np.testing.assert_allclose(s[col].to_numpy(float), base[col].to_numpy(float), rtol=1e-12, err_msg=col)
    assert (s["scope"] == base["scope"]).all()
    assert s["factor_ids"].map(tuple).equals(base["factor_ids"].map(tuple))


# --- scopes -----------------------------------------------------------------------------------

def test_sample_scopes(lines):
    def scope(aid):
        cat = lines.at[aid, "scope3_category"]
        return int(lines.at[aid, "scope"]), None if pd.isna(cat) else int(cat)

    assert scope("IDE-04") == (2, None)  # owned electricity
    assert scope("POST-01") == (2, None)  # owned GPUs
    assert scope("POST-03") == (3, 1)  # cloud GPU
    assert scope("IDE-01") == (3, 1)  # LLM API
    assert scope("PRO-04") == (1, None)  # leased diesel generator
    assert scope("PRO-04~wtt") == (3, 3)  # its well-to-tank
    assert lines.at["PRO-04~wtt", "derived_from"] == "PRO-04"
    assert scope("PRO-01") == (3, 6) and scope("PRE-04") == (3, 6)  # flights
    assert scope("PRO-01~wtt") == (3, 6)  # travel WTT stays in cat 6
    assert scope("PRO-02") == (3, 6)  # hotel
    assert scope("PRO-05") == (3, 4) and scope("PRO-05~wtt") == (3, 4)  # freight
    assert scope("PRO-03") == (1, None) and scope("PRO-03~wtt") == (3, 3)  # leased car
    assert scope("IDE-04~td") == (3, 3)


def test_flights_use_the_rf_factor_by_default(sample, lines):
    fid = lines.at["PRO-01", "factor_ids"][0]
    row = sample.register.row(fid)
    assert row["mode"] == "flight_short_haul_economy_rf" and "With RF" in row["name"]


@pytest.mark.parametrize("rf,mode,value", [(True, "flight_long_haul_economy_rf", 0.11704),
                                           (False, "flight_long_haul_economy", 0.06926)])
def test_radiative_forcing_setting_chooses_the_flight_factor(tmp_path, rf, mode, value):
    row = activity(activity_id="F1", kind="travel", quantity="1000", unit="passenger_km",
                   mode="flight_long_haul_economy")
    est = run(tmp_path, [row], radiative_forcing=rf)
    l = by_id(est.lines)
    fid = l.at["F1", "factor_ids"][0]
    assert est.register.row(fid)["mode"] == mode
    assert l.at["F1", "kgco2e"] == pytest.approx(1000 * value, rel=1e-12)
    assert (l.at["F1", "scope"], l.at["F1", "scope3_category"]) == (3, 6)
    assert "F1~wtt" in l.index


def test_upstream_lines_can_be_switched_off(tmp_path):
    rows = [activity(activity_id="E1"), activity(activity_id="D1", kind="fuel", unit="litre", quantity="10",
                                                 mode="diesel")]
    assert len(run(tmp_path, rows).lines) == 2 + 3 + 1
    assert len(run(tmp_path / "off", rows, upstream_cat3=False).lines) == 2


# --- market-based Scope 2 -------------------------------------------------------------------

def test_renewable_share_scales_market_based_gbr_scope2(sample):
    l = sample.lines
    s2 = l[l["scope"] == 2]
    assert len(s2) == 7 and (s2["country"] == "GBR").all()  # 6 + PRE-06, the self-hosted 8B model
    np.testing.assert_allclose(s2["kgco2e_market"], 0.4 * s2["kgco2e"], rtol=1e-12)
    assert s2["market_basis"].str.startswith("renewable share 60%").all()
    other = l[l["scope"] != 2]
    assert (other["kgco2e_market"] == other["kgco2e"]).all() and (other["market_basis"] == "").all()


def test_a_market_based_figure_names_its_contractual_instrument_as_a_factor(sample):
    """Every number is traceable: the renewable share behind market-based Scope 2 is a
    register row (value, unit, source, year, licence) named by each line it changes."""
    s2 = sample.lines[sample.lines["scope"] == 2]
    fid = "engagement:market_instrument:1:gbr"
    assert s2["factor_ids"].map(lambda ids: ids[-1] == fid).all()
    row = sample.register.row(fid)
    assert float(row["value"]) == 0.6 and row["unit"] == "fraction" and int(row["year"]) == 2025
    assert "market_instruments[0]" in row["source"] and row["licence"] == "Client data (confidential)"
    others = sample.lines[sample.lines["scope"] != 2]
    assert not others["factor_ids"].map(lambda ids: fid in ids).any()


def test_without_instrument_market_equals_location(tmp_path):
    l = by_id(run(tmp_path, [activity()]).lines).loc["A1"]
    assert l["kgco2e_market"] == l["kgco2e"] == pytest.approx(100 * GBR_GRID_KG, rel=1e-12)
    assert "location fallback" in l["market_basis"]


def test_supplier_factor_replaces_the_grid_factor(tmp_path):
    inst = [{"region": "GBR", "supplier_factor_g_per_kwh": 50, "description": "PPA"}]
    l = by_id(run(tmp_path, [activity()], market_instruments=inst).lines).loc["A1"]
    assert l["kgco2e_market"] == pytest.approx(100 * 50 / 1000, rel=1e-12)
    assert l["kgco2e"] == pytest.approx(100 * GBR_GRID_KG, rel=1e-12)
    assert l["market_basis"] == "supplier factor 50 g/kWh"


def test_instrument_for_another_region_does_not_apply(tmp_path):
    inst = [{"region": "FRA", "renewable_share": 1.0}]
    l = by_id(run(tmp_path, [activity()], market_instruments=inst).lines).loc["A1"]
    assert l["kgco2e_market"] == l["kgco2e"] and "location fallback" in l["market_basis"]


# --- engagement overrides ---------------------------------------------------------------------

def test_engagement_factor_override_is_used_and_cited(tmp_path):
    row = activity(activity_id="G1", kind="gpu_compute", quantity="10", unit="gpu_hour", hardware="nvidia-a100-sxm")
    overrides = [{"factor_id": "pue:onprem-average", "value": 1.2, "reason": "Metered render room PUE"}]
    est = run(tmp_path, [row], factor_overrides=overrides)
    g = by_id(est.lines).loc["G1"]
    assert g["kwh"] == pytest.approx(10 * 400 * 1.0 / 1000 * 1.2, rel=1e-12)
    used = est.factors_used.set_index("factor_id")
    assert bool(used.at["pue:onprem-average", "overridden"])
    assert "Metered render room PUE" in used.at["pue:onprem-average", "notes"]
    assert load_register().value("pue:onprem-average") == ONPREM_PUE  # the shared register is untouched


# --- known defects ----------------------------------------------------------------------------

def test_storage_in_tb_hours_round_trips_exactly(tmp_path):
    row = activity(activity_id="S1", kind="storage", quantity="1000", unit="TB*hour", provider="aws",
                   region="aws:eu-west-2", mode="ssd")
    l = by_id(run(tmp_path, [row]).lines).loc["S1"]
    assert l["kwh"] == pytest.approx(1000 * 0.0012 * 1.135, rel=1e-9)


# --- the vectorised estimator (issue 17: no per-row iteration) ------------------------------

def _tiled(loaded, copies: int):
    """``loaded`` with its activities repeated ``copies`` times, each copy's ids suffixed ``-c<n>``."""
    import dataclasses

    base = loaded.activities
    parts = []
    for n in range(copies):
        part = base.copy()
        part["activity_id"] = part["activity_id"].astype(str) + f"-c{n}"
        parts.append(part)
    return dataclasses.replace(loaded, activities=pd.concat(parts, ignore_index=True))


def test_every_copy_of_a_tiled_table_gets_the_lines_of_the_original(sample):
    """Rows are estimated together per kind: a row's lines must not depend on its neighbours."""
    from tests.helpers import sample_loaded

    tiled = estimate(_tiled(sample_loaded(), 3)).lines
    one = sample.lines
    assert len(tiled) == 3 * len(one)
    base_ids = one["activity_id"].astype(str)
    for n in range(3):
        suffix = f"-c{n}"
        mine = tiled[tiled["activity_id"].astype(str).str.contains(suffix, regex=False)]
        mine = mine.set_index(mine["activity_id"].astype(str).str.replace(suffix, "", regex=False))
        mine = mine.loc[base_ids]
        for col in ("kwh", "kwh_low", "kwh_high", "kgco2e", "kgco2e_low", "kgco2e_high", "kgco2e_market",
                    "ecologits_kwh", "embodied_kgco2e_memo"):
            np.testing.assert_array_equal(mine[col].to_numpy(float), one[col].to_numpy(float), err_msg=col)
        for col in ("method", "formula", "boundary", "market_basis", "data_quality_basis", "scope3_category"):
            assert mine[col].astype(str).tolist() == one[col].astype(str).tolist(), col
        cited = [[f.replace(suffix, "") for f in ids] for ids in mine["factor_ids"]]
        assert cited == [list(ids) for ids in one["factor_ids"]]


def test_client_supplied_values_are_registered_row_by_row(tmp_path):
    rows = [activity(activity_id=f"I{n}", kind="image_generation", quantity="100", unit="image", power_w=str(300 + n),
                     latency_s=str(4 + n), ownership="owned") for n in (1, 2)]
    est = run(tmp_path, rows)
    supplied = [f for f in est.register.table["factor_id"] if str(f).startswith("activity:")]
    assert supplied == ["activity:I1:power_w", "activity:I1:latency_s", "activity:I2:power_w", "activity:I2:latency_s"]
    table = est.register.table.set_index("factor_id")
    assert table.at["activity:I2:latency_s", "value"] == 6.0
    assert "row 3, column latency_s" in table.at["activity:I2:latency_s", "source"]
    l = by_id(est.lines)
    assert l.at["I2", "kwh"] == pytest.approx(100 * 302 * 6 / 3.6e6 * ONPREM_PUE)


def test_an_unknown_mode_names_the_first_row_that_has_it(tmp_path):
    from audit.core.exceptions import ValidationError

    rows = [activity(activity_id=f"G{n}", kind="gpu_compute", quantity="10", unit="gpu_hour", power_w="300",
                     mode="training") for n in (1, 2, 3)]
    loaded = load_engagement(write_engagement(tmp_path, rows))
    loaded.activities.loc[1:, "mode"] = ["bogus", "worse"]  # past validation, as a caller might pass it
    with pytest.raises(ValidationError) as err:
        estimate(loaded)
    (problem,) = err.value.problems
    assert problem.column == "mode" and problem.row == int(loaded.activities.at[1, "row_number"])
    assert "bogus" in problem.message


def test_identical_self_hosted_rows_get_the_same_energy_and_their_own_citations(tmp_path):
    fleet = dict(kind="llm_api", quantity="6000", unit="request", region="GBR", provider="huggingface",
                 model="meta-llama/Meta-Llama-3.1-8B-Instruct", ownership="owned", input_tokens="700",
                 output_tokens="300", gpus="1", serving_hours="160", utilisation="0.2")
    alone = by_id(run(tmp_path / "one", [activity(activity_id="F1", **fleet)]).lines)
    both = by_id(run(tmp_path / "two", [activity(activity_id="F1", **fleet), activity(activity_id="F2", **fleet)]).lines)
    for col in ("kwh_low", "kwh", "kwh_high"):
        assert both.at["F1", col] == both.at["F2", col] == alone.at["F1", col]
    assert both.at["F1", "method"] == "selfhosted_llm"
    assert "activity:F2:gpus" in both.at["F2", "factor_ids"] and "activity:F1:gpus" not in both.at["F2", "factor_ids"]


def test_the_estimator_does_not_iterate_over_rows():
    """Issue 17: 100k activities took 71-113 s with iterrows; the estimator works per kind."""
    import ast
    import inspect

    import audit.inventory.estimate as module

    calls = {node.func.attr for node in ast.walk(ast.parse(inspect.getsource(module)))
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)}
    assert not calls & {"iterrows", "itertuples"}
