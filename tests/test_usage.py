"""Usage logs: the vectorised per-request estimate equals the activity estimator row by row,
streams in chunks without changing a number, reads CSV and Parquet alike, reports the
hour-aware figure apart, and locates every problem."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from audit.cli import app
from audit.inventory.estimate import estimate
from audit.core.exceptions import ValidationError
from audit.inventory.intake import load_activities_file, load_engagement
from audit.inventory.usage import (
    UNSPECIFIED_STAGE, energy_range_kwh, estimate_usage, per_request_frame, resolver, synthetic_log,
)
from tests.helpers import find_problem, problems_from, write_engagement

N = 20_000

# Pairs that exercise every branch: aliases, MoE (range of active params), dense ranges,
# no tps (latency regression), a model given by size, a non-EcoLogits provider.
MIXED_PAIRS = [("openai", "gpt-4o"), ("azure-openai", "gpt-4o-mini"), ("claude", "claude-sonnet-4-5"),
               ("mistral", "mistral-large-2512"), ("google", "gemini-2.5-flash-lite"), ("cohere", "command-r-08-2024"),
               ("openai", "gpt-4o-mini-search-preview"), ("huggingface", "70B"), ("aws", "gpt-4.1-nano")]


@pytest.fixture(scope="module")
def log() -> pd.DataFrame:
    return synthetic_log(N, seed=7)


@pytest.fixture(scope="module")
def result(log):
    return estimate_usage(log, progress=False)


def _to_text(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    out["timestamp"] = out["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return out


# --- the same numbers as the activity estimator -------------------------------------------------

def test_each_request_equals_a_one_request_llm_api_activity(tmp_path):
    log = synthetic_log(240, seed=3, pairs=MIXED_PAIRS, latency_share=0.5)
    log.loc[::7, "input_tokens"] = 0
    rows = per_request_frame(log)
    acts = [{"activity_id": f"R{i}", "stage": "s", "description": "d", "kind": "llm_api", "quantity": "1",
             "unit": "request", "provider": r.provider, "model": r.model, "region": r.region,
             "input_tokens": str(r.input_tokens), "output_tokens": str(r.output_tokens),
             "latency_s": "" if math.isnan(r.latency_s) else repr(r.latency_s)}
            for i, r in enumerate(log.itertuples(index=False))]
    est = estimate(load_engagement(write_engagement(tmp_path, acts)))
    lines = est.lines.set_index("activity_id").loc[[a["activity_id"] for a in acts]]
    for col in ("kwh", "kwh_low", "kwh_high", "kgco2e", "kgco2e_low", "kgco2e_high", "intensity_g_per_kwh"):
        np.testing.assert_allclose(rows[col].to_numpy(float), lines[col].to_numpy(float), rtol=1e-12, err_msg=col)
    assert list(rows["region"]) == list(lines["region"])  # blank -> the provider's region, as the estimator does
    usage = estimate_usage(log, progress=False)
    assert usage.totals["kgco2e"] == pytest.approx(lines["kgco2e"].sum(), rel=1e-12)
    assert usage.totals["kgco2e_high"] == pytest.approx(lines["kgco2e_high"].sum(), rel=1e-12)
    cited = set(usage.factor_ids)
    used = {f for ids in lines["factor_ids"] for f in ids if not f.startswith("activity:")}
    assert used <= cited


def test_method_range_equals_ecologits_min_max_without_input_tokens():
    from ecologits.tracers.utils import llm_impacts

    from audit.inventory.usage import Resolver
    from audit.methods.llm import llm_coefficients

    # Issue 15: the default is the production method; with EcoLogits' coefficients (the method
    # llm_method: ecologits selects) the same arrays reproduce EcoLogits 0.11.3 request by request.
    res = Resolver()
    res.c = llm_coefficients(res.register, "ecologits")
    log = synthetic_log(60, seed=11)
    log["input_tokens"] = 0
    log["provider"] = log["provider"].astype(str).map({"mistral": "mistralai", "google": "google_genai"}).fillna(
        log["provider"].astype(str))
    pair = np.array([res.pair(p, m) for p, m in zip(log["provider"], log["model"])])
    lo, mid, hi = energy_range_kwh(res, pair, log["output_tokens"].to_numpy(float), np.zeros(len(log)),
                                   log["latency_s"].to_numpy(float))
    for i, r in enumerate(log.itertuples(index=False)):
        e = llm_impacts(r.provider, r.model, int(r.output_tokens),
                        math.inf if math.isnan(r.latency_s) else r.latency_s).energy.value
        e_lo, e_hi = (e.min, e.max) if hasattr(e, "min") else (e, e)
        assert lo[i] == pytest.approx(e_lo, rel=1e-9) and hi[i] == pytest.approx(e_hi, rel=1e-9)
        assert lo[i] <= mid[i] <= hi[i]


def test_blank_region_is_the_providers_data_centre_region():
    log = pd.DataFrame({"timestamp": ["2025-06-01T12:00:00Z"] * 3, "provider": ["openai", "mistral", "openai"],
                        "model": ["gpt-4o", "mistral-large-2512", "gpt-4o"], "output_tokens": [100, 100, 100],
                        "region": ["", "", "FRA"]})
    rows = per_request_frame(log)
    assert list(rows["region"]) == ["USA", "SWE", "FRA"]
    assert rows.loc[0, "kwh"] == rows.loc[2, "kwh"] and rows.loc[0, "kgco2e"] != rows.loc[2, "kgco2e"]
    assert list(rows["stage"]) == [UNSPECIFIED_STAGE] * 3


# --- streaming and formats ------------------------------------------------------------------------

def test_chunked_equals_unchunked(log, result):
    small = estimate_usage(log, chunk_rows=1_777, progress=False)
    pd.testing.assert_frame_equal(small.groups, result.groups, rtol=1e-12)
    assert small.totals == pytest.approx(result.totals, rel=1e-12)
    assert result.totals["requests"] == N


def test_csv_and_parquet_give_the_same_result(tmp_path, log, result):
    csv = tmp_path / "log.csv"
    _to_text(log).to_csv(csv, index=False)
    pq = tmp_path / "log.parquet"
    log.to_parquet(pq, row_group_size=6_000)
    from_csv = estimate_usage(csv, chunk_rows=5_000, progress=False)
    from_pq = estimate_usage(pq, chunk_rows=5_000, progress=False)
    for other in (from_csv, from_pq):
        pd.testing.assert_frame_equal(other.groups, result.groups, rtol=1e-12)
    # A folder of Parquet parts is one log.
    parts = tmp_path / "parts"
    parts.mkdir()
    for i, start in enumerate(range(0, N, 7_000)):
        log.iloc[start:start + 7_000].to_parquet(parts / f"part-{i}.parquet")
    assert estimate_usage(parts, progress=False).totals == pytest.approx(result.totals, rel=1e-12)
    assert estimate_usage(str(parts / "part-*.parquet"), progress=False).totals["requests"] == N
    listed = sorted(parts.glob("*.parquet"))  # what a shell expands a glob into
    assert estimate_usage(listed, progress=False).totals == pytest.approx(result.totals, rel=1e-12)


def _general_path(path, **kw):
    """The reference: the same Parquet log through the pandas chunks (asking for per-request
    frames keeps estimate_usage off the Arrow path)."""
    return estimate_usage(path, progress=False, on_chunk=lambda rows: None, **kw)


def _arrow_path(path, monkeypatch, **kw):
    """estimate_usage on the Arrow path, and how many batches fell back to the pandas chunks."""
    from audit.inventory.usage import chunks

    calls = []
    general = chunks.process_chunk
    monkeypatch.setattr(chunks, "process_chunk", lambda *a, **k: calls.append(a[3]) or general(*a, **k))
    return estimate_usage(path, progress=False, **kw), calls


def _mixed_parquet(tmp_path, log) -> list:
    """Parquet logs that exercise every type the Arrow path reads: dictionary and plain text,
    nulls in text, input tokens and latency, timestamps in several units and zones (naive =
    UTC), integer and float numbers of several widths, request counts and cached input, a
    model name read as another, and a batch size that cuts across row groups."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    mixed = synthetic_log(9_000, seed=5, pairs=MIXED_PAIRS + [("openai", "chatgpt-4o-latest")])
    plain = pa.Table.from_pandas(mixed.astype({"provider": str}), preserve_index=False)
    paths = []
    # 1. dictionary text as pandas writes a categorical, the rest as synthetic_log makes it
    paths.append(tmp_path / "dict.parquet")
    pq.write_table(pa.Table.from_pandas(mixed, preserve_index=False), paths[-1], row_group_size=2_500)
    # 2. plain strings with nulls, ms timestamps in Paris time, float32/int32 numbers, requests and cached tokens
    n = len(mixed)
    rng = np.random.default_rng(3)
    requests = rng.integers(1, 40, n)
    input_tokens = (mixed["input_tokens"] * requests).astype(float)
    input_tokens[rng.random(n) < 0.1] = np.nan
    cached = np.floor(np.nan_to_num(input_tokens) * rng.random(n))
    cached[rng.random(n) < 0.1] = np.nan
    stage = mixed["stage"].where(rng.random(n) > 0.2, None)
    region = mixed["region"].where(rng.random(n) > 0.3, None)
    table = pa.table({
        "Timestamp": pa.array(mixed["timestamp"].dt.tz_convert("Europe/Paris"), pa.timestamp("ms", tz="Europe/Paris")),
        "provider": pa.array(mixed["provider"].astype(str), pa.string()),
        "model": pa.array(mixed["model"], pa.large_string()),
        "output_tokens": pa.array((mixed["output_tokens"] * requests).astype(np.float32)),
        "input_tokens": pa.array(input_tokens, from_pandas=True),
        "cached_input_tokens": pa.array(cached, from_pandas=True),
        "requests": pa.array(requests.astype(np.int32)),
        "latency_s": pa.array(mixed["latency_s"], from_pandas=True),
        "stage": pa.array(stage, pa.string()), "region": pa.array(region, pa.string()),
        "note": pa.array(["ignored"] * n),
    })
    paths.append(tmp_path / "typed.parquet")
    pq.write_table(table, paths[-1], row_group_size=3_001)
    # 3. naive timestamps in ns (read as UTC), no optional columns but latency
    paths.append(tmp_path / "naive.parquet")
    naive = plain.select(["timestamp", "provider", "model", "output_tokens", "latency_s"])
    naive = naive.set_column(0, "timestamp", pa.array(mixed["timestamp"].dt.tz_localize(None), pa.timestamp("ns")))
    pq.write_table(naive, paths[-1], row_group_size=4_000)
    return paths


def test_parquet_on_arrow_arrays_equals_the_pandas_chunks_bit_for_bit(tmp_path, log, monkeypatch):
    """The Arrow path (no pandas conversion, two batches at a time) gives the very sums, groups,
    notes and factor ids of the pandas chunks, for every column type it reads, and never falls
    back to the pandas chunks on a clean log."""
    for path in _mixed_parquet(tmp_path, log):
        for chunk_rows in (1_000, 3_500):
            reference = _general_path(path, chunk_rows=chunk_rows)
            fast, fell_back = _arrow_path(path, monkeypatch, chunk_rows=chunk_rows)
            assert fell_back == [], path.name
            pd.testing.assert_frame_equal(fast.groups, reference.groups, check_exact=True)
            assert fast.totals == reference.totals and fast.totals["requests"] == reference.groups["requests"].sum()
            assert fast.notes == reference.notes and fast.factor_ids == reference.factor_ids
    assert any("chatgpt-4o-latest" in n for n in fast.notes)  # a name read as another is said on both paths


def test_parquet_logs_are_read_with_the_system_allocator_and_the_default_is_put_back(tmp_path, log):
    """Issue 16: the Parquet reader allocates from the system's malloc (pyarrow's default
    mimalloc cost 3-4x the system CPU per row here); Arrow's default pool is unchanged after."""
    import pyarrow as pa

    from audit.inventory.usage.chunks import parquet_meta

    path = tmp_path / "log.parquet"
    log.to_parquet(path)
    before = pa.default_memory_pool().backend_name
    system = pa.system_memory_pool()
    held = system.bytes_allocated()
    reader = parquet_meta(path)
    assert pa.default_memory_pool().backend_name == before
    batch = next(reader.iter_batches(batch_size=1_000))
    assert system.bytes_allocated() > held  # the batch's buffers came from the system pool
    del batch


def test_batches_in_flight_change_no_sum(tmp_path, log, monkeypatch):
    """Two Parquet batches at a time (GENAI_AUDIT_USAGE_IN_FLIGHT=2, on a pool of two threads)
    give the sums of one at a time, bit for bit; a bad setting is named."""
    from audit.core.exceptions import InputError
    from audit.inventory.usage.logs import IN_FLIGHT_ENV

    path = tmp_path / "log.parquet"
    log.to_parquet(path, row_group_size=2_000)
    results = []
    for value in ("1", "2"):
        monkeypatch.setenv(IN_FLIGHT_ENV, value)
        monkeypatch.setattr("os.cpu_count", lambda: 2)
        results.append(estimate_usage(path, chunk_rows=1_500, progress=False))
    pd.testing.assert_frame_equal(results[0].groups, results[1].groups, check_exact=True)
    monkeypatch.setenv(IN_FLIGHT_ENV, "two")
    with pytest.raises(InputError, match=IN_FLIGHT_ENV):
        estimate_usage(path, progress=False)


def test_parquet_problems_are_the_same_on_the_arrow_path(tmp_path, log, monkeypatch):
    """A batch with a problem goes through the pandas chunks, in file order, so the problems
    listed are those of one batch at a time, whichever worker thread finished first."""
    bad = log.head(6_000).copy()
    bad["output_tokens"] = bad["output_tokens"].astype(float)
    bad.loc[10, "model"] = "gpt-9"
    bad.loc[2_500, "output_tokens"] = -3
    bad.loc[2_501, "output_tokens"] = np.nan
    bad.loc[3_333, "region"] = "GRB"
    bad.loc[4_444, "latency_s"] = 0.0
    bad.loc[5_555, "timestamp"] = pd.Timestamp("1990-01-01", tz="UTC")
    path = tmp_path / "bad.parquet"
    bad.to_parquet(path, row_group_size=1_500)
    listed = [[(p.row, p.column, p.message) for p in problems_from(run, path, chunk_rows=1_000)]
              for run in (lambda p, **k: _general_path(p, **k), lambda p, **k: _arrow_path(p, monkeypatch, **k)[0])]
    assert listed[0] == listed[1]
    assert [(r, c) for r, c, _ in listed[1]] == [(11, "model"), (2_501, "output_tokens"), (2_502, "output_tokens"),
                                                 (3_334, "region"), (4_445, "latency_s"), (5_556, "timestamp")]
    # Request counts and cached input tokens (bucketed rows) are checked as the pandas chunks check them.
    buckets = log.head(4_000).assign(requests=3, cached_input_tokens=0.0)
    buckets.loc[100, "requests"] = 0
    buckets.loc[1_200, "cached_input_tokens"] = buckets.loc[1_200, "input_tokens"] + 1
    buckets.loc[2_300, "cached_input_tokens"] = -1
    buckets["requests"] = buckets["requests"].astype(float)
    buckets.loc[3_400, "requests"] = 2.5
    path = tmp_path / "bad_buckets.parquet"
    buckets.to_parquet(path)
    listed = [[(p.row, p.column, p.message) for p in problems_from(run, path, chunk_rows=1_000)]
              for run in (lambda p, **k: _general_path(p, **k), lambda p, **k: _arrow_path(p, monkeypatch, **k)[0])]
    assert listed[0] == listed[1]
    assert [(r, c) for r, c, _ in listed[1]] == [(101, "requests"), (1_201, "cached_input_tokens"),
                                                 (2_301, "cached_input_tokens"), (3_401, "requests")]


def test_adding_chunks_one_by_one_equals_merging_them(log):
    """add_partial (the running total estimate_usage keeps) gives merge_partials' sums bit for
    bit, whether a chunk's groups are all in the total already, partly new, or hashed (unsorted)."""
    from audit.inventory.usage import LocatedProblems, Partial, merge_partials, process_chunk
    from audit.inventory.usage.chunks import add_partial

    res = resolver()
    parts = [process_chunk(log.iloc[s:s + 3_000], res, "log", s + 1, LocatedProblems()).partial
             for s in range(0, len(log), 3_000)]
    rng = np.random.default_rng(2)
    shuffled = rng.permutation(len(parts[1].keys))  # a hashed chunk's keys come in row order
    parts.insert(1, Partial(parts[1].keys[shuffled], parts[1].sums[:, shuffled] * 1.1))
    parts.insert(2, Partial(parts[0].keys[:50], parts[0].sums[:, :50] / 3))  # every group already in the total
    total = None
    for part in parts:
        total = add_partial(total, part)
    merged = merge_partials(parts)
    order = np.argsort(merged.keys)
    assert np.array_equal(total.keys, merged.keys[order])
    assert np.array_equal(total.sums, merged.sums[:, order])


def test_aggregates_add_up(result):
    t = result.totals
    assert t["kgco2e_low"] < t["kgco2e"] < t["kgco2e_high"]
    by_model = result.by_model
    assert sum(m["requests"] for m in by_model) == N
    assert sum(m["kgco2e"] for m in by_model) == pytest.approx(t["kgco2e"], rel=1e-12)
    assert set(by_model[0]) == {"provider", "model", "requests", "kwh", "kgco2e", "kgco2e_low", "kgco2e_high"}
    for key in ("stage", "month", "hour", "region"):
        assert result.by(key)["kwh"].sum() == pytest.approx(t["kwh"], rel=1e-12)
    assert list(result.by("month")["month"]) == [f"2025-{m:02d}" for m in range(1, 13)]


def test_per_request_rows_are_available_and_sum_to_the_totals(log, result):
    rows = result.per_request()
    assert len(rows) == N and rows["kgco2e"].sum() == pytest.approx(result.totals["kgco2e"], rel=1e-12)
    assert list(rows["row"][:3]) == [1, 2, 3]
    assert len(result.per_request(limit=10)) == 10


# --- hour-aware carbon, reported apart -------------------------------------------------------------

def test_hourly_figure_uses_the_month_hour_profile_and_is_reported_apart(result):
    from audit.reference.profiles import hourly_profiles

    rows = result.per_request(limit=4000)
    gbr = rows[rows["country"] == "GBR"].iloc[0]
    prof = hourly_profiles().set_index(["country", "month", "hour_utc"])["g_co2e_per_kwh"]
    ih = prof.loc[("GBR", gbr["timestamp"].month, gbr["timestamp"].hour)]
    assert gbr["kgco2e_hourly"] == pytest.approx(gbr["kwh"] * ih / 1000, rel=1e-12)
    assert rows.loc[rows["country"].isin(["USA", "SWE"]), "kgco2e_hourly"].isna().all()
    d = result.to_json_dict()
    h = d["hourly"]
    assert d["kgco2e_hourly"] == h["kgco2e"] and h["countries"] == ["DEU", "FRA", "GBR"]
    assert h["kgco2e"] != pytest.approx(h["kgco2e_annual_same_requests"], rel=1e-3)
    assert 0 < h["requests"] < d["requests"]
    # The inventory total is the annual-factor figure, untouched by the hourly one.
    assert d["kgco2e"] == pytest.approx(result.groups["kgco2e"].sum(), rel=1e-12)
    assert "apart from the inventory" in h["basis"]


# --- feeding the engagement pipeline ------------------------------------------------------------

def test_activities_reproduce_central_figures_when_no_latency_caps(tmp_path, log):
    log = log.head(5_000).assign(stage="Ideation", region=np.where(np.arange(5_000) % 2, "", "FRA"))
    no_lat = log.drop(columns=["latency_s"])
    usage = estimate_usage(no_lat, progress=False)
    acts = usage.to_activities()
    assert (acts["kind"] == "llm_api").all() and acts["quantity"].sum() == 5_000
    assert len(acts) == 20 * 2 * 12  # model x region x month
    path = tmp_path / "activities.csv"
    acts.to_csv(path, index=False)
    est = estimate(load_activities_file(path))
    assert est.lines["kwh"].sum() == pytest.approx(usage.totals["kwh"], rel=1e-9)
    assert est.lines["kgco2e"].sum() == pytest.approx(usage.totals["kgco2e"], rel=1e-9)
    # Issue 15: the default (production) method has no latency term, so logged latencies change
    # nothing and the activities reproduce the requests exactly (under llm_method: ecologits the
    # latency cap is applied to mean tokens: close, not exact).
    capped = estimate_usage(log, progress=False)
    acts = capped.to_activities()
    acts.to_csv(path, index=False)
    kwh = estimate(load_activities_file(path)).lines["kwh"].sum()
    assert kwh == pytest.approx(capped.totals["kwh"], rel=1e-9)


# --- located problems ----------------------------------------------------------------------------

BAD_CSV = """Timestamp,Provider,Model,output_tokens,input_tokens,latency_s,Stage,region
2025-01-01T10:00:00Z,openai,gpt-4o,100,50,2.0,Ideation,
2025-01-01T10:00:00Z,openia,gpt-4o,100,50,2.0,Ideation,
2025-01-01T10:00:00Z,openai,gpt-4oo,100,50,2.0,Ideation,
not a date,openai,gpt-4o,abc,-5,0,Ideation,GRB
2025-01-01T10:00:00Z,openai,gpt-4o,,50,,Ideation,aws:eu-west-9
"""


def test_every_problem_is_located_at_once(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(BAD_CSV)
    problems = problems_from(estimate_usage, path, progress=False)
    assert len(problems) == 9 and all(p.file == str(path) for p in problems)
    assert "openai" in find_problem(problems, row=3, column="provider", contains="unknown provider 'openia'").hint
    assert "'gpt-4o'" in find_problem(problems, row=4, column="model", contains="gpt-4oo").hint
    find_problem(problems, row=5, column="timestamp", contains="not a date")
    find_problem(problems, row=5, column="output_tokens", contains="'abc' is not a number")
    find_problem(problems, row=5, column="input_tokens", contains="negative")
    find_problem(problems, row=5, column="latency_s", contains="out of range")
    find_problem(problems, row=5, column="region", contains="GRB")
    find_problem(problems, row=6, column="output_tokens", contains="is empty")
    assert "aws:eu-west-2" in find_problem(problems, row=6, column="region").hint


def test_problems_in_later_chunks_and_parquet_rows(tmp_path, log):
    bad = log.head(3_000).copy()
    bad["output_tokens"] = bad["output_tokens"].astype(float)
    bad.loc[2_500, "output_tokens"] = -3
    bad.loc[10, "model"] = "gpt-9"
    path = tmp_path / "bad.parquet"
    bad.to_parquet(path)
    problems = problems_from(estimate_usage, path, chunk_rows=1_000, progress=False)
    assert [(p.row, p.column) for p in problems] == [(11, "model"), (2_501, "output_tokens")]


def test_missing_columns_and_problem_cap(tmp_path):
    path = tmp_path / "cols.csv"
    path.write_text("time,provider,modle,output_tokens\n2025-01-01,openai,gpt-4o,1\n")
    problems = problems_from(estimate_usage, path, progress=False)
    assert "'time'" in find_problem(problems, column="timestamp", contains="missing").hint
    assert "'modle'" in find_problem(problems, column="model", contains="missing").hint
    many = tmp_path / "many.csv"
    many.write_text("timestamp,provider,model,output_tokens\n"
                    + "".join(f"2025-01-01T00:00:00Z,openai,gpt-4o,x{i}\n" for i in range(120)))
    problems = problems_from(estimate_usage, many, progress=False)
    summary = find_problem(problems, contains="problems in all")
    assert len(problems) == 51 and "120 problems in all" in summary.message and "70 more" in summary.message
    assert [p.row for p in problems if p is not summary][:3] == [2, 3, 4]


# --- command line --------------------------------------------------------------------------------

def _parquet_log(tmp_path, log, n):
    pq = tmp_path / "log.parquet"
    log.head(n).to_parquet(pq)
    return pq


def test_cli_json_shape_and_activities(tmp_path, log):
    pq = _parquet_log(tmp_path, log, 2_000)
    acts = tmp_path / "acts.csv"
    out = CliRunner().invoke(app, ["estimate-usage", str(pq), "--format", "json", "--activities", str(acts)])
    assert out.exit_code == 0, out.output
    d = json.loads(out.stdout)
    assert list(d)[:6] == ["requests", "kwh", "kgco2e", "kgco2e_low", "kgco2e_high", "by_model"]
    assert d["requests"] == 2_000 and acts.exists()
    direct = estimate_usage(pq, progress=False).to_json_dict()
    assert d["kgco2e"] == direct["kgco2e"] and d["by_model"] == direct["by_model"]
    table = CliRunner().invoke(app, ["estimate-usage", str(pq)])
    assert table.exit_code == 0 and "By model" in table.stdout and "not in the total" in table.stdout


def test_cli_per_request_parquet(tmp_path, log):
    pq = _parquet_log(tmp_path, log, 3_000)
    rows = tmp_path / "rows.parquet"
    out = CliRunner().invoke(app, ["estimate-usage", str(pq), "--chunk-rows", "1000", "--per-request", str(rows)])
    assert out.exit_code == 0, out.output
    back = pd.read_parquet(rows)
    assert len(back) == 3_000 and back["kgco2e"].sum() == pytest.approx(
        estimate_usage(pq, progress=False).totals["kgco2e"], rel=1e-12)


def test_cli_input_errors_exit_2_with_a_located_message(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(BAD_CSV)
    out = CliRunner().invoke(app, ["estimate-usage", str(path), "--format", "json"])
    assert out.exit_code == 2
    assert "row 3, column 'provider'" in out.stderr and "Traceback" not in out.output
    missing = CliRunner().invoke(app, ["estimate-usage", str(tmp_path / "nope.parquet")])
    assert missing.exit_code == 2 and "file not found" in missing.stderr
    both = CliRunner().invoke(app, ["estimate-usage", str(path), "--dask", "local", "--scheduler", "tcp://x:1"])
    assert both.exit_code == 2
    csv_on_dask = CliRunner().invoke(app, ["estimate-usage", str(path), "--scheduler", "tcp://127.0.0.1:1"])
    assert csv_on_dask.exit_code == 2 and "Parquet" in csv_on_dask.stderr


def test_validation_error_is_raised_not_a_traceback_for_a_frame():
    with pytest.raises(ValidationError):
        per_request_frame(pd.DataFrame({"timestamp": ["2025-01-01"], "provider": ["openai"], "model": ["nope"],
                                        "output_tokens": [1]}))


def test_threaded_slices_change_no_sum_and_no_problem():
    """A chunk estimated as slices on threads equals the chunk estimated whole, bit for bit,
    and lists the same problems in the same order (slices merge their problems in row order)."""
    from concurrent.futures import ThreadPoolExecutor

    from audit.inventory.usage import MIN_SLICE_ROWS, LocatedProblems, process_chunk

    big = synthetic_log(3 * MIN_SLICE_ROWS + 17, seed=11, pairs=MIXED_PAIRS)
    res = resolver()
    with ThreadPoolExecutor(3) as pool:
        threaded = process_chunk(big, res, "log.csv", 2, LocatedProblems(), pool=pool)
    whole = process_chunk(big, res, "log.csv", 2, LocatedProblems())
    assert np.array_equal(threaded.partial.keys, whole.partial.keys)
    assert np.array_equal(threaded.partial.sums, whole.partial.sums)

    bad = big.copy()
    bad["output_tokens"] = bad["output_tokens"].astype(float)
    bad.loc[[4, MIN_SLICE_ROWS + 1, 3 * MIN_SLICE_ROWS + 16], "output_tokens"] = -5.0
    bad.loc[[7, 2 * MIN_SLICE_ROWS + 3], "model"] = "no-such-model"
    listed = []
    for pool in (ThreadPoolExecutor(3), None):
        problems = LocatedProblems()
        out = process_chunk(bad, res, "log.csv", 2, problems, pool=pool)
        assert out.partial is None and problems.count == 5
        listed.append([(p.row, p.column, p.message) for p in problems.items])
    assert listed[0] == listed[1]
    assert sorted(r for r, _, _ in listed[0]) == [6, 9, MIN_SLICE_ROWS + 3, 2 * MIN_SLICE_ROWS + 5, 3 * MIN_SLICE_ROWS + 18]


# --- usage logs inside an engagement (engagement.yaml › usage_logs) ------------------------------

def _engagement_with_log(tmp_path, log_rows: pd.DataFrame, entry="usage/log.csv", **settings):
    from tests.helpers import activity
    folder = write_engagement(tmp_path, [activity(activity_id="A1")], usage_logs=[entry], **settings)
    (folder / "usage").mkdir(exist_ok=True)
    log_rows.to_csv(folder / "usage" / "log.csv", index=False)
    return folder


def test_engagement_usage_log_becomes_llm_api_activities_with_the_same_numbers(tmp_path, log):
    from audit.orchestration.pipeline import map_and_estimate, usage_logs

    small = log.head(3_000)
    folder = _engagement_with_log(tmp_path, small)
    loaded = load_engagement(folder)
    acts = loaded.activities
    usg = acts[acts["activity_id"].str.startswith("USG-")]
    assert len(acts) == 1 + len(usg) and (usg["kind"] == "llm_api").all()
    assert int(usg["quantity"].sum()) == 3_000
    assert "usage/log.csv" in loaded.input_files  # fingerprinted for the manifest
    assert any("3,000 requests in 1 usage log file(s)" in w for w in loaded.warnings)
    direct = estimate_usage(small, progress=False)
    assert usage_logs(folder).totals["kgco2e"] == pytest.approx(direct.totals["kgco2e"], rel=1e-12)
    assert usage_logs(folder, loaded.engagement) is usage_logs(folder)  # the loaded engagement: same cached result
    # The inventory's lines for the USG activities reproduce the log's central energy where no
    # logged latency caps a request's generation time (see UsageResult.to_activities).
    uncapped = small.assign(latency_s=np.nan)
    folder2 = _engagement_with_log(tmp_path / "b", uncapped)
    est = map_and_estimate(folder2, tmp_path / "work")
    lines = est.lines[est.lines["activity_id"].str.startswith("USG-")]
    assert lines["kwh"].sum() == pytest.approx(estimate_usage(uncapped, progress=False).totals["kwh"], rel=1e-9)
    by_hour = pd.read_csv(tmp_path / "work" / "usage_by_hour.csv")
    assert by_hour["requests"].sum() == 3_000 and set(by_hour["hour"]) <= set(range(24))


def test_usage_logs_must_stay_inside_the_engagement_folder(tmp_path, log):
    for entry in ("../elsewhere/log.csv", "/etc/passwd", "~/log.csv"):
        folder = write_engagement(tmp_path / f"e{abs(hash(entry))}", [], usage_logs=[entry])
        with pytest.raises(ValidationError) as err:
            load_engagement(folder)
        p = err.value.problems[0]
        assert p.file.endswith("engagement.yaml") and "usage_logs" in (p.column or "") + p.message
        assert "inside" in p.message


def test_a_bad_usage_log_is_located_in_the_log(tmp_path, log):
    bad = log.head(50).copy()
    bad["output_tokens"] = bad["output_tokens"].astype(object)
    bad.loc[7, "output_tokens"] = "lots"
    folder = _engagement_with_log(tmp_path, bad)
    with pytest.raises(ValidationError) as err:
        load_engagement(folder)
    p = find_problem(err.value.problems, column="output_tokens")
    assert p.file.endswith("log.csv") and p.row == 9 and "'lots' is not a number" in p.message


def test_hostile_text_in_a_usage_log_stays_text_in_usage_by_hour_csv(tmp_path, log):
    from audit.orchestration.pipeline import map_and_estimate

    hostile = log.head(200).assign(stage='=HYPERLINK("http://evil.example","x")')
    folder = _engagement_with_log(tmp_path, hostile)
    map_and_estimate(folder, tmp_path / "work")
    text = (tmp_path / "work" / "usage_by_hour.csv").read_text(encoding="utf-8")
    assert "'=HYPERLINK" in text and "\n=HYPERLINK" not in text and ",=HYPERLINK" not in text


def test_cli_by_hour_csv_sums_to_the_totals(tmp_path, log):
    pq = _parquet_log(tmp_path, log, 2_000)
    by_hour = tmp_path / "out" / "by_hour.csv"
    out = CliRunner().invoke(app, ["estimate-usage", str(pq), "--by-hour", str(by_hour), "--format", "json"])
    assert out.exit_code == 0, out.output
    table = pd.read_csv(by_hour)
    assert {"stage", "provider", "model", "region", "month", "hour", "requests", "kwh", "kgco2e", "kgco2e_low",
            "kgco2e_high", "kgco2e_hourly"} <= set(table.columns)
    assert table["hour"].between(0, 23).all() and not table.duplicated(
        ["stage", "provider", "model", "region", "month", "hour"]).any()
    d = json.loads(out.stdout)
    assert int(table["requests"].sum()) == d["requests"] == 2_000
    assert table["kgco2e"].sum() == pytest.approx(d["kgco2e"], rel=1e-12)
    by_hour_json = {r["hour"]: r["kgco2e"] for r in d["by_hour_utc"]}
    assert table.groupby("hour")["kgco2e"].sum().to_dict() == pytest.approx(by_hour_json, rel=1e-12)


def test_cli_activities_csv_keeps_hostile_text_as_text_and_reads_back_unchanged(tmp_path, log):
    stage = '=HYPERLINK("http://evil.example","x")'
    pq = tmp_path / "log.parquet"
    log.head(300).assign(stage=stage).to_parquet(pq)
    acts = tmp_path / "acts.csv"
    out = CliRunner().invoke(app, ["estimate-usage", str(pq), "--activities", str(acts)])
    assert out.exit_code == 0, out.output
    text = acts.read_text(encoding="utf-8")
    assert "'=HYPERLINK" in text and ",=HYPERLINK" not in text and "\n=HYPERLINK" not in text
    folder = write_engagement(tmp_path, acts.read_text(encoding="utf-8"))
    loaded = load_engagement(folder)
    assert set(loaded.activities["stage"]) == {stage}


def test_cli_per_request_file_appears_only_for_a_whole_log(tmp_path, log):
    bad = tmp_path / "bad.csv"
    bad.write_text(BAD_CSV)
    rows = tmp_path / "rows.parquet"
    out = CliRunner().invoke(app, ["estimate-usage", str(bad), "--per-request", str(rows)])
    assert out.exit_code == 2 and not rows.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp file left


def test_rows_are_counted_for_the_progress_bar_only_when_it_shows(tmp_path, log, monkeypatch):
    import sys

    import audit.inventory.usage.logs as usage
    from audit.core.progress import bar_shown

    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    assert bar_shown(None) is False and bar_shown(False) is False and bar_shown(True) is True
    pq = _parquet_log(tmp_path, log, 500)
    counted = []
    real = usage._total_rows
    monkeypatch.setattr(usage, "_total_rows", lambda files: counted.append(files) or real(files))
    quiet = estimate_usage(pq, progress=False)
    assert counted == []
    assert estimate_usage(pq, progress=True).totals == quiet.totals and len(counted) == 1


def test_cli_table_lists_models_in_the_json_order(tmp_path, log):
    """The table's "By model" rows follow UsageResult.by_model: kgCO2e down, ties by provider, model."""
    rows = log.head(400).assign(provider="huggingface", region="GBR")
    # The same requests under three names of one model size: "70b" and "70B" tie exactly.
    tied = pd.concat([rows.assign(model="70b"), rows.assign(model="8B"), rows.assign(model="70B")],
                     ignore_index=True)
    path = tmp_path / "tied.parquet"
    tied.to_parquet(path)
    table = CliRunner().invoke(app, ["estimate-usage", str(path)])
    as_json = CliRunner().invoke(app, ["estimate-usage", str(path), "--format", "json"])
    assert table.exit_code == 0 and as_json.exit_code == 0, table.output + as_json.output
    section = table.stdout.split("By model")[1].split("By stage")[0].splitlines()[2:]
    listed = [line.split()[1] for line in section if line.strip()]
    assert listed == [m["model"] for m in json.loads(as_json.stdout)["by_model"]]


def test_cli_per_request_file_of_a_log_without_requests_is_an_empty_table(tmp_path):
    from audit.inventory.usage import ROW_COLUMNS

    empty = tmp_path / "empty.csv"
    empty.write_text("timestamp,provider,model,output_tokens\n")
    rows = tmp_path / "rows.parquet"
    out = CliRunner().invoke(app, ["estimate-usage", str(empty), "--per-request", str(rows)])
    assert out.exit_code == 0, out.output
    back = pd.read_parquet(rows)
    assert len(back) == 0 and list(back.columns) == ROW_COLUMNS
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_usage_hand_off_gives_the_same_result_and_only_for_the_same_files(tmp_path, log, monkeypatch):
    """`audit run` hands the usage estimate made while validating to the notebook kernel."""
    import os
    import time

    import audit.inventory.usage.logs as usage

    folder = _engagement_with_log(tmp_path, log.head(2_000))
    logs = ["usage/log.csv"]
    first = usage.engagement_usage(folder, logs, "GBR")
    handoff = usage.write_handoff(tmp_path / "handoff", folder, logs, "GBR")
    usage._ENGAGEMENT_CACHE.clear()
    monkeypatch.setenv(usage.USAGE_HANDOFF_ENV, str(handoff))
    monkeypatch.setattr(usage, "estimate_usage", None)  # must not be called
    again = usage.engagement_usage(folder, logs, "GBR")
    pd.testing.assert_frame_equal(again.groups, first.groups)
    assert again.to_json_dict() == first.to_json_dict()
    pd.testing.assert_frame_equal(again.to_activities(), first.to_activities())
    # A changed log (or another default region) is estimated afresh, not taken from the hand-off.
    usage._ENGAGEMENT_CACHE.clear()
    with pytest.raises(TypeError):
        usage.engagement_usage(folder, logs, "FRA")
    path = folder / "usage" / "log.csv"
    t = time.time() + 5
    os.utime(path, (t, t))
    with pytest.raises(TypeError):
        usage.engagement_usage(folder, logs, "GBR")
    usage._ENGAGEMENT_CACHE.clear()


def test_usage_log_digests_are_made_once_and_travel_with_the_hand_off(tmp_path, log, monkeypatch):
    """The manifest's SHA-256 of a usage log comes with the estimate: the kernel of `audit run`
    takes it from the hand-off instead of reading the log again to hash it."""
    import hashlib
    from pathlib import Path

    from audit.inventory import intake
    from audit.inventory.usage import logs as usage

    folder = _engagement_with_log(tmp_path, log.head(500))
    digest = hashlib.sha256((folder / "usage" / "log.csv").read_bytes()).hexdigest()
    usage._ENGAGEMENT_CACHE.clear()
    loaded = load_engagement(folder)
    assert loaded.input_files["usage/log.csv"] == digest
    eng = loaded.engagement
    handoff = usage.write_handoff(tmp_path / "handoff", folder, eng.usage_logs, eng.default_region)
    assert json.loads((handoff / "meta.json").read_text())["sha256"] == usage.engagement_usage(
        folder, eng.usage_logs, eng.default_region).sha256
    usage._ENGAGEMENT_CACHE.clear()
    monkeypatch.setenv(usage.USAGE_HANDOFF_ENV, str(handoff))
    hashed = []
    real = intake.file_sha256
    monkeypatch.setattr(intake, "file_sha256", lambda p: hashed.append(Path(p).name) or real(p))
    monkeypatch.setattr(usage, "_file_digests", None)  # the hand-off's digests are used, not made again
    again = load_engagement(folder)
    assert again.input_files == loaded.input_files and "log.csv" not in hashed
    usage._ENGAGEMENT_CACHE.clear()


def test_cli_refuses_outputs_that_would_fail_or_overwrite_an_input(tmp_path, log):
    pq = _parquet_log(tmp_path, log, 200)
    (tmp_path / "afile").write_text("x")
    cases = [(["--activities", str(pq)], "is one of the input logs"),
             (["--by-hour", str(tmp_path)], "is a folder"),
             (["--per-request", str(tmp_path / "afile" / "x.parquet")], "a file is in the way"),
             (["--by-hour", str(tmp_path / "a.csv"), "--activities", str(tmp_path / "a.csv")], "name the same file")]
    for args, message in cases:
        before = sorted(p.name for p in tmp_path.iterdir())
        out = CliRunner().invoke(app, ["estimate-usage", str(pq), *args])
        assert out.exit_code == 2 and message in out.stderr and "Traceback" not in out.output, args
        assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written, the log intact
    assert len(pd.read_parquet(pq)) == 200


def test_model_names_match_ignoring_case():
    from audit.inventory.usage import per_request_frame
    base = {"timestamp": ["2025-03-01T10:00:00Z"], "provider": ["openai"], "output_tokens": [300]}
    exact = per_request_frame(pd.DataFrame({**base, "model": ["gpt-4o"]}))
    shouted = per_request_frame(pd.DataFrame({**base, "provider": ["OpenAI"], "model": ["GPT-4o"]}))
    assert shouted["kwh"].iloc[0] == exact["kwh"].iloc[0]


def test_a_truncated_problem_list_says_how_many_there_are_in_its_header(tmp_path):
    rows = "timestamp,provider,model,output_tokens\n" + "".join(
        f"2025-03-01T10:00:00Z,openai,gpt-4o,-{i + 1}\n" for i in range(120))
    path = tmp_path / "bad.csv"
    path.write_text(rows)
    with pytest.raises(ValidationError) as info:
        estimate_usage(path, progress=False)
    assert str(info.value).startswith("120 problems found; these are the first:")


def test_each_breakdown_pairs_the_hourly_figure_with_the_annual_figure_of_the_same_requests(result):
    d = result.to_json_dict()
    for key in ("by_stage", "by_month", "by_hour_utc", "by_region"):
        with_hourly = [r for r in d[key] if r["kgco2e_hourly"] is not None]
        assert all(r["kgco2e_annual_same_requests"] is None for r in d[key] if r["kgco2e_hourly"] is None), key
        assert sum(r["kgco2e_hourly"] for r in with_hourly) == pytest.approx(d["hourly"]["kgco2e"], rel=1e-9), key
        assert sum(r["kgco2e_annual_same_requests"] for r in with_hourly) == pytest.approx(
            d["hourly"]["kgco2e_annual_same_requests"], rel=1e-9), key
