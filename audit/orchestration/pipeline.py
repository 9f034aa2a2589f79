"""The audit's steps as functions, so notebooks stay thin and ``audit estimate`` needs none.

Each notebook runs one step and hands its output to the next through ``WORK/steps``:

=================  ==============================  =================================
notebook           step                            writes
=================  ==============================  =================================
01_discovery       ``discover(engagement_dir)``    (validation only; nothing persisted)
                   ``usage_logs(engagement_dir)``  (the usage logs, estimated; cached)
                   ``preview(loaded)``             (emissions for the process map)
02_scope_mapping   ``estimate_results(...)``       ``steps/estimate/`` (parquet + json),
                                                   ``usage_by_hour.csv`` (with usage logs)
03_feasibility     ``assess_feasibility(...)``     ``steps/results.json``
=================  ==============================  =================================

Parquet keeps floats exact, so a notebook run on its own shows the very numbers the next
step reads.

``audit run`` computes the audit once, in its own process (``prepare_run``: validation,
estimate, analyses, the report's charts as SVG), writes the steps' files itself and hands
the objects to the notebook kernel (``PREPARED_ENV``, a pickle in the run's private work
folder). Each step above then returns the prepared object instead of computing it again, and
``report_chart`` shows the SVG report.html shows. Without the hand-off (a consultant running a
notebook in JupyterLab, nbval) every step computes as described.
"""
from __future__ import annotations

import json
import os
import pickle
from dataclasses import dataclass, field
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


# --- one audit per run, handed to the notebook kernel ------------------------------------

#: Set by ``audit run`` for its kernel: the pickle of the PreparedRun (in the run's work folder).
PREPARED_ENV = "GENAI_AUDIT_PREPARED"
PREPARED_FILE = "prepared.pickle"


@dataclass
class PreparedRun:
    """Everything the notebooks show, computed once by ``audit run`` (``prepare_run``)."""

    engagement_dir: str  # resolved
    loaded: LoadedEngagement
    estimate: Estimate
    results: AuditResults
    svgs: dict[str, str] = field(default_factory=dict)


def prepare_run(loaded: LoadedEngagement, charts: bool = True) -> PreparedRun:
    """The whole audit from an engagement already validated: estimate, results, analyses and
    (``charts``) the report's charts as SVG. The floor of ``audit run``: no step repeats it."""
    est = estimate(loaded)
    results = from_estimate(est, loaded.warnings)
    results.manifest["input_files_sha256"] = loaded.input_files
    registry.apply(results)
    svgs = {}
    if charts:
        from audit.deliverables.figures import render_svgs  # noqa: PLC0415 - loads matplotlib: only here
        svgs = render_svgs(results)
    return PreparedRun(str(Path(loaded.folder).resolve()), loaded, est, results, svgs)


def write_steps(run: PreparedRun, work_dir: str | Path) -> None:
    """The files the notebook steps write under ``work_dir`` (steps/estimate, steps/results.json
    and tables, usage_by_hour.csv), written once from the prepared run."""
    work_dir = Path(work_dir)
    save_estimate(run.estimate, work_dir / STEPS_DIR / "estimate", run.loaded)
    run.results.write_json(work_dir / STEPS_DIR / "results.json")
    save_results_tables(run.results, work_dir / STEPS_DIR)
    usage = usage_logs(run.engagement_dir, run.loaded.engagement)
    if usage is not None:
        usage.write_by_hour(work_dir / USAGE_BY_HOUR_FILE)


def write_prepared(run: PreparedRun, folder: str | Path) -> Path:
    """Pickle the run for the kernel ``audit run`` starts (its own private work folder)."""
    path = Path(folder) / PREPARED_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        pickle.dump(run, f, protocol=pickle.HIGHEST_PROTOCOL)
    return path


_PREPARED: dict[str, PreparedRun] = {}


def prepared_run(engagement_dir: str | Path | None) -> PreparedRun | None:
    """The run ``audit run`` prepared for this kernel, for this very engagement folder, or None.
    Read only when the runner named its file in ``PREPARED_ENV`` (a file it wrote moments
    before in its own work folder); kept for the kernel's life, across ``%reset -f``."""
    path = os.environ.get(PREPARED_ENV, "")
    if not path or engagement_dir is None:
        return None
    if path not in _PREPARED:
        try:
            with open(path, "rb") as f:
                run = pickle.load(f)  # the runner's own file, named only in its kernel's environment
        except OSError:
            return None
        _PREPARED.clear()
        _PREPARED[path] = run
    run = _PREPARED[path]
    return run if run.engagement_dir == str(Path(engagement_dir).resolve()) else None


def report_chart(name: str, results: AuditResults):
    """One of the report's charts (``figures.REPORT_CHARTS``: scope, stage, pareto, kinds,
    forecast, macc, effort_impact, tornado, scorecard, processmap) for display: the SVG that
    ``audit run`` rendered for report.html when ``results`` is the run's own, else drawn now."""
    from audit.deliverables.figures import CHART_TITLES, ChartSVG, render_svg  # noqa: PLC0415 - loads matplotlib: only here

    title = CHART_TITLES.get(name, name)
    for run in _PREPARED.values():
        if run.results is results and name in run.svgs:
            return ChartSVG(run.svgs[name], title)
    return ChartSVG(render_svg(name, results), title)


# --- the steps ------------------------------------------------------------------------------

def discover(engagement_dir: str | Path) -> LoadedEngagement:
    """Step 1: read and validate the engagement (raises ValidationError listing every problem)."""
    run = prepared_run(engagement_dir)
    return run.loaded if run is not None else load_engagement(engagement_dir)


def preview(loaded: LoadedEngagement) -> AuditResults:
    """Emissions for a first look (notebook 01's process map): the run's results when
    ``audit run`` prepared them, else the estimate of the engagement just validated (no
    second validation and no analyses; notebook 02 explains every number)."""
    run = prepared_run(loaded.folder)
    if run is not None:
        return run.results
    return from_estimate(estimate(loaded), loaded.warnings)


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
    run = prepared_run(engagement_dir)
    if run is not None:  # audit run estimated it once and wrote the steps' files itself
        return run.estimate
    loaded = load_engagement(engagement_dir)
    est = estimate(loaded)
    if work_dir is not None:
        save_estimate(est, Path(work_dir) / STEPS_DIR / "estimate", loaded)
        usage = usage_logs(engagement_dir, loaded.engagement)  # already read: no second pass over engagement.yaml
        if usage is not None:
            usage.write_by_hour(Path(work_dir) / USAGE_BY_HOUR_FILE)
    return est


def estimate_results(engagement_dir: str | Path, work_dir: str | Path | None = None) -> AuditResults:
    """Step 2 as notebook 02 shows it: ``map_and_estimate`` as results (totals, breakdowns,
    hotspots, the factor register, traces); the run's own results under ``audit run``."""
    run = prepared_run(engagement_dir)
    if run is not None:
        return run.results
    return from_estimate(map_and_estimate(engagement_dir, work_dir))


def assess_feasibility(work_dir: str | Path, engagement_dir: str | Path | None = None) -> AuditResults:
    """Step 3: forecast and interventions over the saved estimate; writes ``steps/results.json``."""
    run = prepared_run(engagement_dir)
    if run is not None:  # audit run assessed it once and wrote steps/results.json itself
        return run.results
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
    return prepare_run(load_engagement(engagement_dir), charts=False).results


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
