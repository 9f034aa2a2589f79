"""Generator of usage exports as clients really have them, each with its canonical twin.

Every format (``--from`` name) is written from one list of "truth" rows in many realistic
variants: JSON document vs JSON lines vs CSV vs gzip, camelCase vs snake_case spellings, one
API response on one line, one page per line, a list of pages, optional fields missing or null,
empty nested objects, unknown extra fields, model names as exports spell them (dated
snapshots, Bedrock ids with us./eu. prefixes and ARNs, OpenRouter slugs), timestamps as Unix
seconds and RFC 3339. Field names follow the adapters' docstrings (which cite their sources);
values are synthetic.

``variants()`` -> list of Variant(id, fmt, files {name: bytes}, canonical rows, mean).
The canonical twin is what a consultant would write by hand from the same numbers: one row per
request or bucket, in this toolkit's canonical columns.
"""
from __future__ import annotations

import csv
import gzip
import io
import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone

MEAN = 500  # stated mean output tokens per request for exports without a request count
CANON = ["timestamp", "provider", "model", "requests", "input_tokens", "cached_input_tokens", "output_tokens",
         "latency_s", "stage", "region"]


@dataclass
class Variant:
    id: str
    fmt: str
    files: dict[str, bytes]
    canonical: list[dict]
    mean: float | None = None
    media: list[dict] = field(default_factory=list)  # expected media rows (kind, model, images, video_seconds)


# --- encoders -------------------------------------------------------------------------------------
def as_json(obj, indent=1) -> bytes:
    return (json.dumps(obj, indent=indent) + "\n").encode()


def as_oneline(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()  # no trailing newline, as curl -o saves it


def as_jq_stream(values) -> bytes:
    """Values one after another, pretty-printed, as `jq . page1.json page2.json` writes them."""
    return "".join(json.dumps(v, indent=2) + "\n" for v in values).encode()


def as_lines(records) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def as_csv(rows: list[dict], columns: list[str] | None = None) -> bytes:
    columns = columns or list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    w = csv.DictWriter(buf, columns, extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({c: ("" if r.get(c) is None else (json.dumps(r[c]) if isinstance(r.get(c), (dict, list))
                                                         else r.get(c))) for c in columns})
    return buf.getvalue().encode()


def gz(data: bytes) -> bytes:
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as fh:
        fh.write(data)
    return out.getvalue()


def unix(ts: str) -> int:
    return int(datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp())


def epoch(value: str, ms: bool):
    """Unix seconds (whole) or milliseconds of an ISO/SQL time text (naive = UTC)."""
    t = datetime.fromisoformat(value.replace("Z", "+00:00").replace(" UTC", "+00:00"))
    t = t if t.tzinfo else t.replace(tzinfo=timezone.utc)
    return round(t.timestamp() * 1000) if ms else int(t.timestamp())


def unixify(obj, keys: set[str], ms: bool):
    """A copy of ``obj`` whose time fields named in ``keys`` are Unix seconds or milliseconds."""
    if isinstance(obj, list):
        return [unixify(o, keys, ms) for o in obj]
    if isinstance(obj, dict):
        return {k: (epoch(v, ms) if k in keys and isinstance(v, str) else unixify(v, keys, ms)) for k, v in obj.items()}
    return obj


def canon(ts, provider, model, requests, inp, cached, out, latency=None, region="") -> dict:
    return {"timestamp": ts, "provider": provider, "model": model, "requests": requests, "input_tokens": inp,
            "cached_input_tokens": cached, "output_tokens": out, "latency_s": "" if latency is None else latency,
            "stage": "", "region": region}


def flatten(d: dict, prefix="", sep=".") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.update(flatten(v, f"{prefix}{k}{sep}", sep))
        else:
            out[f"{prefix}{k}"] = v
    return out


EXTRA = {"x_custom_note": "synthetic", "x_meta": {"source": "generator", "tags": ["a", "b"]}}


# --- OpenAI organisation Usage API ------------------------------------------------------------------
D1, D2, D3 = "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z"
OPENAI_TRUTH = [  # bucket start, raw model, canonical model, requests, input, cached, output
    (D1, "gpt-4o-2024-08-06", "gpt-4o-2024-08-06", 150, 120000, 20000, 30000),
    (D1, "gpt-4o-mini", "gpt-4o-mini", 40, 50000, 0, 9000),
    (D3, "gpt-4o-mini-2024-07-18", "gpt-4o-mini-2024-07-18", 12, 8000, 1000, 2000),
]


def _oa_result(model, n, inp, cached, out, style):
    r = {"object": "organization.usage.completions.result", "input_tokens": inp, "input_cached_tokens": cached,
         "output_tokens": out, "input_audio_tokens": 0, "output_audio_tokens": 0, "num_model_requests": n,
         "project_id": None, "user_id": None, "api_key_id": None, "model": model, "batch": False,
         "service_tier": "default"}
    if style == "sparse":  # optional fields missing, nulls where the API may give them
        r = {"input_tokens": inp, "output_tokens": out, "num_model_requests": n, "model": model,
             "input_cached_tokens": cached if cached else None, "batch": None}
    if style == "extra":
        r.update(EXTRA)
    return r


def _oa_buckets(style, time_as, results_for):
    buckets = []
    for start in (D1, D2, D3):
        rows = [r for r in results_for if r[0] == start]
        b = {"object": "bucket", "start_time": unix(start) if time_as == "unix" else start,
             "end_time": unix(start) + 86400 if time_as == "unix" else start,
             "results": rows and [_oa_result(m, n, i, c, o, style) for _, m, _, n, i, c, o in rows] or []}
        buckets.append(b)
    return buckets


def openai_variants() -> list[Variant]:
    out = []
    twin = [canon(ts, "openai", cm, n, i, c, o) for ts, _, cm, n, i, c, o in OPENAI_TRUTH]
    for style in ("full", "sparse", "extra"):
        for time_as in ("unix", "rfc"):
            buckets = _oa_buckets(style, time_as, OPENAI_TRUTH)
            page = {"object": "page", "data": buckets, "has_more": False, "next_page": None}
            pages = [{"object": "page", "data": buckets[:2], "has_more": True, "next_page": "page_x"},
                     {"object": "page", "data": buckets[2:], "has_more": False, "next_page": None}]
            flat = [dict(r, start_time=b["start_time"], end_time=b["end_time"]) for b in buckets for r in b["results"]]
            k = f"openai-{style}-{time_as}"
            out += [
                Variant(f"{k}-page", "openai-usage", {"usage.json": as_json(page)}, twin),
                Variant(f"{k}-oneline", "openai-usage", {"usage.json": as_oneline(page)}, twin),
                Variant(f"{k}-pages-per-line", "openai-usage", {"usage.jsonl": as_lines(pages)}, twin),
                Variant(f"{k}-list-of-pages", "openai-usage", {"usage.json": as_json(pages)}, twin),
                Variant(f"{k}-jq-pages", "openai-usage", {"usage.json": as_jq_stream(pages)}, twin),
                Variant(f"{k}-jq-buckets", "openai-usage", {"usage.json": as_jq_stream(buckets)}, twin),
                Variant(f"{k}-bucket-per-line", "openai-usage", {"usage.jsonl": as_lines(buckets)}, twin),
                Variant(f"{k}-list-of-buckets", "openai-usage", {"usage.json": as_json(buckets)}, twin),
                Variant(f"{k}-flat-jsonl-gz", "openai-usage", {"usage.jsonl.gz": gz(as_lines(flat))}, twin),
                Variant(f"{k}-flat-csv", "openai-usage", {"usage.csv": as_csv(flat)}, twin),
            ]
    # images
    img = [(D1, "gpt-image-1", 20, 40, "1024x1024"), (D1, "gpt-image-1", 6, 6, "1536x1024"),
           (D3, "dall-e-3", 3, 3, "1024x1024")]
    for time_as in ("unix", "rfc"):
        buckets = []
        for start in (D1, D2, D3):
            buckets.append({"object": "bucket", "start_time": unix(start) if time_as == "unix" else start,
                            "end_time": None, "results": [
                                {"object": "organization.usage.images.result", "images": im, "num_model_requests": n,
                                 "size": sz, "source": "image.generation", "model": m, "project_id": None,
                                 "user_id": None, "api_key_id": None} for t, m, n, im, sz in img if t == start]})
        page = {"object": "page", "data": buckets, "has_more": False, "next_page": None}
        flat = [dict(r, start_time=b["start_time"]) for b in buckets for r in b["results"]]
        media = [{"kind": "image_generation", "model": m, "size": sz, "images": im, "requests": n}
                 for _, m, n, im, sz in img]
        for shape, files in (("page", {"images.json": as_json(page)}), ("oneline", {"images.json": as_oneline(page)}),
                             ("bucket-per-line", {"images.jsonl": as_lines(buckets)}),
                             ("flat-csv", {"images.csv": as_csv(flat)})):
            out.append(Variant(f"openai-images-{time_as}-{shape}", "openai-usage", files, [], media=media))
    return out


# --- Anthropic usage report -------------------------------------------------------------------------
ANTHROPIC_TRUTH = [  # start, model, uncached, read, w5m, w1h, output (multiple of MEAN), geo
    (D1, "claude-sonnet-4-5-20250929", 400000, 600000, 50000, 10000, 300000, "us"),
    (D1, "claude-haiku-4-5-20251001", 100000, 0, 0, 0, 20500, "global"),
    (D2, "claude-opus-4-5-20251101", 7000, 0, 0, 0, 1500, None),
]
GEO = {"us": "USA", "global": "", None: ""}


def _an_result(m, unc, read, w5, w1h, out, geo, style):
    r = {"uncached_input_tokens": unc, "cache_creation": {"ephemeral_1h_input_tokens": w1h,
                                                          "ephemeral_5m_input_tokens": w5},
         "cache_read_input_tokens": read, "output_tokens": out, "server_tool_use": {"web_search_requests": 0},
         "model": m, "workspace_id": None, "api_key_id": None, "service_tier": "standard",
         "context_window": "0-200k", "inference_geo": geo}
    if style == "sparse":
        r = {"uncached_input_tokens": unc, "cache_read_input_tokens": read, "output_tokens": out, "model": m,
             "inference_geo": geo}
        if w5 or w1h:
            r["cache_creation"] = {"ephemeral_5m_input_tokens": w5, "ephemeral_1h_input_tokens": w1h}
        else:
            r["cache_creation"] = None
        r["server_tool_use"] = {}
    if style == "extra":
        r.update(EXTRA)
    return r


def anthropic_variants() -> list[Variant]:
    out = []
    twin = [canon(ts, "anthropic", m, math.ceil(o / MEAN), unc + read + w5 + w1h, read, o, region=GEO[g])
            for ts, m, unc, read, w5, w1h, o, g in ANTHROPIC_TRUTH]
    for style in ("full", "sparse", "extra"):
        buckets = [{"starting_at": s, "ending_at": s, "results": [
            _an_result(m, unc, read, w5, w1h, o, g, style) for ts, m, unc, read, w5, w1h, o, g in ANTHROPIC_TRUTH
            if ts == s]} for s in (D1, D2, D3)]
        page = {"data": buckets, "has_more": False, "next_page": None}
        pages = [{"data": buckets[:1], "has_more": True, "next_page": "x"},
                 {"data": buckets[1:], "has_more": False, "next_page": None}]
        flat = [dict(r, starting_at=b["starting_at"], ending_at=b["ending_at"]) for b in buckets for r in b["results"]]
        k = f"anthropic-{style}"
        out += [
            Variant(f"{k}-page", "anthropic-usage", {"a.json": as_json(page)}, twin, MEAN),
            Variant(f"{k}-oneline", "anthropic-usage", {"a.json": as_oneline(page)}, twin, MEAN),
            Variant(f"{k}-pages-per-line", "anthropic-usage", {"a.jsonl": as_lines(pages)}, twin, MEAN),
            Variant(f"{k}-jq-pages", "anthropic-usage", {"a.json": as_jq_stream(pages)}, twin, MEAN),
            Variant(f"{k}-list-of-pages", "anthropic-usage", {"a.json": as_json(pages)}, twin, MEAN),
            Variant(f"{k}-unix-s-page", "anthropic-usage",
                    {"a.json": as_json(unixify(page, {"starting_at", "ending_at"}, ms=False))}, twin, MEAN),
            Variant(f"{k}-unix-s-flat-csv", "anthropic-usage",
                    {"a.csv": as_csv([flatten(r) for r in unixify(flat, {"starting_at", "ending_at"}, ms=False)])},
                    twin, MEAN),
            Variant(f"{k}-bucket-per-line-gz", "anthropic-usage", {"a.jsonl.gz": gz(as_lines(buckets))}, twin, MEAN),
            Variant(f"{k}-flat-csv-dotted", "anthropic-usage", {"a.csv": as_csv([flatten(r) for r in flat])}, twin,
                    MEAN),
            Variant(f"{k}-flat-csv-underscored", "anthropic-usage",
                    {"a.csv": as_csv([flatten(r, sep="_") for r in flat])}, twin, MEAN),
        ]
    return out


# --- AWS Bedrock model invocation logs --------------------------------------------------------------
BEDROCK_TRUTH = [  # ts, modelId as logged, provider, model, input, read, write, output, region, inferred, latency ms, op
    ("2026-01-01T10:00:00Z", "anthropic.claude-sonnet-4-5-20250929-v1:0", "anthropic", "claude-sonnet-4-5-20250929",
     1200, 0, 0, 300, "us-east-1", None, 3640, "Converse"),
    ("2026-01-01T10:05:00.123Z", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", "anthropic",
     "claude-sonnet-4-5-20250929", 800, 4000, 500, 200, "us-east-1", "us-west-2", None, "InvokeModel"),
    ("2026-01-01T10:06:00Z", "eu.anthropic.claude-haiku-4-5-20251001-v1:0", "anthropic", "claude-haiku-4-5-20251001",
     600, 0, 0, 50, "eu-west-1", "eu-central-1", None, "InvokeModelWithResponseStream"),
    ("2026-01-01T11:00:00Z", "arn:aws:bedrock:us-east-1:123456789012:inference-profile/"
     "us.meta.llama3-1-70b-instruct-v1:0", "huggingface_hub", "meta-llama/Meta-Llama-3.1-70B-Instruct",
     500, 0, 0, 100, "us-east-1", None, 900, "ConverseStream"),
    ("2026-01-01T11:30:00+00:00", "arn:aws:bedrock:eu-west-2::foundation-model/meta.llama3-1-8b-instruct-v1:0",
     "huggingface_hub", "meta-llama/Meta-Llama-3.1-8B-Instruct", 300, 0, 0, 80, "eu-west-2", None, None,
     "InvokeModel"),
]


def _br_record(ts, mid, inp, read, write, out, region, inferred, latency, op, style):
    rec = {"schemaType": "ModelInvocationLog", "schemaVersion": "1.0", "timestamp": ts, "accountId": "123456789012",
           "identity": {"arn": "arn:aws:sts::123456789012:assumed-role/app/x"}, "region": region,
           "requestId": "00000000-0000-0000-0000-000000000000", "operation": op, "modelId": mid,
           "input": {"inputContentType": "application/json", "inputTokenCount": inp},
           "output": {"outputContentType": "application/json", "outputTokenCount": out}}
    if read or write:
        rec["input"]["cacheReadInputTokenCount"] = read
        rec["input"]["cacheWriteInputTokenCount"] = write
    if inferred:
        rec["inferenceRegion"] = inferred
    elif style == "nulls":
        rec["inferenceRegion"] = None
    # body shapes by operation: Converse has metrics.latencyMs; InvokeModel bodies are the provider's own
    # (Anthropic Messages usage in snake_case); streaming calls log a list of chunks
    if op in ("Converse", "ConverseStream"):
        body = {"output": {"message": {"role": "assistant", "content": [{"text": "synthetic"}]}},
                "stopReason": "end_turn", "usage": {"inputTokens": inp, "outputTokens": out, "totalTokens": inp + out}}
        if latency is not None:
            body["metrics"] = {"latencyMs": latency}
        if op == "ConverseStream":
            body = [{"messageStart": {"role": "assistant"}}, {"contentBlockDelta": {"delta": {"text": "x"}}},
                    {"metadata": {"usage": {"inputTokens": inp, "outputTokens": out},
                                  "metrics": {"latencyMs": latency}}}]
    elif op == "InvokeModelWithResponseStream":
        body = [{"type": "message_start", "message": {"usage": {"input_tokens": inp, "output_tokens": 1}}},
                {"type": "message_delta", "usage": {"output_tokens": out}}]
    else:
        body = {"id": "msg_x", "type": "message", "content": [{"type": "text", "text": "synthetic"}],
                "usage": {"input_tokens": inp, "output_tokens": out}}
    rec["input"]["inputBodyJson"] = {"messages": [{"role": "user", "content": "synthetic"}], "max_tokens": 512}
    rec["output"]["outputBodyJson"] = body
    if style == "sparse":
        rec.pop("identity")
        rec["input"].pop("inputBodyJson")
        rec["output"].pop("outputBodyJson", None)
        rec["requestMetadata"] = {}
    if style == "extra":
        rec.update(EXTRA)
        rec["performanceConfig"] = {"latency": "standard"}
    return rec


VIDEO = {"schemaType": "ModelInvocationLog", "schemaVersion": "1.0", "timestamp": "2026-01-01T12:00:00Z",
         "accountId": "123456789012", "region": "us-east-1", "requestId": "v-1", "operation": "StartAsyncInvoke",
         "modelId": "amazon.nova-reel-v1:1", "input": {"inputContentType": "application/json",
                                                       "inputBodyJson": {"taskType": "TEXT_VIDEO"}},
         "output": {"outputContentType": "video/mp4", "outputVideoDurationSeconds": 6.0,
                    "outputVideoFramesPerSecond": 24, "outputVideoHeight": 720, "outputVideoWidth": 1280,
                    "outputVideoS3Path": "s3://bucket/output.mp4"}}


VIDEO_SPARSE = {"schemaType": "ModelInvocationLog", "timestamp": "2026-01-01T12:00:00Z", "region": "us-east-1",
                "operation": "StartAsyncInvoke", "modelId": "amazon.nova-reel-v1:1", "input": {},
                "output": {"outputVideoDurationSeconds": 6}}


def bedrock_variants() -> list[Variant]:
    out = []
    for style in ("full", "sparse", "nulls", "extra"):
        recs, twin = [], []
        for ts, mid, prov, model, inp, read, write, o, region, inferred, lat, op in BEDROCK_TRUTH:
            recs.append(_br_record(ts, mid, inp, read, write, o, region, inferred, lat, op, style))
            has_latency = op in ("Converse", "ConverseStream") and style != "sparse" and lat is not None
            twin.append(canon(ts, prov, model, 1, inp + read + write, read, o,
                              latency=lat / 1000 if has_latency else None, region=f"aws:{inferred or region}"))
        media = [{"kind": "video_generation", "model": "amazon.nova-reel-v1:1", "video_seconds": 6.0}]
        video = VIDEO_SPARSE if style == "sparse" else VIDEO
        if style == "extra":  # a throttled call: logged with its errorCode, no output
            recs.append({"schemaType": "ModelInvocationLog", "timestamp": "2026-01-01T12:30:00Z",
                         "region": "us-east-1", "operation": "Converse", "errorCode": "ThrottlingException",
                         "modelId": "anthropic.claude-sonnet-4-5-20250929-v1:0",
                         "input": {"inputContentType": "application/json", "inputTokenCount": 100},
                         "output": {"outputContentType": "application/json"}})
        data = as_lines(recs + [video])
        if style == "full":
            out.append(Variant("bedrock-unix-ms-jsonl", "bedrock",
                               {"x.jsonl": as_lines(unixify(recs + [VIDEO], {"timestamp"}, ms=True))}, twin,
                               media=media))
        out += [
            Variant(f"bedrock-{style}-jsonl-gz", "bedrock", {"x.json.gz": gz(data)}, twin, media=media),
            Variant(f"bedrock-{style}-jsonl", "bedrock", {"x.jsonl": data}, twin, media=media),
            Variant(f"bedrock-{style}-jq-records", "bedrock", {"x.json": as_jq_stream(recs + [video])}, twin,
                    media=media),
            Variant(f"bedrock-{style}-json-array", "bedrock", {"x.json": as_json(recs + [video])}, twin, media=media),
            # S3 delivery writes one object per file: a folder of one-record .json.gz files
            Variant(f"bedrock-{style}-folder-one-per-file", "bedrock",
                    {f"AWSLogs/123/BedrockModelInvocationLogs/us-east-1/2026/01/01/{i:02d}.json.gz":
                     gz(as_oneline(r)) for i, r in enumerate(recs + [video])}, twin, media=media),
        ]
    return out


# --- LiteLLM ---------------------------------------------------------------------------------------
LITELLM_TRUTH = [  # request_id, start, end, model, custom_llm_provider, provider, prompt, completion, cache_hit, ms
    ("r1", "2026-01-01 09:00:00", "2026-01-01 09:00:02.5", "gpt-4o-mini", "openai", "openai", 1000, 300, False, 2500),
    ("r2", "2026-01-01 09:01:00", "2026-01-01 09:01:04", "gpt-4o", "azure", "azure-openai", 2000, 600, False, None),
    ("r3", "2026-01-01 09:02:00", "2026-01-01 09:02:00.01", "gpt-4o-mini", "openai", "openai", 1000, 300, True, None),
    ("r4", "2026-01-01 09:03:00", "2026-01-01 09:03:01", "claude-haiku-4-5-20251001", "anthropic", "anthropic", 500,
     90, None, 1000),
]


def _lt_row(rid, start, end, model, clp, _prov, p, c, hit, ms, style, iso):
    conv = (lambda t: t.replace(" ", "T") + ("Z" if style != "extra" else "+00:00")) if iso else (lambda t: t)
    r = {"request_id": rid, "call_type": "acompletion", "api_key": "hashed", "spend": 0.001, "total_tokens": p + c,
         "prompt_tokens": p, "completion_tokens": c, "startTime": conv(start), "endTime": conv(end),
         "completionStartTime": None, "model": model, "model_id": "m", "model_group": model,
         "custom_llm_provider": clp, "api_base": "https://api.example.com/v1", "user": "",
         "metadata": {"usage_object": {"prompt_tokens": p}}, "cache_hit": hit if iso else str(hit),
         "cache_key": "", "request_tags": [], "team_id": None, "end_user": "", "requester_ip_address": "",
         "status": "success", "session_id": "s1", "request_duration_ms": ms}
    if style == "sparse":
        for k in ("metadata", "request_tags", "api_base", "cache_key", "team_id", "end_user", "session_id", "spend"):
            r.pop(k)
    if style == "extra":
        r.update(EXTRA)
    return r


def litellm_variants() -> list[Variant]:
    out = []
    twin = []
    for rid, start, end, model, clp, prov, p, c, hit, ms in LITELLM_TRUTH:
        if hit:
            continue
        lat = ms / 1000 if ms is not None else (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
        twin.append(canon(start.replace(" ", "T") + "Z", prov, model, 1, p, 0, c, latency=lat))
    for style in ("full", "sparse", "extra"):
        rows_csv = [_lt_row(*t, style=style, iso=False) for t in LITELLM_TRUTH]
        rows_api = [_lt_row(*t, style=style, iso=True) for t in LITELLM_TRUTH]
        k = f"litellm-{style}"
        out += [
            Variant(f"{k}-spendlogs-csv", "litellm", {"spend.csv": as_csv(rows_csv)}, twin),
            Variant(f"{k}-spendlogs-api-list", "litellm", {"spend.json": as_json(rows_api)}, twin),
            Variant(f"{k}-spendlogs-api-v2-page", "litellm",
                    {"spend.json": as_json({"data": rows_api, "total": 4, "page": 1, "page_size": 50,
                                            "total_pages": 1})}, twin),
            Variant(f"{k}-spendlogs-api-v2-pages-per-line", "litellm",
                    {"spend.jsonl": as_lines([{"data": rows_api[:2], "total": 4, "page": 1, "page_size": 2,
                                               "total_pages": 2},
                                              {"data": rows_api[2:], "total": 4, "page": 2, "page_size": 2,
                                               "total_pages": 2}])}, twin),
            Variant(f"{k}-spendlogs-jsonl-gz", "litellm", {"spend.jsonl.gz": gz(as_lines(rows_api))}, twin),
            Variant(f"{k}-spendlogs-unix-ms-json", "litellm",
                    {"spend.json": as_json(unixify(rows_api, {"startTime", "endTime"}, ms=True))}, twin),
            Variant(f"{k}-spendlogs-unix-ms-csv", "litellm",
                    {"spend.csv": as_csv(unixify(rows_csv, {"startTime", "endTime"}, ms=True))}, twin),
        ]
    daily = [("d1", "2026-01-01", "gpt-4o-mini", "openai", "openai", 500000, 80000, 120000, 0, 400),
             ("d2", "2026-01-01", "claude-haiku-4-5-20251001", "anthropic", "anthropic", 90000, 30000, 0, 5000, 60),
             ("d3", "2026-01-02", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", "bedrock", "anthropic",
              20000, 4000, 0, 0, 10),
             # as a LiteLLM config names models: the route prefix, custom_llm_provider empty or openrouter
             ("d4", "2026-01-02", "bedrock/eu.anthropic.claude-haiku-4-5-20251001-v1:0", "", "anthropic",
              3000, 300, 0, 0, 3),
             ("d5", "2026-01-02", "openrouter/openai/gpt-4o-mini", "openrouter", "openai", 4000, 400, 0, 0, 4)]
    rows = [{"id": i, "team_id": "team-a", "date": d, "api_key": "hashed", "model": m, "model_group": m,
             "custom_llm_provider": clp, "mcp_namespaced_tool_name": None, "endpoint": "/chat/completions",
             "prompt_tokens": p, "completion_tokens": c, "cache_read_input_tokens": r,
             "cache_creation_input_tokens": w, "spend": 0.1, "api_requests": n, "successful_requests": n,
             "failed_requests": 0, "created_at": "2026-01-02 00:00:00", "updated_at": "2026-01-02 00:00:00"}
            for i, d, m, clp, prov, p, c, r, w, n in daily]
    twin_model = {"us.anthropic.claude-sonnet-4-5-20250929-v1:0": "claude-sonnet-4-5-20250929",
                  "bedrock/eu.anthropic.claude-haiku-4-5-20251001-v1:0": "claude-haiku-4-5-20251001",
                  "openrouter/openai/gpt-4o-mini": "gpt-4o-mini"}
    dtwin = [canon(d + "T00:00:00Z", prov, twin_model.get(m, m), n, p, r, c)
             for i, d, m, clp, prov, p, c, r, w, n in daily]
    out += [Variant("litellm-daily-csv", "litellm", {"daily.csv": as_csv(rows)}, dtwin),
            Variant("litellm-daily-json", "litellm", {"daily.json": as_json(rows)}, dtwin),
            Variant("litellm-daily-jsonl", "litellm", {"daily.jsonl": as_lines(rows)}, dtwin)]
    return out


# --- Langfuse observations --------------------------------------------------------------------------
LANGFUSE_TRUTH = [  # id, type, start, end, model, provider, input, output, cache read, latency s
    ("o1", "SPAN", "2026-01-01T08:00:00.000Z", "2026-01-01T08:00:09.000Z", None, None, 0, 0, 0, 9.0),
    ("o2", "GENERATION", "2026-01-01T08:00:01.000Z", "2026-01-01T08:00:02.500Z", "gpt-4o-mini", "openai", 700, 120,
     200, 1.5),
    ("o3", "GENERATION", "2026-01-01T08:05:00.000Z", "2026-01-01T08:05:06.000Z", "claude-sonnet-4-5-20250929",
     "anthropic", 900, 400, 0, 6.0),
    ("o4", "EVENT", "2026-01-01T08:06:00.000Z", None, None, None, 0, 0, 0, None),
]


def _lf_camel(i, kind, start, end, model, inp, out, read, lat, style):
    usage = {"input": inp, "output": out, "total": inp + out + read} if kind == "GENERATION" else {}
    if read:
        usage["input_cached_tokens"] = read
    r = {"id": i, "traceId": "t1", "type": kind, "name": f"step-{i}", "startTime": start, "endTime": end,
         "completionStartTime": None, "model": model, "modelParameters": {"temperature": 0} if model else None,
         "input": {"messages": []}, "output": {"content": "x"}, "metadata": {}, "level": "DEFAULT",
         "usageDetails": usage, "costDetails": {}, "latency": lat, "timeToFirstToken": None, "promptName": None,
         "usage": {"input": inp, "output": out, "total": inp + out, "unit": "TOKENS"}}
    if style == "sparse":
        for k in ("usage", "costDetails", "timeToFirstToken", "promptName", "completionStartTime", "latency"):
            r.pop(k)
    if style == "extra":
        r.update(EXTRA)
        r["environment"] = "production"
    return r


def _lf_snake(i, kind, start, end, model, inp, out, read, lat, style):
    ch = (lambda t: t.replace("T", " ").replace("Z", "")) if style == "clickhouse" and t_ok(start) else (lambda t: t)
    usage = {"input": inp, "output": out, "total": inp + out + read} if kind == "GENERATION" else {}
    if read:
        usage["input_cached_tokens"] = read
    return {"id": i, "trace_id": "t1", "project_id": "p", "type": kind, "name": f"step-{i}",
            "start_time": ch(start), "end_time": ch(end) if end else None, "completion_start_time": None,
            "provided_model_name": model, "internal_model_id": None, "model_parameters": None,
            "usage_details": usage, "provided_usage_details": usage, "cost_details": {}, "total_cost": 0.0,
            "level": "DEFAULT", "environment": "default", "metadata": {}, "input": None, "output": None}


def t_ok(x):
    return x is not None


def langfuse_variants() -> list[Variant]:
    out = []
    twin_api = []
    twin_blob = []
    for i, kind, start, end, model, prov, inp, o, read, lat in LANGFUSE_TRUTH:
        if kind != "GENERATION":
            continue
        twin_api.append(canon(start, prov, model, 1, inp + read, read, o, latency=lat))
    for style in ("full", "sparse", "extra"):
        recs = [_lf_camel(i, k, s, e, m, inp, o, r, lat, style) for i, k, s, e, m, _, inp, o, r, lat in LANGFUSE_TRUTH]
        page = {"data": recs, "meta": {"page": 1, "limit": 50, "totalItems": 4, "totalPages": 1}}
        v2 = {"data": recs, "meta": {"cursor": None}}
        k = f"langfuse-{style}"
        out += [
            Variant(f"{k}-api-page", "langfuse", {"obs.json": as_json(page)}, twin_api),
            Variant(f"{k}-api-oneline", "langfuse", {"obs.json": as_oneline(page)}, twin_api),
            Variant(f"{k}-api-v2", "langfuse", {"obs.json": as_json(v2)}, twin_api),
            Variant(f"{k}-ui-list", "langfuse", {"obs.json": as_json(recs)}, twin_api),
            Variant(f"{k}-jsonl", "langfuse", {"obs.jsonl": as_lines(recs)}, twin_api),
            Variant(f"{k}-ui-csv", "langfuse", {"obs.csv": as_csv(recs)}, twin_api),  # objects as JSON text
            Variant(f"{k}-list-of-pages", "langfuse",
                    {"obs.json": as_json([dict(page, data=recs[:2]), dict(page, data=recs[2:])])}, twin_api),
            Variant(f"{k}-jq-pages", "langfuse",
                    {"obs.json": as_jq_stream([dict(page, data=recs[:2]), dict(page, data=recs[2:])])}, twin_api),
            Variant(f"{k}-pages-per-line", "langfuse",
                    {"obs.jsonl": as_lines([dict(page, data=recs[:2]), dict(page, data=recs[2:])])}, twin_api),
            Variant(f"{k}-unix-ms", "langfuse",
                    {"obs.json": as_json({"data": unixify(recs, {"startTime", "endTime"}, ms=True)})}, twin_api),
        ]
    # older SDKs wrote only the legacy usage object: usageDetails empty on some generations
    legacy = [_lf_camel(i, k, s_, e, m, inp, o, r, lat, "full") for i, k, s_, e, m, _, inp, o, r, lat in LANGFUSE_TRUTH]
    legacy[2]["usageDetails"] = {}
    out.append(Variant("langfuse-legacy-usage-mixed", "langfuse", {"obs.json": as_json({"data": legacy})}, twin_api))
    for style in ("iso", "clickhouse"):
        recs = [_lf_snake(i, k, s, e, m, inp, o, r, lat, style) for i, k, s, e, m, _, inp, o, r, lat in LANGFUSE_TRUTH]
        out.append(Variant(f"langfuse-blob-{style}-jsonl", "langfuse", {"obs.jsonl": as_lines(recs)}, twin_api))
        out.append(Variant(f"langfuse-blob-{style}-csv", "langfuse", {"obs.csv": as_csv(recs)}, twin_api))
        out.append(Variant(f"langfuse-blob-{style}-jsonl-gz", "langfuse", {"obs.jsonl.gz": gz(as_lines(recs))},
                           twin_api))
    return out


# --- Helicone ----------------------------------------------------------------------------------------
HELICONE_TRUTH = [  # id, created, provider, model, prompt, completion, read, delay ms
    ("h1", "2026-01-01T07:00:00.000Z", "OPENAI", "gpt-4o-mini", 1500, 200, 1024, 2100),
    ("h2", "2026-01-01T07:10:00.000Z", "ANTHROPIC", "claude-haiku-4-5-20251001", 800, 90, 0, 900),
    ("h3", "2026-01-01T07:20:00.000Z", "OPENAI", "gpt-4o-2024-08-06", 300, 40, None, None),
]


def _hc(i, ts, prov, model, p, c, read, delay, style, time_as):
    t = ts if time_as == "rfc" else ts.replace("T", " ").replace("Z", "")
    r = {"request_id": i, "request_created_at": t, "response_created_at": t, "request_model": model,
         "response_model": model, "model": model, "provider": prov, "delay_ms": delay, "time_to_first_token": 300,
         "prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c, "prompt_cache_read_tokens": read,
         "prompt_cache_write_tokens": 0, "prompt_audio_tokens": 0, "completion_audio_tokens": 0, "costUSD": 0.001,
         "country_code": "GB", "target_url": "https://api.openai.com/v1/chat/completions", "request_user_id": "u1",
         "response_status": 200, "request_properties": {"Helicone-Property-Stage": "draft"}}
    if style == "sparse":
        for k in ("response_model", "request_model", "time_to_first_token", "costUSD", "request_properties",
                  "prompt_audio_tokens", "completion_audio_tokens", "prompt_cache_write_tokens"):
            r.pop(k)
        if read is None:
            r.pop("prompt_cache_read_tokens")
    if style == "extra":
        r.update(EXTRA)
        r["model"] = None  # only request/response model given
    return r


def helicone_variants() -> list[Variant]:
    out = []
    twin = [canon(ts, prov.lower(), m, 1, p, read or 0, c, latency=None if d is None else d / 1000)
            for _, ts, prov, m, p, c, read, d in HELICONE_TRUTH]
    for style in ("full", "sparse", "extra"):
        for time_as in ("rfc", "clickhouse"):
            recs = [_hc(*t, style=style, time_as=time_as) for t in HELICONE_TRUTH]
            k = f"helicone-{style}-{time_as}"
            out += [Variant(f"{k}-jsonl", "helicone", {"h.jsonl": as_lines(recs)}, twin),
                    Variant(f"{k}-json", "helicone", {"h.json": as_json(recs)}, twin),
                    Variant(f"{k}-api-response", "helicone", {"h.json": as_oneline({"data": recs, "error": None})},
                            twin),
                    Variant(f"{k}-csv", "helicone", {"h.csv": as_csv(recs)}, twin)]
        unix = unixify([_hc(*t, style=style, time_as="rfc") for t in HELICONE_TRUTH],
                       {"request_created_at", "response_created_at"}, ms=True)
        out += [Variant(f"helicone-{style}-unix-ms-jsonl", "helicone", {"h.jsonl": as_lines(unix)}, twin),
                Variant(f"helicone-{style}-unix-ms-csv", "helicone", {"h.csv": as_csv(unix)}, twin)]
    return out


# --- OpenRouter activity --------------------------------------------------------------------------
OPENROUTER_TRUTH = [  # date, slug, permaslug, provider, model, requests, prompt, completion, reasoning
    ("2026-01-01", "openai/gpt-4.1", "openai/gpt-4.1-2025-04-14", "openai", "gpt-4.1-2025-04-14", 50, 60000, 12500, 0),
    ("2026-01-02", "anthropic/claude-sonnet-4.5", "anthropic/claude-sonnet-4.5", "anthropic",
     "claude-sonnet-4-5-20250929", 30, 45000, 9000, 1000),
    ("2026-01-02", "openai/gpt-4o", "openai/gpt-4o-2024-08-06", "openai", "gpt-4o-2024-08-06", 7, 7000, 700, 0),
]


def openrouter_variants() -> list[Variant]:
    out = []
    twin = [canon(d + "T00:00:00Z", prov, m, n, p, 0, c) for d, _, _, prov, m, n, p, c, _ in OPENROUTER_TRUTH]
    snake = [{"date": d, "model": s, "model_permaslug": ps, "endpoint_id": "e", "provider_name": "P", "usage": 0.5,
              "byok_usage_inference": 0, "requests": n, "prompt_tokens": p, "completion_tokens": c,
              "reasoning_tokens": r} for d, s, ps, _, _, n, p, c, r in OPENROUTER_TRUTH]
    camel = [{"date": d, "model": s, "modelPermaslug": ps, "endpointId": "e", "providerName": "P", "usage": 0.5,
              "byokUsageInference": 0, "requests": n, "promptTokens": p, "completionTokens": c,
              "reasoningTokens": r} for d, s, ps, _, _, n, p, c, r in OPENROUTER_TRUTH]
    sparse = [{"date": d, "model": s, "requests": n, "prompt_tokens": p, "completion_tokens": c,
               "model_permaslug": None} for d, s, ps, _, _, n, p, c, r in OPENROUTER_TRUTH]
    twin_slug = [canon(d + "T00:00:00Z", *_slug_twin(s), n, p, 0, c) for d, s, *_r, n, p, c, _ in OPENROUTER_TRUTH]
    for name, recs, tw in (("snake", snake, twin), ("camel", camel, twin), ("sparse", sparse, twin_slug),
                           ("extra", [dict(r, **EXTRA) for r in snake], twin)):
        k = f"openrouter-{name}"
        out += [Variant(f"{k}-api", "openrouter", {"act.json": as_json({"data": recs})}, tw),
                Variant(f"{k}-oneline", "openrouter", {"act.json": as_oneline({"data": recs})}, tw),
                Variant(f"{k}-list", "openrouter", {"act.json": as_json(recs)}, tw),
                Variant(f"{k}-pages-per-line", "openrouter",
                        {"act.jsonl": as_lines([{"data": recs[:1]}, {"data": recs[1:]}])}, tw),
                Variant(f"{k}-jsonl", "openrouter", {"act.jsonl": as_lines(recs)}, tw),
                Variant(f"{k}-csv", "openrouter", {"act.csv": as_csv(recs)}, tw),
                Variant(f"{k}-unix-s", "openrouter", {"act.json": as_json({"data": unixify(recs, {"date"}, ms=False)})},
                        tw)]
    return out


OPENROUTER_GENERATIONS = [  # created_at, permaslug, provider, model, prompt, completion, reasoning, cached, ms
    ("2026-02-06 18:54:30.040", "openai/gpt-4.1-2025-04-14", "openai", "gpt-4.1-2025-04-14", 1200, 300, 0, 1024, 2150.0),
    ("2026-02-06 18:55:02.511", "anthropic/claude-sonnet-4.5", "anthropic", "claude-sonnet-4-5-20250929", 900, 450,
     120, 0, 5300.0),
    ("2026-02-06 19:01:00.000", "google/gemini-2.5-flash", "google_genai", "gemini-2.5-flash", 500, 80, 0, 0, None),
]


def openrouter_generation_variants() -> list[Variant]:
    """The Logs page's CSV export (one row per generation) and generation API records."""
    twin = [canon(ts.replace(" ", "T") + "Z", prov, m, 1, p, c_, o, latency=None if ms is None else ms / 1000)
            for ts, _, prov, m, p, o, _r, c_, ms in OPENROUTER_GENERATIONS]
    rows = [{"generation_id": f"gen-{i}", "created_at": ts, "cost_total": 0.001, "cost_web_search": 0,
             "cost_cache": 0, "cost_file_processing": 0, "byok_usage_inference": 0, "tokens_prompt": p,
             "tokens_completion": o, "tokens_reasoning": r, "tokens_cached": c_, "model_permaslug": ps,
             "provider_name": "P", "finish_reason_normalized": "stop", "generation_time_ms": ms,
             "time_to_first_token_ms": 300}
            for i, (ts, ps, _, _m, p, o, r, c_, ms) in enumerate(OPENROUTER_GENERATIONS)]
    api = [{"id": f"gen-{i}", "created_at": ts.replace(" ", "T") + "Z", "model": ps, "app_id": 2872617,
            "external_user": None, "streamed": True, "cancelled": False, "latency": 300,
            "moderation_latency": None, "generation_time": ms, "tokens_prompt": p, "tokens_completion": o,
            "native_tokens_prompt": p, "native_tokens_completion": o, "native_tokens_reasoning": r,
            "native_tokens_cached": c_, "tokens_cached": c_, "provider_name": "P", "total_cost": 0.001}
           for i, (ts, ps, _, _m, p, o, r, c_, ms) in enumerate(OPENROUTER_GENERATIONS)]
    return [Variant("openrouter-logs-csv", "openrouter", {"logs.csv": as_csv(rows)}, twin),
            Variant("openrouter-logs-csv-gz", "openrouter", {"logs.csv.gz": gz(as_csv(rows))}, twin),
            Variant("openrouter-generations-json", "openrouter", {"gen.json": as_json(api)}, twin),
            Variant("openrouter-generations-jsonl", "openrouter", {"gen.jsonl": as_lines(api)}, twin)]


def _slug_twin(slug):
    return {"openai/gpt-4.1": ("openai", "gpt-4.1"), "anthropic/claude-sonnet-4.5": ("anthropic",
                                                                                    "claude-sonnet-4-5-20250929"),
            "openai/gpt-4o": ("openai", "gpt-4o")}[slug]


# --- GCP billing export ----------------------------------------------------------------------------
GCP_TRUTH = [  # start, sku description, amount, region
    ("2026-01-01T10:00:00Z", "Gemini 2.5 Flash Input text tokens", 300000, "europe-west2"),
    ("2026-01-01T10:00:00Z", "Gemini 2.5 Flash Output text tokens", 50000, "europe-west2"),
    ("2026-01-01T10:00:00Z", "Gemini 2.5 Flash Cached input text tokens", 100000, "europe-west2"),
    ("2026-01-01T11:00:00Z", "Gemini 2.5 Pro Output text tokens", 10000, "us-central1"),
    ("2026-01-01T11:00:00Z", "Gemini 2.5 Pro Input text tokens", 40000, "us-central1"),
    ("2026-01-01T11:00:00Z", "Cloud Storage Standard storage", 5, "us-central1"),
]


def _gb(ts, sku, amount, region, time_as):
    t = ts if time_as == "rfc" else ts.replace("T", " ").replace("Z", " UTC")  # BigQuery's own text form
    return {"billing_account_id": "000000-000000-000000",
            "service": {"id": "C7E2-9256-1C43", "description": "Vertex AI"},
            "sku": {"id": "0000-0000-0000", "description": sku}, "usage_start_time": t, "usage_end_time": t,
            "project": {"id": "synthetic-project", "name": "synthetic", "number": "123"},
            "labels": [{"key": "team", "value": "x"}], "system_labels": [],
            "location": {"location": region, "country": "GB", "region": region, "zone": None},
            "cost": 0.01, "currency": "USD",
            "usage": {"amount": amount, "unit": "count", "amount_in_pricing_units": amount / 1000,
                      "pricing_unit": "1000 count"},
            "credits": [], "invoice": {"month": "202601"}, "cost_type": "regular", "export_time": t}


def gcp_variants() -> list[Variant]:
    twin = [canon("2026-01-01T10:00:00Z", "google_genai", "gemini-2.5-flash", 100, 400000, 100000, 50000,
                  region="gcp:europe-west2"),
            canon("2026-01-01T11:00:00Z", "google_genai", "gemini-2.5-pro", 20, 40000, 0, 10000,
                  region="gcp:us-central1")]
    out = []
    for time_as in ("rfc", "bigquery"):
        recs = [_gb(*t, time_as=time_as) for t in GCP_TRUTH]
        dotted = [flatten(r) for r in recs]
        under = [flatten(r, sep="_") for r in recs]
        k = f"gcp-{time_as}"
        out += [Variant(f"{k}-jsonl", "gcp-billing", {"b.jsonl": as_lines(recs)}, twin, MEAN),
                Variant(f"{k}-jsonl-gz", "gcp-billing", {"b.json.gz": gz(as_lines(recs))}, twin, MEAN),
                Variant(f"{k}-json-array", "gcp-billing", {"b.json": as_json(recs)}, twin, MEAN),
                Variant(f"{k}-csv-dotted", "gcp-billing", {"b.csv": as_csv(dotted)}, twin, MEAN),
                Variant(f"{k}-csv-underscored", "gcp-billing", {"b.csv": as_csv(under)}, twin, MEAN),
                Variant(f"{k}-unix-s-jsonl", "gcp-billing",
                        {"b.jsonl": as_lines(unixify(recs, {"usage_start_time", "usage_end_time", "export_time"},
                                                     ms=False))}, twin, MEAN),
                Variant(f"{k}-jsonl-extra", "gcp-billing", {"b.jsonl": as_lines([dict(r, **EXTRA) for r in recs])},
                        twin, MEAN)]
    return out


# --- Azure Monitor metrics -------------------------------------------------------------------------
AZURE_TRUTH = [  # time, deployment, model, region, requests, prompt, generated
    ("2026-01-01T00:00:00Z", "prod-4o", "gpt-4o", "swedencentral", 40, 50000, 8000),
    ("2026-01-01T01:00:00Z", "prod-4o", "gpt-4o", "swedencentral", 15, 20000, 3000),
    ("2026-01-01T00:00:00Z", "mini", "gpt-4o-mini", "swedencentral", 9, 9000, 900),
]
AZ_METRICS = (("ProcessedPromptTokens", "Processed Prompt Tokens", 5), ("GeneratedTokens", "Generated Completion "
              "Tokens", 6), ("AzureOpenAIRequests", "Azure OpenAI Requests", 4))


def azure_variants() -> list[Variant]:
    twin = [canon(t, "azure-openai", m, n, p, 0, g, region=f"azure:{r}") for t, _, m, r, n, p, g in AZURE_TRUTH]
    out = []
    for dims in ("lower", "camel"):
        value = []
        for name, local, idx in AZ_METRICS:
            series = []
            for dep in ("prod-4o", "mini"):
                pts = [t for t in AZURE_TRUTH if t[1] == dep]
                nm = (lambda s: s.lower()) if dims == "lower" else (lambda s: s)
                series.append({"metadatavalues": [
                    {"name": {"value": nm("ModelDeploymentName"), "localizedValue": "ModelDeploymentName"},
                     "value": dep},
                    {"name": {"value": nm("ModelName"), "localizedValue": "ModelName"}, "value": pts[0][2]}],
                    "data": [{"timeStamp": t[0], "total": t[idx]} for t in pts]
                    + [{"timeStamp": "2026-01-01T02:00:00Z"}]})  # a grain with no value: nothing happened
            value.append({"id": f"x/{name}", "type": "Microsoft.Insights/metrics", "unit": "Count",
                          "name": {"value": name, "localizedValue": local}, "timeseries": series,
                          "errorCode": "Success"})
        doc = {"cost": 0, "timespan": "2026-01-01T00:00:00Z/2026-01-01T03:00:00Z", "interval": "PT1H",
               "namespace": "Microsoft.CognitiveServices/accounts", "resourceregion": "swedencentral", "value": value}
        out += [Variant(f"azure-rest-{dims}", "azure-metrics", {"m.json": as_json(doc)}, twin),
                Variant(f"azure-rest-{dims}-oneline", "azure-metrics", {"m.json": as_oneline(doc)}, twin),
                Variant(f"azure-rest-{dims}-list-of-responses", "azure-metrics",
                        {"m.json": as_json([dict(doc, value=[v]) for v in value])}, twin),
                Variant(f"azure-rest-{dims}-per-metric-lines", "azure-metrics",
                        {"m.jsonl": as_lines([dict(doc, value=[v]) for v in value])}, twin)]
    long = []
    for t, dep, m, r, n, p, g in AZURE_TRUTH:
        for name, _, idx in AZ_METRICS:
            long.append({"TimeGenerated": t, "MetricName": name, "Total": (t, dep, m, r, n, p, g)[idx],
                         "ModelDeploymentName": dep, "ModelName": m, "Region": "Sweden Central", "UnitName": "Count",
                         "Average": None, "Count": 1})
    out.append(Variant("azure-long-csv", "azure-metrics", {"m.csv": as_csv(long)}, twin))
    out.append(Variant("azure-long-csv-unix-s", "azure-metrics",
                       {"m.csv": as_csv(unixify(long, {"TimeGenerated"}, ms=False))}, twin))
    out.append(Variant("azure-long-csv-lower", "azure-metrics",
                       {"m.csv": as_csv([{"timestamp": r["TimeGenerated"], "metric": r["MetricName"],
                                          "total": r["Total"], "ModelDeploymentName": r["ModelDeploymentName"],
                                          "ModelName": r["ModelName"], "Region": r["Region"]} for r in long])}, twin))
    return out


def as_parquet(rows: list[dict]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), buf)
    return buf.getvalue()


def excel_csv(data: bytes) -> bytes:
    """A CSV as Excel saves it: UTF-8 with a byte-order mark and CRLF line ends."""
    return b"\xef\xbb\xbf" + data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def semicolons(data: bytes) -> bytes:
    """A CSV as Excel saves it where the decimal mark is a comma: fields split by ';'."""
    buf = io.StringIO()
    csv.writer(buf, delimiter=";").writerows(csv.reader(io.StringIO(data.decode())))
    return buf.getvalue().encode()


def resaved(base: list[Variant]) -> list[Variant]:
    """Each format's first CSV variant again as Excel saves it (BOM and CRLF; semicolons), and
    its first JSON variant with a UTF-8 byte-order mark (PowerShell 7's -Encoding utf8BOM)."""
    out, seen = [], set()
    for v in base:
        name, data = next(iter(v.files.items()))
        kind = name.split(".", 1)[-1]
        if len(v.files) != 1 or kind not in ("csv", "json", "jsonl") or (v.fmt, kind) in seen:
            continue
        seen.add((v.fmt, kind))
        if kind == "csv":
            out.append(Variant(f"{v.id}-excel-bom-crlf", v.fmt, {name: excel_csv(data)}, v.canonical, v.mean,
                               v.media))
            out.append(Variant(f"{v.id}-semicolons", v.fmt, {name: semicolons(data)}, v.canonical, v.mean, v.media))
        else:
            out.append(Variant(f"{v.id}-utf8-bom", v.fmt, {name: b"\xef\xbb\xbf" + data}, v.canonical, v.mean,
                               v.media))
    return out


def parquet_variants() -> list[Variant]:
    """Tables as Parquet: flat (OpenAI results, Helicone, LiteLLM) and nested (the BigQuery
    billing export keeps sku/usage/location as structs)."""
    out = []
    first = {v.fmt: v for v in reversed(openai_variants() + helicone_variants() + litellm_variants())
             if v.id.endswith(("flat-csv", "full-rfc-jsonl", "full-spendlogs-api-list")) and v.canonical}
    for fmt, v in first.items():
        name, data = next(iter(v.files.items()))
        rows = (json.loads(data) if name.endswith(".json") else [json.loads(ln) for ln in data.splitlines()]
                if name.endswith(".jsonl") else list(csv.DictReader(io.StringIO(data.decode()))))
        rows = [{k: (json.dumps(x) if isinstance(x, (dict, list)) else x) for k, x in r.items()} for r in rows]
        if name.endswith(".csv"):  # numbers as numbers, as a Parquet writer keeps them
            rows = [{k: _num(x) for k, x in r.items()} for r in rows]
        out.append(Variant(f"{v.id}-parquet", fmt, {"t.parquet": as_parquet(rows)}, v.canonical, v.mean, v.media))
    recs = [_gb(*t, time_as="rfc") for t in GCP_TRUTH]
    for r in recs:
        r.pop("labels"), r.pop("system_labels"), r.pop("credits")
    twin = gcp_variants()[0].canonical
    out.append(Variant("gcp-nested-parquet", "gcp-billing", {"b.parquet": as_parquet(recs)}, twin, MEAN))
    return out


def _num(x):
    try:
        return int(x)
    except (TypeError, ValueError):
        try:
            return float(x)
        except (TypeError, ValueError):
            return x if x != "" else None


def variants() -> list[Variant]:
    base = (openai_variants() + anthropic_variants() + bedrock_variants() + litellm_variants()
            + langfuse_variants() + helicone_variants() + openrouter_variants() + openrouter_generation_variants()
            + gcp_variants() + azure_variants())
    return base + resaved(base) + parquet_variants() + quiet_period_variants()


def quiet_period_variants() -> list[Variant]:
    """A folder holding one export and one file of a quiet period (an empty page, buckets with
    no results, an Azure response with no metrics): the empty file adds nothing."""
    empty = {"openai-usage": {"object": "page", "data": [{"object": "bucket", "start_time": unix(D3) + 86400,
                                                         "end_time": unix(D3) + 2 * 86400, "results": []}],
                              "has_more": False, "next_page": None},
             "anthropic-usage": {"data": [], "has_more": False, "next_page": None},
             "azure-metrics": {"cost": 0, "timespan": "2026-01-02T00:00:00Z/2026-01-03T00:00:00Z", "interval": "PT1H",
                               "value": [], "namespace": "Microsoft.CognitiveServices/accounts"}}
    out = []
    for v in openai_variants() + anthropic_variants() + azure_variants():
        if v.fmt in empty and v.canonical and len(v.files) == 1:
            name, data = next(iter(v.files.items()))
            out.append(Variant(f"{v.id}-with-quiet-day", v.fmt, {name: data, "quiet/day.json": as_json(empty.pop(v.fmt))},
                               v.canonical, v.mean))
    return out


def write(variant: Variant, folder) -> tuple[list, object]:
    """Write the export files and the canonical twin under ``folder``; (export paths, twin path)."""
    from pathlib import Path
    folder = Path(folder)
    paths = []
    for name, data in variant.files.items():
        p = folder / "export" / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        paths.append(p)
    twin = folder / "canonical.csv"
    twin.write_bytes(as_csv(variant.canonical, CANON))
    return paths, twin
