"""The same deliverable, three routes: traditional shoot, generative, hybrid.

The consultant names a deliverable ("40 key visuals", "one 30 s film") and, for each route,
the activities it takes. The toolkit compares kgCO2e and cost per accepted asset, with the
estimate's low/high range, and a scale sensitivity shows what happens when generation is
cheap and volume grows (rebound).

engagement.yaml shape (validated by :class:`audit.core.models.Routes`)::

    routes:
      deliverable: 40 key visuals
      asset: key visual
      accepted_assets: 40
      options:
        - id: shoot
          name: Location shoot in Iceland
          kind: traditional
          activities: [PRO-01, PRO-02, PRO-04]
        - id: generative
          name: Generated backgrounds and products
          kind: generative
          activities: [PRE-01, POST-03]
          fixed_activities: [POST-03]     # one-off work that does not grow with volume
          accepted_assets: 40             # optional: defaults to the deliverable's

Equations (one function each):

    per accepted asset   = route total / accepted assets
    total at volume V    = fixed + variable per asset × V
    per asset at V       = fixed / V + variable per asset
    rebound volume       = base volume × (1 + elasticity × price fall share)
"""
from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from audit.core.models import Route, RouteKind, Routes
from audit.inventory.results import parent_key

# engagement.yaml ``routes`` is validated by audit.core.models.Routes (a Route per option).
Deliverable = Routes
__all__ = ["Deliverable", "Route", "RouteKind", "Routes", "for_results", "route_summary", "scale_sensitivity"]


def per_accepted_asset(total: float | None, accepted_assets: float) -> float | None:
    """Per accepted asset = route total / accepted assets (None when the total is unknown)."""
    return None if total is None else total / accepted_assets


def total_at_volume(fixed: float, variable_per_asset: float, volume: float) -> float:
    """Total at volume V = fixed + variable per asset × V."""
    return fixed + variable_per_asset * volume


def per_asset_at_volume(fixed: float, variable_per_asset: float, volume: float) -> float:
    """Per asset at V = fixed / V + variable per asset."""
    return fixed / volume + variable_per_asset


def rebound_volume(base_volume: float, price_fall_share: float, elasticity: float) -> float:
    """Volume after a price fall: base × (1 + elasticity × price fall share). An elasticity
    of 1 means a 50% cheaper asset is bought 50% more often."""
    return base_volume * (1 + elasticity * price_fall_share)


def route_summary(route: Route, deliverable: Deliverable, kg_by_activity: Mapping[str, tuple[float, float, float]],
                  cost_by_activity: Mapping[str, float | None]) -> dict:
    """One ``routes`` entry of results.json.

    ``kg_by_activity``: activity id -> (low, central, high) kgCO2e for the period, derived
    lines included; ``cost_by_activity``: activity id -> cost (None when unknown). A route
    whose activity is missing or has no known cost gets ``cost_per_accepted_asset`` None and
    lists the activities in ``cost_unknown`` (a partial sum would understate it)."""
    accepted = route.accepted_assets or deliverable.accepted_assets
    name = deliverable.deliverable
    missing = [a for a in route.activities if a not in kg_by_activity]
    lo = sum(kg_by_activity[a][0] for a in route.activities if a in kg_by_activity)
    mid = sum(kg_by_activity[a][1] for a in route.activities if a in kg_by_activity)
    hi = sum(kg_by_activity[a][2] for a in route.activities if a in kg_by_activity)
    unknown = [a for a in route.activities if cost_by_activity.get(a) is None]
    cost = None if unknown else float(sum(cost_by_activity[a] for a in route.activities))
    fixed = sum(kg_by_activity[a][1] for a in route.fixed_activities if a in kg_by_activity)
    if missing:  # an activity the engagement does not have: the route's figures are unknown
        lo = mid = hi = None
        unknown = sorted(set(unknown) | set(missing))
    return {"id": route.id, "name": route.name, "kind": route.kind.value, "deliverable": name,
            "asset": deliverable.asset, "accepted_assets": accepted, "activities": list(route.activities),
            "missing_activities": missing, "kgco2e": mid, "kgco2e_low": lo, "kgco2e_high": hi,
            "kgco2e_per_accepted_asset": per_accepted_asset(mid, accepted),
            "low": per_accepted_asset(lo, accepted), "high": per_accepted_asset(hi, accepted),
            "cost": cost, "cost_per_accepted_asset": per_accepted_asset(cost, accepted), "cost_unknown": unknown,
            "fixed_kgco2e": fixed, "variable_kgco2e_per_asset": None if mid is None else (mid - fixed) / accepted}


def scale_sensitivity(summary: dict, multipliers: tuple[float, ...] = (1, 2, 5, 10, 100),
                      reference_kgco2e: float | None = None) -> list[dict]:
    """What happens when volume grows: total and per-asset kgCO2e at each volume multiple of
    the route's accepted assets, and the ratio of the total to a reference (e.g. the
    traditional route's total for the original deliverable: above 1 the cheap route now
    emits more in all, the rebound)."""
    fixed, variable, base = summary["fixed_kgco2e"], summary["variable_kgco2e_per_asset"], summary["accepted_assets"]
    rows = []
    if variable is None:  # the route's total is unknown (a missing activity)
        return rows
    for m in multipliers:
        volume = base * m
        total = total_at_volume(fixed, variable, volume)
        rows.append({"route": summary["id"], "volume_multiple": float(m), "accepted_assets": volume, "kgco2e": total,
                     "kgco2e_per_accepted_asset": per_asset_at_volume(fixed, variable, volume),
                     "times_reference": total / reference_kgco2e if reference_kgco2e else None})
    return rows


def for_results(results) -> list[dict]:
    """results.json ``routes``: one entry per route of engagement.yaml ``routes`` (empty
    without), each with its ``scale`` sensitivity against the first traditional route's
    total (or the first route's). Figures are for the engagement period."""
    spec = results.engagement.routes
    if spec is None:
        return []
    lines = results.lines
    by = lines.assign(_parent=parent_key(lines).to_numpy()).groupby("_parent")[["kgco2e_low", "kgco2e", "kgco2e_high"]].sum()
    kg = {str(k): (float(r.kgco2e_low), float(r.kgco2e), float(r.kgco2e_high)) for k, r in by.iterrows()}
    costs = {k: c.amount for k, c in (results.costs or {}).items()}
    summaries = [route_summary(r, spec, kg, costs) for r in spec.options]
    ref = next((x for x in summaries if x["kind"] == RouteKind.traditional.value), summaries[0])
    for x in summaries:
        x["scale"] = scale_sensitivity(x, tuple(spec.scale_multiples), reference_kgco2e=ref["kgco2e"] or None)
        x["scale_reference_route"] = ref["id"]
    return summaries


def routes_table(entries: list[dict]) -> pd.DataFrame:
    """The routes as a table (one row per route) for the reports."""
    cols = ["id", "name", "kind", "accepted_assets", "kgco2e_per_accepted_asset", "low", "high",
            "cost_per_accepted_asset"]
    return pd.DataFrame([{c: e.get(c) for c in cols} for e in entries], columns=cols)
