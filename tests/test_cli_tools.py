"""The tools (audit.cli.tools): the contract of `audit shift` against the optimiser, and
`audit training-estimate`. (`audit measure` is tested end to end in test_measure.py, whose
fixture measures once for the CLI and the estimator tests.)"""
import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from audit.analyses import shifting
from audit.cli import app


def _write_profile(path, series):
    """``series`` as a 'timestamp,g_co2e_per_kwh' CSV (UTC), as `audit shift --profile` reads it."""
    pd.DataFrame({"timestamp": series.index.strftime("%Y-%m-%dT%H:%M:%SZ"),
                  "g_co2e_per_kwh": series.to_numpy()}).to_csv(path, index=False)
    return path


def _decreasing_day():
    """The same profile as test_shifting's: 1000 g/kWh falling 40 g an hour over one day (UTC)."""
    idx = pd.date_range("2025-01-01", periods=24, freq="h", tz="UTC")
    return pd.Series(1000.0 - 40 * np.arange(24), index=idx)


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args], prog_name="audit")


# --- audit shift ------------------------------------------------------------------------------

def test_cli_contract_json(tmp_path):
    idx = pd.date_range("2025-03-01", periods=48, freq="h", tz="UTC")
    values = 200 + 100 * np.sin(np.arange(48) / 24 * 2 * np.pi)
    path = _write_profile(tmp_path / "p.csv", pd.Series(values, index=idx))
    res = CliRunner().invoke(app, ["shift", "--profile", str(path), "--duration-hours", "4", "--earliest",
                                   "2025-03-01T02:00:00Z", "--deadline", "2025-03-02T06:00:00Z", "--power-kw", "3",
                                   "--format", "json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert set(out) == {"best_start", "best_end", "kgco2e_best", "kgco2e_earliest", "saving_fraction"}
    ref = shifting.brute_force(shifting.read_profile(path), 4, "2025-03-01T02:00:00Z", "2025-03-02T06:00:00Z", 3)
    assert pd.Timestamp(out["best_start"]) == ref.best_start
    assert out["kgco2e_best"] == pytest.approx(ref.kgco2e_best)
    assert out["saving_fraction"] == pytest.approx(1 - ref.kgco2e_best / ref.kgco2e_earliest)


def test_cli_bad_window_exits_2_without_traceback(tmp_path):
    res = CliRunner().invoke(app, ["shift", "--profile", "GBR", "--duration-hours", "30", "--earliest",
                                   "2025-03-01T00:00", "--deadline", "2025-03-01T10:00"])
    assert res.exit_code == 2 and "does not fit" in res.output and "Traceback" not in res.output


def test_cli_off_grid_reproductions(tmp_path):
    path = _write_profile(tmp_path / "decreasing.csv", _decreasing_day())
    for args, start, end, kg in (
            (["1", "--earliest", "2025-01-01T00:00", "--deadline", "2025-01-01T23:30"], "22:30", "23:30", 0.10),
            (["2.5", "--earliest", "2025-01-01T00:30", "--deadline", "2025-01-01T23:00"], "20:30", "23:00", 0.38)):
        res = CliRunner().invoke(app, ["shift", "--profile", str(path), "--duration-hours", *args, "--format", "json"])
        assert res.exit_code == 0, res.output
        out = json.loads(res.output)
        assert pd.Timestamp(out["best_start"]) == pd.Timestamp(f"2025-01-01T{start}Z")
        assert pd.Timestamp(out["best_end"]) == pd.Timestamp(f"2025-01-01T{end}Z")
        assert out["kgco2e_best"] == pytest.approx(kg, rel=1e-12)


# --- audit training-estimate --------------------------------------------------------------------

def test_cli_json_and_table():
    res = invoke("training-estimate", "--params", "7e9", "--tokens", "2e12", "--hardware", "nvidia-h100-sxm",
                 "--mfu", "0.4", "--pue", "1.1", "--format", "json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["gpu_hours"] == pytest.approx(6 * 7e9 * 2e12 / (989e12 * 0.4) / 3600, rel=1e-12)
    assert doc["kwh"] == pytest.approx(doc["gpu_hours"] * 700 * 0.90 * 1.43 / 1000 * 1.1, rel=1e-12)  # training draw + host
    assert doc["activity"]["mode"] == "training"
    assert doc["activity"]["kind"] == "gpu_compute" and doc["activity"]["pue"] == "1.1"
    res = invoke("training-estimate", "--params", "7e9", "--tokens", "2e12", "--hardware", "nvidia-h100-sxm")
    assert res.exit_code == 0, res.output
    assert "GPU-hours" in res.stdout and "activity_id,stage" in res.stdout and "kWh" in res.stdout
    res = invoke("training-estimate", "--params", "7e9", "--tokens", "2e12", "--hardware", "tpu-v9")
    assert res.exit_code == 2 and "no peak FLOP/s" in res.output
