"""Period over period: two ``results.json`` of the same client compared by scope, stage and
kind, per functional unit (SCI) where both give it, and against the reduction target of the
newer engagement (``reduction_target_per_year``).

Pure functions over plain data (the JSON mappings); ``audit compare`` prints them and writes
the HTML and Excel pages (``audit.deliverables.summary_pages``). Shape of ``compare()``:

    {"base": {client, period, file, total_tco2e}, "new": {...},
     "unit": "tCO2e",
     "totals": {base_tco2e, new_tco2e, change_tco2e, change_share},
     "by_scope" | "by_stage" | "by_kind": [{key, base_tco2e, new_tco2e, change_tco2e, change_share}]
                                          (by_stage and by_kind rows also carry "name", what a reader sees),
     "per_functional_unit": [{functional_unit, unit, base, new, change, change_share}],
     "target": null | {reduction_target_per_year, years, basis, target_tco2e, new_tco2e,
                       gap_tco2e, on_track, source},
     "notes": [...]}

``change_share`` = change / base (None when base is 0). Scope 2 appears on both bases;
totals use location-based Scope 2 as ``results.json`` does.
"""
from __future__ import annotations

import math
import re
from collections import defaultdict
from typing import Any, Mapping, Sequence

from audit.analyses.disclosures import kind_name
from audit.core.exceptions import Problem, ValidationError

KG_PER_TONNE = 1000.0
TARGET_SOURCE = ("Linear annual reduction of base-period emissions, as in the SBTi's absolute-contraction "
                 "approach (minimum 4.2 % a year for 1.5 °C): target = base x (1 - rate x years)")
SCOPE_KEYS = (("Scope 1", "scope1_kgco2e"), ("Scope 2 (location-based)", "scope2_location_kgco2e"),
              ("Scope 2 (market-based)", "scope2_market_kgco2e"), ("Scope 3", "scope3_kgco2e"))


def change_share(base: float, new: float) -> float | None:
    """Relative change = (new - base) / base; None when base is 0."""
    return (new - base) / base if base else None


def linear_target(base_tco2e: float, rate_per_year: float, years: float) -> float:
    """Target emissions after ``years`` at a linear annual reduction ``rate_per_year`` of the
    base: base x (1 - rate x years), never below 0 (``TARGET_SOURCE``)."""
    return max(base_tco2e * (1.0 - rate_per_year * years), 0.0)


def _row(key: str, base_kg: float, new_kg: float) -> dict[str, Any]:
    base_t, new_t = base_kg / KG_PER_TONNE, new_kg / KG_PER_TONNE
    return {"key": key, "base_tco2e": base_t, "new_tco2e": new_t, "change_tco2e": new_t - base_t,
            "change_share": change_share(base_t, new_t)}


def _check(results: Any, label: str) -> None:
    problems = []
    if not isinstance(results, Mapping):
        raise ValidationError([Problem(file=label, message="not a results.json object")])
    for key in ("totals", "activities"):
        if key not in results:
            problems.append(Problem(file=label, column=key, message=f"no '{key}': is this a results.json?"))
    if not problems:
        for i, a in enumerate(results["activities"]):
            kg = a.get("kgco2e") if isinstance(a, Mapping) else None
            if isinstance(kg, bool) or not isinstance(kg, (int, float)) or not math.isfinite(kg):
                problems.append(Problem(file=label, row=i + 1, column="kgco2e",
                                        message=f"activity kgco2e must be a number, not {kg!r}"))
    if problems:
        raise ValidationError(problems)


def _grouped(base: Sequence[Mapping[str, Any]], new: Sequence[Mapping[str, Any]], field: str,
             name=str) -> list[dict]:
    """Rows by ``field`` in order of first appearance; ``name`` gives each key's label."""
    sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    order: list[str] = []
    for side, lines in enumerate((base, new)):
        for line in lines:
            key = str(line.get(field) or "(none)")
            if key not in sums:
                order.append(key)
            sums[key][side] += float(line["kgco2e"])
    return [{**_row(k, *sums[k]), "name": name(k)} for k in order]


def period_year(period: Any) -> int | None:
    match = re.search(r"(\d{4})", str(period or ""))
    return int(match.group(1)) if match else None


def compare(base: Mapping[str, Any], new: Mapping[str, Any], base_label: str = "BASE",
            new_label: str = "NEW") -> dict[str, Any]:
    """The comparison of two results.json mappings (shape in the module docstring)."""
    _check(base, base_label)
    _check(new, new_label)
    eb, en = base.get("engagement") or {}, new.get("engagement") or {}
    notes: list[str] = []
    if eb.get("client") != en.get("client"):
        notes.append(f"different clients: '{eb.get('client')}' and '{en.get('client')}'")
    bt, nt = base["totals"], new["totals"]
    totals = _row("Total (location-based Scope 2)", float(bt["kgco2e"]), float(nt["kgco2e"]))
    by_scope = [_row(label, float(bt.get(k) or 0.0), float(nt.get(k) or 0.0)) for label, k in SCOPE_KEYS]

    per_unit = []
    base_sci = {str(r["functional_unit"]): r for r in base.get("sci") or []}
    for r in new.get("sci") or []:
        b = base_sci.get(str(r["functional_unit"]))
        if b is None:
            continue
        per_unit.append({"functional_unit": r["functional_unit"], "unit": r["unit"], "base": float(b["value"]),
                         "new": float(r["value"]), "change": float(r["value"]) - float(b["value"]),
                         "change_share": change_share(float(b["value"]), float(r["value"]))})

    target = None
    rate = en.get("reduction_target_per_year")
    if rate is None:
        rate = eb.get("reduction_target_per_year")
    if rate is not None:
        y0, y1 = period_year(eb.get("period")), period_year(en.get("period"))
        years = y1 - y0 if y0 is not None and y1 is not None and y1 > y0 else 1
        if not (y0 is not None and y1 is not None and y1 > y0):
            notes.append("the periods do not say how many years lie between them: one year assumed for the target")
        target_t = linear_target(totals["base_tco2e"], float(rate), years)
        target = {"reduction_target_per_year": float(rate), "years": years, "basis": "linear",
                  "target_tco2e": target_t, "new_tco2e": totals["new_tco2e"],
                  "gap_tco2e": totals["new_tco2e"] - target_t, "on_track": totals["new_tco2e"] <= target_t,
                  "source": TARGET_SOURCE}
    return {
        "base": {"client": eb.get("client"), "period": eb.get("period"), "file": base_label,
                 "total_tco2e": totals["base_tco2e"]},
        "new": {"client": en.get("client"), "period": en.get("period"), "file": new_label,
                "total_tco2e": totals["new_tco2e"]},
        "unit": "tCO2e",
        "totals": {k: v for k, v in totals.items() if k != "key"},
        "by_scope": by_scope,
        "by_stage": _grouped(base["activities"], new["activities"], "stage"),
        "by_kind": _grouped(base["activities"], new["activities"], "kind", kind_name),
        "per_functional_unit": per_unit,
        "target": target,
        "notes": notes,
    }


def _fmt(v: float | None, pct: bool = False) -> str:
    if v is None:
        return "n/a"
    return f"{v:+.1%}" if pct else f"{v:,.4g}"


def compare_table(result: Mapping[str, Any]) -> str:
    """A plain-text table of ``compare()`` for the terminal."""
    lines = [f"{result['base']['client']} {result['base']['period']} -> {result['new']['client']} "
             f"{result['new']['period']} (tCO2e)"]
    head = f"{'':34} {'base':>12} {'new':>12} {'change':>12} {'change %':>9}"

    def block(title: str, rows: Sequence[Mapping[str, Any]]) -> None:
        lines.extend(["", title, head])
        for r in rows:
            lines.append(f"{str(r.get('name', r['key']))[:34]:34} {_fmt(r['base_tco2e']):>12} {_fmt(r['new_tco2e']):>12} "
                         f"{_fmt(r['change_tco2e']):>12} {_fmt(r['change_share'], True):>9}")

    block("Total", [{"key": "Total (location-based Scope 2)", **result["totals"]}])
    block("By scope", result["by_scope"])
    block("By stage", result["by_stage"])
    block("By kind", result["by_kind"])
    if result["per_functional_unit"]:
        lines.extend(["", "Per functional unit (SCI, gCO2e per unit)"])
        for r in result["per_functional_unit"]:
            lines.append(f"{str(r['functional_unit'])[:34]:34} {_fmt(r['base']):>12} {_fmt(r['new']):>12} "
                         f"{_fmt(r['change']):>12} {_fmt(r['change_share'], True):>9}")
    t = result["target"]
    if t:
        lines.extend(["", f"Target: {t['reduction_target_per_year']:.1%} a year (linear) over {t['years']} year(s): "
                          f"{_fmt(t['target_tco2e'])} tCO2e; new {_fmt(t['new_tco2e'])} tCO2e: "
                          + ("on track" if t["on_track"] else f"{_fmt(t['gap_tco2e'])} tCO2e above the target")])
    for note in result["notes"]:
        lines.append(f"note: {note}")
    return "\n".join(lines)
