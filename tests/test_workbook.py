"""Intake workbook: template, round trip with the CSV route, and what clients get wrong."""
import shutil
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook

from audit.core.exceptions import ValidationError
from audit.inventory.intake import load_engagement
from audit.core.paths import SAMPLE_ENGAGEMENT_DIR
from tests.helpers import SAMPLE_ACTIVITY_COUNT, SAMPLE_USAGE_ACTIVITIES
from audit.inventory.workbook import ACTIVITIES_SHEET, read_intake_workbook, write_intake_workbook


@pytest.fixture()
def sample_rows():
    df = pd.read_csv(SAMPLE_ENGAGEMENT_DIR / "activities.csv", dtype=str, keep_default_na=False)
    return df.to_dict(orient="records")


def _xlsx_engagement(tmp_path: Path, rows) -> Path:
    folder = tmp_path / "eng"
    folder.mkdir()
    shutil.copy(SAMPLE_ENGAGEMENT_DIR / "engagement.yaml", folder / "engagement.yaml")
    shutil.copytree(SAMPLE_ENGAGEMENT_DIR / "usage", folder / "usage")  # the sample's usage log
    write_intake_workbook(folder / "intake.xlsx", client="Test", example_rows=rows)
    return folder


def test_template_has_sheets_dropdowns_and_examples(tmp_path):
    path = write_intake_workbook(tmp_path / "intake.xlsx", client="Acme")
    wb = load_workbook(path)
    assert wb.sheetnames == ["Instructions", "Lists", ACTIVITIES_SHEET, "Models"]
    ws = wb[ACTIVITIES_SHEET]
    validated = {str(dv.sqref).split(":")[0][0] for dv in ws.data_validations.dataValidation}
    assert len(ws.data_validations.dataValidation) == 6 and validated  # kind, unit, ownership, region, mode, hardware
    assert ws["A2"].value == "IDE-01"
    assert wb["Lists"].sheet_state == "hidden"


def test_round_trip_gives_identical_activities(tmp_path, sample_rows):
    """Write the template, fill it programmatically, read it back: same validated activities."""
    folder = _xlsx_engagement(tmp_path, sample_rows)
    from_xlsx = load_engagement(folder).activities
    from_csv = load_engagement(SAMPLE_ENGAGEMENT_DIR).activities
    cols = [c for c in from_csv.columns if c != "row_number"]
    pd.testing.assert_frame_equal(from_xlsx[cols].reset_index(drop=True), from_csv[cols].reset_index(drop=True))


def test_hostile_client_name_stays_text(tmp_path):
    path = write_intake_workbook(tmp_path / "intake.xlsx", client='=HYPERLINK("http://x","y")')
    cell = load_workbook(path)["Instructions"]["A2"]
    assert cell.data_type == "s" and cell.value.startswith("Client: =HYPERLINK")


def test_missing_sheet_is_named(tmp_path, sample_rows):
    folder = _xlsx_engagement(tmp_path, sample_rows)
    wb = load_workbook(folder / "intake.xlsx")
    wb[ACTIVITIES_SHEET].title = "Activites"
    wb.save(folder / "intake.xlsx")
    with pytest.raises(ValidationError) as err:
        load_engagement(folder)
    p = err.value.problems[0]
    assert p.sheet == ACTIVITIES_SHEET and "missing" in p.message and "Activites" in p.hint


def test_formula_in_input_cell_is_rejected_with_location(tmp_path, sample_rows):
    folder = _xlsx_engagement(tmp_path, sample_rows)
    wb = load_workbook(folder / "intake.xlsx")
    wb[ACTIVITIES_SHEET]["E3"] = "=1000*18"  # quantity of the second activity
    wb.save(folder / "intake.xlsx")
    with pytest.raises(ValidationError) as err:
        load_engagement(folder)
    (p,) = err.value.problems
    assert (p.sheet, p.row, p.column) == (ACTIVITIES_SHEET, 3, "quantity") and "formula" in p.message


def test_merged_cells_are_rejected_with_location(tmp_path, sample_rows):
    folder = _xlsx_engagement(tmp_path, sample_rows)
    wb = load_workbook(folder / "intake.xlsx")
    wb[ACTIVITIES_SHEET].merge_cells("B4:B6")
    wb.save(folder / "intake.xlsx")
    with pytest.raises(ValidationError) as err:
        load_engagement(folder)
    (p,) = err.value.problems
    assert p.row == 4 and p.column == "stage" and "merged" in p.message


def test_blank_rows_keep_real_row_numbers(tmp_path, sample_rows):
    rows = sample_rows[:3] + [{}] + [dict(sample_rows[3], quantity="-5")]
    folder = _xlsx_engagement(tmp_path, rows)
    df, _ = read_intake_workbook(folder / "intake.xlsx")
    assert list(df.index) == [2, 3, 4, 6]
    with pytest.raises(ValidationError) as err:
        load_engagement(folder)
    assert [(p.row, p.column) for p in err.value.problems] == [(6, "quantity")]


def test_not_a_workbook(tmp_path):
    folder = tmp_path / "eng"
    folder.mkdir()
    shutil.copy(SAMPLE_ENGAGEMENT_DIR / "engagement.yaml", folder)
    (folder / "intake.xlsx").write_text("not a zip")
    with pytest.raises(ValidationError, match="could not be opened"):
        load_engagement(folder)


def test_with_both_files_the_more_recently_changed_one_is_used(tmp_path, sample_rows):
    import os

    folder = _xlsx_engagement(tmp_path, sample_rows[:2])
    (folder / "activities.csv").write_text((SAMPLE_ENGAGEMENT_DIR / "activities.csv").read_text())
    os.utime(folder / "intake.xlsx", (1_000_000_000, 1_000_000_000))  # the CSV is newer
    loaded = load_engagement(folder)
    assert len(loaded.activities) == SAMPLE_ACTIVITY_COUNT and "read from activities.csv" in loaded.warnings[0]
    os.utime(folder / "intake.xlsx", None)  # now the workbook is newer
    os.utime(folder / "activities.csv", (1_000_000_000, 1_000_000_000))
    loaded = load_engagement(folder)
    assert len(loaded.activities) == 2 + SAMPLE_USAGE_ACTIVITIES and "read from intake.xlsx" in loaded.warnings[0]
