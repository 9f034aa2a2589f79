"""The `audit` command line, one module per command group: ``engagement`` (run, batch, estimate,
validate, new), ``tools`` (shift, measure, training-estimate), ``usage`` (``estimate-usage``),
``imports`` (``import-usage``), ``listing`` (``list``) and ``disclose`` (``export-manifest``,
``compare``) register their commands on ``common.app``; ``main`` registers every group."""
import os

# The command's own process reads usage logs with the system allocator: pyarrow's default
# (mimalloc) re-faults each batch's pages (system CPU 0.8-2.3 s against 0.4-0.5 s per 10M rows,
# interleaved runs; benchmarks/README.md). Set before pyarrow picks its default pool; an explicit
# ARROW_DEFAULT_MEMORY_POOL wins. Library use gets the same while a log is read
# (inventory.usage.chunks.system_allocator).
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")

from audit.cli.main import app  # noqa: E402 - after the allocator choice above

__all__ = ["app"]
