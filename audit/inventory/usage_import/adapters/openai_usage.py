"""OpenAI organisation Usage API: completions and images buckets -> canonical tables.

Shape (GET /v1/organization/usage/completions and /usage/images, bucket_width 1m|1h|1d)::

    page {object: "page", data: [bucket], has_more, next_page}
    bucket {object: "bucket", start_time (Unix s), end_time, results: [result]}
    completions result {object: "organization.usage.completions.result", input_tokens,
        input_cached_tokens, output_tokens, input_audio_tokens, output_audio_tokens,
        num_model_requests, project_id, user_id, api_key_id, model, batch, service_tier}
    images result {object: "organization.usage.images.result", images, num_model_requests,
        size, source (image.generation|image.edit|image.variation), model, project_id, user_id, api_key_id}

Accepted files: API pages (JSON document or one page per line), one bucket per line, or a flat
table (CSV/Parquet/JSON lines) with one result per row and ``start_time``.

Mapping: requests = num_model_requests; input_tokens as given (OpenAI counts cached tokens
inside input_tokens); cached_input_tokens = input_cached_tokens; timestamp = bucket start.
``model`` is only filled when the export was grouped by model (group_by=model); without it the
row is refused. Images results go to the media table as image_generation by model and size.

Sources checked (December 2026, search tool): openai-client-base 0.16.0
``src/models/usage_completions_result.rs`` and ``usage_images_result.rs`` (generated from
OpenAI's OpenAPI 2.3.0, docs.rs); ex_openai ``UsageCompletionsResult``/``UsageImagesResult``
(hexdocs); API example response (apidog mirror of GET /v1/organization/usage/completions).
input_tokens "including cached and cache-write tokens ... text, audio, and image tokens" in the
0.16.0 text; "text input tokens, including cached" in 0.12.0: audio tokens are kept out of the
canonical row and listed (open question for the methodology).
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from audit.inventory.usage_import.adapters.base import Converted, Options, bucket_report_schema, col, f64, frame, s
from audit.inventory.usage_import.reading import RawTable
from audit.inventory.usage_import.schema import (
    Problems,
    llm_frame,
    media_frame,
    numbers,
    text,
    timestamps,
)

NAME = "openai-usage"
PROVIDER = "openai"
# Only the fields read are parsed (Arrow skips the others); the rest are known, not ignored.
RESULT_FIELDS = (
    f64("input_tokens", "input_cached_tokens", "output_tokens", "input_audio_tokens", "output_audio_tokens",
        "num_model_requests", "images")
    + s("model", "size")
)
BUCKET_FIELDS = f64("start_time") + [pa.field("results", pa.list_(pa.struct(RESULT_FIELDS)))]
KNOWN = frozenset({"object", "data", "has_more", "next_page", "start_time", "end_time", "results",
                   *(f.name for f in RESULT_FIELDS), "input_cache_write_tokens", "project_id", "user_id",
                   "api_key_id", "service_tier", "source", "api_source", "batch"})
SIGNATURE = frozenset({"num_model_requests", "start_time"})
OPAQUE: frozenset = frozenset()
NOT_ADDED = ("input_audio_tokens", "output_audio_tokens")


def _start_is_text(first: dict) -> bool:
    """Whether start_time is ISO text (as some scripts save it) rather than Unix seconds, looking
    in a flat record, a bucket, or the first bucket of a page."""
    buckets = first.get("data") if isinstance(first.get("data"), list) else [first]
    return any(isinstance(b, dict) and isinstance(b.get("start_time"), str) for b in buckets)


def schema(sample: list[dict]) -> pa.Schema:
    first = sample[0] if sample else {}
    start = s("start_time") if _start_is_text(first) else f64("start_time")  # ISO or Unix
    bucket = start + [f for f in BUCKET_FIELDS if f.name != "start_time"]
    return bucket_report_schema(first, bucket, start + RESULT_FIELDS)


def convert(raw: RawTable, options: Options, problems: Problems) -> Converted:
    df, loc = frame(raw, ("data", "results"))
    start = df["start_time"] if "start_time" in df.columns else None
    if start is None:
        problems.rows(loc, np.ones(len(df), bool), "start_time", "is missing: expected the bucket start")
        return Converted()
    unit = "s" if start.dtype.kind in "if" else None
    ts = timestamps(start, loc, problems, "start_time", unit=unit)
    model = text(col(df, "model"), len(df))
    is_image = df["images"].notna().to_numpy() if "images" in df.columns else np.zeros(len(df), bool)
    no_model = (model == "").to_numpy()
    if no_model.any():
        problems.rows(loc, no_model, "model", "is empty: export the usage grouped by model (group_by=model)")
    req = numbers(df, "num_model_requests", loc, problems, required=True)
    out = Converted()
    llm = ~is_image
    if llm.any():
        sub = df.loc[llm]
        sl = loc.take(np.flatnonzero(llm))
        out.llm = llm_frame(
            timestamp=ts[llm], provider=PROVIDER, model=model[llm], requests=req[llm],
            input_tokens=numbers(sub, "input_tokens", sl, problems, required=True),
            cached_input_tokens=numbers(sub, "input_cached_tokens", sl, problems, required=False),
            output_tokens=numbers(sub, "output_tokens", sl, problems, required=True),
            stage=options.stage, loc=sl, problems=problems)
        audio = [c for c in NOT_ADDED if c in sub.columns and sub[c].fillna(0).to_numpy().any()]
        if audio:
            out.notes.append(f"{raw.file}: {', '.join(audio)} are reported but not estimated (no audio model)")
    if is_image.any():
        sub = df.loc[is_image]
        sl = loc.take(np.flatnonzero(is_image))
        out.media = media_frame(
            timestamp=ts[is_image], provider=PROVIDER, model=model[is_image],
            kind="image_generation", requests=req[is_image],
            images=numbers(sub, "images", sl, problems, required=True), size=text(col(sub, "size"), len(sub)),
            stage=options.stage)
    return out
