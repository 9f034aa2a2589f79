"""Dask: usage logs on a LocalCluster give the single-machine numbers; batches of engagements
run as Dask tasks keep the subprocess isolation, the summary and --resume."""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from audit.orchestration.batch import SUMMARY_COLUMNS, SUMMARY_FILE
from audit.cli import app
from audit.inventory.usage.dask import parquet_pieces
from audit.orchestration.distributed import run_batch_dask
from audit.core.paths import SAMPLE_ENGAGEMENT_DIR
from audit.inventory.usage import estimate_usage, log_files, synthetic_log
from tests.helpers import find_problem, problems_from
from tests.notebook_factory import write_notebooks


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster, \
            Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    """A 20k-request log in 3 Parquet files (several row groups each), names that sort
    differently as text and naturally (part-2 < part-10)."""
    root = tmp_path_factory.mktemp("usage")
    log = synthetic_log(20_000, seed=5)
    for name, (a, b) in {"part-2": (0, 6_000), "part-10": (6_000, 13_000), "part-9": (13_000, 20_000)}.items():
        log.iloc[a:b].to_parquet(root / f"{name}.parquet", row_group_size=2_500)
    return root


def test_dask_equals_single_machine(client, parts):
    single = estimate_usage(parts, progress=False)
    dask = estimate_usage(str(parts / "*.parquet"), scheduler=client, chunk_rows=1_000, progress=False)
    pd.testing.assert_frame_equal(dask.groups, single.groups, rtol=1e-9)
    assert dask.totals == pytest.approx(single.totals, rel=1e-9)
    pd.testing.assert_frame_equal(pd.DataFrame(dask.by_model), pd.DataFrame(single.by_model), rtol=1e-9)
    assert dask.totals["requests"] == 20_000


def test_partitions_follow_the_row_groups(parts):
    files, pieces, _ = parquet_pieces(log_files(parts))
    assert [Path(f).name for f in files] == ["part-2.parquet", "part-9.parquet", "part-10.parquet"]
    assert len(pieces) == 3 + 3 + 3 and sum(p.rows for p in pieces) == 20_000
    assert [p.first_row for p in pieces[:3]] == [1, 2_501, 5_001]


def test_dask_problems_name_the_file_and_row(client, tmp_path):
    log = synthetic_log(6_000, seed=2)
    log.iloc[:3_000].to_parquet(tmp_path / "a.parquet", row_group_size=1_000)
    bad = log.iloc[3_000:].copy().reset_index(drop=True)
    bad.loc[1_234, ["provider", "model"]] = ["openai", "gpt-4oo"]
    bad.to_parquet(tmp_path / "b.parquet", row_group_size=1_000)
    problems = problems_from(estimate_usage, tmp_path, scheduler=client, progress=False)
    p = find_problem(problems, column="model")
    assert p.file == str(tmp_path / "b.parquet") and p.row == 1_235 and "gpt-4o" in p.hint


def test_cli_with_a_scheduler_address(client, parts):
    out = CliRunner().invoke(app, ["estimate-usage", str(parts), "--scheduler", client.scheduler.address,
                                   "--format", "json"])
    assert out.exit_code == 0, out.output
    d = json.loads(out.stdout)
    single = estimate_usage(parts, progress=False).to_json_dict()
    assert d["requests"] == single["requests"] and d["kgco2e"] == pytest.approx(single["kgco2e"], rel=1e-9)


def _summary(root: Path):
    with (root / SUMMARY_FILE).open() as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames) == SUMMARY_COLUMNS
        return {r["engagement"]: r for r in reader}


@pytest.mark.slow
def test_run_batch_dask_isolates_failures_and_resumes(client, tmp_path, monkeypatch):
    clients = tmp_path / "clients"
    for name in ("good", "broken"):
        shutil.copytree(SAMPLE_ENGAGEMENT_DIR, clients / name)
    (clients / "empty").mkdir()
    nb = write_notebooks(tmp_path / "nb", fault="raise", fault_in="01_discovery.ipynb", fault_when="broken")
    monkeypatch.setenv("AUDIT_NOTEBOOKS_DIR", str(nb))
    out = tmp_path / "out"
    dirs = [clients / "good", clients / "broken", clients / "empty"]
    outcomes = run_batch_dask(dirs, out, scheduler=client, extra_args=["--no-pdf"], progress=False)
    assert [(o.engagement, o.status) for o in outcomes] == [("good", "ok"), ("broken", "failed"), ("empty", "failed")]
    rows = _summary(out)
    assert list(rows) == ["good", "broken", "empty"]
    assert "boom in notebook" in rows["broken"]["error"] and "not an engagement folder" in rows["empty"]["error"]
    assert (out / "good" / "results.json").exists() and (out / "broken.failed" / "notebooks").exists()
    assert float(rows["good"]["seconds"]) > 0
    first = (out / "good" / "results.json").stat().st_mtime_ns
    # --resume: the good engagement is kept, only the failures run again.
    outcomes = run_batch_dask(dirs, out, scheduler=client, resume=True, extra_args=["--no-pdf"], progress=False)
    assert [o.status for o in outcomes] == ["ok", "failed", "failed"]
    assert (out / "good" / "results.json").stat().st_mtime_ns == first
    assert _summary(out)["good"]["seconds"] == rows["good"]["seconds"]


def test_cli_dask_local_uses_worker_processes(parts):
    """`--dask local`: a real 2-process LocalCluster (as the command line starts it)."""
    out = CliRunner().invoke(app, ["estimate-usage", str(parts), "--dask", "local", "--format", "json"])
    assert out.exit_code == 0, out.output
    single = estimate_usage(parts, progress=False).to_json_dict()
    d = json.loads(out.stdout)
    assert d["requests"] == 20_000 and d["kgco2e_high"] == pytest.approx(single["kgco2e_high"], rel=1e-9)


def _serve(reply: bytes | None):
    """A loopback TCP server that, per connection, sends ``reply`` (None: stays silent)."""
    import socket
    import threading

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    stop = threading.Event()

    def loop():
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            if reply is not None:
                conn.sendall(reply)
            stop.wait(3)
            conn.close()

    threading.Thread(target=loop, daemon=True).start()
    return srv, stop


@pytest.mark.parametrize("reply,message", [(None, "did not greet like a Dask scheduler"),
                                           (b"\xff" * 64, "does not speak Dask's protocol"),
                                           (b"HTTP/1.1 400 Bad Request\r\n\r\n", "does not speak Dask's protocol")])
def test_an_address_that_is_not_a_scheduler_is_refused_quickly(reply, message):
    """A web server (the dashboard's port) used to hang Client(); garbage made it allocate exabytes."""
    import time

    from audit.inventory.usage.dask import probe_scheduler
    from audit.core.exceptions import InputError

    srv, stop = _serve(reply)
    try:
        address = f"tcp://127.0.0.1:{srv.getsockname()[1]}"
        t0 = time.monotonic()
        with pytest.raises(InputError, match=message):
            probe_scheduler(address, timeout_s=0.5)
        assert time.monotonic() - t0 < 5
    finally:
        stop.set()
        srv.close()


def test_a_real_scheduler_passes_the_probe():
    from distributed import LocalCluster

    from audit.inventory.usage.dask import probe_scheduler

    with LocalCluster(n_workers=0, processes=False, protocol="tcp", dashboard_address=":0") as cluster:
        probe_scheduler(cluster.scheduler_address)
