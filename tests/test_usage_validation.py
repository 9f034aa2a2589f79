"""Validation never runs the estimator (issue 11): an engagement's usage logs are read, checked and
summed by ``engagement_usage_sums``; their energy is the estimate step's (``Estimate.usage``)."""
from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

import audit.inventory.usage.chunks as chunks
import audit.inventory.usage.logs as usage_logs
from audit.core.exceptions import ValidationError
from audit.inventory.estimate import estimate
from audit.inventory.intake import load_engagement
from audit.inventory.usage import SUM_GROUP_COLUMNS, engagement_usage, engagement_usage_sums, synthetic_log
from tests.helpers import SAMPLE_DIR, SAMPLE_USAGE_ACTIVITIES, activity, write_engagement


def _forbid(*_args, **_kwargs):
    raise AssertionError("the estimator ran")


def _forbid_estimating(monkeypatch) -> None:
    """Every function of the usage logs' energy raises: the per-pair unit energies, the per-row
    equations, the per-request widening, the whole-log estimate."""
    monkeypatch.setattr(chunks.Resolver, "arrays", _forbid)
    monkeypatch.setattr(chunks, "request_energy_kwh", _forbid)
    monkeypatch.setattr(chunks, "energy_range_kwh", _forbid)
    monkeypatch.setattr(chunks, "llm_unit_energies", _forbid)
    monkeypatch.setattr(chunks, "combine_log_bounds", _forbid)
    monkeypatch.setattr(chunks, "emissions_kg", _forbid)
    monkeypatch.setattr(usage_logs, "estimate_usage", _forbid)


@pytest.fixture
def sample(tmp_path):
    """A copy of the sample engagement (a canonical gateway log and an OpenAI usage export)."""
    usage_logs._ENGAGEMENT_CACHE.clear()
    yield shutil.copytree(SAMPLE_DIR, tmp_path / "client")
    usage_logs._ENGAGEMENT_CACHE.clear()


def _engagement_with_log(tmp_path, n: int, seed: int = 5):
    folder = write_engagement(tmp_path, [activity(activity_id="A1")], usage_logs=["usage/log.csv"])
    (folder / "usage").mkdir()
    log = synthetic_log(n, seed=seed)
    log.assign(timestamp=log["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")).to_csv(folder / "usage" / "log.csv",
                                                                                    index=False)
    return folder


def test_load_engagement_validates_usage_logs_without_estimating(sample, monkeypatch):
    _forbid_estimating(monkeypatch)
    loaded = load_engagement(sample)
    usg = loaded.activities[loaded.activities["activity_id"].str.startswith("USG-")]
    assert len(usg) == SAMPLE_USAGE_ACTIVITIES and (usg["kind"] == "llm_api").all()
    assert usg["quantity"].astype(float).sum() > 0
    assert "usage/api_gateway_requests.csv" in loaded.input_files


def test_a_bad_log_is_still_located_by_validation_alone(tmp_path, monkeypatch):
    folder = _engagement_with_log(tmp_path, 300)
    path = folder / "usage" / "log.csv"
    df = pd.read_csv(path, dtype=str)
    df.loc[41, "output_tokens"] = "lots"
    df.loc[77, "model"] = "gpt-9-imaginary"
    df.to_csv(path, index=False)
    usage_logs._ENGAGEMENT_CACHE.clear()
    _forbid_estimating(monkeypatch)
    with pytest.raises(ValidationError) as err:
        load_engagement(folder)
    located = {(p.row, p.column) for p in err.value.problems}
    assert (43, "output_tokens") in located and (79, "model") in located  # header = row 1
    assert all(p.file == str(path) for p in err.value.problems)
    usage_logs._ENGAGEMENT_CACHE.clear()


def test_validation_sums_equal_the_estimates_sums_and_activities(sample):
    eng = load_engagement(sample).engagement
    args = (sample, eng.usage_logs, eng.default_region, eng.model_aliases)
    sums = engagement_usage_sums(*args)
    assert list(sums.groups.columns) == SUM_GROUP_COLUMNS
    assert not any(c.startswith(("kwh", "kgco2e")) for c in sums.groups.columns)
    usage_logs._ENGAGEMENT_CACHE.clear()
    estimated = engagement_usage(*args)
    # The same partial sums added in the same order: equal to the last bit, not approximately.
    pd.testing.assert_frame_equal(sums.groups, estimated.groups[SUM_GROUP_COLUMNS], check_exact=True)
    pd.testing.assert_frame_equal(sums.to_activities(), estimated.to_activities(), check_exact=True)
    assert sums.sources == estimated.sources and sums.sha256 == estimated.sha256
    assert sums.notes == estimated.notes
    assert sums.requests == estimated.totals["requests"]
    assert sums.media is None and estimated.media is None  # the sample's exports are text only


def test_validation_takes_the_sums_of_an_estimate_already_made(sample, monkeypatch):
    eng = load_engagement(sample).engagement
    usage_logs._ENGAGEMENT_CACHE.clear()
    estimated = engagement_usage(sample, eng.usage_logs, eng.default_region, eng.model_aliases)
    monkeypatch.setattr(usage_logs, "_read_and_sum", _forbid)  # the logs are not read again
    sums = engagement_usage_sums(sample, eng.usage_logs, eng.default_region, eng.model_aliases)
    pd.testing.assert_frame_equal(sums.groups, estimated.groups[SUM_GROUP_COLUMNS], check_exact=True)


def test_the_estimate_step_owns_the_usage_energy_and_computes_it_on_first_use(sample, monkeypatch):
    loaded = load_engagement(sample)
    with monkeypatch.context() as m:
        m.setattr(usage_logs, "estimate_usage", _forbid)
        est = estimate(loaded)  # the activities' lines; the logs are not estimated yet
    assert est.usage is not None and est.usage.folder == loaded.folder
    result = est.usage.result()
    eng = loaded.engagement
    assert result is engagement_usage(sample, eng.usage_logs, eng.default_region, eng.model_aliases)
    assert result.totals["kwh"] > 0 and np.isfinite(result.groups["kgco2e"]).all()


def test_an_engagement_without_usage_logs_has_no_usage_energy(tmp_path):
    folder = write_engagement(tmp_path, [activity(activity_id="A1")])
    assert estimate(load_engagement(folder)).usage is None
