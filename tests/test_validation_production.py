"""Issue 15: the production-scale LLM method against published production figures.

Each verified published value (tests/validation/production_cases.csv, sources there and in
docs/methodology.md) must lie inside our low-high range under its matching boundary
(llm_boundary), and our central must be within CENTRAL_FACTOR of it. The published figures
are independent of the toolkit's data; token counts the publishers did not disclose are the
documented assumption (100 in / 300 out)."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

from audit.inventory.estimate import estimate
from audit.inventory.intake import load_engagement
from tests.helpers import activity, write_engagement

CASES = list(csv.DictReader((Path(__file__).parent / "validation" / "production_cases.csv").open(encoding="utf-8")))
CENTRAL_FACTOR = 3.0  # stated in docs/methodology.md: all managed/benchmark cases are within 2x, the untuned H200 run 2.6x


def _estimate(tmp_path, case, **settings):
    row = activity(activity_id="V1", kind="llm_api", quantity="1", unit="request", provider=case["provider"],
                   model=case["model"], input_tokens=case["input_tokens"], output_tokens=case["output_tokens"],
                   data_quality="3")
    est = estimate(load_engagement(write_engagement(tmp_path, [row], **settings)))
    return est.lines.set_index("activity_id").loc["V1"]


@pytest.mark.parametrize("case", CASES, ids=[c["case_id"] for c in CASES])
def test_published_value_inside_our_range_and_central_within_factor(tmp_path, case):
    line = _estimate(tmp_path, case, llm_boundary=case["boundary"])
    published = float(case["published_wh"])
    lo, mid, hi = (line[k] * 1000 for k in ("kwh_low", "kwh", "kwh_high"))
    assert lo <= published <= hi, (case["case_id"], lo, mid, hi, published)
    assert 1 / CENTRAL_FACTOR <= published / mid <= CENTRAL_FACTOR, (case["case_id"], mid, published)
    assert line["boundary"] == case["boundary"] and line["method"] == "production_llm"
    assert line["ecologits_kwh"] > 0  # EcoLogits' figure beside ours


def test_ecologits_setting_still_gives_ecologits_figure(tmp_path):
    case = CASES[0]
    prod = _estimate(tmp_path / "a", case)
    eco = _estimate(tmp_path / "b", case, llm_method="ecologits")
    assert eco["method"] == "ecologits_llm" and eco["kwh"] == pytest.approx(eco["ecologits_kwh"])
    assert prod["ecologits_kwh"] == pytest.approx(eco["ecologits_kwh"])
    assert prod["kwh"] < eco["kwh"]  # the issue: EcoLogits is high against Google's 0.24 Wh
