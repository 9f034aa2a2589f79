"""Session fixtures shared by the whole suite: audits that take seconds are executed once per
test session (per xdist worker) and handed, read-only, to every test that only reads them.

* ``sample_run``: ``audit run`` on the shipped sample with its notebooks (no PDF), into a
  session folder. Tests must not change it; copy what they need to change.
* ``sample_fast_run``: the same with ``--fast`` (no notebooks).

Plain objects (the loaded sample, its estimate and results) are in tests/helpers.py
(``sample_results()`` etc., cached per process).
"""
from __future__ import annotations

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


def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist (``make test``: ``-n 2 --dist loadgroup``) every test marked ``slow``
    (it runs notebooks on a kernel, LibreOffice or Chromium) goes to one worker, in turn: two
    kernels starting at once can race for the same free ports, and two browsers on two cores
    starve each other. The other tests spread over the workers. No effect without xdist."""
    for item in items:
        if item.get_closest_marker("slow") is not None and item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group("slow"))


def pytest_configure(config):
    # Known with or without pytest-xdist installed (the suite runs with --strict-markers).
    config.addinivalue_line("markers", "xdist_group(name): tests pytest-xdist runs on one worker, in turn")
