"""Small stand-alone pages beside the report: ``audit compare``'s compare.html / compare.xlsx
and ``audit batch``'s portfolio.html / portfolio.xlsx.

HTML: one self-contained page, Jinja2 with autoescape (client text stays text), a
Content-Security-Policy of ``default-src 'none'`` (inline styles only: no script, no request).
Excel: openpyxl; every string is written as text (a client string starting with '=' is never
a formula), numbers at full precision.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

from jinja2 import Environment, StrictUndefined

from audit.core.atomic import atomic_path, write_text

PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
PORTFOLIO_HTML, PORTFOLIO_XLSX = "portfolio.html", "portfolio.xlsx"
COMPARE_HTML, COMPARE_XLSX = "compare.html", "compare.xlsx"
GENAI_KINDS = ("llm_api", "image_generation", "video_generation")

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{{ csp|safe }}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",Arial,sans-serif;color:#1a1a1a;margin:2rem;max-width:70rem}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}
th,td{border-bottom:1px solid #ccc;padding:.3rem .6rem;text-align:left;vertical-align:top}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.note{color:#595959;font-size:.85rem}.up{color:#D55E00}.down{color:#009E73}
</style></head><body>
<h1>{{ title }}</h1>
{% if subtitle %}<p class="note">{{ subtitle }}</p>{% endif %}
{% for section in sections %}
<h2>{{ section.title }}</h2>
{% if section.text %}<p>{{ section.text }}</p>{% endif %}
{% if section.rows %}
<table><thead><tr>{% for h in section.headers %}<th{% if loop.index0 in section.numeric %} class="n"{% endif %}>{{ h }}</th>{% endfor %}</tr></thead>
<tbody>{% for row in section.rows %}<tr>{% for v in row %}<td{% if loop.index0 in section.numeric %} class="n"{% endif %}>{{ v }}</td>{% endfor %}</tr>{% endfor %}</tbody></table>
{% endif %}
{% for note in section.notes %}<p class="note">{{ note }}</p>{% endfor %}
{% endfor %}
</body></html>
"""
_ENV = Environment(autoescape=True, undefined=StrictUndefined)


def sig(value: float | None, digits: int = 3) -> str:
    """A number with ``digits`` significant figures for prose and tables (full precision
    stays in the JSON and the workbook); '–' for none."""
    if value is None:
        return "–"
    if value == 0:
        return "0"
    text = f"{value:,.{digits}g}" if abs(value) < 10 ** digits else f"{value:,.0f}"
    return text


def pct(value: float | None) -> str:
    return "–" if value is None else f"{value:+.1%}"


def render_page(title: str, sections: Sequence[Mapping[str, Any]], subtitle: str = "") -> str:
    """The page's HTML (autoescaped). Each section: {title, text, headers, rows, text_cols, numeric,
    notes}: the first ``text_cols`` columns are text, the rest numbers, unless ``numeric`` lists
    the number columns (0-based) itself."""
    full = []
    for s in sections:
        section = {"text": "", "headers": [], "rows": [], "text_cols": 1, "notes": [], **s}
        section.setdefault("numeric", list(range(section["text_cols"], len(section["headers"]))))
        full.append(section)
    return _ENV.from_string(_PAGE).render(title=title, subtitle=subtitle, sections=full, csp=PAGE_CSP)


def _workbook():
    from openpyxl import Workbook  # noqa: PLC0415 - openpyxl loads only when a workbook is written (import audit stays light)

    return Workbook()


def _write_sheet(ws, headers: Sequence[str], rows: Sequence[Sequence[Any]], top: int = 1) -> int:
    from openpyxl.styles import Font  # noqa: PLC0415 - as _workbook

    for j, h in enumerate(headers, start=1):
        cell = ws.cell(row=top, column=j, value=str(h))
        cell.font = Font(bold=True)
        cell.data_type = "s"
    for i, row in enumerate(rows, start=top + 1):
        for j, v in enumerate(row, start=1):
            cell = ws.cell(row=i, column=j)
            if isinstance(v, str):
                cell.value = v
                cell.data_type = "s"  # text, even when it starts with '=': never a formula
            else:
                cell.value = v
    for j, h in enumerate(headers, start=1):
        width = max([len(str(h))] + [len(str(r[j - 1])) for r in rows if r[j - 1] is not None])
        ws.column_dimensions[ws.cell(row=top, column=j).column_letter].width = min(max(width + 2, 10), 60)
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    return top + len(rows)


def _save(wb, path: Path) -> None:
    with atomic_path(path) as tmp:
        wb.save(tmp)


# --------------------------------------------------------------------------- compare
def _compare_rows(rows: Sequence[Mapping[str, Any]], fmt=sig) -> list[list[Any]]:
    return [[r.get("name", r["key"]), fmt(r["base_tco2e"]), fmt(r["new_tco2e"]), fmt(r["change_tco2e"]), pct(r["change_share"])]
            for r in rows]


def compare_sections(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    headers = ["", "Base tCO2e", "New tCO2e", "Change tCO2e", "Change"]
    t = result["totals"]
    sections = [
        {"title": "Total (location-based Scope 2)", "headers": headers,
         "rows": _compare_rows([{"key": "Total", **t}])},
        {"title": "By scope", "headers": ["Scope"] + headers[1:], "rows": _compare_rows(result["by_scope"])},
        {"title": "By stage", "headers": ["Stage"] + headers[1:], "rows": _compare_rows(result["by_stage"])},
        {"title": "By kind of activity", "headers": ["Kind"] + headers[1:], "rows": _compare_rows(result["by_kind"])},
    ]
    if result["per_functional_unit"]:
        sections.append({"title": "Per functional unit (SCI)",
                         "headers": ["Functional unit", "Unit", "Base", "New", "Change", "Change %"], "text_cols": 2,
                         "rows": [[r["functional_unit"], r["unit"], sig(r["base"]), sig(r["new"]), sig(r["change"]),
                                   pct(r["change_share"])] for r in result["per_functional_unit"]]})
    target = result["target"]
    if target:
        verdict = ("on track" if target["on_track"]
                   else f"{sig(target['gap_tco2e'])} tCO2e above the target")
        sections.append({"title": "Against the reduction target",
                         "text": (f"{target['reduction_target_per_year']:.1%} a year over {target['years']} year(s): "
                                  f"target {sig(target['target_tco2e'])} tCO2e, actual {sig(target['new_tco2e'])} "
                                  f"tCO2e: {verdict}."),
                         "notes": [target["source"]]})
    else:
        sections.append({"title": "Against the reduction target",
                         "text": "No reduction_target_per_year in engagement.yaml."})
    if result["notes"]:
        sections.append({"title": "Notes", "notes": list(result["notes"])})
    return sections


def write_compare_html(result: Mapping[str, Any], path: Path) -> Path:
    b, n = result["base"], result["new"]
    write_text(path, render_page(f"{n['client'] or ''}: {b['period']} to {n['period']}", compare_sections(result),
                                 subtitle="Change in emissions, period over period (tCO2e, three significant figures; "
                                          "full precision in compare.xlsx and the JSON)."))
    return path


def write_compare_xlsx(result: Mapping[str, Any], path: Path) -> Path:
    wb = _workbook()
    ws = wb.active
    ws.title = "Compare"
    headers = ["Group", "Key", "Base tCO2e", "New tCO2e", "Change tCO2e", "Change share"]
    rows: list[list[Any]] = [["Total", "Total (location-based Scope 2)", result["totals"]["base_tco2e"],
                              result["totals"]["new_tco2e"], result["totals"]["change_tco2e"],
                              result["totals"]["change_share"]]]
    for group, key in (("Scope", "by_scope"), ("Stage", "by_stage"), ("Kind", "by_kind")):
        rows += [[group, r.get("name", r["key"]), r["base_tco2e"], r["new_tco2e"], r["change_tco2e"], r["change_share"]]
                 for r in result[key]]
    rows += [["Per functional unit", f"{r['functional_unit']} ({r['unit']})", r["base"], r["new"], r["change"],
              r["change_share"]] for r in result["per_functional_unit"]]
    last = _write_sheet(ws, headers, rows)
    target = result["target"]
    if target:
        t_rows = [["Reduction target per year", target["reduction_target_per_year"]], ["Years", target["years"]],
                  ["Target tCO2e", target["target_tco2e"]], ["New tCO2e", target["new_tco2e"]],
                  ["Gap tCO2e", target["gap_tco2e"]], ["On track", "yes" if target["on_track"] else "no"],
                  ["Basis", target["source"]]]
        _write_sheet(ws, ["Target", "Value"], t_rows, top=last + 2)
    _save(wb, path)
    return path


# --------------------------------------------------------------------------- portfolio
def portfolio_row(name: str, results: Mapping[str, Any]) -> dict[str, Any]:
    """One client's portfolio row from its results.json: totals, GenAI share (lines of the
    GenAI kinds / total), intensity per accepted asset (total gCO2e / accepted assets, when
    any are counted), the top lever (first intervention: best verdict, then cost per tonne)
    and its verdict (``verdict_label`` if present, else ``verdict``)."""
    totals = results["totals"]
    total_kg = float(totals["kgco2e"])
    genai_kg = sum(float(a["kgco2e"]) for a in results.get("activities") or [] if a.get("kind") in GENAI_KINDS)
    assets = (results.get("functional_unit_counts") or {}).get("accepted asset")
    interventions = results.get("interventions") or []
    top = interventions[0] if interventions else None
    eng = results.get("engagement") or {}
    return {
        "engagement": name, "client": eng.get("client"), "period": eng.get("period"),
        "total_tco2e": total_kg / 1000.0, "total_low_tco2e": float(totals.get("kgco2e_low", total_kg)) / 1000.0,
        "total_high_tco2e": float(totals.get("kgco2e_high", total_kg)) / 1000.0,
        "scope1_tco2e": float(totals.get("scope1_kgco2e", 0.0)) / 1000.0,
        "scope2_location_tco2e": float(totals.get("scope2_location_kgco2e", 0.0)) / 1000.0,
        "scope3_tco2e": float(totals.get("scope3_kgco2e", 0.0)) / 1000.0,
        "genai_share": genai_kg / total_kg if total_kg else None,
        "accepted_assets": assets,
        "gco2e_per_accepted_asset": total_kg * 1000.0 / assets if assets else None,
        "top_lever": (top.get("name") or top.get("id")) if top else None,
        "top_lever_verdict": (top.get("verdict_label") or top.get("verdict")) if top else None,
    }


PORTFOLIO_COLUMNS = (
    ("engagement", "Engagement"), ("client", "Client"), ("period", "Period"), ("total_tco2e", "Total tCO2e"),
    ("total_low_tco2e", "Low tCO2e"), ("total_high_tco2e", "High tCO2e"), ("scope1_tco2e", "Scope 1 tCO2e"),
    ("scope2_location_tco2e", "Scope 2 (location) tCO2e"), ("scope3_tco2e", "Scope 3 tCO2e"),
    ("genai_share", "GenAI share"), ("accepted_assets", "Accepted assets"),
    ("gco2e_per_accepted_asset", "gCO2e per accepted asset"), ("top_lever", "Top lever"),
    ("top_lever_verdict", "Verdict"),
)


def read_portfolio(engagements: Sequence[tuple[str, Path]]) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows for the engagements whose results.json exists; notes for the others."""
    rows, notes = [], []
    for name, results_json in engagements:
        try:
            data = json.loads(Path(results_json).read_text(encoding="utf-8"))
            rows.append(portfolio_row(name, data))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            notes.append(f"{name}: no results ({type(exc).__name__}); not in the portfolio")
    return rows, notes


def write_portfolio_html(rows: Sequence[Mapping[str, Any]], path: Path, notes: Sequence[str] = ()) -> Path:
    def show(key: str, v: Any) -> str:
        if v is None:
            return "–"
        if key == "genai_share":
            return f"{v:.0%}"
        return sig(v) if isinstance(v, (int, float)) else str(v)

    keys = ("client", "period", "total_tco2e", "genai_share", "gco2e_per_accepted_asset", "top_lever",
            "top_lever_verdict")
    labels = dict(PORTFOLIO_COLUMNS)
    table = [[show(k, r.get(k)) for k in keys] for r in rows]
    for row, r in zip(table, rows):
        row[2] = f"{sig(r['total_tco2e'])} ({sig(r['total_low_tco2e'])}–{sig(r['total_high_tco2e'])})"
    sections = [{"title": "Clients", "headers": [labels[k] for k in keys], "rows": table, "numeric": [2, 3, 4],
                 "notes": ["Totals in tCO2e with their range; location-based Scope 2. GenAI share: LLM, image and "
                           "video generation lines over the total. Intensity: total footprint per accepted asset "
                           "(accepted LLM outputs and images). Full precision in portfolio.xlsx.", *notes]}]
    write_text(path, render_page("Portfolio", sections))
    return path


def write_portfolio_xlsx(rows: Sequence[Mapping[str, Any]], path: Path) -> Path:
    wb = _workbook()
    ws = wb.active
    ws.title = "Portfolio"
    _write_sheet(ws, [label for _, label in PORTFOLIO_COLUMNS],
                 [[r.get(k) for k, _ in PORTFOLIO_COLUMNS] for r in rows])
    _save(wb, path)
    return path
