"""OpenRouter activity (GET /api/v1/activity or the Activity page export): one row per day x
model x endpoint.

Fields (API snake_case; TypeScript SDK camelCase accepted): date (YYYY-MM-DD), model (slug,
e.g. openai/gpt-4.1), model_permaslug (dated, e.g. openai/gpt-4.1-2025-04-14), endpoint_id,
provider_name, usage (USD), byok_usage_inference, requests, prompt_tokens, completion_tokens,
reasoning_tokens. Mapping: requests = requests; input_tokens = prompt_tokens; output_tokens =
completion_tokens (reasoning tokens taken as included in completion tokens, as OpenAI counts
them; an open question); provider and model from the permaslug (else the slug) through the
alias table. No cached-token or region field.

Per-generation exports (the Logs page's CSV export, or generation records saved from GET
/api/v1/generation): one row per request. Columns read: created_at, model_permaslug (else
model), tokens_prompt, tokens_completion, tokens_cached, generation_time_ms (API:
generation_time, ms). Mapping: requests = 1; input_tokens = tokens_prompt (cached tokens
taken as part of it, as OpenAI counts them; a row whose cached tokens exceed it is refused);
cached_input_tokens = tokens_cached; output_tokens = tokens_completion (reasoning included, as
OpenRouter bills it); latency_s = generation_time_ms / 1000.

Sources checked (December 2026, search tool): openrouter.ai/docs client-sdks typescript
models/activityitem, go models/components/activityitem, python components/activityitem;
the Logs CSV export's header as a public analyzer of such files reads it (GitHub
CodexClawd/codexclawd skills/openrouter-analyzer/scripts/analyze.py: generation_id,
created_at "2026-02-06 18:54:30.040", cost_*, tokens_prompt/completion/reasoning/cached,
model_permaslug, provider_name, generation_time_ms, time_to_first_token_ms); the generation
API's fields from a saved response in the code corpus (created_at, model, tokens_prompt,
tokens_completion, native_tokens_*, latency, generation_time).
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from audit.core.exceptions import Problem
from audit.inventory.usage_import.adapters.base import Converted, Options, col, frame, has_values
from audit.inventory.usage_import.reading import RawTable
from audit.inventory.usage_import.schema import Problems, llm_frame, numbers, text, timestamps

NAME = "openrouter"
CAMEL = {"modelPermaslug": "model_permaslug", "endpointId": "endpoint_id", "providerName": "provider_name",
         "byokUsageInference": "byok_usage_inference", "promptTokens": "prompt_tokens",
         "completionTokens": "completion_tokens", "reasoningTokens": "reasoning_tokens", "date_": "date"}
# per-generation exports (Logs CSV; generation API records)
GEN_TEXT = ("generation_id", "created_at", "finish_reason_normalized", "id", "origin", "finish_reason",
            "native_finish_reason", "upstream_id", "external_user", "app_id")
GEN_NUM = ("cost_total", "cost_web_search", "cost_cache", "cost_file_processing", "tokens_prompt",
           "tokens_completion", "tokens_reasoning", "tokens_cached", "generation_time_ms", "time_to_first_token_ms",
           "generation_time", "latency", "moderation_latency", "native_tokens_prompt", "native_tokens_completion",
           "native_tokens_completion_images", "native_tokens_reasoning", "native_tokens_cached", "num_media_prompt",
           "num_media_completion", "num_search_results", "total_cost", "cache_discount")
GEN_FLAGS = ("streamed", "cancelled", "is_byok")
TEXT = ("date", "model", "model_permaslug", "endpoint_id", "provider_name") + GEN_TEXT
NUM = ("usage", "byok_usage_inference", "requests", "prompt_tokens", "completion_tokens", "reasoning_tokens") + GEN_NUM
KNOWN = frozenset(TEXT + NUM + GEN_FLAGS) | frozenset(CAMEL)
SIGNATURE = frozenset({"requests", "model_permaslug"})
SIGNATURE_ALT = frozenset({"requests", "modelPermaslug"})
SIGNATURES_MORE = (frozenset({"tokens_prompt", "tokens_completion", "created_at"}),)
OPAQUE: frozenset = frozenset()


def schema(sample: list[dict]) -> pa.Schema:
    names = set().union(*(r.keys() for r in sample)) if sample else set()
    camel = [k for k in CAMEL if k in names]
    nums = set(NUM) | {k for k, v in CAMEL.items() if v in NUM}
    return pa.schema([pa.field(n, pa.float64() if n in nums else pa.string())
                      for n in (*TEXT, *NUM, *camel)])


def _generations(raw: RawTable, df, loc, options: Options, problems: Problems) -> Converted:
    """One row per generation (the Logs CSV export, generation API records)."""
    n = len(df)
    model = text(col(df, "model_permaslug"), n)
    model = model.where(model != "", text(col(df, "model"), n))
    ms = numbers(df, "generation_time_ms", loc, problems, required=False, whole=False, default=np.nan)
    if not has_values(df, "generation_time_ms"):
        ms = numbers(df, "generation_time", loc, problems, required=False, whole=False, default=np.nan)
    return Converted(llm=llm_frame(
        timestamp=timestamps(df["created_at"], loc, problems, "created_at"), provider="", model=model,
        input_tokens=numbers(df, "tokens_prompt", loc, problems, required=False),
        cached_input_tokens=numbers(df, "tokens_cached", loc, problems, required=False),
        output_tokens=numbers(df, "tokens_completion", loc, problems, required=True),
        latency_s=ms / 1000.0, stage=options.stage, loc=loc, problems=problems))


def convert(raw: RawTable, options: Options, problems: Problems) -> Converted:
    df, loc = frame(raw)
    if has_values(df, "tokens_completion") and "created_at" in df.columns and not has_values(df, "requests"):
        return _generations(raw, df, loc, options, problems)
    for camel, snake in CAMEL.items():
        if camel in df.columns and (snake not in df.columns or df[snake].isna().all()):
            df[snake] = df[camel]
    n = len(df)
    if "date" not in df.columns:
        problems.add(Problem(raw.file, "field 'date' is missing", column="date"))
        return Converted()
    ts = timestamps(df["date"], loc, problems, "date")
    slug = text(col(df, "model_permaslug"), n)
    slug = slug.where(slug != "", text(col(df, "model"), n))
    return Converted(llm=llm_frame(
        timestamp=ts, provider="", model=slug,
        requests=numbers(df, "requests", loc, problems, required=True),
        input_tokens=numbers(df, "prompt_tokens", loc, problems, required=False),
        output_tokens=numbers(df, "completion_tokens", loc, problems, required=True),
        stage=options.stage, loc=loc, problems=problems))
