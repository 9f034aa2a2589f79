"""The report's charts by name, rendered once per run to SVG text and shown as the same SVG
in report.html and in the notebooks.

Rendering a matplotlib figure costs more than building it (text layout: about 0.1 s of CPU
per chart here, with ``charts.figure_to_svg``'s single layout pass), so ``audit run`` renders
each chart once (``render_svgs``), writes them beside the hand-off for the notebook kernel,
and both report.html and the notebooks show those very SVGs (``ChartSVG`` displays in Jupyter
as an ``<img>`` with an SVG data URI, which survives the notebook pages' HTML sanitiser and
the report's notebook appendix).
"""
from __future__ import annotations

import base64
import contextlib
import gc
import html
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from matplotlib.figure import Figure

from audit.core.atomic import write_text
from audit.deliverables import charts, processmap

if TYPE_CHECKING:
    from audit.inventory.results import AuditResults

TORNADO_OPTIONS = 3  # the highest-ranked options in the sensitivity chart (the Excel sheet has them all)

#: Chart name -> the function that draws it from an AuditResults (the report's ten charts).
REPORT_CHARTS: dict[str, Callable[["AuditResults"], Figure]] = {
    "scope": charts.scope_bar,
    "stage": charts.stage_bar,
    "pareto": charts.hotspot_pareto,
    "kinds": charts.kind_split,
    "forecast": charts.forecast_lines,
    "macc": charts.macc,
    "effort_impact": charts.effort_impact,
    "tornado": lambda results: charts.tornado(results, top=TORNADO_OPTIONS),
    "scorecard": lambda results: charts.scorecard_pareto(results.analysis("scorecard")),
    "processmap": processmap.draw_process_map,
}

CHART_TITLES = {
    "scope": "Emissions by scope", "stage": "Emissions by pipeline stage", "pareto": "Hotspots",
    "kinds": "Generative AI against traditional production", "forecast": "Forecast",
    "macc": "Marginal abatement cost curve", "effort_impact": "Gain against effort",
    "tornado": "Cost per tonne: one input at a time", "scorecard": "Base-model scorecard",
    "processmap": "Process map",
}


def render_svg(name: str, results: "AuditResults") -> str:
    """One report chart as inline SVG text (``charts.figure_to_svg``: deterministic, no prolog)."""
    try:
        draw = REPORT_CHARTS[name]
    except KeyError:
        raise KeyError(f"unknown chart {name!r}; known: {', '.join(REPORT_CHARTS)}") from None
    return charts.figure_to_svg(draw(results))


def render_svgs(results: "AuditResults", names: list[str] | None = None) -> dict[str, str]:
    """The report's charts (all, or ``names``) as SVG text, each rendered once."""
    with paused_cyclic_gc():
        return {name: render_svg(name, results) for name in (names or list(REPORT_CHARTS))}


@contextlib.contextmanager
def paused_cyclic_gc() -> Iterator[None]:
    """Python's cyclic garbage collector paused while the charts are drawn, then one
    collection of the objects made meanwhile (generation 0).

    matplotlib builds tens of thousands of objects per chart, many in reference cycles
    (figure, axes, artists, transforms); the allocations alone set off collections, and
    now and then a full one that walks every object of the process (the audit's tables,
    the libraries: ~0.2 s of CPU here, more in ``audit run``) to find only the charts'
    own garbage. Reference counting still frees everything else as usual; the one
    collection at the end frees the figures' cycles. A caller that had switched the
    collector off finds it off."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
            gc.collect(0)


def write_svgs(svgs: dict[str, str], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, svg in svgs.items():
        write_text(folder / f"{name}.svg", svg)


def read_svgs(folder: Path) -> dict[str, str]:
    """Charts written by ``write_svgs`` (only the known names; anything else is ignored)."""
    return {name: (folder / f"{name}.svg").read_text(encoding="utf-8")
            for name in REPORT_CHARTS if (folder / f"{name}.svg").is_file()}


_VIEWBOX = re.compile(r'viewBox="[-\d.]+ [-\d.]+ ([\d.]+) [\d.]+"')


class ChartSVG:
    """A rendered chart for a notebook: shown as ``<img src="data:image/svg+xml;base64,…">``.
    An image element (not inline SVG markup) passes the sanitisers of the notebook pages and
    of the report's appendix, and nothing in it can run."""

    def __init__(self, svg: str, title: str = "chart"):
        self.svg = svg
        self.title = title

    def data_uri(self) -> str:
        return "data:image/svg+xml;base64," + base64.b64encode(self.svg.encode("utf-8")).decode("ascii")

    def width_px(self) -> int | None:
        """The figure's width in CSS pixels, from the SVG's viewBox (points, 72 per inch):
        ``figure_to_svg`` drops width and height so that the report can scale the chart."""
        box = _VIEWBOX.search(self.svg)
        return round(float(box.group(1)) * 96 / 72) if box else None

    def _repr_html_(self) -> str:
        width = self.width_px()
        size = f' width="{width}"' if width else ""
        return f'<img src="{self.data_uri()}" alt="{html.escape(self.title)}"{size}>'

    def __repr__(self) -> str:
        return f"<chart: {self.title}>"


def figure_display(fig: Figure, title: str = "chart") -> ChartSVG:
    """Any of the toolkit's figures, shown in a notebook the way the report's charts are."""
    return ChartSVG(charts.figure_to_svg(fig), title)
