"""The content pipeline as a process map: engagement → stages (in order) → activities.

Graph structure (``build_graph``)::

    engagement ──contains──▶ every stage            (S edges)
    stage[i]   ──next──────▶ stage[i+1]             (S − 1 edges, the production order)
    stage      ──contains──▶ each of its activities (A edges)

Derived lines (well-to-tank, T&D: ``derived_from`` != '') are not nodes; their emissions
are added to the parent activity, so each node carries the activity's full footprint.
"""
from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

import networkx as nx
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from audit.deliverables import numbers
from audit.deliverables.charts import (
    OKABE_ITO, SCOPE_COLOURS, SCOPE_NAMES, TITLE_SIZE, new_figure, plain, short_label,
)

if TYPE_CHECKING:  # pragma: no cover
    from audit.inventory.results import AuditResults

ENGAGEMENT_NODE = "engagement"


def stage_node(stage: str) -> str:
    return f"stage:{stage}"


def _fold_derived(df: pd.DataFrame) -> pd.DataFrame:
    """One row per activity; derived lines' kgco2e (and bounds) added to their parent."""
    df = df.copy()
    if "derived_from" not in df:
        df["derived_from"] = ""
    df["derived_from"] = df["derived_from"].fillna("").astype(str)
    for col in ("kgco2e", "kgco2e_low", "kgco2e_high"):
        if col not in df:
            df[col] = 0.0
        df[col] = pd.to_numeric(df[col], errors="coerce").fillna(0.0)
    derived = df[df["derived_from"] != ""]
    parents = df[df["derived_from"] == ""].drop_duplicates("activity_id").set_index("activity_id")
    if len(derived):
        add = derived.groupby("derived_from")[["kgco2e", "kgco2e_low", "kgco2e_high"]].sum()
        add = add.reindex(parents.index).fillna(0.0)
        parents[["kgco2e", "kgco2e_low", "kgco2e_high"]] += add.to_numpy()
    return parents.reset_index()


def build_graph(lines_or_activities_df: pd.DataFrame, stages: list[str]) -> nx.DiGraph:
    """Directed graph of the engagement. Accepts the results' ``lines`` or a raw activity
    table (no emissions yet: kgco2e 0, scope None). Stages found in the data but missing
    from ``stages`` are appended in order of first appearance."""
    acts = _fold_derived(lines_or_activities_df)
    order = [s for s in stages]
    for s in acts["stage"].astype(str):
        if s not in order:
            order.append(s)
    g = nx.DiGraph()
    g.add_node(ENGAGEMENT_NODE, kind="engagement", kgco2e=float(acts["kgco2e"].sum()), scope=None,
               label="Engagement")
    for i, stage in enumerate(order):
        sub = acts[acts["stage"].astype(str) == stage]
        g.add_node(stage_node(stage), kind="stage", kgco2e=float(sub["kgco2e"].sum()), scope=None, label=stage,
                   order=i)
        g.add_edge(ENGAGEMENT_NODE, stage_node(stage), relation="contains")
        if i:
            g.add_edge(stage_node(order[i - 1]), stage_node(stage), relation="next")
    for row in acts.itertuples(index=False):
        scope = getattr(row, "scope", None)
        scope = None if scope is None or pd.isna(scope) else int(scope)
        g.add_node(str(row.activity_id), kind=str(row.kind), kgco2e=float(row.kgco2e),
                   kgco2e_low=float(row.kgco2e_low), kgco2e_high=float(row.kgco2e_high), scope=scope,
                   stage=str(row.stage), description=str(getattr(row, "description", "")),
                   label=str(row.activity_id))
        g.add_edge(stage_node(str(row.stage)), str(row.activity_id), relation="contains")
    return g


MAP_ACTIVITIES_PER_STAGE = 5  # the largest activities of each stage; the rest are folded into one node
MAP_TEXT_PT = 7.5  # smallest text on the map: legible when printed at A4 text width (the figure is 7 in wide)


def draw_process_map(results: "AuditResults", per_stage: int = MAP_ACTIVITIES_PER_STAGE) -> Figure:
    """Stages as columns left→right (production order) with their largest ``per_stage`` activities
    below (the rest folded into one "N more" node, so a usage log with hundreds of activities
    keeps the map legible); circle area ∝ emissions, colour = scope. No text below
    ``MAP_TEXT_PT`` points at the figure's printed size."""
    g = build_graph(results.lines, list(results.engagement.stages))
    stages = sorted((n for n, d in g.nodes(data=True) if d["kind"] == "stage"), key=lambda n: g.nodes[n]["order"])
    columns = {s: sorted(g.successors(s), key=lambda a: -g.nodes[a]["kgco2e"]) for s in stages}
    columns = {s: [a for a in acts if not a.startswith("stage:")] for s, acts in columns.items()}
    folded: dict[str, tuple[int, float]] = {}
    for s, acts in columns.items():
        if len(acts) > per_stage:
            rest = acts[per_stage - 1:]
            folded[s] = (len(rest), sum(g.nodes[a]["kgco2e"] for a in rest))
            columns[s] = acts[:per_stage - 1]
    rows = max([len(v) + (s in folded) for s, v in columns.items()] + [1])
    ncol = max(len(stages), 1)
    width = 7.0
    fig = new_figure(height=1.7 + 0.95 * rows, width=width)
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.set_xlim(-0.15, ncol - 0.05)
    ax.set_ylim(-rows - 0.75, 1.0)
    kg_max = max([g.nodes[a]["kgco2e"] for acts in columns.values() for a in acts] + [1e-9])
    chars = max(int(90 / ncol), 10)  # label width that fits a column at this font size
    for ci, s in enumerate(stages):
        data = g.nodes[s]
        ax.text(ci + 0.42, 0.55, plain(short_label(data["label"], chars)), ha="center", va="center", fontsize=MAP_TEXT_PT + 1,
                fontweight="bold", bbox={"boxstyle": "round,pad=0.35", "facecolor": "#eeeeee",
                                         "edgecolor": "#777777", "linewidth": 0.6})
        ax.text(ci + 0.42, 0.12, numbers.mass(data['kgco2e']), ha="center", va="center",
                fontsize=MAP_TEXT_PT, color="#333333")
        if ci:
            ax.annotate("", xy=(ci - 0.02, 0.55), xytext=(ci - 0.14, 0.55),
                        arrowprops={"arrowstyle": "-|>", "color": "#555555", "linewidth": 0.8})
        acts = columns[s]
        n_nodes = len(acts) + (s in folded)
        if n_nodes:
            ax.plot([ci, ci], [-0.15, -n_nodes], color="#bbbbbb", linewidth=0.8, zorder=1)
        for ri, a in enumerate(acts):
            d = g.nodes[a]
            y = -(ri + 1)
            size = 10 + 300 * np.sqrt(max(d["kgco2e"], 0.0) / kg_max)
            colour = SCOPE_COLOURS.get(d["scope"], OKABE_ITO["grey"])
            ax.scatter([ci], [y], s=size, color=colour, edgecolors="#333333", linewidths=0.5, zorder=3)
            ax.text(ci + 0.15, y + 0.2, plain(a), fontsize=MAP_TEXT_PT, fontweight="bold", va="center", zorder=4)
            desc = textwrap.wrap(str(d["description"]), chars)
            desc = "\n".join(desc[:2]) + ("…" if len(desc) > 2 else "")
            ax.text(ci + 0.15, y + 0.03, f"{plain(desc)}\n{numbers.mass(d['kgco2e'])}",
                    fontsize=MAP_TEXT_PT, va="top", color="#333333", zorder=4, linespacing=1.1)
        if s in folded:
            n, kg = folded[s]
            y = -(len(acts) + 1)
            ax.scatter([ci], [y], s=10 + 300 * np.sqrt(max(kg, 0.0) / kg_max), color=OKABE_ITO["grey"],
                       edgecolors="#333333", linewidths=0.5, zorder=3)
            ax.text(ci + 0.15, y + 0.03, f"{n} more\nactivities\n{numbers.mass(kg)}", fontsize=MAP_TEXT_PT,
                    va="top", color="#333333", zorder=4, linespacing=1.1)
    handles = [Line2D([], [], marker="o", linestyle="", markersize=7, markerfacecolor=c, markeredgecolor="#333333",
                      label=SCOPE_NAMES[sc]) for sc, c in SCOPE_COLOURS.items()]
    fig.legend(handles=handles, loc="outside lower center", ncol=3, fontsize=MAP_TEXT_PT,
               frameon=False, title="Circle area is proportional to the activity's emissions (incl. upstream)",
               title_fontsize=MAP_TEXT_PT)
    ax.set_title("Process map: emissions along the content pipeline", fontsize=TITLE_SIZE, loc="left",
                 fontweight="bold")
    return fig
