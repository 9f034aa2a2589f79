"""Files in, flat Arrow tables out: files, folders, globs, gzip; CSV, JSON, JSON lines, Parquet.

JSON lines are parsed by ``pyarrow.json`` against the adapter's explicit schema (fields the
adapter does not know are skipped by the parser and listed from a sample of the first records),
so a million buckets need no Python loop. When Arrow refuses a file, the file is read again
record by record with the standard ``json`` module only to say where it is wrong (line, field,
what was expected).
"""
from __future__ import annotations

import codecs
import glob as _glob
import gzip
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.json as pjson
import pyarrow.parquet as pq

from audit.core.exceptions import InputError, Problem, ValidationError
from audit.core.textinput import detect_encoding

SUFFIXES = (".json", ".jsonl", ".ndjson", ".csv", ".parquet", ".pq", ".tsv")
SAMPLE_RECORDS = 1000


def expand(source) -> list[Path]:
    """Files named by a path, a folder (its usage files, recursively) or a glob; sorted."""
    items = source if isinstance(source, (list, tuple)) else [source]
    out: list[Path] = []
    for item in items:
        text = str(item)
        p = Path(text)
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and _usage_suffix(f))
            if not found:
                raise InputError(f"{text}: folder has no usage files ({', '.join(SUFFIXES)}, optionally .gz)")
            out += found
        elif p.is_file():
            out.append(p)
        elif any(ch in text for ch in "*?["):
            found = sorted(Path(f) for f in _glob.glob(text, recursive=True) if Path(f).is_file())
            if not found:
                raise InputError(f"{text}: no file matches this pattern")
            out += found
        else:
            raise InputError(f"{text}: file not found (no such file or folder)")
    return out


def _usage_suffix(path: Path) -> bool:
    name = path.name.lower()
    name = name.removesuffix(".gz")
    return name.endswith(SUFFIXES)


def base_suffix(path: Path) -> str:
    name = path.name.lower()
    name = name.removesuffix(".gz")
    return Path(name).suffix


def is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def open_binary(path: Path):
    """The file's bytes (gunzipped when gzip), after a UTF-8 byte-order mark if there is one
    (Excel's 'CSV UTF-8', PowerShell 7's -Encoding utf8BOM)."""
    fh = gzip.open(path, "rb") if is_gzip(path) else open(path, "rb")
    if fh.read(3) != codecs.BOM_UTF8:
        fh.seek(0)
    return fh


def _refuse_other_encodings(path: Path, head: bytes) -> None:
    """A UTF-16/32 export (Windows PowerShell's Out-File writes UTF-16) is named, not misread."""
    name = detect_encoding(head)
    if name.startswith(("UTF-16", "UTF-32")) or name.startswith("binary"):
        raise ValidationError([Problem(str(path), f"is {name} text, not UTF-8: re-save it as UTF-8 (PowerShell: "
                                                  "Out-File -Encoding utf8; Excel: Save As > CSV UTF-8)")])


def text_kind(path: Path) -> str:
    """'parquet', 'csv', 'jsonl' or 'json' (a single document), from the suffix and first bytes."""
    suffix = base_suffix(path)
    if suffix in (".parquet", ".pq"):
        return "parquet"
    with open_binary(path) as fh:
        head = fh.read(65536)
    if head[:4] == b"PAR1":
        return "parquet"
    _refuse_other_encodings(path, head)
    stripped = head.lstrip()
    if not stripped[:1] in (b"{", b"["):
        return "csv"
    if stripped[:1] == b"[":
        return "json"
    first = stripped.split(b"\n", 1)[0].strip()
    try:
        record = json.loads(first)
    except ValueError:
        return "json"
    # One API response (or one per line) holding its records under 'data'/'value': a document.
    return "json" if isinstance(record, dict) and _page_key(record) else "jsonl"


PAGE_KEYS = ("data", "value", "observations")  # API responses holding their records in a list


def _page_key(doc: dict) -> str | None:
    return next((k for k in PAGE_KEYS if isinstance(doc.get(k), list)), None)


def sample_records(path: Path, kind: str, limit: int = SAMPLE_RECORDS) -> list[dict]:
    """The first records as Python dicts (for format detection and the unknown-field list)."""
    if kind == "jsonl":
        out = []
        with open_binary(path) as fh:
            for raw in fh:
                if raw.strip():
                    try:
                        out.append(json.loads(raw))
                    except ValueError:
                        break
                if len(out) >= limit:
                    break
        return [r for r in out if isinstance(r, dict)]
    if kind == "json":
        doc = load_document(path)
        return [r for r in _document_records(doc)[:limit] if isinstance(r, dict)]
    if kind == "csv":
        with open_binary(path) as fh:
            head = fh.read(1 << 20)
        if not head.strip():
            raise ValidationError([Problem(str(path), "the file is empty: expected a usage export")])
        try:
            t = pcsv.read_csv(io.BytesIO(_whole_lines(head)), parse_options=_csv_parse(head))
        except pa.ArrowInvalid as exc:
            raise ValidationError([Problem(str(path), f"not a readable CSV file: {exc}")]) from None
        return t.slice(0, limit).to_pylist()
    t = pq.ParquetFile(path).read_row_group(0) if pq.ParquetFile(path).num_row_groups else pa.table({})
    return t.slice(0, limit).to_pylist()


def csv_columns(path: Path) -> list[str]:
    """The header of a CSV file (for a header-only export, which has no records to sample)."""
    with open_binary(path) as fh:
        head = fh.read(1 << 16)
    first = head.split(b"\n", 1)[0] + b"\n"
    try:
        return pcsv.read_csv(io.BytesIO(first), parse_options=_csv_parse(first)).column_names
    except pa.ArrowInvalid:
        return []


# Keys of API envelopes (pages, buckets, Azure's response) that hold no usage by themselves
ENVELOPE_KEYS = frozenset({"object", "data", "has_more", "next_page", "results", "start_time", "end_time",
                           "starting_at", "ending_at", "value", "meta", "cost", "timespan", "interval", "namespace",
                           "resourceregion", "total", "page", "page_size", "total_pages", "error", "observations"})


def holds_no_records(sample: list) -> bool:
    """Whether sampled records are only empty API envelopes: a page with no buckets, buckets
    with no results, an Azure response with no metrics (a quiet period exported as it is)."""
    return all(_envelope_only(r) for r in sample)


def _envelope_only(record) -> bool:
    return isinstance(record, dict) and all(
        k in ENVELOPE_KEYS and (not isinstance(v, list) or all(_envelope_only(i) for i in v))
        for k, v in record.items())


def _whole_lines(head: bytes) -> bytes:
    cut = head.rfind(b"\n")
    return head if cut < 0 else head[: cut + 1]


def _csv_parse(head: bytes) -> pcsv.ParseOptions:
    """Comma, tab or semicolon (Excel's CSV where the decimal mark is a comma): whichever the
    header line holds most of."""
    first = head.split(b"\n", 1)[0]
    delim = max((",", "\t", ";"), key=lambda d: first.count(d.encode()))
    return pcsv.ParseOptions(delimiter=delim, newlines_in_values=True)


def load_document(path: Path):
    with open_binary(path) as fh:
        raw = fh.read()
    try:
        return json.loads(raw)
    except ValueError as exc:
        if getattr(exc, "msg", "") == "Extra data":  # several API responses, one per line or pretty-printed
            try:
                return _json_stream(raw.decode("utf-8"))
            except ValueError as err:
                exc = err
        line = getattr(exc, "lineno", None)
        raise ValidationError([Problem(str(path), f"line {line}: not valid JSON ({exc.msg})" if line else
                                       f"not valid JSON ({exc})")]) from None


def _json_stream(text: str) -> list:
    """JSON values one after another, as `jq . page*.json` or a loop of curl calls writes them
    (pretty-printed, or one per line)."""
    decoder, out, i = json.JSONDecoder(), [], 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            return out
        value, i = decoder.raw_decode(text, i)
        out.append(value)


def _document_records(doc) -> list:
    """Records of a JSON document: a list, or a page/response object holding a list under
    'data' (OpenAI, Anthropic, OpenRouter) or 'value' (Azure Monitor)."""
    if isinstance(doc, list):
        # a list of pages (several API responses saved together)
        if doc and all(isinstance(d, dict) and _page_key(d) for d in doc):
            return [r for d in doc for r in d[_page_key(d)]]
        return doc
    if isinstance(doc, dict):
        for key in (*PAGE_KEYS, "results", "items", "requests"):
            if isinstance(doc.get(key), list):
                return doc[key]
        return [doc]
    return []


def field_paths(record, prefix: str = "", opaque: frozenset = frozenset(), into_lists: bool = True) -> set[str]:
    """Dotted paths of the leaves of a record; lists of objects are descended into (their items'
    fields are named from the item, without the list's path); opaque paths are not descended into."""
    out: set[str] = set()
    if isinstance(record, dict):
        for k, v in record.items():
            path = f"{prefix}{k}"
            if path in opaque:
                out.add(path)
            elif isinstance(v, dict) and v:
                out |= field_paths(v, path + ".", opaque, into_lists)
            elif into_lists and isinstance(v, list) and v and isinstance(v[0], dict):
                out.add(path)  # a list of objects (pages -> buckets -> results): its items' fields
                for item in v[:50]:  # are named without the list's path, as adapters name them
                    out |= field_paths(item, "", opaque, into_lists)
            else:
                out.add(path)
    return out


@dataclass
class RawTable:
    """An export file read into Arrow, with where each row came from."""
    file: str
    kind: str             # csv | json | jsonl | parquet
    table: pa.Table
    line: np.ndarray      # 1-based line (jsonl), record (json) or row (csv: header = 1) per row
    unit: str
    remap: object = None  # for JSON lines: record ordinal -> line number (blank lines), lazily


def read_table(path: Path, kind: str, schema: pa.Schema | None = None) -> RawTable:
    """Read one file. For JSON, ``schema`` (nested Arrow schema of the fields the adapter reads)
    is required: other fields are skipped."""
    name = str(path)
    if kind == "parquet":
        t = pq.read_table(path)
        return RawTable(name, kind, t, np.arange(1, t.num_rows + 1), "row")
    if kind == "csv":
        with open_binary(path) as fh:
            data = fh.read()
        try:
            t = pcsv.read_csv(io.BytesIO(data), parse_options=_csv_parse(data[:65536]),
                              convert_options=pcsv.ConvertOptions(strings_can_be_null=True))
        except pa.ArrowInvalid as exc:
            raise ValidationError([Problem(name, f"not a readable CSV file: {exc}")]) from None
        return RawTable(name, kind, t, np.arange(2, t.num_rows + 2), "row")
    if kind == "jsonl":
        opts = pjson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
        try:
            with open_binary(path) as fh:
                t = pjson.read_json(fh, parse_options=opts, read_options=pjson.ReadOptions(block_size=1 << 24))
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise locate_json_problem(path, schema, exc) from None
        # pyarrow skips blank lines, so record k is line k only without them: the exact line is
        # worked out when a problem is reported (reading the file again costs ~1 s per 300 MB)
        return RawTable(name, kind, t, np.arange(1, t.num_rows + 1), "line", _LineMap(path))
    doc = load_document(path)
    records = [r for r in _document_records(doc)]
    try:
        t = pa.Table.from_pylist(records, schema=schema) if records else schema.empty_table()
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as exc:
        raise locate_json_problem(path, schema, exc, records=records) from None
    return RawTable(name, kind, t, np.arange(1, t.num_rows + 1), "record")


class _LineMap:
    """Record ordinal (1-based, blank lines skipped) -> line number in the file."""

    def __init__(self, path: Path):
        self.path = path
        self._lines = None

    def __call__(self, record: int) -> int:
        if self._lines is None:
            with open_binary(self.path) as fh:
                self._lines = [i for i, ln in enumerate(fh, start=1) if ln.strip()]
        return self._lines[record - 1] if 0 < record <= len(self._lines) else record


_ARROW_KIND = {"number": (int, float), "string": (str,), "bool": (bool,), "object": (dict,), "list": (list,)}


def _expected(typ: pa.DataType) -> tuple[str, tuple]:
    if pa.types.is_integer(typ) or pa.types.is_floating(typ):
        return "a number", (int, float)
    if pa.types.is_string(typ) or pa.types.is_large_string(typ):
        return "text", (str,)
    if pa.types.is_boolean(typ):
        return "true or false", (bool,)
    if pa.types.is_struct(typ):
        return "an object", (dict,)
    if pa.types.is_list(typ):
        return "a list", (list,)
    return str(typ), (object,)


def _check_value(value, typ: pa.DataType, path: str):
    """(path, expected, got) of the first value that does not fit the schema, or None."""
    if value is None:
        return None
    what, ok = _expected(typ)
    if isinstance(value, bool) and bool not in ok:
        return path, what, value
    if not isinstance(value, ok):
        return path, what, value
    if pa.types.is_struct(typ):
        for f in typ:
            hit = _check_value(value.get(f.name), f.type, f"{path}.{f.name}")
            if hit:
                return hit
    if pa.types.is_list(typ):
        for i, item in enumerate(value):
            hit = _check_value(item, typ.value_type, f"{path}[{i}]")
            if hit:
                return hit
    return None


def locate_json_problem(path: Path, schema: pa.Schema, exc: Exception, records: list | None = None) -> ValidationError:
    """Find the first record Arrow could not read and say where and why."""
    name = str(path)
    unit = "record"
    if records is None:
        unit = "line"
        with open_binary(path) as fh:
            for number, raw in enumerate(fh, start=1):
                if not raw.strip():
                    continue
                try:
                    rec = json.loads(raw)
                except ValueError as err:
                    return ValidationError([Problem(name, f"line {number}: not valid JSON ({err.msg}, column {err.colno})")])
                hit = _record_problem(rec, schema)
                if hit:
                    return ValidationError([Problem(name, f"line {number}: expected {hit[1]}, got {hit[2]!r}",
                                                    column=hit[0])])
    else:
        for number, rec in enumerate(records, start=1):
            hit = _record_problem(rec, schema)
            if hit:
                return ValidationError([Problem(name, f"{unit} {number}: expected {hit[1]}, got {hit[2]!r}",
                                                column=hit[0])])
    return ValidationError([Problem(name, f"could not be read as this export format ({exc})")])


def _record_problem(rec, schema: pa.Schema):
    if not isinstance(rec, dict):
        return "(record)", "an object", rec
    for f in schema:
        hit = _check_value(rec.get(f.name), f.type, f.name)
        if hit:
            return hit
    return None


def fit_schema(schema: pa.Schema | None, sample: list) -> pa.Schema | None:
    """The adapter's schema with each text or number leaf retyped to what the sample holds:
    a time field given as Unix seconds (a number where ISO text is usual) is read as a number,
    a count given as text ("1200", as BigQuery writes INT64 in JSON) as text; the checks that
    follow convert both and locate what is neither. Mixed leaves keep the adapter's type."""
    if schema is None:
        return None
    return pa.schema([_fit_field(f, [r.get(f.name) for r in sample if isinstance(r, dict)]) for f in schema])


def _fit_field(f: pa.Field, values: list) -> pa.Field:
    typ = f.type
    present = [v for v in values if v is not None]
    if pa.types.is_struct(typ):
        inner = [v for v in present if isinstance(v, dict)]
        return pa.field(f.name, pa.struct([_fit_field(c, [v.get(c.name) for v in inner]) for c in typ]))
    if pa.types.is_list(typ) and pa.types.is_struct(typ.value_type):
        items = [i for v in present if isinstance(v, list) for i in v if isinstance(i, dict)]
        return pa.field(f.name, pa.list_(_fit_field(pa.field("item", typ.value_type), items).type))
    if not present:
        return f
    is_number = [isinstance(v, (int, float)) and not isinstance(v, bool) for v in present]
    if pa.types.is_string(typ) and all(is_number):
        return pa.field(f.name, pa.float64())
    if pa.types.is_floating(typ) and all(isinstance(v, str) for v in present):
        return pa.field(f.name, pa.string())
    return f


def flatten_all(t: pa.Table) -> pa.Table:
    """Flatten nested structs to dotted columns (input.inputTokenCount)."""
    while any(pa.types.is_struct(f.type) for f in t.schema):
        t = t.flatten()
    return t


def explode(t: pa.Table, column: str, line: np.ndarray, item: np.ndarray | None = None):
    """One row per element of list column ``column`` (elements are structs whose fields become
    columns, replacing parent columns of the same name). Returns (table, line, item)."""
    lst = t.column(column).combine_chunks()
    if isinstance(lst, pa.ChunkedArray):
        lst = lst.chunk(0) if lst.num_chunks else pa.array([], lst.type)
    parents = np.asarray(pa.compute.list_parent_indices(lst))
    values = pa.compute.list_flatten(lst)
    offsets = np.asarray(lst.offsets)
    position = np.arange(len(values)) - (offsets[parents] - offsets[0]) + 1 if len(values) else np.zeros(0, int)
    child_names = [f.name for f in values.type] if pa.types.is_struct(values.type) else [column]
    rest = t.drop_columns([column] + [c for c in child_names if c in t.column_names and c != column])
    rest = rest.take(pa.array(parents, pa.int64()))
    if pa.types.is_struct(values.type):
        for f, arr in zip(values.type, values.flatten()):
            rest = rest.append_column(f.name, arr)
    else:
        rest = rest.append_column(column, values)
    new_item = position.astype(np.int64)
    return rest, line[parents], new_item
