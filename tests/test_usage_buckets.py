"""Issue 14 end to end: bucketed rows (``requests``, ``cached_input_tokens``) in the canonical
log, provider exports estimated through ``--from``, the vocabulary listed, the bare ``audit``."""
from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from audit.cli import app
from audit.core.exceptions import ValidationError
from audit.inventory.usage import estimate_usage, synthetic_log
from audit.inventory.usage.chunks import CACHED_PREFILL_SHARE

from tests.helpers import USAGE_EXPORT_CASES, USAGE_EXPORT_FIXTURES

FIX = USAGE_EXPORT_FIXTURES
CASES = USAGE_EXPORT_CASES
KEYS = ("requests", "kwh", "kgco2e", "kwh_low", "kwh_high", "kgco2e_low", "kgco2e_high")


def _close(a: dict, b: dict) -> None:
    for k in KEYS:
        assert math.isclose(a[k], b[k], rel_tol=1e-9), (k, a[k], b[k])


@pytest.mark.parametrize("name,fmt", CASES)
def test_export_and_its_canonical_twin_estimate_the_same(name, fmt):
    twin = FIX / (name.split(".")[0] + ".canonical.csv")
    got = estimate_usage(FIX / name, fmt=fmt, mean_output_tokens=500, progress=False)
    want = estimate_usage(twin, progress=False)
    assert got.totals["requests"] > 0 and got.totals["kwh"] > 0
    _close(got.totals, want.totals)
    auto = estimate_usage(FIX / name, fmt="auto", mean_output_tokens=500, progress=False)
    _close(auto.totals, want.totals)
    assert any("recognised automatically" in n for n in auto.notes)


def test_a_bucket_is_its_requests_as_identical_mean_requests():
    log = synthetic_log(200, seed=3)
    log["latency_s"] = np.nan  # modelled latency: a mean request has exactly the mean's latency
    one = log.iloc[[0]].copy()
    r = 37
    expanded = pd.concat([one] * r, ignore_index=True)
    bucket = one.copy()
    bucket["requests"] = r
    bucket["input_tokens"] *= r
    bucket["output_tokens"] *= r
    a = estimate_usage(expanded, progress=False).totals
    b = estimate_usage(bucket, progress=False).totals
    assert b["requests"] == r
    _close(a, b)


def test_cached_input_tokens_pay_no_prefill_centrally_and_full_prefill_at_the_high_bound():
    base = synthetic_log(50, seed=5)
    cached = base.copy()
    cached["cached_input_tokens"] = (cached["input_tokens"] // 2).astype(np.int64)
    fresh = base.copy()
    fresh["input_tokens"] = base["input_tokens"] - cached["cached_input_tokens"]
    with_cache = estimate_usage(cached, progress=False).totals
    assert CACHED_PREFILL_SHARE["central"] == 0.0 and CACHED_PREFILL_SHARE["high"] == 1.0
    assert math.isclose(with_cache["kwh"], estimate_usage(fresh, progress=False).totals["kwh"], rel_tol=1e-12)
    assert with_cache["kwh"] < estimate_usage(base, progress=False).totals["kwh"]
    high_uncached = estimate_usage(base.assign(cached_input_tokens=0), progress=False).totals["kwh_high"]
    assert with_cache["kwh_high"] > 0 and with_cache["kwh_high"] <= high_uncached * (1 + 1e-9)


def test_bucket_rows_are_checked_with_their_row_numbers(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("timestamp,provider,model,output_tokens,input_tokens,cached_input_tokens,requests\n"
                    "2025-01-01T00:00:00Z,openai,gpt-4o,100,10,20,2\n"
                    "2025-01-01T00:00:00Z,openai,gpt-4o,100,10,0,0\n"
                    "2025-01-01T00:00:00Z,openai,gpt-4o,100,10,0,2.5\n")
    with pytest.raises(ValidationError) as exc:
        estimate_usage(path, progress=False)
    found = {(p.row, p.column) for p in exc.value.problems}
    assert {(2, "cached_input_tokens"), (3, "requests"), (4, "requests")} <= found


def test_unknown_columns_are_listed_and_count_like_ones_refused(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("timestamp,provider,model,output_tokens,team\n2025-01-01T00:00:00Z,openai,gpt-4o,100,growth\n")
    res = estimate_usage(path, progress=False)
    assert any(n.endswith("ignored columns: team") for n in res.notes)
    path.write_text("timestamp,provider,model,output_tokens,n_calls\n2025-01-01T00:00:00Z,openai,gpt-4o,100,7\n")
    with pytest.raises(ValidationError) as exc:
        estimate_usage(path, progress=False)
    assert exc.value.problems[0].column == "n_calls" and "count or a weight" in str(exc.value)


def test_model_names_as_exports_spell_them_are_read_and_said(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("timestamp,provider,model,output_tokens\n"
                    "2025-01-01T00:00:00Z,openai,openai/gpt-4o,100\n"
                    "2025-01-01T00:00:00Z,openai,gpt-4o,100\n")
    res = estimate_usage(path, progress=False)
    assert set(res.groups["model"]) == {"gpt-4o"}
    assert any("openai/gpt-4o" in n and "read as" in n for n in res.notes)
    path.write_text("timestamp,provider,model,output_tokens\n2025-01-01T00:00:00Z,azure-openai,prod-4o-eastus,100\n")
    res = estimate_usage(path, progress=False, model_aliases={"prod-4o-eastus": "openai/gpt-4o"})
    assert res.totals["requests"] == 1 and set(res.groups["model"]) == {"gpt-4o"}


def test_to_activities_keeps_the_requests_of_buckets():
    log = synthetic_log(20, seed=1).assign(requests=5)
    res = estimate_usage(log, progress=False)
    act = res.to_activities()
    assert act["quantity"].sum() == 100 == res.totals["requests"]


# --- the command line ------------------------------------------------------------------------------

def test_estimate_usage_from_an_export_matches_its_canonical_twin(tmp_path):
    src = tmp_path / "openai.json"
    shutil.copy(FIX / "openai_usage_completions.json", src)
    twin = tmp_path / "twin.csv"
    shutil.copy(FIX / "openai_usage_completions.canonical.csv", twin)
    runner = CliRunner()
    a = runner.invoke(app, ["estimate-usage", str(src), "--from", "openai-usage", "--format", "json"])
    b = runner.invoke(app, ["estimate-usage", str(twin), "--format", "json"])
    assert a.exit_code == 0 and b.exit_code == 0, a.output + b.output
    ja, jb = json.loads(a.stdout), json.loads(b.stdout)
    assert set(ja) == set(jb)
    for k in ("requests", "kwh", "kgco2e"):
        assert math.isclose(ja[k], jb[k], rel_tol=1e-9)


def test_a_file_in_the_wrong_format_names_the_format_auto_would_pick(tmp_path):
    src = tmp_path / "anthropic.json"
    shutil.copy(FIX / "anthropic_usage.json", src)
    res = CliRunner().invoke(app, ["estimate-usage", str(src), "--from", "openai-usage"])
    assert res.exit_code == 2
    assert "not a openai-usage export" in res.output and "--from anthropic-usage" in res.output


def test_an_export_without_request_counts_asks_for_the_mean(tmp_path):
    src = tmp_path / "anthropic.json"
    shutil.copy(FIX / "anthropic_usage.json", src)
    res = CliRunner().invoke(app, ["estimate-usage", str(src)])
    assert res.exit_code == 2 and "mean" in res.output.lower()
    res = CliRunner().invoke(app, ["estimate-usage", str(src), "--mean-output-tokens", "500", "--format", "json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["requests"] == 641


def test_bare_audit_prints_help_and_exits_0_and_version():
    res = CliRunner().invoke(app, [])
    assert res.exit_code == 0 and "estimate-usage" in res.output and "import-usage" in res.output
    res = CliRunner().invoke(app, ["--version"])
    assert res.exit_code == 0 and res.output.startswith("audit (genai-content-audit) ")


def test_list_models_search_claude_shows_sizes():
    res = CliRunner().invoke(app, ["list", "models", "--search", "claude"])
    assert res.exit_code == 0, res.output
    lines = res.output.strip().splitlines()[1:]
    assert lines and all("claude" in ln.lower() for ln in lines)
    assert all("B" in ln.split("claude", 2)[-1] for ln in lines)
    for what in ("kinds", "modes", "video-models", "regions", "units", "hardware", "providers"):
        out = CliRunner().invoke(app, ["list", what])
        assert out.exit_code == 0 and len(out.output.strip().splitlines()) > 1, what
    res = CliRunner().invoke(app, ["list", "regions", "--search", "GBR"])
    assert "UK" in res.output


def test_engagement_usage_logs_name_their_format_and_plain_strings_keep_working(tmp_path):
    from audit.inventory.usage import engagement_usage

    folder = tmp_path / "client"
    (folder / "usage").mkdir(parents=True)
    shutil.copy(FIX / "openai_usage_completions.json", folder / "usage" / "openai.json")
    shutil.copy(FIX / "openai_usage_completions.canonical.csv", folder / "usage" / "twin.csv")
    from audit.core.models import UsageLogEntry

    entry = UsageLogEntry.model_validate({"path": "usage/openai.json", "from": "openai-usage", "stage": "Ideation"})
    a = engagement_usage(folder, [entry], "GBR")
    b = engagement_usage(folder, ["usage/twin.csv"], "GBR")
    _close(a.totals, b.totals)
    assert set(a.groups["stage"]) == {"Ideation"}
    assert any("read as openai-usage" in n for n in a.notes)
    both = engagement_usage(folder, ["usage/twin.csv", entry], "GBR")
    assert both.totals["requests"] == 2 * b.totals["requests"]
    assert math.isclose(both.totals["kgco2e"], 2 * b.totals["kgco2e"], rel_tol=1e-9)


def test_image_buckets_of_an_engagement_export_become_image_activities(tmp_path):
    from audit.inventory.intake import load_engagement
    from tests.helpers import copy_sample

    folder = copy_sample(tmp_path, "client")
    shutil.copy(FIX / "openai_usage_images.json", folder / "usage" / "openai" / "images_2025.json")
    settings = yaml.safe_load((folder / "engagement.yaml").read_text())
    settings["usage_logs"].append({"path": "usage/openai/images_2025.json", "from": "openai-usage",
                                   "stage": "Production"})
    (folder / "engagement.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    loaded = load_engagement(folder)
    med = loaded.activities[loaded.activities["activity_id"].str.startswith("MED-")]
    images = json.loads((FIX / "openai_usage_images.json").read_text())
    want = sum(r["images"] for b in images["data"] for r in b["results"])
    assert set(med["kind"]) == {"image_generation"} and med["quantity"].sum() == want
    assert set(med["stage"]) == {"Production"}
    assert any("image_generation/video_generation activities (MED-00001" in w for w in loaded.warnings)
