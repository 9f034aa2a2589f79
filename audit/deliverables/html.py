"""The self-contained HTML report and its PDF (printed by headless Chromium).

One file, no external request of any kind: the stylesheet is inlined, charts are inline
SVG generated here (the only markup marked safe besides sanitised notebook HTML), and
every client string goes through Jinja's autoescaping. ``StrictUndefined`` turns a typo
in the template into an error instead of an empty cell.
"""
from __future__ import annotations

import math
import re
import shutil
import subprocess
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree as ET

import csv
from functools import lru_cache

import bleach
import pandas as pd
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from audit.analyses import action_plan, scorecard
from audit.analyses.customisation import TOP_WORKLOADS, top_workloads
from audit.analyses import verdicts
from audit.analyses.interventions import ACTIONABLE_VERDICTS, VERDICT_ORDER
from audit.core import paths
from audit.core.atomic import atomic_path, write_bytes
from audit.core.exceptions import ExecutionError
from audit.core.models import DQ_LABELS
from audit.deliverables import charts, figures, numbers
from audit.inventory.results import MANIFEST_LABELS, independent_range, parent_key, weighted_data_quality
from audit.reference.scopes import SCOPE3_CATEGORY_NAMES

if TYPE_CHECKING:  # pragma: no cover
    from audit.inventory.results import AuditResults

TEMPLATE = "report.html.j2"
STYLESHEET = "report.css"
PDF_TIMEOUT_S = 120
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--no-pdf-header-footer")
TORNADO_OPTIONS = figures.TORNADO_OPTIONS
HOTSPOT_ROWS = 8  # the Pareto chart shows 12; the line list and Excel have every activity
GENAI_MEASURES = ("llm_api", "image_generation", "video_generation", "gpu_compute")


# --- formatting (filters) ------------------------------------------------------------------

def _finite(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def fmt_num(v: Any, digits: int | None = None) -> str:
    """Thousands separators; precision by magnitude unless ``digits`` is given. Missing: '–'."""
    f = _finite(v)
    if f is None:
        return "–"
    if digits is not None:
        return f"{f:,.{digits}f}"
    a = abs(f)
    if a == 0:
        return "0"
    if a >= 1000:
        return f"{f:,.0f}"
    if a >= 10:
        return f"{f:,.1f}"
    if a >= 0.1:
        return f"{f:,.2f}"
    return numbers.sig(f)


def fmt_exact(v: Any) -> str:
    """A register value as published (6 significant figures, no rounding to display precision)."""
    f = _finite(v)
    return "–" if f is None else numbers.sig(f, 6)


def fmt_q(v: Any, unit: str, digits: int | None = None) -> Markup:
    """A number with its unit, for table cells."""
    n = fmt_num(v, digits)
    if n == "–":
        return Markup("–")
    return Markup('{}&nbsp;<span class="unit">{}</span>').format(n, unit)


def fmt_pct(v: Any, digits: int | None = None) -> str:
    """A share; by the report's rule (``numbers.share``) unless ``digits`` is given."""
    f = _finite(v)
    if f is None:
        return "–"
    return numbers.share(f) if digits is None else f"{f * 100:.{digits}f}%"


def fmt_t_cell(kg: Any) -> str:
    """A kgCO2e value as a tCO2e table cell (the table's header carries the unit)."""
    return numbers.tonnes(kg)


def fmt_t_span(low: Any, high: Any) -> str:
    """A low–high range in tCO2e for a table cell; one value when both ends print the same."""
    return numbers.span(low, high, lambda v: numbers.tonnes(v))


# --- human names (never ids or snake_case in the client's text) -------------------------------

METHOD_NAMES_FILE = Path("disclosures") / "method_names.csv"
KIND_NAMES = charts.KIND_LABELS


@lru_cache(maxsize=None)
def method_names() -> dict[str, str]:
    """Method code -> plain name (data/disclosures/method_names.csv, shared with the disclosures)."""
    path = paths.DATA_DIR / METHOD_NAMES_FILE
    if not path.is_file():
        return {}
    with open(path, newline="", encoding="utf-8") as handle:
        return {r["method"]: r["name"] for r in csv.DictReader(handle)}


def humanise(text: Any) -> str:
    """A code such as 'virtual_production' as words ('Virtual production'); other text unchanged."""
    t = str(text or "")
    if re.fullmatch(r"[a-z0-9]+(?:[_:][a-z0-9]+)+", t):
        words = re.sub(r"[_:]+", " ", t)
        return words[:1].upper() + words[1:]
    return t


def method_name(code: Any) -> str:
    return method_names().get(str(code), humanise(code))


def kind_name(kind: Any) -> str:
    return KIND_NAMES.get(str(kind), humanise(kind))


def verdict_label(rec: dict) -> str:
    """The verdict as words: ``verdict_label`` when the feasibility step gives one, else the verdict."""
    return str(rec.get("verdict_label") or humanise(rec.get("verdict") or ""))


def option_name(rec: dict) -> str:
    """An abatement option's name (never its id)."""
    return str(rec.get("name") or humanise(rec.get("id") or ""))


def slug(text: Any) -> str:
    s = re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-")
    return s or "x"


class FactorAnchors:
    """factor_id -> unique anchor ``factor-<slug>`` in the register table."""

    def __init__(self, factor_ids: list[str]):
        self.ids: dict[str, str] = {}
        used: set[str] = set()
        for fid in factor_ids:
            base = f"factor-{slug(fid)}"
            anchor, i = base, 2
            while anchor in used:
                anchor, i = f"{base}-{i}", i + 1
            used.add(anchor)
            self.ids[str(fid)] = anchor

    def anchor(self, fid: str) -> str:
        return self.ids.get(str(fid), "")

    def links(self, fids) -> Markup:
        parts = []
        for fid in list(fids if fids is not None else []):
            a = self.anchor(fid)
            if a:
                parts.append(Markup('<a href="#{}">{}</a>').format(a, fid))
            else:
                parts.append(Markup('<span title="not in the factor register">{}</span>').format(fid))
        return Markup('<span class="fids">{}</span>').format(Markup(' <span class="sep">·</span> ').join(parts))


# --- environment ---------------------------------------------------------------------------

def make_environment(templates_dir: Path | None = None) -> Environment:
    env = Environment(loader=FileSystemLoader(str(templates_dir or paths.TEMPLATES_DIR)),
                      autoescape=select_autoescape(enabled_extensions=("html", "j2", "htm", "xml"),
                                                   default_for_string=True, default=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(exact=fmt_exact, num=fmt_num, q=fmt_q, pct=fmt_pct, slug=slug, t=fmt_t_cell,
                       mass=numbers.mass, sig=numbers.sig, method_name=method_name, kind_name=kind_name,
                       human=humanise, verdict=verdict_label, option=option_name)
    env.globals.update(exact_span=lambda lo, hi: numbers.span(lo, hi, fmt_exact), t_span=fmt_t_span, mass_span=numbers.mass_span, id_list=id_list)
    return env


@lru_cache(maxsize=1)
def report_environment() -> Environment:
    """The report's environment (``make_environment()``), made once per process: Jinja compiles
    a template once per environment, and compiling the report's template is half of what
    writing report.html costs (~0.1 s of CPU). A process that forks a child per engagement
    (``audit batch``'s warm workers) can load the template first
    (``report_environment().get_template(TEMPLATE)``) so that no child compiles it. Jinja
    still recompiles a template whose file changed on disk."""
    return make_environment()


def _stylesheet(env: Environment) -> Markup:
    assert env.loader is not None
    css, _, _ = env.loader.get_source(env, STYLESHEET)
    if re.search(r"</style|@import|url\(\s*['\"]?\s*(https?:|//)", css, re.I):
        raise ExecutionError(f"{STYLESHEET} must be self-contained (no @import, no external url(), no </style>)")
    return Markup(css)


# --- charts ----------------------------------------------------------------------------------

def _svg(svg: str) -> Markup:
    """Our own matplotlib SVG (text escaped by matplotlib's SVG writer) is the one thing we
    mark safe. Defensive check: nothing active or external inside."""
    problem = unsafe_svg(svg)
    if problem:
        raise ExecutionError(f"generated chart SVG contains active content or an external reference ({problem})")
    return Markup(svg)


_EXTERNAL_URL = re.compile(r"url\(\s*(?!['\"]?#)", re.I)


def unsafe_svg(svg: str) -> str | None:
    """What makes ``svg`` unsafe to inline, or None. Judged on the parsed elements and
    attributes, not on text: a chart label such as 'onsite=yes' or '<script>' is escaped
    text (or a comment), which is data, not markup."""
    try:
        root = ET.fromstring(svg)
    except ET.ParseError as exc:
        return f"not well-formed XML: {exc}"
    for el in root.iter():
        tag = el.tag.rsplit("}", 1)[-1].lower()
        if tag in ("script", "foreignobject", "iframe", "object", "embed"):
            return f"<{tag}> element"
        for key, value in el.attrib.items():
            name = key.rsplit("}", 1)[-1].lower()
            if name.startswith("on"):
                return f"event attribute {name}"
            if name == "href" and not value.startswith("#"):
                return "external href"
            if _EXTERNAL_URL.search(value):
                return f"external url() in {name}"
        if tag == "style" and el.text and (_EXTERNAL_URL.search(el.text) or "@import" in el.text.lower()):
            return "external reference in <style>"
    return None


def chart_set(results: "AuditResults", svgs: dict[str, str] | None = None) -> dict[str, Markup]:
    """The report's charts as checked inline SVG; ``svgs`` are the ones this run already
    rendered (``figures.render_svgs``), so that each chart is drawn once per run."""
    svgs = figures.render_svgs(results) if svgs is None else svgs
    return {name: _svg(svgs[name]) if name in svgs else _svg(figures.render_svg(name, results))
            for name in figures.REPORT_CHARTS}


# --- sections' data --------------------------------------------------------------------------

def intensity_metrics(results: "AuditResults") -> list[dict]:
    """Emissions per unit of generative output. Upstream lines count with their parent;
    'accepted' divides by the output the team kept (quantity x accepted_fraction, over the
    activities that record an accepted_fraction)."""
    lines = results.lines
    parents = lines[lines["derived_from"] == ""].set_index("activity_id")
    grouped = lines.assign(parent=parent_key(lines)).groupby("parent")
    kg, kwh = grouped["kgco2e"].sum(), grouped["kwh"].sum()
    out: list[dict] = []

    def add(metric: str, value: float, unit: str, basis: str) -> None:
        if math.isfinite(value):
            out.append({"metric": metric, "value": value, "unit": unit, "basis": basis})

    for kind in GENAI_MEASURES:
        p = parents[parents["kind"] == kind]
        if p.empty:
            continue
        q = pd.to_numeric(p["quantity_base"], errors="coerce").fillna(0.0)
        n = float(q.sum())
        if n <= 0:
            continue
        k = float(kg.reindex(p.index).fillna(0).sum())
        e = float(kwh.reindex(p.index).fillna(0).sum())
        acc = pd.to_numeric(p["accepted_fraction"], errors="coerce")
        has = acc.notna().to_numpy()
        acc_n = float((q[has] * acc[has]).sum())
        k_acc = float(kg.reindex(p.index[has]).fillna(0).sum())
        basis = f"{fmt_num(n)} {p['base_unit'].iloc[0]} in {id_list(list(p.index))}"
        acc_basis = f"{fmt_num(acc_n)} kept of {fmt_num(float(q[has].sum()))} (accepted_fraction)"
        if kind == "image_generation":
            add("Emissions per 1,000 generated images", k / n * 1000, "kgCO2e", basis)
            add("Energy per 1,000 generated images", e / n * 1000, "kWh", basis)
            if acc_n > 0:
                add("Emissions per accepted image", k_acc * 1000 / acc_n, "gCO2e", acc_basis)
        elif kind == "video_generation":
            add("Emissions per minute of generated video", k * 1000 / (n / 60), "gCO2e", basis)
            if acc_n > 0:
                add("Emissions per accepted minute of video", k_acc * 1000 / (acc_n / 60), "gCO2e", acc_basis)
        elif kind == "llm_api":
            add("Emissions per LLM request", k * 1000 / n, "gCO2e", basis)
            add("Energy per 1,000 LLM requests", e / n * 1000, "kWh", basis)
            if acc_n > 0:
                add("Emissions per accepted LLM output", k_acc * 1000 / acc_n, "gCO2e", acc_basis)
        elif kind == "gpu_compute":
            add("Emissions per GPU hour", k * 1000 / n, "gCO2e", basis)
            add("Energy per GPU hour", e / n, "kWh", basis)
    return out


ID_LIST_SHOWN = 4


def id_list(ids: list, shown: int = ID_LIST_SHOWN) -> str:
    """'A, B, C, D and 20 more': a list of ids that stays one line in print."""
    ids = [str(i) for i in ids]
    if len(ids) <= shown + 1:
        return ", ".join(ids)
    return f"{', '.join(ids[:shown])} and {len(ids) - shown} more"


def _activities(results: "AuditResults") -> list[dict]:
    """One row per emission line, in line order, with parent totals for the DQ table."""
    rows = []
    for r in results.lines.itertuples(index=False):
        cat = None if pd.isna(r.scope3_category) else int(r.scope3_category)
        rows.append({
            "activity_id": r.activity_id, "derived_from": r.derived_from, "stage": r.stage,
            "description": r.description, "kind": r.kind, "scope": int(r.scope), "scope3_category": cat,
            "category_name": SCOPE3_CATEGORY_NAMES.get(cat, "") if cat else "",
            "quantity": r.quantity, "unit": r.unit, "kwh": r.kwh, "kgco2e": r.kgco2e, "kgco2e_low": r.kgco2e_low,
            "kgco2e_high": r.kgco2e_high, "kgco2e_market": r.kgco2e_market,
            "market_basis": "" if pd.isna(r.market_basis) else str(r.market_basis),
            "factor_ids": list(r.factor_ids) if r.factor_ids is not None else [],
            "data_quality": int(r.data_quality), "method": r.method,
        })
    return rows


SCOPE3_MEASURED = "relevant, measured"
SCOPE3_NOT_MEASURED = "relevant, not yet measured"
SCOPE3_NOT_RELEVANT = "not relevant"


def scope3_screening(results: "AuditResults", disclosures: dict | None = None) -> list[dict]:
    """All 15 categories with a status a verifier accepts: "relevant, measured" (lines present),
    "not relevant: <reason>" (screened out in the engagement's scope3_exclusions with a reason),
    or "relevant, not yet measured" (neither). From the disclosures' GHG Protocol inventory when
    results.json carries it, else derived the same way from the lines and the engagement."""
    s3 = results.lines[results.lines["scope"] == 3]
    by_cat = s3.groupby(s3["scope3_category"].astype(int))[["kgco2e", "kgco2e_low", "kgco2e_high"]].sum()
    inventory = ((disclosures or {}).get("ghg_protocol") or {}).get("scope3") or {}
    listed = {int(c["scope3_category"]): c for c in inventory.get("categories") or []}
    excl = {e.category: e.reason.strip() for e in results.engagement.scope3_exclusions
            if e.reason and e.reason.strip()}
    rows = []
    for cat, name in SCOPE3_CATEGORY_NAMES.items():
        row = {"category": cat, "name": name, "kgco2e": None, "kgco2e_low": None, "kgco2e_high": None,
               "reason": excl.get(cat, ""), "data_quality": None, "methods": []}
        if cat in by_cat.index:
            row.update(status=SCOPE3_MEASURED,
                       **{k: float(by_cat.loc[cat, k]) for k in ("kgco2e", "kgco2e_low", "kgco2e_high")})
        elif cat in excl:
            row["status"] = SCOPE3_NOT_RELEVANT
        else:
            row["status"] = SCOPE3_NOT_MEASURED
        given = listed.get(cat)
        if given:
            row["status"] = str(given.get("status") or row["status"])
            row["reason"] = str(given.get("exclusion_reason") or row["reason"] or "")
            row["data_quality"] = given.get("data_quality")
            row["methods"] = [method_name(m) for m in given.get("methods") or []]
        row["label"] = (f"{SCOPE3_NOT_RELEVANT}: {row['reason']}" if row["status"] == SCOPE3_NOT_RELEVANT
                        else row["status"])
        rows.append(row)
    return rows


def plain_formula(formula: str) -> str:
    """A formula as a reader writes it: constants such as 3.6e6 spelled out (3,600,000)."""
    def spell(m: re.Match) -> str:
        return fmt_num(float(m.group(0)))
    return re.sub(r"(?<![0-9A-Za-z_.])\d+(\.\d+)?[eE][+-]?\d+(?![0-9A-Za-z])", spell, str(formula))


def methods_table(results: "AuditResults") -> list[dict]:
    lines = results.lines
    g = lines.groupby(["method", "formula"], sort=False)
    return [{"method": m, "name": method_name(m), "formula": plain_formula(f), "lines": len(d),
             "activities": ", ".join(pd.unique(d["activity_id"])[:6])
             + (" …" if d["activity_id"].nunique() > 6 else "")} for (m, f), d in g]


FACTOR_NAMES_SHOWN = 1  # per line in the line list; the rest are counted and listed in the register
GENERIC_FACTOR_PREFIXES = ("ecologits:llm:", "ecologits:video:", "genai:", "activity:")


def factor_names(results: "AuditResults") -> dict[str, str]:
    """factor_id -> its register name."""
    f = results.factors
    if "factor_id" not in f or "name" not in f:
        return {}
    return {str(i): str(n) for i, n in zip(f["factor_id"], f["name"]) if n}


def line_factor_summary(fids: list[str], names: dict[str, str], shown: int = FACTOR_NAMES_SHOWN,
                        anchors: FactorAnchors | None = None) -> dict:
    """The line's main factors by name (its own factors before generic model coefficients), each
    with its register anchor, and how many more it uses; the ids are in the register."""
    ordered = sorted(fids, key=lambda i: str(i).startswith(GENERIC_FACTOR_PREFIXES))
    main = [{"name": names.get(str(i), humanise(i)), "anchor": anchors.anchor(i) if anchors else ""}
            for i in ordered[:shown]]
    return {"names": [m["name"] for m in main], "main": main, "more": max(len(fids) - shown, 0)}


def lines_by_stage(results: "AuditResults", activities: list[dict], anchors: FactorAnchors | None = None) -> list[dict]:
    """The full line list grouped by stage (production order), with the stage subtotal."""
    names = factor_names(results)
    order = list(results.engagement.stages)
    for a in activities:
        if a["stage"] not in order:
            order.append(a["stage"])
    groups = []
    for stage in order:
        rows = [dict(a, factors=line_factor_summary(a["factor_ids"], names, anchors=anchors))
                for a in activities if a["stage"] == stage]
        if rows:
            groups.append({"stage": stage, "rows": rows, "kgco2e": sum(r["kgco2e"] for r in rows),
                           "kgco2e_low": sum(r["kgco2e_low"] for r in rows),
                           "kgco2e_high": sum(r["kgco2e_high"] for r in rows)})
    return groups


def top_actions(results: "AuditResults", n: int = 3) -> list[dict]:
    """Up to ``n`` options for the summary: those the feasibility step says to do, largest
    abatement first (a board reads 4 t before 4 kg); without verdicts, the cheapest below the
    carbon price."""
    rows = [dict(r) for r in (results.interventions or []) if (_finite(r.get("abated_kgco2e_per_year")) or 0) > 0]
    if any(r.get("verdict") in VERDICT_ORDER for r in rows):
        chosen = [r for r in rows if r.get("verdict") in ACTIONABLE_VERDICTS]
        return sorted(chosen, key=lambda r: -float(r["abated_kgco2e_per_year"]))[:n]
    price = float(results.engagement.carbon_price_per_tonne)
    cheap = [r for r in rows if _finite(r.get("cost_per_tonne")) is not None and r["cost_per_tonne"] <= price]
    return sorted(cheap, key=lambda r: r["cost_per_tonne"])[:n]


def disclosure_blocks(results: "AuditResults") -> dict:
    """The issue-13 blocks of results.json (``disclosures``, ``sci``, ``water``, per-line and total
    ``water_litres``) as the results produce them; empty when this build adds none."""
    doc = results.to_json_dict(include_feasibility=False)
    water_by_line = {a.get("activity_id"): a.get("water_litres") for a in doc.get("activities") or []
                     if a.get("water_litres") is not None}
    return {"disclosures": doc.get("disclosures") or {}, "sci": doc.get("sci") or [],
            "water": doc.get("water") or {}, "water_litres": (doc.get("totals") or {}).get("water_litres"),
            "water_by_line": water_by_line}


def data_quality_rows(results: "AuditResults") -> tuple[list[dict], float | None]:
    lines = results.lines
    parents = lines[lines["derived_from"] == ""]
    kg = lines.assign(parent=parent_key(lines)).groupby("parent")["kgco2e"].sum()
    total = float(lines["kgco2e"].sum())
    rows = []
    for r in parents.itertuples(index=False):
        k = float(kg.get(r.activity_id, r.kgco2e))
        rows.append({"activity_id": r.activity_id, "description": r.description, "stage": r.stage,
                     "data_quality": int(r.data_quality), "label": DQ_LABELS.get(int(r.data_quality), ""),
                     "method": r.method, "kgco2e": k, "share": k / total if total else None,
                     "factor_ids": list(r.factor_ids)})
    rows.sort(key=lambda d: -d["kgco2e"])
    return rows, weighted_data_quality(lines)


DQ_ROWS_SHOWN = 8


def fold_small_rows(rows: list[dict], shown: int = DQ_ROWS_SHOWN) -> tuple[list[dict], dict | None]:
    """The ``shown`` largest rows, and the rest summed into one row (count, kgCO2e, share, scores)."""
    if len(rows) <= shown + 1:
        return rows, None
    rest = rows[shown:]
    scores = sorted({r["data_quality"] for r in rest})
    return rows[:shown], {"n": len(rest), "kgco2e": sum(r["kgco2e"] for r in rest),
                          "share": sum(r["share"] or 0 for r in rest), "scores": scores,
                          "methods": sorted({method_name(r["method"]) for r in rest})}


def hotspot_rows(results: "AuditResults", top: int = 12) -> list[dict]:
    lines = results.lines
    fids = (lines.assign(parent=parent_key(lines)).groupby("parent")["factor_ids"]
            .agg(lambda s: list(dict.fromkeys(f for ids in s for f in ids))))
    rows = []
    for i, r in enumerate(results.hotspots.head(top).itertuples(index=False), start=1):
        rows.append({"rank": i, "activity_id": r.activity_id, "description": r.description, "stage": r.stage,
                     "kind": r.kind, "scope": None if pd.isna(r.scope) else int(r.scope), "kgco2e": r.kgco2e,
                     "kgco2e_low": r.kgco2e_low, "kgco2e_high": r.kgco2e_high, "share": r.share,
                     "cumulative_share": r.cumulative_share, "factor_ids": fids.get(r.activity_id, [])})
    return rows


def _first_action(results: "AuditResults") -> dict | None:
    """The first option the feasibility step says to do; without verdicts, the cheapest
    option below the carbon price. None if nothing qualifies."""
    rows = [dict(r) for r in (results.interventions or []) if (_finite(r.get("abated_kgco2e_per_year")) or 0) > 0]

    if any(r.get("verdict") in VERDICT_ORDER for r in rows):
        first = next((r for r in rows if r.get("verdict") in ACTIONABLE_VERDICTS), None)
        return {**first, "verdict": verdicts.words(first["verdict"])} if first else None
    price = float(results.engagement.carbon_price_per_tonne)
    cheap = [r for r in rows if _finite(r.get("cost_per_tonne")) is not None and r["cost_per_tonne"] <= price]
    return min(cheap, key=lambda r: r["cost_per_tonne"]) if cheap else None


def interventions_rows(results: "AuditResults") -> list[dict]:
    """Options in the feasibility step's ranking (verdict, then cost per tonne)."""
    rows = []
    for i, r in enumerate(results.interventions or [], 1):
        d = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in dict(r).items()}
        d["rank"] = i
        d["verdict"] = verdicts.words(d.get("verdict"))  # the label of data/verdicts.yaml, as everywhere
        applies = d.get("applies_to") or []
        d["applies_to"] = [applies] if isinstance(applies, str) else list(applies)
        rows.append(d)
    return rows


def precision_rows(results: "AuditResults") -> list[dict]:
    """Precision per watt by stage (audit.analyses.precision), from the run's extras
    or recomputed from the lines."""
    return list(results.analysis("precision_per_watt"))


CUSTOMISATION_TOP = TOP_WORKLOADS


def customisation_groups(results: "AuditResults", top: int = CUSTOMISATION_TOP) -> list[dict]:
    """The customisation break-even table for the largest LLM workloads, grouped by workload."""
    rows = results.analysis("customisation")
    groups: dict[str, dict] = {}
    for r in rows:
        g = groups.setdefault(r["workload"], {"workload": r["workload"], "rows": []})
        g["rows"].append(r)
        if r.get("baseline"):
            g["base"] = r
    out = [groups[w] for w in top_workloads(rows, top)]
    descr = results.lines.set_index("activity_id")["description"].to_dict() if len(results.lines) else {}
    for g in out:
        g["description"] = descr.get(g["workload"], "")
    return out


def scorecard_table(results: "AuditResults") -> dict:
    """The base-model scorecard ({"task", "weights", "rows"}) from the run's extras, or computed."""
    return results.analysis("scorecard")


def _scorecard_context(results: "AuditResults") -> dict:
    table = scorecard_table(results)
    labels = scorecard.factor_labels()
    rows = [dict(r, used_by_text=id_list(list(r.get("used_by") or []), 3)) for r in table.get("rows", [])]
    return {"rows": rows, "task": table.get("task", {}), "factors": list(labels),
            "labels": labels, "short": scorecard.factor_short_labels(),
            "weights": {**scorecard.default_weights(), **table.get("weights", {})}}


def _action_plan(results: "AuditResults") -> list[dict]:
    if not results.interventions and not results.analysis("customisation"):
        return []
    return action_plan.action_plan(results)


MANIFEST_SHOWN_ABOVE = ("factor_set", "generated_at")  # rows of their own at the top of the table


def _manifest_rows(manifest: dict) -> list[tuple[str, str]]:
    return _flatten({k: v for k, v in manifest.items() if k not in MANIFEST_SHOWN_ABOVE})


def _flatten(d: Any, prefix: str = "") -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if isinstance(d, dict):
        for k, v in d.items():
            label = MANIFEST_LABELS.get(k, str(k).replace("_", " ")) if not prefix else str(k)
            out += _flatten(v, label if not prefix else f"{prefix} › {label}")
    elif isinstance(d, (list, tuple)):
        if all(not isinstance(v, (dict, list, tuple)) for v in d):
            out.append((prefix, ", ".join(str(v) for v in d)))
        else:
            for i, v in enumerate(d):
                out += _flatten(v, f"{prefix}[{i}]")
    else:
        out.append((prefix, "" if d is None else str(d)))
    return out


def factor_groups(rows: list[dict]) -> list[dict]:
    """The register grouped by source (and licence), in order of first appearance."""
    groups: dict[tuple, dict] = {}
    for r in rows:
        key = (str(r.get("source") or "Source not given"), str(r.get("licence") or ""))
        groups.setdefault(key, {"source": key[0], "licence": key[1], "rows": []})["rows"].append(r)
    return list(groups.values())


def factor_rows(results: "AuditResults", anchors: FactorAnchors) -> list[dict]:
    rows = []
    for r in results.factors.to_dict(orient="records"):
        r = {k: (None if (isinstance(v, float) and not math.isfinite(v)) else v) for k, v in r.items()}
        r["anchor"] = anchors.anchor(r["factor_id"])
        rows.append(r)
    return rows


# --- notebooks appendix ----------------------------------------------------------------------

# The markup a notebook's prose, tables and figures need; everything else is stripped (here, and
# from client-facing outputs in the exported notebook pages: runner.export_notebooks_html).
NOTEBOOK_TAGS = ["a", "abbr", "b", "blockquote", "br", "caption", "code", "dd", "div", "dl", "dt", "em", "h1", "h2",
            "h3", "h4", "h5", "h6", "hr", "i", "img", "li", "ol", "p", "pre", "small", "span", "strong", "sub",
            "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul"]
NOTEBOOK_ATTRIBUTES = {"*": ["class", "title"], "img": ["src", "alt", "width", "height"], "a": ["href"],
             "td": ["colspan", "rowspan"], "th": ["colspan", "rowspan"]}


_ACTIVE_BLOCKS = re.compile(r"<(script|style|template|noscript|iframe|object|embed)\b.*?</\1\s*>", re.S | re.I)


def drop_active_blocks(html: str) -> str:
    """Remove whole elements whose content is code or styling rather than text: a sanitiser
    that strips tags would otherwise leave, say, a table's CSS on the page as prose."""
    return _ACTIVE_BLOCKS.sub("", html)


def sanitise_notebook_html(html: str) -> Markup:
    """Keep a notebook's prose, code, tables and embedded (data:) images; drop scripts,
    styles, links to anything outside the page and every other active or external part."""
    body = re.search(r"<body[^>]*>(.*)</body>", html, re.S | re.I)
    html = body.group(1) if body else html
    html = drop_active_blocks(html)

    def attr_ok(tag, name, value):
        if name in ("src",):
            return value.startswith("data:image/") and tag == "img"
        if name == "href":
            return value.startswith("#")
        return name in NOTEBOOK_ATTRIBUTES.get(tag, []) or name in NOTEBOOK_ATTRIBUTES["*"]

    clean = bleach.clean(html, tags=NOTEBOOK_TAGS, attributes=attr_ok, protocols=["data"], strip=True,
                         strip_comments=True)
    return Markup(clean)


# --- writers ---------------------------------------------------------------------------------

def render_html(results: "AuditResults", notebooks_html: dict[str, str] | None = None,
                generated_at: str | None = None, svgs: dict[str, str] | None = None) -> str:
    env = report_environment()
    eng = results.engagement
    lines = results.lines
    all_ids = list(results.factors["factor_id"]) if "factor_id" in results.factors else []
    anchors = FactorAnchors(all_ids)
    dq_rows, dq_weighted = data_quality_rows(results)

    totals = results.totals
    ind_low, ind_high = independent_range(lines)
    activities = _activities(results)  # one pass over the lines; the tables below filter it
    hotspots = hotspot_rows(results, top=HOTSPOT_ROWS)
    scope2 = [a for a in activities if a["scope"] == 2]
    blocks = disclosure_blocks(results)
    screening = scope3_screening(results, blocks["disclosures"])
    total_kg = float(lines["kgco2e"].sum())
    genai_kg = float(lines.loc[lines["kind"].isin(charts.GENAI_KINDS), "kgco2e"].sum())
    ctx = {
        "css": _stylesheet(env),
        "eng": eng,
        "factor_set": results.factor_set,
        "totals": totals,
        "independent_range": {"low": ind_low, "high": ind_high},
        "by_scope": results.by_scope.to_dict(orient="records"),
        "by_stage": results.by_stage.to_dict(orient="records"),
        "activities": activities,
        "scope1": [a for a in activities if a["scope"] == 1],
        "scope2": scope2,
        "scope3_screening": screening,
        "n_not_measured": sum(r["status"] == SCOPE3_NOT_MEASURED for r in screening),
        "gen_share": genai_kg / total_kg if total_kg else None,
        "line_groups": lines_by_stage(results, activities, anchors),
        "top_actions": top_actions(results),
        "disclosures": blocks["disclosures"],
        "sci": blocks["sci"],
        "water": blocks["water"],
        "water_litres": blocks["water_litres"],
        "water_by_line": blocks["water_by_line"],
        "methods": methods_table(results),
        "hotspots": hotspots,
        "top3": hotspots[:3],
        "intensity": intensity_metrics(results),
        "forecast": list(results.forecast or []),
        "interventions": interventions_rows(results),
        "first_action": _first_action(results),
        "precision": precision_rows(results),
        "customisation": customisation_groups(results),
        "routes": list(results.analysis("routes") or []),
        "prices": [{"price_id": k, **p.model_dump(exclude={"price_id"})} for k, p in sorted((results.prices or {}).items())],
        "verdict_set": list(verdicts.definitions().values()),
        "scorecard": _scorecard_context(results),
        "effort_impact": results.analysis("effort_impact"),
        "action_plan": _action_plan(results),
        "dq_rows": fold_small_rows(dq_rows)[0],
        "dq_rest": fold_small_rows(dq_rows)[1],
        "dq_weighted": dq_weighted,
        "dq_labels": DQ_LABELS,
        "uncertainty_rows": sorted(activities, key=lambda a: -(a["kgco2e_high"] - a["kgco2e_low"]))[:5],
        "factors": factor_rows(results, anchors),
        "factor_groups": factor_groups(factor_rows(results, anchors)),
        "fl": anchors.links,
        "footprint": results.footprint,
        "manifest": _manifest_rows(results.manifest) if results.manifest else [],
        "warnings": list(results.warnings or []),
        "charts": chart_set(results, svgs),
        "n_activities": int((lines["derived_from"] == "").sum()),
        "n_lines": len(lines),
        "notebooks": [{"name": k, "id": f"notebook-{slug(k)}", "html": sanitise_notebook_html(v)}
                      for k, v in (notebooks_html or {}).items()],
        "generated_at": generated_at or results.manifest.get("generated_at")
        or datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "scope3_names": SCOPE3_CATEGORY_NAMES,
    }
    return env.get_template(TEMPLATE).render(**ctx)


def write_html(results: "AuditResults", path: Path, notebooks_html: dict[str, str] | None = None,
               svgs: dict[str, str] | None = None) -> None:
    """Render the report to ``path`` (atomically: temp file in the same folder, then replace).
    ``svgs``: the charts already rendered this run (``figures.render_svgs``), else drawn here."""
    write_bytes(path, render_html(results, notebooks_html, svgs=svgs).encode("utf-8"))


def chromium_binary() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if not exe:
        raise ExecutionError("Chromium not found (looked for chromium, chromium-browser, google-chrome on PATH): "
                             "install it (Debian/Ubuntu: apt-get install chromium) to print the PDF report.")
    return exe


def write_pdf(html_path: Path, pdf_path: Path) -> None:
    """Print ``html_path`` to ``pdf_path`` with headless Chromium (fresh profile, no network
    services, no header/footer), atomically."""
    html_path, pdf_path = Path(html_path).resolve(), Path(pdf_path)
    if not html_path.is_file():
        raise ExecutionError(f"HTML report not found: {html_path}")
    exe = chromium_binary()
    with atomic_path(pdf_path) as tmp:
        with tempfile.TemporaryDirectory(prefix="audit-chromium-") as profile:
            cmd = [exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--print-to-pdf={tmp}",
                   html_path.as_uri()]
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=PDF_TIMEOUT_S,
                                      stdin=subprocess.DEVNULL)
            except subprocess.TimeoutExpired as exc:
                raise ExecutionError(f"Chromium did not finish printing {html_path.name} within "
                                     f"{PDF_TIMEOUT_S} s") from exc
            except OSError as exc:
                raise ExecutionError(f"could not run Chromium ({exe}): {exc}") from exc
        data = tmp.read_bytes() if tmp.exists() else b""
        if proc.returncode != 0 or not data.startswith(b"%PDF"):
            tail = "\n".join((proc.stderr or "").strip().splitlines()[-8:])
            raise ExecutionError(f"Chromium failed to print {html_path.name} to PDF "
                                 f"(exit status {proc.returncode}).\n{tail}")
