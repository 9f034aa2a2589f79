"""Hostile client text stays data, end to end through a real `audit run`."""
import json
import shutil

import pytest
import yaml
from openpyxl import load_workbook

from audit.orchestration import runner
from audit.core.paths import SAMPLE_ENGAGEMENT_DIR
from tests.helpers import read_rows, rewrite_rows
from tests.notebook_factory import write_notebooks

pytestmark = pytest.mark.slow

CLIENT = '=HYPERLINK("http://evil.example","click") "quoted"\n__import__("os").system("touch PWNED") {{ 7*7 }}'
PAYLOADS = {
    "stage": "=cmd|' /C calc'!A0",
    "description": '<script>alert("x")</script><img src=x onerror=alert(1)>',
    "notes": "+SUM(1,2)",
    "activity_id": "@evil-1",
}


def test_hostile_strings_stay_data_in_every_deliverable(tmp_path, monkeypatch):
    eng = shutil.copytree(SAMPLE_ENGAGEMENT_DIR, tmp_path / "eng")
    settings = yaml.safe_load((eng / "engagement.yaml").read_text())
    settings["client"] = CLIENT
    settings["assumptions"].append("-2+3 is an assumption")
    settings["stages"].append(PAYLOADS["stage"])
    (eng / "engagement.yaml").write_text(yaml.safe_dump(settings, allow_unicode=True))
    rows = read_rows(eng / "activities.csv")
    rows[0].update(PAYLOADS)
    rewrite_rows(eng / "activities.csv", rows)
    monkeypatch.setattr(runner, "NOTEBOOKS_DIR", write_notebooks(tmp_path / "nb"))
    out = tmp_path / "out"
    runner.run_engagement(eng, out, pdf=False)

    data = json.loads((out / "results.json").read_text())
    assert data["engagement"]["client"] == CLIENT
    assert "@evil-1" in {a["activity_id"] for a in data["activities"]}

    wb = load_workbook(out / "report.xlsx")
    seen = set()
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                if isinstance(c.value, str):
                    for name, payload in [("client", CLIENT), *PAYLOADS.items(), ("assumption", "-2+3")]:
                        if payload in c.value:
                            seen.add(name)
                            assert c.data_type == "s", f"{ws.title}!{c.coordinate} would be a formula: {c.value!r}"
                if c.data_type == "f":
                    assert not any(p in str(c.value) for p in [*PAYLOADS.values(), "HYPERLINK", "cmd|"]), \
                        f"client text inside a formula at {ws.title}!{c.coordinate}: {c.value!r}"
    assert {"client", "stage", "description", "activity_id", "assumption"} <= seen

    html = (out / "report.html").read_text()
    assert "<script>alert" not in html and "<img src=x onerror" not in html
    assert "&lt;script&gt;alert" in html
    assert "{{ 7*7 }}" in html  # shown literally, never evaluated by the template
    assert not list(tmp_path.rglob("PWNED")) and not (runner.Path.cwd() / "PWNED").exists()
