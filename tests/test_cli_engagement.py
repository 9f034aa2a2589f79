"""The engagement commands (audit.cli.engagement: estimate, validate, new; run and batch are
tested end to end in test_runner and test_batch), through typer's CliRunner on temporary copies
of the sample."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from audit.cli import app
from audit.core.paths import ACTIVITIES_FILE, ENGAGEMENT_FILE
from tests.helpers import SAMPLE_ACTIVITY_COUNT, SAMPLE_CSV_ACTIVITIES, activity, copy_sample, write_engagement


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner()


def invoke(runner, *args):
    return runner.invoke(app, [str(a) for a in args], prog_name="audit")


@pytest.fixture(scope="module")
def sample_copy(tmp_path_factory) -> Path:
    return copy_sample(tmp_path_factory.mktemp("cli"))


@pytest.fixture(scope="module")
def json_output(runner, sample_copy) -> dict:
    res = invoke(runner, "estimate", sample_copy / ACTIVITIES_FILE, "--engagement", sample_copy / ENGAGEMENT_FILE,
                 "--format", "json")
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


# --- estimate -------------------------------------------------------------------------------

def test_estimate_json_has_the_results_shape(json_output):
    doc = json_output
    assert doc["schema_version"] == 1
    assert set(doc["totals"]) == {"kwh", "kgco2e", "kgco2e_low", "kgco2e_high", "scope1_kgco2e",
                                  "scope2_location_kgco2e", "scope2_market_kgco2e", "scope3_kgco2e",
                                  "water_litres"}  # water beside carbon (issue 13), never added to it
    assert "interventions" not in doc and "forecast" not in doc
    acts = doc["activities"]
    # An activities file with --engagement: the usage logs (folder-level) are not read.
    assert sum(1 for a in acts if a["derived_from"] is None) == SAMPLE_CSV_ACTIVITIES
    for a in acts:
        assert {"activity_id", "kind", "scope", "scope3_category", "kwh", "kgco2e", "kgco2e_low", "kgco2e_high",
                "factor_ids", "data_quality"} <= set(a)
    assert sum(a["kgco2e"] for a in acts) == pytest.approx(doc["totals"]["kgco2e"], rel=1e-12)


def test_estimate_json_uses_the_engagement_settings(json_output):
    t = json_output["totals"]
    # The sample's 60 % renewable tariff: market-based Scope 2 is 40 % of location-based.
    assert t["scope2_market_kgco2e"] == pytest.approx(0.4 * t["scope2_location_kgco2e"], rel=1e-12)
    assert json_output["engagement"]["client"] == "Northlight Creative Ltd"


def test_estimate_without_engagement_uses_defaults(runner, sample_copy, json_output):
    res = invoke(runner, "estimate", sample_copy / ACTIVITIES_FILE, "--format", "json")
    assert res.exit_code == 0, res.output
    t = json.loads(res.stdout)["totals"]
    assert t["scope2_market_kgco2e"] == pytest.approx(t["scope2_location_kgco2e"], rel=1e-12)  # no instrument
    assert t["scope2_location_kgco2e"] == pytest.approx(json_output["totals"]["scope2_location_kgco2e"], rel=1e-12)


def test_estimate_table_prints_a_total_line(runner, sample_copy):
    res = invoke(runner, "estimate", sample_copy / ACTIVITIES_FILE, "--format", "table")
    assert res.exit_code == 0, res.output
    out = res.stdout
    total = [line for line in out.splitlines() if line.startswith("Total ")]
    assert len(total) == 1 and "kgCO2e" in total[0] and "scope 1" in total[0] and "scope 3" in total[0]
    assert "POST-01" in out and "IDE-04~td" in out
    assert res.stderr == ""  # the sample is clean: no warnings


def test_estimate_warnings_go_to_stderr(runner, tmp_path):
    folder = write_engagement(tmp_path, [activity(accepted_fraction="0.5")])
    res = invoke(runner, "estimate", folder / ACTIVITIES_FILE, "--format", "json")
    assert res.exit_code == 0 and "accepted_fraction" in res.stderr
    json.loads(res.stdout)  # stdout stays pure JSON


def test_bad_csv_exits_2_with_a_located_message_and_no_traceback(runner, tmp_path):
    folder = write_engagement(tmp_path, [activity(quantity="lots")])
    res = invoke(runner, "estimate", folder / ACTIVITIES_FILE)
    assert res.exit_code == 2
    assert res.stdout == ""
    assert "error in input" in res.stderr
    assert "row 2" in res.stderr and "column 'quantity'" in res.stderr and "'lots' is not a number" in res.stderr
    assert str(folder / ACTIVITIES_FILE) in res.stderr
    assert "Traceback" not in res.output


def test_debug_shows_the_traceback(runner, tmp_path):
    folder = write_engagement(tmp_path, [activity(quantity="lots")])
    res = invoke(runner, "estimate", folder / ACTIVITIES_FILE, "--debug")
    assert res.exit_code == 2
    assert "Traceback" in res.stderr and "ValidationError" in res.stderr
    assert "'lots' is not a number" in res.stderr


def test_missing_file_exits_2(runner, tmp_path):
    res = invoke(runner, "estimate", tmp_path / "nope.csv")
    assert res.exit_code == 2 and "file not found" in res.stderr and "Traceback" not in res.output


def test_estimate_of_an_excel_intake_names_its_folder(runner, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for given, folder in (("intake.xlsx", "."), ("acme/intake.xlsx", "acme")):
        res = invoke(runner, "estimate", given)
        assert res.exit_code == 2 and f"run 'audit estimate {folder}'" in res.stderr


# --- validate and new ---------------------------------------------------------------------

def test_validate_the_sample(runner, sample_copy):
    res = invoke(runner, "validate", sample_copy)
    assert res.exit_code == 0, res.output
    assert f"{SAMPLE_ACTIVITY_COUNT} activities OK" in res.stdout


def test_validate_reports_every_problem(runner, tmp_path):
    folder = write_engagement(tmp_path, [activity(activity_id="A1", quantity="x"), activity(activity_id="A2",
                                                                                            kind="lmm_api")])
    res = invoke(runner, "validate", folder)
    assert res.exit_code == 2
    assert "2 problems found" in res.stderr and "row 2" in res.stderr and "row 3" in res.stderr
    assert "did you mean 'llm_api'" in res.stderr and "Traceback" not in res.output


def test_new_creates_a_folder_that_validates(runner, tmp_path):
    res = invoke(runner, "new", "Acme Studios", "--dir", tmp_path / "clients")
    assert res.exit_code == 0, res.output
    folder = tmp_path / "clients" / "Acme-Studios"
    assert (folder / ENGAGEMENT_FILE).is_file() and (folder / ACTIVITIES_FILE).is_file()
    res = invoke(runner, "validate", folder)
    assert res.exit_code == 0, res.output
    assert "3 activities OK" in res.stdout
    # Scaffolding the same name again must not overwrite the consultant's work.
    again = invoke(runner, "new", "Acme Studios", "--dir", tmp_path / "clients")
    assert again.exit_code == 2 and "already exists" in again.stderr


@pytest.mark.parametrize("name", ["../evil", "../../evil", "ABSOLUTE", "..", "a/../../evil"])
def test_new_stays_inside_dir(runner, tmp_path, name):
    parent = tmp_path / "clients"
    outside = tmp_path.parent / f"{tmp_path.name}-evil"
    if name == "ABSOLUTE":
        name = str(outside)
    res = invoke(runner, "new", name, "--dir", parent)
    assert res.exit_code == 0, res.output
    created = [p for p in parent.iterdir()]
    assert len(created) == 1 and created[0].parent == parent
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clients"]  # nothing written beside it
    assert not outside.exists() and not (tmp_path.parent / "evil").exists()
