"""The options the feasibility step evaluates: the lever library (data/levers.yaml, validated by
audit.reference.levers) and the engagement's own ``interventions:`` (an own option with a lever's
id replaces that lever). audit.analyses.interventions evaluates them.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from audit.core.models import Intervention, InterventionEffort
from audit.reference.levers import Lever, lever_library


@dataclass(frozen=True)
class Option:
    """One option the feasibility step evaluates: a lever of data/levers.yaml, or an
    intervention of the engagement's own ``interventions:`` list (same id replaces)."""

    id: str
    name: str
    description: str
    applies_to: dict
    change: dict
    effort: InterventionEffort
    risks: str = ""
    basis: str = ""
    citation: str = ""
    area: str = ""
    quality_risk: str = ""
    co_benefits: tuple[str, ...] = ()
    what_would_change_it: str = ""
    money_saves: tuple[str, ...] = ()
    money_adds: tuple[str, ...] = ()
    factor_ids: tuple[str, ...] = ()
    factors_missing: tuple[str, ...] = ()
    savings: tuple[dict, ...] = ()


def option_from_lever(lever: Lever) -> Option:
    change = {k: v for k, v in lever.change.model_dump().items() if v not in ({}, None)}
    return Option(id=lever.id, name=lever.name, description=lever.description, applies_to=dict(lever.applies_to),
                  change=change, effort=InterventionEffort(**lever.effort.model_dump()), risks=lever.risks,
                  basis=lever.basis, citation=lever.citation, area=lever.area.value,
                  quality_risk=lever.quality_risk or "", co_benefits=tuple(lever.co_benefits),
                  what_would_change_it=lever.what_would_change_it, money_saves=tuple(lever.money.saves),
                  money_adds=tuple(lever.money.adds), factor_ids=tuple(lever.factors.uses),
                  factors_missing=tuple(lever.factors.to_add))


def option_from_intervention(iv: Intervention) -> Option:
    return Option(id=iv.id, name=iv.name, description=iv.description, applies_to=dict(iv.applies_to),
                  change=dict(iv.change), effort=iv.effort, risks=iv.risks, basis=iv.basis,
                  citation="Engagement intervention (engagement.yaml)",
                  savings=tuple(s if isinstance(s, dict) else s.model_dump() for s in iv.savings))


@lru_cache(maxsize=1)
def intervention_library() -> tuple[Option, ...]:
    """The lever library (data/levers.yaml) as options."""
    return tuple(option_from_lever(x) for x in lever_library())


def savings_specs(option) -> list[dict]:
    """An option's own non-energy ``savings`` entries (engagement interventions only: the
    levers price their savings from the activities' own costs)."""
    return [dict(s) for s in getattr(option, "savings", ()) or ()]


def interventions_for(engagement) -> list[Option]:
    own = {i.id: option_from_intervention(i) for i in engagement.interventions}
    merged = [own.pop(i.id, i) for i in intervention_library()]
    return merged + list(own.values())
