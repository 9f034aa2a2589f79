"""What a text input really is, said in the message: UTF-16 with or without a BOM, UTF-32,
Windows-1252, a zip/Excel/Parquet/gzip file under a .csv name, an empty (0-byte) file, or a
log with a header and no requests (issue 17: these printed raw NUL bytes, "EmptyDataError",
or blamed engagement.yaml).

* ``detect_encoding(head)``: a name for the first bytes of a file ("UTF-16 LE (no BOM)"...).
* ``decode_text(raw, file=...)``: UTF-8 (BOM allowed) text, or a ``ValidationError`` naming
  the encoding found and the line of the first bad byte.
* ``oversized_cells(df, file=...)``: a ``Problem`` per cell over ``MAX_CELL_CHARS``.
* ``log_file_problem(path, file=...)``: a ``Problem`` for an empty, header-only, mis-encoded
  or mislabelled usage log (CSV or Parquet), else None; reads at most ``HEAD_BYTES`` of a CSV.
"""
from __future__ import annotations

import codecs
import os
from pathlib import Path

from audit.core.exceptions import Problem, ValidationError

HEAD_BYTES = 1 << 16
MAX_CELL_CHARS = 10_000  # a description or note; a 4 MB cell is a paste gone wrong
MAX_CELL_CHARS_ENV = "AUDIT_MAX_CELL_CHARS"  # override (audit validate/estimate/run/batch --max-cell-chars)
RESAVE = "re-save it as 'CSV UTF-8': in Excel, File > Save As > CSV UTF-8"

_SIGNATURES = (
    (b"PK\x03\x04", "a zip file (an Excel .xlsx workbook?)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Excel .xls (or other Office) file"),
    (b"PAR1", "a Parquet file"),
    (b"\x1f\x8b", "gzip-compressed"),
    (b"%PDF", "a PDF document"),
)
_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32 LE"), (codecs.BOM_UTF32_BE, "UTF-32 BE"),
    (codecs.BOM_UTF8, "UTF-8"), (codecs.BOM_UTF16_LE, "UTF-16 LE"), (codecs.BOM_UTF16_BE, "UTF-16 BE"),
)


def detect_encoding(head: bytes) -> str:
    """A name for what ``head`` (a file's first bytes) is: "UTF-8", "UTF-16 LE (no BOM)",
    "Windows-1252 or Latin-1", "a Parquet file", "binary (NUL bytes)"... Heuristic without a
    BOM: ASCII text in UTF-16 has a NUL in every other byte, in UTF-32 three in every four."""
    for sig, name in _SIGNATURES:
        if head.startswith(sig):
            return name
    for bom, name in _BOMS:
        if head.startswith(bom):
            return f"{name} with a BOM" if name != "UTF-8" else "UTF-8"
    sample = head[:4096]
    if b"\x00" in sample:
        n = len(sample) - len(sample) % 4
        if n >= 4:
            quads = [sample[i:i + 4] for i in range(0, n, 4)]
            if sum(q[1:] == b"\0\0\0" for q in quads) > 0.6 * len(quads):
                return "UTF-32 LE (no BOM)"
            if sum(q[:3] == b"\0\0\0" for q in quads) > 0.6 * len(quads):
                return "UTF-32 BE (no BOM)"
        even, odd = sample[0::2], sample[1::2]
        if odd and odd.count(0) > 0.4 * len(odd) and even.count(0) < 0.05 * len(even):
            return "UTF-16 LE (no BOM)"
        if even and even.count(0) > 0.4 * len(even) and odd.count(0) < 0.05 * len(odd):
            return "UTF-16 BE (no BOM)"
        return "binary (NUL bytes)"
    try:
        sample.decode("utf-8")
        return "UTF-8"
    except UnicodeDecodeError as e:
        if e.start >= len(sample) - 3 and len(sample) == 4096:
            return "UTF-8"  # a character cut by the sample's end
    try:
        sample.decode("cp1252")
        return "Windows-1252 or Latin-1"
    except UnicodeDecodeError:
        return "an 8-bit encoding other than UTF-8"


def _encoding_problem(file: str, raw: bytes, complete: bool) -> Problem | None:
    name = detect_encoding(raw[:HEAD_BYTES])
    if name == "UTF-8":
        data = raw if complete else raw[: len(raw) - 3]
        try:
            data.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            line = raw[: e.start].count(b"\n") + 1
            return Problem(file, f"is not UTF-8 text (bad byte 0x{raw[e.start]:02x})", row=line, hint=RESAVE)
        nul = data.find(b"\x00")
        if nul >= 0:
            return Problem(file, "contains a NUL byte", row=raw[:nul].count(b"\n") + 1, hint=RESAVE)
        return None
    if name.startswith(("a ", "an old", "gzip")):
        return Problem(file, f"is {name}, not a CSV text file", hint="give the file in the format its name says")
    if name.startswith("binary"):
        return Problem(file, "is not text: it contains NUL bytes", row=raw[: raw.find(b'\x00')].count(b"\n") + 1,
                       hint=RESAVE)
    first_bad = next((i for i, b in enumerate(raw[:HEAD_BYTES]) if b >= 0x80), None)
    shown = ""
    if name.startswith("Windows-1252") and first_bad is not None:
        ch = bytes([raw[first_bad]]).decode("cp1252", "replace")
        shown = f"; byte 0x{raw[first_bad]:02x} reads as '{ch}' in Windows-1252"
    row = raw[:first_bad].count(b"\n") + 1 if first_bad is not None and not name.startswith("UTF") else None
    return Problem(file, f"is {name} text, not UTF-8{shown}", row=row, hint=RESAVE)


def decode_text(raw: bytes, *, file: str) -> str:
    """UTF-8 text (a BOM is dropped), or ``ValidationError`` naming what the bytes are."""
    problem = _encoding_problem(file, raw, complete=True)
    if problem:
        raise ValidationError([problem])
    return raw.decode("utf-8-sig")


def _has_data_row(text: bytes) -> bool:
    """More than one non-blank line: a header and at least one request."""
    lines = (ln for ln in text.splitlines() if ln.strip(b" \t\r,;"))
    next(lines, None)
    return next(lines, None) is not None


def log_file_problem(path, *, file: str | None = None, header_only_ok: bool = False) -> Problem | None:
    """A usage log that is empty, a header only, not UTF-8 (named), or not what its suffix
    says. ``path``: a resolved regular file (see ``audit.core.safefiles``). Opens it with
    O_NONBLOCK; reads at most ``HEAD_BYTES`` of a CSV and the footer of a Parquet file.
    ``header_only_ok``: a header row without requests (or a Parquet file without rows) is
    no problem (``audit estimate-usage`` gives an empty table for it; an engagement's
    ``usage_logs`` should not list such a file)."""
    file = file or str(path)
    path = Path(path)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        head = f.read(HEAD_BYTES)
    if size == 0 or not head:
        return Problem(file, "is empty (0 bytes)", hint="a usage log needs a header row and one row per request")
    if head.startswith(b"PAR1") or path.suffix.lower() in (".parquet", ".pq"):
        if not head.startswith(b"PAR1"):
            return Problem(file, f"is named .parquet but is {detect_encoding(head)}", hint="give a Parquet file")
        try:
            import pyarrow.parquet as pq
            rows = pq.ParquetFile(str(path)).metadata.num_rows
        except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a damaged file
            return Problem(file, f"could not be read as Parquet ({type(exc).__name__})")
        return None if rows or header_only_ok else Problem(file, "has no rows",
                                                           hint="a usage log needs one row per request")
    if path.suffix.lower() == ".gz":
        return None  # compressed: the CSV reader inflates it and reports its own problems
    problem = _encoding_problem(file, head, complete=size <= HEAD_BYTES)
    if problem:
        return problem
    if not head.strip(b" \t\r\n,;\xef\xbb\xbf"):
        return Problem(file, "holds only blank lines", hint="a usage log needs a header row and one row per request")
    if size <= HEAD_BYTES and not header_only_ok and not _has_data_row(head):
        return Problem(file, "has a header row but no requests", row=1,
                       hint="add one row per request under the header, or remove the file from usage_logs")
    return None


def max_cell_chars() -> int:
    """The cell cap in force: ``AUDIT_MAX_CELL_CHARS`` when set to a positive integer, else
    ``MAX_CELL_CHARS``."""
    raw = os.environ.get(MAX_CELL_CHARS_ENV, "").strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else MAX_CELL_CHARS


def oversized_cells(df, *, file: str, sheet: str | None = None, limit: int | None = None,
                    max_problems: int = 50) -> list[Problem]:
    """One ``Problem`` per text cell longer than ``limit`` characters (at most
    ``max_problems``), located by ``df.index`` (the row number a person sees) and column.
    Run it before any per-cell work: the message gives the length, never the cell.
    ``limit``: default ``max_cell_chars()``."""
    limit = max_cell_chars() if limit is None else limit
    problems: list[Problem] = []
    for column in df.columns:
        col = df[column]
        if not (col.dtype == object or str(col.dtype) in ("string", "str", "category")):
            continue
        lengths = col.astype("string").str.len()
        for i in col.index[(lengths > limit).fillna(False).to_numpy()]:
            problems.append(Problem(file, f"cell is {int(lengths[i]):,} characters, over the {limit:,} limit",
                                    row=int(i) if hasattr(i, "__index__") else None,
                                    column=str(column), sheet=sheet, hint=f"shorten it; long notes belong in a document; or raise the limit: --max-cell-chars, {MAX_CELL_CHARS_ENV}"))
            if len(problems) >= max_problems:
                return problems
    return problems
