"""Charts for notebooks and reports, in one accessible style.

Every function takes an ``AuditResults`` and returns a ``matplotlib.figure.Figure`` built
without pyplot, so no global figure state leaks between calls (safe in notebooks, tests
and report writers). Style: the Okabe–Ito colour-blind-safe palette, hatching where
colour alone would carry meaning, units on every axis and titles in plain words, sized
to sit inside an A4 page (about 17 cm of text width).

Emissions are plotted in tonnes (tCO2e), like the report's tables.
"""
from __future__ import annotations

import base64
import functools
import io
import math
import re
import textwrap
from typing import TYPE_CHECKING, Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_mixed import MixedModeRenderer
from matplotlib.backends.backend_svg import FigureCanvasSVG, RendererSVG
from matplotlib.figure import Figure  # rendered by the Agg canvas; pyplot and the backend are never touched
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.textpath import TextToPath
from matplotlib.ticker import FuncFormatter, PercentFormatter

from audit.analyses import verdicts
from audit.deliverables import numbers
from audit.reference.vocabularies import kinds_in_family

if TYPE_CHECKING:  # pragma: no cover
    from audit.inventory.results import AuditResults

# --- style -------------------------------------------------------------------------------

# Okabe & Ito (2008), "Color Universal Design".
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
    "grey": "#999999",
}
PALETTE = [OKABE_ITO[k] for k in ("blue", "orange", "bluish_green", "vermillion", "sky_blue",
                                    "reddish_purple", "yellow", "grey")]
SCOPE_COLOURS = {1: OKABE_ITO["vermillion"], 2: OKABE_ITO["blue"], 3: OKABE_ITO["orange"]}
SCOPE_NAMES = {1: "Scope 1 (direct)", 2: "Scope 2 (purchased electricity)", 3: "Scope 3 (value chain)"}

GENAI_KINDS = kinds_in_family("genai_compute")  # the families of data/kinds.csv
TRADITIONAL_KINDS = kinds_in_family("traditional")
KIND_LABELS = {
    "llm_api": "LLM API calls", "image_generation": "Image generation", "video_generation": "Video generation",
    "gpu_compute": "GPU compute", "cpu_compute": "CPU compute", "storage": "Storage",
    "data_transfer": "Data transfer", "travel": "Travel", "accommodation": "Accommodation", "fuel": "Fuel",
    "freight": "Freight", "electricity": "Site electricity",
}

A4_WIDTH_IN = 6.7  # 17 cm text width
TITLE_SIZE = 11
LABEL_SIZE = 9
TICK_SIZE = 8
SMALL_SIZE = 7.5
T_UNIT = "tCO2e"
EDGE = "#333333"
TRADITIONAL_HATCH = "\\\\\\"  # traditional production's bars in the GenAI/traditional chart


def new_figure(height: float = 3.6, width: float = A4_WIDTH_IN) -> Figure:
    """A pyplot-free figure with constrained layout and a white background."""
    fig = Figure(figsize=(width, height), layout="constrained", facecolor="white")
    return fig


def style_axes(ax, grid_axis: str = "y") -> None:
    ax.tick_params(labelsize=TICK_SIZE, color="#555555")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color("#555555")
    if grid_axis:
        ax.grid(axis=grid_axis, color="#dddddd", linewidth=0.6)
        ax.set_axisbelow(True)


def _title(ax, text: str) -> None:
    ax.set_title(text, fontsize=TITLE_SIZE, loc="left", fontweight="bold")


def _t(kg) -> np.ndarray:
    """kgCO2e -> tCO2e."""
    return np.asarray(kg, dtype=float) / 1000.0


def fmt_t(x: float) -> str:
    """A chart label in tCO2e, by the report's table rule (``numbers.table_number``)."""
    if not math.isfinite(x):
        return ""
    return numbers.table_number(x)


def plain(text) -> str:
    """Client text for a chart label: a '$' must not switch matplotlib into mathtext."""
    return str(text).replace("$", r"\$")


def option_label(rec: dict, names: dict | None = None, n: int = 34) -> str:
    """An abatement option as people read it: its name (shortened), never its id."""
    name = rec.get("name") or (names or {}).get(rec.get("id")) or str(rec.get("id", "")).replace("_", " ")
    return short_label(plain(name), n)


def _option_names(results: "AuditResults") -> dict:
    return {r.get("id"): r.get("name") for r in (results.interventions or []) if r.get("name")}


def _wrap(text: str, width: int = 22) -> str:
    return "\n".join(textwrap.wrap(str(text), width)) or str(text)


def short_label(text: str, n: int = 30) -> str:
    text = str(text)
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


def _empty(title: str, message: str, xlabel: str, ylabel: str, height: float = 2.6) -> Figure:
    """A figure that says plainly there is nothing to show (axes still carry their units)."""
    fig = new_figure(height)
    ax = fig.add_subplot()
    style_axes(ax, grid_axis="")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel(xlabel, fontsize=LABEL_SIZE)
    ax.set_ylabel(ylabel, fontsize=LABEL_SIZE)
    _title(ax, title)
    ax.text(0.5, 0.5, message, transform=ax.transAxes, ha="center", va="center", fontsize=LABEL_SIZE + 2,
            color="#555555")
    return fig


def _err(values, low, high) -> np.ndarray:
    """Asymmetric error bars (2 x n) from low/high bounds; NaN bounds give no bar."""
    v, lo, hi = (np.asarray(a, dtype=float) for a in (values, low, high))
    lower = np.where(np.isfinite(lo), np.clip(v - lo, 0, None), 0.0)
    upper = np.where(np.isfinite(hi), np.clip(hi - v, 0, None), 0.0)
    return np.vstack([lower, upper])


def _currency(results: "AuditResults") -> str:
    return getattr(results.engagement, "currency", "") or ""


# --- emissions by scope ------------------------------------------------------------------

def scope_bar(results: "AuditResults") -> Figure:
    """Scope 1, Scope 2 location-based, Scope 2 market-based (hatched; reported beside, never
    added to, the total) and Scope 3 by category, with low–high error bars."""
    df = results.by_scope.copy()
    labels, colours, hatches, faces = [], [], [], []
    for row in df.itertuples(index=False):
        if row.scope == "Scope 1":
            labels.append("Scope 1: direct")
            colours.append(SCOPE_COLOURS[1])
        elif row.scope == "Scope 2 (location-based)":
            labels.append("Scope 2: location-based")
            colours.append(SCOPE_COLOURS[2])
        elif row.scope == "Scope 2 (market-based)":
            labels.append("Scope 2: market-based\n(not added to total)")
            colours.append(SCOPE_COLOURS[2])
        else:
            labels.append(_wrap(f"Scope 3 cat. {int(row.scope3_category)}: {row.category}", 34))
            colours.append(SCOPE_COLOURS[3])
        market = row.scope == "Scope 2 (market-based)"
        hatches.append("///" if market else "")
        faces.append("white" if market else colours[-1])

    values = _t(df["kgco2e"])
    err = _err(values, _t(df["kgco2e_low"]), _t(df["kgco2e_high"]))
    y = np.arange(len(df))[::-1]
    fig = new_figure(1.4 + 0.42 * len(df))
    ax = fig.add_subplot()
    style_axes(ax, grid_axis="x")
    bars = ax.barh(y, values, color=faces, edgecolor=colours, hatch=None, linewidth=1.2,
                   xerr=err, error_kw={"ecolor": "#333333", "elinewidth": 0.9, "capsize": 3})
    for bar, h in zip(bars, hatches):
        if h:
            bar.set_hatch(h)
    ax.set_yticks(y, labels, fontsize=TICK_SIZE)
    ax.set_xlabel(f"Emissions ({T_UNIT}); error bars show the low–high range", fontsize=LABEL_SIZE)
    ax.set_xlim(0, max(float(np.nanmax(values + err[1])) if len(values) else 1.0, 1e-9) * 1.18)
    for yi, v, e in zip(y, values, err[1]):
        ax.text(v + e, yi, f"  {fmt_t(v)}", va="center", fontsize=SMALL_SIZE)
    _title(ax, "Emissions by scope")
    handles = [Patch(facecolor=SCOPE_COLOURS[1], label="Scope 1"),
               Patch(facecolor=SCOPE_COLOURS[2], label="Scope 2 location-based (in total)"),
               Patch(facecolor="white", edgecolor=SCOPE_COLOURS[2], hatch="///",
                     label="Scope 2 market-based, not added to total"),
               Patch(facecolor=SCOPE_COLOURS[3], label="Scope 3")]
    fig.legend(handles=handles, fontsize=SMALL_SIZE, loc="outside lower center", ncol=2, frameon=False)
    return fig


# --- emissions by stage ------------------------------------------------------------------

def stage_bar(results: "AuditResults") -> Figure:
    """Emissions by pipeline stage, stacked by scope, in the engagement's stage order."""
    lines = results.lines
    order = list(results.by_stage["stage"])
    pivot = (lines.assign(scope=lines["scope"].astype(int))
             .pivot_table(index="stage", columns="scope", values="kgco2e", aggfunc="sum", fill_value=0.0)
             .reindex(order).fillna(0.0))
    fig = new_figure(3.6)
    ax = fig.add_subplot()
    style_axes(ax)
    x = np.arange(len(order))
    bottom = np.zeros(len(order))
    for scope in (1, 2, 3):
        if scope not in pivot.columns:
            continue
        v = _t(pivot[scope])
        ax.bar(x, v, bottom=bottom, color=SCOPE_COLOURS[scope], edgecolor="white", linewidth=0.6,
               label=SCOPE_NAMES[scope], width=0.65)
        bottom += v
    bs = results.by_stage.set_index("stage").reindex(order)
    err = _err(bottom, _t(bs["kgco2e_low"]), _t(bs["kgco2e_high"]))
    ax.errorbar(x, bottom, yerr=err, fmt="none", ecolor="#333333", elinewidth=0.9, capsize=3)
    for xi, v, e in zip(x, bottom, err[1]):
        ax.text(xi, v + e, fmt_t(v), ha="center", va="bottom", fontsize=SMALL_SIZE)
    ax.set_xticks(x, [plain(_wrap(s, 12)) for s in order], fontsize=TICK_SIZE)
    ax.set_ylabel(f"Emissions ({T_UNIT})", fontsize=LABEL_SIZE)
    ax.set_xlabel("Pipeline stage (in production order)", fontsize=LABEL_SIZE)
    ax.set_ylim(0, max(float(np.max(bottom + err[1])) if len(bottom) else 1.0, 1e-9) * 1.15)
    ax.legend(fontsize=SMALL_SIZE, loc="upper right", frameon=False)
    _title(ax, "Emissions by pipeline stage")
    return fig


# --- hotspots ----------------------------------------------------------------------------

def hotspot_pareto(results: "AuditResults", top: int = 12) -> Figure:
    """The biggest activities (upstream lines folded into their parent) as bars coloured by
    scope, with the cumulative share of the whole footprint on a secondary axis."""
    hs = results.hotspots.head(top)
    fig = new_figure(3.8)
    ax = fig.add_subplot()
    style_axes(ax)
    x = np.arange(len(hs))
    colours = [SCOPE_COLOURS.get(int(s), OKABE_ITO["grey"]) if pd.notna(s) else OKABE_ITO["grey"]
               for s in hs["scope"]]
    values = _t(hs["kgco2e"])
    ax.bar(x, values, color=colours, edgecolor="white", width=0.7,
           yerr=_err(values, _t(hs["kgco2e_low"]), _t(hs["kgco2e_high"])),
           error_kw={"ecolor": "#333333", "elinewidth": 0.8, "capsize": 2})
    ax.set_xticks(x, [plain(a) for a in hs["activity_id"]], rotation=45, ha="right", fontsize=TICK_SIZE)
    ax.set_ylabel(f"Emissions ({T_UNIT})", fontsize=LABEL_SIZE)
    ax.set_xlabel(f"Activity (top {len(hs)}, largest first)", fontsize=LABEL_SIZE)
    ax2 = ax.twinx()
    cum = np.asarray(hs["cumulative_share"], dtype=float) * 100
    ax2.plot(x, cum, color=OKABE_ITO["black"], marker="o", markersize=3.5, linewidth=1.4,
             label="Cumulative share")
    ax2.axhline(80, color=OKABE_ITO["grey"], linestyle="--", linewidth=0.8)
    ax2.text(x[-1] if len(x) else 0, 81, "80%", ha="right", va="bottom", fontsize=SMALL_SIZE, color="#555555")
    ax2.set_ylim(0, 105)
    ax2.yaxis.set_major_formatter(PercentFormatter(100, decimals=0))
    ax2.set_ylabel("Cumulative share of total (%)", fontsize=LABEL_SIZE)
    ax2.tick_params(labelsize=TICK_SIZE)
    ax2.spines["top"].set_visible(False)
    scopes = sorted({int(s) for s in hs["scope"].dropna()})
    handles = [Patch(color=SCOPE_COLOURS[s], label=SCOPE_NAMES[s]) for s in scopes]
    handles += ax2.get_legend_handles_labels()[0]
    ax.legend(handles=handles, fontsize=SMALL_SIZE, loc="center right", frameon=True, framealpha=0.9)
    _title(ax, "Hotspots: the activities that make up most of the footprint")
    return fig


# --- GenAI vs traditional production -----------------------------------------------------

def kind_split(results: "AuditResults") -> Figure:
    """Generative-AI and compute kinds against traditional production, one stacked bar each."""
    by_kind = results.lines.groupby("kind")["kgco2e"].sum()
    groups = [("Generative AI\nand compute", GENAI_KINDS), ("Traditional\nproduction", TRADITIONAL_KINDS)]
    fig = new_figure(3.6)
    ax = fig.add_subplot()
    style_axes(ax, grid_axis="x")
    total = float(by_kind.sum()) or 1.0
    legends = []
    for gi, (label, kinds) in enumerate(groups):
        y = len(groups) - 1 - gi
        left = 0.0
        handles = []
        for ki, kind in enumerate(kinds):
            v = float(by_kind.get(kind, 0.0)) / 1000.0
            colour = PALETTE[ki % len(PALETTE)]
            # Diagonal lines, not dots: matplotlib writes a dot hatch into SVG as ~1,000 circles
            # per colour (the chart was 767 kB, 1 MB again as base64 in each notebook page).
            hatch = TRADITIONAL_HATCH if gi == 1 else None
            if v > 0:
                ax.barh(y, v, left=left, color=colour, edgecolor="white", hatch=hatch, height=0.6, linewidth=0.6)
                left += v
            handles.append(Patch(facecolor=colour, edgecolor="white", hatch=hatch,
                                 label=f"{KIND_LABELS.get(kind, kind)}: {fmt_t(v)} {T_UNIT}"))
        ax.text(left, y, f"  {fmt_t(left)} {T_UNIT} ({left * 1000 / total:.0%} of total)", va="center",
                fontsize=SMALL_SIZE)
        legends.append((label.replace("\n", " "), handles))
    ax.set_yticks([1, 0], [g[0] for g in groups], fontsize=TICK_SIZE)
    ax.set_xlabel(f"Emissions ({T_UNIT})", fontsize=LABEL_SIZE)
    ax.set_xlim(0, ax.get_xlim()[1] * 1.3)
    for i, (label, handles) in enumerate(legends):
        fig.legend(handles=handles, title=label, fontsize=SMALL_SIZE - 0.5, title_fontsize=SMALL_SIZE,
                         ncol=2 if i == 0 else 1, loc="outside lower left" if i == 0 else "outside lower right",
                         frameon=False, alignment="left")
    _title(ax, "Generative AI against traditional production")
    return fig


# --- forecast ----------------------------------------------------------------------------

def forecast_lines(results: "AuditResults") -> Figure:
    """Business-as-usual against with-plan emissions per year (``results.forecast``)."""
    rows = list(results.forecast or [])
    xlabel, ylabel = "Year", f"Emissions ({T_UNIT} per year)"
    title = "Forecast: business as usual against the plan"
    if not rows:
        return _empty(title, "No forecast in this run", xlabel, ylabel)
    df = pd.DataFrame(rows).sort_values("year")
    fig = new_figure(3.4)
    ax = fig.add_subplot()
    style_axes(ax)
    years = df["year"].astype(int).to_numpy()
    bau = _t(df["bau_kgco2e"])
    ax.plot(years, bau, color=OKABE_ITO["vermillion"], marker="o", markersize=4, linewidth=1.8,
            label="Business as usual")
    if "plan_kgco2e" in df and df["plan_kgco2e"].notna().any():
        plan = _t(df["plan_kgco2e"])
        ax.plot(years, plan, color=OKABE_ITO["bluish_green"], marker="s", markersize=4, linewidth=1.8,
                linestyle="--", label="With the plan")
        ax.fill_between(years, plan, bau, color=OKABE_ITO["bluish_green"], alpha=0.12, linewidth=0,
                        label="Avoided by the plan")
        if np.allclose(plan, bau):
            ax.text(0.5, 0.55, "The plan adopts no option yet, so it matches business as usual",
                    transform=ax.transAxes, ha="center", fontsize=SMALL_SIZE + 0.5, color="#555555")
    ax.set_xticks(years, [str(y) for y in years], fontsize=TICK_SIZE)
    ax.set_ylim(bottom=0)
    ax.set_xlabel(xlabel, fontsize=LABEL_SIZE)
    ax.set_ylabel(ylabel, fontsize=LABEL_SIZE)
    ax.legend(fontsize=SMALL_SIZE, frameon=False, loc="lower left")
    _title(ax, title)
    return fig


# --- marginal abatement cost curve -------------------------------------------------------

def macc(results: "AuditResults") -> Figure:
    """Marginal abatement cost curve: bar width = tCO2e avoided per year, height = cost per
    tonne, cheapest first; the dashed line is the engagement's carbon price."""
    cur = _currency(results)
    price = float(getattr(results.engagement, "carbon_price_per_tonne", 0) or 0)
    xlabel = f"Emissions avoided ({T_UNIT} per year, cumulative)"
    ylabel = f"Cost ({cur} per {T_UNIT})"
    title = "What it costs to cut each tonne (marginal abatement cost curve)"
    rows = [r for r in (results.interventions or [])
            if _num(r.get("abated_kgco2e_per_year")) > 0 and math.isfinite(_num(r.get("cost_per_tonne"), math.nan))]
    if not rows:
        return _empty(title, "No abatement options in this run", xlabel, ylabel)
    rows.sort(key=lambda r: _num(r.get("cost_per_tonne")))
    widths = np.array([_num(r["abated_kgco2e_per_year"]) / 1000.0 for r in rows])
    heights = np.array([_num(r["cost_per_tonne"]) for r in rows])
    lefts = np.concatenate([[0.0], np.cumsum(widths)[:-1]])
    fig = new_figure(3.8)
    ax = fig.add_subplot()
    style_axes(ax)
    below = heights <= price
    colours = np.where(below, OKABE_ITO["bluish_green"], OKABE_ITO["orange"])
    hatches = ["" if b else "//" for b in below]
    bars = ax.bar(lefts, heights, width=widths, align="edge", color=colours, edgecolor="white", linewidth=0.8)
    for bar, h in zip(bars, hatches):
        bar.set_hatch(h)
    total_w = float(lefts[-1] + widths[-1])
    for left, w, h, r in zip(lefts, widths, heights, rows):
        if w < 0.03 * total_w:  # too narrow to label legibly; the table lists every option
            continue
        ax.annotate(option_label(r, n=26), (left + w / 2, h), xytext=(0, 3 if h >= 0 else -3),
                    textcoords="offset points", ha="center", va="bottom" if h >= 0 else "top",
                    fontsize=SMALL_SIZE, rotation=90,
                    bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.85})
    ax.axhline(0, color="#555555", linewidth=0.8)
    ax.axhline(price, color=OKABE_ITO["black"], linestyle="--", linewidth=1.1)
    ax.text(total_w, price, f"carbon price {price:,.0f} {cur}/{T_UNIT}", ha="right",
            va="bottom", fontsize=SMALL_SIZE,
            bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": "none", "alpha": 0.9})
    ax.set_xlim(0, total_w * 1.02)
    top = float(np.max(np.abs(heights)))
    if top > 20 * max(price, 1.0):  # costs span orders of magnitude: linear up to the carbon price, log above
        ax.set_yscale("symlog", linthresh=max(price, 1.0), linscale=0.6)
        ylabel += f"; log scale above {max(price, 1.0):,.0f}"
        lin = max(price, 1.0)
        ymin, ymax = min(0.0, float(heights.min()) * 3), top * 6
        ax.set_ylim(ymin, ymax)
        powers = [10.0 ** k for k in range(int(math.ceil(math.log10(lin * 2.5))), int(math.log10(ymax)) + 1)]
        negs = [-10.0 ** k for k in range(int(math.ceil(math.log10(lin))), int(math.log10(-ymin)) + 1)] if ymin < 0 else []
        ax.set_yticks(sorted(set([0.0, lin] + powers + negs)))
    else:
        lo, hi = min(0.0, float(heights.min())), max(price, float(heights.max()))
        pad = 0.18 * (hi - lo or 1.0)
        ax.set_ylim(lo - (pad if lo < 0 else 0), hi + pad)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.set_xlabel(xlabel, fontsize=LABEL_SIZE)
    ax.set_ylabel(ylabel, fontsize=LABEL_SIZE)
    fig.legend(handles=[Patch(color=OKABE_ITO["bluish_green"], label="Costs less than the carbon price"),
                        Patch(facecolor=OKABE_ITO["orange"], edgecolor="white", hatch="//",
                              label="Costs more than the carbon price")],
               fontsize=SMALL_SIZE, frameon=False, loc="outside lower center", ncol=2)
    _title(ax, title)
    return fig


def usage_by_hour(usage) -> Figure:
    """A usage log's emissions by UTC hour of day: bars at the annual grid factor (the
    inventory's basis) and, where an hourly profile exists (GBR/FRA/DEU), the hour-aware
    figure for the same requests as points, a sensitivity kept apart from the inventory."""
    records = usage.by_hour  # results.json's by_hour_utc: one record per hour with requests
    if not records:
        return _empty("API usage by hour of day", "No requests in the usage logs.", "Hour of day (UTC)", "kgCO2e")
    hours = np.arange(24)
    by_hour = pd.DataFrame(records).set_index("hour")
    annual = by_hour["kgco2e"].reindex(hours, fill_value=0.0).to_numpy(float)
    countries = usage.hourly["countries"]  # countries of the requests with an hour-aware figure
    fig = new_figure(3.4)
    ax = fig.add_subplot()
    style_axes(ax)
    ax.bar(hours, annual, color=OKABE_ITO["sky_blue"], edgecolor=EDGE, linewidth=0.4,
           label="Annual grid factor (inventory basis)")
    if countries:
        # None (no covered requests in that hour) becomes NaN: a gap in the line, as before.
        same = by_hour["kgco2e_annual_same_requests"].reindex(hours).to_numpy(float, na_value=np.nan)
        hourly = by_hour["kgco2e_hourly"].reindex(hours).to_numpy(float, na_value=np.nan)
        ax.plot(hours, hourly, "o-", color=OKABE_ITO["vermillion"], markersize=3.5, linewidth=1,
                label=f"Hour-aware, {', '.join(countries)} requests (sensitivity)")
        ax.plot(hours, same, ":", color=EDGE, linewidth=1, label="Annual factor, same requests")
    ax.set_xticks(hours[::3])
    ax.set_xlim(-0.7, 23.7)
    ax.set_xlabel("Hour of day (UTC)", fontsize=LABEL_SIZE)
    ax.set_ylabel("kgCO2e", fontsize=LABEL_SIZE)
    fig.legend(fontsize=SMALL_SIZE, frameon=False, loc="outside lower center", ncol=3)
    _title(ax, "API usage by hour of day")
    return fig


def _num(v: Any, default: float = 0.0) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return default
    return f if math.isfinite(f) else default


# --- export ------------------------------------------------------------------------------

_PROLOG = re.compile(r"^\s*<\?xml[^>]*\?>\s*(<!DOCTYPE[^>]*>\s*)?", re.S)
SVG_RC = {"svg.fonttype": "none", "svg.hashsalt": "genai-content-audit"}  # text as <text>; stable ids
SVG_METADATA = {"Date": None, "Creator": None}  # no date or version in the file: same input, same bytes
_GENERIC_FONT_LISTS = ("font.serif", "font.sans-serif", "font.cursive", "font.fantasy", "font.monospace")
_TEXT_TO_PATH = TextToPath()


@functools.lru_cache(maxsize=4096)
def _svg_text_metrics(text: str, prop: FontProperties, generic_fonts: tuple) -> tuple[float, float, float]:
    """Width, height and descent of ``text`` as the SVG renderer measures it (in points, from
    the unhinted font outline; ``TextToPath.get_text_width_height_descent``). ``generic_fonts``
    (the rcParams lists that resolve a generic family such as sans-serif) is only part of
    the key, so that a notebook that changes its fonts gets new measurements."""
    return _TEXT_TO_PATH.get_text_width_height_descent(text, prop, False)


class _MeasuredOnceRendererSVG(RendererSVG):
    """matplotlib's SVG renderer, measuring each plain text once per process: the ten charts
    share most strings (tick labels, legends, axis titles) and a chart measures each text
    in the layout pass and again when it draws."""

    def get_text_width_height_descent(self, s, prop, ismath):
        if ismath:  # mathtext depends on more settings; client text never switches it on (``plain``)
            return super().get_text_width_height_descent(s, prop, ismath)
        generic_fonts = tuple(tuple(matplotlib.rcParams[key]) for key in _GENERIC_FONT_LISTS)
        return _svg_text_metrics(s, prop.copy(), generic_fonts)


class _OneRendererSVGCanvas(FigureCanvasSVG):
    """An SVG canvas that lays the figure out with the very renderer that draws the file
    (``get_renderer``, which the constrained layout asks for), so that matplotlib's text
    metrics, cached per renderer, serve both passes."""

    def __init__(self, figure: Figure):
        super().__init__(figure)
        self.renderer = None

    def get_renderer(self):
        return self.renderer

    def is_saving(self) -> bool:
        return True  # as during savefig: animated artists are drawn too


def figure_to_svg(fig: Figure) -> str:
    """Inline SVG text (no XML prolog or DOCTYPE), deterministic ids, no external references.

    Text is kept as ``<text>`` so it stays selectable and searchable in the PDF.

    The bytes are those of ``fig.savefig(format="svg")`` with ``SVG_RC``, ``SVG_METADATA`` and a
    white face (tests/test_charts.py compares the two for every report chart), for about
    a third less CPU: savefig lays the figure out during a full draw that only measures
    (with one renderer, the layout engine asking for a second) and then draws with a
    third, each measuring every text again. Here the layout engine runs alone, with the
    renderer that then draws the file, as FigureCanvasSVG.print_svg sets it up (the
    figure at 72 dpi: SVG user units are points), and plain text is measured once per
    process (``_svg_text_metrics``)."""
    buf = io.StringIO()
    dpi, facecolor, canvas, engine = fig.dpi, fig.get_facecolor(), fig.canvas, fig.get_layout_engine()
    with matplotlib.rc_context(SVG_RC):
        svg_canvas = _OneRendererSVGCanvas(fig)  # the figure's canvas until the finally below
        try:
            fig.set_facecolor("white")
            fig.dpi = 72
            width, height = fig.get_size_inches()
            svg_canvas.renderer = MixedModeRenderer(
                fig, width, height, dpi,
                _MeasuredOnceRendererSVG(width * 72, height * 72, buf, image_dpi=dpi, metadata=SVG_METADATA))
            if engine is not None:
                engine.execute(fig)
                fig.set_layout_engine("none")  # laid out: the draw below must not run it again
            fig.draw(svg_canvas.renderer)
            svg_canvas.renderer.finalize()
        finally:
            if engine is not None:
                fig.set_layout_engine(engine)
            fig.dpi = dpi
            fig.set_facecolor(facecolor)
            fig.set_canvas(canvas)
    return inline_svg(buf.getvalue())


def inline_svg(document: str) -> str:
    """An SVG file's text as an element to inline in HTML: no XML prolog, DOCTYPE or metadata,
    and no fixed width and height (the viewBox stays), so that the page scales the chart."""
    svg = _PROLOG.sub("", document)
    svg = re.sub(r"\s*<metadata>.*?</metadata>", "", svg, count=1, flags=re.S)
    svg = re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"', r'<svg\1', svg, count=1)
    return svg.strip()


def figure_to_png_data_uri(fig: Figure, dpi: int = 150) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, facecolor="white", metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _label_points(fig: Figure, ax, xs, ys, labels, fontsize: float = SMALL_SIZE) -> None:
    """Label scatter points without overlaps: each label takes the first of a few offsets
    around its point whose box clears the other labels and points and stays in the axes
    (greedy, in display space after a layout pass; deterministic).

    The layout pass is the figure's layout engine alone, with the Agg renderer at the
    figure's dpi: the positions ``draw_without_rendering`` gives (it runs the same engine
    first, then a draw that changes no position) for half its CPU."""
    engine = fig.get_layout_engine()
    if engine is not None:
        engine.execute(fig)
    pts = ax.transData.transform(np.column_stack([np.asarray(xs, float), np.asarray(ys, float)]))
    px = fig.dpi / 72.0
    box = ax.get_window_extent()
    placed: list[tuple[float, float, float, float]] = []
    cands = [(5, 3, "left"), (5, -10, "left"), (-5, 3, "right"), (-5, -10, "right"), (0, 7, "center"),
             (0, -17, "center"), (5, 13, "left"), (5, -20, "left"), (-5, 13, "right"), (-5, -20, "right"),
             (5, 23, "left"), (5, -30, "left")]
    order = sorted(range(len(labels)), key=lambda i: (-pts[i][1], pts[i][0]))
    for i in order:
        text = str(labels[i])
        w, h = len(text) * fontsize * 0.6 * px, fontsize * 1.25 * px
        choice = cands[0]
        for dx, dy, ha in cands:
            x0 = pts[i][0] + dx * px - {"right": w, "center": w / 2}.get(ha, 0)
            y0 = pts[i][1] + dy * px - 0.2 * h
            rect = (x0, y0, x0 + w, y0 + h)
            inside = rect[0] >= box.x0 and rect[2] <= box.x1 and rect[1] >= box.y0 and rect[3] <= box.y1
            clash = any(not (rect[2] < a or rect[0] > c or rect[3] < b or rect[1] > d) for a, b, c, d in placed)
            hits = any(j != i and rect[0] - 4 < pts[j][0] < rect[2] + 4 and rect[1] - 4 < pts[j][1] < rect[3] + 4
                       for j in range(len(labels)))
            if inside and not clash and not hits:
                choice = (dx, dy, ha)
                break
        dx, dy, ha = choice
        x0 = pts[i][0] + dx * px - {"right": w, "center": w / 2}.get(ha, 0)
        y0 = pts[i][1] + dy * px - 0.2 * h
        placed.append((x0, y0, x0 + w, y0 + h))
        far = abs(dy) > 12 or (dx == 0 and abs(dy) > 10)
        ax.annotate(plain(text), (xs[i], ys[i]), xytext=(dx, dy), textcoords="offset points", ha=ha,
                    va="bottom", fontsize=fontsize, zorder=4,
                    arrowprops={"arrowstyle": "-", "color": "#888888", "linewidth": 0.6, "shrinkA": 0,
                                "shrinkB": 4} if far else None,
                    bbox={"boxstyle": "round,pad=0.1", "facecolor": "white", "edgecolor": "none", "alpha": 0.8})
    # The layout pass above placed the axes; the labels go inside them wherever a free spot
    # exists (the layout ignores what lies inside the axes), so a second pass at
    # savefig would give the very same layout (checked pixel for pixel on the sample's two
    # labelled charts) at ~0.1-0.2 s of CPU each. Keep the positions as they are.
    fig.set_layout_engine("none")


# --- gain against effort -----------------------------------------------------------------

VERDICT_STYLE = {  # colour and marker: the verdict never rests on colour alone
    "pays_for_itself": (OKABE_ITO["bluish_green"], "o"),
    "worth_it_at_carbon_price": (OKABE_ITO["sky_blue"], "s"),
    "co_benefits_only": (OKABE_ITO["orange"], "D"),
    "not_worth_it": (OKABE_ITO["vermillion"], "v"),
    "no_gain": (OKABE_ITO["grey"], "x"),
}
QUADRANT_LABELS = {"quick win": "Quick wins", "major project": "Major projects", "fill-in": "Small easy tasks",
                   "thankless task": "Thankless tasks"}


def effort_impact(results: "AuditResults") -> Figure:
    """The 2×2 effort/impact matrix: person-days against tCO2e abated a year (log scale),
    divided at the engagement's effort threshold and at a documented share of the
    footprint; points labelled by id and coloured (and shaped) by verdict."""
    title = "Gain against effort: where each option sits"
    xlabel, ylabel = "Effort (person-days)", f"Emissions avoided ({T_UNIT} per year; log scale)"
    rows = [r for r in (results.interventions or []) if _num(r.get("abated_kgco2e_per_year")) > 0]
    skipped = len(results.interventions or []) - len(rows)
    if not rows:
        return _empty(title, "No option avoids emissions in this run", xlabel, ylabel)
    th = results.analysis("effort_impact")
    x_thr, y_thr = float(th["effort_person_days"]), float(th["impact_kgco2e_per_year"]) / 1000.0
    x = np.array([_num(r.get("effort_person_days")) for r in rows])
    y = np.array([_num(r.get("abated_kgco2e_per_year")) for r in rows]) / 1000.0
    fig = new_figure(4.4)
    ax = fig.add_subplot()
    style_axes(ax, grid_axis="")
    ax.set_yscale("log")
    y_lo = min(float(y.min()), y_thr if y_thr > 0 else float(y.min())) / 4
    y_hi = max(float(y.max()), y_thr) * 4
    x_hi = max(float(x.max()) * 1.2, x_thr * 2, 1.0)
    ax.set_xlim(0, x_hi)
    ax.set_ylim(y_lo, y_hi)
    ax.axvline(x_thr, color="#555555", linestyle="--", linewidth=0.9)
    if y_thr > 0:
        ax.axhline(y_thr, color="#555555", linestyle="--", linewidth=0.9)
    quad_box = {"boxstyle": "round,pad=0.25", "facecolor": "#f4f4f4", "edgecolor": "none"}
    for (qx, qy, ha, va), key in zip(((0.01, 0.98, "left", "top"), (0.99, 0.98, "right", "top"),
                                      (0.01, 0.02, "left", "bottom"), (0.99, 0.02, "right", "bottom")),
                                     ("quick win", "major project", "fill-in", "thankless task")):
        ax.text(qx, qy, QUADRANT_LABELS[key], transform=ax.transAxes, ha=ha, va=va, fontsize=SMALL_SIZE + 0.5,
                color="#444444", fontweight="bold", bbox=quad_box)
    for xi, yi, r in zip(x, y, rows):
        colour, marker = VERDICT_STYLE.get(r.get("verdict"), (OKABE_ITO["grey"], "o"))
        ax.scatter([xi], [yi], s=46, color=colour, marker=marker, edgecolors=EDGE if marker != "x" else None,
                   linewidths=0.6, zorder=3)
    ax.annotate(f"effort threshold: {x_thr:g} person-days", (x_thr, y_lo), xytext=(3, 3),
                textcoords="offset points", fontsize=SMALL_SIZE, va="bottom", ha="left", color="#555555",
                rotation=90)
    if y_thr > 0:
        ax.annotate(f"{float(th['impact_share']):.0%} of the footprint: {fmt_t(y_thr)} {T_UNIT}/yr",
                    (x_hi, y_thr), xytext=(-3, 2), textcoords="offset points", fontsize=SMALL_SIZE,
                    va="bottom", ha="right", color="#555555")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: fmt_t(v)))
    ax.set_xlabel(xlabel, fontsize=LABEL_SIZE)
    ax.set_ylabel(ylabel, fontsize=LABEL_SIZE)
    present = list(dict.fromkeys(str(r.get("verdict", "")) for r in rows))
    shown = [v for v in VERDICT_STYLE if v in present] + [v for v in present if v not in VERDICT_STYLE]
    handles = [Line2D([], [], linestyle="none", marker=VERDICT_STYLE.get(v, (None, "o"))[1], markersize=6,
                      color=VERDICT_STYLE.get(v, (OKABE_ITO["grey"], None))[0], markeredgecolor=EDGE,
                      label=verdicts.words(v) if v else "no verdict") for v in shown]
    if skipped:
        handles.append(Patch(facecolor="white", edgecolor="white", label=f"{skipped} option(s) with no gain not shown"))
    fig.legend(handles=handles, fontsize=SMALL_SIZE, frameon=False, loc="outside lower center",
               ncol=max(1, min(len(handles), 5)), title="Verdict at the carbon price", title_fontsize=SMALL_SIZE)
    _title(ax, title)
    _label_points(fig, ax, x, y, [option_label(r, n=30) for r in rows])
    return fig


def tornado(results: "AuditResults", top: int = 5) -> Figure:
    """Sensitivity of the cost per tonne of the top ``top`` options (ranking order) to one
    input at a time (analyses.sensitivity: the MACC formula re-evaluated, not scaled
    bars). One panel per option, widest swing on top. The carbon price changes the
    verdict, not the cost per tonne: its row has no bar and says what the verdict does."""
    cur = _currency(results)
    title = "What moves the cost per tonne (one input at a time)"
    xlabel = f"Cost ({cur} per {T_UNIT})"
    rows = results.analysis("sensitivity")
    names = _option_names(results)
    ids = list(dict.fromkeys(r["id"] for r in rows))[:top]
    if not ids:
        return _empty(title, "No priced options to test in this run", xlabel, "Input changed")
    panels = [[r for r in rows if r["id"] == i] for i in ids]
    heights = [len(p) + 0.9 for p in panels]
    fig = new_figure(0.9 + 0.25 * sum(heights))
    gs = fig.add_gridspec(len(panels), 1, height_ratios=heights)
    low_c, high_c = OKABE_ITO["blue"], OKABE_ITO["orange"]
    for k, p in enumerate(panels):
        ax = fig.add_subplot(gs[k])
        style_axes(ax, grid_axis="x")
        base = _num(p[0]["cost_per_tonne_base"], math.nan)
        swing = lambda r: abs(_num(r["cost_per_tonne_high"], base) - _num(r["cost_per_tonne_low"], base))  # noqa: E731
        carbon = [r for r in p if r["input"].startswith("Carbon price")]
        bars = sorted([r for r in p if not r["input"].startswith("Carbon price")], key=swing)
        ordered = carbon + bars  # bottom to top: carbon price, then by swing, widest on top
        finite = [v for r in bars for v in (r["cost_per_tonne_low"], r["cost_per_tonne_high"]) if v is not None]
        lo_all, hi_all = min(finite + [base]), max(finite + [base])
        span = (hi_all - lo_all) or abs(base) or 1.0
        for yi, r in enumerate(ordered):
            lo_txt, hi_txt = _fmt_input(r["input_low"], r["unit"]), _fmt_input(r["input_high"], r["unit"])
            ax.text(hi_all + 0.03 * span, yi, f"{lo_txt} | {hi_txt}", va="center", fontsize=SMALL_SIZE - 0.5,
                    color="#555555")
            if r in carbon:
                same = r["verdict_low"] == r["verdict_high"] == r["verdict_base"]
                words = (f"cost unchanged; verdict stays '{verdicts.words(r['verdict_base'])}'" if same else
                         f"cost unchanged; verdict '{verdicts.words(r['verdict_low'])}' at the low price, "
                         f"'{verdicts.words(r['verdict_high'])}' at the high")
                ax.text(0.01, yi, words, va="center", ha="left", fontsize=SMALL_SIZE - 0.5, color="#333333",
                        transform=ax.get_yaxis_transform(), zorder=3,
                        bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none"})
                continue
            for key, colour in (("cost_per_tonne_low", low_c), ("cost_per_tonne_high", high_c)):
                v = r[key]
                if v is None:  # nothing abated at this end of the range: no cost per tonne exists
                    other = r["cost_per_tonne_high" if key.endswith("low") else "cost_per_tonne_low"]
                    ax.text(base, yi, "  no gain at this end  ", va="center",
                            ha="left" if other is not None and other < base else "right",
                            fontsize=SMALL_SIZE - 0.5, color=colour, fontweight="bold")
                    continue
                ax.barh(yi, v - base, left=base, height=0.6, color=colour, edgecolor="white", linewidth=0.5)
        ax.axvline(base, color=OKABE_ITO["black"], linewidth=1.0)
        ax.set_yticks(range(len(ordered)), [plain(r["input"]) for r in ordered], fontsize=TICK_SIZE - 0.5)
        ax.set_xlim(lo_all - 0.06 * span, hi_all + 0.32 * span)
        ax.set_ylim(-0.6, len(ordered) - 0.4)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
        ax.set_title(f"{option_label(p[0], names, n=60)}: base {base:,.0f} {cur}/{T_UNIT}", fontsize=LABEL_SIZE, loc="left",
                     fontweight="bold")
        if k == len(panels) - 1:
            ax.set_xlabel(xlabel, fontsize=LABEL_SIZE)
    fig.suptitle(title, fontsize=TITLE_SIZE, fontweight="bold", x=0.01, ha="left")
    fig.legend(handles=[Patch(color=low_c, label="input at its low value"),
                        Patch(color=high_c, label="input at its high value"),
                        Patch(facecolor="white", edgecolor="white", label="right: low | high values tried")],
               fontsize=SMALL_SIZE, frameon=False, loc="outside lower center", ncol=3)
    return fig


def _fmt_input(v, unit: str) -> str:
    f = _num(v, math.nan)
    if not math.isfinite(f):
        return "–"
    if unit == "× default":
        return f"×{f:g}"
    if unit.endswith("/kWh"):
        return f"{f:,.3f}"
    return f"{f:,.0f}" if abs(f) >= 10 else f"{f:,.2f}"


def _scorecard_rows(table) -> list[dict]:
    if isinstance(table, dict):
        table = table.get("rows", [])
    if isinstance(table, pd.DataFrame):
        table = table.to_dict(orient="records")
    return list(table or [])


def scorecard_pareto(table) -> Figure:
    """Base-model scorecard: weighted quality score (1–5) against energy per task (Wh, log
    scale); the Pareto front (not dominated on both) is joined and filled, models the
    engagement already uses are squares, alternatives circles."""
    rows = _scorecard_rows(table)
    title = "Base models: quality against energy per task"
    xlabel, ylabel = "Energy per task (Wh; log scale)", "Weighted score (1–5, higher is better)"
    rows = [r for r in rows if _num(r.get("kwh_per_task")) > 0]
    if not rows:
        return _empty(title, "No candidate models to compare", xlabel, ylabel)
    fig = new_figure(4.0)
    ax = fig.add_subplot()
    style_axes(ax, grid_axis="both")
    ax.set_xscale("log")
    wh = np.array([_num(r["kwh_per_task"]) * 1000 for r in rows])
    q = np.array([_num(r["weighted_score"]) for r in rows])
    front = sorted([(w, s) for w, s, r in zip(wh, q, rows) if r.get("pareto")])
    if front:
        fx, fy = zip(*front)
        ax.step(fx, fy, where="post", color=OKABE_ITO["bluish_green"], linewidth=1.4, zorder=2,
                label="Pareto front (best score for its energy)")
    for w, s, r in zip(wh, q, rows):
        used = bool(r.get("used_by"))
        on = bool(r.get("pareto"))
        ax.scatter([w], [s], s=52, marker="s" if used else "o", zorder=3,
                   facecolors=OKABE_ITO["bluish_green"] if on else "white",
                   edgecolors=OKABE_ITO["bluish_green"] if on else OKABE_ITO["grey"], linewidths=1.3)
    lo, hi = float(wh.min()), float(wh.max())
    ax.set_xlim(lo / 1.8, hi * 3.0)
    pad = max(0.15, 0.12 * (float(q.max()) - float(q.min())))
    ax.set_ylim(max(1.0, float(q.min()) - pad), min(5.0, float(q.max()) + pad))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xlabel(xlabel, fontsize=LABEL_SIZE)
    ax.set_ylabel(ylabel, fontsize=LABEL_SIZE)
    handles = [Line2D([], [], color=OKABE_ITO["bluish_green"], linewidth=1.4,
                                       label="Pareto front"),
               Line2D([], [], linestyle="none", marker="s", markerfacecolor="white",
                                       markeredgecolor="#555555", label="used by the engagement"),
               Line2D([], [], linestyle="none", marker="o", markerfacecolor="white",
                                       markeredgecolor="#555555", label="alternative"),
               Line2D([], [], linestyle="none", marker="o", markerfacecolor=OKABE_ITO["bluish_green"],
                                       markeredgecolor=OKABE_ITO["bluish_green"], label="on the front (filled)")]
    fig.legend(handles=handles, fontsize=SMALL_SIZE, frameon=False, loc="outside lower center", ncol=4)
    _title(ax, title)
    _label_points(fig, ax, wh, q, [str(r.get("id", "")) + ("" if r.get("scored", True) else " (not scored)")
                                   for r in rows])
    return fig
