"""The bucket equations the estimator is to adopt: a bucket = `requests` identical mean requests."""
import numpy as np
import pytest

from audit.inventory.usage_import.bucket_energy import row_kwh

COEF = {"kwh_per_output_token": np.array([2e-6]), "kwh_per_second": np.array([1e-4]),
            "kwh_per_input_token": np.array([3e-8]), "s_per_token": np.array([1 / 40]), "ttft": np.array([0.6])}


def _one(out, inp, cached=0.0, lat=np.nan, s=0.0):
    return float(row_kwh([1], [out], [inp], [cached], [lat], cached_prefill_share=s, **COEF)[0])


def test_bucket_equals_sum_of_its_identical_requests():
    bucket = row_kwh([50], [50 * 300], [50 * 1200], [50 * 400], [np.nan], **COEF)[0]
    assert bucket == pytest.approx(50 * _one(300, 1200, 400), rel=1e-12)


def test_one_request_without_cache_is_the_per_request_formula():
    out, inp = 300, 1200
    expected = 2e-6 * out + 1e-4 * (out / 40 + 0.6) + 3e-8 * inp
    assert _one(out, inp) == pytest.approx(expected, rel=1e-12)


def test_bucket_is_not_one_big_request():
    # read as one request, the bucket's TTFT would be counted once instead of 50 times
    assert row_kwh([50], [15000], [0], [0], [np.nan], **COEF)[0] > _one(15000, 0)


def test_cached_tokens_pay_no_prefill_centrally_and_full_prefill_at_the_high_bound():
    fresh, cached_central, cached_high = _one(300, 1200), _one(300, 1200, 1000), _one(300, 1200, 1000, s=1.0)
    assert fresh - cached_central == pytest.approx(3e-8 * 1000, rel=1e-9)
    assert cached_high == pytest.approx(fresh, rel=1e-12)


def test_logged_latency_caps_generation_time():
    assert _one(300, 0, lat=1.0) == pytest.approx(2e-6 * 300 + 1e-4 * 1.0, rel=1e-12)
