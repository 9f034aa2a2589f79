"""audit.methods.llm: the one LLM method shared by activity rows and usage logs."""
import numpy as np
import pandas as pd
import pytest

from audit.methods.llm import (
    NO_PROVIDER_PUE_ID, ONPREM_PUE_ID, llm_coefficient_factor_ids, llm_coefficients, llm_pue_factor_id,
    llm_request_energy_kwh, llm_unit_energies, model_parameters, size_parameters,
)
from audit.reference.factors import load_register
from audit.reference.vocabularies import providers, resolve_llm_model


def test_pue_choice_owned_provider_and_none():
    prov = providers()
    provider = prov.index[0]
    assert llm_pue_factor_id(provider, "purchased_service", prov) == prov.loc[provider, "pue_factor_id"]
    assert llm_pue_factor_id(provider, "owned", prov) == ONPREM_PUE_ID
    assert llm_pue_factor_id("", "leased", prov) == ONPREM_PUE_ID
    assert llm_pue_factor_id("", "purchased_service", prov) == NO_PROVIDER_PUE_ID


def test_model_parameters_give_a_range_around_the_mean():
    model, _ = resolve_llm_model("openai", "gpt-4o")
    mp = model_parameters(model)
    lo, mid, hi = mp.active
    assert lo <= mid <= hi and mid == pytest.approx((lo + hi) / 2)
    assert mp.total[0] >= lo and mp.factor_id.startswith("ecologits:model:openai/")
    assert size_parameters(70.0) == (70.0, 70.0, 70.0)


def test_every_cited_coefficient_is_in_the_register():
    reg = load_register()
    c = llm_coefficients(reg, "ecologits")
    for method in ("ecologits", "production"):
        for boundary in ("accelerator", "serving", "lifecycle"):
            assert all(fid in reg for fid in llm_coefficient_factor_ids(method, boundary))
    scalars = {k: v for k, v in c.items() if k not in ("method", "boundary", "production")}
    assert scalars and all(np.isfinite(v) for v in scalars.values())
    assert all(np.isfinite(v).all() for v in c["production"].values())


def test_unit_energies_reproduce_the_row_equation():
    """The usage-log path multiplies per-token and per-second energies; the activity path
    evaluates the whole equation: both are the same method."""
    reg = load_register()
    c = llm_coefficients(reg, "ecologits")  # the EcoLogits method (production has no latency term)
    pre = reg.bounds("genai:prefill-wh-per-token-per-bparam")[1]
    act, tot = np.array([8.0, 70.0]), np.array([8.0, 70.0])
    tps, ttft, pue = np.array([np.nan, 50.0]), np.array([0.0, 0.3]), np.array([1.2, 1.1])
    out, inp, logged = np.array([300.0, 800.0]), np.array([1000.0, 50.0]), np.array([np.nan, 5.0])
    energy, lat, _ = llm_request_energy_kwh(act, tot, tps, ttft, out, inp, logged, pue, pre, c)
    u = llm_unit_energies(act, tot, tps, pue, pre, c)
    latency = np.fmin(out * u["s_per_token"] + ttft, logged)
    per_unit = u["kwh_per_output_token"] * out + u["kwh_per_second"] * latency + u["kwh_per_input_token"] * inp
    np.testing.assert_allclose(lat, latency, rtol=1e-12)
    np.testing.assert_allclose(energy, per_unit, rtol=1e-12)
    assert (energy > 0).all() and isinstance(pd.Series(energy), pd.Series)


def test_production_unit_energies_follow_the_equations():
    """Per token: E_accel = out x k_dec x sqrt(active x total) + in x k_pre x active, times
    (1 + host) x idle x PUE under serving; none of the three under accelerator."""
    from audit.methods.llm import production_parameters, production_unit_energies

    reg = load_register()
    p = production_parameters(reg)
    act, tot, pue = np.array([[17.0]] * 3), np.array([[400.0]] * 3), np.array([[1.2]] * 3)
    acc = production_unit_energies(act, tot, pue, p, "accelerator")
    srv = production_unit_energies(act, tot, pue, p, "serving")
    k_dec, k_pre = reg.bounds("genai:llm:k-decode-managed"), reg.bounds("genai:llm:k-prefill")
    host, idle = reg.bounds("genai:llm:host-share"), reg.bounds("genai:llm:idle-factor")
    for k in range(3):
        assert acc["kwh_per_output_token"][k, 0] == pytest.approx(k_dec[k] * np.sqrt(17 * 400) / 3.6e6)
        assert acc["kwh_per_input_token"][k, 0] == pytest.approx(k_pre[k] * 17 / 3.6e6)
        assert srv["kwh_per_output_token"][k, 0] == pytest.approx(
            acc["kwh_per_output_token"][k, 0] * (1 + host[k]) * idle[k] * 1.2)
    u = llm_unit_energies(act, tot, np.array([np.nan]), pue, 0.0, llm_coefficients(reg))  # default: production
    np.testing.assert_allclose(u["kwh_per_output_token"], srv["kwh_per_output_token"])
    assert (u["kwh_per_second"] == 0).all()
