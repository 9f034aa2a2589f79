"""Issue 17 end to end: each bomb, look-alike, containment break and traceback of the red-team
pass, met through the CLI as a user would. Every case: exit 2, no traceback, a message naming
the file (and row and column where there is one) and the problem, in bounded time and memory."""
from __future__ import annotations

import errno
import os
import time
import tracemalloc
from pathlib import Path

import pytest
from typer.testing import CliRunner

from audit.cli import app
from audit.core.paths import ACTIVITIES_FILE, ENGAGEMENT_FILE
from tests.helpers import activity, copy_sample, write_engagement
from tests.test_guards_xlsx import handmade_xlsx

MAX_MESSAGE = 4_000  # characters: a located message, never an echo of the input


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner()


def refused(runner, *args, seconds: float = 20.0, peak_mb: float = 300.0) -> str:
    """Invoke the CLI; assert exit 2, no traceback, a bounded message, time and Python memory."""
    tracemalloc.start()
    start = time.perf_counter()
    res = runner.invoke(app, [str(a) for a in args], prog_name="audit")
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    out = res.output
    assert res.exit_code == 2, (res.exit_code, out[:2000], res.exception)
    assert "Traceback" not in out
    assert not isinstance(res.exception, Exception) or isinstance(res.exception, SystemExit)
    assert len(out) < MAX_MESSAGE, len(out)
    assert elapsed < seconds, elapsed
    assert peak / 2**20 < peak_mb, peak / 2**20
    return out


def accepted(runner, *args) -> str:
    res = runner.invoke(app, [str(a) for a in args], prog_name="audit")
    assert res.exit_code == 0, res.output[:2000]
    return res.output


# --- engagement.yaml ---------------------------------------------------------------------------

def yaml_engagement(tmp_path: Path, text: str) -> Path:
    folder = write_engagement(tmp_path, [activity()])
    (folder / ENGAGEMENT_FILE).write_text(text, encoding="utf-8")
    return folder


def test_yaml_alias_bomb_is_refused_with_a_short_message(runner, tmp_path):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, "
              f"*a{i - 1}]" for i in range(1, 10)]
    out = refused(runner, "validate", yaml_engagement(tmp_path, "client: X\n" + "\n".join(lines) + "\n"))
    assert ENGAGEMENT_FILE in out and "alias" in out.lower()


def test_yaml_duplicate_key_is_named_with_its_line(runner, tmp_path):
    folder = write_engagement(tmp_path, [activity()])
    text = (folder / ENGAGEMENT_FILE).read_text(encoding="utf-8")
    out = refused(runner, "validate", yaml_engagement(tmp_path, text + "client: Someone Else\n"))
    assert ENGAGEMENT_FILE in out and "client" in out and "line" in out


def test_yaml_thousand_nested_brackets(runner, tmp_path):
    out = refused(runner, "validate", yaml_engagement(tmp_path, "client: " + "[" * 1000 + "]" * 1000 + "\n"))
    assert ENGAGEMENT_FILE in out and "nested" in out


# --- activities: bombs, look-alikes, numbers --------------------------------------------------

def test_intake_xlsx_of_four_million_rows_is_refused_quickly(runner, tmp_path):
    folder = write_engagement(tmp_path, [activity()])
    (folder / ACTIVITIES_FILE).unlink()
    row = b'<row><c t="inlineStr"><is><t>x</t></is></c></row>'
    handmade_xlsx(folder / "intake.xlsx", row * 4_000_000)
    out = refused(runner, "validate", folder)
    assert "intake.xlsx" in out


@pytest.mark.parametrize(("lookalike", "named"), [
    ("A\u200d1", "ZERO WIDTH JOINER"), ("A\u200b1", "ZERO WIDTH SPACE"), ("A\u202e1", "RIGHT-TO-LEFT OVERRIDE"),
    ("A\x001", "NUL"), ("A\u00ad1", "SOFT HYPHEN"), ("\uff211", "FULLWIDTH"), ("\u04101", "CYRILLIC"),
])
def test_lookalike_ids_are_refused_naming_the_character(runner, tmp_path, lookalike, named):
    folder = write_engagement(tmp_path, [activity(activity_id="A1"), activity(activity_id=lookalike)])
    out = refused(runner, "validate", folder)
    assert ACTIVITIES_FILE in out and "row 3" in out and named in out
    assert "activity_id" in out  # a NUL too: located by row and column (intake.nul_problems)


def test_nfd_and_nfc_ids_are_one_id(runner, tmp_path):
    folder = write_engagement(tmp_path, [activity(activity_id="caf\u00e9"), activity(activity_id="cafe\u0301")])
    out = refused(runner, "validate", folder)
    assert "duplicate id" in out and "row 3" in out and "first used on row 2" in out


def test_a_four_megabyte_cell_gives_a_short_message(runner, tmp_path):
    folder = write_engagement(tmp_path, [activity(), activity(activity_id="A2", description="x" * 4_000_000)])
    out = refused(runner, "validate", folder)
    assert "row 3" in out and "description" in out and "4,000,000 characters" in out


def test_the_cell_cap_is_a_flag(runner, tmp_path):
    folder = write_engagement(tmp_path, [activity(description="x" * 50)])
    out = refused(runner, "validate", folder, "--max-cell-chars", 20)
    assert "description" in out and "over the 20 limit" in out
    accepted(runner, "validate", folder, "--max-cell-chars", 100)


@pytest.mark.parametrize("text", ["_5", "5_", "1__0"])
def test_stray_underscores_are_not_numbers(runner, tmp_path, text):
    out = refused(runner, "validate", write_engagement(tmp_path, [activity(quantity=text)]))
    assert "row 2" in out and "quantity" in out and text in out


def test_an_overflowing_quantity_is_refused_at_validate(runner, tmp_path):
    out = refused(runner, "validate", write_engagement(tmp_path, [activity(quantity="1e308", unit="MWh")]))
    assert "row 2" in out and "quantity" in out and "too large" in out


@pytest.mark.parametrize("unit", ["a b " * 12_500, "kWh " * 50_000, "9**9**9 kWh", "kWh**99999999"])
def test_unit_bombs_are_bounded(runner, tmp_path, unit):
    out = refused(runner, "validate", write_engagement(tmp_path, [activity(unit=unit)]))
    assert "row 2" in out and "unit" in out


# --- inputs stay inside the engagement ----------------------------------------------------------

def test_activities_linked_to_dev_zero_is_refused(runner, tmp_path):
    folder = write_engagement(tmp_path, [activity()])
    (folder / ACTIVITIES_FILE).unlink()
    (folder / ACTIVITIES_FILE).symlink_to("/dev/zero")
    out = refused(runner, "validate", folder)
    assert ACTIVITIES_FILE in out


def test_activities_as_a_fifo_does_not_hang(runner, tmp_path):
    folder = write_engagement(tmp_path, [activity()])
    (folder / ACTIVITIES_FILE).unlink()
    os.mkfifo(folder / ACTIVITIES_FILE)
    out = refused(runner, "validate", folder)
    assert ACTIVITIES_FILE in out and "FIFO" in out


def test_a_link_to_another_clients_file_is_refused(runner, tmp_path):
    other = write_engagement(tmp_path, [activity()], name="other-client")
    folder = write_engagement(tmp_path, [activity()], name="client")
    (folder / ACTIVITIES_FILE).unlink()
    (folder / ACTIVITIES_FILE).symlink_to(other / ACTIVITIES_FILE)
    out = refused(runner, "validate", folder)
    assert ACTIVITIES_FILE in out and "outside the engagement folder" in out


def test_the_file_size_cap_is_a_flag(runner, tmp_path):
    folder = write_engagement(tmp_path, [activity(description="x" * 2_000)])
    out = refused(runner, "validate", folder, "--max-input-mb", 0.001)
    assert ACTIVITIES_FILE in out and "--max-input-mb" in out
    accepted(runner, "validate", folder, "--max-input-mb", 1)


LOG_HEADER = "timestamp,provider,model,input_tokens,output_tokens,latency_s,stage,region\n"
LOG_ROW = "2025-03-01T02:50:06Z,openai,gpt-4o-mini,618,148,2.266,Delivery,\n"


def log_engagement(tmp_path: Path, usage_logs: list[str], log: str | bytes | None = LOG_HEADER + LOG_ROW) -> Path:
    folder = write_engagement(tmp_path, [activity()], usage_logs=usage_logs)
    (folder / "usage").mkdir()
    if log is not None:
        path = folder / "usage" / "log.csv"
        path.write_bytes(log if isinstance(log, bytes) else log.encode("utf-8"))
    return folder


def requests_counted(output: str) -> int:
    line = next(ln for ln in output.splitlines() if "requests in" in ln)
    return int(line.split("warning: ", 1)[-1].split(":", 1)[1].split("requests")[0].strip().replace(",", ""))


def test_a_symlinked_log_is_counted_once_and_said_so(runner, tmp_path):
    folder = log_engagement(tmp_path, ["usage"])
    (folder / "usage" / "again.csv").symlink_to(folder / "usage" / "log.csv")
    os.link(folder / "usage" / "log.csv", folder / "usage" / "hard.csv")
    out = accepted(runner, "validate", folder)
    assert requests_counted(out) == 1
    assert "counted once" in out


def test_link_loops_with_double_star_end_and_count_once(runner, tmp_path):
    folder = log_engagement(tmp_path, ["usage/**/*.csv"])
    (folder / "usage" / "loop").symlink_to(folder / "usage")
    (folder / "usage" / "loop2").symlink_to(folder / "usage" / "loop")
    start = time.perf_counter()
    out = accepted(runner, "validate", folder)
    assert time.perf_counter() - start < 10
    assert requests_counted(out) == 1
    assert "not followed" in out


def test_usage_logs_linked_to_root_is_refused(runner, tmp_path):
    folder = log_engagement(tmp_path, ["shared"], log=None)
    (folder / "shared").symlink_to("/")
    out = refused(runner, "validate", folder)
    assert "shared" in out and "outside the engagement folder" in out


@pytest.mark.parametrize(("log", "says"), [
    (b"", "empty"),
    (LOG_HEADER.encode(), "header"),
    ((LOG_HEADER + LOG_ROW).encode("utf-16-le"), "UTF-16"),
])
def test_unreadable_logs_are_named(runner, tmp_path, log, says):
    folder = log_engagement(tmp_path, ["usage/log.csv"], log=log)
    out = refused(runner, "validate", folder)
    assert "log.csv" in out and says in out
    assert "\x00" not in out


@pytest.mark.parametrize("year", ["9999", "1600", "2262"])
def test_out_of_range_timestamps_are_located(runner, tmp_path, year):
    folder = log_engagement(tmp_path, ["usage/log.csv"], log=LOG_HEADER + LOG_ROW.replace("2025", year, 1))
    out = refused(runner, "validate", folder)
    assert "log.csv" in out and "row 2" in out and "timestamp" in out and year in out


# --- runs: kernel and disk ------------------------------------------------------------------------

def test_a_kernel_that_cannot_start_is_a_message(runner, tmp_path, capfd):
    sample = copy_sample(tmp_path)
    out = refused(runner, "run", sample, "--out", tmp_path / "out", "--kernel", "no-such-kernel", "--no-pdf",
                  seconds=60, peak_mb=2_000)
    assert "no-such-kernel" in out and "could not be started" in out
    assert not (tmp_path / "out").exists()


def test_a_full_disk_leaves_no_half_written_output(runner, tmp_path, monkeypatch):
    log = tmp_path / "log.csv"
    log.write_text(LOG_HEADER + LOG_ROW, encoding="utf-8")
    target = tmp_path / "usage_activities.csv"
    target.write_text("the previous file\n", encoding="utf-8")

    def no_space(src, dst):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(dst))

    monkeypatch.setattr(os, "replace", no_space)
    out = refused(runner, "estimate-usage", log, "--activities", target)
    monkeypatch.undo()
    assert "No space left on device" in out
    assert target.read_text(encoding="utf-8") == "the previous file\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.csv", "usage_activities.csv"]


@pytest.fixture(autouse=True)
def _no_leftover_env(monkeypatch):
    """--max-input-mb / --max-cell-chars set the environment for child processes: undo it."""
    for name in ("AUDIT_MAX_INPUT_BYTES", "AUDIT_MAX_CELL_CHARS"):
        monkeypatch.delenv(name, raising=False)
    yield
    for name in ("AUDIT_MAX_INPUT_BYTES", "AUDIT_MAX_CELL_CHARS"):
        os.environ.pop(name, None)



def test_a_full_disk_during_a_run_keeps_the_previous_report(runner, tmp_path, monkeypatch):
    import audit.orchestration.runner as runner_module  # noqa: PLC0415 - patched for this test only

    sample = copy_sample(tmp_path)
    out = tmp_path / "out"

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(out))

    monkeypatch.setattr(runner_module, "run_notebooks", disk_full)
    # The whole audit is computed before the notebooks fail, under tracemalloc (2-3x slower): the
    # bound is for a hang, not a speed check (that is benchmarks/bench_run.py).
    text = refused(runner, "run", sample, "--out", out, "--no-pdf", seconds=240, peak_mb=2_000)
    assert "No space left on device" in text and "nothing was written there" in text
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.tmp-")]
