"""The audit's steps as functions, so notebooks stay thin and ``audit estimate`` needs none.

Each notebook runs one step and hands its output to the next through ``WORK/steps``:

=================  ==============================  =================================
notebook           step                            writes
=================  ==============================  =================================
01_discovery       ``discover(engagement_dir)``    (validation only; nothing persisted)
                   ``usage_logs(engagement_dir)``  (the usage logs, estimated; cached)
02_scope_mapping   ``map_and_estimate(...)``       ``steps/estimate/`` (parquet + json),
                                                   ``usage_by_hour.csv`` (with usage logs)
03_feasibility     ``assess_feasibility(...)``     ``steps/results.json``
=================  ==============================  =================================

Parquet keeps floats exact, so the report written after the notebooks shows the very
numbers the notebooks showed.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from audit.analyses import registry
from audit.core.models import Engagement
from audit.core.paths import ENGAGEMENT_FILE
from audit.inventory.estimate import Estimate, estimate
from audit.inventory.intake import LoadedEngagement, load_engagement, read_engagement_yaml
from audit.inventory.costing import costs_from_json
from audit.inventory.results import AuditResults, clean_json, from_estimate
from audit.inventory.usage import engagement_usage
from audit.reference.factors import FactorRegister, factor_set

STEPS_DIR = "steps"


def discover(engagement_dir: str | Path) -> LoadedEngagement:
    """Step 1: read and validate the engagement (raises ValidationError listing every problem)."""
    return load_engagement(engagement_dir)


def usage_logs(engagement_dir: str | Path, engagement: Engagement | None = None):
    """The engagement's API usage logs (engagement.yaml › usage_logs), estimated request by
    request: an ``audit.inventory.usage.UsageResult`` (by model, stage, month, UTC hour; per-request
    figures on demand), or None when it lists none. Computed once per process. Pass the
    ``engagement`` already loaded (``discover(...).engagement``) to skip reading
    engagement.yaml again."""
    if engagement is None:
        engagement = read_engagement_yaml(Path(engagement_dir) / ENGAGEMENT_FILE)
    return engagement_usage(engagement_dir, engagement.usage_logs, engagement.default_region, engagement.model_aliases)


USAGE_BY_HOUR_FILE = "usage_by_hour.csv"


def map_and_estimate(engagement_dir: str | Path, work_dir: str | Path | None = None) -> Estimate:
    """Step 2: scope mapping and estimation; saved under ``work_dir/steps/estimate``. With
    usage logs, their sums by stage × model × region × month × UTC hour (kWh, kgCO2e with
    low/high, and the hour-aware figure apart) go to ``work_dir/usage_by_hour.csv``."""
    loaded = load_engagement(engagement_dir)
    est = estimate(loaded)
    if work_dir is not None:
        save_estimate(est, Path(work_dir) / STEPS_DIR / "estimate", loaded)
        usage = usage_logs(engagement_dir, loaded.engagement)  # already read: no second pass over engagement.yaml
        if usage is not None:
            usage.write_by_hour(Path(work_dir) / USAGE_BY_HOUR_FILE)
    return est


def assess_feasibility(work_dir: str | Path, engagement_dir: str | Path | None = None) -> AuditResults:
    """Step 3: forecast and interventions over the saved estimate; writes ``steps/results.json``."""
    work_dir = Path(work_dir)
    (work_dir / STEPS_DIR).mkdir(parents=True, exist_ok=True)
    est_dir = work_dir / STEPS_DIR / "estimate"
    if est_dir.exists():
        est, warnings, inputs = load_estimate(est_dir)
    else:  # run interactively without step 2's output: recompute
        loaded = load_engagement(engagement_dir)
        est, warnings, inputs = estimate(loaded), loaded.warnings, loaded.input_files
    results = from_estimate(est, warnings)
    results.manifest["input_files_sha256"] = inputs
    registry.apply(results)
    results.write_json(work_dir / STEPS_DIR / "results.json")
    save_results_tables(results, work_dir / STEPS_DIR)
    return results


def audit_engagement(engagement_dir: str | Path) -> AuditResults:
    """All steps in process, no notebooks and nothing written: the library entry point."""
    loaded = load_engagement(engagement_dir)
    results = from_estimate(estimate(loaded), loaded.warnings)
    results.manifest["input_files_sha256"] = loaded.input_files
    registry.apply(results)
    return results


# --- persistence between steps -----------------------------------------------------------

def save_estimate(est: Estimate, folder: Path, loaded: LoadedEngagement) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    est.lines.to_parquet(folder / "lines.parquet", index=False)
    est.activities.to_parquet(folder / "activities.parquet", index=False)
    est.register.table.reset_index(drop=True).to_parquet(folder / "register.parquet", index=False)
    meta = {"engagement": json.loads(est.engagement.model_dump_json()), "warnings": loaded.warnings,
            "input_files_sha256": loaded.input_files, "overridden": est.register.overridden}
    (folder / "meta.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")


def load_estimate(folder: Path) -> tuple[Estimate, list[str], dict[str, str]]:
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    lines = pd.read_parquet(folder / "lines.parquet")
    lines["factor_ids"] = lines["factor_ids"].map(list)
    lines["scope3_category"] = lines["scope3_category"].astype("Int64")
    register = FactorRegister(pd.read_parquet(folder / "register.parquet"), factor_set(), meta["overridden"])
    eng = Engagement.model_validate(meta["engagement"])
    activities = pd.read_parquet(folder / "activities.parquet")
    return Estimate(lines, register, eng, activities), meta["warnings"], meta["input_files_sha256"]


def save_results_tables(results: AuditResults, folder: Path) -> None:
    """Tables the report writers need beyond results.json (lines with every column)."""
    results.lines.to_parquet(folder / "lines.parquet", index=False)
    results.activities.to_parquet(folder / "activities.parquet", index=False)
    results.factors.to_parquet(folder / "factors.parquet", index=False)
    (folder / "extras.json").write_text(json.dumps(_jsonable(results.extras), indent=2), encoding="utf-8")


def load_results(work_dir: str | Path) -> AuditResults:
    """Rebuild the AuditResults that step 3 saved (for the report writers)."""
    folder = Path(work_dir) / STEPS_DIR
    data = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    lines = pd.read_parquet(folder / "lines.parquet")
    lines["factor_ids"] = lines["factor_ids"].map(list)
    lines["scope3_category"] = lines["scope3_category"].astype("Int64")
    costs, prices = costs_from_json(data)
    return AuditResults(
        costs=costs, prices=prices,
        engagement=Engagement.model_validate(data["engagement"]), factor_set=data["factor_set"], lines=lines,
        factors=pd.read_parquet(folder / "factors.parquet"), interventions=data.get("interventions", []),
        forecast=data.get("forecast", []), manifest=data.get("manifest", {}), warnings=data.get("warnings", []),
        extras=json.loads((folder / "extras.json").read_text(encoding="utf-8")),
        activities=pd.read_parquet(folder / "activities.parquet"),
    )


def _jsonable(obj):
    if isinstance(obj, pd.DataFrame):
        return clean_json(obj.to_dict(orient="records"))
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_jsonable(v) for v in obj]
    return clean_json(obj)
