"""The feasibility notebook's tables, as data frames with fixed columns.

Each function returns the same columns whatever the engagement holds, empty when there is
nothing to show (no LLM workloads, no generative AI, no priced options), so the thin
notebooks never break on a client whose pipeline lacks one kind of work. ``shown`` turns an
empty table into a one-line note for the reader.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from audit.analyses import verdicts
from audit.analyses.customisation import TOP_WORKLOADS, top_workloads

if TYPE_CHECKING:  # pragma: no cover
    from audit.inventory.results import AuditResults

INTERVENTION_COLUMNS = ["id", "abated_kgco2e_per_year", "abated_low", "abated_high", "money_saved_per_year",
                        "net_cost_per_year", "cost_per_tonne", "payback_years", "effort_person_days", "quadrant",
                        "verdict", "verdict_reason"]
PER_CAMPAIGN_COLUMNS = ["abated_kgco2e", "money_saved", "net_cost"]
ROUTE_COLUMNS = ["id", "name", "kind", "accepted_assets", "kgco2e_per_accepted_asset", "low", "high",
                 "cost_per_accepted_asset"]
SENSITIVITY_COLUMNS = ["id", "input", "input_low", "input_high", "cost_per_tonne_low", "cost_per_tonne_base",
                       "cost_per_tonne_high", "verdict_low", "verdict_high"]
CUSTOMISATION_COLUMNS = ["workload", "option", "model", "input_tokens", "one_off_kgco2e", "per_request_gco2e",
                         "annual_kgco2e", "break_even_requests", "carbon_payback"]
SCORECARD_COLUMNS = ["id", "used_by", "weighted_score", "wh_per_task", "gco2e_per_task", "pareto"]
PRECISION_COLUMNS = ["stage", "generated", "accepted", "kgco2e", "gco2e_per_accepted", "wh_per_accepted",
                     "discarded_share_kgco2e"]


def _frame(rows, columns: list[str]) -> pd.DataFrame:
    df = pd.DataFrame(list(rows or []))
    for c in columns:
        if c not in df.columns:
            df[c] = pd.Series(dtype=object)
    return df


def interventions(results: "AuditResults") -> pd.DataFrame:
    """The ranked options (registry.apply): abatement with its range, money saved, net cost,
    cost per tonne and the verdict in words (data/verdicts.yaml labels); with ``period_type:
    campaign``, the per-campaign figures too (``per_campaign_*``)."""
    df = _frame(results.interventions, INTERVENTION_COLUMNS)
    out = df[INTERVENTION_COLUMNS].assign(verdict=df["verdict"].map(verdicts.words))
    if results.engagement.period_type.value == "campaign":
        for c in PER_CAMPAIGN_COLUMNS:
            out[f"per_campaign_{c}"] = [(r.get("per_campaign") or {}).get(c) for r in results.interventions]
    return out


def verdict_set() -> pd.DataFrame:
    """The one verdict vocabulary (data/verdicts.yaml), in its order of rules."""
    return pd.DataFrame([{"verdict": d.label, "meaning": d.meaning, "in the plan": d.in_plan}
                         for d in verdicts.definitions().values()])


MONEY_COLUMNS = ["id", "verdict", "money_saved_per_year", "net_cost_per_year", "cost_per_tonne",
                 "what_would_change_it"]


def money(results: "AuditResults") -> pd.DataFrame:
    """Each option's money beside its carbon: money saved and net cost a year (negative: it
    saves money), its verdict in words and what would change it."""
    df = _frame(results.interventions, MONEY_COLUMNS)[MONEY_COLUMNS]
    return df.assign(verdict=df["verdict"].map(verdicts.words))


def routes(results: "AuditResults") -> pd.DataFrame:
    """The same deliverable by each route (engagement.yaml ``routes``): kgCO2e and cost per
    accepted asset with the low/high range; empty without routes."""
    return _frame(results.analysis("routes"), ROUTE_COLUMNS)[ROUTE_COLUMNS]


def routes_scale(results: "AuditResults") -> pd.DataFrame:
    """The scale (rebound) sensitivity: each route's total and per-asset kgCO2e as volume grows,
    and its total against the reference route's at today's volume."""
    rows = [s for r in (results.analysis("routes") or []) for s in r.get("scale", [])]
    return _frame(rows, ["route", "volume_multiple", "accepted_assets", "kgco2e", "kgco2e_per_accepted_asset",
                         "times_reference"])


def quadrants(results: "AuditResults") -> pd.DataFrame:
    """Option ids by effort/impact quadrant."""
    df = _frame(results.interventions, ["id", "quadrant"])
    return df.groupby("quadrant")["id"].apply(", ".join).to_frame("options")


def sensitivity(results: "AuditResults") -> pd.DataFrame:
    """Cost per tonne with one input at its low and high value (analyses.sensitivity); the
    verdicts in words."""
    df = _frame(results.analysis("sensitivity"), SENSITIVITY_COLUMNS)[SENSITIVITY_COLUMNS]
    return df.assign(verdict_low=df["verdict_low"].map(verdicts.words),
                     verdict_high=df["verdict_high"].map(verdicts.words))


def customisation(results: "AuditResults", top: int = TOP_WORKLOADS) -> pd.DataFrame:
    """Prompting vs RAG vs LoRA vs full fine-tune for the ``top`` largest LLM workloads."""
    rows = results.analysis("customisation")
    largest = top_workloads(rows, top)
    cust = _frame(rows, [*CUSTOMISATION_COLUMNS, "per_request_kgco2e"])
    cust = cust.assign(per_request_gco2e=cust["per_request_kgco2e"] * 1000)
    return cust[cust["workload"].isin(largest)][CUSTOMISATION_COLUMNS]


def scorecard(results: "AuditResults") -> pd.DataFrame:
    """The base-model scorecard: weighted score against energy and emissions per task."""
    card = _frame((results.analysis("scorecard") or {}).get("rows"),
                  ["id", "used_by", "weighted_score", "kwh_per_task", "kgco2e_per_task", "pareto"])
    card = card.assign(wh_per_task=card["kwh_per_task"] * 1000, gco2e_per_task=card["kgco2e_per_task"] * 1000)
    return card[SCORECARD_COLUMNS]


def precision(results: "AuditResults") -> pd.DataFrame:
    """Precision per watt by stage: emissions per accepted asset, share spent on discarded ones."""
    ppw = _frame(results.analysis("precision_per_watt"),
                 ["stage", "generated", "accepted", "kgco2e", "kgco2e_per_accepted", "kwh_per_accepted",
                  "discarded_share_kgco2e"])
    ppw = ppw.assign(gco2e_per_accepted=ppw["kgco2e_per_accepted"] * 1000,
                     wh_per_accepted=ppw["kwh_per_accepted"] * 1000)
    return ppw[PRECISION_COLUMNS]


def shown(table: pd.DataFrame, when_empty: str):
    """The table, or (when it is empty) a one-line Markdown note saying why."""
    if len(table):
        return table
    from IPython.display import Markdown
    return Markdown(f"*{when_empty}*")
