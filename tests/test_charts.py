"""Charts and the process map: every figure is a pyplot-free Figure with units on its axes."""
from __future__ import annotations

import copy
import io

import matplotlib
import networkx as nx
import pytest
from matplotlib.figure import Figure

from audit.deliverables import charts, figures, processmap
from audit.core.paths import SAMPLE_ENGAGEMENT_DIR

UNITS = ("tCO2e", "kWh", "Wh", "%")


def _sample_results():
    """The sample engagement's results; without feasibility if that step is not available."""
    try:
        from audit.orchestration.pipeline import audit_engagement
        return audit_engagement(SAMPLE_ENGAGEMENT_DIR)
    except ImportError:
        from audit.inventory.estimate import estimate
        from audit.inventory.intake import load_engagement
        from audit.inventory.results import from_estimate
        loaded = load_engagement(SAMPLE_ENGAGEMENT_DIR)
        return from_estimate(estimate(loaded), loaded.warnings)


@pytest.fixture(scope="module")
def base():
    return _sample_results()


@pytest.fixture
def results(base):
    r = copy.copy(base)
    r.interventions = [
        {"id": "INT-01", "name": "Renders in a low-carbon region", "abated_kgco2e_per_year": 900.0,
         "cost_per_tonne": -40.0, "verdict": "recommended"},
        {"id": "INT-02", "name": "Rail instead of flights", "abated_kgco2e_per_year": 3000.0,
         "cost_per_tonne": 60.0, "verdict": "recommended"},
        {"id": "INT-03", "name": "Local crew", "abated_kgco2e_per_year": 2500.0, "cost_per_tonne": 220.0,
         "verdict": "consider"},
    ]
    r.forecast = [{"year": 2025 + i, "bau_kgco2e": 13000.0 * 1.1 ** i, "plan_kgco2e": 13000.0 * (1 - 0.1 * i)}
                  for i in range(4)]
    return r


def _axis_labels(fig: Figure) -> list[str]:
    out = []
    for ax in fig.axes:
        out += [ax.get_xlabel(), ax.get_ylabel()]
    return [t for t in out if t]


CHARTS = ["scope_bar", "stage_bar", "hotspot_pareto", "kind_split", "forecast_lines", "macc", "effort_impact",
          "tornado"]


@pytest.mark.parametrize("name", CHARTS)
def test_chart_is_figure_with_units(results, name):
    fig = getattr(charts, name)(results)
    assert isinstance(fig, Figure)
    labels = _axis_labels(fig)
    assert labels, f"{name}: no axis labels"
    assert any(u in t for t in labels for u in UNITS), f"{name}: no unit in {labels}"
    assert any(ax.get_title(loc="left") for ax in fig.axes), f"{name}: no title"
    svg = charts.figure_to_svg(fig)
    assert svg.startswith("<svg") and "<?xml" not in svg and "<!DOCTYPE" not in svg
    assert "http://" not in svg.replace("http://www.w3.org/", "")


@pytest.mark.parametrize("name", CHARTS)
def test_chart_with_pipeline_feasibility(base, name):
    """Whatever the feasibility step produced (wide cost ranges use a symlog axis)."""
    fig = getattr(charts, name)(base)
    assert any(u in t for t in _axis_labels(fig) for u in UNITS)
    assert "<?xml" not in charts.figure_to_svg(fig)


@pytest.mark.parametrize("name", ["forecast_lines", "macc", "effort_impact", "tornado"])
def test_empty_feasibility_says_so(base, name):
    r = copy.copy(base)
    r.interventions, r.forecast = [], []
    r.extras = {k: v for k, v in base.extras.items() if k != "sensitivity"}
    fig = getattr(charts, name)(r)
    texts = " ".join(t.get_text() for ax in fig.axes for t in ax.texts)
    assert "No " in texts
    assert any(u in t for t in _axis_labels(fig) for u in UNITS)


def test_scope_bar_marks_market_based(results):
    fig = charts.scope_bar(results)
    ticks = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert any("market-based" in t and "not added to total" in t for t in ticks)
    legend_text = [t.get_text() for leg in fig.legends for t in leg.get_texts()]
    assert "Scope 2 market-based, not added to total" in legend_text


def test_png_data_uri(results):
    uri = charts.figure_to_png_data_uri(charts.stage_bar(results))
    assert uri.startswith("data:image/png;base64,iVBOR")


def test_svg_is_deterministic(results):
    assert charts.figure_to_svg(charts.stage_bar(results)) == charts.figure_to_svg(charts.stage_bar(results))


def _savefig_svg(fig: Figure) -> str:
    """What figure_to_svg must equal: matplotlib's own savefig with the same settings."""
    buf = io.StringIO()
    with matplotlib.rc_context(charts.SVG_RC):
        fig.savefig(buf, format="svg", metadata=charts.SVG_METADATA, facecolor="white")
    return charts.inline_svg(buf.getvalue())


@pytest.mark.parametrize("name", list(figures.REPORT_CHARTS))
def test_figure_to_svg_is_savefigs_bytes(base, results, name):
    """The one-renderer export writes savefig's very bytes for each report chart, on the
    sample's own results and on the fixture's options (the labelled scatter charts too)."""
    draw = figures.REPORT_CHARTS[name]
    for r in (base, results):
        assert charts.figure_to_svg(draw(r)) == _savefig_svg(draw(r)), name


def test_figure_to_svg_is_savefigs_bytes_for_other_figures(base):
    """Empty charts, a figure without a layout engine, a mathtext label, a tight layout
    (exported three times over, beside savefig on a twin), a figure exported twice (the
    export restores the figure's layout engine, dpi, face and canvas)."""
    r = copy.copy(base)
    r.interventions, r.forecast = [], []

    def plain_fig():
        fig = Figure(figsize=(3, 2))
        fig.add_subplot().set_title(r"$\alpha$ of the grid, 12 tCO2e")
        return fig

    def tight_fig():  # tight layout moves on from its last result: compare fresh figures
        fig = Figure(figsize=(3, 2), layout="tight")
        fig.add_subplot().set_ylabel("kWh per request, a long label")
        return fig

    for make in (lambda: charts.macc(r), lambda: charts.forecast_lines(r), plain_fig, tight_fig):
        assert charts.figure_to_svg(make()) == _savefig_svg(make())
    ours, twin = tight_fig(), tight_fig()
    assert [charts.figure_to_svg(ours) == _savefig_svg(twin) for _ in range(3)] == [True] * 3
    fig = charts.stage_bar(base)
    dpi, face, canvas, engine = fig.dpi, fig.get_facecolor(), fig.canvas, fig.get_layout_engine()
    first = charts.figure_to_svg(fig)
    assert (fig.dpi, fig.get_facecolor(), fig.canvas, fig.get_layout_engine()) == (dpi, face, canvas, engine)
    assert charts.figure_to_svg(fig) == first == _savefig_svg(fig)


def test_svg_text_measured_once_follows_the_fonts(base):
    """The per-process text measurements are keyed by the generic font lists too: a notebook
    that switches fonts gets the new font's widths, exactly as savefig would draw them."""
    with matplotlib.rc_context({"font.sans-serif": ["DejaVu Sans Mono"]}):
        mono = charts.figure_to_svg(charts.stage_bar(base))
        assert mono == _savefig_svg(charts.stage_bar(base))
    assert mono != charts.figure_to_svg(charts.stage_bar(base))


def test_no_pyplot_figures_leak(results):
    import sys
    for name in CHARTS:
        getattr(charts, name)(results)
    processmap.draw_process_map(results)
    if "matplotlib.pyplot" in sys.modules:
        assert sys.modules["matplotlib.pyplot"].get_fignums() == []


def test_process_map_graph_structure(base):
    stages = list(base.engagement.stages)
    g = processmap.build_graph(base.lines, stages)
    assert isinstance(g, nx.DiGraph)
    parents = base.lines[base.lines["derived_from"] == ""]
    n_s, n_a = len(stages), parents["activity_id"].nunique()
    assert g.number_of_nodes() == 1 + n_s + n_a
    # engagement -> each stage, stage chain, stage -> each activity
    assert g.number_of_edges() == n_s + (n_s - 1) + n_a
    assert g.nodes[processmap.ENGAGEMENT_NODE]["kind"] == "engagement"
    assert set(g.successors(processmap.ENGAGEMENT_NODE)) == {processmap.stage_node(s) for s in stages}
    for a, b in zip(stages, stages[1:]):
        assert g.has_edge(processmap.stage_node(a), processmap.stage_node(b))
    for row in parents.itertuples():
        assert g.has_edge(processmap.stage_node(row.stage), row.activity_id)
        assert g.nodes[row.activity_id]["kind"] == row.kind
        assert g.nodes[row.activity_id]["scope"] == int(row.scope)
    # derived lines are folded into their parent, so nothing is lost
    assert not any("~" in n for n in g.nodes)
    total = sum(d["kgco2e"] for _, d in g.nodes(data=True) if d["kind"] not in ("engagement", "stage"))
    assert total == pytest.approx(base.totals["kgco2e"])
    assert g.nodes[processmap.ENGAGEMENT_NODE]["kgco2e"] == pytest.approx(base.totals["kgco2e"])
    ide04 = base.lines[(base.lines["activity_id"] == "IDE-04") | (base.lines["derived_from"] == "IDE-04")]
    assert g.nodes["IDE-04"]["kgco2e"] == pytest.approx(ide04["kgco2e"].sum())


def test_process_map_accepts_raw_activities():
    import pandas as pd
    acts = pd.DataFrame({"activity_id": ["A", "B", "C"], "stage": ["One", "Two", "Extra"],
                         "kind": ["llm_api", "travel", "fuel"], "description": ["a", "b", "c"]})
    g = processmap.build_graph(acts, ["One", "Two"])
    assert g.has_edge("stage:Two", "stage:Extra")  # unknown stage appended at the end
    assert g.number_of_edges() == 3 + 2 + 3
    assert g.nodes["A"]["kgco2e"] == 0.0 and g.nodes["A"]["scope"] is None


def test_process_map_folds_small_activities_and_keeps_text_legible(base):
    """A usage log's many activities fold into one "N more" node per stage; no text is smaller
    than MAP_TEXT_PT points, so the map stays legible when printed (the figure prints at its size)."""
    fig = processmap.draw_process_map(base)
    texts = [t for ax in fig.axes for t in ax.texts] + [t for leg in fig.legends for t in leg.get_texts()]
    assert min(t.get_fontsize() for t in texts) >= processmap.MAP_TEXT_PT >= 7
    assert any("more\nactivities" in t.get_text() for t in texts)
    assert fig.get_size_inches()[0] <= charts.A4_WIDTH_IN + 0.5
    assert fig.get_size_inches()[1] <= 10


def test_draw_process_map(results):
    fig = processmap.draw_process_map(results)
    assert isinstance(fig, Figure)
    texts = " ".join(t.get_text() for t in fig.axes[0].texts)
    assert "PRO-01" in texts and "Production" in texts
    assert "<?xml" not in charts.figure_to_svg(fig)


def test_client_text_in_charts_is_escaped_and_not_mathtext(base):
    r = copy.copy(base)
    lines = base.lines.copy()
    largest = lines["kgco2e"].idxmax()  # drawn on the map (small activities are folded into "N more")
    lines.loc[largest, "description"] = "$5 <script>alert(1)</script> and $x^2$"
    lines.loc[lines["stage"] == "Ideation", "stage"] = "Idea & <b>"
    r.lines = lines
    svg = charts.figure_to_svg(processmap.draw_process_map(r)) + charts.figure_to_svg(charts.stage_bar(r))
    assert "<script" not in svg and "<b>" not in svg
    assert "&lt;script&gt;" in svg and "$5" in svg


# --- feasibility charts: the geometry is the maths ----------------------------------------------

def test_macc_bars_cheapest_first(base):
    fig = charts.macc(base)
    bars = [p for p in fig.axes[0].patches if p.get_width() > 0]
    lefts = [b.get_x() for b in bars]
    heights = [b.get_height() for b in bars]
    assert lefts == sorted(lefts) and heights == sorted(heights)
    priced = sorted((i for i in base.interventions if (i["cost_per_tonne"] is not None
                     and i["abated_kgco2e_per_year"] > 0)), key=lambda i: i["cost_per_tonne"])
    assert heights == pytest.approx([i["cost_per_tonne"] for i in priced])
    assert [b.get_width() for b in bars] == pytest.approx([i["abated_kgco2e_per_year"] / 1000 for i in priced])


def test_effort_impact_quadrant_lines_and_points(base):
    fig = charts.effort_impact(base)
    ax = fig.axes[0]
    th = base.extras["effort_impact"]
    vlines = [l.get_xdata()[0] for l in ax.lines if l.get_xdata()[0] == l.get_xdata()[1]]
    hlines = [l.get_ydata()[0] for l in ax.lines if l.get_ydata()[0] == l.get_ydata()[1]]
    assert th["effort_person_days"] in vlines
    assert th["impact_kgco2e_per_year"] / 1000 == pytest.approx(hlines[0])
    shown = [i for i in base.interventions if i["abated_kgco2e_per_year"] > 0]
    offsets = sorted(tuple(map(float, c.get_offsets()[0])) for c in ax.collections)
    expect = sorted((i["effort_person_days"], i["abated_kgco2e_per_year"] / 1000) for i in shown)
    assert [x for x, _ in offsets] == pytest.approx([x for x, _ in expect])
    assert [y for _, y in offsets] == pytest.approx([y for _, y in expect])
    labels = {t.get_text() for t in ax.texts}
    assert {charts.option_label(i, n=30) for i in shown} <= labels  # names, never ids
    assert not {i["id"] for i in shown} & labels
    assert {"Quick wins", "Major projects", "Small easy tasks", "Thankless tasks"} <= labels
    # each point sits in the quadrant the feasibility step assigned
    for i in shown:
        right = i["effort_person_days"] > th["effort_person_days"]
        above = i["abated_kgco2e_per_year"] >= th["impact_kgco2e_per_year"]
        assert i["quadrant"] == {(False, True): "quick win", (True, True): "major project",
                                 (False, False): "fill-in", (True, False): "thankless task"}[(right, above)]


def test_tornado_bars_start_at_the_base_and_mirror_for_linear_inputs(base):
    fig = charts.tornado(base, top=3)
    rows = base.extras["sensitivity"]
    ids = list(dict.fromkeys(r["id"] for r in rows))[:3]
    assert len(fig.axes) == len(ids)
    for ax, mid in zip(fig.axes, ids):
        p = [r for r in rows if r["id"] == mid]
        base_cost = p[0]["cost_per_tonne_base"]
        bars = [b for b in ax.patches if b.get_width() != 0]
        assert all(b.get_x() == pytest.approx(base_cost) for b in bars)
        ticks = [t.get_text() for t in ax.get_yticklabels()]
        day = next(i for i, t in enumerate(ticks) if t.startswith("Day rate"))
        widths = sorted(b.get_width() for b in bars if abs(b.get_y() + b.get_height() / 2 - day) < 1e-9)
        assert len(widths) == 2 and widths[0] == pytest.approx(-widths[1], rel=1e-9)
        assert ticks[0].startswith("Carbon price")


def test_scorecard_pareto_front(base):
    table = base.extras["scorecard"]
    fig = charts.scorecard_pareto(table)
    ax = fig.axes[0]
    front = sorted((r["kwh_per_task"] * 1000, r["weighted_score"]) for r in table["rows"] if r["pareto"])
    step = ax.lines[0]
    assert list(step.get_xdata()) == pytest.approx([f[0] for f in front])
    assert list(step.get_ydata()) == pytest.approx([f[1] for f in front])
    filled = [c for c in ax.collections if c.get_facecolors()[0][:3].tolist() != [1.0, 1.0, 1.0]]
    assert len(filled) == len(front)
    assert charts.scorecard_pareto(table["rows"]).axes  # a bare list of rows works too
    empty = charts.scorecard_pareto({"rows": []})
    assert "No candidate" in " ".join(t.get_text() for a in empty.axes for t in a.texts)
    assert "Wh" in empty.axes[0].get_xlabel()


def test_usage_by_hour_plots_the_by_hour_records():
    """Bars: annual-factor kgCO2e per UTC hour; lines: the hour-aware figure and the annual
    figure of the same requests, only where an hourly profile covers them (gaps elsewhere)."""
    import math

    import numpy as np

    from audit.inventory.usage import estimate_usage, synthetic_log

    log = synthetic_log(2_000, seed=4)
    hour = log["timestamp"].dt.hour
    log["region"] = np.where(hour < 12, "FRA", "USA")
    log = log[hour != 5]  # an hour without requests
    usage = estimate_usage(log, progress=False)
    fig = charts.usage_by_hour(usage)
    ax = fig.axes[0]
    records = {r["hour"]: r for r in usage.by_hour}
    assert [b.get_height() for b in ax.patches] == [records[h]["kgco2e"] if h in records else 0.0
                                                    for h in range(24)]
    hourly, same = (list(line.get_ydata()) for line in ax.get_lines())
    for h in range(24):
        r = records.get(h)
        if r is None or r["kgco2e_hourly"] is None:
            assert math.isnan(hourly[h]) and math.isnan(same[h]) and h >= 5
        else:
            assert (hourly[h], same[h]) == (r["kgco2e_hourly"], r["kgco2e_annual_same_requests"]) and h < 12
    assert "Hour-aware, FRA requests (sensitivity)" in [t.get_text() for t in fig.legends[0].get_texts()]
    assert usage.to_json_dict()["by_hour_utc"] == usage.by_hour


def test_usage_by_hour_without_requests_says_so():
    from audit.inventory.usage import estimate_usage, synthetic_log

    usage = estimate_usage(synthetic_log(10, seed=1), progress=False)
    usage.groups = usage.groups.iloc[:0]
    fig = charts.usage_by_hour(usage)
    assert any("No requests" in t.get_text() for t in fig.findobj(lambda o: hasattr(o, "get_text")))


def test_render_svgs_pauses_the_cyclic_gc_and_restores_it(base, monkeypatch):
    """The collector is off while the charts are drawn, on again afterwards (also when a
    chart fails), and left off for a caller that had switched it off; the figures'
    reference cycles are collected at the end, not left to the next full collection."""
    import gc
    import weakref

    seen, figs = [], []

    def draw(results):
        seen.append(gc.isenabled())
        fig = charts.stage_bar(results)
        figs.append(weakref.ref(fig))
        return fig

    monkeypatch.setitem(figures.REPORT_CHARTS, "stage", draw)
    assert gc.isenabled()
    svgs = figures.render_svgs(base, ["stage", "scope"])
    assert seen == [False] and gc.isenabled() and svgs["stage"].startswith("<svg")
    assert figs[0]() is None  # the figure (a web of cycles) is already freed

    def broken(results):
        raise RuntimeError("chart failed")

    monkeypatch.setitem(figures.REPORT_CHARTS, "scope", broken)
    with pytest.raises(RuntimeError, match="chart failed"):
        figures.render_svgs(base, ["scope"])
    assert gc.isenabled()
    gc.disable()
    try:
        figures.render_svgs(base, ["stage"])
        assert not gc.isenabled()
    finally:
        gc.enable()
