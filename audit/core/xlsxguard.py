"""Checks on an .xlsx before openpyxl parses it: a zip bomb or a sheet of millions of rows is
refused in milliseconds, with a message naming the file and sheet.

Issue 17: a 580 KB ``intake.xlsx`` of 4 M one-cell rows took 98 s and 3.1 GB, then a
traceback; a 1,048,576-row intake took 214 s and 5.3 GB. An .xlsx is a zip of XML files.
``check_xlsx`` looks only at the zip's central directory (sizes and entry count, which bound
what ``zipfile`` will inflate: it stops at the declared size) and then streams the sheet's
XML, counting ``<row`` elements and stopping at the cap, so a bomb is never inflated in full.

Limits (keyword arguments, defaults below): entries in the zip, total uncompressed bytes,
compression ratio of any large entry, rows and columns of the sheet. The first four can be raised
(or lowered) without code: ``XLSX_LIMITS`` names the environment variable of each
(``AUDIT_MAX_XLSX_PARTS``, ``AUDIT_MAX_XLSX_BYTES``, ``AUDIT_MAX_XLSX_RATIO``, ``AUDIT_MAX_XLSX_ROWS``)
and the CLI flag that sets it (``--max-xlsx-rows`` ... on the commands that take ``--max-input-mb``).
"""
from __future__ import annotations

import os
import posixpath
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import defusedxml.ElementTree as ET

from audit.core.exceptions import Problem, ValidationError
from audit.core.identifiers import excerpt

ACTIVITIES_SHEET = "Activities"

MAX_ENTRIES = 1_000  # an intake workbook holds ~15 parts
MAX_UNCOMPRESSED_BYTES = 256 << 20  # 256 MiB of XML: ~100k rows of 20 columns is ~60 MiB
MAX_RATIO = 100  # XML compresses 5-20x; a bomb 1,000x and more
RATIO_MIN_BYTES = 1 << 20  # ratios of small parts (a 2 KB styles.xml at 50x) are not looked at
MAX_ROWS = 100_000  # activities in a workbook; larger tables belong in activities.csv or usage logs
MAX_COLUMNS = 64  # the activities table has ~20 columns
MAX_WORKBOOK_XML_BYTES = 1 << 20  # workbook.xml and its .rels, parsed to find the sheet


@dataclass(frozen=True)
class XlsxLimit:
    """One overridable cap: ``check_xlsx``'s keyword, its default, the environment variable that
    overrides it and the CLI flag that sets that variable (``flag_scale`` flag units per variable unit)."""

    keyword: str
    default: float
    env: str
    flag: str
    flag_help: str
    flag_scale: int = 1
    whole: bool = True  # a whole number (the ratio may be fractional)


XLSX_LIMITS = (
    XlsxLimit("max_rows", MAX_ROWS, "AUDIT_MAX_XLSX_ROWS", "--max-xlsx-rows",
              "Most activity rows read from intake.xlsx"),
    XlsxLimit("max_uncompressed_bytes", MAX_UNCOMPRESSED_BYTES, "AUDIT_MAX_XLSX_BYTES", "--max-xlsx-mb",
              "Most bytes intake.xlsx may unpack to, in MB", flag_scale=1 << 20),
    XlsxLimit("max_ratio", MAX_RATIO, "AUDIT_MAX_XLSX_RATIO", "--max-xlsx-ratio",
              "Most times larger than stored a part of intake.xlsx over 1 MiB may unpack (zip-bomb check)",
              whole=False),
    XlsxLimit("max_entries", MAX_ENTRIES, "AUDIT_MAX_XLSX_PARTS", "--max-xlsx-parts",
              "Most parts (zip entries) in intake.xlsx"),
)


def xlsx_limits() -> dict[str, float]:
    """The caps in force, by ``check_xlsx`` keyword: each limit's environment variable when set to a
    positive number (``_`` allowed as a digit separator), else its default."""
    out: dict[str, float] = {}
    for lim in XLSX_LIMITS:
        raw = os.environ.get(lim.env, "").strip().replace("_", "")
        try:
            value = float(raw) if raw else 0.0
        except ValueError:
            value = 0.0
        ok = value > 0 and value != float("inf") and (not lim.whole or value == int(value))
        out[lim.keyword] = (int(value) if lim.whole else value) if ok else lim.default
    return out


def _raise_hint(keyword: str) -> str:
    """How to raise the limit behind ``keyword``, for a refusal's hint."""
    lim = next(x for x in XLSX_LIMITS if x.keyword == keyword)
    unit = " (bytes)" if lim.flag_scale != 1 else ""
    return f"if the workbook is right, raise the limit: {lim.flag} N, or {lim.env}=N{unit}"

_MERGE = re.compile(rb"<(?:\w+:)?mergeCell\b[^>]*?\sref=\"([A-Z]{1,3}\d{1,7}(?::[A-Z]{1,3}\d{1,7})?)\"")
MAX_MERGED_LISTED = 1_000


@dataclass
class XlsxInfo:
    """What the check saw: the sheet's ``<row>`` elements and its merged ranges ("A2:B3"), so
    a caller that then opens the workbook with ``read_only=True`` (which has no
    ``merged_cells``) can still report merged cells. ``rows`` is None without a sheet."""

    rows: int | None = None
    merged: list[str] = field(default_factory=list)


_ROW = re.compile(rb"<(?:\w+:)?row[\s>/]")
_ROW_NUMBER = re.compile(rb"<(?:\w+:)?row\b[^>]*?\sr=\"(\d{1,10})\"")
_DIMENSION = re.compile(rb"<(?:\w+:)?dimension\b[^>]*?\sref=\"([A-Z]{1,3})?(\d{1,10})?(?::([A-Z]{1,3})(\d{1,10}))?\"")


def _column_number(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n


def _wide_cell_regex(max_columns: int) -> re.Pattern:
    """A regex matching a cell reference beyond column ``max_columns`` (``<c r="XFD1"``):
    every column name of more letters than the cap's, or the same length and sorting after."""
    def letters(n: int) -> str:
        s = ""
        while n:
            n, r = divmod(n - 1, 26)
            s = chr(65 + r) + s
        return s

    cap = letters(max_columns)
    alternatives = [f"[A-Z]{{{len(cap) + 1},3}}"] if len(cap) < 3 else []
    # Same length as cap, greater than it: common prefix, then a larger letter, then anything.
    for i, ch in enumerate(cap):
        if ch != "Z":
            rest = len(cap) - i - 1
            alternatives.append(re.escape(cap[:i]) + f"[{chr(ord(ch) + 1)}-Z]" + (f"[A-Z]{{{rest}}}" if rest else ""))
    return re.compile(rb"<(?:\w+:)?c\b[^>]*?\sr=\"(?:" + "|".join(alternatives).encode() + rb")\d")


def _refuse(file: str, message: str, sheet: str | None = None, row: int | None = None,
            hint: str | None = None) -> ValidationError:
    return ValidationError([Problem(file, message, sheet=sheet, row=row, hint=hint)])


def _sheet_part(zf: zipfile.ZipFile, file: str, sheet: str) -> str | None:
    """The zip member holding ``sheet`` (None when the workbook has no such sheet: openpyxl's
    reader then says which sheets it has)."""
    def small(name: str) -> bytes:
        info = zf.getinfo(name)
        if info.file_size > MAX_WORKBOOK_XML_BYTES:
            raise _refuse(file, f"part {excerpt(name, 60)} is {info.file_size:,} bytes; at most "
                          f"{MAX_WORKBOOK_XML_BYTES:,} expected", hint="save it again from Excel or LibreOffice")
        return zf.read(name)

    names = set(zf.namelist())
    if "xl/workbook.xml" not in names:
        raise _refuse(file, "is a zip file but not an Excel workbook (no xl/workbook.xml)",
                      hint="save it as .xlsx from Excel or LibreOffice")
    try:
        wb = ET.fromstring(small("xl/workbook.xml"))
        rels = ET.fromstring(small("xl/_rels/workbook.xml.rels")) if "xl/_rels/workbook.xml.rels" in names else None
    except Exception as exc:  # noqa: BLE001 - malformed XML, or an entity defusedxml refuses
        raise _refuse(file, f"has a damaged workbook part ({type(exc).__name__})",
                      hint="save it again from Excel or LibreOffice") from None
    rid = None
    for el in wb.iter():
        if el.tag.endswith("}sheet") and el.get("name") == sheet:
            rid = next((v for k, v in el.attrib.items() if k.endswith("}id")), None)
    if rid is None or rels is None:
        return None
    for el in rels:
        if el.get("Id") == rid:
            target = el.get("Target", "")
            part = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join("xl", target))
            return part if part in names else None
    return None


def check_xlsx(path, *, file: str | None = None, sheet: str | None = ACTIVITIES_SHEET,
               max_entries: int | None = None, max_uncompressed_bytes: int | None = None,
               max_ratio: float | None = None, max_rows: int | None = None, max_columns: int = MAX_COLUMNS) -> XlsxInfo:
    """Refuse an .xlsx that would be costly to parse; return what was seen (``XlsxInfo``)
    when openpyxl may read it. A cap left as None is the one in force (``xlsx_limits``: the
    environment's override, else the default).

    ``path``: a file (opened by ``zipfile``: give a resolved, regular file, see
    ``audit.core.safefiles``); ``file``: how messages name it (default ``str(path)``); ``sheet``:
    the worksheet whose rows and columns are capped (None: zip checks only). Raises
    ``ValidationError`` with one located ``Problem``."""
    file = file or str(path)
    limits = xlsx_limits()
    max_entries = limits["max_entries"] if max_entries is None else max_entries
    max_uncompressed_bytes = limits["max_uncompressed_bytes"] if max_uncompressed_bytes is None else max_uncompressed_bytes
    max_ratio = limits["max_ratio"] if max_ratio is None else max_ratio
    max_rows = limits["max_rows"] if max_rows is None else max_rows
    try:
        zf = zipfile.ZipFile(Path(path))
    except zipfile.BadZipFile:
        raise _refuse(file, "could not be opened as an Excel workbook (not a zip file)",
                      hint="save it as .xlsx from Excel or LibreOffice; .xls and .csv are not read here") from None
    except OSError as exc:
        raise _refuse(file, f"cannot be read ({exc.strerror or type(exc).__name__})") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > max_entries:
            raise _refuse(file, f"holds {len(infos):,} parts; an Excel workbook has far fewer (limit {max_entries:,})",
                          hint=_raise_hint("max_entries"))
        total = sum(i.file_size for i in infos)
        if total > max_uncompressed_bytes:
            raise _refuse(file, f"unpacks to {total:,} bytes, over the {max_uncompressed_bytes:,}-byte limit",
                          hint=f"an intake workbook holds at most {max_rows:,} activities; "
                          f"give larger tables as activities.csv; {_raise_hint('max_uncompressed_bytes')}")
        for i in infos:
            if i.file_size >= RATIO_MIN_BYTES and i.file_size > max_ratio * max(i.compress_size, 1):
                raise _refuse(file, f"part {excerpt(i.filename, 60)} unpacks {i.file_size / max(i.compress_size, 1):,.0f}"
                              f" times larger than it is stored (limit {max_ratio:g}x): a zip bomb or "
                              "millions of empty rows",
                              hint=f"delete the empty rows and save again; {_raise_hint('max_ratio')}")
        if sheet is None:
            return XlsxInfo()
        part = _sheet_part(zf, file, sheet)
        if part is None:
            return XlsxInfo()  # no such sheet: the reader's own message lists the sheets
        return _check_sheet_xml(zf, part, file, sheet, max_rows, max_columns)


def _check_sheet_xml(zf: zipfile.ZipFile, part: str, file: str, sheet: str, max_rows: int,
                     max_columns: int) -> XlsxInfo:
    """Stream the sheet's XML: the <dimension> it declares, rows counted and numbered, cells
    beyond the column cap; stop at the first thing over a cap."""
    wide = _wide_cell_regex(max_columns)
    rows = 0
    merged: list[str] = []
    tail = b""
    first = True
    col_hint = (f"a workbook holds at most {max_rows:,} rows and {max_columns} columns of activities; "
                "delete empty rows and columns, or give a large table as activities.csv")
    hint = f"{col_hint}; {_raise_hint('max_rows')}"
    with zf.open(part) as f:
        while True:
            block = f.read(1 << 20)
            if not block:
                break
            data = tail + block
            if first:
                first = False
                m = _DIMENSION.search(data[:8192])
                if m and m.group(4):
                    last_col, last_row = m.group(3).decode(), int(m.group(4))
                    if last_row > max_rows + 1:
                        raise _refuse(file, f"sheet declares {last_row:,} rows (to {last_col}{last_row}), over the "
                                      f"{max_rows:,}-row limit", sheet=sheet, hint=hint)
                    if _column_number(last_col) > max_columns:
                        raise _refuse(file, f"sheet declares columns up to {last_col}, over the {max_columns}-column "
                                      "limit", sheet=sheet, hint=col_hint)
            # Look at complete tags only: an unfinished tag at the end waits for the next block
            # (tags cannot hold '<', so each one is seen once, whole).
            lt = data.rfind(b"<")
            cut = len(data) if lt < 0 or data.find(b">", lt) >= 0 else lt
            if len(data) - cut > 1 << 16:
                raise _refuse(file, "sheet holds an XML tag over 64 KB long: a damaged or crafted file",
                              sheet=sheet, hint="save it again from Excel or LibreOffice")
            body = data[:cut]
            rows += len(_ROW.findall(body))
            numbers = _ROW_NUMBER.findall(body)
            if numbers and int(numbers[-1]) > max_rows + 1:
                raise _refuse(file, f"sheet has a row numbered {int(numbers[-1]):,}, past the {max_rows:,}-row limit",
                              sheet=sheet, row=int(numbers[-1]), hint=hint)
            if rows > max_rows + 1:
                raise _refuse(file, f"sheet has more than {max_rows:,} rows", sheet=sheet, hint=hint)
            w = wide.search(body)
            if w:
                ref = re.search(rb'r="([A-Z]+)(\d+)"', body[w.start():w.end() + 12])
                col, row = (ref.group(1).decode(), int(ref.group(2))) if ref else ("?", None)
                raise _refuse(file, f"sheet has a cell in column {col}, past the {max_columns}-column limit",
                              sheet=sheet, row=row, hint=col_hint)
            if len(merged) < MAX_MERGED_LISTED:
                merged += [m.decode() for m in _MERGE.findall(body)][: MAX_MERGED_LISTED - len(merged)]
            tail = data[cut:]
    rows += len(_ROW.findall(tail))
    if rows > max_rows + 1:
        raise _refuse(file, f"sheet has more than {max_rows:,} rows", sheet=sheet, hint=hint)
    return XlsxInfo(rows=rows, merged=merged)
