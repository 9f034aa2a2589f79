"""The client intake workbook: ``intake.xlsx`` a client can fill in without the toolkit.

Sheets: *Instructions*, *Activities* (header on row 1, dropdowns for kind, unit, ownership
and region, example rows) and a hidden *Lists* sheet feeding the dropdowns. Reading it
back rejects what hand-filled spreadsheets get wrong — a missing sheet, formulas where
values belong, merged cells — with the sheet, row and column of each problem.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
from openpyxl import Workbook, load_workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter, quote_sheetname
from openpyxl.worksheet.cell_range import CellRange
from openpyxl.worksheet.datavalidation import DataValidation

from audit.core.atomic import atomic_path
from audit.core.exceptions import Problem, ValidationError
from audit.core.identifiers import excerpt
from audit.core.safefiles import resolve_input
from audit.core.xlsxguard import check_xlsx
from audit.core.models import ALL_COLUMNS, EXAMPLE_ROWS, REQUIRED_COLUMNS, Kind, Ownership
from audit.reference.factors import cloud_regions
from audit.reference.scopes import kinds_table
from audit.inventory.usage_import.aliases import model_catalogue
from audit.reference.vocabularies import hardware_ids, known_countries, modes_by_kind, suggest

ACTIVITIES_SHEET = "Activities"
MAX_ROWS = 2000  # rows carrying dropdowns; the reader accepts any number

COLUMN_HELP = {
    "activity_id": "Unique id, e.g. PRO-01", "stage": "Pipeline stage, e.g. Production",
    "description": "What happened", "kind": "Pick from the list", "quantity": "Amount, in the unit",
    "unit": "Pick the kind's unit (others such as MWh or miles also work)",
    "region": "Country (ISO-3) or provider:region", "provider": "e.g. openai, aws", "model": "e.g. gpt-4o-mini",
    "hardware": "GPU model, e.g. nvidia-a100-sxm", "ownership": "Who owns the emitting thing",
    "power_w": "Average watts per device", "utilisation": "0-1", "pue": "Data-centre PUE, >= 1",
    "carbon_intensity_g_per_kwh": "Override grid intensity", "input_tokens": "Per request",
    "output_tokens": "Per request", "latency_s": "Seconds per request", "mode": "Travel/fuel/freight subtype",
    "accepted_fraction": "Share of generations kept, 0-1", "data_quality": "1 measured ... 5 spend-based",
    "notes": "Free text",
    "client_brand": "Brand client it is for (optional)",
}



def _lists() -> dict[str, list[str]]:
    kt = kinds_table()
    return {
        "kind": [k.value for k in Kind],
        "unit": sorted(set(kt["base_unit"])) + ["MWh", "passenger_mile", "vehicle_km", "imperial_gallon", "TB", "video_minute", "credits"],
        "ownership": [o.value for o in Ownership],
        "region": sorted(known_countries()) + sorted(cloud_regions()),
        "mode": sorted({m for modes in modes_by_kind().values() for m in modes}),
        "hardware": hardware_ids(),
    }


def write_intake_workbook(path: Path, client: str = "", example_rows: list[dict] | None = None) -> Path:
    """Write the intake template (atomically) and return its path."""
    wb = Workbook()
    ins = wb.active
    ins.title = "Instructions"
    lines = [
        ("Activity intake", Font(bold=True, size=14)),
        (f"Client: {client}" if client else "Client:", None),
        ("1. Fill one row per activity on the 'Activities' sheet; keep the header row as it is.", None),
        ("2. Use the dropdowns for kind, unit, ownership, region, mode and hardware. Other units pint understands "
         "also work.", None),
        ("   The 'Models' sheet lists every LLM the toolkit knows, with its size: filter it (Data > Filter) to "
         "search; or give a size such as 70B.", None),
        ("3. Type values, not formulas, and do not merge cells: the toolkit rejects both, naming the cell.", None),
        ("4. Leave optional cells blank for the default. Example rows show typical entries; replace them.", None),
        ("Columns:", Font(bold=True)),
    ]
    for i, (text, font) in enumerate(lines, start=1):
        c = ins.cell(row=i, column=1)
        _text(c, text)
        if font:
            c.font = font
    for j, col in enumerate(ALL_COLUMNS, start=len(lines) + 1):
        _text(ins.cell(row=j, column=1), col)
        _text(ins.cell(row=j, column=2), ("required: " if col in REQUIRED_COLUMNS else "") + COLUMN_HELP.get(col, ""))
    ins.column_dimensions["A"].width = 28
    ins.column_dimensions["B"].width = 90

    lists = wb.create_sheet("Lists")
    lists.sheet_state = "hidden"
    ranges = {}
    for j, (name, values) in enumerate(_lists().items(), start=1):
        _text(lists.cell(row=1, column=j), name)
        for i, v in enumerate(values, start=2):
            _text(lists.cell(row=i, column=j), v)
        letter = get_column_letter(j)
        ranges[name] = f"{quote_sheetname('Lists')}!${letter}$2:${letter}${len(values) + 1}"

    ws = wb.create_sheet(ACTIVITIES_SHEET)
    header_fill = PatternFill("solid", fgColor="0072B2")
    for j, col in enumerate(ALL_COLUMNS, start=1):
        c = ws.cell(row=1, column=j)
        _text(c, col)
        c.font = Font(bold=True, color="FFFFFF")
        c.fill = header_fill
        c.alignment = Alignment(horizontal="center")
        ws.column_dimensions[get_column_letter(j)].width = max(12, len(col) + 2)
    ws.column_dimensions[get_column_letter(ALL_COLUMNS.index("description") + 1)].width = 40
    ws.freeze_panes = "A2"
    for i, row in enumerate(example_rows if example_rows is not None else EXAMPLE_ROWS, start=2):
        for j, col in enumerate(ALL_COLUMNS, start=1):
            v = row.get(col, "")
            if v in ("", None):
                continue
            c = ws.cell(row=i, column=j)
            if col in ("quantity", "power_w", "utilisation", "pue", "carbon_intensity_g_per_kwh", "input_tokens",
                       "output_tokens", "latency_s", "accepted_fraction", "data_quality"):
                c.value = float(v)
            else:
                _text(c, str(v))
    for name in ("kind", "unit", "ownership", "region", "mode", "hardware"):
        letter = get_column_letter(ALL_COLUMNS.index(name) + 1)
        dv = DataValidation(type="list", formula1=ranges[name], allow_blank=True,
                            showErrorMessage=name in ("kind", "ownership"),
                            errorTitle=f"Unknown {name}", error=f"Pick a {name} from the list")
        dv.add(f"{letter}2:{letter}{MAX_ROWS}")
        ws.add_data_validation(dv)
    _models_sheet(wb)
    wb.active = wb.sheetnames.index(ACTIVITIES_SHEET)
    with atomic_path(path) as tmp:
        wb.save(tmp)
    return Path(path)


def _models_sheet(wb: Workbook) -> None:
    """A visible 'Models' sheet: every LLM (provider, model, parameters, spellings read as it),
    with a filter on the header so a consultant can search it in Excel."""
    ms = wb.create_sheet("Models")
    cat = model_catalogue()
    for j, col in enumerate(cat.columns, start=1):
        c = ms.cell(row=1, column=j)
        _text(c, col)
        c.font = Font(bold=True)
        ms.column_dimensions[get_column_letter(j)].width = 60 if col == "also_read" else 28
    for i, row in enumerate(cat.itertuples(index=False), start=2):
        for j, v in enumerate(row, start=1):
            _text(ms.cell(row=i, column=j), str(v))
    ms.auto_filter.ref = f"A1:{get_column_letter(len(cat.columns))}{len(cat) + 1}"
    ms.freeze_panes = "A2"


def _text(cell, value: str) -> None:
    """Store client-facing text as text, never as a formula (even if it starts with '=')."""
    cell.value = value
    cell.data_type = "s"


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value) if not value.is_integer() else str(int(value)) if abs(value) < 1e15 else repr(value)
    return str(value)


def read_intake_workbook(path: Path) -> tuple[pd.DataFrame, str]:
    """Read the Activities sheet as strings, like the CSV reader. The table's index holds
    the worksheet row numbers, so messages point at the right row even past blank rows."""
    name = str(path)
    # Inside the engagement folder and a regular file; then the zip-bomb and sheet-size caps
    # before openpyxl parses anything (a 580 KB workbook of 4 M rows took 98 s and 3.1 GB).
    real = resolve_input(path, Path(path).parent, what="intake workbook")
    info = check_xlsx(real, file=name, sheet=ACTIVITIES_SHEET)
    try:
        wb = load_workbook(real, read_only=True, data_only=False)  # formulas visible as formulas; streamed
    except Exception as exc:  # noqa: BLE001 - zip/XML errors from a damaged or mislabelled file
        raise ValidationError([Problem(name, f"could not be opened as an Excel workbook ({type(exc).__name__})",
                                       hint="save it as .xlsx from Excel or LibreOffice")]) from None
    if ACTIVITIES_SHEET not in wb.sheetnames:
        raise ValidationError([Problem(name, f"sheet '{ACTIVITIES_SHEET}' is missing", sheet=ACTIVITIES_SHEET,
                                       hint=suggest(ACTIVITIES_SHEET, wb.sheetnames) or
                                       f"sheets found: {', '.join(wb.sheetnames)}")])
    ws = wb[ACTIVITIES_SHEET]
    problems: list[Problem] = []
    rows = list(ws.iter_rows(values_only=False))
    if not rows:
        raise ValidationError([Problem(name, "sheet is empty", sheet=ACTIVITIES_SHEET)])
    header = [_cell_text(c.value).strip() for c in rows[0]]
    while header and header[-1] == "":
        header.pop()
    for rng in (CellRange(coord) for coord in info.merged):  # read-only sheets do not list merges: the guard does
        problems.append(Problem(name, f"merged cells {rng.coord}: unmerge them and fill each cell",
                                sheet=ACTIVITIES_SHEET, row=rng.min_row,
                                column=header[rng.min_col - 1] if rng.min_col - 1 < len(header) else get_column_letter(rng.min_col)))
    data, numbers = [], []
    for r in rows[1:]:
        values = []
        for j, c in enumerate(r[: len(header)]):
            if c.data_type == "f" or (isinstance(c.value, str) and c.value.startswith("=") and c.data_type != "s"):
                problems.append(Problem(name, f"cell {c.coordinate} holds a formula ({excerpt(c.value, 40)}); type the value",
                                        sheet=ACTIVITIES_SHEET, row=c.row, column=header[j] or get_column_letter(j + 1)))
                values.append("")
            else:
                values.append(_cell_text(c.value))
        if any(v.strip() for v in values):
            values += [""] * (len(header) - len(values))
            data.append(values)
            numbers.append(r[0].row)
    if problems:
        raise ValidationError(problems)
    return pd.DataFrame(data, columns=header, index=numbers, dtype=str), ACTIVITIES_SHEET
