"""How the client-facing report prints numbers (prose, tiles, tables and chart labels).

One rule set, used everywhere a person reads a figure; the Excel workbook and results.json keep
full precision.

- **Significant figures.** Prose and tiles show 3 significant figures (``sig``): 13,234 -> 13,200;
  53.24 -> 53.2; 0.001613 -> 0.00161. Never scientific notation, never trailing zeros after the
  decimal point, thousands separators from 1,000 up, a true minus sign (U+2212).
- **Masses in prose and tiles** (``mass``): the unit follows the size, so that no figure needs more
  than three significant figures or a run of leading zeros: at least 1 t in tCO2e, at least 1 kg
  in kgCO2e, below that in gCO2e (0.00161 t -> "1.61 kgCO2e").
- **Masses in tables** (``tonnes``): one unit per table, tCO2e, 3 significant figures with at most
  ``TABLE_DECIMALS`` decimals; a non-zero value that would print as 0 prints as "<0.001" (or
  "−<0.001" below zero), so a small line never reads as nothing.
- **Ranges** (``span``): low and high formatted by the same rule; when they print the same, the
  range prints as that one value; a range that touches a negative value is written "a to b", so a
  minus sign never sits next to the range dash.
- **Shares** (``share``): whole percent from 10 % up, one decimal below; a non-zero share that
  would print as 0 prints as "<0.1%".
"""
from __future__ import annotations

import math
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

SIG_FIGS = 3
TABLE_DECIMALS = 3
MINUS = "\u2212"
RANGE_DASH = "\u2013"
KG_PER_TONNE = 1000.0
G_PER_KG = 1000.0


def finite(v: Any) -> float | None:
    """``v`` as a finite float, or None (missing, text, NaN, infinite)."""
    if isinstance(v, bool):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _plain(d: Decimal) -> str:
    """A Decimal in positional notation with thousands separators and no trailing zeros."""
    sign = MINUS if d < 0 else ""
    d = abs(d)
    text = format(d, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    whole, _, frac = text.partition(".")
    whole = f"{int(whole):,}"
    out = f"{whole}.{frac}" if frac else whole
    return "0" if out == "0" else sign + out


def sig(v: Any, figures: int = SIG_FIGS) -> str:
    """``v`` rounded to ``figures`` significant figures, in positional notation; '–' if missing.

    >>> sig(13234), sig(0.0016134), sig(-0.00242), sig(53.0)
    ('13,200', '0.00161', '−0.00242', '53')
    """
    f = finite(v)
    if f is None:
        return RANGE_DASH
    if f == 0:
        return "0"
    d = Decimal(repr(f))
    exponent = d.adjusted() - figures + 1
    rounded = d.quantize(Decimal(1).scaleb(exponent), rounding=ROUND_HALF_EVEN)
    return _plain(rounded)


def fixed(v: Any, decimals: int) -> str:
    """``v`` with exactly ``decimals`` decimals and thousands separators (money, counts)."""
    f = finite(v)
    if f is None:
        return RANGE_DASH
    text = f"{abs(f):,.{decimals}f}"
    return (MINUS + text) if f < 0 and text.strip("0.,") else text


def mass(kg: Any, figures: int = SIG_FIGS) -> str:
    """A mass of CO2e for prose and tiles, in the unit that suits its size (t, kg or g CO2e)."""
    f = finite(kg)
    if f is None:
        return RANGE_DASH
    value, unit = mass_parts(f, figures)
    return f"{value} {unit}"


def mass_unit(kg: float) -> tuple[float, str]:
    """(divisor, unit) for a mass in kgCO2e: tCO2e from 1 t, kgCO2e from 1 kg, else gCO2e."""
    a = abs(kg)
    if a >= KG_PER_TONNE or a == 0:
        return KG_PER_TONNE, "tCO2e"
    if a >= 1:
        return 1.0, "kgCO2e"
    return 1 / G_PER_KG, "gCO2e"


def mass_parts(kg: float, figures: int = SIG_FIGS) -> tuple[str, str]:
    divisor, unit = mass_unit(kg)
    return sig(kg / divisor, figures), unit


def tonnes(kg: Any, figures: int = SIG_FIGS, decimals: int = TABLE_DECIMALS) -> str:
    """A kgCO2e value as a tCO2e table cell: ``figures`` significant figures, at most ``decimals``
    decimals; '<0.001' for a non-zero value that would round to 0."""
    f = finite(kg)
    if f is None:
        return RANGE_DASH
    return table_number(f / KG_PER_TONNE, figures, decimals)


def table_number(v: Any, figures: int = SIG_FIGS, decimals: int = TABLE_DECIMALS) -> str:
    """A table cell in the table's one unit: significant figures capped at ``decimals`` decimals."""
    f = finite(v)
    if f is None:
        return RANGE_DASH
    if f == 0:
        return "0"
    floor = 10.0 ** -decimals
    if abs(f) < floor / 2:
        return ("" if f > 0 else MINUS) + "<" + fixed(floor, decimals)
    d = Decimal(repr(f))
    exponent = max(d.adjusted() - figures + 1, -decimals)
    return _plain(d.quantize(Decimal(1).scaleb(exponent), rounding=ROUND_HALF_EVEN))


def span(low: Any, high: Any, fmt=sig) -> str:
    """A low–high range, formatted by ``fmt``; one value when both ends print the same."""
    lo, hi = fmt(low), fmt(high)
    if lo == hi:
        return lo
    if lo.startswith(MINUS) or hi.startswith(MINUS):
        return f"{lo} to {hi}"
    return f"{lo}{RANGE_DASH}{hi}"


def mass_span(low_kg: Any, high_kg: Any, figures: int = SIG_FIGS) -> str:
    """A range of masses for prose, both ends in the unit of the larger end."""
    lo, hi = finite(low_kg), finite(high_kg)
    if lo is None or hi is None:
        return RANGE_DASH
    divisor, unit = mass_unit(max(abs(lo), abs(hi)))
    return f"{span(lo / divisor, hi / divisor, lambda v: sig(v, figures))} {unit}"


def share(v: Any) -> str:
    """A fraction as a percentage: whole percent from 10 %, one decimal below, '<0.1%' if tiny."""
    f = finite(v)
    if f is None:
        return RANGE_DASH
    p = f * 100
    if p == 0:
        return "0%"
    if abs(p) < 0.05:
        return ("" if p > 0 else MINUS) + "<0.1%"
    text = fixed(p, 0 if abs(p) >= 9.5 else 1)
    return text + "%"
