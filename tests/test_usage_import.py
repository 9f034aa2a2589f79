"""Usage import (issue 14): every export format gives the same totals as its canonical
equivalent; wrong formats and malformed records get located errors; nothing is dropped silently."""
from __future__ import annotations

import gzip
import json
import math
import shutil
from pathlib import Path

import pandas as pd
import pytest

from audit.core.exceptions import InputError, ValidationError
from audit.inventory.usage_import import Options, detect_format, read_usage, write_canonical
from audit.inventory.usage_import.aliases import (
    alias_table,
    ecologits_names,
    resolve_model_alias,
    resolve_video_model,
    runway_credits,
    runway_credits_to_seconds,
    suggest_models,
)
from audit.inventory.usage_import.schema import looks_like_count

from tests.helpers import USAGE_EXPORT_CASES, USAGE_EXPORT_FIXTURES

FIX = USAGE_EXPORT_FIXTURES
OPTS = Options(mean_output_tokens_per_request=500)
CASES = USAGE_EXPORT_CASES
SUMS = ["requests", "input_tokens", "cached_input_tokens", "output_tokens"]


def _canonical_twin(name: str) -> Path:
    stem = name.split(".")[0]
    return FIX / f"{stem}.canonical.csv"


def _totals(df: pd.DataFrame) -> pd.DataFrame:
    return df.groupby(["provider", "model"])[SUMS].sum().sort_index()


@pytest.mark.parametrize("name,fmt", CASES)
def test_auto_detects_each_format(name, fmt):
    assert detect_format(FIX / name) == fmt


@pytest.mark.parametrize("name,fmt", CASES)
def test_each_adapter_matches_its_canonical_equivalent(name, fmt):
    got = read_usage(FIX / name, fmt, options=OPTS)
    want = read_usage(_canonical_twin(name), "canonical")
    assert len(got.llm) == len(want.llm) > 0
    pd.testing.assert_frame_equal(_totals(got.llm), _totals(want.llm))
    # and row by row, in time order: the same timestamps and regions
    a = got.llm.sort_values(["timestamp", "model"]).reset_index(drop=True)
    b = want.llm.sort_values(["timestamp", "model"]).reset_index(drop=True)
    assert list(a["timestamp"]) == list(b["timestamp"])
    assert list(a["region"]) == list(b["region"])
    lat_a, lat_b = a["latency_s"].to_numpy(), b["latency_s"].to_numpy()
    assert all((math.isnan(x) and math.isnan(y)) or abs(x - y) < 1e-9 for x, y in zip(lat_a, lat_b))


def test_auto_says_which_format_it_chose():
    r = read_usage(FIX / "openrouter_activity.json")
    assert r.formats == {str(FIX / "openrouter_activity.json"): "openrouter"}
    assert any("read as openrouter (recognised automatically)" in m for m in r.messages())


def test_openai_images_become_image_generation_by_model_and_size():
    r = read_usage(FIX / "openai_usage_images.json", "openai-usage")
    assert len(r.llm) == 0
    by = r.media.groupby(["model", "size"])["images"].sum().to_dict()
    assert by == {("gpt-image-1", "1024x1024"): 40, ("gpt-image-1", "1536x1024"): 6}
    assert set(r.media["kind"]) == {"image_generation"}
    assert r.media["requests"].sum() == 26


def test_bedrock_video_records_become_video_seconds():
    r = read_usage(FIX / "bedrock_invocations.json.gz", "bedrock")
    video = r.media[r.media["kind"] == "video_generation"]
    assert video["video_seconds"].sum() == pytest.approx(6.0)
    assert video["provider"].tolist() == ["amazon"]
    assert video["size"].tolist() == ["1280x720"]


def test_wrong_format_for_from_names_the_format_auto_would_pick():
    with pytest.raises(ValidationError) as exc:
        read_usage(FIX / "openai_usage_completions.json", "anthropic-usage")
    text = str(exc.value)
    assert "openai_usage_completions.json" in text
    assert "not a anthropic-usage export" in text
    assert "--from openai-usage" in text


def test_unknown_from_name_is_refused():
    with pytest.raises(InputError, match="unknown --from"):
        read_usage(FIX / "openai_usage_completions.json", "openai")


def test_malformed_value_in_json_lines_is_located(tmp_path):
    rows = [json.loads(x) for x in (FIX / "helicone_export.jsonl").read_text().splitlines()]
    rows[1]["completion_tokens"] = "ninety"
    bad = tmp_path / "helicone.jsonl"
    bad.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(ValidationError) as exc:
        read_usage(bad, "helicone")
    (p,) = exc.value.problems
    assert p.file == str(bad) and p.column == "completion_tokens"
    assert "line 2" in p.message and "expected a number" in p.message and "ninety" in p.message


def test_broken_json_line_is_located(tmp_path):
    text = (FIX / "helicone_export.jsonl").read_text().splitlines()
    bad = tmp_path / "helicone.jsonl"
    bad.write_text(text[0] + "\n" + text[1] + "\n" + text[1][:40] + "\n")
    with pytest.raises(ValidationError) as exc:
        read_usage(bad, "helicone")
    assert "line 3" in str(exc.value) and "not valid JSON" in str(exc.value)


def test_malformed_value_in_nested_bucket_is_located(tmp_path):
    doc = json.loads((FIX / "openai_usage_completions.json").read_text())
    doc["data"][2]["results"][0]["output_tokens"] = "lots"
    bad = tmp_path / "usage.json"
    bad.write_text(json.dumps(doc))  # one line: the page is line 1
    with pytest.raises(ValidationError) as exc:
        read_usage(bad, "openai-usage")
    p = exc.value.problems[0]
    # one API response on one line is read as a document: the bucket is located by its record number
    assert "record 3" in p.message and "lots" in p.message and "expected a number" in p.message
    assert p.column == "results[0].output_tokens"  # of record 3 (data[2])
    pretty = tmp_path / "pretty.json"
    pretty.write_text(json.dumps(doc, indent=1))  # a multi-line document: located by record and path
    with pytest.raises(ValidationError) as exc:
        read_usage(pretty, "openai-usage")
    p = exc.value.problems[0]
    assert "record 3" in p.message and p.column == "results[0].output_tokens"


def test_negative_tokens_in_csv_are_located_by_row(tmp_path):
    df = pd.read_csv(FIX / "litellm_spendlogs.csv")
    df.loc[1, "completion_tokens"] = -5
    bad = tmp_path / "spend.csv"
    df.to_csv(bad, index=False)
    with pytest.raises(ValidationError) as exc:
        read_usage(bad, "litellm")
    p = exc.value.problems[0]
    assert "row 3" in p.message and p.column == "completion_tokens" and "non-negative" in p.message


def test_gzip_is_read_like_the_plain_file(tmp_path):
    plain = FIX / "openai_usage_completions.canonical.csv"
    gz = tmp_path / "log.csv.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    pd.testing.assert_frame_equal(read_usage(gz, "canonical").llm, read_usage(plain, "canonical").llm)


def test_folders_and_globs(tmp_path):
    for name in ("helicone_export.jsonl", "openrouter_activity.json"):
        shutil.copy(FIX / name, tmp_path / name)
    by_folder = read_usage(tmp_path)
    by_glob = read_usage(str(tmp_path / "*.js*"))
    assert set(by_folder.formats.values()) == {"helicone", "openrouter"}
    assert by_folder.llm["requests"].sum() == by_glob.llm["requests"].sum() == 2 + 80


def test_unknown_columns_are_listed(tmp_path):
    df = pd.read_csv(FIX / "helicone_export.canonical.csv")
    df["ticket"] = "T-1"
    path = tmp_path / "log.csv"
    df.to_csv(path, index=False)
    r = read_usage(path, "canonical")
    assert r.ignored_columns[str(path)] == ["ticket"]
    assert f"{path}: ignored columns: ticket" in r.messages()


@pytest.mark.parametrize("column", ["n", "count", "num_calls", "weight", "quantity", "requestCount"])
def test_unknown_count_like_column_is_an_error(tmp_path, column):
    df = pd.read_csv(FIX / "helicone_export.canonical.csv").drop(columns=["requests"])
    df[column] = 7
    path = tmp_path / "log.csv"
    df.to_csv(path, index=False)
    with pytest.raises(ValidationError) as exc:
        read_usage(path, "canonical")
    assert exc.value.problems[0].column == column
    assert "count or a weight" in str(exc.value)


def test_count_like_names():
    assert all(map(looks_like_count, ["n", "num_requests", "invocationCount", "weight", "calls", "qty"]))
    assert not any(map(looks_like_count, ["model", "input_tokens", "region", "latency_s", "stage", "content"]))


def test_requests_multiply_and_default_to_one(tmp_path):
    path = tmp_path / "log.csv"
    pd.DataFrame({"timestamp": ["2026-01-01T00:00:00Z"] * 2, "provider": ["openai"] * 2, "model": ["gpt-4o"] * 2,
                  "output_tokens": [100, 5000], "requests": [None, 50]}).to_csv(path, index=False)
    r = read_usage(path, "canonical")
    assert r.llm["requests"].tolist() == [1, 50]


def test_cached_tokens_beyond_input_are_refused(tmp_path):
    path = tmp_path / "log.csv"
    pd.DataFrame({"timestamp": ["2026-01-01"], "provider": ["openai"], "model": ["gpt-4o"], "output_tokens": [10],
                  "input_tokens": [100], "cached_input_tokens": [200]}).to_csv(path, index=False)
    with pytest.raises(ValidationError, match="cached input tokens exceed input tokens"):
        read_usage(path, "canonical")


def test_exports_without_request_counts_need_a_stated_mean():
    with pytest.raises(ValidationError, match="no request count"):
        read_usage(FIX / "anthropic_usage.json", "anthropic-usage")
    r = read_usage(FIX / "anthropic_usage.json", "anthropic-usage", options=Options(mean_output_tokens_per_request=1000))
    assert r.llm["requests"].tolist() == [300, 21]  # ceil(300000/1000), ceil(20500/1000)
    assert any("assumed mean output tokens per request" in n for n in r.notes)


def test_litellm_cache_hits_are_left_out_and_said():
    r = read_usage(FIX / "litellm_spendlogs.csv", "litellm")
    assert len(r.llm) == 2
    assert any("response cache" in n for n in r.notes)


def test_write_canonical_round_trips(tmp_path):
    r = read_usage(FIX / "bedrock_invocations.json.gz", "bedrock")
    written = write_canonical(r, tmp_path / "canonical.parquet")
    names = sorted(p.name for p in written)
    assert names == ["canonical.media.parquet", "canonical.parquet", "canonical.readings.csv"]
    back = read_usage(tmp_path / "canonical.parquet", "canonical")
    pd.testing.assert_frame_equal(_totals(back.llm), _totals(r.llm))


# --- model names ---------------------------------------------------------------------------

@pytest.mark.parametrize("provider,name,want", [
    ("openai", "gpt-4o-2024-08-06", ("openai", "gpt-4o-2024-08-06")),
    ("", "openai/gpt-4o", ("openai", "gpt-4o")),
    ("", "anthropic.claude-sonnet-4-5-20250929-v1:0", ("anthropic", "claude-sonnet-4-5-20250929")),
    ("", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", ("anthropic", "claude-sonnet-4-5-20250929")),
    ("", "eu.anthropic.claude-opus-4-7", ("anthropic", "claude-opus-4-7")),
    ("", "anthropic/claude-sonnet-4.5", ("anthropic", "claude-sonnet-4-5-20250929")),
    ("openai", "GPT-4o", ("openai", "gpt-4o")),
    ("openai", "gpt-5.4-mini-2026-09-01", ("openai", "gpt-5.4-mini")),
    ("azure-openai", "gpt-4o", ("azure-openai", "gpt-4o")),
    ("", "meta.llama3-1-70b-instruct-v1:0", ("huggingface_hub", "meta-llama/Meta-Llama-3.1-70B-Instruct")),
])
def test_model_aliases_resolve(provider, name, want):
    r = resolve_model_alias(provider, name, {})
    assert (r.provider, r.model) == want and r.known


def test_every_alias_marked_in_ecologits_resolves_to_an_ecologits_model():
    names = ecologits_names()
    t = alias_table()
    for row in t[t["in_ecologits"] == "yes"].itertuples():
        eco = {"huggingface_hub": "huggingface_hub"}.get(row.provider, row.provider)
        assert row.model.lower() in names[eco], row.alias
        assert row.source, row.alias


def test_alias_kinds_are_the_documented_ones():
    assert set(alias_table()["alias_kind"]) <= {"dated_snapshot", "bedrock_id", "bedrock_profile_prefix",
                                                "openrouter_slug", "vertex_sku", "old_name"}


def test_unknown_claude_3_5_sonnet_suggests_the_nearest_sonnet_not_sonnet_5():
    r = resolve_model_alias("anthropic", "claude-3-5-sonnet", {})
    assert not r.known and "did you mean" in r.how and "70B" in r.how
    first = suggest_models("anthropic", "claude-3-5-sonnet")[0]
    assert first.startswith("claude-sonnet-4-5")
    assert suggest_models("anthropic", "claude-3-haiku")[0].startswith("claude-haiku-4-5")


def test_retired_bedrock_id_reads_as_its_family_and_asks():
    r = resolve_model_alias("", "anthropic.claude-3-5-sonnet-20240620-v1:0", {})
    assert (r.provider, r.model) == ("anthropic", "claude-3-5-sonnet") and not r.known
    assert "bedrock_id" in r.how and "claude-sonnet-4-5" in r.how


def test_size_class_fallback_and_engagement_aliases():
    assert resolve_model_alias("openai", "70b", {}).model == "70B"
    r = resolve_model_alias("azure-openai", "prod-4o-eastus", {"prod-4o-eastus": "openai/gpt-4o"})
    assert (r.provider, r.model) == ("openai", "gpt-4o") and "engagement model_aliases" in r.how


def test_video_models_from_provider_and_bare_name():
    assert resolve_video_model("runway", "gen-4.5").model == "runway/gen-4.5"
    assert resolve_video_model("runway", "gen4_5").model == "runway/gen-4.5"
    r = resolve_video_model("runway", "gen-3-alpha")
    assert not r.known and "runway/gen-4.5" in r.how


def test_runway_credits_to_seconds():
    t = runway_credits()
    assert {"model", "credits_per_second", "source", "verification"} <= set(t.columns)
    rate = float(t.loc[t["model"] == "gen3a_turbo", "credits_per_second"].iloc[0])
    seconds, how = runway_credits_to_seconds("gen3a_turbo", 50)
    assert seconds == pytest.approx(50 / rate)
    assert "credits/s" in how


def test_empty_file_is_a_located_error(tmp_path):
    path = tmp_path / "usage.csv"
    path.write_text("")
    with pytest.raises(ValidationError, match="the file is empty"):
        read_usage(path)


def test_unrecognised_file_names_its_fields(tmp_path):
    path = tmp_path / "usage.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(ValidationError) as exc:
        read_usage(path)
    assert "not recognised from its fields (a, b)" in str(exc.value) and "--from" in str(exc.value)


def test_import_usage_command(tmp_path):
    from typer.testing import CliRunner

    from audit.cli import app

    out = tmp_path / "usage.parquet"
    res = CliRunner().invoke(app, ["import-usage", str(FIX / "anthropic_usage.json"), "--out", str(out),
                                   "--mean-output-tokens", "500"])
    assert res.exit_code == 0, res.output
    assert "641 requests" in res.output and "read as anthropic-usage (recognised automatically)" in res.output
    assert pd.read_parquet(out)["requests"].sum() == 641


def test_unknown_fields_of_a_provider_export_are_listed_and_counts_refused(tmp_path):
    doc = json.loads((FIX / "openai_usage_completions.json").read_text())
    doc["data"][0]["results"][0]["team_label"] = "growth"
    path = tmp_path / "usage.json"
    path.write_text(json.dumps(doc, indent=1))
    r = read_usage(path, "openai-usage")
    assert r.ignored_columns[str(path)] == ["team_label"]
    doc["data"][0]["results"][0]["num_retries"] = 3
    path.write_text(json.dumps(doc, indent=1))
    with pytest.raises(ValidationError) as exc:
        read_usage(path, "openai-usage")
    assert exc.value.problems[0].column == "num_retries"


def _langfuse_observation(i: int, snake: bool) -> dict:
    usage = {"input": 1000 + i, "output": 200 + i, "total": 1200 + 2 * i}
    if snake:  # blob-storage export names
        return {"id": f"o{i}", "trace_id": "t1", "type": "GENERATION", "start_time": "2026-03-01T10:00:00.000Z",
                "end_time": "2026-03-01T10:00:02.500Z", "provided_model_name": "gpt-4o-mini",
                "usage_details": usage, "cost_details": {"total": 0.001}, "metadata": {}, "tags": []}
    return {"id": f"o{i}", "traceId": "t1", "type": "GENERATION", "startTime": "2026-03-01T10:00:00.000Z",
            "endTime": "2026-03-01T10:00:02.500Z", "model": "gpt-4o-mini", "usageDetails": usage,
            "usage": {**usage, "unit": "TOKENS"}, "latency": 2.5}


@pytest.mark.parametrize("layout", ["snake_jsonl", "camel_one_line_page", "camel_pages_per_line"])
def test_langfuse_exports_as_written_are_recognised_and_read(tmp_path, layout):
    """Every observation carries its usage (no empty usageDetails to reveal the object's name);
    blob exports use snake_case; an API response saved on one line, or one page per line."""
    obs = [_langfuse_observation(i, snake=layout == "snake_jsonl") for i in range(4)]
    path = tmp_path / ("obs.jsonl" if layout != "camel_one_line_page" else "obs.json")
    if layout == "snake_jsonl":
        path.write_text("".join(json.dumps(o) + "\n" for o in obs))
    elif layout == "camel_one_line_page":
        path.write_text(json.dumps({"data": obs, "meta": {"page": 1}}))
    else:
        path.write_text("".join(json.dumps({"data": obs[k:k + 2], "meta": {"page": k // 2 + 1}}) + "\n"
                                for k in (0, 2)))
    assert detect_format(path) == "langfuse"
    got = read_usage(path).llm
    assert len(got) == 4
    assert got["output_tokens"].tolist() == [200, 201, 202, 203]
    assert got["input_tokens"].tolist() == [1000, 1001, 1002, 1003]
    assert got["latency_s"].tolist() == pytest.approx([2.5] * 4)
    assert set(got["model"]) == {"gpt-4o-mini"}
