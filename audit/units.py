"""Unit handling with pint: one registry for the whole toolkit, extended by data/units.txt."""
from __future__ import annotations

import re
from functools import lru_cache

import pint

from audit.paths import UNITS_FILE


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


def _parse(unit: str) -> pint.Quantity:
    ureg = registry()
    text = unit.strip()
    try:
        return ureg.Quantity(ureg.parse_expression(text))
    except pint.UndefinedUnitError:
        # "room night", "passenger.km": a person's and DESNZ's spellings of one unit.
        alt = re.sub(r"[ .]+", "_", text)
        if alt == text:
            raise
        return ureg.Quantity(ureg.parse_expression(alt))


def is_known_unit(unit: str) -> bool:
    try:
        _parse(unit)
        return True
    except Exception:  # noqa: BLE001 - pint raises a zoo of parse errors
        return False


def known_unit_names() -> list[str]:
    """Unit names offered as "did you mean" suggestions."""
    return sorted(set(registry()._units.keys()))  # noqa: SLF001 - pint has no public listing
