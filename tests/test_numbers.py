"""The report's number rules (audit.deliverables.numbers): significant figures, units by size,
one unit per table, ranges that collapse, no scientific notation."""
from __future__ import annotations

import math
import re

import pytest

from audit.deliverables import numbers as nb

M = nb.MINUS


@pytest.mark.parametrize("value, text", [
    (13234.2, "13,200"), (53.24, "53.2"), (53.0, "53"), (0.0016134, "0.00161"), (-0.00242, f"{M}0.00242"),
    (0.00685, "0.00685"), (999.6, "1,000"), (1.006e-7, "0.000000101"), (0, "0"), (12.0, "12"),
    (float("nan"), "–"), (None, "–"), ("x", "–"), (float("inf"), "–"),
])
def test_sig_rounds_to_three_significant_figures_without_exponent(value, text):
    assert nb.sig(value) == text


@pytest.mark.parametrize("kg, text", [
    (13336.74, "13.3 tCO2e"), (1.61, "1.61 kgCO2e"), (0.00685, "6.85 gCO2e"), (2033.95, "2.03 tCO2e"),
    (480.06, "480 kgCO2e"), (0, "0 tCO2e"), (-2.42, f"{M}2.42 kgCO2e"),
])
def test_mass_picks_the_unit_by_size(kg, text):
    assert nb.mass(kg) == text


@pytest.mark.parametrize("kg, text", [
    (13336.74, "13.3"), (1200.14, "1.2"), (9.2646, "0.009"), (1.61, "0.002"), (86.2, "0.086"), (0.4, "<0.001"),
    (-0.4, f"{M}<0.001"), (0, "0"), (251234.0, "251"), (1234567.0, "1,230"), (None, "–"),
])
def test_table_cells_in_tonnes(kg, text):
    assert nb.tonnes(kg) == text


def test_span_collapses_when_both_ends_print_the_same():
    assert nb.span(53.21, 53.24) == "53.2"
    assert nb.span(-0.00242, -0.00242) == f"{M}0.00242"
    assert nb.span(11.34, 18.09) == "11.3–18.1"
    assert nb.span(-2.0, 3.0) == f"{M}2 to 3"
    assert nb.mass_span(11342.0, 18091.0) == "11.3–18.1 tCO2e"
    assert nb.mass_span(900.0, 1100.0) == "0.9–1.1 tCO2e"
    assert nb.mass_span(5.0, 5.0) == "5 kgCO2e"


@pytest.mark.parametrize("v, text", [(0.5121, "51%"), (0.0523, "5.2%"), (0.00001, "<0.1%"), (0, "0%"),
                                     (1.0, "100%"), (None, "–")])
def test_share(v, text):
    assert nb.share(v) == text


def test_no_output_has_an_exponent_or_more_than_three_significant_figures():
    for exp in range(-9, 10):
        for mantissa in (1.0, 1.23456, 9.87654, -4.4444):
            v = mantissa * 10 ** exp
            for text in (nb.sig(v), nb.mass(v), nb.tonnes(v)):
                assert not re.search(r"\d[eE][+-]?\d", text), text
            digits = re.sub(r"[^0-9]", "", nb.sig(v)).lstrip("0")
            if abs(v) < 1000:  # from 1,000 up the trailing zeros are the magnitude
                assert len(digits) <= 3, (v, nb.sig(v))
            back = float(nb.sig(v).replace(",", "").replace(M, "-"))
            assert math.isclose(back, v, rel_tol=5e-3)
