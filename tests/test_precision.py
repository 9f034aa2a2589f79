"""Precision per watt (audit.analyses.precision) on the sample, by hand."""
from __future__ import annotations

import numpy as np
import pytest

from audit.analyses.precision import GENERATIVE_KINDS
from tests.helpers import sample_results


@pytest.fixture(scope="module")
def results():
    return sample_results()


def test_precision_per_watt(results):
    ppw = {r["stage"]: r for r in results.extras["precision_per_watt"]}
    l = results.lines
    pre = l[(l["stage"] == "Pre-production") & l["kind"].isin(GENERATIVE_KINDS) & (l["derived_from"] == "")]
    af = pre["accepted_fraction"].astype(float)
    accepted = float((pre["quantity_base"] * af).sum())
    assert ppw["Pre-production"]["accepted"] == pytest.approx(accepted, rel=1e-12)
    assert ppw["Pre-production"]["kgco2e_per_accepted"] == pytest.approx(pre["kgco2e"].sum() / accepted, rel=1e-12)
    assert 0 < ppw["Pre-production"]["discarded_share_kgco2e"] < 1
    assert np.isfinite([r["kgco2e"] for r in ppw.values()]).all()
