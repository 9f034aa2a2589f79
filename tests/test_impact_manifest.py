"""The Impact Framework manifest: its structure reproduces our lines, and `if-run` (npm
@grnsft/if) recomputes the sample's totals to 1e-9 relative.

`if-run` is found from $AUDIT_IF_RUN, then ROOT/.if/node_modules/.bin/if-run (where
`make test` installs it when npm is present), then ROOT/node_modules/.bin/if-run, then PATH.
Without it the recomputation test skips with the reason and the install command.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from audit.analyses.disclosures import sci
from audit.core.exceptions import ValidationError
from audit.deliverables.impact_manifest import (IF_PACKAGE, IF_VERSION, aggregated_totals, build_manifest,
                                   write_manifest)

ROOT = Path(__file__).resolve().parent.parent
REL = 1e-9
INSTALL_HINT = (f"npm install --prefix .if {IF_PACKAGE}@{IF_VERSION} "
                "(or set AUDIT_IF_RUN to an if-run executable)")


def find_if_run() -> str | None:
    candidates = [os.environ.get("AUDIT_IF_RUN"),
                  str(ROOT / ".if" / "node_modules" / ".bin" / "if-run"),
                  str(ROOT / "node_modules" / ".bin" / "if-run"),
                  shutil.which("if-run")]
    for c in candidates:
        if c and Path(c).is_file() and os.access(c, os.X_OK):
            return c
    return None


@pytest.fixture(scope="module")
def sample() -> dict:
    out = subprocess.run([sys.executable, "-m", "audit", "estimate",
                          str(ROOT / "data" / "sample_engagement"), "--format", "json"],
                         capture_output=True, text=True, check=True, cwd=ROOT, timeout=300)
    return json.loads(out.stdout)


def leaves(manifest: dict) -> dict[str, dict]:
    out = {}
    for stage in manifest["tree"]["children"]["inventory"]["children"].values():
        out.update(stage["children"])
    return out


def recompute_like_if(leaf: dict) -> float:
    """What the manifest's pipeline computes for one leaf, in kgCO2e: Multiply, Sum, Divide."""
    x = leaf["inputs"][0]
    return (x["energy"] * x["grid/carbon-intensity"] + x["carbon-embodied"] + x["carbon-other"]) / 1000


def test_manifest_reproduces_every_line_and_the_totals(sample):
    m = build_manifest(sample)
    ls = leaves(m)
    acts = {a["activity_id"]: a for a in sample["activities"]}
    assert set(ls) == set(acts)
    for aid, leaf in ls.items():
        a = acts[aid]
        assert leaf["pipeline"]["compute"] == ["operational-carbon", "sum-carbon", "carbon-to-kg"]
        assert math.isclose(recompute_like_if(leaf), a["kgco2e"], rel_tol=REL, abs_tol=1e-12)
        x = leaf["inputs"][0]
        if (a["kwh"] or 0) > 0 and a["method"] != "embodied_amortised":
            assert x["energy"] == a["kwh"] and x["grid/carbon-intensity"] > 0
            assert x["carbon-other"] == 0 and x["carbon-embodied"] == 0
        else:
            assert x["energy"] == 0
    assert math.isclose(sum(recompute_like_if(l) for l in ls.values()), sample["totals"]["kgco2e"],
                        rel_tol=REL)
    plugins = m["initialize"]["plugins"]
    assert {p["method"] for p in plugins.values()} == {"Multiply", "Sum", "Divide"}
    assert all(p["path"] == "builtin" for p in plugins.values())
    assert m["aggregation"] == {"metrics": ["carbon-kg", "energy"], "type": "component"}


def test_energy_lines_use_the_register_grid_factor(sample):
    m = build_manifest(sample)
    factors = {f["factor_id"]: f for f in sample["factors"]}
    ls = leaves(m)
    checked = 0
    for a in sample["activities"]:
        grid = [factors[f] for f in a["factor_ids"] if factors[f]["unit"] == "gCO2e/kWh"]
        if (a["kwh"] or 0) > 0 and grid:
            assert ls[a["activity_id"]]["inputs"][0]["grid/carbon-intensity"] == grid[0]["value"]
            checked += 1
    assert checked > 0


def test_hostile_names_become_safe_unique_nodes():
    acts = [{"activity_id": "A/1", "stage": "Pre: prod", "kgco2e": 1.0, "kwh": 0.0},
            {"activity_id": "A 1", "stage": "Pre; prod", "kgco2e": 2.0, "kwh": 0.0},
            {"activity_id": "&anchor *ref", "stage": "!!python/object", "kgco2e": 3.0, "kwh": 0.0}]
    m = build_manifest({"activities": acts, "factors": [], "engagement": {"period": "2025"}})
    stages = m["tree"]["children"]["inventory"]["children"]
    assert len(stages) == 3 and all(set(n) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~-")
                                    for n in stages)
    names = [n for s in stages.values() for n in s["children"]]
    assert len(set(n.lower() for n in names)) == 3
    text = yaml.safe_dump(m)
    assert yaml.safe_load(text) == m


def test_a_bad_line_is_a_located_error():
    with pytest.raises(ValidationError, match="XX-1"):
        build_manifest({"activities": [{"activity_id": "XX-1", "kgco2e": float("nan")}]})
    with pytest.raises(ValidationError, match="activities"):
        build_manifest({"activities": []})


def test_if_run_recomputes_the_sample(sample, tmp_path):
    if_run = find_if_run()
    if if_run is None:
        pytest.skip(f"if-run not found: the Impact Framework recomputation was NOT checked. "
                    f"Install it with: {INSTALL_HINT}")
    rows = sci(sample["activities"], [{"functional_unit": "accepted asset", "R": 120},
                                      {"functional_unit": "1,000 tokens", "R": 5000,
                                       "applies_to": ["llm_api"]}])
    manifest = write_manifest(sample, tmp_path / "manifest.if.yaml", sci_rows=rows)
    out_path = tmp_path / "out" / "computed.yaml"
    out_path.parent.mkdir()
    run = subprocess.run([if_run, "-m", str(manifest), "-o", str(out_path)],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path)
    log = run.stdout + run.stderr
    # if-run 1.1.0 exits 0 even when a plugin fails: an Error line or no output file is a failure
    assert run.returncode == 0 and "Error" not in log and out_path.is_file(), log[-3000:]
    computed = yaml.safe_load(out_path.read_text())
    assert computed["execution"]["status"] == "success"
    got = aggregated_totals(computed)
    assert math.isclose(got["kgco2e"], sample["totals"]["kgco2e"], rel_tol=REL)
    assert math.isclose(got["kwh"], sample["totals"]["kwh"], rel_tol=REL)
    assert math.isclose(computed["tree"]["aggregated"]["carbon-kg"], sample["totals"]["kgco2e"],
                        rel_tol=REL)
    ours = {r["functional_unit"]: r["value"] for r in rows}
    assert math.isclose(got["sci"]["accepted-asset"], ours["accepted asset"], rel_tol=REL)
    assert math.isclose(got["sci"]["1-000-tokens"], ours["1,000 tokens"], rel_tol=REL)
    for stage_name, stage in computed["tree"]["children"]["inventory"]["children"].items():
        stage_kg = sum(a["kgco2e"] for a in sample["activities"]
                       if a["activity_id"] in stage["children"])
        assert math.isclose(stage["aggregated"]["carbon-kg"], stage_kg, rel_tol=REL, abs_tol=1e-12), stage_name
