"""CSV files a consultant opens in Excel: client text must stay text.

Excel and LibreOffice evaluate a CSV cell that starts with ``=``, ``+``, ``-``, ``@``, a tab
or a carriage return as a formula (CSV injection, OWASP). In the CSV files we write
(``usage_by_hour.csv``, ``batch_summary.csv``, ``estimate-usage --activities/--by-hour``)
such text cells get a leading apostrophe, which spreadsheets show as text and which
``restore_cell`` removes when we read them back (``batch --resume``, the intake). Text that
already starts with an apostrophe gets one more, so the round trip is exact. Numbers are
never touched (a negative number is a number, not text).
"""
from __future__ import annotations

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_cell(value: object) -> object:
    """Text that a spreadsheet would run as a formula, with an apostrophe in front."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS + ("'",)):
        return "'" + value
    return value


def restore_cell(value: str) -> str:
    """The text ``neutralise_cell`` was given (for reading our own CSV files back)."""
    if value.startswith("'") and value[1:].startswith(FORMULA_STARTS + ("'",)):
        return value[1:]
    return value


def neutralise_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy whose text columns are safe to open in a spreadsheet."""
    out = df.copy()
    for col in out.columns:
        if not pd.api.types.is_numeric_dtype(out[col].dtype):
            out[col] = out[col].map(neutralise_cell)
    return out
