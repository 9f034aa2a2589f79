"""Audit results: totals, scope breakdown, hotspots and the ``results.json`` contract.

``AuditResults`` is what every deliverable is written from (Excel, HTML, JSON), so the
three can never disagree. Totals are sums over emission lines; ``totals.kgco2e`` uses
location-based Scope 2 (GHG Protocol dual reporting keeps market-based separate).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from audit.core.atomic import write_text
from audit.core.models import Engagement
from audit.inventory.costing import activity_costs, price_register
from audit.inventory.estimate import Estimate
from audit.methods.montecarlo import simulate
from audit.reference.vocabularies import kind_family_labels

SCHEMA_VERSION = 1
RUN_SPECIFIC_KEYS = ("generated_at", "footprint", "notes")
# Run-manifest keys as a reader should see them, in both reports (others: underscores as spaces).
MANIFEST_LABELS = {"input_files_sha256": "SHA-256 of input", "tool": "Tool", "tool_version": "Tool version",
                   "factor_set": "Factor set", "engagement_dir_name": "Engagement folder"}
FEASIBILITY_EXTRAS = ("customisation", "scorecard", "sensitivity", "precision_per_watt", "effort_impact", "routes")
# The analyses registry: key -> function(results). Filled by audit.analyses.registry (a higher
# layer) when `audit` is imported; AuditResults.analysis runs the one for a key not stored.
ANALYSES: dict[str, Callable[["AuditResults"], Any]] = {}
# results.json blocks added by a higher layer: function(results, json dict) -> json dict, run in
# order at the end of to_json_dict. audit.analyses.registry adds the disclosures (issue 13).
JSON_BLOCKS: list[Callable[["AuditResults", dict], dict]] = []
ACTIVITY_JSON_FIELDS = ("activity_id", "kind", "scope", "scope3_category", "kwh", "kgco2e", "kgco2e_low",
                        "kgco2e_high", "factor_ids", "data_quality")


@dataclass
class AuditResults:
    """Everything a report needs. ``lines`` has one row per emission line (estimate.RESULT_COLUMNS)."""

    engagement: Engagement
    factor_set: str
    lines: pd.DataFrame
    factors: pd.DataFrame
    interventions: list[dict] = field(default_factory=list)
    forecast: list[dict] = field(default_factory=list)
    footprint: dict | None = None
    manifest: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    extras: dict = field(default_factory=dict)  # feasibility tables for reports (MACC, shifting, …)
    activities: pd.DataFrame | None = None  # validated input rows (for re-estimating interventions)
    costs: dict = field(default_factory=dict)   # activity id -> PricedCost (inventory.costing), for the period
    prices: dict = field(default_factory=dict)  # price id -> Price: the register every cost id resolves in
    # analysis() results computed for results without stored extras, so that each report and
    # chart does not recompute them; kept with the inputs they came from (replace one: recompute).
    _computed: dict = field(default_factory=dict, repr=False, compare=False)

    # --- aggregates ---------------------------------------------------------------------
    @property
    def totals(self) -> dict[str, float]:
        return compute_totals(self.lines)

    @property
    def by_scope(self) -> pd.DataFrame:
        return scope_breakdown(self.lines)

    @property
    def by_stage(self) -> pd.DataFrame:
        return stage_breakdown(self.lines, self.engagement.stages)

    @property
    def hotspots(self) -> pd.DataFrame:
        return hotspot_table(self.lines)

    @property
    def by_family(self) -> pd.DataFrame:
        """kWh and kgCO2e (with low/high and share) per kind family (data/kinds.csv)."""
        return family_breakdown(self.lines)

    def factor_table(self) -> pd.DataFrame:
        """The factors these results cite (id, value, unit, source, year, licence), values as
        text with all significant digits (``{:.8g}``), as the notebooks and reports show them."""
        register = self.factors[["factor_id", "value", "unit", "source", "year", "licence"]]
        return register.assign(value=register["value"].map("{:.8g}".format))

    def trace(self, activity_id: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The factor trace of one activity: its emission lines (itself and the lines derived
        from it: upstream, embodied) and the register rows of every factor they cite."""
        lines = self.lines
        own = lines[(lines["activity_id"] == activity_id) | (lines["derived_from"] == activity_id)]
        own = own[["activity_id", "scope", "quantity", "unit", "kgco2e", "factor_ids", "formula"]]
        register = self.factor_table()
        return own, register[register["factor_id"].isin(own["factor_ids"].explode())]

    def forecast_table(self) -> pd.DataFrame:
        """The forecast by year, with business as usual minus the plan (``avoided_kgco2e``)."""
        forecast = pd.DataFrame(self.forecast).set_index("year")
        return forecast.assign(avoided_kgco2e=forecast["bau_kgco2e"] - forecast["plan_kgco2e"])

    def savings_table(self) -> pd.DataFrame:
        """Every intervention's non-energy savings, one row per saving (``savings_breakdown``
        flattened, with the intervention's ``id``); empty when no option counts any."""
        return pd.DataFrame([{"id": i["id"], **b} for i in self.interventions for b in i["savings_breakdown"]])

    def analysis(self, key: str):
        """A feasibility analysis (one of FEASIBILITY_EXTRAS): the one ``audit.analyses.registry.apply``
        stored, else the same function run on these results now. Every report reads it here."""
        stored = (self.extras or {}).get(key)
        if stored is not None:
            return stored
        inputs = (self.lines, self.interventions, self.activities, self.engagement, self.extras)
        cached = self._computed.get(key)
        if cached is None or any(a is not b for a, b in zip(cached[0], inputs)):
            cached = self._computed[key] = (inputs, ANALYSES[key](self))
        return cached[1]

    # --- serialisation ------------------------------------------------------------------
    def to_json_dict(self, include_feasibility: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "engagement": json.loads(self.engagement.model_dump_json()),
            "factor_set": self.factor_set,
            "totals": self.totals,
            "activities": activities_json(self.lines, self.costs),
            "prices": clean_json(price_register(self.prices)),
        }
        if include_feasibility:
            out["interventions"] = clean_json(self.interventions)
            out["forecast"] = clean_json(self.forecast)
            for key in FEASIBILITY_EXTRAS:
                if key in self.extras:
                    out[key] = clean_json(_records(self.extras[key]))
        out["scopes"] = clean_json(self.by_scope.to_dict(orient="records"))
        out["factors"] = clean_json(self.factors.to_dict(orient="records"))
        out["uncertainty"] = clean_json(uncertainty_json(self))
        # results.json is reproducible: the same inputs and factor set give the same bytes.
        # Run-specific data (this run's footprint and timestamp) lives in manifest.json and
        # in the reports' clearly labelled run blocks.
        stable = {k: v for k, v in self.manifest.items() if k not in RUN_SPECIFIC_KEYS}
        if stable:
            out["manifest"] = clean_json(stable)
        if self.warnings:
            out["warnings"] = list(self.warnings)
        for add_blocks in JSON_BLOCKS:
            out = clean_json(add_blocks(self, out))
        return out

    def write_json(self, path: Path, include_feasibility: bool = True) -> None:
        text = json.dumps(self.to_json_dict(include_feasibility), indent=2, ensure_ascii=False, allow_nan=False)
        write_text(path, text + "\n")


def from_estimate(est: Estimate, warnings: list[str] | None = None) -> AuditResults:
    results = AuditResults(engagement=est.engagement, factor_set=est.register.factor_set.label,
                           lines=est.lines, factors=est.factors_used,
                           warnings=list(est.warnings if warnings is None else warnings),
                           activities=est.activities)
    results.costs, results.prices = activity_costs(est.engagement, est.activities)
    results_uncertainty(results)  # ~20 ms for the sample at n = 10,000
    return results


MONTE_CARLO_N = 10000
MONTE_CARLO_SEED = 0


def results_uncertainty(results: AuditResults, n: int = MONTE_CARLO_N, seed: int = MONTE_CARLO_SEED) -> dict:
    """Fill ``results.extras['monte_carlo']`` (audit.methods.montecarlo.simulate over the lines) and return it.

    Recomputed when the lines, n or seed differ from the stored run."""
    mc = results.extras.get("monte_carlo")
    fresh = (isinstance(mc, dict) and mc.get("n") == n and mc.get("seed") == seed
             and mc.get("lines") == len(results.lines)
             and math.isclose(mc.get("central", float("nan")), float(results.lines["kgco2e"].sum()), rel_tol=1e-12))
    if not fresh:
        mc = simulate(results.lines, n=n, seed=seed)
        mc["lines"] = len(results.lines)
        results.extras["monte_carlo"] = mc
    return mc


def uncertainty_json(results: AuditResults) -> dict:
    """``results.json`` key ``uncertainty``: the Monte Carlo percentiles of the total (independent
    lines) beside the IPCC Approach 1 range; ``totals.kgco2e_low/high`` stay the correlated sums."""
    mc = results_uncertainty(results)
    lo, hi = independent_range(results.lines)
    return {"method": mc["method"], "n": mc["n"], "seed": mc["seed"],
            "total_p5": mc["total_p5"], "total_p50": mc["total_p50"], "total_p95": mc["total_p95"],
            "total_mean": mc["total_mean"], "total_p2_5": mc["total_p2_5"], "total_p97_5": mc["total_p97_5"],
            "by_scope": mc["by_scope"],
            "independent_range_low": float(lo), "independent_range_high": float(hi),
            "independent_range_method": "IPCC 2006 Vol. 1 Ch. 3 Approach 1 (Eq. 3.1), 95 % bounds in quadrature"}


# --- aggregation (pure functions over the lines table) -----------------------------------

def weighted_data_quality(lines: pd.DataFrame) -> float | None:
    """Emissions-weighted data quality: Σ(score × kgCO2e) / Σ kgCO2e over every line, derived
    lines with their own score (an embodied line is capped at 4 whatever its parent's). The
    Excel workbook computes the same as a live SUMPRODUCT; both reports call this."""
    total = float(lines["kgco2e"].sum())
    return float((lines["data_quality"] * lines["kgco2e"]).sum() / total) if total else None


def compute_totals(lines: pd.DataFrame) -> dict[str, float]:
    """Totals as plain sums of lines. Low/high add the lines' bounds (errors treated as fully
    correlated: the widest defensible range); see ``independent_range`` for the IPCC
    Approach 1 quadrature alternative."""
    s = lines["scope"]
    scope2 = s == 2
    location = float(lines["kgco2e"].sum())
    return {
        "kwh": float(lines["kwh"].sum()),
        "kgco2e": location,
        "kgco2e_low": float(lines["kgco2e_low"].sum()),
        "kgco2e_high": float(lines["kgco2e_high"].sum()),
        "scope1_kgco2e": float(lines.loc[s == 1, "kgco2e"].sum()),
        "scope2_location_kgco2e": float(lines.loc[scope2, "kgco2e"].sum()),
        "scope2_market_kgco2e": float(lines.loc[scope2, "kgco2e_market"].sum()),
        "scope3_kgco2e": float(lines.loc[s == 3, "kgco2e"].sum()),
    }


def independent_range(lines: pd.DataFrame) -> tuple[float, float]:
    """IPCC 2006 Vol. 1 Ch. 3, Approach 1 (Eq. 3.1): for a sum of independent terms, the
    absolute uncertainties add in quadrature. Returns (low, high) of the total."""
    c = lines["kgco2e"].to_numpy(float)
    lo = c.sum() - math.sqrt(float(np.sum((c - lines["kgco2e_low"].to_numpy(float)) ** 2)))
    hi = c.sum() + math.sqrt(float(np.sum((lines["kgco2e_high"].to_numpy(float) - c) ** 2)))
    return lo, hi


def scope_breakdown(lines: pd.DataFrame) -> pd.DataFrame:
    """Scope 1, Scope 2 (location and market) and Scope 3 by category, in reporting order."""
    rows = []
    s1 = lines[lines["scope"] == 1]
    rows.append({"scope": "Scope 1", "scope3_category": None, "category": "Direct emissions",
                 "kgco2e": s1["kgco2e"].sum(), "kgco2e_low": s1["kgco2e_low"].sum(),
                 "kgco2e_high": s1["kgco2e_high"].sum(), "lines": len(s1)})
    s2 = lines[lines["scope"] == 2]
    rows.append({"scope": "Scope 2 (location-based)", "scope3_category": None, "category": "Purchased electricity",
                 "kgco2e": s2["kgco2e"].sum(), "kgco2e_low": s2["kgco2e_low"].sum(),
                 "kgco2e_high": s2["kgco2e_high"].sum(), "lines": len(s2)})
    rows.append({"scope": "Scope 2 (market-based)", "scope3_category": None, "category": "Purchased electricity",
                 "kgco2e": s2["kgco2e_market"].sum(), "kgco2e_low": np.nan, "kgco2e_high": np.nan,
                 "lines": len(s2)})
    s3 = lines[lines["scope"] == 3]
    for cat, g in s3.groupby("scope3_category", sort=True):
        rows.append({"scope": "Scope 3", "scope3_category": int(cat), "category": g["scope_category_name"].iloc[0],
                     "kgco2e": g["kgco2e"].sum(), "kgco2e_low": g["kgco2e_low"].sum(),
                     "kgco2e_high": g["kgco2e_high"].sum(), "lines": len(g)})
    df = pd.DataFrame(rows)
    df["scope3_category"] = df["scope3_category"].astype("Int64")  # an integer (or NA), as in activities
    total = lines["kgco2e"].sum()
    df["share"] = np.where(df["scope"] == "Scope 2 (market-based)", np.nan, df["kgco2e"] / total if total else 0)
    return df


def stage_breakdown(lines: pd.DataFrame, stage_order: list[str] | None = None) -> pd.DataFrame:
    g = lines.groupby("stage", sort=False).agg(kgco2e=("kgco2e", "sum"), kgco2e_low=("kgco2e_low", "sum"),
                                               kgco2e_high=("kgco2e_high", "sum"), kwh=("kwh", "sum"))
    order = [s for s in (stage_order or []) if s in g.index] + [s for s in g.index if s not in (stage_order or [])]
    g = g.loc[order].reset_index()
    total = lines["kgco2e"].sum()
    g["share"] = g["kgco2e"] / total if total else 0.0
    return g


def family_breakdown(lines: pd.DataFrame) -> pd.DataFrame:
    """Sums per kind family ("Generative AI and compute", "Traditional production") and each
    family's share of the central kgCO2e."""
    split = lines.groupby(kind_family_labels(lines["kind"]))[["kwh", "kgco2e", "kgco2e_low", "kgco2e_high"]].sum()
    return split.assign(share=split["kgco2e"] / split["kgco2e"].sum())


def family_counts(activities: pd.DataFrame) -> pd.DataFrame:
    """How many activities of each kind, grouped by kind family (column ``activities``)."""
    return activities.groupby([kind_family_labels(activities["kind"]), "kind"]).size().rename("activities").to_frame()


def parent_key(lines: pd.DataFrame) -> pd.Series:
    """The activity each emission line belongs to: its own id, or for a derived line (upstream
    fuel, embodied hardware, hotel proxy) the id of the activity it was derived from."""
    return lines["derived_from"].where(lines["derived_from"] != "", lines["activity_id"])


def hotspot_table(lines: pd.DataFrame) -> pd.DataFrame:
    """Activities (derived lines folded into their parent) ranked by emissions, with the
    cumulative share for a Pareto chart."""
    key = parent_key(lines)
    parent = lines[lines["derived_from"] == ""].set_index("activity_id")
    g = lines.assign(parent_id=key).groupby("parent_id").agg(
        kgco2e=("kgco2e", "sum"), kgco2e_low=("kgco2e_low", "sum"), kgco2e_high=("kgco2e_high", "sum"))
    g = g.join(parent[["stage", "description", "kind", "scope"]]).sort_values("kgco2e", ascending=False)
    total = g["kgco2e"].sum()
    g["share"] = g["kgco2e"] / total if total else 0.0
    g["cumulative_share"] = g["share"].cumsum()
    return g.reset_index().rename(columns={"parent_id": "activity_id"})


def activities_json(lines: pd.DataFrame, costs: dict | None = None) -> list[dict]:
    """results.json ``activities``: one entry per emission line. ``cost`` is the activity's
    cost for the period in the engagement currency (None when unknown, and on derived lines,
    whose cost is their activity's); ``cost_ids`` name entries of the ``prices`` register."""
    costs = costs or {}
    out = []
    for row in lines.itertuples(index=False):
        d = {f: getattr(row, f) for f in ACTIVITY_JSON_FIELDS}
        d["scope"] = int(d["scope"])
        d["scope3_category"] = None if pd.isna(d["scope3_category"]) else int(d["scope3_category"])
        d["factor_ids"] = list(d["factor_ids"])
        d["data_quality"] = int(d["data_quality"])
        for k in ("kwh", "kgco2e", "kgco2e_low", "kgco2e_high"):
            d[k] = float(d[k])
        d.update({"stage": row.stage, "description": row.description, "derived_from": row.derived_from or None,
                  "kgco2e_market": float(row.kgco2e_market), "market_basis": row.market_basis or None,
                  "method": row.method, "formula": row.formula})
        # Issue 15: what the figure includes, EcoLogits' figure beside ours on LLM lines, the
        # hosted embodied share as a memo (added to the totals only under llm_boundary: lifecycle).
        extra = {k: getattr(row, k, None) for k in ("boundary", "ecologits_kwh", "embodied_kgco2e_memo",
                                                    "data_quality_basis")}
        d["boundary"] = extra["boundary"] if isinstance(extra["boundary"], str) else None
        for k in ("ecologits_kwh", "embodied_kgco2e_memo"):
            v = extra[k]
            d[k] = None if v is None or pd.isna(v) else float(v)
        if d["kind"] == "llm_api" and d["ecologits_kwh"] is None and not row.derived_from:
            d["ecologits_kwh"] = None  # a measured-power row of an unknown model: EcoLogits has no figure
        d["data_quality_basis"] = extra["data_quality_basis"] if isinstance(extra["data_quality_basis"], str) else None
        priced = None if row.derived_from else costs.get(row.activity_id)
        d["cost"] = None if priced is None or priced.amount is None else float(priced.amount)
        d["cost_ids"] = list(priced.price_ids) if priced is not None and priced.amount is not None else []
        d["cost_note"] = ("counted on " + row.derived_from if row.derived_from
                          else (priced.note or None) if priced is not None else None)
        out.append(d)
    return out


def _records(obj):
    return obj.to_dict(orient="records") if isinstance(obj, pd.DataFrame) else obj


def clean_json(obj):
    """Make pandas/numpy values JSON-safe (NaN -> None, numpy scalars -> Python)."""
    if isinstance(obj, dict):
        return {str(k): clean_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean_json(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return None if not math.isfinite(float(obj)) else float(obj)
    if obj is pd.NA or obj is pd.NaT:
        return None
    if isinstance(obj, (pd.Timestamp,)):
        return obj.isoformat()
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj
