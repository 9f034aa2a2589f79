"""Azure Monitor platform metrics of an Azure OpenAI / Foundry resource
(Microsoft.CognitiveServices/accounts), as the Metrics REST API returns them (JSON) or as a
long table (CSV: one row per time x metric x dimensions).

Metrics read (Name in REST API): ProcessedPromptTokens -> input_tokens, GeneratedTokens ->
output_tokens, AzureOpenAIRequests -> requests; aggregation "total". Dimensions:
ModelDeploymentName, ModelName, Region (REST: metadatavalues, lower-case names accepted).
Rows are summed by time grain x model x deployment x region (written azure:<region>, e.g.
azure:swedencentral; the REST envelope's resourceregion when the Region dimension is absent). model = ModelName when present,
else the deployment name (resolve it with engagement model_aliases). A grain with tokens
but no AzureOpenAIRequests is refused (requests unknown). No cached-token count is exported
(Prompt Token Cache Match Rate is a rate): cached_input_tokens = 0.

REST shape: {value: [{name: {value}, unit, timeseries: [{metadatavalues: [{name: {value}, value}],
data: [{timeStamp, total, ...}]}]}], resourceregion}. Long table columns: TimeGenerated |
timestamp | timeStamp, MetricName | metric, Total | total, and the dimension columns.

Sources checked (December 2026, search tool): learn.microsoft.com azure/ai-foundry/openai/
monitor-openai-reference and azure-monitor reference supported-metrics
microsoft-cognitiveservices-accounts-metrics (metric names, PT1M grain, dimensions); metric
REST names corroborated by Splunk's Azure OpenAI workshop (ProcessedPromptTokens,
GeneratedTokens, AzureOpenAIRequests). The REST envelope is Azure Monitor's Metrics - List
response (from the field notes; not re-verified in the corpora).
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa

from audit.core.exceptions import Problem
from audit.inventory.usage_import.adapters.base import Converted, Options, col
from audit.inventory.usage_import.reading import RawTable, load_document, open_binary
from audit.inventory.usage_import.schema import (
    Located,
    Problems,
    llm_frame,
    numbers,
    text,
    timestamps,
)

NAME = "azure-metrics"
METRICS = {"processedprompttokens": "input_tokens", "generatedtokens": "output_tokens",
           "azureopenairequests": "requests"}
DIMENSIONS = {"modeldeploymentname": "deployment", "modelname": "model_name", "region": "region",
              "modelversion": "model_version"}
KNOWN = frozenset({"cost", "timespan", "interval", "value", "namespace", "resourceregion", "id", "type", "name.value",
                   "name.localizedValue", "unit", "timeseries", "metadatavalues", "data", "timeStamp", "total",
                   "average", "count", "minimum", "maximum", "displayDescription", "errorCode", "value.",
                   "TimeGenerated", "timestamp", "MetricName", "metric", "Total", "ModelDeploymentName", "ModelName",
                   "ModelVersion", "Region", "ApiName", "StreamType", "OperationName", "Average", "Count", "Minimum",
                   "Maximum", "UnitName", "TimeGrain", "ResourceId", "_ResourceId", "Unit", "errorMessage",
                   "FeatureName", "UsageChannel", "StatusCode", "ApiVersion"})
SIGNATURE = frozenset({"timeseries", "metadatavalues"})
SIGNATURE_ALT = frozenset({"MetricName", "ModelDeploymentName"})
# long tables spelt otherwise: lower-case metric/total (a script's own export), ModelName alone
SIGNATURES_MORE = (frozenset({"metric", "ModelDeploymentName"}), frozenset({"MetricName", "ModelName"}),
                   frozenset({"metric", "ModelName"}))
OPAQUE: frozenset = frozenset()


def schema(sample: list[dict]) -> pa.Schema | None:
    return None  # read in Python: the REST document is small and deeply nested


def _rest_rows(doc) -> list[dict]:
    rows = []
    docs = doc if isinstance(doc, list) else [doc]
    for d in docs:
        region = d.get("resourceregion", "") if isinstance(d, dict) else ""
        for number, metric in enumerate(d.get("value", []) if isinstance(d, dict) else [], start=1):
            name = str((metric.get("name") or {}).get("value", "")).lower()
            for series in metric.get("timeseries", []) or []:
                dims = {DIMENSIONS.get(str((m.get("name") or {}).get("value", "")).lower(), "other"): m.get("value", "")
                        for m in series.get("metadatavalues", []) or []}
                for point in series.get("data", []) or []:
                    rows.append({"time": point.get("timeStamp"), "metric": name, "total": point.get("total"),
                                 "deployment": dims.get("deployment", ""), "model_name": dims.get("model_name", ""),
                                 "region": dims.get("region", region), "_record": number})
    return rows


def convert(raw: RawTable, options: Options, problems: Problems) -> Converted:
    if raw.kind in ("json", "jsonl") and raw.table.num_rows == 0:
        if raw.kind == "json":
            doc = load_document(raw.file)
        else:
            with open_binary(raw.file) as fh:
                doc = [json.loads(x) for x in fh if x.strip()]
        long = pd.DataFrame(_rest_rows(doc))
        if long.empty:
            return Converted(notes=[f"{raw.file}: no metric points"])
        loc = Located(raw.file, long.pop("_record").to_numpy(), None, "metric")
        time_name = "timeStamp"
    else:
        df = raw.table.to_pandas()
        # Log Analytics' CSV export writes "TimeGenerated [UTC]"; names are matched ignoring case
        names = [str(c) for c in df.columns]  # as the file spells them, for messages
        df.columns = [c.split(" [", 1)[0].strip().lower() for c in names]
        loc = Located(raw.file, raw.line, None, raw.unit)
        time_name = next((c for c in names if c.split(" [", 1)[0].strip().lower() in ("timegenerated", "timestamp")),
                         "TimeGenerated")
        long = pd.DataFrame({
            "time": col(df, "timegenerated", "timestamp"), "metric": text(col(df, "metricname", "metric"), len(df)).str.lower(),
            "total": col(df, "total"), "deployment": text(col(df, "modeldeploymentname"), len(df)),
            "model_name": text(col(df, "modelname"), len(df)), "region": text(col(df, "region"), len(df))})
        if long["time"].isna().all() or long["total"].isna().all():
            problems.add(Problem(raw.file, "expected columns TimeGenerated (or timestamp), MetricName and Total"))
            return Converted()
    keep = long["metric"].isin(list(METRICS)).to_numpy()
    long, loc = long.loc[keep].reset_index(drop=True), loc.take(np.flatnonzero(keep))
    ts = timestamps(long["time"], loc, problems, time_name)
    long["total"] = numbers(long, "total", loc, problems, required=False)
    long["time"] = ts
    long["line"] = loc.line
    wide = long.pivot_table(index=["time", "deployment", "model_name", "region"], columns="metric", values="total",
                            aggfunc="sum", fill_value=0.0).reset_index()
    lines = long.groupby(["time", "deployment", "model_name", "region"])["line"].min().to_numpy()
    for m in METRICS:
        if m not in wide.columns:
            wide[m] = 0.0
    wl = Located(raw.file, lines, None, loc.unit)
    req = wide["azureopenairequests"].to_numpy(float)
    tokens = wide["processedprompttokens"].to_numpy(float) + wide["generatedtokens"].to_numpy(float)
    missing = (req == 0) & (tokens > 0)
    if missing.any():
        problems.rows(wl, missing, "AzureOpenAIRequests",
                      "tokens without a request count in this time grain: export AzureOpenAIRequests with the same "
                      "dimensions")
    model = wide["model_name"].where(wide["model_name"] != "", wide["deployment"])
    region = wide["region"].astype(str).str.replace(" ", "").str.lower()
    region = ("azure:" + region).where(region != "", "")  # the estimator's provider:cloud-region form
    return Converted(llm=llm_frame(
        timestamp=wide["time"], provider="azure-openai", model=model, requests=req,
        input_tokens=wide["processedprompttokens"].to_numpy(float), output_tokens=wide["generatedtokens"].to_numpy(float),
        region=region, stage=options.stage, loc=wl, problems=problems))
