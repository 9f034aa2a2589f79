"""audit.deliverables.tables: the notebook's tables keep their columns whatever the engagement holds."""
from __future__ import annotations

import copy

import pandas as pd
import pytest

from audit.deliverables import tables
from tests.helpers import sample_results

TABLES = {tables.interventions: tables.INTERVENTION_COLUMNS, tables.sensitivity: tables.SENSITIVITY_COLUMNS,
          tables.customisation: tables.CUSTOMISATION_COLUMNS, tables.scorecard: tables.SCORECARD_COLUMNS,
          tables.precision: tables.PRECISION_COLUMNS}


@pytest.fixture(scope="module")
def empty():
    """Results with nothing to assess: no options, no LLM workloads, no generative AI."""
    r = copy.copy(sample_results())
    r.interventions = []
    r.extras = {"customisation": [], "scorecard": {"rows": []}, "sensitivity": [], "precision_per_watt": []}
    return r


@pytest.mark.parametrize("table", list(TABLES), ids=lambda f: f.__name__)
def test_sample_tables_have_rows_and_the_documented_columns(table):
    df = table(sample_results())
    assert list(df.columns) == TABLES[table] and len(df) > 0


@pytest.mark.parametrize("table", list(TABLES), ids=lambda f: f.__name__)
def test_empty_results_give_empty_tables_with_the_same_columns(empty, table):
    df = table(empty)
    assert list(df.columns) == TABLES[table] and len(df) == 0


def test_customisation_keeps_the_largest_workloads_and_reports_grams():
    r = sample_results()
    df = tables.customisation(r, top=2)
    assert df["workload"].nunique() == 2
    raw = pd.DataFrame(r.extras["customisation"]).set_index(["workload", "option"])["per_request_kgco2e"]
    for row in df.itertuples():
        assert row.per_request_gco2e == pytest.approx(raw[(row.workload, row.option)] * 1000, rel=1e-12)


def test_shown_says_why_a_table_is_empty(empty):
    note = tables.shown(tables.customisation(empty), "No LLM workloads.")
    assert "No LLM workloads." in note.data
    assert tables.shown(tables.interventions(sample_results()), "x") is not None
    assert tables.quadrants(empty).empty
