"""A bound on unit cells before pint parses them.

Issue 17: a 50 KB ``unit`` cell took pint 24 s to parse, 200 KB took 402 s. Length is not the
only cliff: pint evaluates numbers in a unit with Python integers, so the 12 characters
``9**9**9 kWh`` ask for a 370-million-digit integer and never return. ``check_unit_text``
refuses, before pint sees the text:

* more than ``MAX_UNIT_CHARS`` characters;
* control and invisible characters;
* an exponent that is not a small number (``**x``, ``**99``, ``**9**9``);
* a power of a number (``10**3``) or of a bracketed group when there is more than one power;
* number literals of more than 15 digits or with an exponent beyond e±30.

A text that passes parses in well under a second (``tests/test_guards_units.py`` checks this
on generated expressions).
"""
from __future__ import annotations

import re
import unicodedata

from audit.core.identifiers import excerpt, is_invisible

MAX_UNIT_CHARS = 64  # the longest unit the toolkit ships ("long_hundredweight*mile/passenger") is 33
MAX_EXPONENT = 9  # units use powers up to 4 (kg*m**2/s**3); 9 leaves room and no cliff

_POWER = re.compile(r"\*\*|\^")
_EXPONENT = re.compile(r"\s*(\(\s*)?[+-]?\s*(\d{1,2})(?:\.\d{1,3})?\s*(?(1)\))")
_NUMBER = re.compile(r"(?<![A-Za-z_])(\d[\d_]*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?")


def check_unit_text(text, *, max_chars: int = MAX_UNIT_CHARS) -> str | None:
    """Why a unit cell must not reach pint, or None when it may. The message quotes at
    most 40 characters of the cell."""
    text = str(text)
    if len(text) > max_chars:
        return (f"unit '{excerpt(text, 40)}' is {len(text):,} characters; a unit is at most {max_chars} "
                "(e.g. kWh, passenger_km, 1000 requests)")
    for ch in text:
        if unicodedata.category(ch) == "Cc" or is_invisible(ch):
            return f"unit '{excerpt(text, 40)}' contains the hidden character U+{ord(ch):04X}"
    powers = list(_POWER.finditer(text))
    for m in powers:
        exp = _EXPONENT.match(text, m.end())
        if not exp or int(exp.group(2)) > MAX_EXPONENT:
            return (f"unit '{excerpt(text, 40)}' has an exponent that is not a small number "
                    f"(at most {MAX_EXPONENT}, e.g. m**2)")
        if _POWER.match(text, exp.end()):
            return f"unit '{excerpt(text, 40)}' chains powers; write the unit out (e.g. m**3, not m**3**2)"
        before = text[: m.start()].rstrip()
        if before[-1:].isdigit() or before[-1:] == ".":
            return f"unit '{excerpt(text, 40)}' raises a number to a power; write the number out (1000, not 10**3)"
        if before[-1:] == ")" and len(powers) > 1:
            return f"unit '{excerpt(text, 40)}' is too involved; write it without powers of brackets"
    for m in _NUMBER.finditer(text):
        digits = len(m.group(1).replace("_", "")) + len(m.group(2) or "")
        exponent = int(m.group(3)) if m.group(3) and len(m.group(3)) < 6 else (0 if not m.group(3) else 10**6)
        if digits > 15 or abs(exponent) > 30:
            return f"unit '{excerpt(text, 40)}' holds the number {excerpt(m.group(0), 20)}, too large or too precise"
    return None
