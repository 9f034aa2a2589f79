"""LiteLLM proxy spend logs: ``LiteLLM_SpendLogs`` (one row per request) or one of its daily
aggregate tables (``LiteLLM_DailyUserSpend``/``TeamSpend``/``OrganizationSpend``/``EndUserSpend``/
``AgentSpend``/``TagSpend``: one row per date x key x model), as CSV from psql or JSON from
/spend/logs.

SpendLogs columns read: startTime, endTime, request_duration_ms, model, custom_llm_provider,
prompt_tokens, completion_tokens, cache_hit. One row = one request. provider =
custom_llm_provider (openai, azure -> azure-openai, anthropic, bedrock -> from the model id,
vertex_ai -> vertex, ...); model through the alias table, after LiteLLM's route prefix
(bedrock/, azure/, vertex_ai/, openrouter/ ...) is taken off, the route naming the provider
when custom_llm_provider is empty. latency_s = request_duration_ms /
1000 where a row has it, else endTime - startTime (row by row: older rows lack the column's value). Rows with cache_hit true were answered from
LiteLLM's own response cache, with no model call: they are left out and counted in a note.
Cached prompt tokens sit only inside the ``metadata`` JSON (usage_object) and are not read
(cached_input_tokens = 0, which counts them as fresh prefill: conservative).

Daily tables: date, model, custom_llm_provider, prompt_tokens, completion_tokens,
cache_read_input_tokens, cache_creation_input_tokens, api_requests (requests = api_requests,
failed ones included), cached_input_tokens = cache_read_input_tokens (prompt_tokens taken to
include cached tokens, LiteLLM's OpenAI-style usage).

Sources checked (December 2026, search tool): BerriAI/litellm ``schema.prisma`` (commit
029f645f1c81cbd6c6c48fbc8490d91da937066f: model LiteLLM_SpendLogs and the LiteLLM_Daily*Spend
models, every column name above); ``litellm-js/spend-logs/src/_types.ts``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from audit.core.exceptions import Problem
from audit.inventory.usage_import.adapters.base import Converted, Options, col, f64, frame, has_values, s
from audit.inventory.usage_import.reading import RawTable
from audit.inventory.usage_import.schema import Problems, llm_frame, numbers, optional_times, text, timestamps

NAME = "litellm"
PROVIDER_OF = {"openai": "openai", "text-completion-openai": "openai", "azure": "azure-openai",
               "azure_ai": "azure-openai", "anthropic": "anthropic", "bedrock": "", "vertex_ai": "vertex",
               "vertex_ai_beta": "vertex", "gemini": "gemini", "mistral": "mistral", "cohere": "cohere",
               "cohere_chat": "cohere", "huggingface": "huggingface", "openrouter": "", "bedrock_converse": ""}


def _unrouted(model, provider):
    """(model, provider) with LiteLLM's route prefix taken off the model ("bedrock/us.anthropic...",
    "azure/gpt-4o", "openrouter/openai/gpt-4o", as a LiteLLM config names models); the route gives
    the provider where custom_llm_provider is empty. Other names are kept as they are."""
    route = model.str.extract(r"^([a-z_]+)/", expand=False)
    routed = route.isin(list(PROVIDER_OF)).to_numpy()
    if not routed.any():
        return model, provider
    model = model.where(~routed, model.str.replace(r"^[a-z_]+/", "", regex=True))
    provider = provider.where(~(routed & (provider == "").to_numpy()), route.map(PROVIDER_OF).fillna(""))
    return model, provider
TEXT = ("request_id", "call_type", "api_key", "startTime", "endTime", "completionStartTime", "model", "model_id",
        "model_group", "custom_llm_provider", "api_base", "user", "cache_hit", "cache_key", "team_id",
        "organization_id", "end_user", "requester_ip_address", "session_id", "status", "mcp_namespaced_tool_name",
        "agent_id")
NUM = ("spend", "total_tokens", "prompt_tokens", "completion_tokens", "request_duration_ms")
DAILY_TEXT = ("id", "date", "user_id", "team_id", "organization_id", "end_user_id", "agent_id", "tag", "request_id",
              "mcp_namespaced_tool_name", "endpoint", "created_at", "updated_at")
DAILY_NUM = ("cache_read_input_tokens", "cache_creation_input_tokens", "api_requests", "successful_requests",
             "failed_requests")
OPAQUE = frozenset({"metadata", "request_tags", "messages", "response", "proxy_server_request"})
KNOWN = frozenset(TEXT + NUM + DAILY_TEXT + DAILY_NUM) | OPAQUE
SIGNATURE = frozenset({"startTime", "prompt_tokens", "completion_tokens", "request_id"})
SIGNATURE_ALT = frozenset({"date", "prompt_tokens", "completion_tokens", "api_requests"})


def schema(sample: list[dict]) -> pa.Schema:
    # cache_hit is text in a psql CSV ("False") and a JSON boolean from the /spend/logs API
    flag = pa.bool_() if any(isinstance(r.get("cache_hit"), bool) for r in sample) else pa.string()
    return pa.schema([pa.field(c, flag if c == "cache_hit" else pa.string())
                      for c in (*TEXT, *(c for c in DAILY_TEXT if c not in TEXT))] + f64(*NUM, *DAILY_NUM))


def convert(raw: RawTable, options: Options, problems: Problems) -> Converted:
    df, loc = frame(raw)
    # a JSON file is read with every column the adapter knows: present-but-empty is absent
    if has_values(df, "api_requests") and not has_values(df, "startTime"):
        return _daily(raw, df, loc, options, problems)
    for c in ("startTime", "model", "completion_tokens"):
        if c not in df.columns:
            problems.add(Problem(raw.file, f"column '{c}' is missing", column=c))
            return Converted()
    hit = text(col(df, "cache_hit"), len(df)).str.lower().isin(["true", "1", "t"]).to_numpy()
    notes = []
    if hit.any():
        notes.append(f"{raw.file}: {int(hit.sum())} rows answered from LiteLLM's response cache (cache_hit) "
                     "were left out: no model was called")
    keep = np.flatnonzero(~hit)
    df, loc = df.iloc[keep].reset_index(drop=True), loc.take(keep)
    n = len(df)
    start = timestamps(df["startTime"], loc, problems, "startTime")
    # request_duration_ms where a row has it (newer LiteLLM), else endTime - startTime, row by row
    latency = numbers(df, "request_duration_ms", loc, problems, required=False, whole=False, default=np.nan) / 1000
    if has_values(df, "endTime"):
        end = optional_times(df["endTime"])
        latency = np.where(np.isnan(latency), (end - start).dt.total_seconds().to_numpy(dtype=float, na_value=np.nan),
                           latency)
    prov = text(col(df, "custom_llm_provider"), n).str.lower()
    model, provider = _unrouted(text(df["model"], n), prov.map(PROVIDER_OF).fillna(prov))
    return Converted(llm=llm_frame(
        timestamp=start, provider=provider, model=model,
        input_tokens=numbers(df, "prompt_tokens", loc, problems, required=False),
        output_tokens=numbers(df, "completion_tokens", loc, problems, required=True),
        latency_s=latency, stage=options.stage, loc=loc, problems=problems), notes=notes)


def _daily(raw: RawTable, df, loc, options: Options, problems: Problems) -> Converted:
    """A LiteLLM_Daily*Spend table: one row per date x key x model, api_requests requests."""
    n = len(df)
    prov = text(col(df, "custom_llm_provider"), n).str.lower()
    model, provider = _unrouted(text(col(df, "model"), n), prov.map(PROVIDER_OF).fillna(prov))
    return Converted(llm=llm_frame(
        timestamp=timestamps(df["date"], loc, problems, "date"), provider=provider,
        model=model, requests=numbers(df, "api_requests", loc, problems, required=True),
        input_tokens=numbers(df, "prompt_tokens", loc, problems, required=False),
        cached_input_tokens=numbers(df, "cache_read_input_tokens", loc, problems, required=False),
        output_tokens=numbers(df, "completion_tokens", loc, problems, required=True),
        stage=options.stage, loc=loc, problems=problems))
