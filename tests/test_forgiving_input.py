"""Issue 14: forgiving input, never silent. Region and unit spellings, model names as exports
spell them, size-class fallbacks, video models by provider + bare name, the rented-GPU grid
fallback, and which of activities.csv / intake.xlsx is read."""
from __future__ import annotations

import csv
import os

import pytest
import yaml
from typer.testing import CliRunner

from audit.cli import app
from audit.core.exceptions import ValidationError
from audit.inventory.intake import load_engagement
from tests.helpers import copy_sample


def _edit(folder, changes: dict[str, dict[str, str]]) -> None:
    path = folder / "activities.csv"
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    for r in rows:
        r.update(changes.get(r["activity_id"], {}))
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def _row_of(folder, aid: str) -> int:
    rows = list(csv.DictReader((folder / "activities.csv").open(encoding="utf-8")))
    return 2 + [r["activity_id"] for r in rows].index(aid)


@pytest.fixture
def client(tmp_path):
    return copy_sample(tmp_path, "client")


def test_validate_accepts_uk_and_hrs_and_shows_each_reading(client):
    _edit(client, {"POST-01": {"region": "UK", "unit": "GPU hours"}, "IDE-02": {"region": "Portugal"},
                   "POST-04": {"unit": "hrs"}})
    res = CliRunner().invoke(app, ["validate", str(client)])
    assert res.exit_code == 0, res.output
    r1, r2, r4 = (_row_of(client, a) for a in ("POST-01", "IDE-02", "POST-04"))
    assert f"row {r1}: read region 'UK' as GBR" in res.output
    assert f"row {r1}: read unit 'GPU hours' as gpu_hour" in res.output
    assert f"row {r2}: read region 'Portugal' as PRT" in res.output
    assert f"row {r4}: read unit 'hrs' as gpu_hour" in res.output
    loaded = load_engagement(client)
    acts = loaded.activities.set_index("activity_id")
    assert acts.at["POST-01", "region"] == "GBR" and acts.at["POST-01", "unit"] == "gpu_hour"
    assert any("read region 'UK' as GBR" in w for w in loaded.warnings)  # into results' warnings


def test_hours_are_not_read_as_gpu_hours_where_that_is_ambiguous(client):
    _edit(client, {"IDE-01": {"unit": "hours"}})  # llm_api counts requests: hours mean nothing here
    with pytest.raises(ValidationError) as exc:
        load_engagement(client)
    assert exc.value.problems[0].column == "unit"


def test_model_names_as_exports_spell_them_and_engagement_aliases(client):
    _edit(client, {"IDE-01": {"model": "openai/gpt-4o"}, "IDE-02": {"model": "prod-mini-eastus"}})
    settings = yaml.safe_load((client / "engagement.yaml").read_text())
    settings["model_aliases"] = {"prod-mini-eastus": "openai/gpt-4o-mini"}
    (client / "engagement.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    loaded = load_engagement(client)
    acts = loaded.activities.set_index("activity_id")
    assert acts.at["IDE-01", "model"] == "gpt-4o" and acts.at["IDE-02", "model"] == "gpt-4o-mini"
    assert any("read model 'prod-mini-eastus' as gpt-4o-mini" in w and "model_aliases" in w for w in loaded.warnings)


def test_an_unknown_model_gets_a_family_suggestion_and_the_size_class_choice(client):
    _edit(client, {"IDE-03": {"model": "claude-3-5-sonnet"}})
    with pytest.raises(ValidationError) as exc:
        load_engagement(client)
    hint = exc.value.problems[0].hint
    assert hint.startswith("did you mean 'claude-sonnet-4-5'") and "70B" in hint


def test_a_size_class_is_a_recorded_fallback_with_lower_data_quality(client):
    _edit(client, {"IDE-03": {"model": "70B", "data_quality": ""}})
    loaded = load_engagement(client)
    acts = loaded.activities.set_index("activity_id")
    assert acts.at["IDE-03", "data_quality"] == 4  # llm_api's default 3, one step lower
    assert any("size class '70B'" in w and "data quality lowered to 4" in w for w in loaded.warnings)


def test_video_model_from_provider_and_bare_name(client):
    _edit(client, {"PRE-03": {"model": "veo-3.0"}})
    loaded = load_engagement(client)
    assert loaded.activities.set_index("activity_id").at["PRE-03", "model"] == "google/veo-3.0"


def test_runway_credits_become_seconds_through_the_documented_table(client):
    """Issue 14: Runway credits become seconds (data/runway_credits.csv), said per row with the
    rate's id; a model with no published energy is estimated through its documented proxy at DQ 5."""
    from audit.inventory.estimate import estimate
    from audit.inventory.usage_import.aliases import runway_credit_rate

    turbo, gen45 = runway_credit_rate("gen4_turbo"), runway_credit_rate("gen-4.5")
    _edit(client, {"PRE-03": {"quantity": "500", "unit": "credits", "provider": "runway", "model": "gen4_turbo"},
                   "PRE-02": {"kind": "video_generation", "quantity": "1200", "unit": "Credits", "provider": "",
                              "model": "gen-4.5", "ownership": "", "data_quality": "3", "input_tokens": "",
                              "output_tokens": "", "latency_s": "", "mode": "", "hardware": ""}})
    loaded = load_engagement(client)
    acts = loaded.activities.set_index("activity_id")
    turbo_s = 500 / float(turbo["credits_per_second"])
    gen45_s = 1200 / float(gen45["credits_per_second"])
    assert acts.at["PRE-03", "quantity_base"] == pytest.approx(turbo_s)
    assert acts.at["PRE-02", "quantity_base"] == pytest.approx(gen45_s)
    assert acts.at["PRE-02", "provider"] == "runway"  # credits are Runway's: a blank provider is read as runway
    assert acts.at["PRE-03", "model"] == turbo["ecologits_video_model"] and turbo["energy_model_is_proxy"] == "yes"
    assert acts.at["PRE-03", "data_quality"] == 5 and acts.at["PRE-02", "data_quality"] == 3
    said = [w for w in loaded.warnings if "Runway credits" in w]
    assert len(said) == 2 and any(turbo["id"] in w and "proxy" in w for w in said)
    assert any(gen45["id"] in w and "proxy" not in w for w in said)
    # Same energy per second as the seconds entered directly.
    lines = estimate(loaded).lines.set_index("activity_id")
    per_s = lines.at["PRE-02", "kwh"] / gen45_s
    assert lines.at["PRE-03", "kwh"] == pytest.approx(per_s * turbo_s)


def test_runway_credits_refused_for_another_provider_or_an_unrated_model(client):
    _edit(client, {"PRE-03": {"quantity": "100", "unit": "credits", "provider": "google", "model": "google/veo-3.0"}})
    with pytest.raises(ValidationError) as e:
        load_engagement(client)
    (p,) = e.value.problems
    assert p.column == "unit" and p.row == _row_of(client, "PRE-03") and "Runway" in p.message
    _edit(client, {"PRE-03": {"provider": "runway", "model": "gen-9"}})
    with pytest.raises(ValidationError) as e:
        load_engagement(client)
    (p,) = e.value.problems  # one message: the missing rate, not a second one about the unit or the model
    assert p.column == "model" and "gen-9" in p.message and "gen4_turbo" in p.hint


def test_list_units_shows_the_accepted_spellings():
    out = CliRunner().invoke(app, ["list", "units", "--search", "credit"])
    assert out.exit_code == 0 and "video_generation" in out.output and "credits" in out.output
    out = CliRunner().invoke(app, ["list", "units", "--search", "gpu"])
    assert "gpu hours" in out.output


def test_a_rented_gpu_without_provider_or_region_names_its_grid(client):
    _edit(client, {"POST-04": {"provider": "", "region": ""}})
    loaded = load_engagement(client)
    assert any("rented GPU-hours with no provider or region" in w and "GBR" in w for w in loaded.warnings)


def test_inventory_source_both_files_differ_and_the_pin(client):
    from audit.inventory.workbook import write_intake_workbook

    write_intake_workbook(client / "intake.xlsx", client="x", example_rows=[])
    os.utime(client / "intake.xlsx", (1_000_000_000, 1_000_000_000))  # the CSV is newer
    res = CliRunner().invoke(app, ["validate", str(client)])
    assert res.exit_code == 0 and "hold different activities" in res.output
    assert "activities read from activities.csv" in res.output and "inventory_source" in res.output
    settings = yaml.safe_load((client / "engagement.yaml").read_text())
    settings["inventory_source"] = "activities.csv"
    (client / "engagement.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    os.utime(client / "intake.xlsx", None)  # the workbook is newer now, but the pin wins
    loaded = load_engagement(client)
    assert "(inventory_source in engagement.yaml)" in loaded.warnings[0]
    assert len(loaded.activities) > 28
    settings["inventory_source"] = "intake.xlsx"
    (client / "engagement.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    (client / "intake.xlsx").unlink()
    with pytest.raises(ValidationError) as exc:
        load_engagement(client)
    assert exc.value.problems[0].column == "inventory_source"


def test_intake_workbook_has_mode_and_hardware_dropdowns_and_a_models_sheet(tmp_path):
    from openpyxl import load_workbook

    from audit.inventory.workbook import write_intake_workbook

    wb = load_workbook(write_intake_workbook(tmp_path / "intake.xlsx", client="x"))
    ws = wb["Activities"]
    header = [c.value for c in ws[1]]
    covered = {str(dv.sqref).split(":")[0] for dv in ws.data_validations.dataValidation}
    for col in ("mode", "hardware"):
        letter = ws.cell(row=1, column=header.index(col) + 1).column_letter
        assert f"{letter}2" in covered, col
    models = wb["Models"]
    assert models.auto_filter.ref and [c.value for c in models[1]][:3] == ["provider", "model", "parameters"]
    names = {r[1] for r in models.iter_rows(min_row=2, values_only=True)}
    assert {"gpt-4o", "claude-sonnet-4-5"} <= names
