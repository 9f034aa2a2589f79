"""Minimal pipeline notebooks for runner and batch tests, including deliberately broken ones.

They call the same pipeline steps as the real notebooks without the narrative, so fault
handling is tested with a real kernel: a raising cell, a dying kernel, a hang.
"""
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from audit.core.paths import PIPELINE_NOTEBOOKS

STEPS = {
    "01_discovery.ipynb": "from audit import discover\ndiscover(engagement_dir)",
    "02_scope_mapping.ipynb": "from audit import map_and_estimate\nmap_and_estimate(engagement_dir, work_dir)",
    "03_feasibility.ipynb": "from audit import assess_feasibility\nassess_feasibility(work_dir, engagement_dir)",
}
FAULTS = {
    "raise": "raise RuntimeError('boom in notebook')",
    "die": "import os\nos._exit(1)",
    "hang": "import time\ntime.sleep(600)",
}


def write_notebooks(folder: Path, fault: str | None = None, fault_in: str = "02_scope_mapping.ipynb",
                    fault_when: str | None = None, prelude: str | None = None) -> Path:
    """Write the three notebooks; with ``fault``, break ``fault_in``. ``fault_when`` limits the
    fault to engagements whose folder name contains that text (for mixed batches). ``prelude``
    is a cell run first in each notebook (after the parameters)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in PIPELINE_NOTEBOOKS:
        params = new_code_cell('engagement_dir = ""\nwork_dir = ""', metadata={"tags": ["parameters"]})
        cells = [params] + ([new_code_cell(prelude)] if prelude else [])
        if fault and name == fault_in:
            body = FAULTS[fault]
            if fault_when:
                body = f"if {fault_when!r} in engagement_dir:\n" + "\n".join("    " + ln for ln in body.splitlines())
            cells.append(new_code_cell(body))
        cells.append(new_code_cell(STEPS[name]))
        nb = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                               "language": "python"}})
        nbformat.write(nb, str(folder / name))
    return folder


#: A cell inserted after each real notebook's parameters cell for ``sample_run``: the kernel's
#: validation, estimation, analyses and chart rendering are removed, so the notebooks can only
#: show what `audit run` computed once and handed them. It has no output of its own.
NO_RECOMPUTATION_IN_THE_KERNEL = (
    "import audit.orchestration.pipeline as _p, audit.deliverables.figures as _f\n"
    "_p.load_engagement = _p.estimate = _p.from_estimate = _p.registry = None  # computed once, by the run\n"
    "_f.render_svg = _f.render_svgs = None  # each chart rendered once, by the run")


def notebooks_that_compute_nothing(folder: Path) -> Path:
    """The real pipeline notebooks, each with ``NO_RECOMPUTATION_IN_THE_KERNEL`` inserted after
    its parameters cell, written to ``folder``."""
    from audit.core.paths import NOTEBOOKS_DIR

    folder.mkdir(parents=True)
    for name in PIPELINE_NOTEBOOKS:
        nb = nbformat.read(NOTEBOOKS_DIR / name, as_version=4)
        at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])) + 1
        nb.cells.insert(at, nbformat.v4.new_code_cell(NO_RECOMPUTATION_IN_THE_KERNEL))
        nbformat.write(nb, folder / name)
    return folder
