"""Shared helpers for adapters: Arrow -> pandas, column access, location bookkeeping."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

from audit.inventory.usage_import.reading import RawTable, explode, flatten_all
from audit.inventory.usage_import.schema import Located


@dataclass
class Options:
    """Choices a consultant states when an export lacks something (recorded as assumptions)."""
    mean_output_tokens_per_request: float | None = None  # for exports without a request count
    stage: str = ""                                       # stage label for every row read


@dataclass
class Converted:
    llm: pd.DataFrame | None = None
    media: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)


def frame(raw: RawTable, list_columns: tuple[str, ...] = ()) -> tuple[pd.DataFrame, Located]:
    """Explode the named list columns in order (pages -> buckets -> results), flatten structs,
    and return a pandas frame with its locations."""
    t = raw.table
    line = raw.line
    item = None
    for col in list_columns:
        if col in t.column_names:
            t, line, item = explode(t, col, line, item)
    t = flatten_all(t)
    df = t.to_pandas()
    return df, Located(raw.file, np.asarray(line), item, raw.unit, raw.remap)


def nested_name(name: str, parents: tuple[str, ...], flat: frozenset = frozenset()) -> str:
    """The dotted name of a column that a CSV export flattened with '_' (sku_description ->
    sku.description, cache_creation_ephemeral_5m_input_tokens -> cache_creation.ephemeral_5m_input_tokens):
    ``parents`` are the nested objects of the format, ``flat`` the top-level names that merely
    start like one (usage_start_time). Other names are returned as they are."""
    if name in flat:
        return name
    for parent in sorted(parents, key=len, reverse=True):
        if name.startswith(parent + "_") and len(name) > len(parent) + 1:
            return f"{parent}.{name[len(parent) + 1:]}"
    return name


def dotted_columns(df: pd.DataFrame, parents: tuple[str, ...], flat: frozenset = frozenset()) -> pd.DataFrame:
    """``df`` with underscore-flattened nested names read as dotted ones (see nested_name); a
    dotted column already present wins."""
    ren = {c: nested_name(c, parents, flat) for c in df.columns}
    ren = {c: d for c, d in ren.items() if d != c and d not in df.columns}
    return df.rename(columns=ren)


def col(df: pd.DataFrame, *names: str):
    """The first of these columns that holds a value, else the first present, else None.

    A JSON export is read with every spelling the adapter knows in its schema (startTime and
    start_time), so a spelling can be present and empty while the file uses the other."""
    present = [n for n in names if n in df.columns]
    for n in present:
        if df[n].notna().any():
            return df[n]
    return df[present[0]] if present else None


def has_values(df: pd.DataFrame, name: str) -> bool:
    """Whether column ``name`` exists and holds at least one value."""
    return name in df.columns and bool(df[name].notna().any())


def f64(*fields: str) -> list[pa.Field]:
    return [pa.field(f, pa.float64()) for f in fields]


def s(*fields: str) -> list[pa.Field]:
    return [pa.field(f, pa.string()) for f in fields]


def bucket_report_schema(first: dict, bucket_fields: list[pa.Field], flat_fields: list[pa.Field]) -> pa.Schema:
    """The Arrow schema of a bucketed usage report as its first record shows it: the API page
    (``{"data": [bucket, ...]}``), one bucket per record (``{"results": [...]}``), or one result
    per record (``flat_fields``). OpenAI's and Anthropic's usage reports share this shape."""
    if "data" in first:
        return pa.schema([pa.field("data", pa.list_(pa.struct(bucket_fields)))])
    if "results" in first:
        return pa.schema(bucket_fields)
    return pa.schema(flat_fields)
