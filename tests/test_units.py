"""Units: pint with data/units.txt; every activity unit converts to its kind's base unit."""
from __future__ import annotations

import pint
import pytest

from audit.reference.scopes import kinds_table
from audit.core.units import ambiguous_unit, conversion_factor, is_known_unit, known_unit_names

CONVERSIONS = [
    ("MWh", "kWh", 1000.0),
    ("mwh", "kWh", 1000.0),
    ("kwh", "kWh", 1.0),
    ("GWh", "kWh", 1e6),
    ("passenger_mile", "passenger_km", 1.609344),
    ("vehicle_km", "passenger_km", 1.0),  # DESNZ car factors are per vehicle-km
    ("pkm", "passenger_km", 1.0),
    ("gallon", "litre", 3.785411784),  # pint's gallon is the US liquid gallon
    ("imperial_gallon", "litre", 4.54609),
    ("1000 requests", "request", 1000.0),
    ("requests", "request", 1.0),
    ("GB*month", "tb_month", 0.001),
    ("GB month", "tb_month", 0.001),
    ("gb_month", "tb_month", 0.001),
    ("TB", "gb", 1000.0),
    ("video_minute", "video_second", 60.0),
    ("room night", "room_night", 1.0),  # a person's spelling
    ("nights", "room_night", 1.0),
    ("tonne.km", "tonne_km", 1.0),  # DESNZ's spelling
    ("ton_mile", "tonne_km", 0.90718474 * 1.609344),
    ("gpu_h", "gpu_hour", 1.0),
    ("core_hour", "vcpu_hour", 1.0),
    ("1000 images", "image", 1000.0),
]


@pytest.mark.parametrize("unit,base,factor", CONVERSIONS, ids=[f"{u}->{b}" for u, b, _ in CONVERSIONS])
def test_conversion_factor(unit, base, factor):
    assert conversion_factor(unit, base) == pytest.approx(factor, rel=1e-12)


NOT_CONVERTIBLE = [
    ("hour", "tb_month"),  # information has a dimension: time alone is not storage
    ("GB", "request"),
    ("hour", "gpu_hour"),
    ("kWh", "passenger_km"),
    ("litre", "kWh"),
    ("image", "request"),
]


@pytest.mark.parametrize("unit,base", NOT_CONVERTIBLE, ids=[f"{u}->{b}" for u, b in NOT_CONVERTIBLE])
def test_incompatible_units_raise_dimensionality_error(unit, base):
    with pytest.raises(pint.DimensionalityError):
        conversion_factor(unit, base)


def test_unknown_unit_raises():
    with pytest.raises(pint.UndefinedUnitError):
        conversion_factor("bananas", "kWh")
    assert not is_known_unit("bananas") and not is_known_unit("kWh/")
    assert is_known_unit("tb_month") and is_known_unit("1000 requests") and is_known_unit("room night")


def test_every_kind_has_a_known_base_unit():
    for kind, base in kinds_table()["base_unit"].items():
        assert conversion_factor(base, base) == 1.0, kind


def test_known_unit_names_include_the_project_units():
    names = set(known_unit_names())
    assert {"gpu_hour", "tb_month", "passenger_km", "room_night", "request", "image"} <= names


AMBIGUOUS = [
    # unit, the ambiguous word, a spelling the hint offers
    ("ton", "ton", "tonne"), ("tons", "tons", "short_ton"), ("Ton", "Ton", "long_ton"),
    ("ton*km", "ton", "tonne*km"), ("tons*km", "tons", "tonne*km"), ("km*ton", "ton", "km*tonne"),
    ("ton*mile", "ton", "tonne*mile"), ("ton km", "ton", "tonne"), ("ton.km", "ton", "tonne"),
    ("ton_mile", "ton_mile", "tonne_km"),
    ("gallon", "gallon", "imperial_gallon"), ("Gallons", "Gallons", "US_gallon"), ("gal", "gal", "US_gallon"),
    ("kgal", "kgal", "imperial_gallon"), ("1000 gallons", "gallons", "1000 imperial_gallon"),
    ("gallon/100", "gallon", "imperial_gallon/100"),
    ("pint", "pint", "imperial_pint"), ("pints", "pints", "US_pint"), ("pt", "pt", "imperial_pint"),
    ("quart", "quart", "imperial_quart"), ("barrel", "barrel", "oil_barrel"), ("bbl", "bbl", "oil_barrel"),
    ("cwt", "cwt", "long_hundredweight"), ("fluid_ounce", "fluid_ounce", "imperial_fluid_ounce"),
]


@pytest.mark.parametrize("unit,word,offered", AMBIGUOUS, ids=[u for u, _, _ in AMBIGUOUS])
def test_units_that_differ_by_country_are_ambiguous_anywhere_in_an_expression(unit, word, offered):
    found, hint = ambiguous_unit(unit)
    assert found == word and offered in hint


EXPLICIT = ["tonne", "t", "tonne*km", "t*km", "tonne_km", "tkm", "short_ton", "short_ton*km", "short ton*km",
            "long_ton*mile", "US_gallon", "us_gallon", "US_liquid_gallon", "imperial_gallon", "US_pint",
            "imperial_pint", "oil_barrel", "litre", "kWh", "1000 requests", "GB*month", "room night",
            "passenger_mile", "Mt*km", "bananas", ""]


@pytest.mark.parametrize("unit", EXPLICIT)
def test_explicit_units_are_not_ambiguous(unit):
    assert ambiguous_unit(unit) is None


def test_an_explicit_ton_converts_as_named():
    assert conversion_factor("short_ton*km", "tonne_km") == pytest.approx(0.90718474)
    assert conversion_factor("long_ton*km", "tonne_km") == pytest.approx(1.0160469088)
    assert conversion_factor("US_pint", "litre") == pytest.approx(0.473176473)
