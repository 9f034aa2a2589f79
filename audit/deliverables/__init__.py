"""Deliverables: charts, tables, process map, Excel and HTML/PDF reports."""
# The writers read analyses through AuditResults.analysis, whose registry audit.analyses.registry
# fills when loaded (inventory may not import the analyses layer): load it with any deliverable.
from audit.analyses import registry as _registry  # noqa: F401
