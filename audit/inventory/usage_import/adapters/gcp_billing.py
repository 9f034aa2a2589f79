"""Google Cloud billing export to BigQuery (standard or detailed usage cost table), exported as
JSON lines (nested) or CSV/Parquet (dotted or underscored column names).

Fields read: usage_start_time, service.description, sku.description, usage.amount,
usage.unit, location.region. The model and the token direction sit in sku.description
(e.g. "Gemini 2.5 Flash Input text tokens"); region = gcp:<location.region>: the model is the longest Vertex SKU phrase of
data/model_aliases.csv (kind vertex_sku) found in the description; the direction is the word
input/output; "cached"/"cache" marks cached input (billed on its own SKU line, so it is added to
input_tokens and counted as cached_input_tokens). Rows are summed by hour, model and region.
Rows whose SKU names no known model or no direction, or whose usage.unit is not a count
(characters, seconds, images), are skipped and listed in a note.

The export has NO request count: requests = ceil(output_tokens / mean) from the stated
assumption ``Options.mean_output_tokens_per_request``; without it the import stops.

Sources checked: field names per docs.cloud.google.com/billing/docs/how-to/export-data-bigquery-tables/standard-usage
(as quoted in the usage-export field notes the project was given (summarised, with sources, in docs/usage_import.md); the search corpora hold no
copy of that page, so the column list is from the notes, not re-verified). SKU wording
varies by model generation; the phrase list in data/model_aliases.csv is the maintained part.
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyarrow as pa

from audit.core.exceptions import Problem
from audit.inventory.usage_import.aliases import vertex_sku_phrases
from audit.inventory.usage_import.adapters.base import Converted, Options, col, dotted_columns, f64, frame, s
from audit.inventory.usage_import.reading import RawTable
from audit.inventory.usage_import.schema import Located, Problems, llm_frame, numbers, text, timestamps

NAME = "gcp-billing"
COUNT_UNITS = {"count", "token", "tokens", "", "1", "requests"}
KNOWN = frozenset({
    "billing_account_id", "service.id", "service.description", "sku.id", "sku.description", "usage_start_time",
    "usage_end_time", "project.id", "project.name", "project.number", "project.labels", "project.ancestry_numbers",
    "project.ancestors", "labels", "system_labels", "location.location", "location.country", "location.region",
    "location.zone", "cost", "currency", "currency_conversion_rate", "usage.amount", "usage.unit",
    "usage.amount_in_pricing_units", "usage.pricing_unit", "credits", "invoice.month", "invoice.publisher_type",
    "cost_type", "export_time", "adjustment_info", "resource.name", "resource.global_name", "price.effective_price",
    "price.tier_start_amount", "price.unit", "price.pricing_unit_quantity", "transaction_type", "seller_name",
    "cost_at_list", "tags", "subscription", "consumption_model",
})
SIGNATURE = frozenset({"sku.description", "usage_start_time"})
NESTED_PARENTS = ("service", "sku", "usage", "location", "project", "invoice", "price", "resource")
FLAT_NAMES = frozenset({"usage_start_time", "usage_end_time"})  # top-level names, not usage.*
OPAQUE = frozenset({"labels", "system_labels", "credits", "project.labels", "tags", "project.ancestors",
                    "adjustment_info"})


def schema(sample: list[dict]) -> pa.Schema:
    return pa.schema(s("billing_account_id", "usage_start_time", "usage_end_time", "currency", "cost_type",
                       "export_time")
                     + f64("cost")
                     + [pa.field("service", pa.struct(s("id", "description"))),
                        pa.field("sku", pa.struct(s("id", "description"))),
                        pa.field("usage", pa.struct(f64("amount", "amount_in_pricing_units") + s("unit", "pricing_unit"))),
                        pa.field("location", pa.struct(s("location", "country", "region", "zone"))),
                        pa.field("project", pa.struct(s("id", "name", "number")))])


def _normalise_columns(df: pd.DataFrame) -> pd.DataFrame:
    """CSV exports flatten nested names with '_' (sku_description): map them to dotted names."""
    return dotted_columns(df, NESTED_PARENTS, FLAT_NAMES)


def convert(raw: RawTable, options: Options, problems: Problems, vertex_phrases: dict | None = None) -> Converted:
    phrases = vertex_phrases or vertex_sku_phrases()
    df, loc = frame(raw)
    df = _normalise_columns(df)
    for c in ("usage_start_time", "sku.description", "usage.amount"):
        if c not in df.columns:
            problems.add(Problem(raw.file, f"field '{c}' is missing", column=c))
            return Converted()
    n = len(df)
    desc = text(df["sku.description"], n).str.lower()
    unit = text(col(df, "usage.unit"), n).str.lower()
    pattern = "|".join(re.escape(p) for p in sorted(phrases, key=len, reverse=True))
    found = desc.str.extract(f"({pattern})", expand=False)
    direction = np.where(desc.str.contains(r"\boutput\b"), "output",
                         np.where(desc.str.contains(r"\binput\b"), "input", ""))
    cached = desc.str.contains(r"\bcache[ds]?\b").to_numpy()
    usable = found.notna().to_numpy() & (direction != "") & unit.isin(COUNT_UNITS).to_numpy()
    notes = []
    if (~usable).any():
        skipped = sorted(set(text(df["sku.description"], n)[~usable]))
        notes.append(f"{raw.file}: {int((~usable).sum())} billing rows skipped (no known model, no token direction, "
                     f"or not a token count): {', '.join(skipped[:8])}{' ...' if len(skipped) > 8 else ''}")
    ts = timestamps(df["usage_start_time"], loc, problems, "usage_start_time")
    amount = numbers(df, "usage.amount", loc, problems, required=True)
    idx = np.flatnonzero(usable)
    if not len(idx):
        return Converted(notes=notes)
    mean = options.mean_output_tokens_per_request
    if mean is None or not mean > 0:
        problems.add(Problem(raw.file, "the billing export has no request count: state the mean output tokens per "
                             "request (mean_output_tokens_per_request / --mean-output-tokens)", column="requests"))
        return Converted(notes=notes)
    model = found.iloc[idx].map(lambda p: phrases[p][1]).to_numpy()
    provider = found.iloc[idx].map(lambda p: phrases[p][0]).to_numpy()
    d = direction[idx]
    a = amount[idx]
    frame_ = pd.DataFrame({
        "timestamp": ts.iloc[idx].dt.floor("h").to_numpy(), "provider": provider, "model": model,
        "region": ("gcp:" + text(col(df, "location.region"), n)).where(text(col(df, "location.region"), n) != "", "")
        .iloc[idx].to_numpy(),
        "input_tokens": np.where(d == "input", a, 0.0), "cached_input_tokens": np.where((d == "input") & cached[idx], a, 0.0),
        "output_tokens": np.where(d == "output", a, 0.0), "line": loc.line[idx]})
    g = frame_.groupby(["timestamp", "provider", "model", "region"], sort=True, as_index=False).agg(
        input_tokens=("input_tokens", "sum"), cached_input_tokens=("cached_input_tokens", "sum"),
        output_tokens=("output_tokens", "sum"), line=("line", "min"))
    gl = Located(raw.file, g["line"].to_numpy(), None, loc.unit)
    out = g["output_tokens"].to_numpy()
    requests = np.maximum(np.ceil(out / mean), 1.0)
    notes.append(f"{raw.file}: requests = ceil(output_tokens / {mean:g}) per hour and model (assumed mean output "
                 "tokens per request; the billing export has no request count)")
    return Converted(llm=llm_frame(
        timestamp=pd.Series(g["timestamp"]).dt.tz_convert("UTC") if g["timestamp"].dt.tz is not None else g["timestamp"],
        provider=g["provider"], model=g["model"], requests=requests,
        input_tokens=g["input_tokens"].to_numpy(), cached_input_tokens=g["cached_input_tokens"].to_numpy(),
        output_tokens=out, region=g["region"], stage=options.stage, loc=gl, problems=problems), notes=notes)
