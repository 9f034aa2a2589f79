"""`audit measure`: codecarbon-measured factors, written to the engagement and used by the estimator."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from audit.orchestration import measure as m
from audit.reference import measured as mf
from audit.cli import app
from audit.inventory.estimate import estimate
from audit.core.exceptions import FactorError
from audit.inventory.intake import LoadedEngagement, load_engagement
from audit.core.paths import ACTIVITIES_FILE, ENGAGEMENT_FILE
from audit.core.units import conversion_factor
from tests.helpers import activity, by_id, find_problem, problems_from, write_engagement

WORK = [sys.executable, "-c", "sum(i*i for i in range(3_000_000))"]
ONPREM_PUE = 1.56


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args], prog_name="audit")


def read_csv(folder: Path) -> list[dict]:
    with open(folder / mf.MEASURED_FILE, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def rows_for(factor="sdxl_batch"):
    return [activity(activity_id="IMG-01", kind="image_generation", quantity="5000", unit="image",
                     mode=f"measured:{factor}", ownership="owned"),
            activity(activity_id="IMG-02", kind="image_generation", quantity="5000", unit="image")]


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    """One real measurement through the CLI (CliRunner): the engagement folder and the result."""
    folder = write_engagement(tmp_path_factory.mktemp("measure"), rows_for())
    res = invoke("measure", "--unit", "images", "--per", "50", "--engagement", folder, "--activity-id", "IMG-01",
                 "--factor-id", "SDXL-batch", "--", *WORK)
    return folder, res


# --- units -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("unit,kind,base", [
    ("images", "image_generation", "image"), ("image", "image_generation", "image"),
    ("requests", "llm_api", "request"), ("1000 requests", "llm_api", "request"),
    ("video_second", "video_generation", "video_second"), ("video_minute", "video_generation", "video_second"),
    ("gpu_hour", "gpu_compute", "gpu_hour"), ("gpu_hours", "gpu_compute", "gpu_hour"),
    ("vcpu_hour", "cpu_compute", "vcpu_hour")])
def test_units_map_to_the_kinds_base_unit(unit, kind, base):
    k, b, mult = m.kind_for_unit(unit)
    assert (k, b) == (kind, base)
    assert mult == conversion_factor(unit, base)


@pytest.mark.parametrize("unit", ["kWh", "litre", "passenger_km", "furlongs", "tb_month"])
def test_units_of_other_kinds_are_refused(unit):
    with pytest.raises(ValueError):
        m.kind_for_unit(unit)


# --- the CLI, in process ---------------------------------------------------------------------------

def test_measure_writes_the_factor(measured):
    folder, res = measured
    assert res.exit_code == 0, res.output
    assert "measured:sdxl_batch" in res.stdout
    (row,) = read_csv(folder)
    assert list(row) == list(mf.MEASURED_COLUMNS)
    assert row["factor_id"] == "sdxl_batch" and row["kind"] == "image_generation" and row["unit"] == "image"
    assert float(row["n_units"]) == 50
    assert float(row["measured_kwh"]) > 0
    assert float(row["kwh_per_unit"]) == pytest.approx(float(row["measured_kwh"]) / 50, rel=1e-12)
    assert float(row["duration_s"]) > 0
    assert row["command"].startswith("python -c ")  # the program by name only, no machine path
    assert row["measured_at"].endswith("Z") and datetime.fromisoformat(row["measured_at"].replace("Z", "+00:00"))
    assert row["codecarbon_version"] == "3.3.2" and row["country"] == "GBR"


def test_estimate_uses_the_measured_factor_with_data_quality_1(measured):
    folder, _ = measured
    (row,) = read_csv(folder)
    per_image = float(row["kwh_per_unit"])
    res = invoke("estimate", folder / ACTIVITIES_FILE, "--engagement", folder / ENGAGEMENT_FILE, "--format", "json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    acts = {a["activity_id"]: a for a in doc["activities"]}
    a = acts["IMG-01"]
    assert a["factor_ids"][:2] == ["measured:sdxl_batch", "pue:onprem-average"]
    assert a["data_quality"] == 1 and a["method"] == "measured"
    assert a["kwh"] == pytest.approx(5000 * per_image * ONPREM_PUE, rel=1e-12)
    assert a["kgco2e_low"] == pytest.approx(a["kgco2e"], rel=1e-12) == a["kgco2e_high"]  # no modelled range
    assert acts["IMG-02"]["factor_ids"][0] == "php:image-generation"  # not opted in: modelled
    f = {r["factor_id"]: r for r in doc["factors"]}["measured:sdxl_batch"]
    assert f["value"] == pytest.approx(per_image, rel=1e-12) and f["unit"] == "kWh/image"
    assert f["licence"] == "Client data (confidential)"
    assert "codecarbon 3.3.2" in f["source"] and row["measured_at"][:10] in f["source"]
    assert "command: python -c" in f["source"]
    assert f["year"] == int(row["measured_at"][:4])


def test_the_engagement_pipeline_uses_it_and_hashes_the_file(measured):
    folder, _ = measured
    loaded = load_engagement(folder)
    assert mf.MEASURED_FILE in loaded.input_files
    l = by_id(estimate(loaded).lines)
    assert l.at["IMG-01", "factor_ids"][0] == "measured:sdxl_batch" and l.at["IMG-01", "scope"] == 2


def test_estimate_needs_no_folder_once_validated(measured):
    """Interventions re-estimate the validated rows with no engagement folder: the record travels with them."""
    folder, _ = measured
    est = estimate(load_engagement(folder))
    again = estimate(LoadedEngagement(est.engagement, est.activities, Path(".")))
    pd.testing.assert_series_equal(again.lines["kgco2e"], est.lines["kgco2e"])
    rows = est.activities.copy()
    rows["measured_factor"] = ""
    with pytest.raises(FactorError, match="measured_factors.csv"):
        estimate(LoadedEngagement(est.engagement, rows, Path(".")))


def test_failing_command_exits_with_its_status_and_writes_nothing(tmp_path):
    folder = write_engagement(tmp_path, [activity()])
    res = invoke("measure", "--unit", "images", "--per", "5", "--engagement", folder, "--factor-id", "x", "--",
                 sys.executable, "-c", "import sys; sys.exit(3)")
    assert res.exit_code == 3
    assert not (folder / mf.MEASURED_FILE).exists()
    res = invoke("measure", "--unit", "images", "--per", "5", "--engagement", folder, "--factor-id", "x", "--",
                 "no-such-command-for-audit-measure")
    assert res.exit_code == 127 and not (folder / mf.MEASURED_FILE).exists()


@pytest.mark.parametrize("args,message", [
    (["--unit", "litre", "--per", "5", "--factor-id", "x"], "--unit"),
    (["--unit", "images", "--per", "0", "--factor-id", "x"], "--per"),
    (["--unit", "images", "--per", "5"], "--factor-id"),
    (["--unit", "requests", "--per", "5", "--activity-id", "IMG-01"], "image_generation"),
    (["--unit", "images", "--per", "5", "--activity-id", "NOPE"], "NOPE"),
])
def test_bad_options_are_input_errors_and_run_nothing(tmp_path, args, message):
    folder = write_engagement(tmp_path, rows_for())
    marker = tmp_path / "ran"
    res = invoke("measure", *args, "--engagement", folder, "--", sys.executable, "-c",
                 f"open({str(marker)!r}, 'w').close()")
    assert res.exit_code == 2, res.output
    assert message in res.output
    assert not marker.exists() and not (folder / mf.MEASURED_FILE).exists()


# --- the CLI as a subprocess; replace by factor_id ------------------------------------------------

def test_measure_in_a_subprocess_replaces_by_factor_id(tmp_path):
    folder = write_engagement(tmp_path, [activity(activity_id="R1", kind="gpu_compute", quantity="2", unit="gpu_hour",
                                                  mode="measured:render", ownership="owned",
                                                  hardware="nvidia-l4")])
    _write_factor(folder, fid="other", kind="llm_api", unit="request")
    _write_factor(folder, fid="render", kind="gpu_compute", unit="gpu_hour", per=99.0)  # a stale measurement
    res = subprocess.run([sys.executable, "-m", "audit", "measure", "--unit", "gpu_hours", "--per", "0.25",
                          "--engagement", str(folder), "--factor-id", "render", "--notes", "test run", "--", *WORK],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "measured:render" in res.stdout
    rows = {r["factor_id"]: r for r in read_csv(folder)}
    assert list(rows) == ["other", "render"]  # the old 'render' row replaced, 'other' kept
    assert float(rows["render"]["n_units"]) == 0.25 and rows["render"]["kind"] == "gpu_compute"
    assert float(rows["render"]["kwh_per_unit"]) < 99 and "test run" in rows["render"]["notes"]
    assert rows["other"]["kwh_per_unit"] == "0.002"
    l = by_id(estimate(load_engagement(folder)).lines)
    per_h = float(rows["render"]["kwh_per_unit"])
    assert l.at["R1", "kwh"] == pytest.approx(2 * per_h * ONPREM_PUE, rel=1e-12)
    assert l.at["R1", "data_quality"] == 1
    assert "R1~embodied" in l.index  # owned GPU-hours with named hardware: embodied line as for a modelled row


# --- intake ----------------------------------------------------------------------------------------

def _write_factor(folder: Path, fid="sdxl_batch", kind="image_generation", unit="image", per=0.002):
    mf.write_measured_factor(folder, {
        "factor_id": fid, "kind": kind, "unit": unit, "kwh_per_unit": per, "n_units": 10, "measured_kwh": per * 10,
        "duration_s": 12.5, "command": "python render.py", "measured_at": "2025-06-01T10:00:00Z",
        "codecarbon_version": "3.3.2", "country": "GBR", "notes": ""})


def test_unknown_measured_factor_is_an_input_error_with_a_hint(tmp_path):
    folder = write_engagement(tmp_path, rows_for("sdxl_batc"))
    _write_factor(folder)
    p = find_problem(problems_from(load_engagement, folder), column="mode")
    assert "sdxl_batc" in p.message and "sdxl_batch" in p.hint


def test_measured_factor_of_another_kind_is_refused(tmp_path):
    folder = write_engagement(tmp_path, rows_for())
    _write_factor(folder, kind="llm_api", unit="request")
    assert "not for image_generation" in find_problem(problems_from(load_engagement, folder), column="mode").message


@pytest.mark.parametrize("row", [activity(mode="measured:sdxl_batch"),
                                 activity(kind="fuel", unit="litre", mode="measured:sdxl_batch")])
def test_measured_mode_on_other_kinds_is_refused(tmp_path, row):
    folder = write_engagement(tmp_path, [row])
    _write_factor(folder)
    assert "measured factors apply to" in find_problem(problems_from(load_engagement, folder), column="mode").message


def test_factor_ids_are_normalised_and_explicit_data_quality_is_kept(tmp_path):
    rows = [activity(activity_id="I1", kind="image_generation", quantity="10", unit="image", mode="Measured:SDXL-Batch",
                     data_quality="2", ownership="owned")]
    folder = write_engagement(tmp_path, rows)
    _write_factor(folder)
    l = by_id(estimate(load_engagement(folder)).lines).loc["I1"]
    assert l["mode"] == "measured:sdxl_batch" and l["data_quality"] == 2
    assert l["kwh"] == pytest.approx(10 * 0.002 * ONPREM_PUE, rel=1e-12)


def test_llm_rows_need_no_model_or_tokens_when_measured(tmp_path):
    rows = [activity(activity_id="L1", kind="llm_api", quantity="1000", unit="request", mode="measured:chat",
                     ownership="owned")]
    folder = write_engagement(tmp_path, rows)
    _write_factor(folder, fid="chat", kind="llm_api", unit="request", per=0.0004)
    l = by_id(estimate(load_engagement(folder)).lines).loc["L1"]
    assert l["kwh"] == pytest.approx(1000 * 0.0004 * ONPREM_PUE, rel=1e-12)


def test_display_command_keeps_machine_paths_out(tmp_path):
    eng = tmp_path / "eng"
    eng.mkdir()
    cmd = ["/opt/venv/bin/python", str(eng / "scripts" / "render.py"), str(Path.home() / "models" / "sdxl"), "--n", "5"]
    text = m.display_command(cmd, eng)
    assert text == "python scripts/render.py '~/models/sdxl' --n 5"
    assert str(tmp_path) not in text
