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
