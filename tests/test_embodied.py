"""Embodied emissions of owned accelerators (Scope 3 Cat 2), overrides, and the register's provenance."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from audit.inventory.estimate import EMBODIED_FACTOR_IDS, combine_log_bounds, embodied_kg_per_gpu_hour, estimate
from audit.reference.factors import REGISTER_COLUMNS, load_register
from audit.inventory.intake import load_engagement
from audit.inventory.results import from_estimate
from audit.reference.scopes import scope_rules
from tests.helpers import activity, by_id, find_problem, problems_from, sample_estimate, write_engagement

HOURS = 3 * 365 * 24  # EcoLogits HARDWARE_LIFESPAN, 3 years
# Issue 15: one factor embodied:gpu-hour. Central: EcoLogits' components over six years (the
# functional unit of Google's TPU LCA); low: BLOOM's 11.2 t / 1,082,990 GPU-h; high: 3 years.
PER_H = (273 + 5700 / 8) / (6 * 365 * 24)
PER_H_HIGH = (273 + 5700 / 8) / HOURS
PER_H_LOW = 0.0103
K95_DQ4 = 1.2


def run(tmp_path, rows, **settings):
    return estimate(load_engagement(write_engagement(tmp_path, rows, **settings)))


def gpu(**fields):
    base = dict(activity_id="G1", kind="gpu_compute", quantity="1000", unit="gpu_hour", hardware="nvidia-a100-sxm")
    base.update(fields)
    return activity(**base)


def test_factors_match_their_sources():
    from ecologits.impacts import llm as el

    reg = load_register()
    assert reg.bounds("embodied:gpu") == (150.0, el.GPU_EMBODIED_IMPACT_GWP, el.GPU_EMBODIED_IMPACT_GWP)
    assert reg.bounds("embodied:server-share") == (1000 / 8, el.SERVER_EMBODIED_IMPACT_GWP / el.SERVER_GPUS,
                                                   el.SERVER_EMBODIED_IMPACT_GWP / el.SERVER_GPUS)
    assert reg.value("embodied:lifetime") * 365 * 24 * 3600 == el.HARDWARE_LIFESPAN
    assert reg.bounds("embodied:gpu-hour") == pytest.approx((PER_H_LOW, PER_H, PER_H_HIGH), rel=1e-3)
    assert reg.bounds("embodied:lifetime")[2] * 365 * 24 * 3600 == 126_144_000  # SciEmbodied default lifespan
    assert embodied_kg_per_gpu_hour(273, 712.5, 3) == pytest.approx(PER_H_HIGH, rel=1e-15)
    assert embodied_kg_per_gpu_hour(273, 712.5, 6) == pytest.approx(PER_H, rel=1e-15)


def test_owned_gpu_hours_get_an_amortised_cat2_line(tmp_path):
    est = run(tmp_path, [gpu(data_quality="2")])
    l = by_id(est.lines)
    e = l.loc["G1~embodied"]
    assert e["derived_from"] == "G1" and (e["scope"], e["scope3_category"]) == (3, 2)
    assert e["scope_category_name"] == "Capital goods"
    assert e["kwh"] == e["kwh_low"] == e["kwh_high"] == 0
    assert e["kgco2e"] == pytest.approx(1000 * PER_H, rel=1e-12)
    assert e["kgco2e"] == pytest.approx(18.75, rel=1e-12)  # 1000 h x 985.5 kg / 52,560 h
    lo, hi = combine_log_bounds(np.array([1000 * PER_H]), np.array([1000 * PER_H_LOW]),
                                np.array([1000 * PER_H_HIGH]), np.array([K95_DQ4]))
    assert e["kgco2e_low"] == pytest.approx(lo[0], rel=1e-12)
    assert e["kgco2e_high"] == pytest.approx(hi[0], rel=1e-12) and e["kgco2e_high"] >= 37.5
    assert e["data_quality"] == 4  # given 2; generic A100 figures are a proxy
    assert e["kgco2e_market"] == e["kgco2e"] and e["intensity_g_per_kwh"] != e["intensity_g_per_kwh"]
    assert list(e["factor_ids"]) == list(EMBODIED_FACTOR_IDS)
    assert set(EMBODIED_FACTOR_IDS) <= set(est.factors_used["factor_id"])
    # The parent's electricity stays in Scope 2, unchanged.
    assert l.at["G1", "scope"] == 2
    assert l.at["G1", "kwh"] == pytest.approx(1000 * 400 / 1000 * 1.56, rel=1e-12)


def test_leased_counts_cloud_and_other_kinds_do_not(tmp_path):
    rows = [gpu(activity_id="OWN", ownership="owned"), gpu(activity_id="LEASE", ownership="leased"),
            gpu(activity_id="CLOUD", provider="aws", region="aws:us-east-1"),
            activity(activity_id="CPU", kind="cpu_compute", quantity="100", unit="vcpu_hour"),
            activity(activity_id="E1")]
    ids = set(run(tmp_path, rows).lines["activity_id"])
    assert {"OWN~embodied", "LEASE~embodied"} <= ids
    assert not {"CLOUD~embodied", "CPU~embodied", "E1~embodied"} & ids


def test_power_only_rows_need_their_hardware_named(tmp_path):
    """A measured draw with the hardware named still gets its embodied line; without a named
    accelerator there is none, and the intake says so."""
    l = by_id(run(tmp_path / "named", [gpu(power_w="250")]).lines)
    assert l.at["G1~embodied", "kgco2e"] == pytest.approx(1000 * PER_H, rel=1e-12)
    loaded = load_engagement(write_engagement(tmp_path / "bare", [gpu(hardware="", power_w="250")]))
    assert any("row 2" in w and "hardware" in w and "embodied" in w for w in loaded.warnings)
    assert not estimate(loaded).lines["activity_id"].str.endswith("~embodied").any()
    loaded = load_engagement(write_engagement(tmp_path / "off", [gpu(hardware="", power_w="250")], embodied=False))
    assert loaded.warnings == []


def test_switch_off(tmp_path):
    lines = run(tmp_path, [gpu()], embodied=False).lines
    assert not lines["activity_id"].str.endswith("~embodied").any()


def test_excluding_cat2_while_embodied_is_on_is_an_input_error(tmp_path):
    folder = write_engagement(tmp_path, [gpu()], scope3_exclusions=[{"category": 2, "reason": "screened out"}])
    p = find_problem(problems_from(load_engagement, folder), contains="embodied")
    assert "category 2" in p.message
    folder = write_engagement(tmp_path, [gpu()], name="ok", embodied=False,
                              scope3_exclusions=[{"category": 2, "reason": "screened out"}])
    assert len(estimate(load_engagement(folder)).lines) >= 1


def test_unknown_key_near_embodied_is_caught(tmp_path):
    folder = write_engagement(tmp_path, [gpu()], embodies=True)
    assert "'embodied'" in find_problem(problems_from(load_engagement, folder), column="embodies").hint


def test_self_hosted_llm_with_hardware_matches_ecologits_embodied(tmp_path):
    """EcoLogits: M_request = latency x (n_GPU/8 x E_server + n_GPU x E_GPU) / (lifetime x B)."""
    from ecologits.impacts import llm as el

    reg = load_register()
    p, out_tok = 70.0, 100
    c = {k: reg.value(f"ecologits:llm:{k}") for k in ("latency_alpha", "latency_beta", "latency_gamma", "batch_size")}
    latency = out_tok * (c["latency_alpha"] * p + c["latency_beta"] * c["batch_size"] + c["latency_gamma"])
    n_gpu = 4
    per_request = el.request_embodied_gwp(
        el.server_gpu_embodied_gwp(el.SERVER_EMBODIED_IMPACT_GWP, el.SERVER_GPUS, el.GPU_EMBODIED_IMPACT_GWP, n_gpu),
        el.HARDWARE_LIFESPAN, latency, el.BATCH_SIZE)
    rows = [activity(activity_id="L1", kind="llm_api", unit="request", quantity="5000", model="70B", ownership="owned",
                     hardware="nvidia-a100-sxm", output_tokens=str(out_tok), latency_s="600", mode="ecologits"),
            activity(activity_id="L2", kind="llm_api", unit="request", quantity="5000", model="70B", ownership="owned",
                     output_tokens=str(out_tok), latency_s="600", mode="ecologits")]
    l = by_id(run(tmp_path, rows).lines)
    # EcoLogits' allocation of GPU time (latency x n_GPU / batch); issue 15: our per-hour factor is
    # EcoLogits' components over six years, not three, so the figure is EcoLogits' x 3/6.
    assert l.at["L1~embodied", "kgco2e"] == pytest.approx(5000 * per_request * PER_H / PER_H_HIGH, rel=1e-9)
    assert "L2~embodied" not in l.index  # no hardware named: may already be in another row's GPU-hours


def test_owned_image_generation_needs_latency(tmp_path):
    rows = [activity(activity_id="I1", kind="image_generation", unit="image", quantity="3600", ownership="owned",
                     hardware="nvidia-l40s", latency_s="2"),
            activity(activity_id="I2", kind="image_generation", unit="image", quantity="3600", ownership="owned",
                     hardware="nvidia-l40s")]
    loaded = load_engagement(write_engagement(tmp_path, rows))
    assert any("row 3" in w and "latency_s" in w for w in loaded.warnings)
    assert not any("row 2" in w for w in loaded.warnings)
    l = by_id(estimate(loaded).lines)
    assert l.at["I1~embodied", "kgco2e"] == pytest.approx(2 * PER_H, rel=1e-12)  # 3600 images x 2 s = 2 GPU-hours
    assert "I2~embodied" not in l.index


def test_sample_owned_render_nodes():
    l = by_id(sample_estimate().lines)
    assert l.at["POST-01~embodied", "kgco2e"] == pytest.approx(2600 * PER_H, rel=1e-12)
    assert l.at["POST-02~embodied", "kgco2e"] == pytest.approx(900 * PER_H, rel=1e-12)
    assert "POST-03~embodied" not in l.index  # cloud
    assert "PRE-05~embodied" not in l.index  # self-hosted LLM without a hardware column
    cat2 = l[l["scope3_category"] == 2]
    assert set(cat2.index) == {"POST-01~embodied", "POST-02~embodied"}


def test_scope_rules_are_untouched_by_embodied_lines():
    rules = scope_rules()
    assert not (rules["scope3_category"] == 2).any()  # derived lines are set directly, not by a rule
    assert len(rules) == 35 and not rules.duplicated(["kind", "ownership"]).any()


def test_linear_in_gpu_hours(tmp_path):
    a = by_id(run(tmp_path / "a", [gpu(quantity="10")]).lines).loc["G1~embodied"]
    b = by_id(run(tmp_path / "b", [gpu(quantity="30")]).lines).loc["G1~embodied"]
    for col in ("kgco2e", "kgco2e_low", "kgco2e_high"):
        assert b[col] == pytest.approx(3 * a[col], rel=1e-12)


# --- factor overrides (the consultant's reason is recorded and cited) ----------------------------

def test_override_is_used_recorded_with_its_reason_and_cited(tmp_path):
    reason = "Client depreciates GPU servers over 5 years (fixed-asset register)"
    overrides = [{"factor_id": "embodied:lifetime", "value": 5, "reason": reason}]
    est = run(tmp_path, [gpu()], factor_overrides=overrides)
    results = from_estimate(est)
    line = by_id(results.lines).loc["G1~embodied"]
    assert line["kgco2e"] == pytest.approx(1000 * (273 + 712.5) / (5 * 8760), rel=1e-12)
    assert "embodied:lifetime" in line["factor_ids"]
    f = results.factors.set_index("factor_id")
    assert bool(f.at["embodied:lifetime", "overridden"]) is True
    assert reason in f.at["embodied:lifetime", "notes"] and f.at["embodied:lifetime", "value"] == 5
    assert "replaces" in f.at["embodied:lifetime", "source"]
    assert not f.loc[f.index != "embodied:lifetime", "overridden"].any()
    doc = results.to_json_dict(include_feasibility=False)
    row = next(r for r in doc["factors"] if r["factor_id"] == "embodied:lifetime")
    assert row["overridden"] is True and reason in row["notes"]
    cited = {fid for a in doc["activities"] for fid in a["factor_ids"]}
    assert "embodied:lifetime" in cited and cited <= {r["factor_id"] for r in doc["factors"]}


def test_override_of_an_unknown_factor_is_refused(tmp_path):
    from audit.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="unknown factor.*did you mean 'embodied:gpu'"):
        run(tmp_path, [gpu()], factor_overrides=[{"factor_id": "embodied:gpus", "value": 1, "reason": "typo"}])


# --- every factor row carries its provenance ------------------------------------------------------

PROVENANCE = ("factor_id", "value", "unit", "source", "year", "licence")


def _missing(table: pd.DataFrame) -> dict[str, list[str]]:
    out = {}
    for c in PROVENANCE:
        bad = table[c].isna() | (table[c].astype(str).str.strip() == "")
        if c == "value":
            bad |= ~np.isfinite(pd.to_numeric(table[c], errors="coerce").fillna(np.nan).astype(float))
        if bad.any():
            out[c] = list(table.loc[bad, "factor_id"][:5])
    return out


def test_every_register_row_has_provenance():
    t = load_register().table
    assert set(REGISTER_COLUMNS) <= set(t.columns)
    assert _missing(t) == {}
    new = ["embodied:gpu", "embodied:server-share", "embodied:lifetime", "training:flops-per-param-token",
           "training:mfu-default"] + [f"hw-peak:{h}" for h in ("nvidia-a100-sxm", "nvidia-h100-sxm", "nvidia-v100-sxm2")]
    assert set(new) <= set(t["factor_id"])


def test_every_cited_factor_of_the_sample_has_provenance():
    used = sample_estimate().factors_used
    assert _missing(used) == {}
    assert all(isinstance(y, (int, np.integer)) or not math.isnan(float(y)) for y in used["year"])
