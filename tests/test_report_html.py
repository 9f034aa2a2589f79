"""The HTML report: self-contained, escaped, navigable; and its PDF via headless Chromium."""
from __future__ import annotations

import copy
import re
import shutil
import subprocess
import warnings
from pathlib import Path

import pytest

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
def html_file(results, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("report") / "report.html"
    report_html.write_html(results, path)
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
                   "manifest"):
        assert anchor in p.ids, anchor
        assert f'href="#{anchor}"' in text  # in the table of contents
    # every internal link lands somewhere; factor ids link into the register
    targets = {v[1:] for _, k, v in p.refs if v.startswith("#")}
    assert targets <= p.ids, targets - p.ids
    factor_links = {t for t in targets if t.startswith("factor-")}
    assert factor_links, "no factor-id links"
    used = {f for ids in results.lines["factor_ids"] for f in ids}
    registered = set(results.factors["factor_id"])
    assert len({report_html.slug(f) for f in used & registered}) <= len(factor_links)
    # print stylesheet, A4
    assert "@media print" in text and "size: A4" in text
    # Scope 2 market-based reported separately, location-based in the total
    assert "market-based" in text and "never summed together" in text
    assert "AR5" in text and "GWP100" in text


def test_units_in_table_cells(html_file):
    text = html_file.read_text(encoding="utf-8")
    cells = re.findall(r'<td class="n">([^<]*[0-9][^<]*)</td>', text)
    bare = [c for c in cells if re.fullmatch(r"[\d,.\-–]+", c.strip())]
    # bare numbers are only counts (lines, ranks, scope, category): never emissions or energy
    assert all(re.fullmatch(r"\d+", c.strip()) for c in bare), bare
    assert text.count('<span class="unit">kgCO2e</span>') > 50


def test_write_is_atomic_and_leaves_no_temp(results, tmp_path):
    path = tmp_path / "r.html"
    path.write_text("old", encoding="utf-8")
    report_html.write_html(results, path)
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


def test_notebook_html_is_sanitised(results, tmp_path):
    nb = ('<html><head><script src="https://cdn.example.com/require.js"></script>'
          '<link rel="stylesheet" href="https://fonts.example.com/x.css"><style>@import url(https://x.y/z.css);</style>'
          '</head><body><h1>Discovery</h1><p onclick="alert(1)">Read <a href="https://example.com">docs</a></p>'
          '<img src="data:image/png;base64,iVBORw0KGgo="><img src="https://tracker.example.com/p.gif">'
          '<table><tr><td>1</td></tr></table><iframe src="https://x"></iframe></body></html>')
    path = tmp_path / "nb.html"
    report_html.write_html(results, path, notebooks_html={"01_discovery": nb})
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


def test_report_without_feasibility_or_footprint(results, tmp_path):
    r = copy.copy(results)
    r.interventions, r.forecast, r.footprint, r.manifest = [], [], None, {}
    path = tmp_path / "bare.html"
    report_html.write_html(r, path)
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
            assert i["id"] in section8


def test_customisation_table_shows_the_largest_llm_workloads(html_file, results):
    text = html_file.read_text(encoding="utf-8")
    block = text[text.index('id="customisation"'):text.index('id="scorecard"')]
    groups = report_html.customisation_groups(results)
    assert 0 < len(groups) <= report_html.CUSTOMISATION_TOP
    hs = results.hotspots
    assert [g["workload"] for g in groups] == hs[hs["kind"] == "llm_api"]["activity_id"].tolist()[:len(groups)]
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


def test_report_without_feasibility_extras(results, tmp_path):
    r = copy.copy(results)
    r.extras, r.activities = {}, None
    path = tmp_path / "no-extras.html"
    report_html.write_html(r, path)
    text = path.read_text(encoding="utf-8")
    assert "The engagement has no LLM workloads to compare" in text
    assert "No candidate models to compare" in text
    assert 'id="precision-per-watt"' in text  # recomputed from the lines


def test_own_footprint_and_manifest_read_as_prose(results, tmp_path):
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
    report_html.write_html(r, path)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", path.read_text(encoding="utf-8")))
    for expected in ("Example CPU 1234", "tracking mode: process", "offline country table (GBR)",
                     "SHA-256 of input › activities.csv", "Tool version 9.9"):
        assert expected in text, expected
    assert "input_files_sha256" not in text and "tool_version" not in text
    r.footprint = {"method": "codecarbon OfflineEmissionsTracker", "error": "tracker unavailable: no CPU",
                   "duration_s": 3.0, "country": "GBR", "codecarbon_version": "3.3.2"}
    report_html.write_html(r, path)
    assert "The tracker did not measure this run: tracker unavailable: no CPU" in path.read_text(encoding="utf-8")
