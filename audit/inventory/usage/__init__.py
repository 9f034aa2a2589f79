"""Usage logs: API request logs (CSV or Parquet, any size) estimated request by request.

- ``chunks``: the public chunk API (``resolver``, ``process_chunk``, partial sums and their
  wire format, ``finalise``, ``UsageResult``); every path goes through it.
- ``dask``: the same chunks on a Dask cluster (Parquet input).
- ``logs``: the entry points (``estimate_usage``; for an engagement, ``engagement_usage_sums``,
  the validation, which reads and sums the logs without estimating, and ``engagement_usage``, the
  estimate, reached from ``estimate.Estimate.usage`` through the ``usage_energy`` hook; the runner's
  hand-off; ``synthetic_log``).
"""
from audit.inventory.usage.chunks import (
    DEFAULT_CHUNK_ROWS, DEFAULT_REGION, MIN_SLICE_ROWS, ROW_COLUMNS, SUMS, UNSPECIFIED_STAGE, WIRE_COLUMNS, ChunkOut,
    LocatedProblems, Partial, Resolver, UsageResult, energy_range_kwh, finalise, log_files, merge_partials,
    partial_from_frame, partial_to_frame, process_chunk, resolver,
)
from audit.inventory.usage.dask import connect, estimate_usage_dask
from audit.inventory.usage.logs import (
    SUM_GROUP_COLUMNS, SYNTHETIC_PAIRS, USAGE_HANDOFF_ENV, UsageEnergy, UsageSums, engagement_log_files,
    engagement_log_files_and_notes, engagement_usage, engagement_usage_sums, estimate_usage, per_request_frame,
    synthetic_log, usage_energy, write_handoff,
)

__all__ = [
    "DEFAULT_CHUNK_ROWS", "DEFAULT_REGION", "MIN_SLICE_ROWS", "ROW_COLUMNS", "SUMS", "SUM_GROUP_COLUMNS", "SYNTHETIC_PAIRS",
    "UNSPECIFIED_STAGE", "USAGE_HANDOFF_ENV", "WIRE_COLUMNS", "ChunkOut", "LocatedProblems", "Partial", "Resolver",
    "UsageEnergy", "UsageResult", "UsageSums", "connect", "energy_range_kwh", "engagement_log_files",
    "engagement_log_files_and_notes", "engagement_usage", "engagement_usage_sums", "estimate_usage",
    "estimate_usage_dask", "finalise", "log_files", "merge_partials", "partial_from_frame", "partial_to_frame",
    "per_request_frame", "process_chunk", "resolver", "synthetic_log", "usage_energy", "write_handoff",
]
