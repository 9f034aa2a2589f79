"""The Excel book framework: cell writers, number formats and styles, the ``Book`` that
writes tables with live formulas and remembers each formula's expected value, and the
``Layout`` every sheet shares. The sheets themselves are in audit.deliverables.excel.sheets.
"""
from __future__ import annotations

import math
import re
from copy import copy
from dataclasses import dataclass
from typing import Any

import pandas as pd
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Border, Font, NamedStyle, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.properties import PageSetupProperties
from openpyxl.worksheet.table import Table, TableStyleInfo

from audit.inventory.results import AuditResults

__all__ = ["write_excel", "build_workbook", "SHEETS"]

SHEETS = ("Summary", "Process map", "Activities", "Scopes", "Hotspots", "Forecast", "Feasibility", "Sensitivity",
          "Customisation", "Scorecard", "Precision per watt", "Routes", "Factors", "Prices", "Assumptions", "Data quality", "Method")

# Sheets added after SHEETS by modules of this package (function(book, layout)), in order:
# disclosure_sheets registers the GHG Protocol, ESRS E1-6/VSME B3 and ISO 14064-1 sheets.
EXTRA_SHEETS: list = []

HEADER_ROW = 6  # title block in rows 1-4, the first table's header here
MAX_ROW_LINES = 6  # taller wrapped text stays in the cell, scrolled
PARETO_TOP = 15  # activities shown in the Pareto chart (the table lists all)
MAX_CELL_CHARS = 32767  # Excel's limit for one cell

# Okabe & Ito (2008) colour-blind-safe palette, charts.PALETTE without '#' (kept here so writing a
# workbook does not import matplotlib; a test keeps the two equal).
OKABE_ITO = ("0072B2", "E69F00", "009E73", "D55E00", "56B4E9", "CC79A7", "F0E442", "999999")
INK, GREY, INPUT_BLUE = "1A1A1A", "595959", "0072B2"
# Scope colours as in the HTML report and the charts (charts.SCOPE_COLOURS; a test keeps them equal).
SCOPE_COLOURS = {1: "D55E00", 2: "0072B2", 3: "E69F00"}
WIDE_SHEET_COLUMNS = 16  # wider sheets print on A3 landscape, fitted to the page width


METHOD_EXPLANATIONS = {
    "ecologits_llm": ("Energy per request from EcoLogits 0.11.3: GPU energy grows with output tokens and the "
                      "model's active parameters, plus the server's non-GPU share and our prefill term for input "
                      "tokens, all times the data centre's PUE; times the number of requests. Emissions are that "
                      "energy times the grid intensity where it runs.", "audit/inventory/estimate.py: method_llm_api"),
    "production_llm": ("Energy per request from the production method (issue 15): accelerator energy per output "
                       "token grows with the model's effective parameters and per input token with its active "
                       "parameters, calibrated on measured production serving (ML.ENERGY v3, Google 2025); under "
                       "the serving boundary times host share, idle capacity and PUE. EcoLogits' figure is shown "
                       "beside it (ecologits_kwh). Emissions = energy × grid intensity.",
                       "audit/methods/llm.py; audit/inventory/estimate.py: method_llm_api"),
    "measured_power_llm": ("Measured power × latency per request × PUE, times requests; then energy × grid "
                           "intensity.", "audit/inventory/estimate.py: method_llm_api"),
    "supplier_specific": ("The provider's own disclosed figure (engagement.yaml supplier_factors) with its "
                          "source, boundary and year, times requests.", "audit/inventory/estimate.py: "
                                                                         "_apply_supplier_factors"),
    "image_by_model": ("Published energy per image of the named model at its reference resolution and steps, "
                       "scaled by steps (linear plus a fixed part) and pixels (exponent 0.6), times host share, "
                       "idle capacity and PUE under the serving boundary; then energy × grid intensity.",
                       "audit/inventory/estimate.py: method_image_generation"),
    "image_proxy": ("A hosted image model with no disclosure, priced as a documented model class (PROXY, data "
                    "quality 5).", "audit/inventory/estimate.py: method_image_generation"),
    "image_measured": ("Measured power × latency per image × PUE, times images.",
                       "audit/inventory/estimate.py: method_image_generation"),
    "image_generic_fallback": ("FALLBACK: one generic energy per image from Power Hungry Processing (Luccioni et "
                               "al. 2024), used when the model is unknown; times PUE and images.",
                               "audit/inventory/estimate.py: method_image_generation"),
    "image_per_image": ("Energy per generated image from Power Hungry Processing (Luccioni et al. 2024), or the "
                        "measured power × latency when given, times PUE and the number of images; then energy × "
                        "grid intensity.", "audit/inventory/estimate.py: method_image_generation"),
    "ecologits_video": ("EcoLogits video model: server time per second of video from the model's latency "
                        "regression, times server power and PUE; then energy × grid intensity.",
                        "audit/inventory/estimate.py: method_video_generation"),
    "accelerator_hours": ("GPU hours × average power (measured, or TDP × utilisation) / 1000 × PUE gives kWh; "
                          "then kWh × grid intensity.", "audit/inventory/estimate.py: method_gpu_compute"),
    "ccf_cpu": ("Cloud Carbon Footprint: vCPU hours × power between idle and full load at the utilisation "
                "used, / 1000 × PUE; then kWh × grid intensity.", "audit/inventory/estimate.py: method_cpu_compute"),
    "ccf_storage": ("Cloud Carbon Footprint: TB-months × 730.485 hours × kWh per TB-hour (SSD or HDD, "
                    "replication included) × PUE; then kWh × grid intensity.", "audit/inventory/estimate.py: method_storage"),
    "ccf_network": ("Cloud Carbon Footprint: GB transferred × kWh per GB × PUE; then kWh × grid intensity.",
                    "audit/inventory/estimate.py: method_data_transfer"),
    "metered": ("Metered electricity used as billed; emissions = kWh × grid intensity.",
                "audit/inventory/estimate.py: method_electricity"),
    "conversion_factor": ("The activity quantity (litres, passenger-km, room-nights, tonne-km) times the DESNZ "
                          "conversion factor. Live formula in Activities.",
                          "audit/inventory/estimate.py: method_conversion_factor"),
    "upstream_wtt": ("Well-to-tank: emissions from producing and delivering the fuel or electricity (DESNZ WTT "
                     "factor) times the parent line's quantity, or its kWh for electricity. Live formula.",
                     "audit/inventory/estimate.py: _upstream_lines"),
    "upstream_td": ("Transmission and distribution losses of UK grid electricity: the parent line's kWh × the "
                    "DESNZ T&D factor. Live formula.", "audit/inventory/estimate.py: _upstream_lines"),
    "upstream_wtt_td": ("Well-to-tank emissions of the T&D losses: the parent line's kWh × the DESNZ factor. "
                        "Live formula.", "audit/inventory/estimate.py: _upstream_lines"),
}
ENERGY_FORMULA = "kgCO2e = kWh × gCO2e_per_kWh / 1000"


# --- cells ---------------------------------------------------------------------------------

def put_text(cell, value: Any) -> None:
    """Store ``value`` as a TEXT cell, never a formula (formula-injection guard).

    openpyxl turns any string starting with ``=`` into a formula; forcing ``data_type``
    to ``'s'`` after assignment keeps client text such as ``=HYPERLINK(…)``, ``+1+1``,
    ``-2+3`` or ``@SUM(A1)`` inert. Characters XML cannot hold are replaced by U+FFFD; a
    carriage return becomes a line feed (XML parsers would do so anyway, so this keeps
    the stored value what a reader gets back); text is cut at Excel's 32,767 characters.
    """
    s = "" if value is None else str(value)
    s = ILLEGAL_CHARACTERS_RE.sub("\ufffd", s.replace("\r\n", "\n").replace("\r", "\n"))
    if len(s) > MAX_CELL_CHARS:
        s = s[:MAX_CELL_CHARS - 1] + "…"
    cell.value = s
    cell.data_type = "s"


@dataclass(frozen=True)
class Formula:
    """A formula built here from cell references, with the Python value it must equal."""

    formula: str
    expected: float


def as_number(v: Any) -> float | int | None:
    if v is None or v is pd.NA:
        return None
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


SIG_DIGITS = 6  # factor values and input quantities: DESNZ publishes 5 significant digits


def _sig_format(v: Any, digits: int = SIG_DIGITS) -> str:
    """A number format that shows ``v`` with about ``digits`` significant digits:
    integers with thousands separators, 1.1665e-06 in scientific notation, 0.61101 and
    2.57082 with every published digit (a fixed ``0.00`` would show 0.00 and 2.57)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v == 0:
        return "#,##0"
    a = abs(v)
    if a < 1e-4 or a >= 1e12:
        return "0.0" + "#" * (digits - 2) + "E+00"
    if float(v).is_integer():
        return "#,##0"
    decimals = max(1, digits - 1 - math.floor(math.log10(a)))
    return "#,##0.0" + "#" * (decimals - 1)


# --- styles ----------------------------------------------------------------------------------

FORMATS = {  # key -> (number format, horizontal alignment, wrap)
    "text": ("@", "left", False),
    "wrap": ("@", "left", True),
    "kg": ("#,##0.0", "right", False),
    "kg3": ("#,##0.000", "right", False),
    "t": ("#,##0.00", "right", False),
    # kWh: zero as 0, small values with 3 decimals (an LLM line's 0.062 kWh is not "0.1"),
    # the rest with thousands separators and one decimal.
    "kwh": ("[=0]0;[<10]#,##0.000;#,##0.0", "right", False),
    "dec1": ("#,##0.0", "right", False),
    "precise": ("#,##0.0#####", "right", False),
    # significant digits: the number format is chosen per cell from its value (_sig_format),
    # so 1.1665e-6 shows as 1.1665E-06 and 2.57082 keeps every digit.
    "sig": ("General", "right", False),
    # measurements (the run's own footprint, Wh or g): one fixed format whatever the value, so the
    # cell is identical from run to run; tiny values in scientific notation.
    "meas": ("[<0.01]0.00E+00;[<10]0.000;#,##0.0", "right", False),
    "int": ("#,##0", "right", False),
    "plain": ("0", "right", False),
    "pct": ("0.0%", "right", False),
    "money": ("#,##0", "right", False),
    "score": ("0.00", "right", False),
    "bool": ("General", "center", False),
}


def _register_styles(wb: Workbook) -> None:
    """Named styles, registered once per workbook. Numbers come in two colours, the
    spreadsheet-audit convention: blue = a value written by the estimator, black = a
    live formula."""
    thin = Side(style="thin", color="BFBFBF")
    styles = [
        NamedStyle("Audit Title", font=Font(name="Calibri", size=16, bold=True, color=INK)),
        NamedStyle("Audit Subtitle", font=Font(name="Calibri", size=11, bold=True, color=GREY)),
        NamedStyle("Audit Note", font=Font(name="Calibri", size=10, italic=True, color=GREY),
                   alignment=Alignment(wrap_text=False, vertical="top")),
        NamedStyle("Audit Section", font=Font(name="Calibri", size=13, bold=True, color=INPUT_BLUE)),
        NamedStyle("Audit Header", font=Font(name="Calibri", size=10, bold=True, color="FFFFFF"),
                   fill=PatternFill("solid", fgColor="0072B2"),
                   alignment=Alignment(wrap_text=True, vertical="center", horizontal="center"),
                   border=Border(bottom=thin)),
    ]
    for key, (fmt, horiz, wrap) in FORMATS.items():
        align = Alignment(horizontal=horiz, vertical="top", wrap_text=wrap, indent=1 if horiz == "left" else 0)
        styles.append(NamedStyle(f"Audit {key}", font=Font(name="Calibri", size=10, color=INK),
                                 number_format=fmt, alignment=align))
        if key not in ("text", "wrap", "bool"):
            styles.append(NamedStyle(f"Audit {key} value", font=Font(name="Calibri", size=10, color=INPUT_BLUE),
                                     number_format=fmt, alignment=align))
            styles.append(NamedStyle(f"Audit {key} total", font=Font(name="Calibri", size=10, bold=True, color=INK),
                                     number_format=fmt, alignment=align,
                                     border=Border(top=Side(style="thin", color=INK),
                                                   bottom=Side(style="double", color=INK))))
    styles.append(NamedStyle("Audit label total", font=Font(name="Calibri", size=10, bold=True, color=INK),
                             border=Border(top=Side(style="thin", color=INK), bottom=Side(style="double", color=INK))))
    styles.append(NamedStyle("Audit stage", font=Font(name="Calibri", size=10, bold=True, color=INK),
                             fill=PatternFill("solid", fgColor="E6F1F8"), alignment=Alignment(vertical="top")))
    for st in styles:
        wb.add_named_style(st)


# --- the writer ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Col:
    header: str
    fmt: str = "text"
    width: float = 12


class Book:
    def __init__(self, results: AuditResults):
        self.r = results
        self.eng = results.engagement
        self.wb = Workbook()
        self.expected: dict[tuple[str, str], float] = {}
        self._style_arrays: dict[str, Any] = {}
        _register_styles(self.wb)
        self._style_names: list[str] = self.wb.named_styles
        self.wb.remove(self.wb.active)
        self.ws = {name: self.wb.create_sheet(name) for name in SHEETS}
        self._table_names: set[str] = set()
        self._widths: dict[str, dict[str, float]] = {name: {} for name in SHEETS}
        self.lines = results.lines.reset_index(drop=True)
        self.total_kg = float(self.lines["kgco2e"].sum())

    def add_sheet(self, name: str):
        """A sheet after the SHEETS ones (for EXTRA_SHEETS), with the same layout bookkeeping."""
        self.ws[name] = self.wb.create_sheet(name)
        self._widths[name] = {}
        return self.ws[name]

    # cells
    def style(self, cell, name: str) -> None:
        """``cell.style = name``, with openpyxl's lookup done once per style name: openpyxl finds a
        named style by rebuilding the list of every style's name on each assignment (about a
        third of the workbook's build time here). The first assignment of a name goes through
        openpyxl; later ones copy the resulting style record, so the file is the same."""
        record = self._style_arrays.get(name)
        if record is None:
            cell.style = name
            self._style_arrays[name] = copy(cell._style)  # noqa: SLF001 - openpyxl's per-cell style record
        else:
            cell._style = copy(record)  # noqa: SLF001 - the record openpyxl itself assigns for this name

    def style_name(self, cell) -> str:
        """``cell.style`` (the cell's named style), without openpyxl rebuilding the list of every
        style's name on each read: the list is kept, and read again only for a style added
        since (openpyxl adds a built-in style the first time a cell uses it)."""
        record = cell._style  # noqa: SLF001 - openpyxl's per-cell style record (None: never styled)
        index = record.xfId if record else 0  # 0: "Normal", what openpyxl reads for an unstyled cell
        if index >= len(self._style_names):
            self._style_names = self.wb.named_styles
        return self._style_names[index]

    @staticmethod
    def cells(ws):
        """The sheet's cells that exist, by (row, column). ``ws.iter_rows`` would create every
        empty cell of the used range first (half of the workbook's cells here), which openpyxl
        then carries through the save as empty ``<row>`` elements."""
        return ws._cells.items()  # noqa: SLF001 - openpyxl's cell store: {(row, column): cell}

    def put(self, ws, row: int, col: int, value: Any, fmt: str = "text", total: bool = False):
        cell = ws.cell(row=row, column=col)
        if isinstance(value, Formula):
            cell.value = value.formula
            if not value.formula.startswith("="):
                raise ValueError(f"not a formula: {value.formula!r}")
            self.expected[(ws.title, cell.coordinate)] = float(value.expected)
            self.style(cell, f"Audit {fmt} total" if total and fmt not in ("text", "wrap", "bool") else f"Audit {fmt}")
        elif isinstance(value, str):
            put_text(cell, value)
            self.style(cell, "Audit label total" if total else f"Audit {'wrap' if fmt == 'wrap' else 'text'}")
        elif isinstance(value, bool):
            cell.value = value
            self.style(cell, "Audit bool")
        else:
            v = as_number(value)
            cell.value = v
            if fmt in ("text", "wrap", "bool"):
                self.style(cell, f"Audit {fmt}")
            elif total:
                self.style(cell, f"Audit {fmt} total")
            else:
                self.style(cell, f"Audit {fmt} value")
        return cell

    def title_block(self, ws, title: str, note: str = "") -> None:
        c = ws.cell(row=1, column=1)
        put_text(c, title)
        self.style(c, "Audit Title")
        c = ws.cell(row=2, column=1)
        put_text(c, self.eng.client)
        self.style(c, "Audit Subtitle")
        c = ws.cell(row=3, column=1)
        put_text(c, f"Reporting period: {self.eng.period}  ·  Factor set: {self.r.factor_set}")
        self.style(c, "Audit Note")
        if note:
            c = ws.cell(row=4, column=1)
            put_text(c, note)
            self.style(c, "Audit Note")
        ws.sheet_view.showGridLines = False

    def table(self, ws, top: int, cols: list[Col], rows: list[list[Any]], name: str, left: int = 1) -> int:
        """Header at ``top``, rows below; an Excel table when there are rows. Returns the last row."""
        for j, col in enumerate(cols):
            c = ws.cell(row=top, column=left + j)
            put_text(c, col.header)
            self.style(c, "Audit Header")
            self.width(ws, left + j, col.width)
        for i, row in enumerate(rows):
            if len(row) != len(cols):
                raise ValueError(f"{name}: row {i} has {len(row)} values for {len(cols)} columns")
            for j, (v, col) in enumerate(zip(row, cols)):
                self.put(ws, top + 1 + i, left + j, v, col.fmt)
        last = top + len(rows)
        if rows:
            if name in self._table_names:
                raise ValueError(f"duplicate table name {name}")
            self._table_names.add(name)
            ref = f"{get_column_letter(left)}{top}:{get_column_letter(left + len(cols) - 1)}{last}"
            t = Table(displayName=name, ref=ref)
            t.tableStyleInfo = TableStyleInfo(name="TableStyleLight1", showRowStripes=True, showColumnStripes=False)
            ws.add_table(t)
        header_lines = max(math.ceil(len(c.header) / max(1.0, self._widths[ws.title][get_column_letter(left + j)] - 1))
                           for j, c in enumerate(cols))
        ws.row_dimensions[top].height = max(ws.row_dimensions[top].height or 0, 13 * max(2, header_lines) + 4)
        return last

    def width(self, ws, col: int, width: float) -> None:
        w = self._widths[ws.title]
        letter = get_column_letter(col)
        w[letter] = max(w.get(letter, 0), width)

    def section(self, ws, row: int, title: str, col: int = 1) -> None:
        c = ws.cell(row=row, column=col)
        put_text(c, title)
        self.style(c, "Audit Section")

    def finish_sheet(self, ws, freeze_col: str = "A", print_titles: bool = True, paper: str = "A4") -> None:
        """Column widths, row heights for wrapped text, frozen header, print setup."""
        widths = self._widths[ws.title]
        widths.setdefault("A", 14)
        for letter, w in widths.items():
            ws.column_dimensions[letter].width = w
        lines: dict[int, int] = {}  # row -> the most lines a wrapped text cell needs
        for (row, _), c in self.cells(ws):
            if row > HEADER_ROW and isinstance(c.value, str) and c.data_type == "s" and c.alignment.wrap_text:
                per_line = max(1, int(widths.get(c.column_letter, 13) * 1.3))
                n = sum(max(1, math.ceil(len(p) / per_line)) for p in c.value.split("\n"))
                lines[row] = max(lines.get(row, 1), n)
        for row, n in sorted(lines.items()):
            if n > 1:
                ws.row_dimensions[row].height = min(13.5 * n + 2, 13.5 * MAX_ROW_LINES + 2)
        ws.freeze_panes = f"{freeze_col}{HEADER_ROW + 1}"
        if print_titles:
            ws.print_title_rows = f"{HEADER_ROW}:{HEADER_ROW}"
        ws.page_setup.orientation = "landscape"
        wide = paper == "A3" or ws.max_column > WIDE_SHEET_COLUMNS
        ws.page_setup.paperSize = ws.PAPERSIZE_A3 if wide else ws.PAPERSIZE_A4
        ws.print_area = f"A1:{get_column_letter(max(ws.max_column, 1))}{max(ws.max_row, 1)}"
        ws.page_setup.fitToWidth = 1
        ws.page_setup.fitToHeight = 0
        ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
        ws.print_options.gridLines = False
        ws.page_margins.left = ws.page_margins.right = 0.5
        ws.oddFooter.left.text = "&A"
        ws.oddFooter.right.text = "Page &P of &N"

    def empty_sheet(self, ws, why: str) -> None:
        """A sheet with nothing to show: say why under the title, and finish it."""
        self.none_note(ws, HEADER_ROW, why)
        self.finish_sheet(ws)

    def none_note(self, ws, row: int, text: str, col: int = 1) -> None:
        c = ws.cell(row=row, column=col)
        put_text(c, text)
        self.style(c, "Audit Note")

    # layout helpers for the sheets that call them (call before finish_sheet)
    def autofit(self, ws, first_col: int, last_col: int, first_row: int = HEADER_ROW + 1,
                last_row: int | None = None, cap: float = 48) -> None:
        """Widen columns to their longest value (never narrower than declared). Text longer
        than ``cap`` wraps instead of being cut off; numbers always fit (no '####')."""
        last_row = last_row or ws.max_row
        for col in range(first_col, last_col + 1):
            need, long_cells = 0.0, []
            for row in range(first_row, last_row + 1):
                c = ws.cell(row=row, column=col)
                style = self.style_name(c)
                if style == "Audit wrap":  # wraps within its declared width
                    continue
                w = self._display_width(ws, c)
                if w > cap and style == "Audit text":
                    long_cells.append(c)
                need = max(need, w)
            self.width(ws, col, min(need, cap))
            for c in long_cells:  # keep the cell's style and indent, only wrap it
                a = c.alignment
                c.alignment = Alignment(horizontal=a.horizontal, vertical=a.vertical, indent=a.indent, wrap_text=True)

    def _display_width(self, ws, c) -> float:
        """Rough width in Excel column units (Calibri 10 and LibreOffice's wider fallback)."""
        v = c.value
        if isinstance(v, str) and c.data_type == "s":
            return max((len(p) for p in v.split("\n")), default=0) * 1.1 + 2
        if isinstance(v, str):  # a formula: its value
            v = self.expected.get((ws.title, c.coordinate))
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return 0.0
        fmt = c.number_format or "General"
        if "%" in fmt:
            text = f"{v * 100:.1f}%"
        elif "E+" in fmt or fmt == "General":
            text = f"{v:.6g}"
        else:
            section = fmt.split(";")[-1]
            decimals = len(re.sub(r"[^0#]", "", section.split(".", 1)[1])) if "." in section else 0
            text = f"{v:,.{decimals}f}"
        return len(text) * 1.1 + 2

    def total_rule(self, ws, row: int, first_col: int, last_col: int) -> None:
        """Carry a total row's rules across the whole table width (empty cells too)."""
        for col in range(first_col, last_col + 1):
            c = ws.cell(row=row, column=col)
            if c.value is None:
                self.style(c, "Audit label total")

    def apply_sig_formats(self) -> None:
        """Per-cell number formats for the ``sig`` cells (see _sig_format)."""
        for ws in self.wb.worksheets:
            for _, c in self.cells(ws):
                if c.value is not None and self.style_name(c) in ("Audit sig", "Audit sig value", "Audit sig total"):
                    v = self.expected.get((ws.title, c.coordinate)) if c.data_type == "f" else c.value
                    c.number_format = _sig_format(v)


class Layout:
    """Row and column addresses other sheets' formulas point at."""

    def __init__(self, book: Book):
        n_f = len(book.r.factors)
        self.f_first, self.f_last = HEADER_ROW + 1, HEADER_ROW + max(n_f, 1)
        cols = list(book.r.factors.columns)
        self.f_id = get_column_letter(cols.index("factor_id") + 1)
        self.f_val = get_column_letter(cols.index("value") + 1)
        n_l = len(book.lines)
        self.a_first, self.a_last = HEADER_ROW + 1, HEADER_ROW + max(n_l, 1)
        self.a_total = self.a_last + 1

    def factor_lookup(self, id_cell: str) -> str:
        return (f"INDEX(Factors!${self.f_val}${self.f_first}:${self.f_val}${self.f_last},"
                f"MATCH({id_cell},Factors!${self.f_id}${self.f_first}:${self.f_id}${self.f_last},0))")

    def act(self, letter: str) -> str:
        """Absolute range of one Activities column over the data rows."""
        return f"Activities!${letter}${self.a_first}:${letter}${self.a_last}"
