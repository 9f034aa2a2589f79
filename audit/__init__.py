"""Sustainability audits of content pipelines that use generative AI.

The public API, re-exported here; one module per concern behind it::

    from audit import load_engagement, estimate, audit_engagement, run_engagement, run_batch
"""
from importlib import metadata as _metadata

from audit.core.exceptions import AuditError, ExecutionError, FactorError, InputError, Problem, ValidationError
from audit.core.models import DataQuality, Engagement, Kind, Ownership
from audit.inventory.estimate import Estimate, estimate
from audit.inventory.intake import LoadedEngagement, load_activities_file, load_engagement
from audit.inventory.results import AuditResults
from audit.orchestration.batch import run_batch
from audit.orchestration.pipeline import audit_engagement
from audit.orchestration.runner import run_engagement
from audit.reference.factors import FactorRegister, load_register

try:
    __version__ = _metadata.version("genai-content-audit")
except _metadata.PackageNotFoundError:  # running from a source tree without install
    __version__ = "0+unknown"

__all__ = [
    "AuditError", "AuditResults", "DataQuality", "Engagement", "Estimate", "ExecutionError", "FactorError",
    "FactorRegister", "InputError", "Kind", "LoadedEngagement", "Ownership", "Problem", "ValidationError",
    "audit_engagement", "estimate", "load_activities_file", "load_engagement", "load_register", "run_batch",
    "run_engagement", "__version__",
]
