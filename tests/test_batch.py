"""`audit batch`: isolation, summary, resume. Real child processes and kernels."""
import csv
import json
import shutil
from pathlib import Path

import openpyxl
import pytest
from typer.testing import CliRunner

from audit.orchestration import footprint
from audit.orchestration.batch import output_names, plan_batch, run_batch, summary_labels
from audit.cli import app
from audit.core.paths import SAMPLE_ENGAGEMENT_DIR, read_marker
from tests.notebook_factory import write_notebooks

pytestmark = pytest.mark.slow


def _clients(root: Path, names):
    for n in names:
        shutil.copytree(SAMPLE_ENGAGEMENT_DIR, root / n)
    return [root / n for n in names]


def _summary(root: Path):
    with (root / "batch_summary.csv").open() as f:
        return {r["engagement"]: r for r in csv.DictReader(f)}


def test_one_bad_client_never_stops_the_others(tmp_path, monkeypatch):
    clients = _clients(tmp_path / "clients", ["good-a", "raises", "dies", "good-b"])
    (clients[0].parent / "bad-input").mkdir()
    (clients[0].parent / "bad-input" / "engagement.yaml").write_text("client: [unclosed\n")
    nb = write_notebooks(tmp_path / "nb", fault="raise", fault_when="raises")
    nb2 = write_notebooks(tmp_path / "nb2", fault="die", fault_when="dies", fault_in="01_discovery.ipynb")
    # Both faults in one notebook set: 01 kills the kernel for "dies", 02 raises for "raises".
    shutil.copy(nb2 / "01_discovery.ipynb", nb / "01_discovery.ipynb")
    monkeypatch.setenv("AUDIT_NOTEBOOKS_DIR", str(nb))
    out = tmp_path / "out"
    outcomes = run_batch([*clients, clients[0].parent / "bad-input"], out, jobs=2, extra_args=["--no-pdf"])
    status = {o.engagement: o.status for o in outcomes}
    assert status == {"good-a": "ok", "raises": "failed", "dies": "failed", "good-b": "ok", "bad-input": "failed"}
    rows = _summary(out)
    assert list(rows) == ["good-a", "raises", "dies", "good-b", "bad-input"]
    assert "boom in notebook" in rows["raises"]["error"]
    assert "Dead" in rows["dies"]["error"] or "died" in rows["dies"]["error"].lower()
    assert "engagement.yaml" in rows["bad-input"]["error"] and "Traceback" not in rows["bad-input"]["error"]
    assert (out / "good-a" / "report.html").exists() and (out / "good-b" / "results.json").exists()
    assert (out / "raises.failed" / "notebooks" / "02_scope_mapping.ipynb").exists()
    assert float(rows["good-a"]["seconds"]) > 0
    # Issue 13: each run writes its Impact Framework manifest; the batch root gets the portfolio,
    # one row per engagement with results, recorded in the root's marker.
    assert (out / "good-a" / "manifest.if.yaml").exists()
    portfolio = openpyxl.load_workbook(out / "portfolio.xlsx").active
    assert [r[0].value for r in portfolio.iter_rows(min_row=2)] == ["good-a", "good-b"]
    assert {"portfolio.html", "portfolio.xlsx"} <= set(read_marker(out)["entries"])
    # The parent probed the CPU once and handed the model to every child's footprint tracker.
    manifest = json.loads((out / "good-a" / "manifest.json").read_text())
    assert manifest["footprint"]["cpu_model"] == footprint.cpu_model() and "error" not in manifest["footprint"]


def test_hang_is_killed_at_the_timeout_and_resume_reruns_only_failures(tmp_path, monkeypatch):
    clients = _clients(tmp_path / "clients", ["fine", "hangs"])
    monkeypatch.setenv("AUDIT_NOTEBOOKS_DIR", str(write_notebooks(tmp_path / "nb", fault="hang", fault_when="hangs")))
    out = tmp_path / "out"
    assert [o.status for o in run_batch(clients[:1], out, extra_args=["--no-pdf"])] == ["ok"]
    first = (out / "fine" / "results.json").stat().st_mtime_ns
    # --resume: "fine" is skipped, the missing "hangs" runs and is killed at the timeout.
    outcomes = run_batch(clients, out, resume=True, timeout_s=8, extra_args=["--no-pdf"])
    assert [o.status for o in outcomes] == ["ok", "failed"]
    assert "timed out after 8 s" in outcomes[1].error
    assert not (out / "hangs" / "results.json").exists()
    # Fixed notebooks, --resume again: only the failure reruns.
    monkeypatch.setenv("AUDIT_NOTEBOOKS_DIR", str(write_notebooks(tmp_path / "nb-fixed")))
    outcomes = run_batch(clients, out, jobs=2, resume=True, extra_args=["--no-pdf"])
    assert [o.status for o in outcomes] == ["ok", "ok"]
    assert (out / "fine" / "results.json").stat().st_mtime_ns == first  # not rerun
    assert (out / "hangs" / "results.json").exists()
    assert [r["status"] for r in _summary(out).values()] == ["ok", "ok"]


def test_cli_batch_exit_status_and_summary(tmp_path):
    """Input errors fail fast in the child (no kernel) and reach the summary as located messages."""
    broken = tmp_path / "clients" / "broken"
    shutil.copytree(SAMPLE_ENGAGEMENT_DIR, broken)
    (broken / "activities.csv").write_text("activity_id,stage,description,kind,quantity,unit\nA,s,d,llm_api,-1,request\n")
    not_an_engagement = tmp_path / "clients" / "empty"
    not_an_engagement.mkdir()
    result = CliRunner().invoke(app, ["batch", str(broken), str(not_an_engagement), "--out", str(tmp_path / "o"),
                                      "--jobs", "2", "--no-pdf"])
    assert result.exit_code == 1
    rows = _summary(tmp_path / "o")
    assert [r["status"] for r in rows.values()] == ["failed", "failed"]
    assert "row 2" in rows["broken"]["error"] and "quantity" in rows["broken"]["error"]
    assert "Traceback" not in rows["broken"]["error"]
    assert "not an engagement folder" in rows["empty"]["error"]
    assert "0 of 2 engagements audited" in result.output


def test_output_names_are_safe_and_unique(tmp_path):
    dirs = [tmp_path / "a" / "Client One", tmp_path / "b" / "Client One", tmp_path / "c" / "..evil"]
    names = output_names(dirs)
    assert list(names.values()) == ["Client-One", "Client-One-2", "evil"]


@pytest.mark.parametrize("folders", [
    ["a/x", "b/x", "c/x-2"], ["c/x-2", "a/x", "b/x"], ["a/X", "b/x"], ["a/x", "b/x-2", "c/x", "d/x-3", "e/x"],
    ["a/batch_summary.csv", "b/x"], ["a/Client One", "b/Client-One", "c/Client_One"],
])
def test_output_names_never_collide(tmp_path, folders):
    """a/x, b/x and c/x-2 once gave two engagements the folder x-2: one report overwrote the other."""
    names = output_names([tmp_path / f for f in folders])
    folded = [n.casefold() for n in names.values()]
    assert len(set(folded)) == len(folders)
    assert "batch_summary.csv" not in folded


def test_summary_rows_name_each_engagement_once_even_when_folder_names_repeat(tmp_path):
    dirs = [tmp_path / "a" / "Client One", tmp_path / "b" / "Client One", tmp_path / "c" / "solo"]
    assert list(summary_labels(dirs).values()) == ["Client One", "Client One-2", "solo"]
    for d in dirs:
        d.mkdir(parents=True)
    _, _, names, labels, outcomes, _ = plan_batch(dirs, tmp_path / "out", resume=False)
    assert [outcomes[d].engagement for d in dirs] == ["Client One", "Client One-2", "solo"]  # no engagement.yaml


def test_out_under_a_file_is_an_input_error(tmp_path):
    (tmp_path / "afile").write_text("x")
    result = CliRunner().invoke(app, ["batch", str(SAMPLE_ENGAGEMENT_DIR), "--out", str(tmp_path / "afile" / "x")])
    assert result.exit_code == 2 and "cannot create this folder" in result.stderr
    assert "Traceback" not in result.output


def test_dask_local_and_a_scheduler_together_are_refused(tmp_path):
    result = CliRunner().invoke(app, ["batch", str(SAMPLE_ENGAGEMENT_DIR), "--out", str(tmp_path / "o"),
                                      "--dask", "local", "--scheduler", "tcp://127.0.0.1:1"])
    assert result.exit_code == 2 and "not both" in result.stderr
    bad = CliRunner().invoke(app, ["batch", str(SAMPLE_ENGAGEMENT_DIR), "--out", str(tmp_path / "o"), "--dask", "foo"])
    assert bad.exit_code == 2


def test_the_summary_keeps_the_error_from_its_header_on():
    from audit.orchestration.batch import MAX_ERROR_CHARS, child_error

    stderr = "\n".join(["SomeWarning: noise from a library", "error in input: 16 problems found:"]
                       + [f"  - activities.csv, row {i}, column 'kind': unknown kind" for i in range(2, 18)])
    message = child_error(stderr, 2)
    assert message.startswith("error in input: 16 problems found:") and "row 2," in message and "row 17," in message
    assert "SomeWarning" not in message
    long = child_error("error: x\n" + "\n".join("y" * 100 for _ in range(100)), 1)
    assert len(long) <= MAX_ERROR_CHARS + 100 and "more lines" in long
    assert child_error("", 3) == "exit status 3"


def test_warm_worker_runs_each_engagement_in_a_fresh_child_of_its_own(tmp_path):
    """Issue 16: one warm worker per job slot forks a child per engagement; the worker stays
    (its imports are paid once), every engagement gets a new process, and a failing one leaves
    the worker ready for the next with its error in the summary's words (no traceback)."""
    from audit.orchestration.batch import WarmWorker, warm_workers_available

    if not warm_workers_available():
        pytest.skip("no fork on this platform")
    good = _clients(tmp_path / "clients", ["good"])[0]
    broken = tmp_path / "clients" / "broken"
    shutil.copytree(SAMPLE_ENGAGEMENT_DIR, broken)
    (broken / "activities.csv").write_text("activity_id,stage,description,kind,quantity,unit\nA,s,d,llm_api,-1,request\n")
    worker = WarmWorker()
    try:
        worker.start()
        first = worker.run(broken, tmp_path / "out" / "broken", 300, ["--fast", "--no-pdf"], label="broken")
        worker_pid, broken_pid = worker.proc.pid, worker.last_pid
        second = worker.run(good, tmp_path / "out" / "good", 300, ["--fast", "--no-pdf"], label="good")
        assert worker.proc.pid == worker_pid  # the same warm worker
        assert len({worker_pid, broken_pid, worker.last_pid}) == 3  # a new process per engagement
    finally:
        worker.stop()
    assert first.status == "failed" and "row 2" in first.error and "quantity" in first.error
    assert "Traceback" not in first.error
    assert second.status == "ok" and (tmp_path / "out" / "good" / "results.json").exists()
    reference = json.loads((tmp_path / "out" / "good" / "results.json").read_text())
    assert reference["totals"]["kgco2e"] > 0


def test_cold_children_on_request(tmp_path, monkeypatch):
    """GENAI_AUDIT_COLD_CHILDREN=1: a new interpreter per engagement (run_child), same outcome."""
    from audit.orchestration import batch

    monkeypatch.setenv(batch.COLD_CHILDREN_ENV, "1")
    assert not batch.warm_workers_available()
    calls = []
    real = batch.run_child
    monkeypatch.setattr(batch, "run_child", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    empty = tmp_path / "clients" / "bad"
    empty.mkdir(parents=True)
    (empty / "engagement.yaml").write_text("client: [unclosed\n")
    outcomes = run_batch([empty], tmp_path / "out", extra_args=["--fast", "--no-pdf"])
    assert calls == [empty.resolve()] and outcomes[0].status == "failed" and "engagement.yaml" in outcomes[0].error


def test_a_forked_kernel_shows_the_notebooks_exactly_as_a_launched_kernel(tmp_path):
    """Issue 16: in a batch, each run's kernel is forked from the warm worker
    (orchestration.processes), not started as a new interpreter. The notebooks it executes must
    read the same, cell for cell (pandas' and matplotlib's display settings included), as with
    a launched kernel (GENAI_AUDIT_COLD_KERNELS=1); results.json byte-identical."""
    from audit.orchestration.batch import WarmWorker, warm_workers_available
    from audit.orchestration.processes import COLD_KERNELS_ENV

    if not warm_workers_available():
        pytest.skip("no fork on this platform")
    client = _clients(tmp_path / "clients", ["client"])[0]
    outputs = {}
    for mode, env in (("forked", {}), ("launched", {COLD_KERNELS_ENV: "1"})):
        worker = WarmWorker(env)
        try:
            outcome = worker.run(client, tmp_path / mode, 600, ["--no-pdf"], label=mode)
        finally:
            worker.stop()
        assert outcome.status == "ok", outcome.error
        outputs[mode] = {name: [cell.get("outputs") for cell in json.loads(
            (tmp_path / mode / "notebooks" / name).read_text())["cells"]]
            for name in ("01_discovery.ipynb", "02_scope_mapping.ipynb", "03_feasibility.ipynb")}
    assert outputs["forked"] == outputs["launched"]
    assert sum(len(o or []) for cells in outputs["forked"].values() for o in cells) >= 40  # they did show things
    assert (tmp_path / "forked" / "results.json").read_bytes() == (tmp_path / "launched" / "results.json").read_bytes()
