"""audit.core.csvsafe: formula-like client text stays text in CSV files, and reads back unchanged."""
from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from audit.core.csvsafe import neutralise_cell, neutralise_frame, restore_cell


@pytest.mark.parametrize("text", ["=1+1", "+44 20", "-x", "@SUM(A1)", "\tcmd", "\rcmd",
                                  '=HYPERLINK("http://evil.example","x")'])
def test_formula_like_text_gets_an_apostrophe(text):
    assert neutralise_cell(text) == "'" + text


@pytest.mark.parametrize("value", ["Production", "gpt-4o", "", "a=b", 3, -5.0, None])
def test_other_values_are_untouched(value):
    assert neutralise_cell(value) == value


@given(st.text())
def test_round_trip_is_exact(text):
    assert restore_cell(neutralise_cell(text)) == text


def test_a_value_that_already_starts_with_an_apostrophe_survives():
    assert neutralise_cell("'=x") == "''=x" and restore_cell("''=x") == "'=x"
    assert restore_cell("'hello") == "'hello"  # not ours: left alone


def test_frames_neutralise_text_columns_only():
    df = pd.DataFrame({"stage": ["=cmd", "ok"], "kgco2e": [-1.5, 2.0]})
    out = neutralise_frame(df)
    assert out["stage"].tolist() == ["'=cmd", "ok"] and out["kgco2e"].tolist() == [-1.5, 2.0]
    assert df["stage"].tolist() == ["=cmd", "ok"]  # a copy
