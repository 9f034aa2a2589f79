"""The HTML report: self-contained, escaped, navigable; and its PDF via headless Chromium."""
from __future__ import annotations

import copy
import html
import re
import shutil
import subprocess
import warnings
from pathlib import Path

import pytest

from audit.analyses import customisation
from audit.deliverables import figures
from audit.deliverables import html as report_html
from audit.core.exceptions import ExecutionError
from audit.core.paths import SAMPLE_ENGAGEMENT_DIR
from tests.helpers import parse_html

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
HOSTILE_DESCRIPTION = '<script>alert(1)</script> "><img src=x onerror=alert(1)>'
HOSTILE_CLIENT = "Evil {{ 7*7 }} Ltd <b>bold</b>"


def _sample_results():
    try:
        from audit.orchestration.pipeline import audit_engagement
        return audit_engagement(SAMPLE_ENGAGEMENT_DIR)
    except ImportError:  # feasibility step not available yet
        from audit.inventory.estimate import estimate
        from audit.inventory.intake import load_engagement
        from audit.inventory.results import from_estimate
        loaded = load_engagement(SAMPLE_ENGAGEMENT_DIR)
        return from_estimate(estimate(loaded), loaded.warnings)


@pytest.fixture(scope="module")
def results():
    r = _sample_results()
    if not r.interventions:
        r.interventions = [
            {"id": "INT-01", "name": "Renders in a low-carbon region", "abated_kgco2e_per_year": 900.0,
             "cost_per_tonne": -40.0, "verdict": "recommended"},
            {"id": "INT-02", "name": "Rail instead of flights", "abated_kgco2e_per_year": 3000.0,
             "cost_per_tonne": 60.0, "verdict": "recommended"},
        ]
    if not r.forecast:
        r.forecast = [{"year": 2025 + i, "bau_kgco2e": 13000.0 * 1.1 ** i, "plan_kgco2e": 13000.0 * (1 - .1 * i)}
                      for i in range(4)]
    if r.footprint is None:
        r.footprint = {"energy_kwh": 0.001, "kgco2e": 0.0002, "duration_s": 3.0, "country": "GBR",
                       "codecarbon_version": "3.3.2"}
    return r


@pytest.fixture(scope="module")
def svgs(results) -> dict[str, str]:
    """The ten charts of the sample, drawn once for the module (as `audit run` draws them once
    and hands them to ``write_html``). Tests that change what a chart shows draw it again:
    ``write_html`` draws every chart missing from ``svgs``."""
    return figures.render_svgs(results)


# Charts drawn from the emission lines and the engagement only (scope, stage, hotspots, kinds,
# process map): unchanged by a test that empties interventions, forecast, extras or footprint.
LINE_CHARTS = ("scope", "stage", "pareto", "kinds", "processmap")


def line_charts(svgs: dict[str, str]) -> dict[str, str]:
    return {name: svgs[name] for name in LINE_CHARTS}


@pytest.fixture(scope="module")
def html_file(results, svgs, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("report") / "report.html"
    report_html.write_html(results, path, svgs=svgs)
    return path


# --- (1) self-contained ---------------------------------------------------------------------

def test_sample_report_is_self_contained(html_file):
    text = html_file.read_text(encoding="utf-8")
    p = parse_html(text)
    external = [(t, k, v) for t, k, v in p.refs if re.match(r"\s*(https?:)?//", v, re.I)]
    assert external == []
    assert all(v.startswith(("#", "data:")) for _, _, v in p.refs), p.refs
    assert not re.search(r"<link[^>]+stylesheet", text, re.I)
    assert "@import" not in text
    assert not re.search(r"url\(\s*['\"]?\s*(https?:)?//", text, re.I)
    assert "<script" not in text.lower()
    assert "<svg" in text and "<?xml" not in text


def test_report_structure_and_factor_links(html_file, results):
    text = html_file.read_text(encoding="utf-8")
    p = parse_html(text)
    for anchor in ("summary", "boundaries", "method", "baseline", "hotspots", "intensity", "forecast",
                   "abatement", "data-quality", "uncertainty", "assumptions", "factors", "own-footprint",
                   "manifest", "all-lines", "scope3"):
        assert anchor in p.ids, anchor
        assert f'href="#{anchor}"' in text  # in the table of contents
    # every internal link lands somewhere; factor ids link into the register
    targets = {v[1:] for _, k, v in p.refs if v.startswith("#")}
    assert targets <= p.ids, targets - p.ids
    factor_links = {t for t in targets if t.startswith("factor-")}
    assert factor_links, "no links from the line list into the register"
    # every factor a line uses has its row (and anchor) in the register, where its id is printed
    used = {f for ids in results.lines["factor_ids"] for f in ids}
    registered = set(results.factors["factor_id"])
    anchors = {t for t in p.ids if t.startswith("factor-")}
    assert len({report_html.slug(f) for f in used & registered}) <= len(anchors)
    # print stylesheet, A4
    assert "@media print" in text and "size: A4" in text
    # Scope 2 market-based reported separately, location-based in the total
    assert "market-based" in text and "never summed together" in text
    assert "AR5" in text and "GWP100" in text


def test_one_unit_per_table_and_readable_numbers(html_file):
    """Emission tables are in tCO2e, named in the header or caption, never kgCO2e cells; no number
    in scientific notation, no range from a value to itself, no minus sign next to the range dash."""
    text = html_file.read_text(encoding="utf-8")
    tables = re.findall(r"<table.*?</table>", text, re.S)
    assert sum("tCO2e" in t for t in tables) >= 10
    assert text.count('<span class="unit">kgCO2e</span>') <= 2  # only per-unit intensities (per 1,000 images)
    visible = re.sub(r"<svg.*?</svg>", " ", text, flags=re.S)
    visible = re.sub(r"<style.*?</style>", " ", visible, flags=re.S)
    visible = html.unescape(re.sub(r"<[^>]+>", " ", visible))
    sci_notation = r"(?<![0-9A-Za-z])\d+(\.\d+)?[eE][+-]?\d+(?![0-9A-Za-z])"  # not inside a hash
    assert not re.search(sci_notation, visible), re.search(sci_notation, visible)
    assert not re.search(r"-–-|−–−", visible)
    for lo, hi in re.findall(r"(?<![<\d.,])([\d.,]+)–([\d.,]+)", visible):
        assert lo != hi, f"{lo}–{hi}"


def test_write_is_atomic_and_leaves_no_temp(results, svgs, tmp_path):
    path = tmp_path / "r.html"
    path.write_text("old", encoding="utf-8")
    report_html.write_html(results, path, svgs=svgs)
    assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]


def test_environment_is_strict_and_autoescaping():
    from jinja2 import StrictUndefined, UndefinedError
    env = report_html.make_environment()
    assert env.undefined is StrictUndefined
    assert env.from_string("{{ x }}").render(x="<b>") == "&lt;b&gt;"
    with pytest.raises(UndefinedError):
        env.from_string("{{ nope }}").render()


# --- (2) hostile strings ----------------------------------------------------------------------

def test_hostile_strings_are_escaped(results, tmp_path):
    r = copy.copy(results)
    r.engagement = results.engagement.model_copy(update={
        "client": HOSTILE_CLIENT, "description": HOSTILE_DESCRIPTION,
        "assumptions": [HOSTILE_DESCRIPTION], "consultant": "</style><script>alert(2)</script>"})
    lines = results.lines.copy()
    lines.loc[0, "description"] = HOSTILE_DESCRIPTION + " costs $5 and $x^2$"
    lines.loc[lines["stage"] == "Ideation", "stage"] = "Idea <script>alert(3)</script>"
    r.lines = lines
    r.interventions = [{"id": "<i>X</i>", "name": HOSTILE_DESCRIPTION, "abated_kgco2e_per_year": 10.0,
                        "cost_per_tonne": 1.0, "verdict": "<script>alert(4)</script>"}]
    r.warnings = [HOSTILE_DESCRIPTION]
    path = tmp_path / "hostile.html"
    report_html.write_html(r, path)
    text = path.read_text(encoding="utf-8")
    low = text.lower()
    assert "<script" not in low
    assert "<img src=x" not in low and "onerror=alert" not in re.sub(r"&[#\w]+;", "", low).replace(
        "img src=x onerror=alert", "")  # only as escaped text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "&lt;img src=x onerror=alert(1)&gt;" in text
    assert "{{ 7*7 }}" in text and "Evil 49 Ltd" not in text
    assert "&lt;b&gt;bold&lt;/b&gt;" in text
    assert "</style><script>" not in text
    p = parse_html(text)
    assert "img" not in p.tags and "script" not in p.tags


def test_chart_labels_that_look_like_markup_are_data_not_a_failed_report(results, tmp_path):
    """Labels reach the chart SVG as escaped text (and comments); judging the SVG by a regex
    over its text once aborted the whole run for a stage called 'Production onsite=yes'."""
    r = copy.copy(results)
    lines = results.lines.copy()
    lines.loc[lines["stage"] == "Production", "stage"] = "Production onsite=yes"
    first = lines.index[lines["derived_from"] == ""][0]
    old_id = lines.at[first, "activity_id"]
    lines.loc[lines["activity_id"] == old_id, "activity_id"] = "<img src=x onerror=alert(1)>"
    lines.loc[lines["derived_from"] == old_id, "derived_from"] = "<img src=x onerror=alert(1)>"
    r.lines = lines
    path = tmp_path / "labels.html"
    report_html.write_html(r, path)
    p = parse_html(path.read_text(encoding="utf-8"))
    assert "img" not in p.tags and "script" not in p.tags


@pytest.mark.parametrize("svg,problem", [
    ('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "script"),
    ('<svg xmlns="http://www.w3.org/2000/svg"><g onload="x()"/></svg>', "onload"),
    ('<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">'
     '<use xlink:href="http://e.example/x"/></svg>', "href"),
    ('<svg xmlns="http://www.w3.org/2000/svg"><rect style="fill:url(http://e.example/x)"/></svg>', "url"),
    ('<svg xmlns="http://www.w3.org/2000/svg"><foreignObject/></svg>', "foreignobject"),
])
def test_unsafe_svg_markup_is_caught(svg, problem):
    assert problem in report_html.unsafe_svg(svg)


def test_escaped_text_in_svg_is_not_markup():
    svg = ('<svg xmlns="http://www.w3.org/2000/svg"><!-- onsite=yes --><rect clip-path="url(#p1)"/>'
           '<text>&lt;script&gt; onerror=alert(1)</text></svg>')
    assert report_html.unsafe_svg(svg) is None


def test_notebook_html_is_sanitised(results, svgs, tmp_path):
    nb = ('<html><head><script src="https://cdn.example.com/require.js"></script>'
          '<link rel="stylesheet" href="https://fonts.example.com/x.css"><style>@import url(https://x.y/z.css);</style>'
          '</head><body><h1>Discovery</h1><p onclick="alert(1)">Read <a href="https://example.com">docs</a></p>'
          '<img src="data:image/png;base64,iVBORw0KGgo="><img src="https://tracker.example.com/p.gif">'
          '<table><tr><td>1</td></tr></table><iframe src="https://x"></iframe></body></html>')
    path = tmp_path / "nb.html"
    report_html.write_html(results, path, notebooks_html={"01_discovery": nb}, svgs=svgs)
    text = path.read_text(encoding="utf-8")
    assert "Discovery" in text and 'id="notebook-01-discovery"' in text
    assert 'src="data:image/png;base64,iVBORw0KGgo="' in text
    assert "example.com" not in text and "x.y/z.css" not in text
    assert "onclick" not in text and "<iframe" not in text and "<script" not in text


# --- (3) real browser: no console errors, no network -------------------------------------------

def _need_chromium():
    if CHROMIUM is None:
        msg = "Chromium not installed: run make test-full"
        warnings.warn(msg, stacklevel=2)
        pytest.skip(msg)
    return CHROMIUM


@pytest.mark.slow
def test_chromium_loads_without_errors_or_requests(html_file, tmp_path):
    exe = _need_chromium()
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (no browser download needed)")
    console, page_errors, requests, failed = [], [], [], []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 1600})
            page.on("console", lambda m: console.append((m.type, m.text)))
            page.on("pageerror", lambda e: page_errors.append(str(e)))
            page.on("request", lambda req: requests.append(req.url))
            page.on("requestfailed", lambda req: failed.append(req.url))
            page.goto(html_file.as_uri(), wait_until="networkidle")
            n_svg = page.locator("figure.chart svg").count()
            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot), full_page=False)
        finally:
            browser.close()
    assert [c for c in console if c[0] in ("error", "warning")] == []
    assert page_errors == []
    assert [u for u in requests if u != html_file.as_uri() and not u.startswith("data:")] == []
    assert failed == []
    assert n_svg >= 6
    assert shot.read_bytes().startswith(b"\x89PNG")


# --- (4) PDF ------------------------------------------------------------------------------------

def _pdf_pages(pdf: Path) -> int:
    if shutil.which("pdfinfo"):
        out = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
        return int(re.search(r"^Pages:\s+(\d+)", out, re.M).group(1))
    return len(re.findall(rb"/Type\s*/Page[^s]", pdf.read_bytes()))


@pytest.mark.slow
def test_pdf_is_printed(html_file, tmp_path):
    _need_chromium()
    pdf = tmp_path / "report.pdf"
    report_html.write_pdf(html_file, pdf)
    assert pdf.read_bytes()[:4] == b"%PDF"
    assert _pdf_pages(pdf) > 3
    assert [p.name for p in tmp_path.iterdir()] == ["report.pdf"]


def test_pdf_without_chromium_is_a_clear_error(html_file, tmp_path, monkeypatch):
    monkeypatch.setattr(report_html.shutil, "which", lambda name: None)
    with pytest.raises(ExecutionError, match="Chromium not found"):
        report_html.write_pdf(html_file, tmp_path / "x.pdf")


def test_pdf_of_missing_html_is_an_error(tmp_path):
    with pytest.raises(ExecutionError):
        report_html.write_pdf(tmp_path / "missing.html", tmp_path / "x.pdf")


def test_report_without_feasibility_or_footprint(results, svgs, tmp_path):
    r = copy.copy(results)
    r.interventions, r.forecast, r.footprint, r.manifest = [], [], None, {}
    path = tmp_path / "bare.html"
    report_html.write_html(r, path, svgs=line_charts(svgs))  # the feasibility charts are drawn empty here
    text = path.read_text(encoding="utf-8")
    assert "No forecast in this run" in text
    assert "No abatement options were assessed" in text
    assert "Not measured in this run" in text


# --- (5) feasibility deepening: gain vs effort, sensitivity, customisation, scorecard ------------

def test_section_8_has_the_feasibility_tools(html_file, results):
    text = html_file.read_text(encoding="utf-8")
    p = parse_html(text)
    for anchor in ("effort-impact", "sensitivity", "customisation", "scorecard", "precision-per-watt"):
        assert anchor in p.ids, anchor
    section8 = text[text.index('id="abatement"'):text.index('id="data-quality"')]
    assert section8.count("<svg") >= 4  # MACC, effort/impact, tornado, scorecard
    assert "Quick wins" in section8 and "Break-even" in section8 and "Pareto front" in section8
    # every option id of the effort/impact chart is in the report's ranking too
    for i in results.interventions:
        if (i.get("abated_kgco2e_per_year") or 0) > 0:
            assert html.escape(i["name"], quote=False) in section8  # by name; ids stay in Excel and JSON


def test_customisation_table_shows_the_largest_llm_workloads(html_file, results):
    text = html_file.read_text(encoding="utf-8")
    block = text[text.index('id="customisation"'):text.index('id="scorecard"')]
    groups = report_html.customisation_groups(results)
    assert 0 < len(groups) <= report_html.CUSTOMISATION_TOP
    hs = results.hotspots
    acts = results.activities
    fleet = set(acts.loc[customisation.self_hosted_fleet(acts), "activity_id"])  # estimated by GPU-hours, not per request
    per_request = hs[(hs["kind"] == "llm_api") & ~hs["activity_id"].isin(fleet)]
    assert [g["workload"] for g in groups] == per_request["activity_id"].tolist()[:len(groups)]
    for g in groups:
        assert f"<strong>{g['workload']}</strong>" in block
        assert g["rows"][0]["baseline"]
    assert "never pays back" in block  # RAG adds tokens to every request


def test_scorecard_and_precision_tables(html_file, results):
    text = html_file.read_text(encoding="utf-8")
    block = text[text.index('id="scorecard"'):text.index('id="data-quality"')]
    for r in results.extras["scorecard"]["rows"]:
        assert f"<strong>{r['id']}</strong>" in block
    assert block.count("on the front") >= sum(r["pareto"] for r in results.extras["scorecard"]["rows"])
    ppw = text[text.index('id="precision-per-watt"'):text.index('id="forecast"')]
    for r in results.extras["precision_per_watt"]:
        assert r["stage"] in ppw
    assert "gCO2e" in ppw


def test_savings_counted_are_itemised(html_file, results):
    text = html_file.read_text(encoding="utf-8")
    vp = next(i for i in results.interventions if i["id"] == "virtual_production")
    assert vp["money_breakdown"] and "Money saved, by activity" in text
    for m in vp["money_breakdown"]:
        assert m["activity_id"] in text
    assert "Price register" in text and "hotel_per_room_night" in text


def test_report_without_feasibility_extras(results, svgs, tmp_path):
    r = copy.copy(results)
    r.extras, r.activities = {}, None
    path = tmp_path / "no-extras.html"
    report_html.write_html(r, path, svgs=line_charts(svgs))  # the feasibility charts are drawn from what is left
    text = path.read_text(encoding="utf-8")
    assert "The engagement has no LLM workloads to compare" in text
    assert "No candidate models to compare" in text
    assert 'id="precision-per-watt"' in text  # recomputed from the lines


def test_own_footprint_and_manifest_read_as_prose(results, svgs, tmp_path):
    """The footprint says how it was measured (method, CPU, intensity basis) or why it was not;
    manifest keys are labelled, not raw."""
    r = copy.copy(results)
    r.footprint = {"method": "codecarbon OfflineEmissionsTracker", "tracking_mode": "process",
                   "cpu_model": "Example CPU 1234", "intensity_basis": "codecarbon's offline country table (GBR)",
                   "energy_kwh": 0.002, "cpu_energy_kwh": 0.0015, "ram_energy_kwh": 0.0005, "kgco2e": 0.0004,
                   "duration_s": 12.0, "country": "GBR", "codecarbon_version": "3.3.2"}
    r.manifest = {"input_files_sha256": {"activities.csv": "ab" * 32}, "tool_version": "9.9",
                  "factor_set": "x", "generated_at": "2026-01-01T00:00:00+00:00"}
    path = tmp_path / "r.html"
    report_html.write_html(r, path, svgs=svgs)  # no chart shows the footprint or the manifest
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", path.read_text(encoding="utf-8")))
    for expected in ("Example CPU 1234", "tracking mode: process", "offline country table (GBR)",
                     "SHA-256 of input › activities.csv", "Tool version 9.9"):
        assert expected in text, expected
    assert "input_files_sha256" not in text and "tool_version" not in text
    r.footprint = {"method": "codecarbon OfflineEmissionsTracker", "error": "tracker unavailable: no CPU",
                   "duration_s": 3.0, "country": "GBR", "codecarbon_version": "3.3.2"}
    report_html.write_html(r, path, svgs=svgs)
    assert "The tracker did not measure this run: tracker unavailable: no CPU" in path.read_text(encoding="utf-8")


# --- (6) the board's report (issue 13): plain summary, screening, disclosures, page count ----------

def _summary_text(text: str) -> str:
    block = text[text.index('id="summary"'):text.index('<nav class="toc"')]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", block))


def test_executive_summary_is_plain_words(html_file, results):
    """No ids, snake_case codes, tool housekeeping or over-precise numbers on the summary page."""
    summary = _summary_text(html_file.read_text(encoding="utf-8"))
    assert not re.search(r"\b[a-z0-9]+_[a-z0-9_]+\b", summary), re.findall(r"\b[a-z0-9]+_[a-z0-9_]+\b", summary)
    for i in results.interventions:
        assert i["id"] not in summary or " " in i["id"]
    assert not re.search(r"\b(USG|IDE|PRE|PRO|POST|LOC|DEL)-\d", summary)
    for housekeeping in ("activities.csv", "delete the other", "usage log", "notebook", "USG-"):
        assert housekeeping not in summary
    for w in results.warnings:
        assert w[:40] not in summary
    for number in re.findall(r"\d[\d,]*\.?\d*", summary):
        number = number.rstrip(",.")
        digits = number.replace(",", "").replace(".", "").lstrip("0")
        assert len(digits.rstrip("0")) <= 3 or re.fullmatch(r"20\d\d", number), number  # years are years
    assert "tCO2e" in summary and "Where the emissions come from" in summary


def test_housekeeping_notes_move_to_the_data_appendix(html_file, results):
    text = html_file.read_text(encoding="utf-8")
    appendix = text[text.index('id="data-notes"'):text.index('id="all-lines"')]
    for w in results.warnings:
        assert str(html.escape(w, quote=False))[:60] in appendix


def test_scope3_screening_says_measured_not_measured_or_why_not(results, svgs, tmp_path):
    r = copy.copy(results)
    from audit.core.models import Scope3Exclusion
    r.engagement = results.engagement.model_copy(update={"scope3_exclusions": [
        Scope3Exclusion(category=7, reason="Crew commute is part of the day rate, reported by the crew agency")]})
    rows = {row["category"]: row for row in report_html.scope3_screening(r)}
    measured = set(r.lines.loc[r.lines["scope"] == 3, "scope3_category"].astype(int))
    for cat, row in rows.items():
        if cat in measured:
            assert row["label"] == "relevant, measured" and row["kgco2e"] is not None
        elif cat == 7:
            assert row["label"] == "not relevant: Crew commute is part of the day rate, reported by the crew agency"
        else:
            assert row["label"] == "relevant, not yet measured"
    path = tmp_path / "s3.html"
    report_html.write_html(r, path, svgs=svgs)  # no chart shows the Scope 3 exclusions
    text = path.read_text(encoding="utf-8")
    assert "No activity in this engagement" not in text
    assert "not relevant: Crew commute" in text


DISCLOSURE_BLOCKS = {  # the shapes of results.json's issue-13 blocks (analyses.disclosures)
    "disclosures": {
        "ghg_protocol": {
            "unit": "tCO2e",
            "scope1": {"tco2e": 2.03, "lines": 2, "methods": ["conversion_factor"], "data_quality": 2.0},
            "scope2_location": {"tco2e": 1.2, "lines": 6, "methods": ["metered"], "data_quality": 1.5},
            "scope2_market": {"tco2e": 0.48, "lines": 6, "methods": ["metered"], "data_quality": 1.5},
            "scope3": {"tco2e": 10.1, "lines": 70, "categories": [
                {"scope3_category": 1, "name": "Purchased goods and services", "status": "relevant, measured",
                 "label": "relevant, measured", "tco2e": 0.127, "lines": 30, "methods": ["ecologits_llm"],
                 "data_quality": 3.1, "exclusion_reason": None},
                {"scope3_category": 7, "name": "Employee commuting", "status": "not relevant",
                 "label": "not relevant: commute in the day rate", "tco2e": 0.0, "lines": 0, "methods": [],
                 "data_quality": None, "exclusion_reason": "commute in the day rate"}]},
            "total_location_tco2e": 13.3, "total_market_tco2e": 12.6},
        "esrs_e1_6": {"GrossScope1GreenhouseGasEmissions": 2.03,
                      "GrossLocationBasedScope2GreenhouseGasEmissions": 1.2,
                      "GrossMarketBasedScope2GreenhouseGasEmissions": 0.48},
        "vsme_b3": {"TotalEnergyConsumption": 7.35, "GrossScope1GreenhouseGasEmissions": 2.03},
        "iso14064_1": [{"iso14064_category": 1, "name": "Direct GHG emissions and removals", "tco2e": 2.03,
                        "tco2e_market": 2.03, "lines": 2, "ghg_protocol_scope3_categories": []}],
        "allocation_to_clients": {"unit": "tCO2e", "basis": "location", "total_tco2e": 13.3,
                                  "clients": [{"client_brand": "Brand <A>", "tco2e": 5.0, "share": 0.376, "lines": 9}],
                                  "unallocated": {"tco2e": 8.3, "share": 0.624, "lines": 75}},
    },
    "sci": [{"functional_unit": "accepted asset", "value": 12.3456, "unit": "gCO2e per accepted asset",
             "E": 250.0, "I": 180.0, "M": 1000.0, "R": 3800.0}],
    "water": {"boundary": "on-site data-centre water + off-site water for electricity (consumption)",
              "water_litres": 1234.5, "lines_with_water": 40, "esrs_e3": {"WaterConsumption": 0.1},
              "esrs_e3_unit": "m3", "value_chain_water_m3": 1.13},
    "water_litres": 1234.5, "water_by_line": {},
}


def test_disclosure_sections_render_when_results_carry_them(results, svgs, tmp_path, monkeypatch):
    path = tmp_path / "bare.html"
    report_html.write_html(results, path, svgs=svgs)
    if not report_html.disclosure_blocks(results)["disclosures"]:
        assert 'id="disclosures"' not in path.read_text(encoding="utf-8")
    monkeypatch.setattr(report_html, "disclosure_blocks", lambda r: DISCLOSURE_BLOCKS)
    report_html.write_html(results, path, svgs=svgs)
    text = path.read_text(encoding="utf-8")
    block = text[text.index('id="disclosures"'):text.index('id="hotspots"')]
    for expected in ("GHG Protocol inventory", "GrossLocationBasedScope2GreenhouseGasEmissions", "ISO 14064-1",
                     "SCI = (E × I + M) / R", "accepted asset", "never added to it", "Brand &lt;A&gt;",
                     "1,230 litres", "12.3"):
        assert expected in block, expected
    assert "ecologits_llm" not in block  # method codes get names
    assert "12.3456" not in block  # three significant figures


@pytest.mark.skipif(CHROMIUM is None, reason="SKIPPED LOUDLY: Chromium is not installed, so the PDF page "
                                              "count of the sample report cannot be checked")
def test_sample_pdf_fits_in_sixteen_pages(html_file, tmp_path):
    pdf = tmp_path / "report.pdf"
    report_html.write_pdf(html_file, pdf)
    data = pdf.read_bytes()
    pages = len(re.findall(rb"/Type\s*/Page(?!s)", data))
    assert 1 <= pages <= 16, f"the sample's PDF has {pages} pages"


def test_report_environment_compiles_the_template_once(results, monkeypatch):
    """render_html uses one environment per process, so the report's template is compiled
    once (Jinja keeps it while its file is unchanged), and the page is the one a fresh
    environment renders."""
    env = report_html.report_environment()
    assert env is report_html.report_environment()
    assert env.get_template(report_html.TEMPLATE) is env.get_template(report_html.TEMPLATE)
    svgs = {name: "<svg></svg>" for name in report_html.figures.REPORT_CHARTS}
    kept = report_html.render_html(results, generated_at="2025-01-01 00:00 UTC", svgs=svgs)
    monkeypatch.setattr(report_html, "report_environment", report_html.make_environment)
    assert report_html.render_html(results, generated_at="2025-01-01 00:00 UTC", svgs=svgs) == kept
