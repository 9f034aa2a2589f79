"""OpenRouter activity (GET /api/v1/activity or the Activity page export): one row per day x
model x endpoint.

Fields (API snake_case; TypeScript SDK camelCase accepted): date (YYYY-MM-DD), model (slug,
e.g. openai/gpt-4.1), model_permaslug (dated, e.g. openai/gpt-4.1-2025-04-14), endpoint_id,
provider_name, usage (USD), byok_usage_inference, requests, prompt_tokens, completion_tokens,
reasoning_tokens. Mapping: requests = requests; input_tokens = prompt_tokens; output_tokens =
completion_tokens (reasoning tokens taken as included in completion tokens, as OpenAI counts
them; an open question); provider and model from the permaslug (else the slug) through the
alias table. No cached-token or region field.

Sources checked (December 2026, search tool): openrouter.ai/docs client-sdks typescript
models/activityitem, go models/components/activityitem, python components/activityitem.
"""
from __future__ import annotations

import pyarrow as pa

from audit.core.exceptions import Problem
from audit.inventory.usage_import.adapters.base import Converted, Options, col, frame
from audit.inventory.usage_import.reading import RawTable
from audit.inventory.usage_import.schema import Problems, llm_frame, numbers, text, timestamps

NAME = "openrouter"
CAMEL = {"modelPermaslug": "model_permaslug", "endpointId": "endpoint_id", "providerName": "provider_name",
         "byokUsageInference": "byok_usage_inference", "promptTokens": "prompt_tokens",
         "completionTokens": "completion_tokens", "reasoningTokens": "reasoning_tokens", "date_": "date"}
TEXT = ("date", "model", "model_permaslug", "endpoint_id", "provider_name")
NUM = ("usage", "byok_usage_inference", "requests", "prompt_tokens", "completion_tokens", "reasoning_tokens")
KNOWN = frozenset(TEXT + NUM) | frozenset(CAMEL)
SIGNATURE = frozenset({"requests", "model_permaslug"})
SIGNATURE_ALT = frozenset({"requests", "modelPermaslug"})
OPAQUE: frozenset = frozenset()


def schema(sample: list[dict]) -> pa.Schema:
    names = set().union(*(r.keys() for r in sample)) if sample else set()
    camel = [k for k in CAMEL if k in names]
    nums = set(NUM) | {k for k, v in CAMEL.items() if v in NUM}
    return pa.schema([pa.field(n, pa.float64() if n in nums else pa.string())
                      for n in (*TEXT, *NUM, *camel)])


def convert(raw: RawTable, options: Options, problems: Problems) -> Converted:
    df, loc = frame(raw)
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
