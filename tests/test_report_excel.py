"""The Excel deliverable: sheets, factor traceability, formula injection, determinism, and
(slow) a LibreOffice recalculation whose values must equal the Python results."""
from __future__ import annotations

import dataclasses
import math
import re
import shutil
import stat
import subprocess
import zipfile

import openpyxl
import pandas as pd
import pytest

from audit.core.models import FactorOverride, Scope3Exclusion
from audit.core.paths import SAMPLE_ENGAGEMENT_DIR
from audit.orchestration.pipeline import audit_engagement
from audit.deliverables.excel import DISCLOSURE_SHEETS, HEADER_ROW, SHEETS, build_workbook, write_excel

EXPECTED_SHEETS = ["Summary", "Process map", "Activities", "Scopes", "Hotspots", "Forecast", "Feasibility",
                   "Sensitivity", "Customisation", "Scorecard", "Precision per watt", "Routes", "Factors", "Prices", "Assumptions",
                   "Data quality", "Method"]
HOSTILE = ['=HYPERLINK("http://x","y")', "+1+1", "@SUM(A1)", "-2+3", "\t=1", "\r=1+1", "=1+1", "=cmd|'/c calc'!A1"]


def stored(s: str) -> str:
    """What _text stores: a carriage return becomes a line feed (XML would do it anyway)."""
    return s.replace("\r\n", "\n").replace("\r", "\n")


# --- fixtures (module-scoped: the estimate runs once) ----------------------------------------

@pytest.fixture(scope="module")
def results():
    """Sample engagement, with a codecarbon footprint and (if the feasibility step gave none)
    interventions and a forecast, so every sheet carries formulas."""
    r = audit_engagement(SAMPLE_ENGAGEMENT_DIR)
    r.manifest.setdefault("generated_at", "2025-06-30T12:00:00+00:00")
    r.footprint = r.footprint or {"energy_kwh": 0.0012, "kgco2e": 0.00021, "duration_s": 3.4, "country": "GBR",
                                  "codecarbon_version": "3.3.2"}
    if not r.interventions:
        r.interventions = [
            {"id": "INT-2", "name": "Rail instead of flights", "applies_to": ["PRO-01"],
             "abated_kgco2e_per_year": 5000.0,
             "abated_low": 4000.0, "abated_high": 6000.0, "cost_per_tonne": 120.0, "payback_years": None,
             "effort_person_days": 10, "verdict": "consider", "reason": "Long trip"},
            {"id": "INT-1", "name": "Small model for drafts", "applies_to": ["IDE-01"], "abated_kgco2e_per_year": 12.5,
             "abated_low": 8.0, "abated_high": 15.0, "cost_per_tonne": -40.0, "payback_years": 0.2,
             "effort_person_days": 3, "verdict": "recommended", "reason": "Saves money"}]
    if not r.forecast:
        r.forecast = [{"year": 2025 + i, "bau_kgco2e": 13000.0 * 1.1 ** i, "plan_kgco2e": 13000.0 * 0.9 ** i}
                      for i in range(4)]
    return r


def make_hostile(r):
    """Every client-text field replaced by strings a spreadsheet would run as formulas."""
    lines = r.lines.copy()
    stage_map = {s: f"{HOSTILE[i % len(HOSTILE)]} stage {i}" for i, s in enumerate(dict.fromkeys(lines["stage"]))}
    lines["stage"] = lines["stage"].map(stage_map)
    lines["description"] = [HOSTILE[i % len(HOSTILE)] for i in range(len(lines))]
    lines["activity_id"] = "-" + lines["activity_id"]
    lines["derived_from"] = lines["derived_from"].map(lambda d: "-" + d if d else "")
    lines["market_basis"] = lines["market_basis"].map(lambda m: "@" + m if m else "")
    factors = r.factors.copy()
    factors["notes"] = [HOSTILE[i % len(HOSTILE)] for i in range(len(factors))]
    eng = r.engagement.model_copy(update={
        "client": HOSTILE[0], "period": HOSTILE[1], "description": HOSTILE[2], "consultant": HOSTILE[3],
        "assumptions": list(HOSTILE), "stages": [stage_map.get(s, s) for s in r.engagement.stages],
        "scope3_exclusions": [Scope3Exclusion(category=2, reason=HOSTILE[2])],
        "factor_overrides": [FactorOverride(factor_id="x", value=1.0, reason=HOSTILE[6])],
        "market_instruments": [m.model_copy(update={"description": HOSTILE[4]})
                               for m in r.engagement.market_instruments],
    })
    interventions = [dict(d, name=HOSTILE[i % len(HOSTILE)], reason=HOSTILE[(i + 1) % len(HOSTILE)])
                     for i, d in enumerate(r.interventions)]
    return dataclasses.replace(r, engagement=eng, lines=lines, factors=factors, interventions=interventions,
                               warnings=list(HOSTILE))


@pytest.fixture(scope="module")
def built(results):
    return build_workbook(results)


@pytest.fixture(scope="module")
def hostile(results):
    return make_hostile(results)


@pytest.fixture(scope="module")
def files(results, hostile, tmp_path_factory):
    d = tmp_path_factory.mktemp("xlsx")
    main, bad = d / "report.xlsx", d / "hostile.xlsx"
    write_excel(results, main)
    write_excel(hostile, bad)
    return {"main": main, "hostile": bad}


@pytest.fixture(scope="module")
def recalculated(files, tmp_path_factory):
    """Both workbooks recalculated by LibreOffice in one run, loaded with cached values."""
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if not soffice:
        pytest.skip("LibreOffice not installed: run make test-full")
    out = tmp_path_factory.mktemp("recalc")
    profile = tmp_path_factory.mktemp("lo_profile")
    cmd = [soffice, f"-env:UserInstallation={profile.as_uri()}", "--headless", "--norestore",
           "--convert-to", "xlsx", "--outdir", str(out), str(files["main"]), str(files["hostile"])]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    conv = {k: out / p.name for k, p in files.items()}
    missing = [str(p) for p in conv.values() if not p.exists()]
    assert not missing, f"LibreOffice did not convert {missing}: {proc.stdout} {proc.stderr}"
    return {k: openpyxl.load_workbook(p, data_only=True) for k, p in conv.items()}


# --- helpers ---------------------------------------------------------------------------------

def formula_cells(wb):
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                if c.data_type == "f":
                    yield ws.title, c


def assert_formulas_recalculate(original, recalculated, expected) -> int:
    """Every formula cell of ``original`` has a Python value, and the recalculated workbook
    holds that value (relative tolerance 1e-9). Returns how many were checked."""
    n = 0
    for title, c in formula_cells(original):
        key = (title, c.coordinate)
        assert key in expected, f"{title}!{c.coordinate} {c.value} has no Python counterpart"
        got = recalculated[title][c.coordinate].value
        assert isinstance(got, (int, float)) and not isinstance(got, bool), \
            f"{title}!{c.coordinate} {c.value} -> {got!r}"
        assert math.isclose(got, expected[key], rel_tol=1e-9, abs_tol=1e-9), \
            f"{title}!{c.coordinate} {c.value}: LibreOffice {got!r} != Python {expected[key]!r}"
        n += 1
    return n


def header_map(ws, first_header: str, col: int = 1) -> tuple[int, dict[str, int]]:
    for row in ws.iter_rows(min_col=col, max_col=col):
        if row[0].value == first_header:
            r = row[0].row
            heads = {}
            for c in ws[r][col - 1:]:
                if c.value is None:
                    break
                heads[c.value] = c.column
            return r, heads
    raise AssertionError(f"{ws.title}: no header {first_header!r}")


def activities_rows(ws):
    """(header row, columns, {activity_id: row})."""
    hr, cols = header_map(ws, "Activity ID")
    rows = {}
    r = hr + 1
    while ws.cell(r, 1).value not in (None, "Total"):
        rows[ws.cell(r, 1).value] = r
        r += 1
    return hr, cols, rows, r


def kpis(ws) -> dict[str, int]:
    hr, _ = header_map(ws, "Indicator")
    out, r = {}, hr + 1
    while ws.cell(r, 1).value:
        out[ws.cell(r, 1).value] = r
        r += 1
    return out


# --- fast tests ------------------------------------------------------------------------------

def test_sheets_present_in_order(built):
    wb, _ = built
    assert wb.sheetnames == EXPECTED_SHEETS + list(DISCLOSURE_SHEETS)
    assert EXPECTED_SHEETS == list(SHEETS)


def test_every_cited_factor_is_in_the_factors_sheet(built, results):
    wb, _ = built
    _, fcols = header_map(wb["Factors"], "Factor ID")
    hr, cols, rows, _ = activities_rows(wb["Activities"])
    register = {wb["Factors"].cell(r, 1).value for r in range(hr + 1, wb["Factors"].max_row + 1)} - {None}
    cited = set()
    for r in rows.values():
        cited |= set(wb["Activities"].cell(r, cols["Factor IDs"]).value.split("; "))
    assert cited == {f for ids in results.lines["factor_ids"] for f in ids}
    assert cited <= register, f"cited but not in Factors: {sorted(cited - register)[:5]}"
    assert len(fcols) == len(results.factors.columns)  # every register column


def test_activity_formulas_use_factor_lookups_and_energy(built, results):
    wb, expected = built
    ws = wb["Activities"]
    _, cols, rows, total_row = activities_rows(ws)
    kg = cols["kgCO2e"]
    lines = results.lines.set_index("activity_id")
    n_factor = n_energy = 0
    for aid, r in rows.items():
        line = lines.loc[aid]
        f = ws.cell(r, kg).value
        if line["method"] == "conversion_factor" or line["method"].startswith("upstream_"):
            assert "INDEX(Factors!" in f and "MATCH(" in f, (aid, f)
            assert ws.cell(r, cols["Factor IDs"]).value == line["factor_ids"][0]
            q = ws.cell(r, cols["Quantity used"]).value
            if line["formula"].startswith("kgCO2e = kWh"):  # upstream electricity: the parent's kWh
                assert q == lines.loc[line["derived_from"], "kwh"]
            else:
                assert q == line["quantity_base"]
            n_factor += 1
        elif "kgCO2e = kWh × gCO2e_per_kWh / 1000" in line["formula"]:
            assert f.endswith("/1000") and "*" in f, (aid, f)
            assert isinstance(ws.cell(r, cols["kWh"]).value, float)  # kWh stays a value
            n_energy += 1
        elif line["method"] == "embodied_amortised":
            # Issue 15: one factor, embodied:gpu-hour (the components when a consultant overrides one).
            assert '"embodied:gpu-hour"' in f or ('"embodied:gpu"' in f and "*8760" in f), (aid, f)
            n_factor += 1
        assert expected[("Activities", ws.cell(r, kg).coordinate)] == line["kgco2e"]
    assert n_factor and n_energy and n_factor + n_energy == len(rows)
    assert ws.cell(total_row, kg).value.startswith("=SUM(")


def test_every_formula_has_its_python_value(built):
    wb, expected = built
    cells = {(t, c.coordinate) for t, c in formula_cells(wb)}
    assert cells == set(expected)
    assert len(cells) > 300


def test_workbook_quality(built):
    wb, _ = built
    names = [t.displayName for ws in wb.worksheets for t in ws.tables.values()]
    assert len(names) == len(set(names)) >= 11
    assert {"Audit Header", "Audit kg", "Audit kg value", "Audit Title"} <= set(wb.named_styles)
    for ws in wb.worksheets:
        assert ws["A1"].value and ws["A2"].value == "Northlight Creative Ltd", ws.title
        assert "2025" in ws["A3"].value
        assert ws.freeze_panes, ws.title
        assert ws.page_setup.orientation == "landscape" and ws.page_setup.fitToWidth == 1
        assert ws.sheet_properties.pageSetUpPr.fitToPage
    for title in ("Activities", "Factors", "Process map", "Hotspots"):
        assert wb[title].print_title_rows
    assert len(wb["Summary"]._charts) == 2 and len(wb["Hotspots"]._charts) == 1
    assert "kgCO2e" in [c.value for c in wb["Activities"][activities_rows(wb["Activities"])[0]]]


def test_feasibility_sorted_by_cost_per_tonne(built, results):
    wb, _ = built
    ws = wb["Feasibility"]
    hr, cols = header_map(ws, "Rank")
    cost_col = next(c for h, c in cols.items() if h.startswith("Cost "))
    costs = [ws.cell(r, cost_col).value for r in range(hr + 1, hr + 1 + len(results.interventions))]
    known = [c for c in costs if c is not None]
    assert known == sorted(known) and costs[:len(known)] == known


def test_hostile_client_text_is_stored_as_text(hostile):
    wb, expected = build_workbook(hostile)
    seen: dict[str, int] = {}
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                if isinstance(c.value, str) and any(stored(h) in c.value for h in HOSTILE):
                    assert c.data_type == "s", f"{ws.title}!{c.coordinate} {c.value!r} is not text"
                    seen[c.value] = seen.get(c.value, 0) + 1
    for h in HOSTILE:
        assert seen.get(stored(h)), f"{h!r} never written verbatim"
    for title, c in formula_cells(wb):  # formulas are ours only
        assert (title, c.coordinate) in expected
        assert "HYPERLINK" not in c.value and "cmd|" not in c.value and c.value not in map(stored, HOSTILE)


def test_hostile_text_survives_a_save_as_strings(files):
    with zipfile.ZipFile(files["hostile"]) as z:
        xml = "".join(z.read(n).decode("utf-8") for n in z.namelist() if n.startswith("xl/worksheets/sheet"))
    assert not [f for f in re.findall(r"<f>(.*?)</f>", xml) if "HYPERLINK" in f or "cmd|" in f]
    wb = openpyxl.load_workbook(files["hostile"])
    found = {c.value for ws in wb.worksheets for row in ws.iter_rows() for c in row
             if c.data_type == "s" and c.value in {stored(h) for h in HOSTILE}}
    assert found == {stored(h) for h in HOSTILE}
    assert wb["Summary"]["A2"].value == HOSTILE[0] and wb["Summary"]["A2"].data_type == "s"


def test_deterministic(results, built):
    wb1, _ = built
    wb2, _ = build_workbook(results)
    for ws in wb1.worksheets:
        a = [[c.value for c in row] for row in ws.iter_rows()]
        b = [[c.value for c in row] for row in wb2[ws.title].iter_rows()]
        assert a == b, ws.title


def test_write_is_atomic_and_replaces(results, tmp_path):
    target = tmp_path / "out" / "audit.xlsx"
    target.parent.mkdir()
    target.write_bytes(b"old")
    target.chmod(0o640)
    write_excel(results, target)
    assert zipfile.is_zipfile(target)
    assert sorted(p.name for p in target.parent.iterdir()) == ["audit.xlsx"]  # no temp file left
    assert stat.S_IMODE(target.stat().st_mode) == 0o640  # the replaced file's mode is kept


def test_empty_feasibility_and_forecast(results):
    r = dataclasses.replace(results, interventions=[], forecast=[], footprint=None)
    wb, _ = build_workbook(r)
    assert "No interventions" in wb["Feasibility"]["A6"].value
    assert "No forecast" in wb["Forecast"]["A6"].value
    labels = kpis(wb["Summary"])
    assert wb["Summary"].cell(labels["This audit run: footprint"], 2).value == "not measured"


# --- LibreOffice recalculation (slow) ---------------------------------------------------------

@pytest.mark.slow
def test_libreoffice_recalculation_matches_python(files, recalculated, results):
    original = openpyxl.load_workbook(files["main"])
    _, expected = build_workbook(results)
    rc = recalculated["main"]
    assert assert_formulas_recalculate(original, rc, expected) > 300

    # and straight against the estimator's numbers
    tot = results.totals
    ws = rc["Activities"]
    _, cols, rows, total_row = activities_rows(original["Activities"])
    for rec in results.lines.itertuples(index=False):
        got = ws.cell(rows[rec.activity_id], cols["kgCO2e"]).value
        assert math.isclose(got, rec.kgco2e, rel_tol=1e-9, abs_tol=1e-12), rec.activity_id
    for head, key in (("kWh", "kwh"), ("kgCO2e", "kgco2e"), ("kgCO2e low", "kgco2e_low"),
                      ("kgCO2e high", "kgco2e_high")):
        assert math.isclose(ws.cell(total_row, cols[head]).value, tot[key], rel_tol=1e-9)
    s, k = rc["Summary"], kpis(original["Summary"])
    for label, key in (("Total emissions", "kgco2e"), ("Scope 1", "scope1_kgco2e"),
                       ("Scope 2, location-based", "scope2_location_kgco2e"),
                       ("Scope 2, market-based", "scope2_market_kgco2e"), ("Scope 3", "scope3_kgco2e")):
        assert math.isclose(s.cell(k[label], 2).value, tot[key] / 1000, rel_tol=1e-9), label
    assert math.isclose(s.cell(k["Total emissions"], 4).value, tot["kgco2e_low"] / 1000, rel_tol=1e-9)
    assert math.isclose(s.cell(k["Total emissions"], 5).value, tot["kgco2e_high"] / 1000, rel_tol=1e-9)
    assert math.isclose(s.cell(k["Energy"], 2).value, tot["kwh"], rel_tol=1e-9)


@pytest.mark.slow
def test_libreoffice_does_not_evaluate_hostile_text(files, recalculated, hostile):
    original = openpyxl.load_workbook(files["hostile"])
    rc = recalculated["hostile"]
    checked = 0
    for ws in original.worksheets:
        for row in ws.iter_rows():
            for c in row:
                if c.data_type == "s" and c.value in {stored(h) for h in HOSTILE}:
                    assert rc[ws.title][c.coordinate].value == c.value, f"{ws.title}!{c.coordinate}"
                    checked += 1
    assert checked > 50
    # the formulas still find hostile stage names and activity ids exactly
    _, expected = build_workbook(hostile)
    assert assert_formulas_recalculate(original, rc, expected) > 300


# --- feasibility sheets ----------------------------------------------------------------------

def _table_rows(ws, first_header: str) -> tuple[int, dict[str, int], list[int]]:
    hr, cols = header_map(ws, first_header)
    rows, r = [], hr + 1
    while ws.cell(r, 1).value is not None:
        rows.append(r)
        r += 1
    return hr, cols, rows


def test_customisation_sheet_formulas(built, results):
    wb, expected = built
    ws = wb["Customisation"]
    _, cols, rows = _table_rows(ws, "Workload")
    data = results.extras["customisation"]
    assert len(rows) == len(data)
    for r, d in zip(rows, data):
        annual = ws.cell(r, cols["Annual kgCO2e"])
        assert annual.value.startswith("=") and expected[("Customisation", annual.coordinate)] == pytest.approx(
            d["annual_kgco2e"], rel=1e-12)
        be = ws.cell(r, cols["Break-even requests"]).value
        if d["baseline"]:
            assert be == "baseline"
        elif d["break_even_requests"] is None:
            assert be == "never"
        elif isinstance(be, str) and be.startswith("="):
            assert expected[("Customisation", ws.cell(r, cols["Break-even requests"]).coordinate)] == pytest.approx(
                d["break_even_requests"], rel=1e-12)


def test_scorecard_sheet_weighted_score_formula(built, results):
    wb, expected = built
    ws = wb["Scorecard"]
    _, cols, rows = _table_rows(ws, "Model")
    from audit.analyses import scorecard
    labels = scorecard.factor_labels()
    wr, wcols = header_map(ws, "Weights", col=3)
    weights = {f: ws.cell(wr + 1, wcols[labels[f]]).value for f in scorecard.factors()}
    for r, d in zip(rows, results.extras["scorecard"]["rows"]):
        cell = ws.cell(r, cols["Weighted score"])
        assert cell.value.startswith("=SUMPRODUCT(")
        by_hand = sum(weights[f] * ws.cell(r, cols[labels[f]]).value for f in weights) / sum(weights.values())
        assert expected[("Scorecard", cell.coordinate)] == pytest.approx(by_hand, rel=1e-12)
        assert by_hand == pytest.approx(d["weighted_score"], rel=1e-12)


def test_precision_and_sensitivity_and_savings_sheets(built, results):
    wb, expected = built
    ws = wb["Precision per watt"]
    _, cols, rows = _table_rows(ws, "Stage")
    assert [ws.cell(r, 1).value for r in rows] == [d["stage"] for d in results.extras["precision_per_watt"]]
    ws = wb["Sensitivity"]
    _, cols, rows = _table_rows(ws, "ID")
    assert len(rows) == len(results.extras["sensitivity"])
    ws = wb["Feasibility"]
    hits = [c for row in ws.iter_rows() for c in row if c.value == "Activity"]
    assert hits, "no money-saved table"
    n = sum(len(i.get("money_breakdown") or []) for i in results.interventions)
    assert n > 0
    r0, c0 = hits[0].row, hits[0].column
    for k in range(1, n + 1):
        f = ws.cell(r0 + k, c0 + 3)
        assert f.value == f"=C{r0 + k}-D{r0 + k}"
        assert expected[("Feasibility", f.coordinate)] == pytest.approx(
            ws.cell(r0 + k, c0 + 1).value - ws.cell(r0 + k, c0 + 2).value, rel=1e-9, abs=1e-9)
    # every option's money saved is the sum of its activities' (plus electricity on unpriced rows)
    for i in results.interventions:
        by_activity = sum(m["money_saved"] for m in i.get("money_breakdown") or [])
        assert i["money_saved_per_year"] == pytest.approx(by_activity + i["energy_cost_savings_per_year"]
                                                          + sum(s["saving"] for s in i["savings_breakdown"]), abs=1e-6)


def test_workbook_palette_is_the_charts_palette():
    from audit.deliverables import charts, excel as report_excel
    from audit.deliverables.excel import book
    assert list(report_excel.OKABE_ITO) == [c.lstrip("#") for c in charts.PALETTE]
    assert book.SCOPE_COLOURS == {k: v.lstrip("#") for k, v in charts.SCOPE_COLOURS.items()}


def test_macc_is_a_step_chart_with_the_carbon_price_line(built, results):
    """Variable-width bars as scatter step series (one per priced option), plus the carbon price."""
    wb = built[0] if isinstance(built, tuple) else built
    ws = wb["Feasibility"]
    scatter = [c for c in ws._charts if c.tagname == "scatterChart"]
    assert len(scatter) == 1
    priced = [i for i in results.interventions
              if (i.get("abated_kgco2e_per_year") or 0) > 0 and i.get("cost_per_tonne") is not None]
    series = scatter[0].series
    assert len(series) == len(priced) + 1
    assert "Carbon price" in str(series[-1].tx.strRef.f if series[-1].tx.strRef else series[-1].tx.v)


def test_wide_sheets_print_fitted_and_landscape(built):
    wb = built[0] if isinstance(built, tuple) else built
    for ws in wb.worksheets:
        assert ws.page_setup.orientation == "landscape", ws.title
        assert ws.page_setup.fitToWidth == 1 and ws.sheet_properties.pageSetUpPr.fitToPage, ws.title
        assert ws.print_area, ws.title
        if ws.max_column > 16:
            assert int(ws.page_setup.paperSize) == int(ws.PAPERSIZE_A3), ws.title


def test_every_formula_cell_carries_the_python_result_as_its_cached_value(files, built):
    """Readers that do not recalculate (pandas, openpyxl data_only, previewers) see numbers,
    and they are the numbers LibreOffice's recalculation gives (test above)."""
    import openpyxl

    _, expected = built
    formulas = openpyxl.load_workbook(files["main"])
    cached = openpyxl.load_workbook(files["main"], data_only=True)
    n = 0
    for title, c in formula_cells(formulas):
        got = cached[title][c.coordinate].value
        assert isinstance(got, (int, float)), f"{title}!{c.coordinate} {c.value}: cached {got!r}"
        assert got == pytest.approx(expected[(title, c.coordinate)], rel=1e-12, abs=1e-12)
        n += 1
    assert n > 300
    acts = pd.read_excel(files["main"], "Activities", header=HEADER_ROW - 1)
    assert acts["kgCO2e"].notna().all()


def test_style_name_reads_what_openpyxl_reads(results):
    """``Book.style_name`` (the kept list of style names) equals openpyxl's ``cell.style`` for
    every cell of the workbook, for a cell never styled and after a built-in style that
    openpyxl adds on first use."""
    from audit.deliverables.excel.book import Book, Col

    b = Book(results)
    ws = b.ws["Scopes"]
    b.title_block(ws, "Scopes", "a note")
    b.table(ws, HEADER_ROW, [Col("Name"), Col("kg", "kg"), Col("Share", "pct"), Col("Note", "wrap")],
            [["a", 1.5, 0.25, "x"], ["b", 2.5, 0.75, "y"]], "tblStyleNames")
    b.put(ws, HEADER_ROW + 3, 2, 4.0, "kg", total=True)
    ws.cell(row=60, column=2).style = "Hyperlink"  # not registered: openpyxl adds it now
    ws.cell(row=61, column=2)  # exists, never styled
    cells = [c for _, c in b.cells(ws)]
    assert {c.coordinate for c in cells} >= {"B60", "B61"}
    assert len({b.style_name(c) for c in cells}) >= 4
    assert [b.style_name(c) for c in cells] == [c.style for c in cells]


def test_finishing_a_sheet_creates_no_cells(results):
    """Row heights and the per-cell number formats read the cells that exist: finishing a
    sheet adds no empty cell to its used range (openpyxl would carry each one through the
    save), and a wrapped text still gets its taller row."""
    from audit.deliverables.excel.book import Book

    b = Book(results)
    ws = b.ws["Assumptions"]
    b.put(ws, HEADER_ROW + 1, 1, "short")
    b.put(ws, HEADER_ROW + 3, 6, "a long wrapped note " * 12, "wrap")
    b.put(ws, HEADER_ROW + 5, 2, 0.000123456, "sig")
    before = {coordinate for coordinate, _ in b.cells(ws)}
    b.finish_sheet(ws)
    b.apply_sig_formats()
    assert {coordinate for coordinate, _ in b.cells(ws)} == before
    assert ws.row_dimensions[HEADER_ROW + 3].height > 15
    assert ws.row_dimensions[HEADER_ROW + 1].height is None
    assert ws.cell(row=HEADER_ROW + 5, column=2).number_format != "General"  # the style's own format
