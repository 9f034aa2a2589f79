"""Unit handling with pint: one registry for the whole toolkit, extended by data/units.txt."""
from __future__ import annotations

import re
from functools import lru_cache

import pint

from audit.core.paths import UNITS_FILE
from audit.core.unitguard import check_unit_text


@lru_cache(maxsize=1)
def registry() -> pint.UnitRegistry:
    # on_redefinition="ignore": units.txt deliberately redefines `bit` to give data a dimension.
    ureg = pint.UnitRegistry(on_redefinition="ignore", cache_folder=None)
    ureg.load_definitions(str(UNITS_FILE))
    return ureg



@lru_cache(maxsize=4096)
def conversion_factor(unit: str, base_unit: str) -> float:
    """Multiplier taking a quantity in ``unit`` to ``base_unit``. ``unit`` may carry a
    scale, as in "1000 requests".

    Raises ``pint.UndefinedUnitError`` for an unknown unit and
    ``pint.DimensionalityError`` when the two cannot be converted.
    """
    quantity = _parse(unit)
    return float(quantity.to(base_unit).magnitude)


def _spellings(unit: str) -> tuple[str, ...]:
    """The spellings tried for a unit, in order: as written, then with spaces and dots as
    underscores ("room night", "passenger.km": a person's and DESNZ's spellings of one unit)."""
    text = str(unit).strip()
    alt = re.sub(r"[ .]+", "_", text)
    return (text,) if alt == text else (text, alt)


def _parse(unit: str) -> pint.Quantity:
    # Bounded before pint: a 50 KB cell took 24 s (200 KB: 402 s), '9**9**9 kWh' never returns.
    too_much = check_unit_text(unit)
    if too_much:
        raise ValueError(too_much)
    ureg = registry()
    first, *others = _spellings(unit)
    try:
        return ureg.Quantity(ureg.parse_expression(first))
    except pint.UndefinedUnitError:
        if not others:
            raise
        return ureg.Quantity(ureg.parse_expression(others[0]))


# Units whose meaning differs by country: ask, never guess (a US gallon is 17 % smaller than
# an imperial one, a US short ton 9 % lighter than a tonne). Keyed by pint's canonical name,
# so plurals, symbols and prefixes ("tons", "gal", "pt", "kgal") are caught, inside compound
# expressions too ("ton*km", "km*tons", "gallon/100"). Spellings that name the system
# ("short_ton", "US_gallon", "US_pint") are explicit and accepted.
AMBIGUOUS_UNITS = {
    "ton": ("write t or tonne (1,000 kg), short_ton (US, 907 kg) or long_ton (UK, 1,016 kg)", "tonne"),
    "ton_mile": ("write tonne_km, or give short_ton*mile / long_ton*mile", "tonne_km"),
    "hundredweight": ("write long_hundredweight (UK, 112 lb) or short_hundredweight (US, 100 lb)",
                      "long_hundredweight"),
    "gallon": ("write imperial_gallon (UK, 4.546 l) or US_gallon (3.785 l)", "imperial_gallon"),
    "quart": ("write imperial_quart (UK, 1.137 l) or US_liquid_quart (0.946 l)", "imperial_quart"),
    "pint": ("write imperial_pint (UK, 0.568 l) or US_pint (0.473 l)", "imperial_pint"),
    "fluid_ounce": ("write imperial_fluid_ounce (UK, 28.4 ml) or US_fluid_ounce (29.6 ml)",
                    "imperial_fluid_ounce"),
    "barrel": ("write oil_barrel (42 US gallons, 159 l, the fuel trade's barrel) or litres", "oil_barrel"),
}
_EXPLICIT_PREFIXES = ("us_", "short_")
_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@lru_cache(maxsize=4096)
def ambiguous_unit(unit: str) -> tuple[str, str] | None:
    """(the ambiguous word, a hint) when a unit expression names a unit whose size differs
    between countries (plain ``ton``, ``gallon``, ``pint``…) anywhere in it, else None.
    Unit text ``check_unit_text`` refuses is not parsed here (None: ``_parse`` refuses it)."""
    if check_unit_text(unit):
        return None
    ureg = registry()
    spelling = _spellings(unit)[0]
    for candidate in _spellings(unit):  # the spelling _parse will read
        try:
            ureg.parse_expression(candidate)
            spelling = candidate
            break
        except Exception:  # noqa: BLE001 - pint raises a zoo of parse errors
            continue
    for token in _TOKEN.findall(spelling):
        if token.lower().startswith(_EXPLICIT_PREFIXES):
            continue
        names = {name for _, name, _ in ureg.parse_unit_name(token) or ureg.parse_unit_name(token.lower())}
        hit = next((n for n in AMBIGUOUS_UNITS if n in names), None)
        if hit:
            hint, example = AMBIGUOUS_UNITS[hit]
            if spelling != token:  # in an expression, show it rewritten
                hint += f", e.g. {re.sub(rf'(?<![A-Za-z0-9_]){re.escape(token)}(?![A-Za-z0-9_])', example, spelling)}"
            return token, hint
    return None


def is_known_unit(unit: str) -> bool:
    try:
        _parse(unit)
        return True
    except Exception:  # noqa: BLE001 - pint raises a zoo of parse errors
        return False


def known_unit_names() -> list[str]:
    """Unit names offered as "did you mean" suggestions."""
    return sorted(set(registry()._units.keys()))  # noqa: SLF001 - pint has no public listing
