"""report.xlsx: ``book`` is the framework (cells, styles, live formulas with their expected
values, the shared layout); ``sheets`` writes each sheet and assembles the workbook."""
from audit.deliverables.excel import disclosure_sheets  # noqa: F401 - registers its sheets in EXTRA_SHEETS
from audit.deliverables.excel.book import HEADER_ROW, OKABE_ITO, SHEETS
from audit.deliverables.excel.disclosure_sheets import DISCLOSURE_SHEETS
from audit.deliverables.excel.sheets import build_workbook, store_cached_values, write_excel

__all__ = ["DISCLOSURE_SHEETS", "HEADER_ROW", "OKABE_ITO", "SHEETS", "build_workbook", "store_cached_values", "write_excel"]
