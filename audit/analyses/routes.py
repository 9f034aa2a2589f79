"""The same deliverable, three routes: traditional shoot, generative, hybrid.

The consultant names a deliverable ("40 key visuals", "one 30 s film") and, for each route,
the activities it takes. The toolkit compares kgCO2e and cost per accepted asset, with the
estimate's low/high range, and a scale sensitivity shows what happens when generation is
cheap and volume grows (rebound).

engagement.yaml shape (validated by :class:`Deliverable`)::

    deliverable:
      name: 40 key visuals
      asset: key visual
      accepted_assets: 40
      routes:
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
from enum import Enum

from pydantic import BaseModel, ConfigDict, Field, model_validator


class RouteKind(str, Enum):
    TRADITIONAL = "traditional"
    GENERATIVE = "generative"
    HYBRID = "hybrid"


class Route(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    kind: RouteKind
    activities: tuple[str, ...] = Field(min_length=1)
    fixed_activities: tuple[str, ...] = ()
    accepted_assets: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _fixed_are_listed(self) -> Route:
        extra = set(self.fixed_activities) - set(self.activities)
        if extra:
            raise ValueError(f"fixed_activities not in activities: {', '.join(sorted(extra))}")
        return self


class Deliverable(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    asset: str = Field(min_length=1)
    accepted_assets: float = Field(gt=0)
    routes: tuple[Route, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> Deliverable:
        ids = [r.id for r in self.routes]
        if len(set(ids)) != len(ids):
            raise ValueError("route ids must be unique")
        return self


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
    missing = [a for a in route.activities if a not in kg_by_activity]
    lo = sum(kg_by_activity[a][0] for a in route.activities if a in kg_by_activity)
    mid = sum(kg_by_activity[a][1] for a in route.activities if a in kg_by_activity)
    hi = sum(kg_by_activity[a][2] for a in route.activities if a in kg_by_activity)
    unknown = [a for a in route.activities if cost_by_activity.get(a) is None]
    cost = None if unknown else float(sum(cost_by_activity[a] for a in route.activities))
    fixed = sum(kg_by_activity[a][1] for a in route.fixed_activities if a in kg_by_activity)
    return {"id": route.id, "name": route.name, "kind": route.kind.value, "deliverable": deliverable.name,
            "asset": deliverable.asset, "accepted_assets": accepted, "activities": list(route.activities),
            "missing_activities": missing, "kgco2e": mid, "kgco2e_low": lo, "kgco2e_high": hi,
            "kgco2e_per_accepted_asset": per_accepted_asset(mid, accepted),
            "low": per_accepted_asset(lo, accepted), "high": per_accepted_asset(hi, accepted),
            "cost": cost, "cost_per_accepted_asset": per_accepted_asset(cost, accepted), "cost_unknown": unknown,
            "fixed_kgco2e": fixed, "variable_kgco2e_per_asset": (mid - fixed) / accepted}


def scale_sensitivity(summary: dict, multipliers: tuple[float, ...] = (1, 2, 5, 10, 100),
                      reference_kgco2e: float | None = None) -> list[dict]:
    """What happens when volume grows: total and per-asset kgCO2e at each volume multiple of
    the route's accepted assets, and the ratio of the total to a reference (e.g. the
    traditional route's total for the original deliverable: above 1 the cheap route now
    emits more in all, the rebound)."""
    fixed, variable, base = summary["fixed_kgco2e"], summary["variable_kgco2e_per_asset"], summary["accepted_assets"]
    rows = []
    for m in multipliers:
        volume = base * m
        total = total_at_volume(fixed, variable, volume)
        rows.append({"route": summary["id"], "volume_multiple": m, "accepted_assets": volume, "kgco2e": total,
                     "kgco2e_per_accepted_asset": per_asset_at_volume(fixed, variable, volume),
                     "times_reference": total / reference_kgco2e if reference_kgco2e else None})
    return rows
