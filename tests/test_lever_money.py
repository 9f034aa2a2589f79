"""Money a lever saves: API fees before/after (genai-prices, offline) and unit-price changes."""
from __future__ import annotations

from datetime import date

import pytest

from audit.analyses import lever_money as lm
from audit.reference import pricing


def test_smaller_model_saving_is_the_fee_difference():
    before = pricing.api_price("openai", "gpt-4o", 1800, 0, 650, 18000, currency="GBP")
    small = pricing.api_price("openai", "gpt-4o-mini", 1800, 0, 650, 18000 * 0.8, currency="GBP")
    kept = pricing.api_price("openai", "gpt-4o", 1800, 0, 650, 18000 * 0.2, currency="GBP")
    e = lm.api_fee_change("openai", "gpt-4o", 1800, 650, 18000, new_model="gpt-4o-mini", share_moved=0.8)
    assert e.cost_before == pytest.approx(before.amount)
    assert e.cost_after == pytest.approx(small.amount + kept.amount)
    assert e.money_saved == pytest.approx(before.amount - small.amount - kept.amount) and e.money_saved > 0
    assert "genai-prices:openai/gpt-4o-mini:input_mtok" in e.price_ids
    assert {p.price_id for p in e.prices} == set(e.price_ids)


def test_caching_saves_at_the_cache_read_price():
    _, info = pricing._bundled_snapshot().find_provider_model("claude-sonnet-4-5", None, "anthropic", None)
    inp, cached = float(info.prices.input_mtok.base), float(info.prices.cache_read_mtok.base)
    e = lm.api_fee_change("anthropic", "claude-sonnet-4-5", 12000, 450, 9500, new_cached_share=0.6, currency="USD")
    assert e.money_saved == pytest.approx(9500 * 0.6 * 12000 * (inp - cached) / 1e6)


def test_batch_saving_needs_a_batch_price():
    none = lm.api_fee_change("openai", "gpt-4o", 1000, 100, 1000, batch=True, at=date(2025, 6, 1))
    assert none.money_saved == pytest.approx(0) and "no batch price" in none.note
    some = lm.api_fee_change("openai", "gpt-4o", 1000, 100, 1000, batch=True, at=date(2026, 11, 1))
    assert some.money_saved > 0


def test_unknown_model_means_unknown_saving():
    e = lm.api_fee_change("huggingface_hub", "meta-llama/Llama-3.1-8B", 100, 10, 10)
    assert e.money_saved is None and e.note


def test_unit_price_change_and_unknown_ids():
    prices = pricing.unit_prices()
    e = lm.unit_price_change({"diesel_per_litre": (640, 0), "hvo_per_litre": (0, 640)}, "GBP")
    expected = 640 * prices["diesel_per_litre"].value - 640 * prices["hvo_per_litre"].value
    assert e.money_saved == pytest.approx(expected)
    assert set(e.price_ids) == {"diesel_per_litre", "hvo_per_litre"}
    bad = lm.unit_price_change({"diesel_per_litre": (1, 0), "nope": (1, 0)}, "GBP")
    assert bad.money_saved is None and "nope" in bad.note
    with pytest.raises(ValueError):
        lm.api_fee_change("openai", "gpt-4o", 1, 1, 1, share_moved=1.5)
