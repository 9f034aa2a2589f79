"""The auditable Excel deliverable: one workbook an auditor can follow cell by cell.

``write_excel(results, path)`` writes fifteen sheets from an ``AuditResults``: Summary,
Process map, Activities, Scopes, Hotspots, Forecast, Feasibility, Sensitivity,
Customisation, Scorecard, Precision per watt, Factors, Assumptions, Data quality and Method.

Where the arithmetic is simple the workbook holds LIVE formulas, not pasted numbers:

* Activities, DESNZ conversion-factor lines and the derived ``upstream_*`` lines:
  ``kgCO2e = Quantity used × INDEX(Factors value, MATCH(factor id, Factors id, 0))``.
  For upstream lines of electricity (T&D, well-to-tank) the quantity used is the parent
  line's kWh, stored as a value in that row's "Quantity used" column.
* Activities, energy-based lines: ``kgCO2e = kWh × intensity / 1000`` (kWh itself comes
  from a model, e.g. EcoLogits, and is stored as a value).
* Totals are ``SUM``; Scopes are ``SUMIFS`` over the Activities table; stage and activity
  roll-ups match text with ``SUMPRODUCT(--EXACT(...))``, which is exact and case-sensitive
  and, unlike ``SUMIFS`` criteria, never reads client text as an operator or wildcard.

``build_workbook`` also returns the Python value behind every formula cell (from the
results, not recomputed from the formula), so a recalculation (LibreOffice, Excel) can be
checked against the estimator.

Security: every string goes through ``_text``, which stores it as a string cell, so client
text such as ``=HYPERLINK(...)``, ``+1+1`` or ``@SUM(A1)`` can never become a formula.
The only way to write a formula is the ``Formula`` wrapper (excel.book), whose formula text is built here
from cell references, never from client text.
"""
from __future__ import annotations

import math
import re
import zipfile
from collections import Counter
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from openpyxl import Workbook
from openpyxl.chart import BarChart, LineChart, Reference, ScatterChart, Series
from openpyxl.chart.marker import DataPoint
from openpyxl.chart.marker import DataPoint
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.table import Table, TableStyleInfo

from audit.analyses import scorecard, verdicts
from audit.core.atomic import atomic_path
from audit.core.models import DQ_LABELS
from audit.inventory.results import MANIFEST_LABELS, RUN_SPECIFIC_KEYS, AuditResults, weighted_data_quality
from audit.reference.scopes import SCOPE3_CATEGORY_NAMES
from audit.deliverables.excel.book import (
    EXTRA_SHEETS, INK, Book, Col, ENERGY_FORMULA, Formula, HEADER_ROW, Layout, METHOD_EXPLANATIONS, OKABE_ITO, PARETO_TOP,
    SCOPE_COLOURS, as_number,
    put_text,
)

# --- Factors ---------------------------------------------------------------------------------

FACTOR_HEADERS = {
    "factor_id": ("Factor ID", "text", 30), "name": ("Name", "wrap", 40), "value": ("Value (see Unit)", "sig", 14),
    "value_low": ("Low (see Unit)", "sig", 13), "value_high": ("High (see Unit)", "sig", 13),
    "unit": ("Unit", "wrap", 22), "kind": ("Kind", "text", 13), "mode": ("Mode", "text", 16),
    "region": ("Region", "text", 12), "part": ("Part", "text", 10), "per_unit": ("Per unit", "text", 12),
    "source": ("Source", "wrap", 44), "source_ref": ("Source reference", "wrap", 30), "year": ("Year", "plain", 7),
    "licence": ("Licence", "wrap", 24), "notes": ("Notes", "wrap", 40), "overridden": ("Overridden", "bool", 11),
}


def _factors_sheet(b: Book, lay: Layout) -> None:
    ws = b.ws["Factors"]
    b.title_block(ws, "Emission factor register (factors used)",
                  "Every factor the results cite, with its source and licence. Activities' live formulas read "
                  "the Value column by Factor ID.")
    fac = b.r.factors
    cols = [Col(*FACTOR_HEADERS.get(c, (c, "text", 14))) for c in fac.columns]
    rows = []
    for rec in fac.itertuples(index=False):
        row = []
        for c, v in zip(fac.columns, rec):
            if c == "year":
                n = as_number(v)
                try:
                    v = int(n) if n is not None and str(n).strip() != "" else None
                except (TypeError, ValueError):
                    v = str(v)
            elif c == "overridden":
                v = bool(v)
            elif isinstance(v, str):
                pass
            else:
                v = as_number(v)
                if isinstance(v, (list, tuple)):
                    v = "; ".join(map(str, v))
            row.append(v)
        rows.append(row)
    b.table(ws, HEADER_ROW, cols, rows, "tblFactors")
    b.autofit(ws, 1, len(cols), cap=46)
    b.finish_sheet(ws, freeze_col="B", paper="A3")


# --- Activities ------------------------------------------------------------------------------

ACT_COLS = [
    ("activity_id", Col("Activity ID", "text", 14)), ("derived_from", Col("Derived from", "text", 12)),
    ("stage", Col("Stage", "text", 16)), ("description", Col("Description", "wrap", 44)),
    ("kind", Col("Kind", "text", 15)), ("mode", Col("Mode", "text", 18)), ("model", Col("Model", "text", 20)),
    ("provider", Col("Provider", "text", 11)), ("region", Col("Region", "text", 15)),
    ("country", Col("Country", "text", 9)), ("ownership", Col("Ownership", "text", 16)),
    ("quantity", Col("Quantity (input)", "sig", 13)), ("unit", Col("Unit (input)", "text", 13)),
    ("quantity_base", Col("Quantity used", "sig", 13)), ("base_unit", Col("Unit used", "text", 13)),
    ("scope", Col("Scope", "plain", 7)), ("scope3_category", Col("Scope 3 category", "plain", 9)),
    ("scope_category_name", Col("Category", "wrap", 26)),
    ("kwh", Col("kWh", "kwh", 12)), ("kwh_low", Col("kWh low", "kwh", 12)), ("kwh_high", Col("kWh high", "kwh", 12)),
    ("intensity_g_per_kwh", Col("Intensity gCO2e/kWh", "kwh", 12)),
    ("kgco2e", Col("kgCO2e", "kg3", 13)), ("kgco2e_low", Col("kgCO2e low", "kg3", 13)),
    ("kgco2e_high", Col("kgCO2e high", "kg3", 13)), ("kgco2e_market", Col("kgCO2e market-based", "kg3", 13)),
    ("market_basis", Col("Market basis", "wrap", 26)), ("factor_ids", Col("Factor IDs", "wrap", 56)),
    ("data_quality", Col("Data quality 1-5", "plain", 9)), ("accepted_fraction", Col("Accepted fraction", "pct", 10)),
    ("method", Col("Method", "text", 18)), ("formula", Col("Method formula", "wrap", 48)),
    ("_cell_formula", Col("kgCO2e cell", "wrap", 30)),
]


def _act_letter(key: str) -> str:
    return get_column_letter([k for k, _ in ACT_COLS].index(key) + 1)


EMBODIED_IDS = ("embodied:gpu", "embodied:server-share", "embodied:lifetime")
EMBODIED_HOUR_ID = "embodied:gpu-hour"  # issue 15: one kg-per-GPU-hour factor (components when overridden)


def _formula_kind(row) -> str:
    if len(row.factor_ids) == 1 and (row.method == "conversion_factor" or str(row.method).startswith("upstream_")):
        return "factor"
    if row.method == "embodied_amortised" and tuple(row.factor_ids) in (EMBODIED_IDS, (EMBODIED_HOUR_ID, *EMBODIED_IDS)):
        return "embodied"
    if row.method == "embodied_amortised" and tuple(row.factor_ids) == (EMBODIED_HOUR_ID,):
        return "embodied_hourly"
    if ENERGY_FORMULA in str(row.formula):
        return "energy"
    return "value"


def _activities_sheet(b: Book, lay: Layout) -> None:
    ws = b.ws["Activities"]
    b.title_block(ws, "Activities: one row per emission line",
                  "kgCO2e is a live formula: Quantity used × factor (INDEX/MATCH on Factors) for DESNZ and "
                  "upstream lines, kWh × intensity / 1000 for energy-based lines. Upstream electricity lines "
                  "(T&D, WTT) use the parent line's kWh as Quantity used. Blue = value, black = formula.")
    lines = b.lines
    kwh_by_id = dict(zip(lines["activity_id"], lines["kwh"]))
    fv = dict(zip(b.r.factors["factor_id"], b.r.factors["value"].astype(float)))
    embodied_per_hour = ((fv["embodied:gpu"] + fv["embodied:server-share"]) / (fv["embodied:lifetime"] * 8760)
                         if all(f in fv for f in EMBODIED_IDS) else 1.0)
    per_gpu_hour = fv.get(EMBODIED_HOUR_ID, 1.0)
    L = {k: _act_letter(k) for k, _ in ACT_COLS}
    rows = []
    for i, row in enumerate(lines.itertuples(index=False)):
        r = lay.a_first + i
        kind = _formula_kind(row)
        qty_base, base_unit = row.quantity_base, row.base_unit
        if kind == "factor" and str(row.formula).startswith("kgCO2e = kWh"):
            qty_base, base_unit = kwh_by_id[row.derived_from], "kWh (parent line)"
        if kind == "embodied":  # GPU-hours reserved, derived by the estimator (see Method formula)
            qty_base, base_unit = row.kgco2e / embodied_per_hour, "GPU-hours (derived)"
        if kind == "embodied_hourly":
            qty_base, base_unit = row.kgco2e / per_gpu_hour, "GPU-hours (derived)"
        if kind == "factor":
            fid = row.factor_ids[0]
            if re.search(r"[*?~]", fid):  # MATCH would read these as wildcards
                lookup = (f"SUMPRODUCT(--EXACT(Factors!${lay.f_id}${lay.f_first}:${lay.f_id}${lay.f_last},"
                          f"${L['factor_ids']}{r}),Factors!${lay.f_val}${lay.f_first}:${lay.f_val}${lay.f_last})")
            else:
                lookup = lay.factor_lookup(f"${L['factor_ids']}{r}")
            kg: Any = Formula(f"={L['quantity_base']}{r}*{lookup}", row.kgco2e)
            how = "formula: Quantity used × factor (Factors)"
        elif kind == "energy":
            kg = Formula(f"={L['kwh']}{r}*{L['intensity_g_per_kwh']}{r}/1000", row.kgco2e)
            how = "formula: kWh × intensity / 1000"
        elif kind == "embodied":
            gpu, server, life = (lay.factor_lookup(f'"{fid}"') for fid in EMBODIED_IDS)
            kg = Formula(f"={L['quantity_base']}{r}*({gpu}+{server})/({life}*8760)", row.kgco2e)
            how = "formula: GPU-hours × (GPU + server share) / (lifetime × 8760 h)"
        elif kind == "embodied_hourly":
            kg = Formula(f"={L['quantity_base']}{r}*{lay.factor_lookup(chr(34) + EMBODIED_HOUR_ID + chr(34))}",
                         row.kgco2e)
            how = "formula: GPU-hours × kgCO2e per GPU-hour (Factors)"
        else:
            kg, how = row.kgco2e, "value from the estimator"
        values = {
            "activity_id": row.activity_id, "derived_from": row.derived_from or None, "stage": row.stage,
            "description": row.description, "kind": row.kind, "mode": row.mode or None, "model": row.model or None,
            "provider": row.provider or None, "region": row.region or None, "country": row.country or None,
            "ownership": row.ownership or None, "quantity": row.quantity, "unit": row.unit,
            "quantity_base": qty_base, "base_unit": base_unit, "scope": int(row.scope),
            "scope3_category": as_number(row.scope3_category), "scope_category_name": row.scope_category_name or None,
            "kwh": row.kwh, "kwh_low": row.kwh_low, "kwh_high": row.kwh_high,
            "intensity_g_per_kwh": row.intensity_g_per_kwh, "kgco2e": kg, "kgco2e_low": row.kgco2e_low,
            "kgco2e_high": row.kgco2e_high, "kgco2e_market": row.kgco2e_market,
            "market_basis": row.market_basis or None, "factor_ids": "; ".join(map(str, row.factor_ids)),
            "data_quality": int(row.data_quality), "accepted_fraction": row.accepted_fraction,
            "method": row.method, "formula": row.formula, "_cell_formula": how,
        }
        rows.append([values[k] for k, _ in ACT_COLS])
    last = b.table(ws, HEADER_ROW, [c for _, c in ACT_COLS], rows, "tblActivities")
    t = lay.a_total
    b.put(ws, t, 1, "Total", total=True)
    sums = {"kwh": float(lines["kwh"].sum()), "kwh_low": float(lines["kwh_low"].sum()),
            "kwh_high": float(lines["kwh_high"].sum()), "kgco2e": b.r.totals["kgco2e"],
            "kgco2e_low": b.r.totals["kgco2e_low"], "kgco2e_high": b.r.totals["kgco2e_high"],
            "kgco2e_market": float(lines["kgco2e_market"].sum())}
    if len(lines):
        for key, value in sums.items():
            col = [k for k, _ in ACT_COLS].index(key) + 1
            fmt = dict(ACT_COLS)[key].fmt
            b.put(ws, t, col, Formula(f"=SUM({L[key]}{lay.a_first}:{L[key]}{last})", value), fmt, total=True)
    b.total_rule(ws, t, 1, len(ACT_COLS))
    b.autofit(ws, 1, len(ACT_COLS), cap=30)
    b.finish_sheet(ws, freeze_col="B", paper="A3")


# --- Scopes ----------------------------------------------------------------------------------

def _scopes_sheet(b: Book, lay: Layout) -> dict[str, str]:
    """Returns the cells Summary refers to."""
    ws = b.ws["Scopes"]
    b.title_block(ws, "Emissions by GHG Protocol scope",
                  "Scope 2 is reported both ways (GHG Protocol Scope 2 Guidance): location-based (grid average) and "
                  "market-based (contractual instruments). Totals use location-based Scope 2. SUMIFS over Activities.")
    bs = b.r.by_scope
    kg, lo, hi, mk = (lay.act(_act_letter(k)) for k in ("kgco2e", "kgco2e_low", "kgco2e_high", "kgco2e_market"))
    sc, cat = lay.act(_act_letter("scope")), lay.act(_act_letter("scope3_category"))
    total_row = HEADER_ROW + len(bs) + 1
    cols = [Col("Scope", "text", 26), Col("Scope 3 category", "plain", 10), Col("Category", "text", 38),
            Col("kgCO2e", "kg", 14), Col("kgCO2e low", "kg", 14), Col("kgCO2e high", "kg", 14),
            Col("tCO2e", "t", 11), Col("Share of total (location)", "pct", 12), Col("Lines", "int", 8)]
    rows = []
    cells: dict[str, str] = {}
    for i, rec in enumerate(bs.itertuples(index=False)):
        r = HEADER_ROW + 1 + i
        if rec.scope == "Scope 1":
            crit, s_val = f"{sc},1", 1
        elif rec.scope.startswith("Scope 2"):
            crit, s_val = f"{sc},2", 2
        else:
            crit, s_val = f"{sc},3,{cat},{int(rec.scope3_category)}", 3
        market = rec.scope == "Scope 2 (market-based)"
        cells[rec.scope if s_val != 3 else f"cat{int(rec.scope3_category)}"] = f"D{r}"
        n_lines = int(rec.lines)
        rows.append([
            rec.scope, as_number(rec.scope3_category), rec.category,
            Formula(f"=SUMIFS({mk if market else kg},{crit})", rec.kgco2e),
            None if market else Formula(f"=SUMIFS({lo},{crit})", rec.kgco2e_low),
            None if market else Formula(f"=SUMIFS({hi},{crit})", rec.kgco2e_high),
            Formula(f"=D{r}/1000", rec.kgco2e / 1000),
            None if market else Formula(f"=IF($D${total_row}=0,0,D{r}/$D${total_row})", rec.share),
            Formula(f"=COUNTIFS({crit})", n_lines),
        ])
    b.table(ws, HEADER_ROW, cols, rows, "tblScopes")
    loc_rows = [HEADER_ROW + 1 + i for i, s in enumerate(bs["scope"]) if s != "Scope 2 (market-based)"]
    tot = b.r.totals
    b.put(ws, total_row, 1, "Total (location-based Scope 2)", total=True)
    for col, key in ((4, "kgco2e"), (5, "kgco2e_low"), (6, "kgco2e_high")):
        letter = get_column_letter(col)
        b.put(ws, total_row, col, Formula("=" + "+".join(f"{letter}{r}" for r in loc_rows), tot[key]), "kg", total=True)
    b.put(ws, total_row, 7, Formula(f"=D{total_row}/1000", tot["kgco2e"] / 1000), "t", total=True)
    b.put(ws, total_row, 8, Formula(f"=IF(D{total_row}=0,0,SUM(H{HEADER_ROW + 1}:H{total_row - 1}))",
                               1.0 if tot["kgco2e"] else 0.0), "pct", total=True)
    b.put(ws, total_row, 9, Formula(f"=COUNT({kg})", len(b.lines)), "int", total=True)
    mrow = total_row + 1
    s2m = cells.get("Scope 2 (market-based)")
    mk_expected = tot["scope1_kgco2e"] + tot["scope2_market_kgco2e"] + tot["scope3_kgco2e"]
    b.put(ws, mrow, 1, "Total (market-based Scope 2)", total=True)
    b.put(ws, mrow, 4, Formula(f"=SUMIFS({kg},{sc},1)+{s2m}+SUMIFS({kg},{sc},3)", mk_expected), "kg", total=True)
    b.put(ws, mrow, 7, Formula(f"=D{mrow}/1000", mk_expected / 1000), "t", total=True)
    cells["total"], cells["total_market"] = f"D{total_row}", f"D{mrow}"
    b.total_rule(ws, total_row, 1, len(cols))
    b.total_rule(ws, mrow, 1, len(cols))

    # Scope 2 side by side, per line, to the right of the scope table
    left = len(cols) + 2
    L = [get_column_letter(left + k) for k in range(7)]
    b.section(ws, HEADER_ROW - 1, "Scope 2 dual reporting by line", col=left)
    s2 = b.lines[b.lines["scope"] == 2]
    ida, kwha = lay.act(_act_letter("activity_id")), lay.act(_act_letter("kwh"))
    cols2 = [Col("Activity ID", "text", 13), Col("Description", "wrap", 34), Col("kWh", "kwh", 11),
             Col("Location kgCO2e", "kg3", 12), Col("Market kgCO2e", "kg3", 12),
             Col("Market − location kgCO2e", "kg3", 13),
             Col("Market basis", "wrap", 34)]
    rows2 = []
    for i, rec in enumerate(s2.itertuples(index=False)):
        r = HEADER_ROW + 1 + i
        key = f"${L[0]}{r}"
        rows2.append([rec.activity_id, rec.description,
                      Formula(f"=SUMPRODUCT(--EXACT({ida},{key}),{kwha})", rec.kwh),
                      Formula(f"=SUMPRODUCT(--EXACT({ida},{key}),{kg})", rec.kgco2e),
                      Formula(f"=SUMPRODUCT(--EXACT({ida},{key}),{mk})", rec.kgco2e_market),
                      Formula(f"={L[4]}{r}-{L[3]}{r}", rec.kgco2e_market - rec.kgco2e), rec.market_basis or None])
    if rows2:
        last = b.table(ws, HEADER_ROW, cols2, rows2, "tblScope2Dual", left=left)
        t, f = last + 1, HEADER_ROW + 1
        b.put(ws, t, left, "Total Scope 2", total=True)
        b.put(ws, t, left + 2, Formula(f"=SUM({L[2]}{f}:{L[2]}{last})", float(s2["kwh"].sum())), "kwh", total=True)
        b.put(ws, t, left + 3, Formula(f"=SUM({L[3]}{f}:{L[3]}{last})", tot["scope2_location_kgco2e"]), "kg3", total=True)
        b.put(ws, t, left + 4, Formula(f"=SUM({L[4]}{f}:{L[4]}{last})", tot["scope2_market_kgco2e"]), "kg3", total=True)
        b.put(ws, t, left + 5, Formula(f"={L[4]}{t}-{L[3]}{t}", tot["scope2_market_kgco2e"] - tot["scope2_location_kgco2e"]),
              "kg3", total=True)
        b.total_rule(ws, t, left, left + len(cols2) - 1)
    else:
        b.none_note(ws, HEADER_ROW, "No Scope 2 lines in this engagement.", col=left)
    b.autofit(ws, 1, len(cols), cap=44)
    b.finish_sheet(ws)
    return cells


# --- Process map ---------------------------------------------------------------------------

def _stage_order(b: Book) -> list[str]:
    present = list(dict.fromkeys(b.lines["stage"]))
    return [s for s in b.eng.stages if s in present] + [s for s in present if s not in b.eng.stages]


def _lines_per_activity(lines) -> Counter:
    """Lines per activity id: the activity's own lines and those derived from it (well-to-tank,
    T&D), each line counted once (as ``(activity_id == id) | (derived_from == id)`` counts it)."""
    counts: Counter = Counter()
    for own, parent in zip(lines["activity_id"], lines["derived_from"]):
        counts[own] += 1
        if parent != own:
            counts[parent] += 1
    return counts


def _process_map_sheet(b: Book, lay: Layout) -> list[int]:
    """Returns the rows of the stage lines (Summary's stage chart reads them)."""
    ws = b.ws["Process map"]
    b.title_block(ws, "Process map: stages and their activities",
                  "Each stage, then its activities (indented) with upstream lines folded in. "
                  "Sums match stage and activity text exactly (SUMPRODUCT/EXACT over Activities).")
    st, ida, dfr = (lay.act(_act_letter(k)) for k in ("stage", "activity_id", "derived_from"))
    kg, kwh = lay.act(_act_letter("kgco2e")), lay.act(_act_letter("kwh"))
    by_stage = b.r.by_stage.set_index("stage")
    hot = b.r.hotspots.set_index("activity_id")
    parents = b.lines[b.lines["derived_from"] == ""]
    order = _stage_order(b)
    n_rows = len(order) + len(parents)
    total_row = HEADER_ROW + n_rows + 1
    cols = [Col("Level", "text", 10), Col("Stage", "text", 18), Col("Activity ID", "text", 13),
            Col("Stage / activity", "text", 54), Col("Kind", "text", 16), Col("Scope", "plain", 7),
            Col("kWh", "kwh", 12), Col("kgCO2e", "kg", 13), Col("Share of total", "pct", 10),
            Col("Lines", "int", 8)]
    lines_per_stage = Counter(b.lines["stage"])
    lines_per_activity = _lines_per_activity(b.lines)
    kg_per_activity = dict(zip(hot.index, hot["kgco2e"]))
    rows, stage_rows, r = [], [], HEADER_ROW
    for stage in order:
        r += 1
        stage_rows.append(r)
        n = lines_per_stage[stage]
        srec = by_stage.loc[stage]
        rows.append(["Stage", stage, None, stage, None, None,
                     Formula(f"=SUMPRODUCT(--EXACT({st},$B{r}),{kwh})", srec["kwh"]),
                     Formula(f"=SUMPRODUCT(--EXACT({st},$B{r}),{kg})", srec["kgco2e"]),
                     Formula(f"=IF($H${total_row}=0,0,H{r}/$H${total_row})", srec["share"]),
                     Formula(f"=SUMPRODUCT(--EXACT({st},$B{r}))", n)])
        for rec in parents[parents["stage"] == stage].itertuples(index=False):
            r += 1
            aid = rec.activity_id
            n = lines_per_activity[aid]
            kg_a = float(kg_per_activity[aid])
            rows.append(["Activity", stage, aid, rec.description, rec.kind, int(rec.scope),
                         Formula(f"=SUMPRODUCT((EXACT({ida},$C{r})+EXACT({dfr},$C{r}))*{kwh})", rec.kwh),
                         Formula(f"=SUMPRODUCT((EXACT({ida},$C{r})+EXACT({dfr},$C{r}))*{kg})", kg_a),
                         Formula(f"=IF($H${total_row}=0,0,H{r}/$H${total_row})", kg_a / b.total_kg if b.total_kg else 0.0),
                         Formula(f"=SUMPRODUCT(EXACT({ida},$C{r})+EXACT({dfr},$C{r}))", n)])
    b.table(ws, HEADER_ROW, cols, rows, "tblProcessMap")
    for i, rr in enumerate(range(HEADER_ROW + 1, HEADER_ROW + 1 + len(rows))):
        if rr in stage_rows:
            for c in (1, 2, 4):
                b.style(ws.cell(row=rr, column=c), "Audit stage")
        else:
            ws.cell(row=rr, column=4).alignment = Alignment(horizontal="left", indent=2, vertical="top")
    b.put(ws, total_row, 1, "Total", total=True)
    s = "+".join(f"{{c}}{x}" for x in stage_rows) or "0"
    b.put(ws, total_row, 7, Formula("=" + s.format(c="G") if stage_rows else "=0", b.r.totals["kwh"]), "kwh", total=True)
    b.put(ws, total_row, 8, Formula("=" + "+".join(f"H{x}" for x in stage_rows) if stage_rows else "=0", b.total_kg),
          "kg", total=True)
    b.put(ws, total_row, 10, Formula("=" + "+".join(f"J{x}" for x in stage_rows) if stage_rows else "=0",
                                len(b.lines)), "int", total=True)
    b.total_rule(ws, total_row, 1, len(cols))
    b.autofit(ws, 1, len(cols), cap=60)
    b.finish_sheet(ws)
    return stage_rows


# --- Hotspots --------------------------------------------------------------------------------

def _hotspots_sheet(b: Book, lay: Layout) -> None:
    ws = b.ws["Hotspots"]
    b.title_block(ws, "Hotspots: activities ranked by emissions (Pareto)",
                  "Upstream lines are folded into their parent activity. Cumulative share shows how few activities "
                  "make most of the footprint.")
    hot = b.r.hotspots
    ida, dfr, kg = (lay.act(_act_letter(k)) for k in ("activity_id", "derived_from", "kgco2e"))
    n = len(hot)
    total_row = HEADER_ROW + n + 1
    cols = [Col("Rank", "int", 7), Col("Activity ID", "text", 13), Col("Stage", "text", 16),
            Col("Description", "wrap", 48), Col("Kind", "text", 15), Col("Scope", "plain", 7),
            Col("kgCO2e", "kg", 13), Col("kgCO2e low", "kg", 13), Col("kgCO2e high", "kg", 13),
            Col("Share", "pct", 9), Col("Cumulative share", "pct", 11)]
    rows = []
    for i, rec in enumerate(hot.itertuples(index=False)):
        r = HEADER_ROW + 1 + i
        cum = Formula(f"=J{r}" if i == 0 else f"=K{r - 1}+J{r}", rec.cumulative_share)
        rows.append([i + 1, rec.activity_id, rec.stage, rec.description, rec.kind, as_number(rec.scope),
                     Formula(f"=SUMPRODUCT((EXACT({ida},$B{r})+EXACT({dfr},$B{r}))*{kg})", rec.kgco2e),
                     rec.kgco2e_low, rec.kgco2e_high,
                     Formula(f"=IF($G${total_row}=0,0,G{r}/$G${total_row})", rec.share), cum])
    last = b.table(ws, HEADER_ROW, cols, rows, "tblHotspots")
    if n:
        b.put(ws, total_row, 1, "Total", total=True)
        b.put(ws, total_row, 7, Formula(f"=SUM(G{HEADER_ROW + 1}:G{last})", float(hot["kgco2e"].sum())), "kg", total=True)
        b.put(ws, total_row, 8, Formula(f"=SUM(H{HEADER_ROW + 1}:H{last})", float(hot["kgco2e_low"].sum())), "kg",
              total=True)
        b.put(ws, total_row, 9, Formula(f"=SUM(I{HEADER_ROW + 1}:I{last})", float(hot["kgco2e_high"].sum())), "kg",
              total=True)
        b.total_rule(ws, total_row, 1, len(cols))
        bar = BarChart()
        bar.type, bar.style = "col", 10
        bar.title = f"Pareto: top {min(n, PARETO_TOP)} activities"
        bar.y_axis.title = "kgCO2e"
        bar.y_axis.number_format = "#,##0"
        top_n = min(last, HEADER_ROW + PARETO_TOP)
        bar.add_data(Reference(ws, min_col=7, min_row=HEADER_ROW, max_row=top_n), titles_from_data=True)
        bar.set_categories(Reference(ws, min_col=2, min_row=HEADER_ROW + 1, max_row=top_n))
        bar.series[0].graphicalProperties.solidFill = OKABE_ITO[0]
        bar.series[0].graphicalProperties.line.solidFill = OKABE_ITO[0]
        for idx, rec in enumerate(hot.head(top_n - HEADER_ROW).itertuples(index=False)):  # each bar in its scope's colour
            colour = SCOPE_COLOURS.get(int(rec.scope)) if as_number(rec.scope) is not None else None
            if colour:
                point = DataPoint(idx=idx)
                point.graphicalProperties.solidFill = colour
                point.graphicalProperties.line.solidFill = colour
                bar.series[0].dPt.append(point)
        line = LineChart()
        line.add_data(Reference(ws, min_col=11, min_row=HEADER_ROW, max_row=top_n), titles_from_data=True)
        line.y_axis.axId = 200
        line.y_axis.title = "Cumulative share"
        line.y_axis.number_format = "0%"
        line.y_axis.scaling.min, line.y_axis.scaling.max = 0, 1
        line.y_axis.crosses = "max"
        line.series[0].graphicalProperties.line.solidFill = OKABE_ITO[3]
        line.series[0].graphicalProperties.line.width = 28575
        _show_axes(bar, line)
        bar += line
        bar.width, bar.height = 24, 12
        bar.legend.position = "b"
        ws.add_chart(bar, f"M{HEADER_ROW}")
    b.autofit(ws, 1, len(cols), cap=48)
    b.finish_sheet(ws)


def _show_axes(*charts) -> None:
    for ch in charts:  # openpyxl >= 3.1 hides axes unless told otherwise
        ch.x_axis.delete = False
        ch.y_axis.delete = False


# --- Forecast --------------------------------------------------------------------------------

def _forecast_sheet(b: Book, lay: Layout) -> None:
    ws = b.ws["Forecast"]
    cur = b.eng.currency
    b.title_block(ws, "Forecast: business as usual vs. the plan",
                  f"Annual emissions if nothing changes (BAU) and with the recommended interventions. "
                  f"Avoided = BAU − plan. Carbon price {b.eng.carbon_price_per_tonne:g} {cur}/tCO2e.")
    fc = list(b.r.forecast or [])
    if not fc:
        b.empty_sheet(ws, "No forecast in these results (feasibility step not run).")
        return
    extra = [k for k in dict.fromkeys(k for d in fc for k in d) if k not in ("year", "bau_kgco2e", "plan_kgco2e")]
    cols = [Col("Year", "plain", 8), Col("BAU kgCO2e", "kg", 14), Col("Plan kgCO2e", "kg", 14),
            Col("Avoided kgCO2e", "kg", 14), Col("Cumulative avoided kgCO2e", "kg", 16),
            Col("Avoided carbon value " + cur, "money", 14)] + [Col(k, "precise", 14) for k in extra]
    price_row = HEADER_ROW + len(fc) + 2  # the carbon price, an input cell below the table
    rows, cum = [], 0.0
    for i, d in enumerate(fc):
        r = HEADER_ROW + 1 + i
        bau, plan = float(d.get("bau_kgco2e") or 0.0), float(d.get("plan_kgco2e") or 0.0)
        cum += bau - plan
        rows.append([as_number(d.get("year")), bau, plan, Formula(f"=B{r}-C{r}", bau - plan),
                     Formula(f"=D{r}" if i == 0 else f"=E{r - 1}+D{r}", cum),
                     Formula(f"=D{r}/1000*$D${price_row}", (bau - plan) / 1000 * b.eng.carbon_price_per_tonne)]
                    + [_plain(d.get(k)) for k in extra])
    last = b.table(ws, HEADER_ROW, cols, rows, "tblForecast")
    b.put(ws, price_row, 1, f"Carbon price {cur}/tCO2e")
    b.put(ws, price_row, 4, float(b.eng.carbon_price_per_tonne), "money")
    ch = LineChart()
    ch.title, ch.y_axis.title, ch.x_axis.title = "BAU vs plan", "kgCO2e", "Year"
    ch.add_data(Reference(ws, min_col=2, max_col=3, min_row=HEADER_ROW, max_row=last), titles_from_data=True)
    ch.set_categories(Reference(ws, min_col=1, min_row=HEADER_ROW + 1, max_row=last))
    for s, colour in zip(ch.series, (OKABE_ITO[3], OKABE_ITO[2])):
        s.graphicalProperties.line.solidFill = colour
        s.graphicalProperties.line.width = 28575
    _show_axes(ch)
    ch.width, ch.height = 18, 9
    ch.legend.position = "b"
    ws.add_chart(ch, f"H{HEADER_ROW}")
    b.finish_sheet(ws)


# --- Feasibility -----------------------------------------------------------------------------

def _feasibility_sheet(b: Book, lay: Layout) -> None:
    ws = b.ws["Feasibility"]
    cur = b.eng.currency
    b.title_block(ws, "Feasibility: marginal abatement cost (MACC)",
                  f"Interventions sorted by cost per tonne (cheapest first; negative = saves money). "
                  f"Costs in {cur}.")
    iv = list(b.r.interventions or [])
    if not iv:
        b.empty_sheet(ws, "No interventions in these results (feasibility step not run).")
        return

    def cost_key(d):
        c = as_number(d.get("cost_per_tonne"))
        return (c is None, c if c is not None else 0.0)

    iv = sorted(iv, key=cost_key)  # stable: ties keep the input order
    cols = [Col("Rank", "int", 7), Col("ID", "text", 10), Col("Intervention", "wrap", 36),
            Col("Applies to", "wrap", 20), Col("Abated kgCO2e/yr", "kg", 13), Col("Abated low kgCO2e/yr", "kg", 13),
            Col("Abated high kgCO2e/yr", "kg", 13), Col("Abated tCO2e/yr", "t", 11),
            Col(f"Cost {cur}/tCO2e", "money", 11), Col(f"Annual cost {cur}/yr", "money", 12),
            Col("Cumulative abated tCO2e/yr", "t", 12), Col("Payback years", "score", 9),
            Col("Effort person-days", "score", 9), Col("Verdict", "text", 14), Col("Verdict reason", "wrap", 44)]
    core = {"id", "name", "applies_to", "abated_kgco2e_per_year", "abated_low", "abated_high", "cost_per_tonne",
            "payback_years", "effort_person_days", "verdict", "reason", "verdict_label", "verdict_reason"}
    nested = {k for d in iv for k, v in d.items()  # tables of their own (savings_breakdown), per_campaign below
              if (isinstance(v, (list, tuple)) and any(isinstance(x, dict) for x in v)) or isinstance(v, dict)}
    campaign = any(isinstance(d.get("per_campaign"), dict) for d in iv)
    per_campaign = ("abated_kgco2e", "money_saved", "net_cost") if campaign else ()
    extra = [k for k in dict.fromkeys(k for d in iv for k in d) if k not in core and k not in nested]
    numeric = {k: all(as_number(d.get(k)) is None or isinstance(as_number(d.get(k)), (int, float)) for d in iv)
               and not all(isinstance(d.get(k), str) for d in iv) for k in extra}
    cols += [Col(_pretty(k, cur), ("money" if _is_money(k) else "precise") if numeric[k] else "wrap",
                  13 if numeric[k] else 36) for k in extra]
    cols += [Col({"abated_kgco2e": "Abated kgCO2e per campaign", "money_saved": f"Money saved {cur} per campaign",
                  "net_cost": f"Net cost {cur} per campaign"}[k], "kg" if k == "abated_kgco2e" else "money", 13)
             for k in per_campaign]
    rows, cum = [], 0.0
    for i, d in enumerate(iv):
        r = HEADER_ROW + 1 + i
        ab = as_number(d.get("abated_kgco2e_per_year"))
        cost = as_number(d.get("cost_per_tonne"))
        applies = d.get("applies_to")
        if isinstance(applies, (list, tuple)):
            applies = ", ".join(map(str, applies))
        t_cell = Formula(f"=E{r}/1000", ab / 1000) if ab is not None else None
        cum += (ab or 0.0) / 1000
        rows.append([i + 1, d.get("id"), d.get("name"), applies, ab, as_number(d.get("abated_low")),
                     as_number(d.get("abated_high")), t_cell,
                     cost, Formula(f"=H{r}*I{r}", ab / 1000 * cost) if ab is not None and cost is not None else None,
                     Formula(f"=N(H{r})" if i == 0 else f"=K{r - 1}+N(H{r})", cum),
                     as_number(d.get("payback_years")), as_number(d.get("effort_person_days")),
                     verdicts.words(d.get("verdict")), d.get("verdict_reason") or d.get("reason")]
                    + [as_number(d.get(k)) if numeric[k] else _plain(d.get(k)) for k in extra]
                    + [as_number((d.get("per_campaign") or {}).get(k)) for k in per_campaign])
    last = b.table(ws, HEADER_ROW, cols, rows, "tblFeasibility")
    chart_row = last + 3
    money_last = _money_table(b, ws, iv, chart_row + 24)
    savings_last = _savings_table(b, ws, iv, money_last + 3)
    steps = [(HEADER_ROW + 1 + i, d) for i, d in enumerate(iv)
             if (as_number(d.get("abated_kgco2e_per_year")) or 0) > 0 and as_number(d.get("cost_per_tonne")) is not None]
    if steps:
        ws.add_chart(_macc_chart(b, ws, steps, savings_last + 3), f"B{chart_row}")
    b.finish_sheet(ws, paper="A3")


def _macc_chart(b: Book, ws, steps: list[tuple[int, dict]], top: int) -> ScatterChart:
    """A marginal abatement cost curve as Excel draws it: one scatter step series per option, a bar
    whose width is the tCO2e it avoids a year and whose height is its cost per tonne, placed one after
    the other (cumulative), plus the carbon price as a horizontal line across the whole curve.

    The points are live formulas on the table above: an option in row r runs from x0 = K{r} − H{r}
    (cumulative abated before it) to x1 = K{r}, at y = I{r} (cost per tonne); its outline is
    (x0, 0) → (x0, y) → (x1, y) → (x1, 0). Bars below the carbon price are green, above orange
    (the report's colours)."""
    cur = b.eng.currency
    price = float(b.eng.carbon_price_per_tonne)
    b.section(ws, top - 1, "MACC chart data (step outline of each option; carbon price line)")
    cols = [Col("Option", "wrap", 36), Col("Abated tCO2e/yr (cumulative)", "precise", 14),
            Col(f"Cost {cur}/tCO2e", "money", 12)]
    rows, spans, total = [], [], 0.0
    r = top + 1
    for src, d in steps:
        ab_t = float(as_number(d["abated_kgco2e_per_year"])) / 1000
        cost = float(as_number(d["cost_per_tonne"]))
        x0 = Formula(f"=K{src}-N(H{src})", total)
        x1 = Formula(f"=K{src}", total + ab_t)
        y = Formula(f"=I{src}", cost)
        name = d.get("name") or d.get("id")
        rows += [[name, x0, 0.0], [None, x0, y], [None, x1, y], [None, x1, 0.0]]
        spans.append((r, r + 3, name, cost <= price))
        r += 4
        total += ab_t
    rows += [["Carbon price", 0.0, price], [None, Formula(f"=B{r - 2}", total), Formula(f"=C{r}", price)]]
    b.table(ws, top, cols, rows, "tblMaccSteps")
    ch = ScatterChart()
    ch.title = "Marginal abatement cost curve"
    ch.style = 13
    ch.x_axis.title = "Emissions avoided (tCO2e per year, cumulative)"
    ch.y_axis.title = f"Cost ({cur} per tCO2e)"
    for first, last_row, name, below in spans:
        series = Series(Reference(ws, min_col=3, min_row=first, max_row=last_row),
                        Reference(ws, min_col=2, min_row=first, max_row=last_row), title=str(name)[:60])
        colour = OKABE_ITO[2] if below else OKABE_ITO[1]
        series.graphicalProperties.line.solidFill = colour
        series.graphicalProperties.line.width = 28575  # 2.25 pt
        series.marker.symbol = "none"
        series.smooth = False
        ch.series.append(series)
    price_series = Series(Reference(ws, min_col=3, min_row=r, max_row=r + 1),
                          Reference(ws, min_col=2, min_row=r, max_row=r + 1), title=f"Carbon price {price:g} {cur}/tCO2e")
    price_series.graphicalProperties.line.solidFill = INK
    price_series.graphicalProperties.line.dashStyle = "dash"
    price_series.marker.symbol = "none"
    price_series.smooth = False
    ch.series.append(price_series)
    ch.legend.position = "b"
    _show_axes(ch)
    ch.width, ch.height = 24, 11
    return ch


def _money_table(b: Book, ws, iv: list[dict], top: int) -> int:
    """Money each option saves, activity by activity: cost a year before and after, priced
    from the Prices sheet's register (live formula: saved = before − after). Returns the last row."""
    cur = b.eng.currency
    rows = [(d, m) for d in iv for m in (d.get("money_breakdown") or [])]
    b.section(ws, top - 1, f"Money saved per year, by activity ({cur}; prices on the Prices sheet)")
    if not rows:
        b.none_note(ws, top, "No option changes a priced activity.")
        return top
    cols = [Col("ID", "text", 22), Col("Activity", "text", 14), Col(f"Cost before {cur}/yr", "money", 13),
            Col(f"Cost after {cur}/yr", "money", 13), Col(f"Money saved {cur}/yr", "money", 13)]
    out = []
    for i, (d, m) in enumerate(rows):
        r = top + 1 + i
        out.append([d.get("id"), m["activity_id"], as_number(m["cost_before"]), as_number(m["cost_after"]),
                    Formula(f"=C{r}-D{r}", float(m["cost_before"]) - float(m["cost_after"]))])
    return b.table(ws, top, cols, out, "tblMoneySaved")


def _is_money(key: str) -> bool:
    return any(w in key for w in ("cost", "savings", "capex"))


def _savings_table(b: Book, ws, iv: list[dict], top: int) -> int:
    """Non-energy savings each intervention counts: Δquantity × assumed unit cost (live formula)."""
    cur = b.eng.currency
    rows = [(d, s) for d in iv for s in (d.get("savings_breakdown") or [])]
    b.section(ws, top - 1, "Non-energy savings counted (assumed unit costs, data/forecast_defaults.yaml)")
    if not rows:
        b.none_note(ws, top, "No engagement intervention counts assumed unit-cost savings (the levers' money is "
                             "in the table above).")
        return top
    cols = [Col("ID", "text", 10), Col("Unit cost", "text", 36), Col("Applies to", "wrap", 20),
            Col("Quantity saved per year", "precise", 13), Col("Unit", "text", 13),
            Col(f"Cost per unit {cur}", "precise", 11), Col(f"Saving {cur}/yr", "money", 12),
            Col("Basis (assumption)", "wrap", 60)]
    out = []
    for i, (d, s) in enumerate(rows):
        r = top + 1 + i
        out.append([d.get("id"), s.get("unit_cost"), ", ".join(s.get("activities", [])), as_number(s.get("quantity_saved")),
                    s.get("unit"), as_number(s.get("cost_per_unit")),
                    Formula(f"=D{r}*F{r}", float(s["quantity_saved"]) * float(s["cost_per_unit"])), s.get("basis")])
    return b.table(ws, top, cols, out, "tblSavings")


def _pretty(key: str, currency: str) -> str:
    """A column header with its unit: abated_kgco2e_per_year -> 'Abated kgCO2e per year'."""
    words = key.replace("_", " ").replace("kgco2e", "kgCO2e").replace("kwh", "kWh").strip()
    words = words[:1].upper() + words[1:]
    return f"{words} {currency}" if _is_money(key) else words


def _plain(v: Any) -> Any:
    """A cell value for a free-form field: text as is, lists joined, numbers kept."""
    if isinstance(v, (list, tuple)):
        return ", ".join(map(str, v))
    if isinstance(v, dict):
        return "; ".join(f"{k}: {x}" for k, x in v.items())
    if isinstance(v, str):
        return v or None
    if v is None or isinstance(v, bool):
        return v
    return as_number(v)


# --- Sensitivity, Customisation, Scorecard, Precision per watt ------------------------------

def _sensitivity_sheet(b: Book, lay: Layout) -> None:
    ws = b.ws["Sensitivity"]
    cur = b.eng.currency
    b.title_block(ws, "Sensitivity: cost per tonne with one input at its low and high value",
                  "The MACC formula re-evaluated for the highest-ranked options (audit.analyses.sensitivity). The carbon "
                  "price does not change the cost per tonne, only the verdict.")
    rows = b.r.analysis("sensitivity")
    if not rows:
        b.empty_sheet(ws, "No priced interventions to test in these results.")
        return
    cols = [Col("ID", "text", 24), Col("Input", "text", 28), Col("Unit", "text", 12), Col("Input low", "precise", 11),
            Col("Input high", "precise", 11), Col(f"Base cost {cur}/tCO2e", "money", 12),
            Col(f"Cost at input low {cur}/tCO2e", "money", 13), Col(f"Cost at input high {cur}/tCO2e", "money", 13),
            Col(f"Swing {cur}/tCO2e", "money", 11), Col("Verdict (base)", "text", 14),
            Col("Verdict at input low", "text", 14), Col("Verdict at input high", "text", 14)]
    out = []
    for i, d in enumerate(rows):
        r = HEADER_ROW + 1 + i
        lo, hi = as_number(d.get("cost_per_tonne_low")), as_number(d.get("cost_per_tonne_high"))
        out.append([d["id"], d["input"], d["unit"], as_number(d["input_low"]), as_number(d["input_high"]),
                    as_number(d["cost_per_tonne_base"]), lo, hi,
                    Formula(f"=ABS(H{r}-G{r})", abs(hi - lo)) if lo is not None and hi is not None else None,
                    verdicts.words(d["verdict_base"]), verdicts.words(d["verdict_low"]),
                    verdicts.words(d["verdict_high"])])
    b.table(ws, HEADER_ROW, cols, out, "tblSensitivity")
    b.finish_sheet(ws)


def _customisation_sheet(b: Book, lay: Layout) -> None:
    ws = b.ws["Customisation"]
    b.title_block(ws, "Customisation break-even: prompting, RAG, LoRA or full fine-tune",
                  "Per LLM workload. Per year = per request × requests a year + one-off / service life. Break-even = "
                  "one-off / (baseline − option per request), in requests. Token and GPU-hour changes are assumptions "
                  "(data/forecast_defaults.yaml › customisation).")
    rows = b.r.analysis("customisation")
    if not rows:
        b.empty_sheet(ws, "No LLM workloads to compare in these results.")
        return
    cols = [Col("Workload", "text", 11), Col("Option", "text", 14), Col("Name", "wrap", 32),
            Col("Model served", "text", 22), Col("Input tokens", "int", 9), Col("Output tokens", "int", 9),
            Col("Requests per year", "int", 11), Col("Service life years", "score", 8),
            Col("One-off kWh", "precise", 11), Col("One-off kgCO2e", "precise", 11),
            Col("Per-request kWh", "precise", 12), Col("Per-request kgCO2e", "precise", 12),
            Col("Annual kgCO2e", "kg3", 12), Col("Saving per request kgCO2e", "precise", 12),
            Col("Break-even requests", "int", 12), Col("Carbon payback", "wrap", 36), Col("Basis (assumption)", "wrap", 60)]
    base_row: dict[str, int] = {}
    for i, d in enumerate(rows):
        if d.get("baseline"):
            base_row[d["workload"]] = HEADER_ROW + 1 + i
    out = []
    for i, d in enumerate(rows):
        r = HEADER_ROW + 1 + i
        br = base_row.get(d["workload"])
        annual = Formula(f"=L{r}*G{r}+J{r}/H{r}", float(d["annual_kgco2e"]))
        saving = (Formula(f"=$L${br}-L{r}", float(d["saving_per_request_kgco2e"])) if br is not None
                  else as_number(d.get("saving_per_request_kgco2e")))
        n = d.get("break_even_requests")
        if d.get("baseline"):
            be: Any = "baseline"
        elif n is None:
            be = "never"
        elif d["one_off_kgco2e"] > 0 and br is not None:
            be = Formula(f"=J{r}/N{r}", float(n))
        else:
            be = float(n)
        out.append([d["workload"], d["option"], d.get("name"), d.get("model"), as_number(d["input_tokens"]),
                    as_number(d["output_tokens"]), as_number(d["requests_per_year"]), as_number(d["lifetime_years"]),
                    as_number(d["one_off_kwh"]), as_number(d["one_off_kgco2e"]), as_number(d["per_request_kwh"]),
                    as_number(d["per_request_kgco2e"]), annual, saving, be, d.get("carbon_payback"), d.get("basis")])
    b.table(ws, HEADER_ROW, cols, out, "tblCustomisation")
    b.finish_sheet(ws, paper="A3")


def _scorecard_sheet(b: Book, lay: Layout) -> None:
    ws = b.ws["Scorecard"]
    table = b.r.analysis("scorecard")
    rows = table.get("rows", [])
    task = table.get("task", {})
    b.title_block(ws, "Base-model scorecard: weighted quality against energy per task",
                  "Scores 1-5 (5 best for the client) are the consultant's; defaults in data/scorecard_weights.yaml are "
                  "illustrative. Weighted score = SUMPRODUCT(weights, scores) / SUM(weights); energy per task from the "
                  f"audit's llm_api method ({as_number(task.get('input_tokens')) or 0:,.0f} input and "
                  f"{as_number(task.get('output_tokens')) or 0:,.0f} output tokens).")
    if not rows:
        b.empty_sheet(ws, "No candidate models in these results.")
        return
    facs = list(scorecard.factors())
    labels = scorecard.factor_labels()
    weights = {**scorecard.default_weights(), **table.get("weights", {})}
    n_f = len(facs)
    first, last = get_column_letter(4), get_column_letter(3 + n_f)
    w_row = HEADER_ROW + len(rows) + 4  # the weights, an input row below the table
    cols = ([Col("Model", "text", 22), Col("Provider", "text", 12), Col("Used by", "wrap", 16)]
            + [Col(labels[f], "plain", 9) for f in facs]
            + [Col("Weighted score", "score", 9), Col("kWh per task", "precise", 12),
               Col("kgCO2e per task", "precise", 12), Col("Pareto front", "text", 9), Col("Scored", "text", 8)])
    out = []
    for i, d in enumerate(rows):
        r = HEADER_ROW + 1 + i
        out.append([d["id"], d.get("provider"), ", ".join(d.get("used_by") or []) or "alternative"]
                   + [as_number(d[f]) for f in facs]
                   + [Formula(f"=SUMPRODUCT(${first}${w_row}:${last}${w_row},{first}{r}:{last}{r})"
                         f"/SUM(${first}${w_row}:${last}${w_row})", float(d["weighted_score"])),
                      as_number(d["kwh_per_task"]), as_number(d["kgco2e_per_task"]), "yes" if d.get("pareto") else "no",
                      "yes" if d.get("scored", True) else "no (neutral 3s)"])
    b.table(ws, HEADER_ROW, cols, out, "tblScorecard")
    b.section(ws, w_row - 2, "Weights (inputs: change them and the weighted scores follow)")
    wcols = [Col("Weights", "text", 16)] + [Col(labels[f], "score", 9) for f in facs]
    b.table(ws, w_row - 1, wcols, [["weight"] + [float(weights[f]) for f in facs]], "tblScorecardWeights", left=3)
    b.finish_sheet(ws, paper="A3")


def _precision_sheet(b: Book, lay: Layout) -> None:
    ws = b.ws["Precision per watt"]
    b.title_block(ws, "Precision per watt: emissions per kept generative asset, by stage",
                  "Kept = quantity × accepted_fraction (base units: requests, images, video seconds). Discarded "
                  "generations still used energy: their share of the stage's emissions is shown.")
    rows = b.r.analysis("precision_per_watt")
    if not rows:
        b.empty_sheet(ws, "No generative-AI activities in these results.")
        return
    cols = [Col("Stage", "text", 18), Col("Generated", "int", 12), Col("Kept", "int", 12),
            Col("kgCO2e", "kg3", 12), Col("gCO2e per kept asset", "precise", 13),
            Col("Wh per kept asset", "precise", 13), Col("Share of emissions on discards", "pct", 13)]
    out = []
    for i, d in enumerate(rows):
        r = HEADER_ROW + 1 + i
        acc, kg = as_number(d.get("accepted")), as_number(d.get("kgco2e"))
        per = (Formula(f"=D{r}/C{r}*1000", kg / acc * 1000) if acc and kg is not None else None)
        wh = as_number(d.get("kwh_per_accepted"))
        out.append([d["stage"], as_number(d.get("generated")), acc, kg, per, wh * 1000 if wh is not None else None,
                    as_number(d.get("discarded_share_kgco2e"))])
    b.table(ws, HEADER_ROW, cols, out, "tblPrecisionPerWatt")
    b.finish_sheet(ws)


def _routes_sheet(b: Book, lay: Layout) -> None:
    ws = b.ws["Routes"]
    cur = b.eng.currency
    b.title_block(ws, "Routes: the same deliverable by shoot, generative or hybrid production",
                  f"engagement.yaml routes: kgCO2e and cost ({cur}) per accepted asset with the estimate's low/high "
                  "range; below, the scale (rebound) sensitivity as volume grows.")
    rows = b.r.analysis("routes") or []
    if not rows:
        b.empty_sheet(ws, "No routes declared in engagement.yaml (key routes).")
        return
    cols = [Col("Route", "text", 14), Col("Name", "wrap", 32), Col("Kind", "text", 12), Col("Accepted assets", "int", 11),
            Col("kgCO2e per accepted asset", "precise", 13), Col("Low kgCO2e per asset", "precise", 13),
            Col("High kgCO2e per asset", "precise", 13), Col(f"Cost {cur} per accepted asset", "money", 13),
            Col("Activities", "wrap", 30)]
    out = [[d["id"], d["name"], d["kind"], as_number(d["accepted_assets"]), as_number(d["kgco2e_per_accepted_asset"]),
            as_number(d["low"]), as_number(d["high"]), as_number(d.get("cost_per_accepted_asset")),
            ", ".join(d["activities"])] for d in rows]
    last = b.table(ws, HEADER_ROW, cols, out, "tblRoutes")
    scale = [s for d in rows for s in d.get("scale", [])]
    start = (last if isinstance(last, int) else HEADER_ROW + len(out)) + 3
    scols = [Col("Route", "text", 14), Col("Volume multiple", "precise", 11), Col("Accepted assets", "int", 11),
             Col("Total kgCO2e", "kg", 13), Col("kgCO2e per accepted asset", "precise", 13),
             Col("Total vs reference route today", "precise", 13)]
    b.table(ws, start, scols, [[s["route"], as_number(s["volume_multiple"]), as_number(s["accepted_assets"]),
                                as_number(s["kgco2e"]), as_number(s["kgco2e_per_accepted_asset"]),
                                as_number(s.get("times_reference"))] for s in scale], "tblRouteScale")
    b.finish_sheet(ws)


def _prices_sheet(b: Book, lay: Layout) -> None:
    ws = b.ws["Prices"]
    b.title_block(ws, "Prices: every price an activity cost or an option's money saved uses",
                  "The engagement's own prices win; then genai-prices (bundled data, offline) for API lines; then "
                  "data/prices/unit_prices.csv. Amounts are converted with data/currency_rates.csv.")
    prices = b.r.prices or {}
    if not prices:
        b.empty_sheet(ws, "No priced activities in these results.")
        return
    cols = [Col("Price id", "text", 40), Col("Value", "precise", 11), Col("Unit", "text", 16), Col("Currency", "text", 9),
            Col("Source", "wrap", 60), Col("Year", "int", 8), Col("Licence", "text", 16), Col("Notes", "wrap", 40)]
    out = [[pid, p.value, p.unit, p.currency, p.source, p.year, p.licence, p.notes]
           for pid, p in sorted(prices.items())]
    b.table(ws, HEADER_ROW, cols, out, "tblPrices")
    b.finish_sheet(ws)


# --- Assumptions -----------------------------------------------------------------------------

def _is_default_factor(fid: str) -> bool:
    return "default" in fid or fid.startswith("proxy:") or "average" in fid


def _assumptions_sheet(b: Book, lay: Layout) -> None:
    ws = b.ws["Assumptions"]
    eng = b.eng
    b.title_block(ws, "Assumptions, defaults, exclusions and overrides",
                  "What the consultant assumed, which defaults the tool applied, what is excluded and why.")
    rows: list[list[Any]] = []
    for a in eng.assumptions:
        rows.append(["Engagement assumption", a, None, "engagement.yaml"])
    settings = [
        ("Default region", eng.default_region,
         "Activities with no region are assumed here (LLM APIs: provider's region)"),
        ("Radiative forcing", "yes" if eng.radiative_forcing else "no", "Flights use DESNZ 'with RF' factors"),
        ("Upstream Scope 3 Cat 3 lines", "yes" if eng.upstream_cat3 else "no",
         "Well-to-tank and T&D lines added (DESNZ)"),
        ("Carbon price", f"{eng.carbon_price_per_tonne:g} {eng.currency}/tCO2e", "Shadow price for costs"),
        ("Effort threshold", f"{eng.effort_threshold_person_days:g} person-days", "Feasibility screening"),
        ("Base year", "" if eng.base_year is None else str(eng.base_year), "Reporting year of client-supplied values"),
        ("Factor set", b.r.factor_set, "Versions of every factor source"),
    ]
    for name, value, why in settings:
        rows.append(["Setting / default", name, value or None, why])
    users: dict[str, list[str]] = {}
    for aid, ids in zip(b.lines["activity_id"], b.lines["factor_ids"]):
        for f in ids:
            users.setdefault(str(f), []).append(str(aid))
    for rec in b.r.factors.itertuples(index=False):
        if _is_default_factor(str(rec.factor_id)):
            v = as_number(rec.value)
            shown = f"{v:.6g}" if isinstance(v, (int, float)) and not isinstance(v, bool) else v
            rows.append(["Default factor used", rec.factor_id, f"{rec.name}: {shown} {rec.unit}",
                         "Used by: " + ", ".join(users.get(str(rec.factor_id), []))])
    for ex in (e for e in eng.scope3_exclusions if e.reason):  # blank reason: not screened yet
        rows.append(["Scope 3 exclusion", f"Category {ex.category}: {SCOPE3_CATEGORY_NAMES.get(ex.category, '')}",
                     None, ex.reason])
    for mi in eng.market_instruments:
        detail = (f"supplier factor {mi.supplier_factor_g_per_kwh:g} gCO2e/kWh" if mi.supplier_factor_g_per_kwh
                  is not None else f"renewable share {mi.renewable_share:.0%}" if mi.renewable_share is not None
                  else "no value")
        rows.append(["Market instrument", mi.region, detail, mi.description or None])
    for o in eng.factor_overrides:
        rows.append(["Factor override", o.factor_id, f"value {o.value:g} ({o.source})", o.reason])
    for w in b.r.warnings:
        rows.append(["Warning", w, None, None])
    cols = [Col("Section", "text", 24), Col("Item", "wrap", 60), Col("Detail", "wrap", 44),
            Col("Reason / source", "wrap", 60)]
    if not rows:
        rows.append(["None", "No assumptions recorded", None, None])
    b.table(ws, HEADER_ROW, cols, rows, "tblAssumptions")
    b.finish_sheet(ws)


# --- Data quality ----------------------------------------------------------------------------

def _data_quality_sheet(b: Book, lay: Layout) -> str:
    ws = b.ws["Data quality"]
    b.title_block(ws, "Data quality by activity (1 = best, 5 = worst)",
                  "GHG Protocol Scope 3 data hierarchy: 1 measured, 2 supplier-specific, 3 modelled, 4 proxy, "
                  "5 spend-based. A proxy factor caps the score at 4. Worse scores widen the low-high range.")
    lines = b.lines
    dq, kg = lay.act(_act_letter("data_quality")), lay.act(_act_letter("kgco2e"))
    parents = lines[lines["derived_from"] == ""]
    cols = [Col("Activity ID", "text", 13), Col("Stage", "text", 16), Col("Description", "wrap", 46),
            Col("Kind", "text", 16), Col("Score 1-5", "plain", 8), Col("Label", "text", 16),
            Col("Method", "text", 18)]
    rows = [[rec.activity_id, rec.stage, rec.description, rec.kind, int(rec.data_quality),
             DQ_LABELS.get(int(rec.data_quality), "unknown"), rec.method] for rec in parents.itertuples(index=False)]
    act_last = b.table(ws, HEADER_ROW, cols, rows, "tblDataQuality")
    act_scores = f"$E${HEADER_ROW + 1}:$E${max(act_last, HEADER_ROW + 1)}"

    # count per score, to the right
    left = len(cols) + 2
    L = [get_column_letter(left + k) for k in range(5)]
    b.section(ws, HEADER_ROW - 1, "Count per score", col=left)
    cols2 = [Col("Score", "plain", 10), Col("Label", "text", 16), Col("Activities", "int", 10),
             Col("kgCO2e", "kg", 13), Col("Share of emissions", "pct", 11)]
    tot_row = HEADER_ROW + len(DQ_LABELS) + 1
    rows2 = []
    for i, (score, label) in enumerate(sorted(DQ_LABELS.items())):
        r = HEADER_ROW + 1 + i
        kg_s = float(lines.loc[lines["data_quality"] == score, "kgco2e"].sum())
        rows2.append([score, label,
                      Formula(f"=COUNTIF({act_scores},{L[0]}{r})", int((parents["data_quality"] == score).sum())),
                      Formula(f"=SUMIFS({kg},{dq},{L[0]}{r})", kg_s),
                      Formula(f"=IF(${L[3]}${tot_row}=0,0,{L[3]}{r}/${L[3]}${tot_row})",
                         kg_s / b.total_kg if b.total_kg else 0.0)])
    b.table(ws, HEADER_ROW, cols2, rows2, "tblDataQualityCounts", left=left)
    f = HEADER_ROW + 1
    b.put(ws, tot_row, left, "Total", total=True)
    b.put(ws, tot_row, left + 2, Formula(f"=SUM({L[2]}{f}:{L[2]}{tot_row - 1})", len(parents)), "int", total=True)
    b.put(ws, tot_row, left + 3, Formula(f"=SUM({L[3]}{f}:{L[3]}{tot_row - 1})", b.total_kg), "kg", total=True)
    wrow = tot_row + 1
    b.put(ws, wrow, left, "Emissions-weighted score", total=True)
    b.put(ws, wrow, left + 3, Formula(f"=IF({L[3]}{tot_row}=0,0,SUMPRODUCT({dq},{kg})/{L[3]}{tot_row})", _dq_weighted(b)),
          "score", total=True)
    b.total_rule(ws, tot_row, left, left + len(cols2) - 1)
    b.total_rule(ws, wrow, left, left + len(cols2) - 1)
    b.autofit(ws, 1, len(cols), cap=30)
    b.finish_sheet(ws)
    return f"{L[3]}{wrow}"


# --- Method ----------------------------------------------------------------------------------

def _method_sheet(b: Book, lay: Layout) -> dict[str, str]:
    """The methods table, then the run manifest below it. Returns the cells of this run's
    footprint (Summary shows them through formulas, so every run-specific value lives in
    the manifest's "This run" block and nowhere else)."""
    ws = b.ws["Method"]
    b.title_block(ws, "Method: how each number was calculated",
                  "One row per calculation method. Blue numbers are values from the estimator, black numbers are "
                  "live formulas. Upstream electricity lines store the parent's kWh in Activities' Quantity used. "
                  "The run manifest is below the table.")
    lines = b.lines
    ma = lay.act(_act_letter("method"))
    # Formula second and Lines third, so the manifest below can use A:D as Item | Value | Unit | Note.
    cols = [Col("Method", "text", 22), Col("Formula", "wrap", 66), Col("Lines", "int", 10),
            Col("In plain words", "wrap", 70), Col("In this workbook (Activities kgCO2e)", "wrap", 36),
            Col("Code", "text", 36)]
    rows = []
    methods, line_formulas = lines["method"].tolist(), lines["formula"].tolist()
    line_kinds = [_formula_kind(x) for x in lines[["method", "factor_ids", "formula"]].itertuples(index=False)]
    for i, method in enumerate(dict.fromkeys(methods)):
        r = HEADER_ROW + 1 + i
        sub = [j for j, m in enumerate(methods) if m == method]  # this method's lines
        formulas = "\n".join(dict.fromkeys(line_formulas[j] for j in sub))
        kinds = {line_kinds[j] for j in sub}
        how = "; ".join(sorted({"factor": "formula: Quantity used × factor (INDEX/MATCH on Factors)",
                                "energy": "formula: kWh × intensity / 1000 (kWh is a value)",
                                "embodied": "formula: GPU-hours × (GPU + server share) / (lifetime × 8760 h)",
                                "embodied_hourly": "formula: GPU-hours × kgCO2e per GPU-hour (Factors)",
                                "value": "value from the estimator"}[k] for k in kinds))
        expl, code = METHOD_EXPLANATIONS.get(method, ("See the code reference.", "audit/inventory/estimate.py"))
        rows.append([method, formulas, Formula(f"=SUMPRODUCT(--EXACT({ma},$A{r}))", len(sub)), expl, how, code])
    last = b.table(ws, HEADER_ROW, cols, rows, "tblMethod")
    run_cells = _run_manifest(b, ws, last + 3)
    b.autofit(ws, 1, 1, cap=40)
    b.finish_sheet(ws, print_titles=False)
    return run_cells


def _run_manifest(b: Book, ws, top: int) -> dict[str, str]:
    """Two tables under "Run manifest": what the results depend on (tool, factor set, input
    hashes: identical for identical inputs), then "This run" (when, and this run's own
    footprint: different every time). Returns {footprint key: cell} for Summary."""
    cols = [Col("Item", "text", 22), Col("Value", "wrap", 66), Col("Unit", "text", 10), Col("Note", "wrap", 70)]
    man = dict(b.r.manifest or {})
    hashes = man.pop("input_files_sha256", {}) or {}
    run = {k: man.pop(k) for k in RUN_SPECIFIC_KEYS if k in man}  # only in the "This run" block
    items: list[list[Any]] = [
        ["Tool", str(man.pop("tool", None) or "genai-content-audit"), None, "The toolkit that wrote this workbook"],
        ["Tool version", str(man.pop("tool_version", None) or _package_version()), None, "Python package version"],
        ["Factor set", str(man.pop("factor_set", None) or b.r.factor_set), None,
         "Versions of every factor source (Factors sheet)"],
    ]
    for name in sorted(hashes):
        items.append([f"Input file: {name}", str(hashes[name]), "SHA-256", "Hash of the file as read"])
    for k in sorted(man):
        v = man[k]
        items.append([MANIFEST_LABELS.get(k, str(k).replace("_", " ").capitalize()),
                      v if isinstance(v, str) else str(v) if isinstance(v, (int, float)) else repr(v), None, None])
    b.section(ws, top, "Run manifest")
    b.none_note(ws, top + 1, "What the results depend on: identical for identical inputs and factor set. "
                             "The same record is in manifest.json beside the reports.")
    last = b.table(ws, top + 2, cols, items, "tblManifest")

    top = last + 3
    b.section(ws, top, "This run")
    b.none_note(ws, top + 1, "When this workbook was produced and what producing it cost: differs on every run, "
                             "even with identical inputs.")
    fp = b.r.footprint or run.get("footprint") or None
    generated = run.get("generated_at") or datetime.now(timezone.utc).isoformat(timespec="seconds")
    record: list[list[Any]] = [["Generated at", str(generated), "UTC", "When the reports were written (ISO 8601)"]]
    cells: dict[str, str] = {}
    first = top + 3
    if fp:
        how = f"{fp.get('method', 'codecarbon')} {fp.get('codecarbon_version', '')}".strip()
        for key, label, unit, note in (
                ("energy_kwh", "Energy used by this run", "kWh", f"Measured with {how} while the notebooks ran"),
                ("kgco2e", "Emissions of this run", "kgCO2e",
                 f"Energy × grid intensity of {fp.get('country', '?')} ({fp.get('intensity_basis', 'codecarbon')})"),
                ("duration_s", "Duration of this run", "s", "Wall-clock time of the notebooks and reports")):
            value = as_number(fp.get(key))
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                cells[key] = f"$B${first + len(record)}"
            record.append([label, "not measured" if value is None else value, unit, note])
        for key, label in (("country", "Grid country"), ("codecarbon_version", "codecarbon version"),
                           ("cpu_model", "CPU model"), ("error", "Measurement problem")):
            if fp.get(key) not in (None, ""):
                record.append([label, str(fp[key]), None, None])
    else:
        record.append(["Footprint of this run", "not measured", None, "codecarbon tracking was off for this run"])
    for note in run.get("notes") or []:
        record.append(["Run note", str(note), None, None])
    last = b.table(ws, top + 2, cols, record, "tblRunRecord")
    for i, (_, value, _, _) in enumerate(record):  # numbers as numbers, with their significant digits
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            c = b.put(ws, first + i, 2, value, "sig")
            c.alignment = Alignment(horizontal="left", vertical="top", indent=1)  # a list, not a column of sums
    if last != first + len(record) - 1:
        raise AssertionError("Method layout: run record moved")
    return cells


def _package_version() -> str:
    try:
        return version("genai-content-audit")
    except Exception:  # noqa: BLE001 - a source tree without metadata
        return "unknown"


# --- Summary ---------------------------------------------------------------------------------

def _summary_sheet(b: Book, lay: Layout, scope_cells: dict[str, str], stage_rows: list[int], dq_cell: str,
                   run_cells: dict[str, str] | None = None) -> None:
    ws = b.ws["Summary"]
    eng, tot, cur = b.eng, b.r.totals, b.eng.currency
    b.title_block(ws, "Carbon audit of generative-AI content production: summary",
                  "Total uses location-based Scope 2 (GHG Protocol dual reporting). "
                  "Low-high adds the lines' bounds (fully correlated: the widest defensible range).")
    t = lay.a_total
    W, X, Y, S = (_act_letter(k) for k in ("kgco2e", "kgco2e_low", "kgco2e_high", "kwh"))
    sc = lay.act(_act_letter("scope"))
    kga = lay.act(W)
    r0 = HEADER_ROW + 1
    price_row = r0 + 8
    market_total = tot["scope1_kgco2e"] + tot["scope2_market_kgco2e"] + tot["scope3_kgco2e"]
    kpis: list[tuple] = [  # label, value, unit, fmt, low, high, note
        ("Total emissions", Formula(f"=Activities!{W}{t}/1000", tot["kgco2e"] / 1000), "tCO2e", "t",
         Formula(f"=Activities!{X}{t}/1000", tot["kgco2e_low"] / 1000),
         Formula(f"=Activities!{Y}{t}/1000", tot["kgco2e_high"] / 1000), "Scope 1 + 2 (location-based) + 3"),
        ("Total emissions, market-based", Formula(f"=Scopes!{scope_cells['total_market']}/1000", market_total / 1000),
         "tCO2e", "t", None, None, "Scope 1 + 2 (market-based) + 3"),
        ("Scope 1", Formula(f"=SUMIFS({kga},{sc},1)/1000", tot["scope1_kgco2e"] / 1000), "tCO2e", "t", None, None,
         "Direct emissions (fuel, owned vehicles)"),
        ("Scope 2, location-based", Formula(f"=Scopes!{scope_cells['Scope 2 (location-based)']}/1000",
                                       tot["scope2_location_kgco2e"] / 1000), "tCO2e", "t", None, None,
         "Purchased electricity at grid-average intensity"),
        ("Scope 2, market-based", Formula(f"=Scopes!{scope_cells['Scope 2 (market-based)']}/1000",
                                     tot["scope2_market_kgco2e"] / 1000), "tCO2e", "t", None, None,
         "Purchased electricity after contractual instruments"),
        ("Scope 3", Formula(f"=SUMIFS({kga},{sc},3)/1000", tot["scope3_kgco2e"] / 1000), "tCO2e", "t", None, None,
         "Value chain: AI services, travel, freight, upstream energy"),
        ("Energy", Formula(f"=Activities!{S}{t}", tot["kwh"]), "kWh", "int", None, None,
         "Electricity of energy-based lines"),
        ("Shadow carbon cost", Formula(f"=B{r0}*B{price_row}", tot["kgco2e"] / 1000 * eng.carbon_price_per_tonne),
         cur, "money", Formula(f"=D{r0}*B{price_row}", tot["kgco2e_low"] / 1000 * eng.carbon_price_per_tonne),
         Formula(f"=E{r0}*B{price_row}", tot["kgco2e_high"] / 1000 * eng.carbon_price_per_tonne),
         "Total × carbon price"),
        ("Carbon price", float(eng.carbon_price_per_tonne), f"{cur}/tCO2e", "money", None, None, "engagement.yaml"),
        ("Emission lines", Formula(f"=COUNT({kga})", len(b.lines)), "lines", "int", None, None,
         "Activities plus derived upstream lines"),
        ("Activities", Formula(f"=COUNTBLANK({lay.act(_act_letter('derived_from'))})",
                          int((b.lines["derived_from"] == "").sum())), "activities", "int", None, None,
         "Rows in the client's activity table"),
        ("Emissions-weighted data quality", Formula(f"='Data quality'!{dq_cell}", _dq_weighted(b)), "score 1-5",
         "score", None, None, "1 = measured … 5 = spend-based"),
    ]
    fp = b.r.footprint
    if fp:
        # Linked to Method's "This run" block, the one place that holds run-specific values.
        run_cells = run_cells or {}

        def run_kpi(label, key, scale, unit, fmt, note):
            v = as_number(fp.get(key))
            if key in run_cells and isinstance(v, (int, float)):
                return (label, Formula(f"=Method!{run_cells[key]}*{scale}" if scale != 1 else f"=Method!{run_cells[key]}",
                                  v * scale), unit, fmt, None, None, note)
            return (label, "not measured", None, "text", None, None, note)

        kpis += [
            run_kpi("This audit run: energy", "energy_kwh", 1000, "Wh", "meas",
                    f"Measured with codecarbon {fp.get('codecarbon_version', '')} (Method sheet: This run)"),
            run_kpi("This audit run: emissions", "kgco2e", 1000, "gCO2e", "meas", f"Grid of {fp.get('country', '')}"),
            run_kpi("This audit run: duration", "duration_s", 1, "s", "dec1", "Notebooks and reports"),
        ]
    else:
        kpis.append(("This audit run: footprint", "not measured", None, "text", None, None,
                     "codecarbon tracking was off for this run"))
    cols = [Col("Indicator", "text", 34), Col("Value", "t", 14), Col("Unit", "text", 12), Col("Low", "t", 12),
            Col("High", "t", 12), Col("Basis", "wrap", 46)]
    last = HEADER_ROW
    for j, col in enumerate(cols):
        c = ws.cell(row=HEADER_ROW, column=j + 1)
        put_text(c, col.header)
        c.style = "Audit Header"
        b.width(ws, j + 1, col.width)
    for i, (label, value, unit, fmt, low, high, note) in enumerate(kpis):
        r = r0 + i
        b.put(ws, r, 1, label)
        b.put(ws, r, 2, value, fmt)
        b.put(ws, r, 3, unit)
        b.put(ws, r, 4, low, fmt)
        b.put(ws, r, 5, high, fmt)
        b.put(ws, r, 6, note or None, "wrap")
        last = r
    if b.ws["Summary"].cell(row=price_row, column=1).value != "Carbon price":
        raise AssertionError("Summary layout: carbon price row moved")
    tb = Table(displayName="tblSummary", ref=f"A{HEADER_ROW}:F{last}")
    tb.tableStyleInfo = TableStyleInfo(name="TableStyleLight1", showRowStripes=True)
    ws.add_table(tb)
    b._table_names.add("tblSummary")
    ws.cell(row=r0, column=1).font = Font(name="Calibri", size=11, bold=True, color=INK)
    ws.cell(row=r0, column=2).font = Font(name="Calibri", size=11, bold=True, color=INK)

    # chart data: by scope and by stage
    top = last + 3
    b.section(ws, top - 1, "Emissions by scope")
    scope_rows = [("Scope 1", f"=B{r0 + 2}", tot["scope1_kgco2e"]),
                  ("Scope 2 location", f"=B{r0 + 3}", tot["scope2_location_kgco2e"]),
                  ("Scope 2 market", f"=B{r0 + 4}", tot["scope2_market_kgco2e"]),
                  ("Scope 3", f"=B{r0 + 5}", tot["scope3_kgco2e"])]
    s_last = b.table(ws, top, [Col("Scope", "text", 20), Col("tCO2e", "t")],
                     [[n, Formula(f, v / 1000)] for n, f, v in scope_rows], "tblSummaryScopes")
    _summary_bar(ws, "Emissions by scope (tCO2e)", top, s_last, f"H{HEADER_ROW}")
    top2 = s_last + 3
    b.section(ws, top2 - 1, "Emissions by stage")
    by_stage = b.r.by_stage.set_index("stage")
    # stage names are copied as text; the figures link to the Process map's stage rows
    st_rows = [[stage, Formula(f"='Process map'!H{rr}/1000", by_stage.loc[stage, "kgco2e"] / 1000)]
               for rr, stage in zip(stage_rows, _stage_order(b))]
    g_last = b.table(ws, top2, [Col("Stage", "text", 20), Col("tCO2e", "t")], st_rows, "tblSummaryStages")
    if st_rows:
        _summary_bar(ws, "Emissions by stage (tCO2e)", top2, g_last, f"H{HEADER_ROW + 20}", horizontal=True)
    b.autofit(ws, 1, 5, cap=40)
    b.finish_sheet(ws, print_titles=False)


def _dq_weighted(b: Book) -> float:
    return weighted_data_quality(b.lines) or 0.0  # the cell formula shows 0 for an empty audit


def _summary_bar(ws, title: str, header_row: int, last_row: int, anchor: str, horizontal: bool = False) -> None:
    ch = BarChart()
    ch.type, ch.title = ("bar" if horizontal else "col"), title
    ch.y_axis.title = "tCO2e"
    ch.y_axis.number_format = "#,##0.0"
    if horizontal:  # stage names read left to right, first stage on top
        ch.x_axis.scaling.orientation = "maxMin"
        ch.y_axis.crosses = "max"  # keep the value axis at the bottom
    ch.add_data(Reference(ws, min_col=2, min_row=header_row, max_row=last_row), titles_from_data=True)
    ch.set_categories(Reference(ws, min_col=1, min_row=header_row + 1, max_row=last_row))
    s = ch.series[0]
    s.graphicalProperties.solidFill = OKABE_ITO[0]
    for i in range(last_row - header_row):
        pt = DataPoint(idx=i)
        colour = OKABE_ITO[i % len(OKABE_ITO)]
        pt.graphicalProperties.solidFill = colour
        pt.graphicalProperties.line.solidFill = colour
        s.dPt.append(pt)
    ch.legend = None
    _show_axes(ch)
    ch.width, ch.height = 16, 9
    ws.add_chart(ch, anchor)


# --- public API ------------------------------------------------------------------------------

def build_workbook(results: AuditResults) -> tuple[Workbook, dict[tuple[str, str], float]]:
    """The workbook, and for every formula cell ``(sheet, coordinate)`` the value the
    Python results give for it (so a recalculation can be checked against the estimator)."""
    b = Book(results)
    lay = Layout(b)
    _factors_sheet(b, lay)
    _activities_sheet(b, lay)
    scope_cells = _scopes_sheet(b, lay)
    stage_rows = _process_map_sheet(b, lay)
    _hotspots_sheet(b, lay)
    _forecast_sheet(b, lay)
    _feasibility_sheet(b, lay)
    _sensitivity_sheet(b, lay)
    _customisation_sheet(b, lay)
    _scorecard_sheet(b, lay)
    _precision_sheet(b, lay)
    _routes_sheet(b, lay)
    _prices_sheet(b, lay)
    _assumptions_sheet(b, lay)
    dq_cell = _data_quality_sheet(b, lay)
    run_cells = _method_sheet(b, lay)
    _summary_sheet(b, lay, scope_cells, stage_rows, dq_cell, run_cells)
    for add_sheets in EXTRA_SHEETS:  # the disclosure sheets (excel/disclosure_sheets.py)
        add_sheets(b, lay)
    b.apply_sig_formats()
    _properties(b)
    b.wb.active = 0
    return b.wb, b.expected


def _properties(b: Book) -> None:
    p = b.wb.properties
    p.creator = "genai-content-audit"
    p.title = "Carbon audit"
    gen = (b.r.manifest or {}).get("generated_at")
    try:
        p.created = datetime.fromisoformat(str(gen)).replace(tzinfo=None) if gen else datetime(2000, 1, 1)
    except ValueError:
        p.created = datetime(2000, 1, 1)


def write_excel(results: AuditResults, path: Path) -> None:
    """Write the auditable workbook to ``path`` atomically (temp file in the same folder,
    then ``os.replace``), so a reader never sees a half-written file. Every formula cell
    carries the Python result as its cached value (see ``store_cached_values``)."""
    wb, expected = build_workbook(results)
    with atomic_path(path) as tmp:
        wb.save(tmp)
        store_cached_values(tmp, expected)


_FORMULA_CELL = re.compile(r'<c r="([A-Z]+[0-9]+)"([^>]*)><f>([^<]*)</f><v\s*/></c>')


def store_cached_values(xlsx: Path, expected: dict[tuple[str, str], float]) -> int:
    """Give every formula cell of a saved workbook its value, computed by the toolkit.

    openpyxl writes formulas with an empty cached value, so a reader that does not
    recalculate (pandas, openpyxl's ``data_only``, previewers, many auditors' scripts) sees
    blanks. The cached value is the estimator's own number for the cell (the same dict the
    LibreOffice test checks a recalculation against), written into the sheet XML. Returns
    how many cells got a value.
    """
    ns = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
          "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
          "rel": "http://schemas.openxmlformats.org/package/2006/relationships"}
    with zipfile.ZipFile(xlsx) as z:
        entries = [(info, z.read(info.filename)) for info in z.infolist()]
    parts = dict((info.filename, data) for info, data in entries)
    targets = {r.get("Id"): r.get("Target") for r in ET.fromstring(parts["xl/_rels/workbook.xml.rels"])
               .findall("rel:Relationship", ns)}
    part_of = {}
    for sheet in ET.fromstring(parts["xl/workbook.xml"]).find("m:sheets", ns):
        target = targets[sheet.get(f"{{{ns['r']}}}id")].lstrip("/")
        part_of["xl/" + target if not target.startswith("xl/") else target] = sheet.get("name")
    by_sheet: dict[str, dict[str, float]] = {}
    for (title, coordinate), value in expected.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            by_sheet.setdefault(title, {})[coordinate] = float(value)
    stored = 0

    def fill(values: dict[str, float]):
        def one(m: re.Match) -> str:
            nonlocal stored
            value = values.get(m.group(1))
            if value is None:
                return m.group(0)
            stored += 1
            return f'<c r="{m.group(1)}"{m.group(2)}><f>{m.group(3)}</f><v>{value!r}</v></c>'
        return one

    with zipfile.ZipFile(xlsx, "w") as z:
        for info, data in entries:
            title = part_of.get(info.filename)
            if title in by_sheet:
                data = _FORMULA_CELL.sub(fill(by_sheet[title]), data.decode("utf-8")).encode("utf-8")
            z.writestr(info, data)
    return stored
