"""Control characters in activity text (issue 17): a NUL or another control character is located
by file, row and column, in the id and in every other text column."""
from __future__ import annotations

import pytest

from audit.core.exceptions import ValidationError
from audit.core.models import ALL_COLUMNS, NUMERIC_COLUMNS
from audit.inventory.intake import load_engagement, nul_problems
from tests.helpers import activity, write_engagement

TEXT_COLUMNS = [c for c in ALL_COLUMNS if c not in NUMERIC_COLUMNS]


def _problems(folder) -> list:
    with pytest.raises(ValidationError) as err:
        load_engagement(folder)
    return err.value.problems


@pytest.mark.parametrize("column", ["activity_id", "stage", "description", "notes", "unit", "region", "model"])
def test_a_nul_is_located_by_row_and_column(tmp_path, column):
    row = activity(activity_id="A2", provider="openai", model="gpt-4o-mini", region="GBR", notes="n")
    row[column] = row[column][:1] + "\x00" + row[column][1:]
    folder = write_engagement(tmp_path, [activity(activity_id="A1"), row])
    problems = _problems(folder)
    assert [(p.row, p.column) for p in problems] == [(3, column)]
    assert "NUL" in problems[0].message and "\x00" not in str(problems[0])


def test_nuls_on_several_rows_are_each_located_and_the_list_is_bounded(tmp_path):
    rows = [activity(activity_id=f"A{i}", stage="Pro\x00duction\x00") for i in range(30)]
    problems = _problems(write_engagement(tmp_path, rows))
    assert [(p.row, p.column) for p in problems] == [(r, "stage") for r in range(2, 12)]  # one per row, 10 rows


def test_a_nul_in_the_header_is_named_as_such(tmp_path):
    folder = write_engagement(tmp_path, [activity()])
    path = folder / "activities.csv"
    path.write_bytes(path.read_bytes().replace(b"stage", b"sta\x00ge", 1))
    [problem] = _problems(folder)
    assert problem.row == 1 and "header" in problem.message and "'stage'" in problem.message


def test_utf16_is_still_named_as_an_encoding_not_as_nuls():
    text = "activity_id,stage\nA1,Production\n".encode("utf-16-le")
    assert nul_problems(text, "x.csv") == []


@pytest.mark.parametrize("column", [c for c in TEXT_COLUMNS if c != "activity_id"])
@pytest.mark.parametrize("char,name", [("\x07", "BEL"), ("\x1b", "escape"), ("\x85", "U+0085")])
def test_control_characters_in_other_text_columns_are_located(tmp_path, column, char, name):
    row = activity(activity_id="A2")
    row[column] = "x" + char + "y"
    problems = _problems(write_engagement(tmp_path, [activity(activity_id="A1"), row]))
    named = [p for p in problems if "control character" in p.message]
    assert [(p.row, p.column) for p in named] == [(3, column)]
    assert name in named[0].message and char not in str(named[0])


def test_tabs_and_line_breaks_are_allowed_in_free_text_only(tmp_path):
    ok = write_engagement(tmp_path / "ok", [activity(description="two\tparts", notes="line one\nline two")])
    assert len(load_engagement(ok).activities) == 1
    bad = write_engagement(tmp_path / "bad", [activity(stage="Pro\nduction")])
    [problem] = [p for p in _problems(bad) if "control character" in p.message]
    assert problem.column == "stage" and "line feed" in problem.message
