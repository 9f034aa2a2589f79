"""Customisation break-even: prompting vs RAG vs LoRA vs full fine-tune, by hand and on the sample."""
from __future__ import annotations

import pytest

from audit.analyses import customisation as cu
from audit.reference.factors import load_register
from audit.core.models import Engagement
from tests.helpers import BASE_SETTINGS, sample_results


def plain_engagement() -> Engagement:
    """No derived lines (upstream, embodied) so that kgCO2e = kWh x intensity exactly."""
    eng = Engagement.model_validate(BASE_SETTINGS)
    off = {k: False for k in ("upstream_cat3", "embodied") if k in Engagement.model_fields}
    return eng.model_copy(update=off)


# --- equations ---------------------------------------------------------------------------------

def test_break_even_requests():
    assert cu.break_even_requests(6.0, 3e-4, 1e-4) == pytest.approx(30_000)  # 6 / 2e-4
    assert cu.break_even_requests(6.0, 1e-4, 1e-4) is None  # no saving per request: never
    assert cu.break_even_requests(6.0, 1e-4, 2e-4) is None  # costlier per request: never
    assert cu.break_even_requests(0.0, 2e-4, 1e-4) == 0.0  # nothing to pay back
    assert cu.break_even_requests(0.0, 1e-4, 2e-4) is None


def test_annual_kg():
    assert cu.annual_kg(2e-4, 10_000, 3.0, 2.0) == pytest.approx(2.0 + 1.5)  # 2e-4 x 1e4 + 3 / 2


# --- a hand-computed case through the estimator ------------------------------------------------------

# Baseline: a measured self-hosted server, 700 W for 2 s per request, PUE 1.2, grid 250 g/kWh.
#   kWh/request = 700 x 2 / 3600 / 1000 x 1.2 = 4.6667e-4 ; kg/request = x 250 / 1000 = 1.16667e-4
# Fine-tune: 50 GPU-hours at 400 W, PUE 1.2, 250 g/kWh -> 50 x 0.4 x 1.2 = 24 kWh -> 6 kgCO2e once;
#   then an 8B model measured at 300 W for 1 s: 300 x 1 / 3600 / 1000 x 1.2 = 1e-4 kWh -> 2.5e-5 kg.
# Break-even N* = 6 / (1.16667e-4 - 2.5e-5) = 65,454.5 requests; at 50,000 requests a year over a
#   1-year life it does not pay back (payback 65,454.5 / 50,000 x 12 = 15.71 months);
#   annual = 2.5e-5 x 50,000 + 6 / 1 = 7.25 kgCO2e against 1.16667e-4 x 50,000 = 5.8333 for prompting.
HAND_ROW = dict(ownership="purchased_service", power_w=700, latency_s=2, pue=1.2,
                carbon_intensity_g_per_kwh=250)
HAND_OPTIONS = [
    {"id": "prompting", "name": "Prompting", "baseline": True},
    {"id": "ft", "name": "Fine-tune", "inference": {"model": "8B", "power_w": 300, "latency_s": 1},
     "training": {"gpu_hours": 50, "power_w": 400, "pue": 1.2, "carbon_intensity_g_per_kwh": 250,
                  "provider": "aws"}},
]


@pytest.fixture(scope="module")
def hand():
    w = cu.Workload.of("huggingface", "meta-llama/Meta-Llama-3.1-8B-Instruct", 1000, 200, 50_000, **HAND_ROW)
    return {r["option"]: r for r in cu.compare(plain_engagement(), w, HAND_OPTIONS, lifetime_years=1)}


def test_hand_case_per_request_and_one_off(hand):
    base, ft = hand["prompting"], hand["ft"]
    assert base["per_request_kwh"] == pytest.approx(700 * 2 / 3600 / 1000 * 1.2, rel=1e-12)
    assert base["per_request_kgco2e"] == pytest.approx(700 * 2 / 3600 / 1000 * 1.2 * 250 / 1000, rel=1e-12)
    assert base["one_off_kgco2e"] == 0.0
    assert ft["one_off_kwh"] == pytest.approx(50 * 400 / 1000 * 1.2, rel=1e-12)  # 24 kWh
    assert ft["one_off_kgco2e"] == pytest.approx(6.0, rel=1e-12)
    assert ft["per_request_kgco2e"] == pytest.approx(300 / 3600 / 1000 * 1.2 * 250 / 1000, rel=1e-12)


def test_hand_case_break_even(hand):
    base, ft = hand["prompting"], hand["ft"]
    n = 6.0 / (700 * 2 / 3600 / 1000 * 1.2 * 0.25 - 300 / 3600 / 1000 * 1.2 * 0.25)
    assert n == pytest.approx(65_454.545, rel=1e-6)
    assert ft["break_even_requests"] == pytest.approx(n, rel=1e-9)
    assert ft["break_even_requests_per_year"] == pytest.approx(n, rel=1e-9)  # 1-year life
    assert ft["payback_months"] == pytest.approx(n / 50_000 * 12, rel=1e-9)
    assert ft["pays_back"] is False and "needs" in ft["carbon_payback"]
    assert ft["annual_kgco2e"] == pytest.approx(2.5e-5 * 50_000 + 6.0, rel=1e-9)  # 7.25
    assert base["annual_kgco2e"] == pytest.approx(700 * 2 / 3600 / 1000 * 1.2 * 0.25 * 50_000, rel=1e-9)
    assert base["break_even_requests"] is None and base["carbon_payback"] == "baseline"


def test_hand_case_pays_back_above_break_even():
    """Double the volume (100,000 > 65,455 requests a year): now it pays back."""
    w = cu.Workload.of("huggingface", "meta-llama/Meta-Llama-3.1-8B-Instruct", 1000, 200, 100_000, **HAND_ROW)
    ft = {r["option"]: r for r in cu.compare(plain_engagement(), w, HAND_OPTIONS, lifetime_years=1)}["ft"]
    assert ft["pays_back"] is True and ft["payback_months"] == pytest.approx(65_454.545 / 100_000 * 12, rel=1e-6)
    # and a longer service life halves the volume needed a year
    ft2 = {r["option"]: r for r in cu.compare(plain_engagement(), w, HAND_OPTIONS, lifetime_years=2)}["ft"]
    assert ft2["break_even_requests_per_year"] == pytest.approx(ft2["break_even_requests"] / 2, rel=1e-12)
    assert ft2["annual_kgco2e"] == pytest.approx(ft2["per_request_kgco2e"] * 100_000 + 6.0 / 2, rel=1e-9)


def test_rag_adds_prefill_of_the_retrieved_context_and_the_query_embedding():
    """The output-token part is the same with and without RAG, so the difference per request is
    prefill only: PUE x CI x e_prefill x (2000 tokens x 8B + 50 tokens x 0.3B). Issue 15: the
    default production method's e_prefill = k_pre (J per token per B) x (1 + host) x idle / 3.6e6."""
    reg = load_register()
    e = (reg.value("genai:llm:k-prefill") * (1 + reg.value("genai:llm:host-share"))
         * reg.value("genai:llm:idle-factor") / 3600)  # Wh per token per B params, before PUE
    w = cu.Workload.of("huggingface", "8B", 1000, 300, 10_000, pue=1.1, carbon_intensity_g_per_kwh=300)
    opts = [{"id": "prompting", "baseline": True}, {"id": "rag", "input_tokens_delta": 2000, "retrieval": True}]
    emb = {"model": "0.3B", "query_tokens": 50, "corpus_tokens": 1_000_000}
    got = {r["option"]: r for r in cu.compare(plain_engagement(), w, opts, lifetime_years=1, embedding=emb)}
    per_kwh = 1.1 * e / 1000  # kWh per (token x B params), PUE included
    diff = got["rag"]["per_request_kgco2e"] - got["prompting"]["per_request_kgco2e"]
    assert diff == pytest.approx(per_kwh * (2000 * 8 + 50 * 0.3) * 300 / 1000, rel=1e-9)
    assert got["rag"]["one_off_kgco2e"] == pytest.approx(per_kwh * 1_000_000 * 0.3 * 300 / 1000, rel=1e-9)
    assert got["rag"]["input_tokens"] == 3000
    assert got["rag"]["break_even_requests"] is None  # more emissions per request: never pays back
    # retrieval is negligible beside generation: the query embedding is < 0.1 % of a request
    assert per_kwh * 50 * 0.3 * 0.3 < 1e-3 * got["prompting"]["per_request_kgco2e"]


def test_token_scaling_and_model_swap_clear_the_measured_draw():
    w = cu.Workload.of("huggingface", "70B", 1000, 300, 1, power_w=500, latency_s=3)
    per_req, one_off = cu.option_rows(w, {"id": "x", "inference": {"model": "8B"}, "input_tokens_scale": 0.5,
                                          "input_tokens_delta": 100}, {})
    assert per_req[0]["model"] == "8B" and per_req[0]["input_tokens"] == 600
    assert per_req[0]["power_w"] is None and per_req[0]["latency_s"] is None  # measured for the old model
    assert one_off == []


# --- the engagement's own workloads -----------------------------------------------------------------

@pytest.fixture(scope="module")
def sample():
    return sample_results()


def test_default_options_are_documented():
    cfg = cu.config()
    ids = [o["id"] for o in cfg["options"]]
    assert ids == ["prompting", "rag", "peft_lora", "full_finetune"]
    assert all(o.get("basis") for o in cfg["options"])
    assert sum(bool(o.get("baseline")) for o in cfg["options"]) == 1


def test_sample_baseline_matches_the_audit(sample):
    rows = sample.extras["customisation"]
    acts = sample.activities
    llm = acts[(acts["kind"] == "llm_api") & ~cu.self_hosted_fleet(acts)]  # a GPU fleet (PRE-06) is not per request
    assert {r["workload"] for r in rows} == set(llm["activity_id"])
    lines = sample.lines
    for r in rows:
        if r["baseline"]:
            aid = r["workload"]
            audited = lines.loc[(lines["activity_id"] == aid) | (lines["derived_from"] == aid), "kgco2e"].sum()
            assert r["annual_kgco2e"] == pytest.approx(audited, rel=1e-9), aid
            assert r["audited_kgco2e"] == pytest.approx(audited, rel=1e-12)


def test_sample_rows_are_consistent(sample):
    by_w: dict[str, list[dict]] = {}
    for r in sample.extras["customisation"]:
        by_w.setdefault(r["workload"], []).append(r)
    for aid, rows in by_w.items():
        base = next(r for r in rows if r["baseline"])
        assert rows[0] is base  # baseline first, then by annual emissions
        assert [r["annual_kgco2e"] for r in rows[1:]] == sorted(r["annual_kgco2e"] for r in rows[1:])
        for r in rows:
            assert r["annual_kgco2e"] == pytest.approx(
                r["per_request_kgco2e"] * r["requests_per_year"] + r["one_off_kgco2e"] / r["lifetime_years"], rel=1e-12)
            n = r["break_even_requests"]
            if not r["baseline"] and n is not None and r["one_off_kgco2e"] > 0:
                # at N* requests, option and baseline have emitted the same
                assert r["one_off_kgco2e"] + n * r["per_request_kgco2e"] == pytest.approx(
                    n * base["per_request_kgco2e"], rel=1e-9)
        rag = next(r for r in rows if r["option"] == "rag")
        assert rag["break_even_requests"] is None


def test_top_keeps_the_largest_workloads(sample):
    rows = cu.for_results(sample, top=2)
    kept = list(dict.fromkeys(r["workload"] for r in rows))
    hs = sample.hotspots
    fleet = set(sample.activities.loc[cu.self_hosted_fleet(sample.activities), "activity_id"])  # by GPU-hours
    llm = hs[(hs["kind"] == "llm_api") & ~hs["activity_id"].isin(fleet)]["activity_id"].tolist()
    assert kept == llm[:2]
