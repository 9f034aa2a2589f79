"""Helicone request exports (``npx @helicone/export --format jsonl|csv``, or
POST /v1/request/query-clickhouse).

Fields read: request_created_at, provider, model (else response_model, request_model),
prompt_tokens, completion_tokens, prompt_cache_read_tokens, prompt_cache_write_tokens,
delay_ms, target_url. One record = one request. provider lower-cased (OPENAI -> openai).
input_tokens = prompt_tokens; cached_input_tokens = prompt_cache_read_tokens (assumption:
prompt_tokens includes the cache-read part, as OpenAI's prompt_tokens does; a row whose cache
reads exceed prompt_tokens is refused, which would reveal the other convention).
latency_s = delay_ms / 1000. country_code is the caller's country, not the data centre: not
used as region.

Sources checked (December 2026, search tool): roboalchemist/llm-code-docs
``docs/llms-txt/helicone/post-v1requestquery-clickhouse.md`` (mirror of
docs.helicone.ai/rest/request/post-v1requestquery-clickhouse: HeliconeRequest fields) and the
export tool README (Helicone/helicone examples/export). Field list as in
the usage-export field notes the project was given (summarised, with sources, in docs/usage_import.md).
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from audit.core.exceptions import Problem
from audit.inventory.usage_import.adapters.base import Converted, Options, col, f64, frame, s
from audit.inventory.usage_import.reading import RawTable
from audit.inventory.usage_import.schema import Problems, llm_frame, numbers, text, timestamps

NAME = "helicone"
TEXT = ("request_id", "request_created_at", "response_created_at", "request_model", "response_model", "model",
        "model_override", "provider", "country_code", "target_url", "request_user_id", "request_path",
        "helicone_user", "cache_reference_id", "prompt_id")
NUM = ("delay_ms", "time_to_first_token", "prompt_tokens", "completion_tokens", "total_tokens",
       "prompt_cache_read_tokens", "prompt_cache_write_tokens", "prompt_audio_tokens", "completion_audio_tokens",
       "cost", "costUSD", "response_status", "cache_enabled", "scores")
OPAQUE = frozenset({"request_properties", "properties", "request_body", "response_body", "assets",
                    "signed_body_url", "llmSchema", "request_feedback"})
KNOWN = frozenset(TEXT + NUM) | OPAQUE
SIGNATURE = frozenset({"request_created_at", "prompt_tokens", "completion_tokens"})


def schema(sample: list[dict]) -> pa.Schema:
    return pa.schema(s(*TEXT) + f64(*NUM[:-2]))


def convert(raw: RawTable, options: Options, problems: Problems) -> Converted:
    df, loc = frame(raw)
    n = len(df)
    if "request_created_at" not in df.columns:
        problems.add(Problem(raw.file, "field 'request_created_at' is missing", column="request_created_at"))
        return Converted()
    ts = timestamps(df["request_created_at"], loc, problems, "request_created_at")
    model = text(col(df, "model"), n)
    for alt in ("response_model", "request_model"):
        if alt in df.columns:
            model = model.where(model != "", text(df[alt], n))
    return Converted(llm=llm_frame(
        timestamp=ts, provider=text(col(df, "provider"), n).str.lower(), model=model,
        input_tokens=numbers(df, "prompt_tokens", loc, problems, required=False),
        cached_input_tokens=numbers(df, "prompt_cache_read_tokens", loc, problems, required=False),
        output_tokens=numbers(df, "completion_tokens", loc, problems, required=True),
        latency_s=numbers(df, "delay_ms", loc, problems, required=False, whole=False, default=np.nan) / 1000,
        stage=options.stage, loc=loc, problems=problems))
