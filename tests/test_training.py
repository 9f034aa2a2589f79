"""FLOPs-based training estimate (C = 6·N·D) and its gpu_compute activity row (the
`audit training-estimate` command: test_cli_tools)."""
from __future__ import annotations

import pytest

from audit.inventory.estimate import estimate
from audit.core.exceptions import InputError
from audit.reference.factors import load_register
from audit.inventory.intake import load_engagement
from audit.methods.training import estimate_training, training_energy_kwh, training_flops, training_gpu_hours
from tests.helpers import by_id, write_engagement


def test_gpt3_compute_matches_the_published_figure():
    """Brown et al. 2020, Table D.1: GPT-3 175B, 300B tokens, 3.14e23 training FLOPs."""
    c = training_flops(175e9, 300e9)
    assert c == pytest.approx(3.15e23, rel=1e-12)
    assert c == pytest.approx(3.14e23, rel=0.005)


def test_gpt3_energy_is_close_to_patterson_et_al():
    """Patterson et al. 2021, Table 4: GPT-3 on 10,000 V100 for 14.8 days, 330 W average,
    PUE 1.10, 1,287 MWh. With GPT-3's MFU of 21.3 % (PaLM, Table 3) on the V100's 125 TFLOP/s:"""
    peak = load_register().value("hw-peak:nvidia-v100-sxm2")
    assert peak == 125e12
    hours = training_gpu_hours(175e9, 300e9, peak, 0.213)
    assert hours == pytest.approx(10_000 * 14.8 * 24, rel=0.10)  # 3.55 M GPU-hours published
    mwh = training_energy_kwh(175e9, 300e9, peak, 0.213, 330, 1.10) / 1000
    assert mwh == pytest.approx(1287, rel=0.10)


def test_equation_by_hand():
    kwh = training_energy_kwh(7e9, 2e12, 989e12, 0.4, 700, 1.1)
    assert kwh == pytest.approx(6 * 7e9 * 2e12 / (989e12 * 0.4) * 700 / 3.6e6 * 1.1, rel=1e-15)
    assert training_gpu_hours(7e9, 2e12, 989e12, 0.4) == pytest.approx(6 * 7e9 * 2e12 / (989e12 * 0.4) / 3600)


def test_estimate_cites_its_factors_and_uses_the_defaults():
    est = estimate_training(7e9, 2e12, "nvidia-h100-sxm")
    reg = load_register()
    assert est.mfu == reg.value("training:mfu-default") == 0.4
    # Issue 15: a training run draws TDP x 0.90 plus the host share (gpu_compute mode training).
    assert est.gpu_power_w == pytest.approx(700 * reg.value("gpu-utilisation:training")
                                            * (1 + reg.value("gpu-host-share:default")))
    assert est.pue == reg.value("pue:onprem-average")
    assert set(est.factor_ids) == {"training:flops-per-param-token", "hw-peak:nvidia-h100-sxm", "training:mfu-default",
                                   "hw:nvidia-h100-sxm", "gpu-utilisation:training", "gpu-host-share:default",
                                   "pue:onprem-average"}
    assert all(f in reg for f in est.factor_ids)
    assert est.gpu_hours_low < est.gpu_hours < est.gpu_hours_high  # the MFU range (0.462 / 0.213)
    assert est.gpu_hours_high == pytest.approx(est.gpu_hours * 0.4 / 0.213, rel=1e-12)


def test_activity_row_reproduces_the_energy_through_the_estimator(tmp_path):
    """Entered as params x tokens or as GPU-hours, the estimator gives the same kWh."""
    est = estimate_training(7e9, 2e12, "nvidia-h100-sxm", mfu=0.45, pue=1.1)
    row = est.activity
    assert row["kind"] == "gpu_compute" and row["unit"] == "gpu_hour" and row["ownership"] == "owned"
    assert "6·N·D" in row["notes"]
    l = by_id(estimate(load_engagement(write_engagement(tmp_path, [row]))).lines)
    assert l.at["TRN-01", "kwh"] == pytest.approx(est.kwh, rel=1e-9)
    assert "TRN-01~embodied" in l.index  # owned GPUs: their embodied share too


def test_rented_run_is_a_purchased_service_at_the_provider_pue(tmp_path):
    est = estimate_training(1e9, 2e10, "nvidia-a100-sxm", provider="aws", region="aws:us-east-1", power_w=300)
    assert est.activity["ownership"] == "purchased_service" and est.pue == 1.135
    l = by_id(estimate(load_engagement(write_engagement(tmp_path, [est.activity]))).lines)
    assert l.at["TRN-01", "kwh"] == pytest.approx(est.kwh, rel=1e-9)
    assert (l.at["TRN-01", "scope"], l.at["TRN-01", "scope3_category"]) == (3, 1)


@pytest.mark.parametrize("kwargs,message", [
    (dict(hardware="nvidia-h100-sxx"), "no peak FLOP/s"), (dict(mfu=1.5), "--mfu"), (dict(params=0), "--params"),
    (dict(pue=0.9), "--pue")])
def test_bad_inputs(kwargs, message):
    args = dict(params=7e9, tokens=2e12, hardware="nvidia-h100-sxm") | kwargs
    with pytest.raises(InputError, match=message):
        estimate_training(**args)
