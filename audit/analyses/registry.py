"""The one registry of analyses: each runs on finished results and is stored in
``results.extras`` under its key.

``AuditResults.analysis(key)`` (audit.inventory.results) returns the stored one or runs the
function registered here, so the HTML report, the workbook and the charts never disagree
on a fallback. The registry itself is ``audit.inventory.results.ANALYSES`` (plain data, no
import of this layer); this module fills it when ``audit`` is imported.

To add an analysis: write its function in its own module of this layer, add it to
``ANALYSES`` below and its key to ``audit.inventory.results.FEASIBILITY_EXTRAS``.
"""
from __future__ import annotations

from audit.analyses import customisation, disclosures, routes, scorecard
from audit.analyses.customisation import estimate_rows, per_activity
from audit.analyses.effort_impact import effort_impact_thresholds, quadrant
from audit.analyses.forecast import forecast, settings
from audit.analyses.interventions import ACTIONABLE_VERDICTS, VERDICT_ORDER, evaluate_many
from audit.analyses.options import interventions_for
from audit.analyses.precision import precision_per_watt
from audit.analyses.sensitivity import sensitivity
from audit.inventory.results import ANALYSES, FEASIBILITY_EXTRAS, JSON_BLOCKS, AuditResults


def forecast_settings_of(results) -> dict:
    """The forecast settings stored by ``apply``, else the engagement's settings now."""
    return (results.extras or {}).get("forecast_settings") or settings(results.engagement)


def effort_impact_of(results) -> dict:
    return effort_impact_thresholds(results.engagement, results.totals["kgco2e"], forecast_settings_of(results))


def sensitivity_of(results) -> list[dict]:
    return sensitivity(results.interventions or [], forecast_settings_of(results), results.engagement,
                       results.totals["kgco2e"])


def precision_per_watt_of(results) -> list[dict]:
    return precision_per_watt(results.lines)


def customisation_of(results) -> list[dict]:
    return customisation.for_results(results) if results.activities is not None else []


def scorecard_of(results) -> dict:
    weights = results.engagement.scorecard_weights
    return scorecard.for_results(results, weights=weights) if results.activities is not None else {"rows": []}


def customisation_and_scorecard(results) -> dict:
    """``customisation_of`` and ``scorecard_of`` (keys ``customisation``, ``scorecard``) with
    both analyses' synthetic rows (ids ``W…`` and ``C…``) validated and estimated in one
    estimator run instead of two: the same figures, one validation's and one estimate's
    fixed cost saved."""
    if results.activities is None:
        return {"customisation": [], "scorecard": {"rows": []}}
    cust = customisation.plan_for_results(results)
    head, card = scorecard.plan_for_results(results, weights=results.engagement.scorecard_weights)
    rows = (cust.compare.rows if cust is not None else []) + card.rows
    per = per_activity(estimate_rows(results.engagement, rows)) if rows else None
    return {"customisation": customisation.finish_for_results(cust, per),
            "scorecard": scorecard.finish_for_results(head, card, per)}


def routes_of(results) -> list[dict]:
    return routes.for_results(results)


ANALYSES.update({"routes": routes_of, "effort_impact": effort_impact_of, "sensitivity": sensitivity_of,
                 "precision_per_watt": precision_per_watt_of, "customisation": customisation_of,
                 "scorecard": scorecard_of})
assert set(ANALYSES) == set(FEASIBILITY_EXTRAS), "every stored extra has exactly one analysis"
# disclosures, sci, water_litres (issue 13) in every results.json
if disclosures.results_blocks not in JSON_BLOCKS:
    JSON_BLOCKS.append(disclosures.results_blocks)


def apply(results: AuditResults) -> None:
    """Fill ``results.interventions``, ``results.forecast`` and the feasibility extras."""
    s = settings(results.engagement)
    evaluated = []
    for done, why in evaluate_many(results, interventions_for(results.engagement), s):
        if done is not None:
            evaluated.append(done)
        elif why and why not in results.warnings:
            results.warnings.append(why)
    evaluated.sort(key=lambda e: (VERDICT_ORDER[e.record["verdict"]],
                                  e.record["cost_per_tonne"] if e.record["cost_per_tonne"] is not None else 1e18))
    results.interventions = [e.record for e in evaluated]
    # Prices the money side used join the register, so every money_price_ids entry resolves.
    results.prices = {**{k: v for e in evaluated for k, v in (e.prices or {}).items()}, **(results.prices or {})}
    results.extras["forecast_settings"] = s
    thresholds = results.extras["effort_impact"] = effort_impact_of(results)
    for rec in results.interventions:
        rec["quadrant"] = quadrant(rec["effort_person_days"], rec["abated_kgco2e_per_year"],
                                   thresholds["effort_person_days"], thresholds["impact_kgco2e_per_year"])
    chosen = [e for e in evaluated if e.record["verdict"] in ACTIONABLE_VERDICTS]
    results.forecast = forecast(results, chosen, s)
    together = customisation_and_scorecard(results)
    for key, analyse_ in ANALYSES.items():
        if key != "effort_impact":  # stored above: the quadrants need it
            results.extras[key] = together[key] if key in together else analyse_(results)


def analyse(results: AuditResults) -> AuditResults:
    """Run every feasibility analysis on ``results`` (in place) and return them."""
    apply(results)
    return results
