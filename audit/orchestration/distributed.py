"""Dask: batches of engagements on a cluster (or a LocalCluster on one machine).

``run_batch_dask`` runs each engagement as a Dask task that calls
``audit.orchestration.batch.run_child``: still one subprocess per engagement (its own kernel,
killable on timeout), the same ``batch_summary.csv`` and ``--resume`` rules as
``audit.orchestration.batch.run_batch``. Usage logs on Dask are audit.inventory.usage.dask.

Workers must have this toolkit installed (same version) and see the files at the same
paths (a shared filesystem); the child processes inherit the workers' environment
(``AUDIT_NOTEBOOKS_DIR`` and friends).
"""
from __future__ import annotations

import time
import uuid
from pathlib import Path

from audit.core.progress import progress_bar
from audit.inventory.usage.dask import connect
from audit.orchestration.batch import (
    DEFAULT_TIMEOUT_S, STAGGER_S, SUMMARY_FILE, Outcome, mark_batch_root, plan_batch, run_child, write_portfolio,
    write_summary,
)

# --- batches ---------------------------------------------------------------------------------------

def run_batch_dask(engagement_dirs: list[str | Path], out_root: str | Path, scheduler="local",
                   jobs: int | None = None, resume: bool = False, timeout_s: float | None = None,
                   extra_args: list[str] | None = None, progress: bool | None = None):
    """``audit.orchestration.batch.run_batch`` with engagements as tasks on a Dask cluster.

    Each task calls ``audit.orchestration.batch.run_child`` (a subprocess per engagement, killed with its
    kernel on timeout). ``jobs`` caps the engagements in flight (default: the cluster's
    worker threads). The summary is rewritten after each engagement, as run_batch does;
    a task lost with its worker fails only that engagement.
    """
    from distributed import as_completed


    timeout_s = DEFAULT_TIMEOUT_S if timeout_s is None else timeout_s
    out_root, dirs, names, labels, outcomes, todo = plan_batch(engagement_dirs, out_root, resume)
    extra = list(extra_args or [])
    run_id = uuid.uuid4().hex[:8]

    def save():
        write_summary(out_root / SUMMARY_FILE, [outcomes[x] for x in dirs if x in outcomes])

    with connect(scheduler) as client, progress_bar(progress, total=len(todo), desc="engagements", unit="eng") as bar:
        slots = max(1, jobs or sum(client.nthreads().values()) or 1)
        queue = list(todo)
        running = {}
        ac = as_completed()

        def submit(d: Path) -> None:
            fut = client.submit(run_child, d, out_root / names[d], timeout_s, extra, label=labels[d], pure=False,
                                key=f"audit-run-{names[d]}-{run_id}")
            running[fut.key] = d
            ac.add(fut)

        for i in range(min(slots, len(queue))):
            if i:
                time.sleep(STAGGER_S)  # kernels started together collide on ZMQ ports
            submit(queue.pop(0))
        for fut in ac:
            d = running.pop(fut.key)
            try:
                outcomes[d] = fut.result()
            except Exception as exc:  # noqa: BLE001 - a lost worker fails only this engagement
                outcomes[d] = Outcome(labels[d], "failed", 0.0, f"{type(exc).__name__}: {exc}"[:2000])
            bar.set_postfix_str(f"{outcomes[d].engagement}: {outcomes[d].status}")
            bar.update()
            save()
            if queue:
                submit(queue.pop(0))
    ordered = [outcomes[d] for d in dirs]
    write_summary(out_root / SUMMARY_FILE, ordered)
    write_portfolio(out_root, [names[d] for d in dirs])
    mark_batch_root(out_root, [names[d] for d in todo])
    return ordered
