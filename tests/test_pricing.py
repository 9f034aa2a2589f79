"""Prices as provenance: the unit price table, currency rates and genai-prices API costs (offline)."""
from __future__ import annotations

import csv
import socket
import warnings
from datetime import date

import pytest
from pytest_socket import SocketBlockedError, disable_socket, enable_socket

from audit.reference import pricing
from audit.core.exceptions import InputError, ValidationError


@pytest.fixture
def no_network():
    import urllib3  # noqa: F401  (probes IPv6 with a socket on import; never connects)

    disable_socket(allow_unix_socket=False)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.raises(SocketBlockedError):
                socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        yield
    finally:
        enable_socket()


def _gpt4o_prices():
    """The gpt-4o list prices as genai-prices ships them (read from the package, not typed in)."""
    _, info = pricing._bundled_snapshot().find_provider_model("gpt-4o", None, "openai", None)
    return float(info.prices.input_mtok), float(info.prices.cache_read_mtok), float(info.prices.output_mtok)


# --- unit price table ------------------------------------------------------------------------

def test_every_unit_price_row_has_full_provenance():
    prices = pricing.unit_prices()
    assert len(prices) >= 20
    for p in prices.values():
        assert p.source and p.licence and p.unit and 1990 <= p.year <= 2100
        assert p.value >= 0
    # Assumptions say so in their source; a cited row names where it comes from.
    assumed = [p for p in prices.values() if p.licence == "Assumption"]
    assert assumed and all(p.source.startswith("Assumption (consultant default, overridable)") for p in assumed)


def test_forecast_defaults_unit_costs_are_migrated():
    import yaml

    from audit.core.paths import DATA_DIR
    defaults = yaml.safe_load((DATA_DIR / "forecast_defaults.yaml").read_text(encoding="utf-8"))
    prices = pricing.unit_prices()
    for key in defaults["unit_costs"]:
        assert key in prices, key
    assert "electricity_per_kwh" in prices and "consultant_day_rate" in prices


def test_bad_price_table_names_file_row_and_column(tmp_path):
    bad = tmp_path / "unit_prices.csv"
    with open(bad, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["price_id", "value", "unit", "currency", "source", "year", "licence", "notes"])
        w.writerow(["ok", "1.5", "litre", "GBP", "s", "2025", "OGL", ""])
        w.writerow(["neg", "-3", "litre", "GBP", "s", "2025", "OGL", ""])
        w.writerow(["cur", "1", "litre", "pounds", "s", "2025", "OGL", ""])
        w.writerow(["ok", "2", "litre", "GBP", "s", "2025", "OGL", ""])
    with pytest.raises(ValidationError) as exc:
        pricing.read_prices(bad)
    text = str(exc.value)
    assert "row 3, column 'value'" in text
    assert "row 4, column 'currency'" in text
    assert "row 5, column 'price_id'" in text and "duplicate" in text


def test_engagement_prices_override_the_table():
    base = pricing.unit_prices()
    out = pricing.with_overrides(base, {"diesel_per_litre": 1.9,
                                        "crew_day": {"value": 400, "unit": "day", "currency": "GBP", "year": 2026}})
    assert out["diesel_per_litre"].value == 1.9
    assert out["diesel_per_litre"].currency == base["diesel_per_litre"].currency
    assert out["diesel_per_litre"].source.startswith("Engagement override")
    assert out["crew_day"].unit == "day"
    with pytest.raises(ValidationError, match="prices.x.currency"):
        pricing.with_overrides(base, {"x": {"value": 1, "unit": "day", "currency": "pounds", "year": 2026}})
    with pytest.raises(ValidationError, match="prices.y.year"):  # a new price says when it was quoted
        pricing.with_overrides(base, {"y": {"value": 1, "unit": "day", "currency": "GBP"}})


def test_price_register_resolves_every_id():
    cost = pricing.unit_cost("rail_per_passenger_km", 1000, "GBP")
    reg = pricing.price_register(cost.prices)
    assert set(cost.price_ids) == set(reg)
    entry = reg["rail_per_passenger_km"]
    assert {"value", "unit", "currency", "source", "year", "licence"} <= set(entry)


# --- currency --------------------------------------------------------------------------------

def test_conversion_goes_through_the_euro_reference_rates():
    rates = pricing.currency_rates()
    usd, gbp = rates["USD"].units_per_eur, rates["GBP"].units_per_eur
    assert pricing.convert(100, "USD", "GBP") == pytest.approx(100 * gbp / usd)
    assert pricing.convert(100, "GBP", "GBP") == 100
    assert pricing.convert(pricing.convert(100, "EUR", "SEK"), "SEK", "EUR") == pytest.approx(100)
    assert all(r.date == date(2025, 12, 31) for r in rates.values())


def test_engagement_rate_override_wins_and_unknown_currency_is_a_user_error():
    assert pricing.convert(10, "EUR", "USD", overrides={"USD": 2.0}) == pytest.approx(20)
    with pytest.raises(InputError, match="XYZ"):
        pricing.convert(1, "XYZ", "GBP")
    with pytest.raises(ValidationError, match="currency_rates.USD"):
        pricing.convert(1, "USD", "GBP", overrides={"USD": -1})


def test_unit_cost_converts_and_unknown_id_is_unknown_cost():
    p = pricing.unit_prices()["gpu_hour_nvidia_a100_aws"]
    cost = pricing.unit_cost("gpu_hour_nvidia_a100_aws", 320, "GBP")
    assert cost.amount == pytest.approx(pricing.convert(320 * p.value, p.currency, "GBP"))
    missing = pricing.unit_cost("no_such_price", 1, "GBP")
    assert missing.amount is None and missing.match is pricing.MatchKind.UNKNOWN


# --- genai-prices ------------------------------------------------------------------------------

def test_api_price_matches_the_list_price_equation(no_network):
    inp, cached, out = _gpt4o_prices()
    cost = pricing.api_price("openai", "gpt-4o", 1800, 600, 650, 18000, currency="USD")
    per_request = ((1800 - 600) * inp + 600 * cached + 650 * out) / 1e6
    assert cost.amount == pytest.approx(per_request * 18000)
    assert cost.match is pricing.MatchKind.EXACT
    assert set(cost.price_ids) == {"genai-prices:openai/gpt-4o:input_mtok", "genai-prices:openai/gpt-4o:cache_read_mtok",
                                   "genai-prices:openai/gpt-4o:output_mtok"}
    reg = pricing.price_register(cost.prices)
    assert reg["genai-prices:openai/gpt-4o:input_mtok"]["value"] == inp
    assert reg["genai-prices:openai/gpt-4o:input_mtok"]["licence"] == "MIT (genai-prices)"
    assert pricing.GENAI_PRICES_VERSION in reg["genai-prices:openai/gpt-4o:input_mtok"]["source"]


def test_cached_tokens_cost_less_and_only_used_prices_are_listed(no_network):
    plain = pricing.api_price("openai", "gpt-4o", 2000, 0, 100, 10)
    cached = pricing.api_price("openai", "gpt-4o", 2000, 1500, 100, 10)
    assert cached.amount < plain.amount
    assert not any("cache_read" in i for i in plain.price_ids)


def test_api_price_in_engagement_currency(no_network):
    usd = pricing.api_price("anthropic", "claude-sonnet-4-5", 12000, 0, 450, 9500, currency="USD")
    gbp = pricing.api_price("anthropic", "claude-sonnet-4-5", 12000, 0, 450, 9500, currency="GBP")
    assert gbp.amount == pytest.approx(pricing.convert(usd.amount, "USD", "GBP"))


def test_ecologits_names_map_to_genai_prices_names(no_network):
    dated = pricing.api_price("anthropic", "claude-sonnet-4-5-20250929", 100, 0, 10)
    same = pricing.api_price("anthropic", "claude-sonnet-4-5", 100, 0, 10)
    assert dated.amount == pytest.approx(same.amount)
    assert dated.match is pricing.MatchKind.PACKAGE_ALIAS and "claude-sonnet-4-5" in dated.note
    # EcoLogits' provider ids differ from genai-prices' (mistralai/mistral, google_genai/google)
    assert pricing.api_price("mistralai", "mistral-large-2512", 100, 0, 10).amount > 0
    assert pricing.api_price("google_genai", "gemini-2.5-flash", 100, 0, 10).amount > 0


def test_unknown_or_refused_models_have_no_cost_and_say_why(no_network):
    for provider, model in [("openai", "no-such-model-xyz"), ("huggingface_hub", "meta-llama/Llama-3.1-8B"),
                            ("mistralai", "mistral-medium-3"), ("nobody", "gpt-4o")]:
        cost = pricing.api_price(provider, model, 100, 0, 10)
        assert cost.amount is None and cost.match is pricing.MatchKind.UNKNOWN
        assert cost.note and not cost.price_ids


def test_batch_price_variant_or_a_note(no_network):
    before = pricing.api_price("openai", "gpt-4o", 1000, 0, 100, 10, batch=True, at=date(2025, 6, 1))
    std = pricing.api_price("openai", "gpt-4o", 1000, 0, 100, 10, at=date(2025, 6, 1))
    assert before.amount == pytest.approx(std.amount) and "no batch price" in before.note
    after = pricing.api_price("openai", "gpt-4o", 1000, 0, 100, 10, batch=True, at=date(2026, 11, 1))
    std_after = pricing.api_price("openai", "gpt-4o", 1000, 0, 100, 10, at=date(2026, 11, 1))
    assert after.amount < std_after.amount and all(i.endswith(":batch") for i in after.price_ids)


def test_cached_tokens_above_input_is_a_user_error():
    with pytest.raises(InputError, match="cached_input_tokens"):
        pricing.api_price("openai", "gpt-4o", 100, 200, 10)


def test_genai_prices_calc_path_has_no_network_call():
    """The calculation path reads the bundled snapshot; only update_prices touches the network."""
    import inspect

    import genai_prices
    import genai_prices.data_snapshot as ds
    src = inspect.getsource(ds) + inspect.getsource(genai_prices.calc_price)
    assert "httpx" not in src and "urlopen" not in src
    assert ds.get_snapshot().from_auto_update is False
    assert genai_prices.__version__ == pricing.GENAI_PRICES_VERSION == "0.2.3"


@pytest.mark.parametrize("hostile", ["=cmd|' /C calc'!A0", "../../etc/passwd", "gpt-4o\x00", "<script>alert(1)</script>",
                                     ".*", "(a+)+$"])
def test_hostile_model_names_stay_data(no_network, hostile):
    cost = pricing.api_price("openai", hostile, 100, 0, 10)
    assert cost.amount is None and cost.match is pricing.MatchKind.UNKNOWN
    assert pricing.api_price(hostile, "gpt-4o", 100, 0, 10).amount is None


# --- an activity's cost ------------------------------------------------------------------------

def test_every_unit_price_unit_is_a_known_unit():
    from audit.core.units import is_known_unit
    for p in pricing.unit_prices().values():
        assert is_known_unit(p.unit), (p.price_id, p.unit)


def test_every_price_rule_names_a_known_price():
    prices = pricing.unit_prices()
    for rule in pricing._price_rules():
        assert rule["price_id"] in prices, rule


@pytest.mark.parametrize("kind, mode, hardware, provider, ownership, expected", [
    ("travel", "flight_long_haul_business_rf", "", "", "employee", "flight_premium_per_passenger_km"),
    ("travel", "flight_short_haul_economy", "", "", "employee", "flight_per_passenger_km"),
    ("travel", "rail_national", "", "", "employee", "rail_per_passenger_km"),
    ("gpu_compute", "", "nvidia-a100-sxm", "aws", "purchased_service", "gpu_hour_nvidia_a100_aws"),
    ("gpu_compute", "", "nvidia-a100-sxm", "aws", "owned", None),          # owned kit: its electricity is its cost line
    ("storage", "archive", "", "aws", "purchased_service", "storage_object_archive"),
    ("fuel", "hvo", "", "", "leased", "hvo_per_litre"),
    ("image_generation", "", "", "openai", "purchased_service", None),
])
def test_activity_price_rules(kind, mode, hardware, provider, ownership, expected):
    assert pricing.activity_price_id(kind, mode, hardware, provider, ownership) == expected


def test_activity_cost_converts_units_and_dispatches_api_rows(no_network):
    transfer = {"kind": "data_transfer", "quantity_base": 8500.0, "ownership": "purchased_service", "mode": ""}
    p = pricing.unit_prices()["data_transfer_internet_out"]
    cost = pricing.activity_cost(transfer, "gb", "GBP")
    assert cost.amount == pytest.approx(pricing.convert(8.5 * p.value, p.currency, "GBP"))
    llm = {"kind": "llm_api", "quantity_base": 18000.0, "ecologits_provider": "openai", "model": "gpt-4o",
           "input_tokens": 1800, "output_tokens": 650, "ownership": float("nan")}
    api = pricing.activity_cost(llm, "request", "GBP")
    assert api.amount == pytest.approx(pricing.api_price("openai", "gpt-4o", 1800, 0, 650, 18000, currency="GBP").amount)
    unknown = pricing.activity_cost({"kind": "image_generation", "quantity_base": 10.0}, "image", "GBP")
    assert unknown.amount is None and unknown.note
    mismatch = pricing.activity_cost(transfer, "gb", "GBP", price_id="hotel_per_room_night")
    assert mismatch.amount is None and "cannot be converted" in mismatch.note
