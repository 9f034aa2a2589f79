"""The three pipeline notebooks, run end to end by papermill (the way ``audit`` runs them).

Two kinds of notebook test, run by ``make test``:

* **Output regression (nbval)**, on the stored outputs of ``notebooks/*.ipynb``. It runs on the
  notebooks folder directly, not from this file (``make test`` collects notebooks/ with
  ``--nbval`` in the same pytest session as tests/, the three notebooks in order on one
  worker: tests/conftest.py)::

      python -m pytest --nbval notebooks/ --nbval-sanitize-with tests/nbval_sanitize.cfg \\
          --nbval-current-env -p no:cacheprovider

  Every code cell is re-executed (cwd ``notebooks/``, default parameters, so the sample
  engagement) and its text and HTML outputs must equal the stored ones after the sanitisers in
  ``tests/nbval_sanitize.cfg`` (paths, clock times, addresses; never numbers). After an
  intended change to the numbers, store fresh outputs and review the diff before committing::

      python tests/test_notebooks.py --regenerate

* **Papermill integration (this file)**: the notebooks are parameterised and chained through
  ``WORK/steps``. Run in order by ``runner.execute_notebooks`` (papermill with injected
  absolute paths, as ``audit run`` does) into a temporary working folder, they must write
  ``steps/results.json`` whose totals are the sums of its emission lines.
"""
from __future__ import annotations

import json
import math
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest

from audit.orchestration import runner
from audit.core.paths import NOTEBOOKS_DIR, PIPELINE_NOTEBOOKS, SAMPLE_ENGAGEMENT_DIR


@pytest.fixture(scope="module")
def pipeline_run(tmp_path_factory):
    """Execute 01 → 02 → 03 as ``audit run`` does (papermill, absolute-path parameters, no
    papermill cwd), from an unrelated folder so nothing relies on running from notebooks/.
    Returns (work_dir, executed notebook paths)."""
    root = tmp_path_factory.mktemp("notebook-pipeline")
    work_dir = root / "work"
    work_dir.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        runner.execute_notebooks(SAMPLE_ENGAGEMENT_DIR.resolve(), work_dir)
    return work_dir, [work_dir / "notebooks" / name for name in PIPELINE_NOTEBOOKS]


def test_notebooks_have_a_parameters_cell():
    for name in PIPELINE_NOTEBOOKS:
        nb = nbformat.read(NOTEBOOKS_DIR / name, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert code, name
        assert "parameters" in code[0].metadata.get("tags", []), f"{name}: first code cell is not tagged"
        assert "engagement_dir" in code[0].source and "work_dir" in code[0].source, name
        # They open on the project kernel in JupyterLab (`make install` registers it); runs name their kernel.
        assert (nb.metadata.kernelspec.name, nb.metadata.kernelspec.display_name) == \
            ("genai-audit", "Python (genai-audit)"), name
        assert "papermill" not in nb.metadata, f"{name}: stored with papermill metadata"
        assert all(c.execution_count is not None for c in code[1:]), f"{name}: stored without outputs"


def _stderr_texts(path: Path) -> list[str]:
    nb = nbformat.read(path, as_version=4)
    return [o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
            if o.get("output_type") == "stream" and o.get("name") == "stderr"]


def test_stored_notebooks_carry_no_warnings():
    """A library warning in a stored output is noise for the reader and names a path on the
    machine that stored it, which nbval then compares against the CI machine's path."""
    for name in PIPELINE_NOTEBOOKS:
        assert _stderr_texts(NOTEBOOKS_DIR / name) == [], name


@pytest.mark.slow
def test_executed_notebooks_carry_no_warnings(pipeline_run):
    _, executed = pipeline_run
    for path in executed:
        assert _stderr_texts(path) == [], path.name


@pytest.mark.slow
def test_parameters_were_injected(pipeline_run):
    _, executed = pipeline_run
    for path in executed:
        nb = nbformat.read(path, as_version=4)
        tags = [c.metadata.get("tags", []) for c in nb.cells]
        assert any("injected-parameters" in t for t in tags), path.name
        errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                  if o.get("output_type") == "error"]
        assert not errors, f"{path.name}: {errors[0].get('ename')}: {errors[0].get('evalue')}"


@pytest.mark.slow
def test_steps_are_written_to_the_work_dir(pipeline_run):
    work_dir, _ = pipeline_run
    steps = work_dir / "steps"
    for rel in ("estimate/lines.parquet", "estimate/meta.json", "results.json", "lines.parquet",
                "factors.parquet", "extras.json"):
        assert (steps / rel).is_file(), rel


@pytest.mark.slow
def test_results_totals_are_the_sum_of_their_activities(pipeline_run):
    work_dir, _ = pipeline_run
    data = json.loads((work_dir / "steps" / "results.json").read_text(encoding="utf-8"))
    acts, totals = data["activities"], data["totals"]
    assert acts, "no emission lines"

    def total(key, scope=None):
        return math.fsum(a[key] for a in acts if scope is None or a["scope"] == scope)

    for key in ("kwh", "kgco2e", "kgco2e_low", "kgco2e_high"):
        assert totals[key] == pytest.approx(total(key), rel=1e-12, abs=1e-9), key
    assert totals["scope1_kgco2e"] == pytest.approx(total("kgco2e", 1), rel=1e-12, abs=1e-9)
    assert totals["scope2_location_kgco2e"] == pytest.approx(total("kgco2e", 2), rel=1e-12, abs=1e-9)
    assert totals["scope2_market_kgco2e"] == pytest.approx(total("kgco2e_market", 2), rel=1e-12, abs=1e-9)
    assert totals["scope3_kgco2e"] == pytest.approx(total("kgco2e", 3), rel=1e-12, abs=1e-9)
    # Dual reporting: the headline total uses location-based Scope 2 and never adds market-based.
    assert totals["kgco2e"] == pytest.approx(
        totals["scope1_kgco2e"] + totals["scope2_location_kgco2e"] + totals["scope3_kgco2e"], rel=1e-12)
    assert totals["kgco2e_low"] <= totals["kgco2e"] <= totals["kgco2e_high"]


@pytest.mark.slow
def test_results_record_the_inputs_and_feasibility(pipeline_run):
    work_dir, _ = pipeline_run
    data = json.loads((work_dir / "steps" / "results.json").read_text(encoding="utf-8"))
    assert set(data["manifest"]["input_files_sha256"]) >= {"engagement.yaml"}
    assert data["interventions"] and data["forecast"]
    used = {f["factor_id"] for f in data["factors"]}
    assert {fid for a in data["activities"] for fid in a["factor_ids"]} <= used


# --- refreshing the stored outputs ---------------------------------------------------------

PROJECT_KERNELSPEC = {"display_name": "Python (genai-audit)", "language": "python", "name": "genai-audit"}


def regenerate() -> None:
    """Execute the notebooks in order with their default parameters (cwd notebooks/, as nbval
    runs them) and store the outputs in place, without papermill's metadata and timings."""
    import papermill as pm

    with tempfile.TemporaryDirectory() as tmp:
        for name in PIPELINE_NOTEBOOKS:
            src, out = NOTEBOOKS_DIR / name, Path(tmp) / name
            pm.execute_notebook(str(src), str(out), cwd=str(NOTEBOOKS_DIR), kernel_name="python3",
                                progress_bar=False)
            nb = nbformat.read(out, as_version=4)
            # the project kernel (`make install` registers it), whatever kernel executed them here
            nb.metadata.kernelspec = nbformat.from_dict(PROJECT_KERNELSPEC)
            nb.cells = [c for c in nb.cells if "injected-parameters" not in c.metadata.get("tags", [])]
            nb.metadata.pop("papermill", None)
            for cell in nb.cells:
                cell.metadata.pop("papermill", None)
                cell.metadata.pop("execution", None)
                if cell.metadata.get("tags") == []:
                    del cell.metadata["tags"]
            nbformat.validate(nb)
            nbformat.write(nb, src)
            print(f"stored outputs of {name}")


if __name__ == "__main__":
    if sys.argv[1:] != ["--regenerate"]:
        sys.exit("usage: python tests/test_notebooks.py --regenerate")
    regenerate()


def _engagement_with_kinds(root: Path, keep) -> Path:
    """A copy of the sample keeping only the activities whose kind passes ``keep``, no usage log."""
    import shutil

    import pandas as pd
    import yaml

    # Imported here: `python tests/test_notebooks.py --regenerate` runs without the tests package.
    from tests.helpers import copy_sample, write_yaml

    folder = copy_sample(root, "client")
    acts = pd.read_csv(folder / "activities.csv", dtype=str, keep_default_na=False)
    acts[acts["kind"].map(keep)].to_csv(folder / "activities.csv", index=False)
    settings = yaml.safe_load((folder / "engagement.yaml").read_text(encoding="utf-8"))
    settings.pop("usage_logs", None)
    write_yaml(folder, settings)
    shutil.rmtree(folder / "usage")
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("pipeline_kind", ["traditional production only", "one electricity line"])
def test_the_real_notebooks_run_on_engagements_without_generative_ai(tmp_path, pipeline_kind):
    """A client with no LLM, image or GPU work (or almost nothing at all) still gets an audit:
    sections with nothing to show say so instead of failing."""
    genai = {"llm_api", "image_generation", "video_generation", "gpu_compute", "cpu_compute", "storage",
             "data_transfer"}
    if pipeline_kind == "one electricity line":
        seen = []

        def keep(kind):
            if kind == "electricity" and not seen:
                seen.append(kind)
                return True
            return False
    else:
        def keep(kind):
            return kind not in genai
    folder = _engagement_with_kinds(tmp_path, keep)
    work = tmp_path / "work"
    work.mkdir()
    runner.execute_notebooks(folder, work)
    results = json.loads((work / "steps" / "results.json").read_text(encoding="utf-8"))
    assert results["activities"] and not any(a["kind"] in genai for a in results["activities"])
    nb = nbformat.read(work / "notebooks" / "03_feasibility.ipynb", as_version=4)
    text = json.dumps([c.get("outputs", []) for c in nb.cells if c.cell_type == "code"])
    assert "No LLM workloads in this engagement" in text
