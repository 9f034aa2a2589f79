"""The intake.xlsx caps of audit.core.xlsxguard are overridable (issue 17), like --max-input-mb:
a flag on the command line, an environment variable for kernels and batch children."""
from __future__ import annotations

import os

import pytest
from typer.testing import CliRunner

from audit.cli import app
from audit.core.exceptions import ValidationError
from audit.core.xlsxguard import XLSX_LIMITS, check_xlsx, xlsx_limits
from audit.inventory.workbook import write_intake_workbook
from tests.helpers import activity, write_engagement

ENV = {lim.keyword: lim.env for lim in XLSX_LIMITS}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    """Each variable registered with monkeypatch first, so whatever a CLI run sets is undone."""
    for lim in XLSX_LIMITS:
        monkeypatch.setenv(lim.env, "")


def _rows(n: int) -> list[dict]:
    return [activity(activity_id=f"A{i}") for i in range(n)]


def _workbook(tmp_path, n: int = 5):
    folder = write_engagement(tmp_path, _rows(1))
    (folder / "activities.csv").unlink()
    write_intake_workbook(folder / "intake.xlsx", example_rows=_rows(n))
    return folder


def test_the_defaults_hold_without_an_override():
    assert xlsx_limits() == {lim.keyword: lim.default for lim in XLSX_LIMITS}


@pytest.mark.parametrize("raw", ["0", "-5", "lots", "1e999", "2.5"])
def test_a_bad_override_leaves_the_default(monkeypatch, raw):
    monkeypatch.setenv(ENV["max_rows"], raw)
    assert xlsx_limits()["max_rows"] == 100_000


def test_the_environment_sets_each_cap(monkeypatch, tmp_path):
    monkeypatch.setenv(ENV["max_rows"], "1_000_000")
    monkeypatch.setenv(ENV["max_ratio"], "250.5")
    limits = xlsx_limits()
    assert limits["max_rows"] == 1_000_000 and limits["max_ratio"] == 250.5
    path = _workbook(tmp_path) / "intake.xlsx"
    monkeypatch.setenv(ENV["max_rows"], "3")
    with pytest.raises(ValidationError) as err:
        check_xlsx(path)
    [p] = err.value.problems
    assert "3-row limit" in p.message or "more than 3 rows" in p.message
    assert "--max-xlsx-rows" in p.hint and ENV["max_rows"] in p.hint
    monkeypatch.setenv(ENV["max_entries"], "2")
    with pytest.raises(ValidationError, match="limit 2") as err:
        check_xlsx(path)
    assert "--max-xlsx-parts" in err.value.problems[0].hint
    monkeypatch.setenv(ENV["max_entries"], "")
    monkeypatch.setenv(ENV["max_uncompressed_bytes"], "1000")
    with pytest.raises(ValidationError, match="1,000-byte limit") as err:
        check_xlsx(path)
    assert "--max-xlsx-mb" in err.value.problems[0].hint


def test_a_keyword_still_wins_over_the_environment(monkeypatch, tmp_path):
    path = _workbook(tmp_path) / "intake.xlsx"
    monkeypatch.setenv(ENV["max_rows"], "3")
    assert check_xlsx(path, max_rows=50).rows is not None


def test_the_flags_reach_validate_and_the_environment(tmp_path):
    folder = _workbook(tmp_path, n=5)
    runner = CliRunner()
    out = runner.invoke(app, ["--max-xlsx-rows", "3", "validate", str(folder)])
    assert out.exit_code == 2, out.output
    assert "intake.xlsx" in out.output and "--max-xlsx-rows" in out.output and "Traceback" not in out.output
    assert os.environ[ENV["max_rows"]] == "3"  # for a kernel or batch child started from here
    ok = runner.invoke(app, ["--max-xlsx-rows", "50", "validate", str(folder)])
    assert ok.exit_code == 0, ok.output
    out = runner.invoke(app, ["--max-xlsx-mb", "0.001", "validate", str(folder)])
    assert out.exit_code == 2 and "-byte limit" in out.output
    assert os.environ[ENV["max_uncompressed_bytes"]] == str(int(0.001 * (1 << 20)))


def test_a_bad_flag_value_is_a_usage_error(tmp_path):
    out = CliRunner().invoke(app, ["--max-xlsx-rows", "0", "validate", str(tmp_path)])
    assert out.exit_code == 2 and "Traceback" not in out.output


def test_xlsx_caps_also_after_the_command(tmp_path, monkeypatch):
    """validate/estimate/run/batch take --max-xlsx-rows/--max-xlsx-mb after the command, like --max-input-mb."""
    import os

    from typer.testing import CliRunner

    from audit.cli import app
    from audit.core.xlsxguard import XLSX_LIMITS

    env = {lim.env for lim in XLSX_LIMITS}
    for name in env:
        monkeypatch.delenv(name, raising=False)
    for command in ("run", "batch", "validate", "estimate"):
        out = CliRunner().invoke(app, [command, "--help"], terminal_width=200)
        assert "--max-xlsx-rows" in out.output and "--max-xlsx-mb" in out.output
    missing = tmp_path / "nowhere"
    CliRunner().invoke(app, ["validate", str(missing), "--max-xlsx-rows", "7"])
    assert "7" in {os.environ.get(n) for n in env}
