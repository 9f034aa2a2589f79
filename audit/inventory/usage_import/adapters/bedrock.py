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
/ 1000 (Converse; ConverseStream logs a list of events whose metadata event carries it;
InvokeModel bodies are the provider's own payload and carry none). modelId may be an ARN
(arn:aws:bedrock:REGION:ACCOUNT:inference-profile/us.anthropic...): the alias table reads the id. Records with outputVideoDurationSeconds go to the media table as
video_generation seconds. A failed invocation (errorCode set, no outputTokenCount) is left out
and counted in a note. inputBodyJson/outputBodyJson/requestMetadata are not read.

Sources checked (December 2026, search tool): Panther schema AWS.BedrockModelInvocation
(docs.panther.com, field list incl. inferenceRegion, cacheRead/WriteInputTokenCount,
outputVideo*); AWS re:Post "check the number of tokens" example log; Converse example with
metrics.latencyMs (slides, cloudfront mirror); Bedrock API TokenUsage (docs.aws.amazon.com).
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pyarrow as pa

from audit.core.exceptions import Problem
from audit.inventory.usage_import.adapters.base import Converted, Options, col, f64, frame, s
from audit.inventory.usage_import.reading import RawTable, open_binary, sample_records
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
                 "outputVideoHeight", "outputVideoWidth"))),
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


LATENCY_MS = re.compile(rb'"latencyMs"\s*:\s*([0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)')


def _body_latency(body) -> float:
    """metrics.latencyMs of an outputBodyJson: an object for Converse, a list of stream events
    for ConverseStream (the metadata event carries it); NaN for any other body."""
    if isinstance(body, list):
        for event in body:
            if isinstance(event, dict) and isinstance(event.get("metadata"), dict):
                body = event["metadata"]
                break
    metrics = body.get("metrics") if isinstance(body, dict) else None
    value = metrics.get("latencyMs") if isinstance(metrics, dict) else None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0 else np.nan


def _latency_ms(raw: RawTable, n: int) -> np.ndarray:
    """Each record's latency in ms from outputBodyJson, NaN where there is none.

    outputBodyJson is the provider's own payload (an object for Converse and InvokeModel, a list
    of chunks for streaming calls), so it is not given to Arrow. In JSON lines the number is
    taken from the lines that hold the key, without parsing them (a million Converse records
    would cost ~20 s of json.loads); a JSON document's records are parsed."""
    out = np.full(n, np.nan)
    if raw.kind not in ("json", "jsonl") or not n:
        return out
    if raw.kind == "json":
        for i, rec in enumerate(sample_records(Path(raw.file), "json", limit=n)):
            out[i] = _body_latency((rec.get("output") or {}).get("outputBodyJson"))
        return out
    record = 0  # records before this block (blank lines are not records)
    rest = b""
    with open_binary(Path(raw.file)) as fh:
        while True:
            block = fh.read(BLOCK)
            data = rest + block
            if not data:
                break
            cut = data.rfind(b"\n") + 1 if block else len(data)
            if cut == 0:
                rest = data
                continue
            data, rest = data[:cut], data[cut:]
            record = _block_latencies(data, record, out)
    return out


BLOCK = 1 << 26  # 64 MiB of JSON lines at a time


def _block_latencies(data: bytes, record: int, out: np.ndarray) -> int:
    """Fill ``out`` from the latencyMs keys in ``data`` (whole lines; the first key of a line);
    return the record count after the block. The key as JSON writes it: inside a prompt's text
    its quotes would be escaped and it would not match."""
    arr = np.frombuffer(data, np.uint8)
    ends = np.flatnonzero(arr == 10)
    if not len(ends) or ends[-1] != len(arr) - 1:
        ends = np.append(ends, len(arr))
    starts = np.concatenate([[0], ends[:-1] + 1])
    length = ends - starts
    first = arr[np.minimum(starts, len(arr) - 1)]
    blank = (length == 0) | ((length == 1) & (first == 13))
    ordinal = record + np.cumsum(~blank) - 1
    hits = [(m.start(), m.group(1)) for m in LATENCY_MS.finditer(data)]
    if hits:
        pos = np.fromiter((h[0] for h in hits), np.int64, len(hits))
        val = np.array([float(h[1]) for h in hits])
        line = np.searchsorted(ends, pos)
        line, keep = np.unique(line, return_index=True)  # the first key of each line
        idx = ordinal[line]
        ok = idx < len(out)
        out[idx[ok]] = val[keep][ok]
    return int(record + (~blank).sum())


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
    latency_ms = _latency_ms(raw, n)
    out = Converted()
    # A failed invocation (errorCode set) logs no output count: no answer was generated. It is
    # left out and counted in a note; any other record without outputTokenCount is refused.
    no_output = (df["output.outputTokenCount"].isna().to_numpy() if "output.outputTokenCount" in df
                 else np.ones(n, bool))
    failed = (text(col(df, "errorCode"), n) != "").to_numpy() & no_output & ~video
    if failed.any():
        codes = sorted(set(text(col(df, "errorCode"), n)[failed]))
        out.notes.append(f"{raw.file}: {int(failed.sum())} failed invocation(s) without an output token count left "
                         f"out (errorCode: {', '.join(codes[:5])})")
    llm = ~video & ~failed
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
