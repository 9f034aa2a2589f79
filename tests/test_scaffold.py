"""`audit new`'s folder (audit.orchestration.scaffold), called directly. (The command, and names
that try to leave --dir: test_cli_engagement.)"""
from __future__ import annotations

import pytest

from audit.core.exceptions import InputError
from audit.core.models import EXAMPLE_ROWS
from audit.core.paths import ACTIVITIES_FILE, ENGAGEMENT_FILE
from audit.inventory.intake import load_engagement, read_engagement_yaml
from audit.orchestration.scaffold import scaffold_engagement


def test_the_scaffold_loads_with_its_example_rows(tmp_path):
    folder = scaffold_engagement("Acme Studios", tmp_path)
    assert folder.parent == tmp_path and {p.name for p in folder.iterdir()} >= {ENGAGEMENT_FILE, ACTIVITIES_FILE,
                                                                                "intake.xlsx"}
    loaded = load_engagement(folder)
    assert loaded.engagement.client == "Acme Studios"
    assert list(loaded.activities["activity_id"]) == [r["activity_id"] for r in EXAMPLE_ROWS]


def test_a_hostile_client_name_stays_data(tmp_path):
    name = 'Acme: "Studios"\n# stages: []\n{{7*7}} =HYPERLINK("x")'
    folder = scaffold_engagement(name, tmp_path)
    assert read_engagement_yaml(folder / ENGAGEMENT_FILE).client == name  # YAML-quoted, not parsed as keys


def test_an_empty_folder_is_reused_and_a_filled_one_refused(tmp_path):
    (tmp_path / "Acme").mkdir()
    folder = scaffold_engagement("Acme", tmp_path)
    with pytest.raises(InputError, match="already exists and is not empty"):
        scaffold_engagement("Acme", tmp_path)
    assert (folder / ENGAGEMENT_FILE).is_file()
    with pytest.raises(InputError, match="give the client's name"):
        scaffold_engagement("   ", tmp_path)
