"""Self-hosted inference: the measured H200 curve's shape and the energy method built on it."""
from __future__ import annotations

import itertools
import math

import pytest

from audit.methods import selfhosted as sh
from audit.core.exceptions import InputError

EIGHT_B = 8.03
THIRTY_TWO_B = 32.8


def _measured(params_b, batch, column="j_per_token_gross"):
    d = sh.measurements()
    row = d[(d["phase"] == "decode") & (d["model_params_b"] == params_b) & (d["batch"] == batch)]
    return float(row[column].iloc[0])


def test_batch_1_costs_about_60_times_batch_64_for_the_8b_model():
    """gpu_measurements.md: 'Energy per output token falls about 64x from batch 1 to batch 64'.
    Tolerance: the ratio lies in 55-70 (the brief's ~60x) and within 1% of the measured ratio."""
    ratio = sh.decode_energy_per_output_token_j(1, EIGHT_B) / sh.decode_energy_per_output_token_j(64, EIGHT_B)
    measured = _measured(EIGHT_B, 1) / _measured(EIGHT_B, 64)
    assert 55 <= ratio <= 70
    assert ratio == pytest.approx(measured, rel=0.01)


def test_curve_reproduces_every_measured_point():
    d = sh.measurements()
    for _, row in d[d["phase"] == "decode"].iterrows():
        b, n = float(row["batch"]), float(row["model_params_b"])
        assert sh.decode_energy_per_output_token_j(b, n) == pytest.approx(row["j_per_token_gross"], rel=1e-9)
        assert sh.decode_energy_per_output_token_j(b, n, gross=False) == pytest.approx(row["j_per_token_net"], rel=1e-9)
        assert sh.decode_tokens_per_second(b, n) == pytest.approx(row["tokens_per_s"], rel=1e-9)


def test_energy_per_token_falls_with_batch_and_rises_with_size():
    batches = [1, 2, 4, 8, 16, 32, 64]
    for n in (EIGHT_B, 16.0, THIRTY_TWO_B):
        e = [sh.decode_energy_per_output_token_j(b, n) for b in batches]
        assert all(a > b for a, b in itertools.pairwise(e))
    for b in batches:
        assert (sh.decode_energy_per_output_token_j(b, EIGHT_B) < sh.decode_energy_per_output_token_j(b, 16.0)
                < sh.decode_energy_per_output_token_j(b, THIRTY_TWO_B))


def test_interpolation_lies_between_neighbours():
    mid = sh.decode_energy_per_output_token_j(8, EIGHT_B)
    assert _measured(EIGHT_B, 16) < mid < _measured(EIGHT_B, 1)


def test_prefill_energy_is_linear_in_parameters():
    d = sh.measurements()
    pre = d[d["phase"] == "prefill"]
    for _, row in pre.iterrows():
        assert sh.prefill_energy_per_input_token_j(row["model_params_b"]) == pytest.approx(row["j_per_token_gross"], rel=0.06)
    assert sh.prefill_energy_per_input_token_j(2 * EIGHT_B) == pytest.approx(2 * sh.prefill_energy_per_input_token_j(EIGHT_B))


def test_energy_from_batch_size_adds_decode_prefill_and_idle():
    tokens, gpus, hours = 5e6, 2, 50
    est = sh.selfhosted_energy(gpus, hours, tokens, EIGHT_B, input_tokens=2e7, batch=16, pue=1.2)
    busy = tokens / _measured(EIGHT_B, 16, "tokens_per_s") / 3600
    assert est.busy_gpu_hours == pytest.approx(busy)
    assert est.utilisation == pytest.approx(busy / (gpus * hours))
    expected = (tokens * _measured(EIGHT_B, 16) + 2e7 * sh.prefill_energy_per_input_token_j(EIGHT_B)
                + (gpus * hours - busy) * 3600 * sh.idle_power_w()) / 3.6e6
    assert est.kwh_gpu == pytest.approx(expected)
    assert est.kwh_facility == pytest.approx(1.2 * expected)
    assert est.j_per_output_token == pytest.approx(expected * 3.6e6 / tokens)
    assert not est.warnings


def test_utilisation_gives_back_the_batch_size():
    by_batch = sh.selfhosted_energy(1, 100, 1e7, EIGHT_B, batch=16)
    by_util = sh.selfhosted_energy(1, 100, 1e7, EIGHT_B, utilisation=by_batch.utilisation)
    assert by_util.batch == pytest.approx(16, rel=1e-6)
    assert by_util.kwh_gpu == pytest.approx(by_batch.kwh_gpu, rel=1e-6)


def test_lightly_used_deployment_costs_far_more_per_token_than_a_busy_one():
    idle_heavy = sh.selfhosted_energy(1, 720, 1e6, EIGHT_B, batch=1)
    busy = sh.selfhosted_energy(1, 720, 1.9e9, EIGHT_B, batch=64)
    assert idle_heavy.j_per_output_token > 50 * busy.j_per_output_token


def test_impossible_inputs_are_user_errors():
    with pytest.raises(InputError, match="more than the"):
        sh.selfhosted_energy(1, 1, 1e9, EIGHT_B, batch=1, where="activities.csv row 7")
    with pytest.raises(InputError, match="either batch_size or utilisation"):
        sh.selfhosted_energy(1, 1, 10, EIGHT_B, batch=4, utilisation=0.5)
    with pytest.raises(InputError, match="either batch_size or utilisation"):
        sh.selfhosted_energy(1, 1, 10, EIGHT_B)
    with pytest.raises(InputError, match="utilisation"):
        sh.selfhosted_energy(1, 1, 10, EIGHT_B, utilisation=1.5)


def test_outside_the_measured_range_is_flagged():
    est = sh.selfhosted_energy(8, 10, 1e6, 70.0, batch=128)
    assert any("outside the measured sizes" in w for w in est.warnings)
    assert any("batch size" in w for w in est.warnings)
    assert math.isfinite(est.kwh_gpu) and est.kwh_gpu > 0
