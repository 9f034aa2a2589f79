"""--out never destroys what the user did not ask to replace (issue 17's data-loss cases).

Before: `audit run e --out e` deleted engagement.yaml, activities.csv and usage/;
`audit run clients/acme --out clients` and `audit batch clients/* --out clients` deleted every
client. Now an --out that is, contains or lies inside an input is refused, and an existing
folder is replaced only when the toolkit wrote it (its marker lists everything in it).
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from audit.orchestration import batch, runner
from audit.cli import app
from audit.core.exceptions import InputError
from audit.core.paths import (OUTPUT_MARKER, SAMPLE_ENGAGEMENT_DIR, check_output_location, clean_stale_work,
                         read_marker, replaceable_problem, write_marker)


def snapshot(root: Path) -> dict[str, str]:
    """Every file under root (relative path -> sha256), links not followed."""
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            p = Path(dirpath) / name
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest() if not p.is_symlink() else "link"
    return out


@pytest.fixture()
def clients(tmp_path) -> Path:
    root = tmp_path / "clients"
    for name in ("acme", "globex", "initech"):
        shutil.copytree(SAMPLE_ENGAGEMENT_DIR, root / name)
    (root / "notes.txt").write_text("the consultant's own notes")
    return root


class FakeResults:
    """Just enough of AuditResults for run_engagement's bookkeeping."""

    factor_set = "fake"
    totals = {"kgco2e": 1.0, "kgco2e_low": 1.0, "kgco2e_high": 1.0, "scope2_market_kgco2e": 0.0}

    def __init__(self):
        self.manifest = {}
        self.footprint = None


@pytest.fixture()
def fast_run(monkeypatch):
    """run_engagement with the notebooks, the footprint and the reports replaced by stubs: these
    tests are about which folders are touched, not about the audit."""
    class Kernel:  # no kernel: the notebooks "run" by creating their folder
        def __init__(self, work, *a, **k):
            pass

        def start(self):
            pass

        def shutdown(self):
            pass

    class Run:
        results = FakeResults()
        svgs: dict = {}

    monkeypatch.setattr(runner, "PipelineKernel", Kernel)
    monkeypatch.setattr(runner, "run_notebooks", lambda kernel, e, work, on_executed=None: (work / "notebooks").mkdir())
    monkeypatch.setattr(runner, "prepare_run", lambda loaded: Run())
    monkeypatch.setattr(runner, "write_steps", lambda run, work: None)
    monkeypatch.setattr(runner, "write_prepared", lambda run, folder: None)
    monkeypatch.setattr(runner, "measured", lambda region: contextlib.nullcontext({}))
    monkeypatch.setattr(runner, "_usage_handed_off", lambda *a: contextlib.nullcontext())

    def deliverables(results, out_dir, pdf=True, svgs=None):
        (out_dir / "results.json").write_text("{}")
        return []

    monkeypatch.setattr(runner, "write_deliverables", deliverables)
    monkeypatch.setattr(runner, "export_notebooks_html", lambda folder, names=None: {})

    class Loaded:
        class engagement:
            default_region = "GBR"
            usage_logs: list = []

    monkeypatch.setattr(runner, "load_engagement", lambda folder: Loaded())

    def child(engagement_dir, out_dir, timeout_s, extra_args, env=None, *, label):
        """A batch child in this process, so that the stubs above apply."""
        try:
            runner.run_engagement(engagement_dir, out_dir, pdf=False)
        except Exception as exc:  # noqa: BLE001 - reported like a child's exit status
            return batch.Outcome(label, "failed", 0.0, str(exc))
        return batch.Outcome(label, "ok", 0.0)

    monkeypatch.setattr(batch, "run_child", child)
    # run_batch calls run_child only with cold children (no warm worker forks real `audit run`s
    # that the stubs above would not reach).
    monkeypatch.setenv(batch.COLD_CHILDREN_ENV, "1")


def cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.mark.parametrize("out", ["{e}", "{c}", "{e}/usage", "{e}/reports", "{c}/.."])
def test_run_refuses_an_out_that_overlaps_the_inputs(clients, fast_run, out):
    before = snapshot(clients.parent)
    engagement = clients / "acme"
    result = cli("run", engagement, "--out", out.format(e=engagement, c=clients))
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "input" in result.stderr or "current folder" in result.stderr
    assert snapshot(clients.parent) == before


def test_batch_into_the_clients_folder_is_refused_and_nothing_is_lost(clients, fast_run):
    before = snapshot(clients)
    result = cli("batch", *sorted(p for p in clients.iterdir() if p.is_dir()), "--out", clients)
    assert result.exit_code == 2 and "contains the input" in result.stderr
    assert snapshot(clients) == before


@pytest.mark.parametrize("where", ["root", "home", "parent"])
def test_run_refuses_root_home_and_the_current_folders_parent(clients, fast_run, tmp_path, monkeypatch, where):
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    out = {"root": Path("/"), "home": Path.home(), "parent": Path("..")}[where]
    result = cli("run", clients / "acme", "--out", out)
    assert result.exit_code == 2 and "refusing" in result.stderr
    assert "Traceback" not in result.output


def test_an_existing_folder_the_toolkit_did_not_write_is_never_replaced(clients, fast_run, tmp_path):
    mine = tmp_path / "Documents"
    mine.mkdir()
    (mine / "thesis.docx").write_text("years of work")
    result = cli("run", clients / "acme", "--out", mine)
    assert result.exit_code == 2 and "not written by the toolkit" in result.stderr
    assert (mine / "thesis.docx").read_text() == "years of work"
    assert not list(tmp_path.glob(".Documents.*"))


def test_a_report_of_ours_is_replaced_but_a_file_added_to_it_blocks_that(clients, fast_run, tmp_path):
    out = tmp_path / "report"
    assert cli("run", clients / "acme", "--out", out).exit_code == 0
    assert read_marker(out)["kind"] == "run" and (out / "results.json").exists()
    assert cli("run", clients / "acme", "--out", out).exit_code == 0  # ours: replaced
    (out / "my-notes.md").write_text("added by the consultant")
    result = cli("run", clients / "acme", "--out", out)
    assert result.exit_code == 2 and "my-notes.md" in result.stderr
    assert (out / "my-notes.md").exists()


def test_an_empty_folder_may_be_used(clients, fast_run, tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    assert cli("run", clients / "acme", "--out", out).exit_code == 0
    assert (out / "results.json").exists()


def test_a_users_failed_folder_is_kept(clients, fast_run, tmp_path, monkeypatch):
    out = tmp_path / "report"
    users = tmp_path / "report.failed"
    users.mkdir()
    (users / "keep.txt").write_text("not ours")

    def boom(*a, **k):
        raise RuntimeError("kernel died")

    monkeypatch.setattr(runner, "run_notebooks", boom)
    assert cli("run", clients / "acme", "--out", out).exit_code != 0
    assert (users / "keep.txt").read_text() == "not ours"
    kept = [p for p in tmp_path.glob("report.failed-*") if read_marker(p)]
    assert len(kept) == 1  # the failed work went beside it instead


def test_a_read_only_parent_is_a_message_not_a_traceback(clients, fast_run, tmp_path, monkeypatch):
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o500)
    if os.geteuid() == 0:  # root ignores directory permissions: make the work folder's mkdir fail as EACCES would
        real_mkdir = Path.mkdir

        def mkdir(self, *a, **k):
            if self.name.startswith(".out.tmp-"):
                raise PermissionError(13, "Permission denied", str(self))
            return real_mkdir(self, *a, **k)

        monkeypatch.setattr(Path, "mkdir", mkdir)
    try:
        result = cli("run", clients / "acme", "--out", parent / "out")
    finally:
        parent.chmod(0o700)
    assert result.exit_code == 2 and "cannot write" in result.stderr and "Traceback" not in result.output


def test_stale_work_folders_of_killed_runs_are_cleaned_and_others_kept(tmp_path):
    out = tmp_path / "out"
    dead = tmp_path / ".out.tmp-dead0001"
    dead.mkdir()
    write_marker(dead, "work", pid=2**22 + 12345, host=os.uname().nodename)
    alive = tmp_path / ".out.tmp-live0001"
    alive.mkdir()
    write_marker(alive, "work", pid=os.getpid(), host=os.uname().nodename)
    foreign = tmp_path / ".out.tmp-users01"
    foreign.mkdir()
    (foreign / "x").write_text("no marker: not ours")
    removed = clean_stale_work(out)
    assert removed == [dead] and alive.exists() and (foreign / "x").exists()


def test_batch_refuses_to_overwrite_someone_elses_summary(clients, fast_run, tmp_path):
    root = tmp_path / "reports"
    root.mkdir()
    (root / "batch_summary.csv").write_text("their own file")
    result = cli("batch", clients / "acme", "--out", root)
    assert result.exit_code == 2 and "did not write" in result.stderr
    assert (root / "batch_summary.csv").read_text() == "their own file"


def test_batch_child_folder_that_is_not_ours_fails_only_that_engagement(clients, tmp_path):
    root = tmp_path / "reports"
    (root / "acme").mkdir(parents=True)
    (root / "acme" / "contract.pdf").write_text("the client's contract")
    _, dirs, names, _, outcomes, todo = batch.plan_batch([clients / "acme", clients / "globex"], root, resume=False)
    assert outcomes[dirs[0]].status == "failed" and "not written by the toolkit" in outcomes[dirs[0]].error
    assert todo == [dirs[1]]
    assert (root / "acme" / "contract.pdf").exists()


# --- property: for any folders and any --out, the inputs survive ----------------------------------

NAMES = st.sampled_from(["a", "b", "x", "x-2", "X", "reports", "client", "usage"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(layout=st.lists(st.lists(NAMES, min_size=1, max_size=3), min_size=1, max_size=3),
       out_parts=st.lists(st.sampled_from(["a", "x", "x-2", "reports", "client", "usage", ".."]), min_size=0, max_size=3),
       batch=st.booleans())
def test_property_inputs_survive_any_out(tmp_path_factory, fast_run, layout, out_parts, batch):
    base = tmp_path_factory.mktemp("prop")
    engagements = []
    for parts in layout:
        folder = base.joinpath(*parts)
        if folder in engagements or any(e in folder.parents or folder in e.parents for e in engagements):
            continue
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "engagement.yaml").write_text("client: X\n")
        (folder / "activities.csv").write_text("activity_id\n")
        (folder / "usage").mkdir()
        (folder / "usage" / "log.csv").write_text("timestamp\n")
        engagements.append(folder)
    (base / "unrelated.txt").write_text("keep me")
    before = snapshot(base)
    out = base.joinpath(*out_parts) if out_parts else base
    args = ["batch", *engagements] if batch else ["run", engagements[0]]
    result = cli(*args, "--out", out)
    assert "Traceback" not in result.output
    after = snapshot(base)
    for path, digest in before.items():  # every input and unrelated file is still there, unchanged
        assert after.get(path) == digest, (path, args, out, result.output)


def test_marker_lists_only_what_the_toolkit_wrote(tmp_path):
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "report.html").write_text("x")
    write_marker(folder, "run")
    assert read_marker(folder)["entries"] == ["report.html"]
    assert (folder / OUTPUT_MARKER).exists() and replaceable_problem(folder) is None


def test_check_output_location_explains_the_overlap(tmp_path):
    inp = tmp_path / "client"
    inp.mkdir()
    with pytest.raises(InputError, match="lies inside the input"):
        check_output_location(inp / "out", [inp])
