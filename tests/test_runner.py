"""`audit run`: atomic outputs, kept failures, parameters that stay values."""
import json
import re
import shutil
from pathlib import Path

import pytest

from audit.orchestration import runner
from audit.core.exceptions import ExecutionError, InputError
from audit.core.paths import SAMPLE_ENGAGEMENT_DIR, write_marker
from tests.helpers import SAMPLE_INPUT_FILES, parse_html
from tests.notebook_factory import NO_RECOMPUTATION_IN_THE_KERNEL, write_notebooks


@pytest.fixture()
def engagement(tmp_path) -> Path:
    return Path(shutil.copytree(SAMPLE_ENGAGEMENT_DIR, tmp_path / "client-a"))


@pytest.fixture()
def minimal_notebooks(tmp_path, monkeypatch):
    folder = write_notebooks(tmp_path / "nb")
    monkeypatch.setattr(runner, "NOTEBOOKS_DIR", folder)
    return folder


HOSTILE_FOLDER_NAME = 'x"; import os; os.system("touch PWNED"); y="'
#: A first cell in each minimal notebook: the kernel cannot estimate a usage log itself.
NO_USAGE_ESTIMATE_IN_THE_KERNEL = ("import audit.inventory.usage\n"
                                   "audit.inventory.usage.estimate_usage = None  # the hand-off must be used")


@pytest.fixture(scope="module")
def minimal_run(tmp_path_factory):
    """One `audit run` (in this process, real kernel, minimal notebooks, no PDF) shared by the
    tests below that only read what it wrote: (root, OUT, the run's summary). Its conditions are
    the union of theirs: the sample is copied into a folder whose name is hostile text, and each
    notebook starts by removing the usage-log estimator from the kernel."""
    root = tmp_path_factory.mktemp("minimal-run")
    engagement = Path(shutil.copytree(SAMPLE_ENGAGEMENT_DIR, root / HOSTILE_FOLDER_NAME))
    folder = write_notebooks(root / "nb", prelude=NO_USAGE_ESTIMATE_IN_THE_KERNEL)
    out = root / "out"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(runner, "NOTEBOOKS_DIR", folder)
        summary = runner.run_engagement(engagement, out, pdf=False)
    return root, out, summary


def test_run_writes_every_deliverable_and_the_numbers_add_up(minimal_run):
    tmp_path, out, summary = minimal_run
    for name in ("report.xlsx", "report.html", "results.json", "manifest.json", "manifest.if.yaml",
                 "notebooks/01_discovery.ipynb",
                 "notebooks/03_feasibility.html"):
        assert (out / name).exists(), name
    data = json.loads((out / "results.json").read_text())
    acts = data["activities"]
    assert data["totals"]["kgco2e"] == pytest.approx(sum(a["kgco2e"] for a in acts), rel=1e-12)
    # results.json's totals carry water beside the carbon totals (issue 13)
    assert summary["totals"] == {k: v for k, v in data["totals"].items() if k != "water_litres"}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["footprint"]["method"].startswith("codecarbon")
    assert set(manifest["input_files_sha256"]) == SAMPLE_INPUT_FILES
    assert not list(tmp_path.glob(".out.tmp-*"))


def test_the_kernel_uses_the_usage_logs_estimated_while_validating(minimal_run):
    """The sample lists a usage log: `audit run` estimates it to validate the engagement and
    hands the result to the kernel, which must not estimate the log again (the minimal run's
    notebooks set ``estimate_usage = None`` in the kernel first)."""
    _, out, _ = minimal_run
    data = json.loads((out / "results.json").read_text())
    assert any(a["activity_id"].startswith("USG-") for a in data["activities"])
    assert not (out / ".usage-handoff").exists() and not list(out.rglob("groups.parquet"))
    from audit.inventory.usage import USAGE_HANDOFF_ENV
    import os
    assert USAGE_HANDOFF_ENV not in os.environ


def test_failed_run_keeps_previous_report_and_the_failed_notebook(engagement, tmp_path, monkeypatch, minimal_run):
    out = tmp_path / "out"
    shutil.copytree(minimal_run[1], out)  # a previous good report of the sample (marker included)
    before = (out / "results.json").read_bytes()
    monkeypatch.setattr(runner, "NOTEBOOKS_DIR", write_notebooks(tmp_path / "bad", fault="raise"))
    with pytest.raises(ExecutionError, match="02_scope_mapping.*boom in notebook"):
        runner.run_engagement(engagement, out, pdf=False)
    assert (out / "results.json").read_bytes() == before  # previous good report intact
    failed = tmp_path / "out.failed"
    assert (failed / "notebooks" / "02_scope_mapping.ipynb").exists()  # kept for debugging
    assert not (failed / "report.html").exists()
    assert not list(tmp_path.glob(".out.tmp-*"))


def test_bad_input_fails_before_any_kernel_and_writes_nothing(engagement, tmp_path, minimal_notebooks):
    (engagement / "activities.csv").write_text("activity_id,stage\n1,x\n")
    with pytest.raises(InputError):
        runner.run_engagement(engagement, tmp_path / "out", pdf=False)
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.failed").exists()


@pytest.mark.parametrize("value", ['a"b', "x'\nimport os; os.system('echo pwned')\n'", "\\\" ; print(1) #",
                                   "'''\n\"\"\"", "C:\\new\\table"])
def test_parameters_arrive_as_values(value):
    assert runner.safe_parameters({"p": value}) == {"p": value}


def test_hostile_folder_name_is_passed_as_data(minimal_run):
    tmp_path, out, _ = minimal_run  # the sample, run from a folder named HOSTILE_FOLDER_NAME
    assert (tmp_path / HOSTILE_FOLDER_NAME / "engagement.yaml").is_file()
    assert (out / "results.json").exists()
    assert not list(Path.cwd().glob("PWNED")) and not list(tmp_path.rglob("PWNED"))


def test_audit_run_skips_the_slow_iri_checker_and_still_validates_notebooks():
    """`audit run` blocks jsonschema's optional rfc3987_syntax import (~1 s per process);
    nbformat still validates the pipeline notebooks."""
    import subprocess
    import sys

    code = (
        "import sys, time\n"
        "from audit.orchestration.processes import skip_slow_optional_imports\n"
        "skip_slow_optional_imports()\n"
        "import nbformat\n"
        "from audit.core.paths import NOTEBOOKS_DIR, PIPELINE_NOTEBOOKS\n"
        "for name in PIPELINE_NOTEBOOKS:\n"
        "    nbformat.validate(nbformat.read(str(NOTEBOOKS_DIR / name), as_version=4))\n"
        "assert sys.modules['rfc3987_syntax'] is None\n"
        "print('ok')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_exported_notebook_pages_keep_client_text_inert_and_fetch_nothing(tmp_path):
    """OUT/notebooks/*.html: client text in Markdown/HTML outputs is sanitised, nbconvert's CDN
    scripts are dropped and a CSP blocks any script or request that might remain."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

    prose = new_markdown_cell("# Discovery\n\nThe **client's** activities.")
    cell = new_code_cell("x", outputs=[
        new_output("display_data", data={"text/markdown": "**Evil <script>alert(1)</script> Co**"}),
        new_output("display_data", data={"text/html": '<b>ok</b><img src=x onerror="alert(2)">'
                                                     '<style scoped>.dataframe td {color: red}</style>'
                                                     '<table><tr><td>42</td></tr></table>'}),
    ])
    folder = tmp_path / "notebooks"
    folder.mkdir()
    nbformat.write(new_notebook(cells=[prose, cell]), str(folder / "01_discovery.ipynb"))
    page = runner.export_notebooks_html(folder)["01_discovery.ipynb"].read_text(encoding="utf-8")
    parsed = parse_html(page)
    assert "script" not in parsed.tags and parsed.events == []
    # Our own prose and tables still render as markup (nbconvert's sanitize_html escaped them).
    assert {"h1", "strong", "table", "td", "b"} <= set(parsed.tags) and "&lt;p&gt;" not in page
    assert ".dataframe td" not in page  # a stripped <style> leaves no CSS behind as text
    low = page.lower()
    assert not re.search(r"(?:src|href)\s*=\s*[\"']?https?:|url\(\s*[\"']?https?:|@import", low)
    assert runner.NOTEBOOK_PAGE_CSP in page and "Evil" in page


@pytest.mark.slow
@pytest.mark.parametrize("delay_s", [0.0, 1.5], ids=["between notebooks", "inside a notebook"])
def test_a_terminated_run_leaves_no_hidden_half_written_folder(engagement, tmp_path, delay_s):
    """SIGTERM (batch timeout) mid-run: the previous report stays, the work moves to OUT.failed,
    whether the signal lands between two notebooks or while a cell runs."""
    import signal
    import subprocess
    import sys
    import time

    folder = write_notebooks(tmp_path / "nb", fault="hang")
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.html").write_text("previous")
    write_marker(out, "run")  # a previous report of ours: the run may replace it
    code = ("import sys; from pathlib import Path; from audit.orchestration import runner; "
            f"runner.NOTEBOOKS_DIR = Path({str(folder)!r}); "
            f"runner.run_engagement(Path({str(engagement)!r}), Path({str(out)!r}), pdf=False)")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".out.tmp-*/notebooks/01_discovery.ipynb")) and time.monotonic() < deadline:
        time.sleep(0.2)  # notebook 01 is written once it has run: 02 (the hang) comes next
    time.sleep(delay_s)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert not list(tmp_path.glob(".out.tmp-*")), "hidden work folder left behind"
    assert (tmp_path / "out.failed").is_dir() and (out / "report.html").read_text() == "previous"


# --- one audit per run, and the --fast path ---------------------------------------------------

@pytest.mark.slow
def test_fast_run_writes_the_same_deliverables_without_notebooks(sample_run, sample_fast_run):
    """`audit run --fast`: results.json byte-identical to the notebook path; every other file
    too, except the notebooks and the run-specific manifest.json/report timestamps."""
    assert (sample_fast_run / "results.json").read_bytes() == (sample_run / "results.json").read_bytes()
    assert not (sample_fast_run / "notebooks").exists() and (sample_run / "notebooks" / "03_feasibility.html").exists()

    def files(root):
        return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}

    assert files(sample_fast_run) == {f for f in files(sample_run) if not f.startswith("notebooks/")}
    for rel in ("steps/results.json", "steps/extras.json", "usage_by_hour.csv"):
        assert (sample_fast_run / rel).read_bytes() == (sample_run / rel).read_bytes(), rel


@pytest.mark.slow
def test_each_chart_is_rendered_once_and_shown_alike_in_the_report_and_the_notebooks(sample_run):
    """The notebooks show the very SVGs report.html inlines (rendered once by the run)."""
    import base64

    import nbformat

    html = (sample_run / "report.html").read_text(encoding="utf-8")
    shown = []
    for name in ("01_discovery", "02_scope_mapping", "03_feasibility"):
        nb = nbformat.read(sample_run / "notebooks" / f"{name}.ipynb", as_version=4)
        for cell in nb.cells:
            for out in cell.get("outputs", []):
                img = re.search(r'src="data:image/svg\+xml;base64,([^"]+)"', out.get("data", {}).get("text/html", ""))
                if img:
                    shown.append(base64.b64decode(img.group(1)).decode("utf-8"))
    assert len(shown) == 10  # the report's ten charts: the process map in 01, four in 02, five in 03
    for svg in shown:
        assert svg in html
    page = (sample_run / "notebooks" / "02_scope_mapping.html").read_text(encoding="utf-8")
    assert page.count('src="data:image/svg+xml;base64,') == 4  # kept by the pages' sanitiser


@pytest.mark.slow
def test_notebooks_under_audit_run_show_what_they_show_on_their_own(sample_run):
    """Under `audit run` the notebooks show the prepared audit; on their own (the stored
    outputs, nbval) they compute it. Both must show the same text, tables and figure captions."""
    import configparser

    import nbformat

    from audit.core.paths import NOTEBOOKS_DIR

    cfg = configparser.ConfigParser()
    cfg.read(Path(__file__).with_name("nbval_sanitize.cfg"))
    patterns = [(re.compile(cfg[s]["regex"]), cfg[s]["replace"]) for s in cfg.sections()]

    def texts(path):
        nb = nbformat.read(path, as_version=4)
        cells = [c for c in nb.cells if c.cell_type == "code" and "injected-parameters" not in c.metadata.get("tags", [])]
        out = []
        for c in cells:
            for o in c.get("outputs", []):
                text = o.get("text", "") + "".join(o.get("data", {}).get(k, "") for k in ("text/plain", "text/html",
                                                                                          "text/markdown"))
                for rx, rep in patterns:
                    text = rx.sub(rep, text)
                out.append(text)
        return out

    for name in ("01_discovery", "02_scope_mapping", "03_feasibility"):
        assert texts(sample_run / "notebooks" / f"{name}.ipynb") == texts(NOTEBOOKS_DIR / f"{name}.ipynb"), name


@pytest.mark.slow
def test_the_notebooks_compute_nothing_again_under_audit_run(sample_run):
    """The real notebooks, with the kernel's validation, estimation, analyses and chart
    rendering removed (``sample_run`` inserts ``NO_RECOMPUTATION_IN_THE_KERNEL`` after their
    parameters): they still run, because `audit run` hands them what it computed once."""
    import nbformat

    for name in ("01_discovery", "02_scope_mapping", "03_feasibility"):
        nb = nbformat.read(sample_run / "notebooks" / f"{name}.ipynb", as_version=4)
        assert any(c.source == NO_RECOMPUTATION_IN_THE_KERNEL for c in nb.cells), name  # the run had it
    assert any("data:image/svg+xml" in o.get("data", {}).get("text/html", "")
               for c in nb.cells for o in c.get("outputs", []))


def test_image_data_set_aside_from_the_sanitiser_comes_back_unchanged_and_only_where_it_was():
    """The notebook pages' sanitiser cleans the HTML with the charts' base64 set aside: the same
    result as cleaning the whole string, and a token that the cleaning drops is not put back."""
    import base64

    import bleach

    from audit.orchestration.runner import park_image_data, restore_image_data

    payload = base64.b64encode(b"<svg xmlns='http://www.w3.org/2000/svg'>" + b"x" * 600 + b"</svg>").decode()
    html = (f'<p>chart</p><img src="data:image/svg+xml;base64,{payload}" alt="c">'
            f'<script>alert(1)</script><a src="data:image/png;base64,{payload}">x</a>'
            "<p>AUDITIMG0123456789abcdef0123456789abcdefN0X</p>")

    def clean(text):
        return bleach.clean(text, tags=["p", "img", "a"], attributes={"img": ["src", "alt"]},
                            protocols=["data"], strip=True)

    parked, blobs = park_image_data(html)
    assert payload not in parked and len(blobs) == 2
    assert restore_image_data(clean(parked), blobs) == clean(html)
    assert restore_image_data(clean(parked), blobs).count(payload) == 1  # the <a>'s src was dropped, and stays so


def test_notebook_pages_raise_an_export_failure_and_never_hold_up_exit(tmp_path, monkeypatch):
    """The pages thread hands an export's failure to finish(); it is a daemon thread, so a run
    stopped by SIGTERM never waits for it on the way out (a pool's thread blocked on the import
    lock the interrupted main thread held made that run hang)."""
    import threading

    from audit.orchestration import runner

    def broken(folder, names):
        raise ValueError(f"bad page {names[0]}")

    monkeypatch.setattr(runner, "export_notebooks_html", broken)
    pages = runner.NotebookPages(tmp_path)
    pages.submit("01_discovery.ipynb")
    assert all(t.daemon for t in threading.enumerate() if t.name == "notebook-pages")
    with pytest.raises(ValueError, match="bad page 01_discovery.ipynb"):
        pages.finish()
