"""Anthropic Usage & Cost Admin API: messages usage report buckets -> canonical LLM table.

Shape (GET /v1/organizations/usage_report/messages, bucket_width 1m|1h|1d)::

    page {data: [bucket], has_more, next_page}
    bucket {starting_at (RFC 3339), ending_at, results: [result]}
    result {uncached_input_tokens, cache_creation: {ephemeral_1h_input_tokens,
        ephemeral_5m_input_tokens}, cache_read_input_tokens, output_tokens,
        server_tool_use: {web_search_requests}, model, workspace_id, api_key_id,
        service_tier, context_window, inference_geo}

Mapping: input_tokens = uncached + cache_read + cache creation (5m + 1h, or a flat
cache_creation_input_tokens where a flattened export has it): Anthropic counts
them apart, and cache writes are processed like fresh input; cached_input_tokens =
cache_read_input_tokens. region from inference_geo ("us" -> USA; "global"/"not_available" ->
blank, i.e. the provider's default region).

The report has NO request count. A bucket's requests are therefore derived from a stated
assumption, ``Options.mean_output_tokens_per_request``: requests = ceil(output_tokens /
mean). Without it the import stops and says so, rather than reading a bucket as one request.

Sources checked (December 2026, search tool): Anthropic SDK ``Usage`` (cache_creation,
cache_read_input_tokens, inference_geo; rubydoc anthropic-sdk-ruby); a client written against
platform.claude.com/docs/en/api/admin/usage_report/retrieve_messages (code corpus,
``MessagesUsageReport``); cache_creation.ephemeral_5m/1h_input_tokens (OpenRouter SDK
AnthropicCacheCreation, Crystal client). Field notes: the usage-export field notes the project was given (summarised, with sources, in docs/usage_import.md).
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from audit.core.exceptions import Problem
from audit.inventory.usage_import.adapters.base import (
    Converted,
    Options,
    bucket_report_schema,
    col,
    dotted_columns,
    f64,
    frame,
    s,
)
from audit.inventory.usage_import.reading import RawTable
from audit.inventory.usage_import.schema import Problems, llm_frame, numbers, text, timestamps

NAME = "anthropic-usage"
PROVIDER = "anthropic"
GEO_REGION = {"us": "USA", "global": "", "not_available": "", "": ""}
RESULT_FIELDS = (
    f64("uncached_input_tokens", "cache_read_input_tokens", "output_tokens", "cache_creation_input_tokens")
    + [pa.field("cache_creation", pa.struct(f64("ephemeral_1h_input_tokens", "ephemeral_5m_input_tokens"))),
       pa.field("server_tool_use", pa.struct(f64("web_search_requests")))]
    + s("model", "workspace_id", "api_key_id", "service_tier", "context_window", "inference_geo", "speed",
        "account_id", "service_account_id")
)
BUCKET_FIELDS = s("starting_at", "ending_at") + [pa.field("results", pa.list_(pa.struct(RESULT_FIELDS)))]
KNOWN = frozenset({"data", "has_more", "next_page", "starting_at", "ending_at", "results", "cache_creation",
                   "server_tool_use", "cache_creation.ephemeral_1h_input_tokens",
                   "cache_creation.ephemeral_5m_input_tokens", "server_tool_use.web_search_requests",
                   "server_tool_use.web_fetch_requests", *(f.name for f in RESULT_FIELDS)})
SIGNATURE = frozenset({"uncached_input_tokens", "cache_read_input_tokens"})
# nested objects a CSV export may flatten with '_' (cache_creation_ephemeral_5m_input_tokens);
# cache_creation_input_tokens is a flat total of its own, not cache_creation.input_tokens
NESTED_PARENTS = ("cache_creation", "server_tool_use")
FLAT_NAMES = frozenset({"cache_creation_input_tokens"})
OPAQUE: frozenset = frozenset()


def schema(sample: list[dict]) -> pa.Schema:
    return bucket_report_schema(sample[0] if sample else {}, BUCKET_FIELDS, s("starting_at", "ending_at") + RESULT_FIELDS)


def convert(raw: RawTable, options: Options, problems: Problems) -> Converted:
    df, loc = frame(raw, ("data", "results"))
    df = dotted_columns(df, NESTED_PARENTS, FLAT_NAMES)
    n = len(df)
    if "starting_at" not in df.columns:
        problems.add(Problem(raw.file, "field 'starting_at' is missing: expected the bucket start", column="starting_at"))
        return Converted()
    ts = timestamps(df["starting_at"], loc, problems, "starting_at")
    model = text(col(df, "model"), n)
    if (model == "").any():
        problems.rows(loc, (model == "").to_numpy(), "model", "is empty: export the report grouped by model (group_by[]=model)")
    uncached = numbers(df, "uncached_input_tokens", loc, problems, required=True)
    read = numbers(df, "cache_read_input_tokens", loc, problems, required=False)
    write = (numbers(df, "cache_creation.ephemeral_5m_input_tokens", loc, problems, required=False)
             + numbers(df, "cache_creation.ephemeral_1h_input_tokens", loc, problems, required=False)
             # a flat total, as some clients of the API write it (CSV exports of the report)
             + numbers(df, "cache_creation_input_tokens", loc, problems, required=False))
    output = numbers(df, "output_tokens", loc, problems, required=True)
    mean = options.mean_output_tokens_per_request
    if mean is None or not mean > 0:
        problems.add(Problem(raw.file, "Anthropic's usage report has no request count: state the mean output tokens "
                             "per request (mean_output_tokens_per_request / --mean-output-tokens) so each bucket can "
                             "be read as that many requests", column="requests"))
        return Converted()
    requests = np.maximum(np.ceil(output / mean), (output + uncached + read + write > 0).astype(float))
    geo = text(col(df, "inference_geo"), n).str.lower()
    region = geo.map(GEO_REGION).fillna(geo.str.upper())
    out = Converted(llm=llm_frame(
        timestamp=ts, provider=PROVIDER, model=model, requests=requests,
        input_tokens=uncached + read + write, cached_input_tokens=read, output_tokens=output,
        region=region, stage=options.stage, loc=loc, problems=problems))
    out.notes.append(f"{raw.file}: requests = ceil(output_tokens / {mean:g}) per bucket "
                     "(assumed mean output tokens per request; the report has no request count)")
    return out
