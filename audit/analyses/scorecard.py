"""Base-model scorecard: which model is good enough for the task at the least energy?

Candidates (data/scorecard_weights.yaml) are scored 1–5 by the consultant on the seed
article's ten factors — accuracy, speed, cost, customisation, data security, model size,
specialisation, update frequency, ease of integration and ethical heritage — and weighted:

    weighted score = Σ weight_f × score_f / Σ weight_f        (1–5, higher is better)

Energy and kgCO2e per task come from the audit's own ``llm_api`` estimator (one request
with the task's input and output tokens, the candidate's provider PUE and region), so they
are comparable with the audited lines. A candidate is on the **Pareto front** when no other
candidate scores at least as well on quality *and* uses no more energy per task, being
strictly better on one of the two.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from audit.analyses.customisation import estimate_rows, per_activity
from audit.reference.settings import scorecard_config, scorecard_factors
from audit.reference.vocabularies import PARAM_COUNT, providers, resolve_llm_model

NEUTRAL = 3.0
config = scorecard_config  # data/scorecard_weights.yaml, read once in audit.reference.settings
factors = scorecard_factors


def default_weights() -> dict[str, float]:
    return {f: float(v["weight"]) for f, v in config()["factors"].items()}


def factor_labels() -> dict[str, str]:
    return {f: v.get("label", f) for f, v in config()["factors"].items()}


def factor_short_labels() -> dict[str, str]:
    """Column headers for narrow tables (``short`` in the YAML, else the label)."""
    return {f: v.get("short", v.get("label", f)) for f, v in config()["factors"].items()}


# --- equations -------------------------------------------------------------------------------

def weighted_score(scores: dict[str, float], weights: dict[str, float]) -> float:
    """Σ w·s / Σ w over the factors with a weight; a factor without a score counts as 3."""
    total_w = sum(float(w) for w in weights.values())
    if total_w <= 0:
        raise ValueError("scorecard weights must not all be zero")
    for f, s in scores.items():
        if not 1 <= float(s) <= 5:
            raise ValueError(f"score for {f} must be between 1 and 5, got {s}")
    return sum(float(w) * float(scores.get(f, NEUTRAL)) for f, w in weights.items()) / total_w


def pareto_flags(quality, energy) -> list[bool]:
    """True where no other point has quality >= and energy <=, with one of them strict."""
    q = np.asarray(quality, dtype=float)
    e = np.asarray(energy, dtype=float)
    out = []
    for i in range(len(q)):
        dominated = np.any((q >= q[i]) & (e <= e[i]) & ((q > q[i]) | (e < e[i])))
        out.append(not bool(dominated))
    return out


# --- candidates --------------------------------------------------------------------------------

def _canonical(provider: str) -> str:
    p = providers()
    return p["provider"].get(str(provider).lower(), str(provider).lower()) if provider else ""


def _model_name(provider: str, model: str) -> str:
    if not model or PARAM_COUNT.match(model):
        return str(model)
    found, _ = resolve_llm_model(str(provider).lower(), model)
    return found.name if found is not None else str(model)


def same_model(a: dict, b: dict) -> bool:
    if _canonical(a.get("provider", "")) != _canonical(b.get("provider", "")):
        return False
    return a.get("model") == b.get("model") or (
        _model_name(a.get("provider", ""), a.get("model", "")) == _model_name(b.get("provider", ""), b.get("model", "")))


def engagement_task(activities: pd.DataFrame | None) -> dict:
    """The request-weighted mean input and output tokens of the engagement's llm_api
    activities, else the default task of data/scorecard_weights.yaml."""
    default = dict(config()["task"], source="default task (data/scorecard_weights.yaml)")
    if activities is None or activities.empty:
        return default
    llm = activities[activities["kind"] == "llm_api"]
    q = llm["quantity_base"].astype(float)
    if llm.empty or q.sum() <= 0:
        return default
    return {"input_tokens": float((q * llm["input_tokens"].fillna(0).astype(float)).sum() / q.sum()),
            "output_tokens": float((q * llm["output_tokens"].fillna(0).astype(float)).sum() / q.sum()),
            "source": "request-weighted mean of the engagement's llm_api activities"}


def candidates_for(activities: pd.DataFrame | None, library: list[dict] | None = None) -> list[dict]:
    """The library's candidates the engagement uses (with the activities using them, and
    their region and ownership) plus its smaller alternatives; models the engagement uses
    that the library lacks are added unscored."""
    library = [dict(c) for c in (library if library is not None else config()["candidates"])]
    llm = (activities[(activities["kind"] == "llm_api") & (activities["model"].astype(str) != "")]
           if activities is not None and not activities.empty else pd.DataFrame())
    used: list[tuple[dict, list[str], dict]] = []  # (model key, activity ids, first activity)
    for _, a in llm.iterrows():
        key = {"provider": a["provider"], "model": a["model"]}
        hit = next((u for u in used if same_model(u[0], key)), None)
        if hit:
            hit[1].append(a["activity_id"])
        else:
            used.append((key, [a["activity_id"]], dict(a)))
    out, matched = [], set()
    for c in library:
        users = [u for u in used if same_model(u[0], c)]
        ids = [i for u in users for i in u[1]]
        if not ids and not c.get("alternative"):
            continue
        c["used_by"] = ids
        if users:
            matched.update(id(u) for u in users)
            first = users[0][2]
            c.setdefault("region", first.get("region", ""))
            c.setdefault("ownership", first.get("ownership", ""))
        c.setdefault("scored", True)
        out.append(c)
    for u in used:
        if id(u) not in matched:
            key, ids, first = u
            out.append({"id": str(key["model"]), "provider": key["provider"], "model": key["model"],
                        "alternative": False, "scores": {}, "scored": False, "used_by": ids,
                        "region": first.get("region", ""), "ownership": first.get("ownership", "")})
    return out


# --- the table ---------------------------------------------------------------------------------

@dataclass
class ScorePlan:
    """A score table before its estimate: the candidates, weights, scores and task, and the
    synthetic activity rows (one request per candidate, ids ``C0``, ``C1``, …) to estimate."""

    candidates: list[dict]
    weights: dict[str, float]
    scores: dict[str, dict[str, float]]
    task: dict
    rows: list[dict]


def plan_table(candidates: list[dict] | None = None, weights: dict[str, float] | None = None,
               scores: dict[str, dict[str, float]] | None = None, task: dict | None = None) -> ScorePlan:
    """The rows ``score_table`` estimates, and what it needs to finish (``finish_table``)."""
    cands = [dict(c) for c in (candidates if candidates is not None else config()["candidates"])]
    w = {**default_weights(), **{k: float(v) for k, v in (weights or {}).items()}}
    unknown = set(w) - set(factors())
    if cands and unknown:
        raise ValueError(f"unknown scorecard factor(s): {', '.join(sorted(unknown))}")
    task = dict(task or config()["task"])
    rows = []
    for i, c in enumerate(cands):
        rows.append({"activity_id": f"C{i}", "stage": "Scorecard", "description": c["id"], "kind": "llm_api",
                     "quantity": 1, "unit": "request", "provider": c.get("provider", ""), "model": c["model"],
                     "region": c.get("region", ""), "ownership": c.get("ownership", ""),
                     "input_tokens": task["input_tokens"], "output_tokens": task["output_tokens"]})
    return ScorePlan(cands, w, dict(scores or {}), task, rows)


def finish_table(plan: ScorePlan, per: pd.DataFrame) -> list[dict]:
    """The score table from the plan's rows estimated (``per``: kWh and kgCO2e by activity id,
    ``customisation.per_activity``)."""
    task, w, scores = plan.task, plan.weights, plan.scores
    out = []
    for i, c in enumerate(plan.candidates):
        s = {f: float(v) for f, v in {**c.get("scores", {}), **scores.get(c["id"], {})}.items()}
        scored = bool(c.get("scored", True)) and bool(s)
        out.append({"id": c["id"], "provider": c.get("provider", ""), "model": c["model"],
                    "used_by": list(c.get("used_by", [])), "alternative": bool(c.get("alternative", False)),
                    "scored": scored, **{f: s.get(f, NEUTRAL) for f in factors()},
                    "weighted_score": weighted_score(s, w),
                    "kwh_per_task": float(per.loc[f"C{i}", "kwh"]), "kgco2e_per_task": float(per.loc[f"C{i}", "kgco2e"]),
                    "input_tokens": float(task["input_tokens"]), "output_tokens": float(task["output_tokens"])})
    flags = pareto_flags([r["weighted_score"] for r in out], [r["kwh_per_task"] for r in out])
    for r, f in zip(out, flags):
        r["pareto"] = f
    out.sort(key=lambda r: (not r["pareto"], -r["weighted_score"], r["kwh_per_task"]))
    return out


def score_table(engagement, candidates: list[dict] | None = None, weights: dict[str, float] | None = None,
                scores: dict[str, dict[str, float]] | None = None, task: dict | None = None) -> list[dict]:
    """One row per candidate: factor scores, weighted score, kWh and kgCO2e per task, Pareto flag.

    ``weights`` and ``scores`` (candidate id -> {factor: score}) override the YAML's per call."""
    plan = plan_table(candidates, weights, scores, task)
    if not plan.candidates:
        return []
    return finish_table(plan, per_activity(estimate_rows(engagement, plan.rows)))


def plan_for_results(results, weights: dict[str, float] | None = None,
                     scores: dict[str, dict[str, float]] | None = None) -> tuple[dict, ScorePlan]:
    """``for_results`` before its estimate: ({"task", "weights"}, the table's plan)."""
    task = engagement_task(results.activities)
    cands = candidates_for(results.activities)
    w = {**default_weights(), **(weights or {})}
    return {"task": task, "weights": w}, plan_table(cands, w, scores, task)


def finish_for_results(head: dict, plan: ScorePlan, per: pd.DataFrame) -> dict:
    """``for_results`` from its plan's rows estimated (``per``, as ``finish_table``)."""
    return {**head, "rows": finish_table(plan, per) if plan.candidates else []}


def for_results(results, weights: dict[str, float] | None = None,
                scores: dict[str, dict[str, float]] | None = None) -> dict:
    """The scorecard for the models the engagement uses plus smaller alternatives, for the
    engagement's typical task: {"task", "weights", "rows"}."""
    head, plan = plan_for_results(results, weights, scores)
    per = per_activity(estimate_rows(results.engagement, plan.rows)) if plan.candidates else None
    return finish_for_results(head, plan, per)
