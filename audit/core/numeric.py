"""Strict numbers and timestamps: a cell that is not plainly a number, a quantity whose
conversion would not be finite, and a time pandas cannot hold become located messages, not
silent values or tracebacks (issue 17).

* ``parse_number_column(series)``: floats and, per cell, a problem (message, hint) or None.
  Refused: stray underscores (``_5``, ``5_``, ``1__0``, ``1_0``; only thousands groups such as
  ``1_000`` are read, like ``1,000``), a decimal comma, ``inf``/``nan`` spelt out, numbers
  that overflow a float (``1e999``), non-ASCII digits, anything that is not a decimal number.
* ``overflow_mask(values, factors)``: where ``values * factors`` is not finite or is beyond
  ``MAX_MAGNITUDE`` (1e308 MWh in kWh is inf; estimate then failed on it).
* ``parse_timestamps(series)``: UTC nanoseconds with masks of unparsable and out-of-range
  cells, for any column type, never raising ``OutOfBoundsDatetime`` (years 9999, 1600, 2262:
  pandas' nanosecond range ends on 2262-04-11); ``timestamp_problem(raw)`` words the message.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from audit.core.identifiers import excerpt

#: Largest magnitude accepted for any quantity after conversion to its base unit. Far above any
#: real activity (world electricity use is ~3e13 kWh a year), and far enough below the float
#: limit (1.8e308) that the estimate's products (x factor, x intensity, x k95) stay finite.
MAX_MAGNITUDE = 1e30

_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_THOUSANDS_COMMA = re.compile(r"[+-]?[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]*)?")
_THOUSANDS_UNDERSCORE = re.compile(r"[+-]?[0-9]{1,3}(?:_[0-9]{3})+(?:\.[0-9]*)?")
_NON_FINITE_WORDS = {"inf", "+inf", "-inf", "infinity", "+infinity", "-infinity", "nan", "+nan", "-nan"}

NOT_A_NUMBER = "'{}' is not a number"
HINT_DECIMAL = "use a decimal point, e.g. 1.5"
HINT_UNDERSCORE = "write digits only, e.g. 1000 or 1,000"


def number_problem(text: str) -> tuple[str, str | None] | None:
    """The (message, hint) for one stripped, non-blank cell that is not a plain number, else None."""
    shown = excerpt(text, 40)
    if _DECIMAL.fullmatch(text) or _THOUSANDS_COMMA.fullmatch(text) or _THOUSANDS_UNDERSCORE.fullmatch(text):
        return None
    if text.lower() in _NON_FINITE_WORDS:
        return (NOT_A_NUMBER.format(shown) if "nan" in text.lower() else f"'{shown}' is not a finite number"), None
    if "_" in text and _DECIMAL.fullmatch(text.replace("_", "")):
        return f"'{shown}' has a stray underscore", HINT_UNDERSCORE
    if "," in text and _DECIMAL.fullmatch(text.replace(",", ".", 1)):
        return f"'{shown}' uses a comma", HINT_DECIMAL
    if any(ch.isdigit() and not "0" <= ch <= "9" for ch in text):
        return f"'{shown}' uses digits other than 0-9", "type the number with the digits 0-9"
    return NOT_A_NUMBER.format(shown), None


def parse_number_column(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(values, problems) for a column of number cells (text or numbers), index kept.

    ``values``: float, NaN where blank or refused. ``problems``: None where fine or blank,
    else (message, hint) quoting at most 40 characters of the cell. A blank cell is not a
    problem here (the caller knows whether the column is required)."""
    if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
        values = series.astype(float)
        problems = pd.Series([None] * len(series), index=series.index, dtype=object)
        bad = ~np.isfinite(values) & values.notna()
        problems[bad] = [("must be a finite number", None)] * int(bad.sum())
        return values.where(~bad), problems
    text = series.astype("string").fillna("").str.strip()
    cells = text.to_numpy(dtype=object)
    filled_at = np.flatnonzero(cells != "")
    if len(filled_at) <= SMALL_COLUMN_CELLS:
        return _parse_few(series.index, text.dtype, cells, filled_at)
    blank = text == ""
    # Only the filled cells are matched and converted: optional columns are mostly blank.
    filled = text[~blank]
    plain = filled.str.fullmatch(_DECIMAL.pattern).fillna(False)
    grouped = ~plain & (filled.str.fullmatch(_THOUSANDS_COMMA.pattern)
                        | filled.str.fullmatch(_THOUSANDS_UNDERSCORE.pattern)).fillna(False)
    digits = filled.where(~grouped, filled.str.replace(",", "", regex=False).str.replace("_", "", regex=False))
    number = (plain | grouped).to_numpy(dtype=bool)
    with np.errstate(over="ignore", invalid="ignore"):
        converted = pd.to_numeric(digits[number], errors="coerce").to_numpy(dtype=float)
    at = np.flatnonzero(~blank.to_numpy(dtype=bool))  # positions of the filled cells
    ok_arr = np.zeros(len(series), dtype=bool)
    ok_arr[at] = number
    value_arr = np.full(len(series), np.nan)
    value_arr[at[number]] = converted
    ok = pd.Series(ok_arr, index=series.index)
    values = pd.Series(value_arr, index=series.index)
    problems = pd.Series([None] * len(series), index=series.index, dtype=object)
    for i in series.index[(~ok & ~blank).to_numpy()]:
        problems[i] = number_problem(text[i])
    too_big = ok & ~blank & ~np.isfinite(values.fillna(0.0))
    for i in series.index[too_big.to_numpy()]:
        problems[i] = (f"'{excerpt(text[i], 40)}' is too large to be a number", None)
    values = values.where(ok & ~blank & ~too_big)
    return values, problems


#: Up to this many filled cells, ``parse_number_column`` tests them one by one in Python
#: (``_parse_few``): an intake table's columns have a few dozen, and each of the vectorised
#: path's ~20 pandas operations costs more than that (~2.5 ms a column, 14 columns, 3 validations
#: per ``audit run``). Above it, the vectorised path (a million-row intake).
SMALL_COLUMN_CELLS = 2000


def _parse_few(index: pd.Index, dtype, cells: np.ndarray, filled_at: np.ndarray) -> tuple[pd.Series, pd.Series]:
    """``parse_number_column`` for a column with few filled cells: the same patterns tested with
    ``re`` per cell (pure ASCII classes: the same matches as pandas' vectorised ``fullmatch``), and
    the numbers converted by ``pd.to_numeric`` on the same string dtype, so every value, NaN and
    message is the vectorised path's."""
    n = len(cells)
    values = np.full(n, np.nan)
    problems = np.full(n, None, dtype=object)
    number_at, digits = [], []
    for pos in filled_at:
        text = cells[pos]
        if _DECIMAL.fullmatch(text):
            number_at.append(pos), digits.append(text)
        elif _THOUSANDS_COMMA.fullmatch(text) or _THOUSANDS_UNDERSCORE.fullmatch(text):
            number_at.append(pos), digits.append(text.replace(",", "").replace("_", ""))
        else:
            problems[pos] = number_problem(text)
    if number_at:
        with np.errstate(over="ignore", invalid="ignore"):
            converted = pd.to_numeric(pd.array(digits, dtype=dtype), errors="coerce").to_numpy(dtype=float)
        too_big = np.isinf(converted)
        at = np.asarray(number_at, dtype=np.intp)
        values[at[~too_big]] = converted[~too_big]
        for pos in at[too_big]:
            problems[pos] = (f"'{excerpt(cells[pos], 40)}' is too large to be a number", None)
    return pd.Series(values, index=index), pd.Series(problems, index=index, dtype=object)


def overflow_mask(values, factors, limit: float = MAX_MAGNITUDE) -> np.ndarray:
    """True where ``values * factors`` (both finite) is not finite or exceeds ``limit`` in
    magnitude: a quantity that would become inf (or a number the estimate cannot multiply
    safely) once converted to its base unit. NaN inputs are not flagged."""
    v = np.asarray(values, dtype=float)
    f = np.asarray(factors, dtype=float)
    with np.errstate(over="ignore", invalid="ignore"):
        product = v * f
        present = np.isfinite(v) & np.isfinite(f)
        return present & (~np.isfinite(product) | (np.abs(product) > limit))


def overflow_message(value, unit: str, base_unit: str, limit: float = MAX_MAGNITUDE) -> str:
    return (f"{excerpt(str(value), 40)} {excerpt(unit, 30)} is too large: in {base_unit} it would be beyond "
            f"{limit:g} (not a real quantity)")


# --- timestamps ----------------------------------------------------------------------------------

FIRST_YEAR, END_YEAR = 2000, 2100
_YEAR = re.compile(r"\s*([+-]?\d{4,})-")


@dataclass
class Timestamps:
    """``ns``: UTC nanoseconds since the epoch (0 where a mask is set); ``unparsable``: blank
    or not a date-time; ``out_of_range``: a date-time outside [first_year, end_year)."""

    ns: np.ndarray
    unparsable: np.ndarray
    out_of_range: np.ndarray


def parse_timestamps(series: pd.Series, first_year: int = FIRST_YEAR, end_year: int = END_YEAR) -> Timestamps:
    """Any timestamp column (text, datetime64 of any unit, tz-aware or naive = UTC, numbers)
    as UTC nanoseconds, without raising. The range check is made in the column's own unit,
    before the conversion to nanoseconds that overflowed for years before 1677 or after 2262."""
    n = len(series)
    if pd.api.types.is_numeric_dtype(series.dtype) and not isinstance(series.dtype, pd.DatetimeTZDtype):
        return Timestamps(np.zeros(n, np.int64), np.ones(n, bool), np.zeros(n, bool))
    if isinstance(series.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(series.dtype):
        idx = pd.DatetimeIndex(series)
        idx = idx.tz_localize("UTC") if idx.tz is None else idx.tz_convert("UTC")
    else:
        try:
            idx = pd.DatetimeIndex(pd.to_datetime(series, utc=True, errors="coerce", format="ISO8601"))
        except (ValueError, TypeError, OverflowError):  # mixed objects pandas will not coerce
            idx = pd.DatetimeIndex([pd.to_datetime(v, utc=True, errors="coerce", format="ISO8601")
                                    if isinstance(v, str) else pd.NaT for v in series])
    unparsable = np.array(idx.isna(), dtype=bool)
    lo = pd.Timestamp(f"{first_year:04d}-01-01", tz="UTC").as_unit(idx.unit)
    hi = pd.Timestamp(f"{end_year:04d}-01-01", tz="UTC").as_unit(idx.unit)
    out = ~unparsable & np.array((idx < lo) | (idx >= hi), dtype=bool)
    # Cells that failed to parse because their year is out of any range: say so, not "not a date".
    if unparsable.any() and (series.dtype == object or pd.api.types.is_string_dtype(series.dtype)):
        for pos in np.flatnonzero(unparsable):
            m = _YEAR.match(str(series.iloc[pos]))
            if m and not first_year <= int(m.group(1)) < end_year:
                unparsable[pos], out[pos] = False, True
    safe = idx.where(~(unparsable | out), lo)
    ns = safe.as_unit("ns").asi8
    return Timestamps(np.where(unparsable | out, 0, ns), unparsable, out)


def timestamp_problem(raw, first_year: int = FIRST_YEAR, end_year: int = END_YEAR) -> tuple[str, str]:
    """(message, hint) for a cell ``parse_timestamps`` flagged: blank, out of range (with its
    year), or not an ISO 8601 date-time. Quotes at most 40 characters."""
    text = "" if raw is None or (isinstance(raw, float) and np.isnan(raw)) or raw is pd.NaT else str(raw).strip()
    hint = f"e.g. 2025-03-14T09:30:00Z, UTC if no offset, in the years {first_year} to {end_year - 1}"
    if text == "":
        return "is empty", hint
    m = _YEAR.match(text)
    year = int(m.group(1)) if m else None
    if year is None and not isinstance(raw, str):
        try:
            year = pd.Timestamp(raw).year
        except (ValueError, TypeError, OverflowError):
            year = None
    if year is not None and not first_year <= year < end_year:
        return f"'{excerpt(text, 40)}' is not a plausible request time (year {year})", hint
    return f"'{excerpt(text, 40)}' is not an ISO 8601 date-time", hint
