"""audit.core.numeric: stray underscores, decimal commas, spelt-out infinities and overflowing
conversions are refused by cell; timestamps in years 9999, 1600 and 2262 are located problems,
not OutOfBoundsDatetime tracebacks (issue 17)."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.core import numeric
from audit.core.numeric import (
    MAX_MAGNITUDE,
    overflow_mask,
    overflow_message,
    parse_number_column,
    parse_timestamps,
    timestamp_problem,
)


def parse(cells):
    values, problems = parse_number_column(pd.Series(cells, index=range(2, len(cells) + 2), dtype=object))
    return values, problems


@pytest.mark.parametrize("cell", ["_5", "5_", "1__0", "1_0", "1_00", "_1_000"])
def test_stray_underscores_are_refused(cell):
    values, problems = parse([cell])
    assert np.isnan(values[2])
    assert problems[2][0] == f"'{cell}' has a stray underscore"


@pytest.mark.parametrize("cell,value", [("5", 5.0), (" 1.5 ", 1.5), ("-2e3", -2000.0), ("1,000", 1000.0),
                                        ("1_000", 1000.0), ("12,345.5", 12345.5), (".5", 0.5), ("5.", 5.0),
                                        ("1e308", 1e308)])
def test_plain_numbers_are_read(cell, value):
    values, problems = parse([cell])
    assert values[2] == value and problems[2] is None


@pytest.mark.parametrize("cell,message", [("1,5", "uses a comma"), ("inf", "not a finite number"),
                                          ("NaN", "'NaN' is not a number"), ("-Infinity", "not a finite number"), ("1e999", "too large"),
                                          ("٣", "digits other than 0-9"), ("0x10", "is not a number"),
                                          ("12 kWh", "is not a number")])
def test_other_refusals(cell, message):
    values, problems = parse([cell])
    assert np.isnan(values[2]) and message in problems[2][0]


def test_blank_is_not_a_problem_here():
    values, problems = parse(["", None, "  "])
    assert values.isna().all() and problems.isna().all()


def test_a_4mb_cell_gives_a_short_message():
    _, problems = parse(["9" * 10 + "x" * 4_000_000])
    assert len(problems[2][0]) < 120


def test_numeric_dtype_passes_through_with_inf_refused():
    values, problems = parse_number_column(pd.Series([1.0, np.inf, np.nan]))
    assert values[0] == 1.0 and np.isnan(values[1]) and problems[1][0] == "must be a finite number"


def test_1e308_mwh_overflows_in_kwh():
    mask = overflow_mask([1e308, 5.0, np.nan, 1e28], [1000.0, 1000.0, 1000.0, 1000.0])
    assert mask.tolist() == [True, False, False, True]  # 1e31 kWh is past MAX_MAGNITUDE too
    assert "1e+308 MWh is too large: in kWh" in overflow_message(1e308, "MWh", "kWh")
    assert MAX_MAGNITUDE < 1e300


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_any_finite_float_written_out_is_read_back(x):
    values, problems = parse([repr(x)])
    assert values[2] == x and problems[2] is None


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=20))
def test_any_text_gives_a_value_or_a_problem_never_both(text):
    values, problems = parse([text])
    if text.strip() == "":
        assert np.isnan(values[2]) and problems[2] is None
    else:
        assert np.isnan(values[2]) != (problems[2] is None)
        if problems[2] is None:
            assert np.isfinite(values[2])


# --- timestamps -------------------------------------------------------------------------------

@pytest.mark.parametrize("text,year", [("9999-01-01T00:00:00Z", 9999), ("1600-01-01T00:00:00Z", 1600),
                                       ("2262-05-01T00:00:00Z", 2262), ("9999-12-31T23:59:59.999999999Z", 9999)])
def test_out_of_range_text_timestamps_are_located(text, year):
    ts = parse_timestamps(pd.Series(["2025-03-14T09:30:00Z", text]))
    assert ts.unparsable.tolist() == [False, False] and ts.out_of_range.tolist() == [False, True]
    assert ts.ns[0] == pd.Timestamp("2025-03-14T09:30:00Z").value
    message, _ = timestamp_problem(text)
    assert f"(year {year})" in message


def test_out_of_range_datetime_column_from_parquet_does_not_raise():
    # What pyarrow gives for a timestamp[us] Parquet column: datetime64[us, UTC].
    values = [dt.datetime(9999, 1, 1), dt.datetime(1600, 1, 1), dt.datetime(2262, 4, 12), dt.datetime(2025, 1, 1)]
    series = pd.Series(pd.DatetimeIndex(values).as_unit("us").tz_localize("UTC"))
    ts = parse_timestamps(series)
    assert ts.out_of_range.tolist() == [True, True, True, False]
    assert ts.ns[3] == pd.Timestamp("2025-01-01", tz="UTC").value and ts.ns[:3].tolist() == [0, 0, 0]
    assert "(year 1600)" in timestamp_problem(series.iloc[1])[0]


def test_unparsable_and_blank_and_numbers():
    ts = parse_timestamps(pd.Series(["yesterday", "", None]))
    assert ts.unparsable.tolist() == [True, True, True]
    assert timestamp_problem("")[0] == "is empty"
    assert "not an ISO 8601 date-time" in timestamp_problem("yesterday")[0]
    assert parse_timestamps(pd.Series([1, 2])).unparsable.all()


def test_naive_times_are_utc():
    ts = parse_timestamps(pd.Series(["2025-01-01T00:00:00", "2025-01-01T01:00:00+01:00"]))
    assert ts.ns[0] == ts.ns[1]


TRICKY_CELLS = ["5", " 1.5 ", "-2e3", "1,000", "1_000", "12,345.5", ".5", "5.", "+3e2", "-0", "1e308", "1e999",
                "-1e999", "1e-400", "99999999999999999999", "9007199254740993", "0.1", "1,5", "12,34", "_5", "5_",
                "1__0", "inf", "-nan", "NaN", "Infinity", "٣", "１２", "0x10", "1 000", "3.3.3", "12 kWh", "", "  ",
                None, "1,000,000.25", "123,4567", "x" * 60]


def _both_paths(cells, monkeypatch):
    """parse_number_column on ``cells`` by the per-cell path and by the vectorised path."""
    series = pd.Series(cells, index=range(2, len(cells) + 2), dtype=object)
    few = parse_number_column(series)
    monkeypatch.setattr(numeric, "SMALL_COLUMN_CELLS", -1)  # every column takes the vectorised path
    many = parse_number_column(series)
    monkeypatch.undo()
    return few, many


def test_the_per_cell_path_reads_every_cell_as_the_vectorised_path(monkeypatch):
    (v1, p1), (v2, p2) = _both_paths(TRICKY_CELLS, monkeypatch)
    pd.testing.assert_series_equal(v1, v2, check_exact=True)
    pd.testing.assert_series_equal(p1, p2)
    assert v1[2] == 5.0 and p1[2 + TRICKY_CELLS.index("1e999")][0] == "'1e999' is too large to be a number"
    assert v1.notna().sum() == 16 and p1.notna().sum() == 19  # the cells above: 16 numbers, 19 refusals (2 too large), 3 blanks


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.text(alphabet="0123456789.,_eE+- x٣", max_size=12),
                          st.floats(allow_nan=False).map(repr)), min_size=1, max_size=20))
def test_both_paths_agree_on_generated_cells(cells):
    with pytest.MonkeyPatch.context() as monkeypatch:
        (v1, p1), (v2, p2) = _both_paths(cells, monkeypatch)
    pd.testing.assert_series_equal(v1, v2, check_exact=True)
    pd.testing.assert_series_equal(p1, p2)
