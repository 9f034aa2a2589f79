"""What the command groups share (audit.cli.common): the options that exclude each other."""
from __future__ import annotations

import pytest
from typer.testing import CliRunner

from audit.cli import app


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner()


def invoke(runner, *args):
    return runner.invoke(app, [str(a) for a in args], prog_name="audit")


def test_scheduler_and_dask_exclude_each_other(runner, tmp_path):
    from audit.cli.common import DaskMode, dask_target
    from audit.core.exceptions import InputError

    assert dask_target(None, None) is None
    assert dask_target("tcp://h:8786", None) == "tcp://h:8786" and dask_target(None, DaskMode.local) == "local"
    with pytest.raises(InputError, match="not both"):
        dask_target("tcp://h:8786", DaskMode.local)
    res = invoke(runner, "batch", tmp_path, "--out", tmp_path / "out", "--dask", "local", "--scheduler", "tcp://x:1")
    assert res.exit_code == 2 and "not both" in res.stderr
