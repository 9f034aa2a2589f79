"""Base-model scorecard: weighted scores, Pareto dominance, candidates and energy per task."""
from __future__ import annotations

import itertools

import pandas as pd
import pytest

from audit.analyses import customisation, scorecard as sc
from audit.core.models import Engagement
from tests.helpers import BASE_SETTINGS, sample_results


@pytest.fixture(scope="module")
def sample():
    return sample_results()


# --- weighted score ----------------------------------------------------------------------------

def test_ten_factors_with_weights():
    assert sc.factors() == ("accuracy", "speed", "cost", "customisation", "data_security", "model_size",
                            "specialisation", "update_frequency", "ease_of_integration", "ethical_heritage")
    w = sc.default_weights()
    assert sum(w.values()) == pytest.approx(1.0) and all(v >= 0 for v in w.values())
    for c in sc.config()["candidates"]:
        assert set(c["scores"]) == set(sc.factors()), c["id"]
        assert all(1 <= v <= 5 for v in c["scores"].values()), c["id"]


def test_weighted_score_by_hand():
    scores = {"accuracy": 5, "cost": 1}
    weights = {"accuracy": 3, "cost": 1}
    assert sc.weighted_score(scores, weights) == pytest.approx((3 * 5 + 1 * 1) / 4)  # 4.0
    # weights need not sum to one: scaling them changes nothing
    assert sc.weighted_score(scores, {k: 10 * v for k, v in weights.items()}) == pytest.approx(4.0)
    # a factor without a score counts as neutral 3
    assert sc.weighted_score({"accuracy": 5}, {"accuracy": 1, "speed": 1}) == pytest.approx(4.0)
    with pytest.raises(ValueError):
        sc.weighted_score({"accuracy": 6}, weights)
    with pytest.raises(ValueError):
        sc.weighted_score(scores, {"accuracy": 0})


# --- Pareto dominance --------------------------------------------------------------------------------

def test_pareto_flags_by_hand():
    # (quality, energy): B is beaten by A (same quality... no: A better on both), D by C (same
    # quality, more energy); E ties A exactly, so neither dominates the other.
    q = [4.0, 3.0, 5.0, 5.0, 4.0]
    e = [1.0, 2.0, 3.0, 4.0, 1.0]
    assert sc.pareto_flags(q, e) == [True, False, True, False, True]


def test_pareto_flags_match_brute_force():
    pts = [(3.2, 0.5), (3.8, 0.06), (3.6, 0.04), (3.72, 0.05), (3.72, 0.063), (3.5, 1.0), (3.82, 0.12)]
    got = sc.pareto_flags([p[0] for p in pts], [p[1] for p in pts])
    for (i, a), flag in zip(enumerate(pts), got):
        dominated = any(b[0] >= a[0] and b[1] <= a[1] and (b[0] > a[0] or b[1] < a[1])
                        for j, b in enumerate(pts) if j != i)
        assert flag is (not dominated)
    # the front is monotone: more energy only ever buys more quality
    front = sorted(p for p, f in zip(pts, got) if f)
    front_by_energy = sorted(front, key=lambda p: p[1])
    assert all(a[0] < b[0] for a, b in itertools.pairwise(front_by_energy))


# --- the table ---------------------------------------------------------------------------------------

CANDS = [{"id": "big", "provider": "huggingface", "model": "70B", "scores": {"accuracy": 5}},
         {"id": "small", "provider": "huggingface", "model": "8B", "scores": {"accuracy": 3}},
         {"id": "worse", "provider": "huggingface", "model": "70B", "scores": {"accuracy": 2}}]


@pytest.fixture(scope="module")
def table():
    eng = Engagement.model_validate(BASE_SETTINGS)
    return {r["id"]: r for r in sc.score_table(eng, CANDS, task={"input_tokens": 800, "output_tokens": 300})}


def test_energy_per_task_is_the_llm_estimate(table):
    eng = Engagement.model_validate(BASE_SETTINGS)
    lines = customisation.estimate_rows(eng, [{"activity_id": "x", "stage": "s", "description": "d",
                                               "kind": "llm_api", "quantity": 1, "unit": "request",
                                               "provider": "huggingface", "model": "8B", "input_tokens": 800,
                                               "output_tokens": 300}])
    per = customisation.per_activity(lines).loc["x"]
    assert table["small"]["kwh_per_task"] == pytest.approx(per["kwh"], rel=1e-12)
    assert table["small"]["kgco2e_per_task"] == pytest.approx(per["kgco2e"], rel=1e-12)
    assert table["big"]["kwh_per_task"] > table["small"]["kwh_per_task"]  # 70B costs more energy than 8B


def test_table_scores_and_pareto(table):
    w = sc.default_weights()
    for r in table.values():
        expect = sum(w[f] * r[f] for f in sc.factors()) / sum(w.values())
        assert r["weighted_score"] == pytest.approx(expect, rel=1e-12)
    # 'worse' has the same energy as 'big' and a lower score: dominated; 'small' has least energy
    assert table["worse"]["pareto"] is False
    assert table["small"]["pareto"] is True
    assert table["big"]["pareto"] is (table["big"]["weighted_score"] > table["small"]["weighted_score"])


def test_weights_and_scores_overridable_per_call():
    eng = Engagement.model_validate(BASE_SETTINGS)
    only_acc = {f: 0.0 for f in sc.factors()} | {"accuracy": 1.0}
    rows = {r["id"]: r for r in sc.score_table(eng, CANDS, weights=only_acc, scores={"small": {"accuracy": 4}},
                                                task={"input_tokens": 800, "output_tokens": 300})}
    assert rows["big"]["weighted_score"] == pytest.approx(5.0)
    assert rows["small"]["weighted_score"] == pytest.approx(4.0)  # the per-call score won
    assert rows["worse"]["weighted_score"] == pytest.approx(2.0)
    with pytest.raises(ValueError, match="unknown scorecard factor"):
        sc.score_table(eng, CANDS, weights={"acuracy": 1})


# --- the engagement's candidates -----------------------------------------------------------------------

def test_sample_candidates_are_used_models_plus_alternatives(sample):
    rows = {r["id"]: r for r in sample.extras["scorecard"]["rows"]}
    assert rows["gpt-4o"]["used_by"] == ["IDE-01"]
    used = rows["gpt-4o-mini"]["used_by"]
    assert sorted(u for u in used if not u.startswith("USG-")) == ["IDE-02", "LOC-02"]
    assert any(u.startswith("USG-") for u in used)  # the sample's usage log runs gpt-4o-mini too
    assert rows["claude-sonnet-4-5"]["used_by"] == ["IDE-03"]
    assert rows["llama-3.1-8b"]["used_by"] == ["PRE-05", "PRE-06"]  # PRE-06: the self-hosted 8B fleet (issue 12)
    lib = {c["id"]: c for c in sc.config()["candidates"]}
    for cid, r in rows.items():
        assert r["used_by"] or lib[cid]["alternative"], cid
    unused_frontier = {c for c, v in lib.items() if not v["alternative"]} - set(rows)
    assert "gemini-2.5-flash" in unused_frontier  # neither used nor an alternative: not shown
    flags = sc.pareto_flags([r["weighted_score"] for r in rows.values()], [r["kwh_per_task"] for r in rows.values()])
    assert [r["pareto"] for r in rows.values()] == flags
    assert any(flags)


def test_self_hosted_candidate_keeps_the_engagements_region(sample):
    cands = {c["id"]: c for c in sc.candidates_for(sample.activities)}
    assert cands["llama-3.1-8b"]["region"] == "GBR" and cands["llama-3.1-8b"]["ownership"] == "owned"
    assert "region" not in cands["ministral-8b-2512"]  # an alternative runs where its provider does


def test_unlisted_model_is_added_unscored():
    acts = pd.DataFrame([{"activity_id": "A", "kind": "llm_api", "provider": "openai", "model": "gpt-4.1",
                          "region": "USA", "ownership": "purchased_service", "quantity_base": 10.0,
                          "input_tokens": 100.0, "output_tokens": 50.0}])
    cands = sc.candidates_for(acts)
    extra = [c for c in cands if c["model"] == "gpt-4.1"]
    assert len(extra) == 1 and extra[0]["scored"] is False and extra[0]["used_by"] == ["A"]
    eng = Engagement.model_validate(BASE_SETTINGS)
    row = next(r for r in sc.score_table(eng, extra) if r["model"] == "gpt-4.1")
    assert row["weighted_score"] == pytest.approx(3.0) and row["scored"] is False


def test_task_is_the_request_weighted_mean(sample):
    llm = sample.activities[sample.activities["kind"] == "llm_api"]
    q = llm["quantity_base"]
    task = sample.extras["scorecard"]["task"]
    assert task["input_tokens"] == pytest.approx((q * llm["input_tokens"]).sum() / q.sum(), rel=1e-12)
    assert task["output_tokens"] == pytest.approx((q * llm["output_tokens"]).sum() / q.sum(), rel=1e-12)
    assert sc.engagement_task(None)["input_tokens"] == sc.config()["task"]["input_tokens"]
