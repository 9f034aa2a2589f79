"""Session fixtures shared by the whole suite: audits that take seconds are executed once per
test session (per xdist worker) and handed, read-only, to every test that only reads them.

* ``sample_run``: ``audit run`` on the shipped sample with its notebooks (no PDF), into a
  session folder; the notebooks may not compute anything again (an extra cell removes the
  kernel's estimator, analyses and chart rendering).
  Tests must not change it; copy what they need to change.
* ``sample_fast_run``: the same with ``--fast`` (no notebooks).

Plain objects (the loaded sample, its estimate and results) are in tests/helpers.py
(``sample_results()`` etc., cached per process).
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from audit.core.paths import SAMPLE_ENGAGEMENT_DIR


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory) -> Path:
    """OUT of ``audit run data/sample_engagement --out OUT --no-pdf`` with the real notebooks,
    each with one extra cell, without output, that removes the kernel's own computing
    (``tests.notebook_factory.NO_RECOMPUTATION_IN_THE_KERNEL``): a notebook that tried to
    compute again would fail the run. What the notebooks show is what they show under a plain
    `audit run` (test_runner compares it with their stored outputs)."""
    from audit.orchestration import runner
    from tests.notebook_factory import notebooks_that_compute_nothing

    root = tmp_path_factory.mktemp("sample-run")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(runner, "NOTEBOOKS_DIR", notebooks_that_compute_nothing(root / "notebooks"))
        runner.run_engagement(SAMPLE_ENGAGEMENT_DIR, root / "out", pdf=False)
    return root / "out"


@pytest.fixture(scope="session")
def sample_fast_run(tmp_path_factory) -> Path:
    """OUT of ``audit run data/sample_engagement --out OUT --no-pdf --fast``."""
    from audit.orchestration import runner

    out = tmp_path_factory.mktemp("sample-fast-run") / "out"
    runner.run_engagement(SAMPLE_ENGAGEMENT_DIR, out, pdf=False, notebooks=False)
    return out


# --- how pytest-xdist shares the suite out (``make test``: ``-n 2 --dist loadfile``) -----------
#
# One test module runs on one worker, so that its module fixtures (the reproducibility runs, the
# papermill pipeline, the LibreOffice recalculation, the sample report) are built once, and
# kernels, LibreOffice and Chromium are not started twice for the same module. pytest-xdist's
# ``--dist loadgroup`` and ``xdist_group`` marks cannot do this here: xdist 3.8 names a group by
# rewriting ``item._nodeid``, which pytest 9.2 no longer reads (nodes keep their id in
# ``_id``), so every mark was silently ignored and both workers built every module fixture.

NOTEBOOKS_SCOPE = "notebooks/*.ipynb"


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """``--dist loadfile`` with nbval's cells (``make test`` collects notebooks/ with ``--nbval``
    in the same session) as ONE unit: the three notebooks run in order on one worker, because
    03 reads the step files 02 writes into ``reports/notebook-run``."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling  # noqa: PLC0415 - only under pytest-xdist

    class ModuleScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _scope_of(nodeid)

    return ModuleScheduling(config, log)


#: CPU seconds per test module (the test process plus the children it reaped: kernels, child
#: runs, LibreOffice, Chromium), measured with ``AUDIT_TEST_CPU_LOG`` on the 2-CPU VM in session
#: 6. Under pytest-xdist these modules are handed out first, costliest first, so that the last
#: modules handed out are short and the two workers finish together. A stale figure only changes
#: the order, never what runs or what is asserted.
#: Not listed on purpose: tests/test_guards_cli.py (~46 s). Its full-disk test runs the whole
#: audit in the worker under tracemalloc, and costs 50 s of CPU when it comes first on a worker
#: against 25-27 s when earlier modules have already loaded matplotlib and the analyses there; it
#: keeps its place among the other modules.
MODULE_CPU_S = {
    "tests/test_batch.py": 92, "tests/test_runner.py": 50, "tests/test_distributed.py": 40,
    "tests/test_properties.py": 33, "tests/test_reproducible.py": 32, "tests/test_usage_export_variants.py": 26,
    "tests/test_notebooks.py": 20, "tests/test_report_html.py": 16, "tests/test_advice.py": 14,
    "tests/test_report_excel.py": 14, "tests/test_offline_run.py": 13, NOTEBOOKS_SCOPE: 14,
    "tests/test_disclosure_contract.py": 12, "tests/test_processes.py": 10, "tests/test_hostile.py": 10,
    "tests/test_charts.py": 10, "tests/test_intake.py": 10, "tests/test_jupyterlab.py": 8,
}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist, the modules of ``MODULE_CPU_S`` are queued first, costliest first
    (``make test`` passes ``--no-loadscope-reorder``, so xdist hands modules out in this order:
    longest processing time first); then any other module with slow tests (kernels, LibreOffice,
    Chromium, child runs); then the rest. Without xdist the collection order is kept."""
    if not _xdist_active(config):
        return
    slow = {_scope(it) for it in items if it.get_closest_marker("slow") is not None}

    def rank(item):
        scope = _scope(item)
        return -MODULE_CPU_S.get(scope, 0), scope not in slow

    items.sort(key=rank)  # stable: the order inside each module (and of the notebooks) is kept


def _scope(item) -> str:
    return _scope_of(item.nodeid)


def _scope_of(nodeid: str) -> str:
    """The unit xdist hands out (``ModuleScheduling``): a module, or the three notebooks."""
    module = nodeid.split("::", 1)[0]
    return NOTEBOOKS_SCOPE if module.endswith(".ipynb") else module


def _xdist_active(config) -> bool:
    """True in an xdist worker, or in a controller that distributes (``-n N``, N > 0)."""
    if hasattr(config, "workerinput"):
        return True
    return bool(getattr(config.option, "numprocesses", None)) and getattr(config.option, "dist", "no") != "no"


# --- opt-in CPU profile: AUDIT_TEST_CPU_LOG=FILE appends "cpu_s wall_s nodeid" per test ----------

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """With ``AUDIT_TEST_CPU_LOG`` set, one line per test: CPU seconds (this process and the
    children it reaped during the test: kernels, child runs, LibreOffice, Chromium), wall
    seconds, node id. Wall time on a shared machine measures the load; CPU time measures the
    test (``sort -rn FILE | head`` lists the costliest). Off by default."""
    log = os.environ.get("AUDIT_TEST_CPU_LOG")
    if not log:
        yield
        return
    before, wall = _cpu_seconds(), time.perf_counter()
    yield
    line = f"{_cpu_seconds() - before:9.3f} {time.perf_counter() - wall:9.3f} {item.nodeid}\n"
    with open(log, "a", encoding="utf-8") as f:  # one short append per test: safe across workers
        f.write(line)


def _cpu_seconds() -> float:
    import resource  # Unix only, and only when the profile is asked for

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def pytest_configure(config):
    # Known with or without pytest-xdist installed (the suite runs with --strict-markers). Kept so
    # that a mark written for --dist loadgroup is not an error; `make test` groups by module.
    config.addinivalue_line("markers", "xdist_group(name): tests pytest-xdist runs on one worker, in turn")
