"""The disclosure sheets of report.xlsx: GHG Protocol inventory, ESRS E1-6 and VSME B3, ISO
14064-1. Every figure is a live formula over the Activities sheet (SUMIFS by scope and
category), and its expected value is the one results.json's ``disclosures`` block gives
(audit.analyses.disclosures on the same lines), so a recalculation checks both.

Registered in ``book.EXTRA_SHEETS``; ``sheets.build_workbook`` writes them after the others.
"""
from __future__ import annotations

from openpyxl.utils import get_column_letter

from audit.analyses import disclosures as D
from audit.deliverables.excel.book import EXTRA_SHEETS, HEADER_ROW, Book, Col, Formula, Layout
from audit.deliverables.excel.sheets import ACT_COLS
from audit.inventory.results import activities_json

GHG_SHEET, ESRS_SHEET, ISO_SHEET = "GHG Protocol", "ESRS E1-6 & VSME B3", "ISO 14064-1"
DISCLOSURE_SHEETS = (GHG_SHEET, ESRS_SHEET, ISO_SHEET)


def _act(lay: Layout, key: str) -> str:
    letter = get_column_letter([k for k, _ in ACT_COLS].index(key) + 1)
    return lay.act(letter)


def _ghg_sheet(b: Book, lay: Layout, lines: list[dict]) -> dict[str, str]:
    """The GHG Protocol inventory in tCO2e; returns the cells the other sheets refer to
    ('scope1', 'scope2_location', 'scope2_market', 'scope3', 'total_location', 'total_market',
    'cat1'..'cat15')."""
    ws = b.add_sheet(GHG_SHEET)
    b.title_block(ws, "GHG Protocol inventory (tCO2e)",
                  "Scope 1, Scope 2 on both bases, Scope 3 by category with its screening status. "
                  "Formulas: SUMIFS over Activities / 1000. Totals use location-based Scope 2; market-based beside it.")
    inv = D.ghg_protocol(lines, [e.model_dump() for e in b.eng.scope3_exclusions])
    kg, mk, sc, cat = (_act(lay, k) for k in ("kgco2e", "kgco2e_market", "scope", "scope3_category"))
    cols = [Col("Line", "text", 28), Col("Scope 3 category", "plain", 9), Col("Category", "wrap", 34),
            Col("Status", "wrap", 34), Col("tCO2e", "sig", 12), Col("Lines", "int", 7),
            Col("Methods", "wrap", 44), Col("Data quality (1 best - 5)", "score", 10)]
    rows, cells = [], {}
    r = HEADER_ROW + 1

    def dq(block):
        return block["data_quality"]

    for key, label, crit, col in (("scope1", "Scope 1", f"{sc},1", kg),
                                  ("scope2_location", "Scope 2 (location-based)", f"{sc},2", kg),
                                  ("scope2_market", "Scope 2 (market-based)", f"{sc},2", mk)):
        block = inv[key]
        rows.append([label, None, None, None, Formula(f"=SUMIFS({col},{crit})/1000", block["tco2e"]),
                     Formula(f"=COUNTIFS({crit})", block["lines"]), "; ".join(block["method_names"]) or None,
                     dq(block)])
        cells[key] = f"E{r}"
        r += 1
    first_cat = r
    for c in inv["scope3"]["categories"]:
        n = c["scope3_category"]
        crit = f"{sc},3,{cat},{n}"
        rows.append(["Scope 3", n, c["name"], c["label"], Formula(f"=SUMIFS({kg},{crit})/1000", c["tco2e"]),
                     Formula(f"=COUNTIFS({crit})", c["lines"]), "; ".join(c["method_names"]) or None, dq(c)])
        cells[f"cat{n}"] = f"E{r}"
        r += 1
    last = b.table(ws, HEADER_ROW, cols, rows, "tblGhgProtocol")
    s3, tl, tm = last + 1, last + 2, last + 3
    b.put(ws, s3, 1, "Scope 3 total", total=True)
    b.put(ws, s3, 5, Formula(f"=SUM(E{first_cat}:E{last})", inv["scope3"]["tco2e"]), "sig", total=True)
    b.put(ws, tl, 1, "Total (location-based Scope 2)", total=True)
    b.put(ws, tl, 5, Formula(f"={cells['scope1']}+{cells['scope2_location']}+E{s3}", inv["total_location_tco2e"]),
          "sig", total=True)
    b.put(ws, tm, 1, "Total (market-based Scope 2)", total=True)
    b.put(ws, tm, 5, Formula(f"={cells['scope1']}+{cells['scope2_market']}+E{s3}", inv["total_market_tco2e"]),
          "sig", total=True)
    for row in (s3, tl, tm):
        b.total_rule(ws, row, 1, len(cols))
    cells.update({"scope3": f"E{s3}", "total_location": f"E{tl}", "total_market": f"E{tm}"})
    b.finish_sheet(ws)
    return cells


def _esrs_sheet(b: Book, lay: Layout, lines: list[dict], ghg: dict[str, str]) -> None:
    ws = b.add_sheet(ESRS_SHEET)
    b.title_block(ws, "ESRS E1-6 and VSME B3 datapoints",
                  "Each value refers to the GHG Protocol sheet. Element names: EFRAG taxonomy, with the verification "
                  "status of each name (data/disclosures/); check 'unverified' names before filing iXBRL.")
    g = f"'{GHG_SHEET}'!"
    revenue = b.eng.net_revenue
    esrs_meta = D.esrs_e1_6_elements()
    template = esrs_meta["scope3_category"]["element"]
    ref = {esrs_meta[k]["element"]: g + ghg[k] for k in
           ("scope1", "scope2_location", "scope2_market", "scope3")}
    ref[esrs_meta["total"]["element"]] = g + ghg["total_location"]
    ref[esrs_meta["total_location"]["element"]] = g + ghg["total_location"]
    ref[esrs_meta["total_market"]["element"]] = g + ghg["total_market"]
    for c in D.scope3_categories():
        ref[template.format(n=c["scope3_category"], name=c["name"])] = g + ghg[f"cat{c['scope3_category']}"]
    cols = [Col("Datapoint (taxonomy element)", "wrap", 52), Col("Value", "sig", 14), Col("Unit", "text", 28),
            Col("Reference", "wrap", 26), Col("Name verification", "text", 13)]
    rows = []
    r = HEADER_ROW + 1
    revenue_row = None
    table = D.esrs_e1_6_table(lines, revenue)
    # net revenue just before the intensities, whose formulas divide by it
    net_el = esrs_meta["net_revenue"]["element"]
    intensity_els = {esrs_meta[k]["element"] for k in ("intensity_location", "intensity_market")}
    order = ([x for x in table if x["element"] not in intensity_els | {net_el}]
             + [x for x in table if x["element"] == net_el] + [x for x in table if x["element"] in intensity_els])
    for x in order:
        element = x["element"]
        if element == esrs_meta["net_revenue"]["element"]:
            value = float(x["value"])
            revenue_row = r
        elif element == esrs_meta["intensity_location"]["element"]:
            value = Formula(f"={g}{ghg['total_location']}/B{revenue_row}", x["value"])
        elif element == esrs_meta["intensity_market"]["element"]:
            value = Formula(f"={g}{ghg['total_market']}/B{revenue_row}", x["value"])
        else:
            value = Formula(f"={ref[element]}", x["value"])
        rows.append([element, value, x["unit"], x["esrs_reference"], x["verification"]])
        r += 1
    last = b.table(ws, HEADER_ROW, cols, rows, "tblEsrsE16")
    top = last + 3
    b.section(ws, top - 1, "VSME B3 (basic module)")
    vsme_meta = D.vsme_b3_datapoints()
    vsme = D.vsme_b3(lines, turnover=revenue)
    kwh, sc = _act(lay, "kwh"), _act(lay, "scope")
    formulas = {
        "total_energy": f"=(SUMIFS({kwh},{sc},1)+SUMIFS({kwh},{sc},2))/1000",
        "scope1": f"={g}{ghg['scope1']}", "scope2_location": f"={g}{ghg['scope2_location']}",
        "scope2_market": f"={g}{ghg['scope2_market']}", "scope3": f"={g}{ghg['scope3']}",
        "intensity_turnover": f"={g}{ghg['total_location']}/B{revenue_row}" if revenue_row else None,
    }
    rows = []
    for key, meta in vsme_meta.items():
        if meta["element"] not in vsme or formulas.get(key) is None:
            continue
        rows.append([meta["element"], Formula(formulas[key], vsme[meta["element"]]), meta["unit"],
                     meta["vsme_reference"], meta["verification"]])
    b.table(ws, top, cols, rows, "tblVsmeB3")
    if revenue is None:
        b.none_note(ws, top + len(rows) + 2, "No net_revenue in engagement.yaml: no GHG intensity per net revenue.")
    b.finish_sheet(ws)


def _iso_sheet(b: Book, lay: Layout, lines: list[dict], ghg: dict[str, str]) -> None:
    ws = b.add_sheet(ISO_SHEET)
    b.title_block(ws, "ISO 14064-1:2018 categories (tCO2e)",
                  "Category 1 = Scope 1, category 2 = Scope 2 (location-based; market-based beside it), categories 3-6 "
                  "= the GHG Protocol Scope 3 categories listed (data/disclosures/scope3_categories.csv).")
    g = f"'{GHG_SHEET}'!"
    cols = [Col("ISO 14064-1 category", "plain", 10), Col("Name", "wrap", 44), Col("tCO2e", "sig", 12),
            Col("tCO2e (market-based Scope 2)", "sig", 14), Col("Lines", "int", 7),
            Col("GHG Protocol Scope 3 categories", "text", 20)]
    rows = []
    for c in D.iso14064_1(lines):
        n = c["iso14064_category"]
        if n == 1:
            loc = mkt = f"={g}{ghg['scope1']}"
        elif n == 2:
            loc, mkt = f"={g}{ghg['scope2_location']}", f"={g}{ghg['scope2_market']}"
        else:
            parts = [g + ghg[f"cat{k}"] for k in c["ghg_protocol_scope3_categories"]]
            loc = mkt = "=" + ("+".join(parts) if parts else "0")
        rows.append([n, c["name"], Formula(loc, c["tco2e"]), Formula(mkt, c["tco2e_market"]), c["lines"],
                     ", ".join(str(k) for k in c["ghg_protocol_scope3_categories"]) or None])
    last = b.table(ws, HEADER_ROW, cols, rows, "tblIso14064")
    total = sum(c["tco2e"] for c in D.iso14064_1(lines))
    total_m = sum(c["tco2e_market"] for c in D.iso14064_1(lines))
    b.put(ws, last + 1, 2, "Total", total=True)
    b.put(ws, last + 1, 3, Formula(f"=SUM(C{HEADER_ROW + 1}:C{last})", total), "sig", total=True)
    b.put(ws, last + 1, 4, Formula(f"=SUM(D{HEADER_ROW + 1}:D{last})", total_m), "sig", total=True)
    b.total_rule(ws, last + 1, 1, len(cols))
    b.finish_sheet(ws)


def disclosure_sheets(b: Book, lay: Layout) -> None:
    """The three disclosure sheets, from the same lines as results.json's ``disclosures``."""
    lines = activities_json(b.lines)
    ghg = _ghg_sheet(b, lay, lines)
    _esrs_sheet(b, lay, lines, ghg)
    _iso_sheet(b, lay, lines, ghg)


if disclosure_sheets not in EXTRA_SHEETS:
    EXTRA_SHEETS.append(disclosure_sheets)
