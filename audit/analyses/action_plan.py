"""What to do first, in words: the feasibility findings as short plain-words recommendations,
written from the results (never typed in), so they follow the numbers."""
from __future__ import annotations

from audit.analyses import verdicts
from audit.analyses.interventions import ACTIONABLE_VERDICTS


def action_plan(results) -> list[dict]:
    """The feasibility findings as short plain-words recommendations, most important first:
    [{"topic", "text"}]. Written from the results (interventions, sensitivity, customisation,
    scorecard, precision per watt), never typed in, so they follow the numbers."""
    eng = results.engagement
    cur, price = eng.currency, float(eng.carbon_price_per_tonne)
    total = float(results.totals["kgco2e"]) or 1.0
    out: list[dict] = []
    recs = [{"name": r.get("id", ""), "effort_person_days": 0.0, "quadrant": "", **r}
            for r in (results.interventions or []) if (r.get("abated_kgco2e_per_year") or 0) > 0]
    go = [r for r in recs if r.get("verdict") in ACTIONABLE_VERDICTS]
    priced = sorted((r for r in recs if r.get("cost_per_tonne") is not None), key=lambda r: r["cost_per_tonne"])

    def t(kg: float) -> str:
        return f"{kg / 1000:,.2f} tCO2e"

    if go:
        r = go[0]
        out.append({"topic": "First action", "text": (
            f"Start with {r['name']} ({r['id']}): {verdicts.words(r['verdict'])}. It avoids "
            f"{t(r['abated_kgco2e_per_year'])} a year ({r['abated_kgco2e_per_year'] / total:.1%} of the footprint), "
            f"saves {r.get('money_saved_per_year') or 0:,.0f} {cur} a year and costs "
            f"{r.get('net_cost_per_year') or 0:,.0f} {cur} a year net (negative: it saves money), for "
            f"{r['effort_person_days'] or 0:g} person-days. {r.get('verdict_reason', '')}")})
    elif priced:
        r = priced[0]
        out.append({"topic": "First action", "text": (
            f"No option pays for itself or is worth it at the internal carbon price of {price:,.0f} {cur}/tCO2e. "
            f"The cheapest per tonne is {r['name']} ({r['id']}): {verdicts.words(r['verdict'])}. "
            f"{r.get('what_would_change_it', '')}")})
    biggest = max(recs, key=lambda r: r["abated_kgco2e_per_year"], default=None)
    if biggest is not None and (not go or biggest["id"] != go[0]["id"]):
        other = biggest.get("other_savings_per_year") or 0.0
        out.append({"topic": "Biggest lever", "text": (
            f"{biggest['name']} ({biggest['id']}) avoids the most, {t(biggest['abated_kgco2e_per_year'])} a year "
            f"({biggest['abated_kgco2e_per_year'] / total:.0%} of the footprint), for "
            f"{biggest['effort_person_days'] or 0:g} person-days; verdict: {verdicts.words(biggest['verdict'])}"
            f" (effort/impact quadrant: {biggest['quadrant'] or 'not placed'})" if biggest.get("cost_per_tonne") is not None
            else f"{biggest['name']} ({biggest['id']}) avoids the most")
            + (f", counting {other:,.0f} {cur} a year of money saved." if other else ".")})
    sens = results.analysis("sensitivity") or []
    if sens:
        flips = [r for r in sens if len({r["verdict_low"], r["verdict_high"], r["verdict_base"]}) > 1]
        first = sens[0]["id"]
        own = [r for r in sens if r["id"] == first and not r["input"].startswith("Carbon price")
               and r["cost_per_tonne_low"] is not None and r["cost_per_tonne_high"] is not None]
        widest = max(own, key=lambda r: abs(r["cost_per_tonne_high"] - r["cost_per_tonne_low"]), default=None)
        lo_hi = sorted((widest["cost_per_tonne_low"], widest["cost_per_tonne_high"])) if widest else None
        text = (f"For {first}, the cost per tonne moves most with {_lower_first(widest['input'])}: "
                f"{lo_hi[0]:,.0f} to {lo_hi[1]:,.0f} {cur}/tCO2e. " if widest else "")
        text += ("No verdict changes when any one input moves within its range." if not flips else
                 "Verdicts that could change: " + "; ".join(
                     f"{r['id']} ({_lower_first(r['input'])}: '{r['verdict_low']}' at the low end, "
                     f"'{r['verdict_high']}' at the high end)" for r in flips[:3])
                 + ".")
        out.append({"topic": "Robustness", "text": text})
    cust = results.analysis("customisation") or []
    wins = sorted((r for r in cust if r.get("pays_back") and r.get("annual_change_kgco2e", 0) < 0),
                  key=lambda r: r["annual_change_kgco2e"])
    if wins:
        r = wins[0]
        base = next(b for b in cust if b["workload"] == r["workload"] and b["baseline"])
        out.append({"topic": "Customisation", "text": (
            f"For {r['workload']} ({base['model']}, {r['requests_per_year']:,.0f} requests a year), "
            f"the option '{_lower_first(r['name'])}' pays back its {r['one_off_kgco2e']:,.2f} kgCO2e of training after "
            f"{r['break_even_requests']:,.0f} requests ({r['payback_months']:,.1f} months) and takes the workload "
            f"from {base['annual_kgco2e']:,.2f} to {r['annual_kgco2e']:,.2f} kgCO2e a year, if an evaluation set "
            f"shows the smaller model is good enough. Retrieval (RAG) adds emissions per request: choose it for "
            f"accuracy, not carbon.")})
    elif cust:
        out.append({"topic": "Customisation", "text": (
            "No fine-tune pays back its training at this engagement's request volumes; keep prompting, and "
            "compress prompts before adding retrieved context.")})
    sc = (results.analysis("scorecard") or {}).get("rows") or []
    front = [r for r in sc if r.get("pareto")]
    dominated = [r for r in sc if r.get("used_by") and not r.get("pareto")]
    if dominated and front:
        worst = max(dominated, key=lambda r: r["kwh_per_task"])
        better = [f for f in front if f["weighted_score"] >= worst["weighted_score"]
                  and f["kwh_per_task"] <= worst["kwh_per_task"]]
        alt = min(better or front, key=lambda f: f["kwh_per_task"])
        out.append({"topic": "Base model", "text": (
            f"{worst['id']} (used by {', '.join(worst['used_by'])}) is off the Pareto front: {alt['id']} scores "
            f"{alt['weighted_score']:.2f} against {worst['weighted_score']:.2f} at "
            f"{alt['kwh_per_task'] * 1000:,.3g} Wh instead of {worst['kwh_per_task'] * 1000:,.3g} Wh per task. "
            f"The scores are the consultant's (illustrative by default): confirm them with the client before "
            f"switching.")})
    ppw = [r for r in (results.analysis("precision_per_watt") or []) if r.get("discarded_share_kgco2e") is not None]
    if ppw:
        r = max(ppw, key=lambda r: r["discarded_share_kgco2e"] * r["kgco2e"])
        out.append({"topic": "Precision per watt", "text": (
            f"In {r['stage']}, {r['discarded_share_kgco2e']:.0%} of the generative-AI emissions "
            f"({r['kgco2e'] * r['discarded_share_kgco2e']:,.2f} kgCO2e) went on generations that were thrown away: "
            f"better briefs, templates and review gates come before more generation.")})
    return out


def _lower_first(text: str) -> str:
    """'Day rate ±25%' -> 'day rate ±25%'; acronyms ('LoRA …') keep their case."""
    word = text.split(" ", 1)[0]
    return text[:1].lower() + text[1:] if len(word) > 1 and word[1:].islower() else text
