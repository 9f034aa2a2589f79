"""The toolkit's own canonical usage log (CSV, Parquet or JSON lines) read through the same
checks as every export: timestamp, provider, model, output_tokens required; requests (default
1), input_tokens, cached_input_tokens, latency_s, stage, region optional. Column names are
matched ignoring case and surrounding spaces. Source: the contract in issue 14 / README.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from audit.core.exceptions import Problem
from audit.inventory.usage_import.adapters.base import Converted, Options, col, f64, frame, s
from audit.inventory.usage_import.reading import RawTable
from audit.inventory.usage_import.schema import (
    LLM_COLUMNS,
    LLM_REQUIRED,
    Problems,
    llm_frame,
    numbers,
    text,
    timestamps,
)

NAME = "canonical"
KNOWN = frozenset(LLM_COLUMNS)
SIGNATURE = frozenset(LLM_REQUIRED)
OPAQUE: frozenset = frozenset()


def schema(sample: list[dict]) -> pa.Schema:
    return pa.schema(s("timestamp", "provider", "model", "stage", "region")
                     + f64("requests", "input_tokens", "cached_input_tokens", "output_tokens", "latency_s"))


def convert(raw: RawTable, options: Options, problems: Problems) -> Converted:
    df, loc = frame(raw)
    df.columns = [str(c).strip().lower() for c in df.columns]
    missing = [c for c in LLM_REQUIRED if c not in df.columns]
    if missing:
        problems.add(Problem(raw.file, f"required column(s) missing: {', '.join(missing)}", column=missing[0]))
        return Converted()
    n = len(df)
    ts = timestamps(df["timestamp"], loc, problems, "timestamp")
    req = numbers(df, "requests", loc, problems, required=False, default=1.0)
    stage = text(col(df, "stage"), n)
    if options.stage:
        stage = stage.where(stage != "", options.stage)
    return Converted(llm=llm_frame(
        timestamp=ts, provider=text(df["provider"], n), model=text(df["model"], n), requests=req,
        input_tokens=numbers(df, "input_tokens", loc, problems, required=False),
        cached_input_tokens=numbers(df, "cached_input_tokens", loc, problems, required=False),
        output_tokens=numbers(df, "output_tokens", loc, problems, required=True),
        latency_s=numbers(df, "latency_s", loc, problems, required=False, whole=False, default=np.nan),
        stage=stage, region=text(col(df, "region"), n), loc=loc, problems=problems))
