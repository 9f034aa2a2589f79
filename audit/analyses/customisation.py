"""Customisation break-even: prompt the base model, add retrieval, or fine-tune a smaller one?

For one LLM workload (requests a year, input and output tokens per request, a base model
with its provider and region) each option in ``forecast_defaults.yaml`` › ``customisation``
is turned into ordinary activity rows and run through the audit's own estimator, so the
per-request energy is exactly the ``llm_api`` method (EcoLogits output-token model plus
our prefill term, provider PUE, grid intensity of the region) and the one-off training is
exactly the ``gpu_compute`` method (GPU-hours × power × PUE × grid intensity):

* **prompting** (baseline): the workload as audited;
* **RAG**: + retrieved-context input tokens per request, plus the query embedding per
  request and the one-off index build (both an embedding model's prefill, estimated and
  shown: negligible);
* **LoRA / full fine-tune**: a one-off training run, then a smaller model and fewer input
  tokens per request.

Break-even (``break_even_requests``): the cumulative number of requests after which the
option's lower per-request emissions have paid back its one-off emissions,

    N* = one-off kgCO2e / (baseline − option kgCO2e per request)

None when the option never pays back (it is not cheaper per request). Over a service life
of L years the volume needed is N*/L requests a year; annual emissions at volume V are
per-request × V + one-off / L.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from audit.core.exceptions import ValidationError
from audit.inventory.estimate import estimate
from audit.inventory.intake import LoadedEngagement, normalise_headers, validate_activities
from audit.inventory.results import parent_key
from audit.reference.settings import forecast_defaults

RAW_COLUMNS = ("activity_id", "stage", "description", "kind", "quantity", "unit", "region", "provider", "model",
               "hardware", "ownership", "power_w", "utilisation", "pue", "carbon_intensity_g_per_kwh",
               "input_tokens", "output_tokens", "latency_s", "mode", "accepted_fraction", "data_quality", "notes")
# Columns that describe how the audited model was measured; void once the model changes.
MODEL_SPECIFIC = ("power_w", "latency_s")


def config() -> dict:
    """The customisation block of data/forecast_defaults.yaml."""
    return forecast_defaults()["customisation"]


# --- equations -------------------------------------------------------------------------------

def break_even_requests(one_off_kg: float, base_per_request_kg: float, option_per_request_kg: float) -> float | None:
    """N* = one-off / (baseline − option per request). 0 with no one-off and no extra cost
    per request; None when the option never pays back."""
    saving = base_per_request_kg - option_per_request_kg
    if one_off_kg <= 0:
        return 0.0 if saving >= 0 else None
    if saving <= 0:
        return None
    return one_off_kg / saving


def annual_kg(per_request_kg: float, requests_per_year: float, one_off_kg: float, lifetime_years: float) -> float:
    """Emissions a year at volume V: per-request × V + one-off / service life."""
    return per_request_kg * requests_per_year + one_off_kg / lifetime_years


# --- running rows through the estimator ---------------------------------------------------------

def _cell(v) -> str:
    if v is None or v is pd.NA:
        return ""
    if isinstance(v, (float, np.floating)):
        return "" if math.isnan(v) else repr(float(v))  # repr: the float round-trips exactly
    if isinstance(v, np.integer):
        return str(int(v))
    return str(v)


def estimate_rows(engagement, rows: list[dict]) -> pd.DataFrame:
    """Validate raw activity rows (as a CSV would give them) and estimate them with the
    audit's estimator. Returns the emission lines (derived upstream lines included)."""
    raw = pd.DataFrame([{c: _cell(r.get(c)) for c in RAW_COLUMNS} for r in rows])
    raw.index = np.arange(len(raw)) + 2
    name = "(synthetic rows)"
    df, problems = normalise_headers(raw, name)
    if not problems:
        df, problems, _ = validate_activities(df, engagement, name)
    if problems:
        raise ValidationError(problems)
    return estimate(LoadedEngagement(engagement, df.reset_index(drop=True), Path("."))).lines


def summed(values: dict, ids: list[str]) -> float:
    """Σ values[id] over ``ids`` (0 without ids), summed as pandas sums a column: a lookup per
    id instead of a frame selection per option."""
    return float(np.nansum(np.array([values[i] for i in ids], float))) if ids else 0.0


def per_activity(lines: pd.DataFrame) -> pd.DataFrame:
    """kWh and kgCO2e per synthetic activity, upstream lines folded into their parent."""
    return lines.assign(parent=parent_key(lines)).groupby("parent")[["kwh", "kgco2e"]].sum()


# --- workloads and options ---------------------------------------------------------------------

@dataclass
class Workload:
    """An LLM workload: the audited activity's columns (model, provider, region, tokens, …)
    and its volume."""

    label: str
    requests_per_year: float
    row: dict  # raw activity columns for one request

    @classmethod
    def of(cls, provider: str, model: str, input_tokens: float, output_tokens: float, requests_per_year: float,
           region: str = "", label: str = "", **columns) -> "Workload":
        row = {"provider": provider, "model": model, "input_tokens": input_tokens, "output_tokens": output_tokens,
               "region": region, **columns}
        return cls(label or f"{provider}/{model}", float(requests_per_year), row)

    @classmethod
    def from_activity(cls, act: pd.Series | dict) -> "Workload":
        act = dict(act)
        row = {c: act.get(c) for c in RAW_COLUMNS if c not in ("activity_id", "stage", "description", "kind",
                                                                 "quantity", "unit", "accepted_fraction", "notes")}
        return cls(str(act["activity_id"]), float(act["quantity_base"]), row)


def _req(row: dict, aid: str, quantity: float = 1.0, **over) -> dict:
    out = {**row, **over}
    out.update({"activity_id": aid, "stage": "Customisation", "description": aid, "kind": "llm_api",
                "quantity": quantity, "unit": "request"})
    return out


def option_rows(workload: Workload, option: dict, embedding: dict) -> tuple[list[dict], list[dict]]:
    """(per-request rows, one-off rows) for one option; ids are prefixed by the option id."""
    oid = option["id"]
    base = dict(workload.row)
    inf = dict(option.get("inference") or {})
    if "model" in inf:  # a different model: the audited model's measurements no longer apply
        for c in MODEL_SPECIFIC:
            base.setdefault(c, None)
            if c not in inf:
                base[c] = None
    tokens_in = float(base.get("input_tokens") or 0.0)
    tokens_in = tokens_in * float(option.get("input_tokens_scale", 1.0)) + float(option.get("input_tokens_delta", 0.0))
    tokens_out = float(base.get("output_tokens") or 0.0) * float(option.get("output_tokens_scale", 1.0))
    per_request = [_req(base, f"{oid}:inference", **inf, input_tokens=max(tokens_in, 0.0), output_tokens=tokens_out)]
    one_off: list[dict] = []
    if option.get("retrieval"):
        # retrieval runs beside inference: same provider, region, ownership, PUE and grid override
        emb = {k: per_request[0].get(k) for k in ("provider", "region", "ownership", "pue",
                                                  "carbon_intensity_g_per_kwh")}
        emb.update(model=embedding["model"], output_tokens=0)
        per_request.append(_req(emb, f"{oid}:query-embedding", input_tokens=embedding["query_tokens"]))
        one_off.append(_req(emb, f"{oid}:index-build", input_tokens=embedding["corpus_tokens"]))
    if option.get("training"):
        t = dict(option["training"])
        one_off.append({"activity_id": f"{oid}:training", "stage": "Customisation", "description": "training",
                        "kind": "gpu_compute", "quantity": t.pop("gpu_hours"), "unit": "gpu_hour", **t})
    return per_request, one_off


def compare(engagement, workload: Workload, options: list[dict] | None = None, lifetime_years: float | None = None,
            embedding: dict | None = None) -> list[dict]:
    """One row per option: one-off, per-request and annual kgCO2e at the workload's volume,
    and the break-even request volume against the baseline (the option marked
    ``baseline``, else the first)."""
    return compare_many(engagement, [workload], options, lifetime_years, embedding)[0]


@dataclass
class ComparePlan:
    """``compare_many`` before its estimate: the workloads, for each the options with their
    per-request and one-off row ids and inference row, the service life, and the synthetic
    activity rows (ids ``W<workload>:<option>:…``) to estimate."""

    workloads: list[Workload]
    plan: list[list[tuple]]
    lifetime_years: float
    rows: list[dict]


def plan_many(workloads: list[Workload], options: list[dict] | None = None, lifetime_years: float | None = None,
              embedding: dict | None = None) -> ComparePlan:
    """The rows ``compare_many`` estimates, and what it needs to finish (``finish_many``);
    no rows without options or workloads."""
    cfg = config()
    options = [dict(o) for o in (options if options is not None else cfg["options"])]
    life = float(lifetime_years if lifetime_years is not None else cfg.get("lifetime_years", 1))
    emb = {**cfg.get("embedding", {}), **(embedding or {})}
    if not options or not workloads:
        return ComparePlan(workloads, [], life, [])
    rows, plan = [], []
    for w_i, w in enumerate(workloads):
        per_w = []
        for o in options:
            per_req, one_off = option_rows(w, o, emb)
            pfx = f"W{w_i}:"
            for r in per_req + one_off:
                r["activity_id"] = pfx + r["activity_id"]
            rows += per_req + one_off
            per_w.append((o, [r["activity_id"] for r in per_req], [r["activity_id"] for r in one_off],
                          per_req[0]))
        plan.append(per_w)
    return ComparePlan(workloads, plan, life, rows)


def compare_many(engagement, workloads: list[Workload], options: list[dict] | None = None,
                 lifetime_years: float | None = None, embedding: dict | None = None) -> list[list[dict]]:
    """``compare`` for several workloads in one estimator run."""
    plan = plan_many(workloads, options, lifetime_years, embedding)
    if not plan.rows:
        return [[] for _ in workloads]
    return finish_many(plan, per_activity(estimate_rows(engagement, plan.rows)))


def finish_many(compare_plan: ComparePlan, totals: pd.DataFrame) -> list[list[dict]]:
    """``compare_many``'s tables from its plan's rows estimated (``totals``: kWh and kgCO2e by
    activity id, ``per_activity``)."""
    if not compare_plan.rows:
        return [[] for _ in compare_plan.workloads]
    workloads, plan, life = compare_plan.workloads, compare_plan.plan, compare_plan.lifetime_years
    sums = {col: totals[col].to_dict() for col in ("kwh", "kgco2e")}
    options = [o for o, *_ in plan[0]]
    base_id = next((o["id"] for o in options if o.get("baseline")), options[0]["id"])
    out = []
    for w, per_w in zip(workloads, plan):
        recs = []
        for o, req_ids, off_ids, inf in per_w:
            req = {col: summed(sums[col], req_ids) for col in sums}
            off = {col: summed(sums[col], off_ids) for col in sums}
            recs.append({
                "workload": w.label, "option": o["id"], "name": o.get("name", o["id"]),
                "provider": inf.get("provider") or "", "model": inf.get("model") or "",
                "input_tokens": float(inf["input_tokens"]), "output_tokens": float(inf["output_tokens"]),
                "requests_per_year": w.requests_per_year, "lifetime_years": life,
                "one_off_kwh": float(off["kwh"]), "one_off_kgco2e": float(off["kgco2e"]),
                "per_request_kwh": float(req["kwh"]), "per_request_kgco2e": float(req["kgco2e"]),
                "basis": o.get("basis", ""), "baseline": o["id"] == base_id,
            })
        base = next(r for r in recs if r["baseline"])
        for r in recs:
            r["annual_kgco2e"] = annual_kg(r["per_request_kgco2e"], w.requests_per_year, r["one_off_kgco2e"], life)
            r["annual_operational_kgco2e"] = r["per_request_kgco2e"] * w.requests_per_year
            r["saving_per_request_kgco2e"] = base["per_request_kgco2e"] - r["per_request_kgco2e"]
            r["annual_change_kgco2e"] = r["annual_kgco2e"] - base["annual_kgco2e"]
            n = None if r["baseline"] else break_even_requests(r["one_off_kgco2e"], base["per_request_kgco2e"],
                                                                r["per_request_kgco2e"])
            r["break_even_requests"] = n
            r["break_even_requests_per_year"] = None if n is None else n / life
            r["payback_months"] = (None if n is None or w.requests_per_year <= 0
                                   else n / w.requests_per_year * 12)
            r["pays_back"] = None if r["baseline"] else (n is not None and n <= w.requests_per_year * life)
            r["carbon_payback"] = _words(r)  # emissions break-even, not a money verdict (data/verdicts.yaml)
        recs.sort(key=lambda r: (not r["baseline"], r["annual_kgco2e"]))
        out.append(recs)
    return out


def _words(r: dict) -> str:
    if r["baseline"]:
        return "baseline"
    if r["break_even_requests"] is None:
        return "never pays back: more emissions per request"
    if r["pays_back"]:
        return f"pays back after {r['break_even_requests']:,.0f} requests ({r['payback_months']:,.1f} months)"
    return (f"needs {r['break_even_requests_per_year']:,.0f} requests a year to pay back within "
            f"{r['lifetime_years']:g} year(s)")


# --- the engagement's own workloads -------------------------------------------------------------

TOP_WORKLOADS = 3  # LLM workloads the report and the notebook show (the workbook lists all)


def top_workloads(rows: list[dict], top: int = TOP_WORKLOADS) -> list[str]:
    """The ``top`` largest workloads of a ``for_results`` table (rows come largest first)
    that have a baseline row to compare against."""
    return list(dict.fromkeys(r["workload"] for r in rows if r.get("baseline")))[:top]


def self_hosted_fleet(acts: pd.DataFrame) -> pd.Series:
    """Rows estimated as a self-hosted GPU fleet (``gpus`` and ``serving_hours`` given: method
    selfhosted_llm). Their energy follows the GPUs' hours, not requests, so the per-request
    comparison of customisation options does not describe them; their levers are the fleet's
    own (distillation or quantisation, a managed service)."""
    def positive(col: str) -> pd.Series:
        return pd.to_numeric(acts[col], errors="coerce").fillna(0) > 0 if col in acts else pd.Series(False, index=acts.index)
    return positive("gpus") & positive("serving_hours")


@dataclass
class ResultsPlan:
    """``for_results`` before its estimate: the comparison's plan and each audited activity's
    kgCO2e (derived lines folded in)."""

    compare: ComparePlan
    audited_kg: pd.Series


def plan_for_results(results, top: int | None = None) -> ResultsPlan | None:
    """``for_results`` up to its estimate (None: no llm_api workload to compare)."""
    acts = results.activities
    if acts is None or acts.empty:
        return None
    llm = acts[(acts["kind"] == "llm_api") & (acts["quantity_base"].astype(float) > 0) & ~self_hosted_fleet(acts)]
    if llm.empty:
        return None
    kg = per_activity(results.lines)["kgco2e"]
    order = sorted(llm.index, key=lambda i: -float(kg.get(llm.at[i, "activity_id"], 0.0)))
    if top is not None:
        order = order[:top]
    workloads = [Workload.from_activity(llm.loc[i]) for i in order]
    return ResultsPlan(plan_many(workloads), kg)


def finish_for_results(plan: ResultsPlan | None, totals: pd.DataFrame | None) -> list[dict]:
    """``for_results`` from its plan's rows estimated (``totals``, as ``finish_many``)."""
    if plan is None:
        return []
    tables = finish_many(plan.compare, totals)
    out = []
    for w, table in zip(plan.compare.workloads, tables):
        audited = float(plan.audited_kg.get(w.label, 0.0))
        for r in table:
            r["audited_kgco2e"] = audited
            out.append(r)
    return out


def for_results(results, top: int | None = None) -> list[dict]:
    """Every llm_api activity of the engagement (largest emitters first; ``top`` keeps the
    first few) compared across the configured options, flattened to one list of rows with
    the activity id in ``workload``."""
    plan = plan_for_results(results, top)
    rows = plan.compare.rows if plan is not None else []
    return finish_for_results(plan, per_activity(estimate_rows(results.engagement, rows)) if rows else None)
