"""Sustainability audits of content pipelines that use generative AI.

The public API: what a notebook or a script needs, from ``audit`` alone::

    from audit import load_engagement, estimate, from_estimate, analyse, audit_engagement
    from audit import estimate_usage, run_engagement, run_batch, AuditResults, InputError

    results = analyse(from_estimate(estimate(load_engagement("data/sample_engagement"))))

The notebook steps (``discover``, ``usage_logs``, ``map_and_estimate``, ``assess_feasibility``)
are here too, and the figure and table modules (``charts``, ``tables``, ``processmap``) load on
first use (``from audit import charts``), so that ``import audit`` does not load matplotlib.
The layers behind this API are described in docs/architecture.md.
"""
from importlib import import_module as _import_module
from importlib import metadata as _metadata
from typing import TYPE_CHECKING

try:
    __version__ = _metadata.version("genai-content-audit")
except _metadata.PackageNotFoundError:  # running from a source tree without install
    __version__ = "0+unknown"

# Every name loads on first use (PEP 562), so that a command that needs a few modules
# (`audit estimate-usage`: the usage reader and the LLM method) does not import the whole
# package. Name -> the module that defines it.
_EXPORTS = {
    "action_plan": "audit.analyses.action_plan", "forecast_assumptions": "audit.analyses.forecast",
    "analyse": "audit.analyses.registry",
    **dict.fromkeys(("AuditError", "ExecutionError", "FactorError", "InputError", "Problem", "ValidationError"),
                    "audit.core.exceptions"),
    **dict.fromkeys(("DataQuality", "Engagement", "Kind", "Ownership"), "audit.core.models"),
    "Estimate": "audit.inventory.estimate", "estimate": "audit.inventory.estimate",
    **dict.fromkeys(("LoadedEngagement", "load_activities_file", "load_engagement"), "audit.inventory.intake"),
    **dict.fromkeys(("AuditResults", "family_counts", "from_estimate"), "audit.inventory.results"),
    "UsageResult": "audit.inventory.usage", "estimate_usage": "audit.inventory.usage",
    "run_batch": "audit.orchestration.batch",
    **dict.fromkeys(("assess_feasibility", "audit_engagement", "discover", "estimate_results", "map_and_estimate",
                     "preview", "report_chart", "usage_logs"), "audit.orchestration.pipeline"),
    "run_engagement": "audit.orchestration.runner",
    "FactorRegister": "audit.reference.factors", "load_register": "audit.reference.factors",
    "kind_family_labels": "audit.reference.vocabularies",
}
# Modules that load matplotlib or IPython.
_LAZY_MODULES = {"charts": "audit.deliverables.charts", "tables": "audit.deliverables.tables",
                 "processmap": "audit.deliverables.processmap"}


def __getattr__(name: str):
    if name in _EXPORTS or name in _LAZY_MODULES:
        # AuditResults.analysis needs the analyses registered (inventory may not import the
        # analyses layer, so audit.analyses.registry fills results.ANALYSES when loaded).
        _import_module("audit.analyses.registry")
        if name in _LAZY_MODULES:
            value = _import_module(_LAZY_MODULES[name])
        else:
            value = getattr(_import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'audit' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)


if TYPE_CHECKING:  # for type checkers and editors: the same names, imported eagerly
    from audit.analyses.action_plan import action_plan
    from audit.analyses.forecast import forecast_assumptions
    from audit.analyses.registry import analyse
    from audit.core.exceptions import AuditError, ExecutionError, FactorError, InputError, Problem, ValidationError
    from audit.core.models import DataQuality, Engagement, Kind, Ownership
    from audit.inventory.estimate import Estimate, estimate
    from audit.inventory.intake import LoadedEngagement, load_activities_file, load_engagement
    from audit.inventory.results import AuditResults, family_counts, from_estimate
    from audit.inventory.usage import UsageResult, estimate_usage
    from audit.orchestration.batch import run_batch
    from audit.orchestration.pipeline import (assess_feasibility, audit_engagement, discover, estimate_results,
                                             map_and_estimate, preview, report_chart, usage_logs)
    from audit.orchestration.runner import run_engagement
    from audit.reference.factors import FactorRegister, load_register
    from audit.reference.vocabularies import kind_family_labels

__all__ = [
    "AuditError", "AuditResults", "DataQuality", "Engagement", "Estimate", "ExecutionError", "FactorError",
    "FactorRegister", "InputError", "Kind", "LoadedEngagement", "Ownership", "Problem", "UsageResult",
    "ValidationError", "action_plan", "analyse", "assess_feasibility", "audit_engagement", "charts", "discover",
    "estimate", "estimate_results", "estimate_usage", "family_counts", "forecast_assumptions", "from_estimate", "kind_family_labels",
    "load_activities_file", "load_engagement", "load_register", "map_and_estimate", "preview", "processmap",
    "report_chart", "run_batch", "run_engagement", "tables", "usage_logs", "__version__",
]
