"""Session fixtures shared by the whole suite: audits that take seconds are executed once per
test session (per xdist worker) and handed, read-only, to every test that only reads them.

* ``sample_run``: ``audit run`` on the shipped sample with its notebooks (no PDF), into a
  session folder. Tests must not change it; copy what they need to change.
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
    """OUT of ``audit run data/sample_engagement --out OUT --no-pdf`` (notebooks included)."""
    from audit.orchestration import runner

    out = tmp_path_factory.mktemp("sample-run") / "out"
    runner.run_engagement(SAMPLE_ENGAGEMENT_DIR, out, pdf=False)
    return out


@pytest.fixture(scope="session")
def sample_fast_run(tmp_path_factory) -> Path:
    """OUT of ``audit run data/sample_engagement --out OUT --no-pdf --fast``."""
    from audit.orchestration import runner

    out = tmp_path_factory.mktemp("sample-fast-run") / "out"
    runner.run_engagement(SAMPLE_ENGAGEMENT_DIR, out, pdf=False, notebooks=False)
    return out


def _xdist_group(item) -> str | None:
    """The pytest-xdist group an item must share with others, or None to spread it freely.

    * A test marked ``slow`` (notebooks on a kernel, LibreOffice, Chromium, child runs) is grouped
      with the other slow tests of its module, so that a module's expensive fixtures (one
      LibreOffice recalculation, one papermill pipeline, the reproducibility runs) are built once
      and the slow modules spread over both workers instead of queueing on one.
    * A test that uses a module- or class-scoped fixture of its own module goes with the other
      tests of that module: ungrouped, both workers would build the fixture (the two
      reproducibility runs of test_reproducible.py were made twice: 4 child runs instead of 2).
    """
    module = item.nodeid.split("::", 1)[0]
    if item.get_closest_marker("slow") is not None:
        return module
    info = getattr(item, "_fixtureinfo", None)
    mod = getattr(item, "module", None)
    if info is None or mod is None:
        return None
    for defs in info.name2fixturedefs.values():
        fixturedef = defs[-1]
        if fixturedef.scope in ("module", "class") and getattr(fixturedef.func, "__module__", None) == mod.__name__:
            return module
    return None


def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist (``make test``: ``-n 2 --dist loadgroup``) tests that share expensive
    module fixtures, and the slow tests of a module, run on one worker in turn (see
    ``_xdist_group``); the rest spread over the workers. Slow tests are queued first so that
    the last work handed out is short (xdist hands whole groups out, largest first, then in
    collection order). No effect without xdist, where the order stays the collection order."""
    if not _xdist_active(config):
        return
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            group = _xdist_group(item)
            if group is not None:
                item.add_marker(pytest.mark.xdist_group(group))
    # Stable: within "slow" and "not slow" the collection order is kept.
    items.sort(key=lambda it: it.get_closest_marker("slow") is None)


def _xdist_active(config) -> bool:
    """True in an xdist worker or controller that distributes (``-n N`` with N > 0)."""
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
    # Known with or without pytest-xdist installed (the suite runs with --strict-markers).
    config.addinivalue_line("markers", "xdist_group(name): tests pytest-xdist runs on one worker, in turn")
