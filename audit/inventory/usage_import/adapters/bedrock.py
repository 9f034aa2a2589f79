"""AWS Bedrock model invocation logs (JSON lines, usually .json.gz from S3) -> canonical tables.

One record per invocation::

    {schemaType: "ModelInvocationLog", schemaVersion, timestamp (RFC 3339), accountId,
     identity: {arn}, region, requestId, operation, modelId, inferenceRegion,
     input: {inputContentType, inputBodyJson, inputTokenCount, cacheReadInputTokenCount,
             cacheWriteInputTokenCount},
     output: {outputContentType, outputBodyJson, outputTokenCount, outputVideoDurationSeconds,
              outputVideoFramesPerSecond, outputVideoHeight, outputVideoWidth, outputVideoS3Path},
     performanceConfig: {latency}, requestMetadata, status, errorCode}

Mapping: one record = one request; modelId goes through the alias table (Bedrock ids and
us./eu./apac. inference-profile prefixes); region = inferenceRegion when Bedrock re-routed the
call, else region, written as aws:<region code> (the estimator's provider:cloud-region form,
mapped to a country by data/factors/cloud_regions.csv); input_tokens = inputTokenCount +
cacheReadInputTokenCount + cacheWriteInputTokenCount and cached_input_tokens =
cacheReadInputTokenCount (assumption: Bedrock counts cache reads/writes apart from
inputTokenCount, as its Converse TokenUsage does); latency_s = outputBodyJson.metrics.latencyMs
/ 1000 (Converse only). Records with outputVideoDurationSeconds go to the media table as
video_generation seconds. inputBodyJson/outputBodyJson/requestMetadata are not read.

Sources checked (December 2026, search tool): Panther schema AWS.BedrockModelInvocation
(docs.panther.com, field list incl. inferenceRegion, cacheRead/WriteInputTokenCount,
outputVideo*); AWS re:Post "check the number of tokens" example log; Converse example with
metrics.latencyMs (slides, cloudfront mirror); Bedrock API TokenUsage (docs.aws.amazon.com).
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from audit.core.exceptions import Problem
from audit.inventory.usage_import.adapters.base import Converted, Options, col, f64, frame, s
from audit.inventory.usage_import.reading import RawTable
from audit.inventory.usage_import.schema import (
    Problems,
    llm_frame,
    media_frame,
    numbers,
    text,
    timestamps,
)

NAME = "bedrock"
FIELDS = (
    s("schemaType", "schemaVersion", "timestamp", "accountId", "region", "requestId", "operation", "modelId",
      "inferenceRegion", "status", "errorCode")
    + [pa.field("identity", pa.struct(s("arn"))),
       pa.field("input", pa.struct(s("inputContentType") + f64("inputTokenCount", "cacheReadInputTokenCount",
                                                              "cacheWriteInputTokenCount"))),
       pa.field("output", pa.struct(
           s("outputContentType", "outputVideoS3Path")
           + f64("outputTokenCount", "outputVideoDurationSeconds", "outputVideoFramesPerSecond",
                 "outputVideoHeight", "outputVideoWidth")
           + [pa.field("outputBodyJson", pa.struct([pa.field("metrics", pa.struct(f64("latencyMs")))]))])),
       pa.field("performanceConfig", pa.struct(s("latency")))]
)
OPAQUE = frozenset({"input.inputBodyJson", "output.outputBodyJson", "requestMetadata", "identity"})
KNOWN = frozenset({
    "schemaType", "schemaVersion", "timestamp", "accountId", "region", "requestId", "operation", "modelId",
    "inferenceRegion", "status", "errorCode", "identity", "identity.arn", "requestMetadata",
    "input.inputContentType", "input.inputBodyJson", "input.inputTokenCount", "input.cacheReadInputTokenCount",
    "input.cacheWriteInputTokenCount", "output.outputContentType", "output.outputBodyJson",
    "output.outputTokenCount", "output.outputVideoDurationSeconds", "output.outputVideoFramesPerSecond",
    "output.outputVideoHeight", "output.outputVideoWidth", "output.outputVideoS3Path", "performanceConfig.latency",
    "input.inputBodyS3Path", "output.outputBodyS3Path", "output.imageDataDelivery",
})
SIGNATURE = frozenset({"modelId", "input.inputTokenCount"})
SIGNATURE_ALT = frozenset({"schemaType", "modelId"})


def schema(sample: list[dict]) -> pa.Schema:
    return pa.schema(FIELDS)


def convert(raw: RawTable, options: Options, problems: Problems) -> Converted:
    df, loc = frame(raw)
    n = len(df)
    if "modelId" not in df.columns or "timestamp" not in df.columns:
        problems.add(Problem(raw.file, "fields 'modelId' and 'timestamp' are required in every record", column="modelId"))
        return Converted()
    ts = timestamps(df["timestamp"], loc, problems, "timestamp")
    model = text(df["modelId"], n)
    inferred = text(col(df, "inferenceRegion"), n)
    region = inferred.where(inferred != "", text(col(df, "region"), n))
    region = ("aws:" + region).where(region != "", "")  # the estimator's provider:cloud-region form
    video = df["output.outputVideoDurationSeconds"].notna().to_numpy() if "output.outputVideoDurationSeconds" in df else np.zeros(n, bool)
    latency_ms = numbers(df, "output.outputBodyJson.metrics.latencyMs", loc, problems, required=False,
                         whole=False, default=np.nan)
    out = Converted()
    llm = ~video
    if llm.any():
        sub, sl = df.loc[llm], loc.take(np.flatnonzero(llm))
        inp = numbers(sub, "input.inputTokenCount", sl, problems, required=False, shown="input.inputTokenCount")
        read = numbers(sub, "input.cacheReadInputTokenCount", sl, problems, required=False)
        write = numbers(sub, "input.cacheWriteInputTokenCount", sl, problems, required=False)
        out.llm = llm_frame(
            timestamp=ts[llm], provider="", model=model[llm],
            input_tokens=inp + read + write, cached_input_tokens=read,
            output_tokens=numbers(sub, "output.outputTokenCount", sl, problems, required=True,
                                  shown="output.outputTokenCount"),
            latency_s=latency_ms[llm] / 1000.0, region=region[llm], stage=options.stage,
            loc=sl, problems=problems)
    if video.any():
        sub, sl = df.loc[video], loc.take(np.flatnonzero(video))
        out.media = media_frame(
            timestamp=ts[video], provider=model[video].str.extract(r"^(?:[a-z]{2,6}\.)?([a-z0-9-]+)\.", expand=False)
            .fillna("").to_numpy(), model=model[video],
            kind="video_generation",
            video_seconds=numbers(sub, "output.outputVideoDurationSeconds", sl, problems, required=True, whole=False),
            size=(text(col(sub, "output.outputVideoWidth"), len(sub)).str.replace(r"\.0$", "", regex=True) + "x"
                  + text(col(sub, "output.outputVideoHeight"), len(sub)).str.replace(r"\.0$", "", regex=True)),
            region=region[video], stage=options.stage)
    return out
