"""The effort/impact matrix: each option's quadrant from its person-days and its abatement,
against the engagement's effort threshold and a share of the footprint."""
from __future__ import annotations

QUADRANTS = ("quick win", "major project", "fill-in", "thankless task", "no gain")


def effort_impact_thresholds(engagement, total_kg: float, settings_: dict) -> dict:
    """The matrix's dividing lines: the engagement's effort threshold (person-days) and a
    documented share of the footprint (``impact_threshold_share``, forecast_defaults.yaml)."""
    share = float(settings_.get("impact_threshold_share", 0.01))
    return {"effort_person_days": float(engagement.effort_threshold_person_days), "impact_share": share,
            "impact_kgco2e_per_year": share * float(total_kg)}


def quadrant(person_days: float, abated_kg: float, effort_threshold: float, impact_kg: float) -> str:
    """Quick win (high impact, effort within the threshold), major project (high impact,
    more effort), fill-in (low impact, little effort), thankless task (low impact, much
    effort); 'no gain' when nothing is abated. Boundaries count as the better side."""
    if not abated_kg or abated_kg <= 0:
        return "no gain"
    high = abated_kg >= impact_kg
    easy = person_days <= effort_threshold
    return {(True, True): "quick win", (True, False): "major project", (False, True): "fill-in",
            (False, False): "thankless task"}[(high, easy)]
