"""Langfuse observation exports (public API / UI JSON, camelCase; blob-storage JSONL, snake_case).

Only observations of type GENERATION are model calls; spans and events are skipped (counted in
a note). Fields read: type, startTime|start_time, endTime|end_time, model|provided_model_name,
usageDetails|usage_details {input, output, total, input_cached_tokens | cache_read_input_tokens
| input_cache_read}, usage {input, output} (deprecated: read for the rows whose usageDetails is
empty, as older SDKs wrote it), latency (seconds). In a CSV export the usage objects are JSON
text and are parsed.
provider is left blank and filled from the model name by the alias table (Langfuse records no
provider). input_tokens = usageDetails.input + the cache-read key, cached_input_tokens = the
cache-read key (assumption: Langfuse reports the cache-read part apart from "input", as it
does for OpenAI's cached tokens; an open question for other providers).

Sources checked (December 2026, search tool): langfuse-client-base 0.13-0.17 ``ObservationsView``
/``Observation`` (docs.rs, generated from Langfuse's OpenAPI: id, traceId, type, name,
startTime, endTime, completionStartTime, model, usage, usageDetails, latency, ...);
blob-export snake_case names from langfuse.com/docs/api-and-data-platform/features/blob-storage-export-fields
as quoted in the usage-export field notes the project was given (summarised, with sources, in docs/usage_import.md).
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa

from audit.core.exceptions import Problem
from audit.inventory.usage_import.adapters.base import Converted, Options, col, f64, frame, has_values, s
from audit.inventory.usage_import.reading import RawTable
from audit.inventory.usage_import.schema import Problems, llm_frame, numbers, optional_times, text, timestamps

NAME = "langfuse"
USAGE_KEYS = ("input", "output", "total", "input_cached_tokens", "cache_read_input_tokens", "input_cache_read",
              "input_cache_creation", "cache_creation_input_tokens", "output_reasoning_tokens")
CACHE_READ = ("input_cached_tokens", "cache_read_input_tokens", "input_cache_read")
CACHE_WRITE = ("input_cache_creation", "cache_creation_input_tokens")
TEXT = ("id", "traceId", "trace_id", "type", "name", "startTime", "start_time", "endTime", "end_time",
        "completionStartTime", "completion_start_time", "model", "provided_model_name", "modelId",
        "internal_model_id", "level", "statusMessage", "environment", "promptName", "version", "parentObservationId",
        "session_id", "user_id", "trace_name", "projectId", "project_id")
OPAQUE = frozenset({"input", "output", "metadata", "modelParameters", "model_parameters", "costDetails",
                    "cost_details", "tags", "provided_usage_details", "provided_cost_details"})
KNOWN = frozenset(TEXT) | OPAQUE | {"latency", "timeToFirstToken", "totalPrice", "calculatedTotalCost",
                                   "total_cost", "inputPrice", "outputPrice", "usage"} \
    | {f"{p}.{k}" for p in ("usageDetails", "usage_details", "usage") for k in USAGE_KEYS + ("unit",)}
SIGNATURE = frozenset({"traceId", "usageDetails"})
SIGNATURE_ALT = frozenset({"trace_id", "usage_details", "provided_model_name"})


def schema(sample: list[dict]) -> pa.Schema:
    usage = pa.struct(f64(*USAGE_KEYS))
    return pa.schema(s(*TEXT) + f64("latency", "timeToFirstToken")
                     + [pa.field("usageDetails", usage), pa.field("usage_details", usage),
                        pa.field("usage", pa.struct(f64("input", "output", "total") + s("unit")))])


USAGE_OBJECTS = ("usageDetails", "usage_details", "usage")  # first holding an output count wins, row by row


def _expand_json_text(df: pd.DataFrame, loc, problems: Problems) -> pd.DataFrame:
    """A CSV export writes usage objects as JSON text (usage_details = '{"input": 10, ...}'):
    read them into dotted columns (usage_details.input) as a JSON export gives them."""
    for p in USAGE_OBJECTS:
        if p not in df.columns or f"{p}.output" in df.columns or not (
                df[p].dtype == object or pd.api.types.is_string_dtype(df[p].dtype)):
            continue
        parsed = []
        for i, v in enumerate(df[p].tolist()):
            if v is None or (isinstance(v, str) and not v.strip()) or (isinstance(v, float) and np.isnan(v)):
                parsed.append({})
                continue
            try:
                obj = json.loads(v) if isinstance(v, str) else v
            except ValueError:
                line, extra = loc.where(i)
                problems.add(Problem(loc.file, f"{loc.unit} {line}{extra}: expected a JSON object of token counts, "
                                               f"got {str(v)[:80]!r}", column=p))
                obj = {}
            parsed.append(obj if isinstance(obj, dict) else {})
        for k in USAGE_KEYS:
            df[f"{p}.{k}"] = pd.Series([d.get(k) for d in parsed], index=df.index, dtype=object)
    return df


def _tokens(df: pd.DataFrame, loc, problems: Problems):
    """(input, output, cache read, cache write, whether a usage object gave the output) per row,
    each row from the first usage object holding its output count (usageDetails, usage_details,
    then the deprecated usage): older SDKs wrote only usage, newer ones both."""
    n = len(df)
    output, inp, read, write = np.full(n, np.nan), np.zeros(n), np.zeros(n), np.zeros(n)
    for p in USAGE_OBJECTS:
        c = f"{p}.output"
        if c not in df.columns:
            continue
        o = numbers(df, c, loc, problems, required=False, default=np.nan, whole=False)
        take = np.isnan(output) & ~np.isnan(o)
        if not take.any():
            continue
        sub, sl = df.loc[take], loc.take(np.flatnonzero(take))
        output[take] = numbers(sub, c, sl, problems, required=True)

        def total(keys, sub=sub, sl=sl, p=p):
            return sum((numbers(sub, f"{p}.{k}", sl, problems, required=False) for k in keys
                        if f"{p}.{k}" in sub.columns), np.zeros(len(sub)))

        inp[take], read[take], write[take] = total(("input",)), total(CACHE_READ), total(CACHE_WRITE)
    return inp, output, read, write


def convert(raw: RawTable, options: Options, problems: Problems) -> Converted:
    df, loc = frame(raw)
    kind = text(col(df, "type"), len(df)).str.upper()
    gen = (kind == "GENERATION").to_numpy() if "type" in df.columns else np.ones(len(df), bool)
    notes = []
    if (~gen).any():
        notes.append(f"{raw.file}: {int((~gen).sum())} observations that are not GENERATION (spans, events) skipped")
    keep = np.flatnonzero(gen)
    df, loc = df.iloc[keep].reset_index(drop=True), loc.take(keep)
    n = len(df)
    start = col(df, "startTime", "start_time")
    if start is None:
        problems.add(Problem(raw.file, "field 'startTime' is missing", column="startTime"))
        return Converted()
    ts = timestamps(start, loc, problems, "startTime")
    df = _expand_json_text(df, loc, problems)
    inp, output, read, write = _tokens(df, loc, problems)
    if np.isnan(output).any():
        problems.rows(loc, np.isnan(output), "usageDetails.output",
                      "has no output token count (usageDetails, usage_details or usage): a GENERATION needs one")
    output = np.nan_to_num(output)
    if has_values(df, "latency"):
        latency = numbers(df, "latency", loc, problems, required=False, whole=False, default=np.nan)
    else:
        end = col(df, "endTime", "end_time")
        latency = None if end is None else (optional_times(end) - ts).dt.total_seconds().to_numpy()
    model = text(col(df, "model", "provided_model_name"), n)
    if (model == "").any():
        problems.rows(loc, (model == "").to_numpy(), "model", "is empty: a GENERATION needs its model")
    return Converted(llm=llm_frame(
        timestamp=ts, provider="", model=model, input_tokens=inp + read + write, cached_input_tokens=read,
        output_tokens=output, latency_s=latency, stage=options.stage, loc=loc, problems=problems), notes=notes)
