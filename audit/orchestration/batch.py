"""Batch audits: many engagements, each in its own process, one failure never stops the rest.

Each engagement runs as ``python -m audit run`` in a child process (its own kernel, its
own memory, killable on timeout with its kernel). A thread pool only waits on children;
papermill never runs in a thread. Starts are staggered so that kernels launched together
do not collide on ZMQ ports (papermill's "kernel didn't respond" failures).
"""
from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from audit.core.atomic import atomic_path
from audit.core.csvsafe import neutralise_cell, restore_cell
from audit.core.exceptions import InputError
from audit.core.paths import (ENGAGEMENT_FILE, OUTPUT_MARKER, check_output_location, make_folder, read_marker,
                              replaceable_problem, safe_child, write_marker)
from audit.core.progress import progress_bar
from audit.deliverables.summary_pages import (PORTFOLIO_HTML, PORTFOLIO_XLSX, read_portfolio, write_portfolio_html,
                                              write_portfolio_xlsx)
from audit.orchestration.footprint import CPU_MODEL_ENV, cached_cpu_model

SUMMARY_FILE = "batch_summary.csv"
SUMMARY_COLUMNS = ("engagement", "status", "seconds", "error")
DEFAULT_TIMEOUT_S = 1800
STAGGER_S = 1.0
KILL_GRACE_S = 15.0  # seconds a timed-out engagement gets to shut its kernel down


@dataclass
class Outcome:
    engagement: str
    status: str  # ok | failed
    seconds: float
    error: str = ""


def summary_labels(engagement_dirs: list[Path], names: dict[Path, str] | None = None) -> dict[Path, str]:
    """Engagement folder -> its name in batch_summary.csv: the folder name, with the same
    "-2", "-3" suffix as its output folder when two folders share a name (a/client, b/client),
    so every summary row (and --resume) points at one engagement. ``names`` is
    ``output_names(engagement_dirs)`` when the caller has it already."""
    names = output_names(engagement_dirs) if names is None else names
    out = {}
    for d in engagement_dirs:
        base = safe_child(Path("."), d.name).name
        out[d] = d.name + names[d][len(base):]
    return out


def output_names(engagement_dirs: list[Path]) -> dict[Path, str]:
    """Engagement folder -> output folder name: the slugified folder name, with "-2", "-3"…
    when it is taken. Unique by construction, letter case ignored (a/x, b/x and c/x-2 give x,
    x-2 and x-2-2), and never one of the batch root's own files."""
    taken = {SUMMARY_FILE.casefold(), OUTPUT_MARKER.casefold(), PORTFOLIO_HTML.casefold(), PORTFOLIO_XLSX.casefold()}
    out = {}
    for d in engagement_dirs:
        base = safe_child(Path("."), d.name).name
        name, n = base, 1
        while name.casefold() in taken:
            n += 1
            name = f"{base}-{n}"
        taken.add(name.casefold())
        out[d] = name
    if len({v.casefold() for v in out.values()}) != len(out):  # pragma: no cover - by construction
        raise AssertionError("batch output names collide")
    return out


def run_child(engagement_dir: Path, out_dir: Path, timeout_s: float, extra_args: list[str],
               env: dict[str, str] | None = None, *, label: str) -> Outcome:
    """Run ``audit run`` on one engagement in a child process; its Outcome is named ``label``
    (its name in batch_summary.csv, see summary_labels)."""
    cmd = [sys.executable, "-m", "audit", "run", str(engagement_dir), "--out", str(out_dir), *extra_args]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})
    try:
        _, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        # SIGTERM first: the child's notebook client shuts its kernel down (kernels run in a
        # session of their own, so killing the child's group alone would orphan them).
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.communicate(timeout=KILL_GRACE_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
        return Outcome(label, "failed", time.perf_counter() - t0, f"timed out after {timeout_s:g} s")
    seconds = time.perf_counter() - t0
    if proc.returncode == 0:
        return Outcome(label, "ok", seconds)
    return Outcome(label, "failed", seconds, child_error(err, proc.returncode))


MAX_ERROR_CHARS = 4000


def child_error(stderr: str | None, returncode: int) -> str:
    """What `audit run` said went wrong, for the summary: from its "error" line on (so the
    "N problems found" header and the first problems are kept, and warnings printed before
    are not), one problem per line, cut at MAX_ERROR_CHARS with a note of what was left out."""
    lines = [ln.rstrip() for ln in (stderr or "").strip().splitlines() if ln.strip()]
    start = next((i for i, ln in enumerate(lines) if ln.startswith("error")), None)
    lines = lines[start:] if start is not None else lines[-6:]
    if not lines:
        return f"exit status {returncode}"
    kept, size = [], 0
    for ln in lines:
        if size + len(ln) + 1 > MAX_ERROR_CHARS:
            kept.append(f"… {len(lines) - len(kept)} more lines: run `audit validate` on the folder")
            break
        kept.append(ln)
        size += len(ln) + 1
    return "\n".join(kept)


def read_summary(path: Path) -> dict[str, dict]:
    if not path.exists():
        return {}
    with path.open(newline="", encoding="utf-8") as f:
        rows = [{k: restore_cell(v or "") for k, v in row.items()} for row in csv.DictReader(f)]
        return {row["engagement"]: row for row in rows}


def write_summary(path: Path, outcomes: list[Outcome]) -> None:
    with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(SUMMARY_COLUMNS)
        for o in outcomes:
            w.writerow([neutralise_cell(o.engagement), o.status, f"{o.seconds:.2f}", neutralise_cell(o.error)])


def plan_batch(engagement_dirs, out_root, resume: bool):
    """Resolve folders and names and decide what runs: (out_root, dirs, names, labels, outcomes, todo).

    ``outcomes`` holds what is decided without running: with resume, an engagement whose
    previous status is ok and whose results.json exists is kept; a folder without
    engagement.yaml fails at once. Everything else is in ``todo``.
    """
    dirs = [Path(d).resolve() for d in engagement_dirs]
    out_root = check_output_location(out_root, dirs)  # never over, into or around a client folder
    _check_batch_root(out_root)
    make_folder(out_root, f"--out {out_root}: cannot create this folder")
    if read_marker(out_root) is None:
        write_marker(out_root, "batch", entries=[])
    names = output_names(dirs)
    labels = summary_labels(dirs, names)
    previous = read_summary(out_root / SUMMARY_FILE) if resume else {}
    outcomes: dict[Path, Outcome] = {}
    todo: list[Path] = []
    for d in dirs:
        prev = previous.get(labels[d])
        if prev and prev["status"] == "ok" and (out_root / names[d] / "results.json").exists():
            outcomes[d] = Outcome(labels[d], "ok", float(prev["seconds"] or 0), "")
        elif not (d / ENGAGEMENT_FILE).exists():
            outcomes[d] = Outcome(labels[d], "failed", 0.0, f"{d}: not an engagement folder (no {ENGAGEMENT_FILE})")
        elif problem := replaceable_problem(out_root / names[d]):
            outcomes[d] = Outcome(labels[d], "failed", 0.0, problem)
        else:
            todo.append(d)
    return out_root, dirs, names, labels, outcomes, todo


def _check_batch_root(out_root: Path) -> None:
    """A batch writes into ROOT (one folder per engagement, batch_summary.csv) and never
    replaces ROOT itself. An existing ROOT that the toolkit did not write is accepted only if
    it has no batch_summary.csv of someone else's to overwrite."""
    if out_root.is_symlink() or (out_root.exists() and not out_root.is_dir()):
        raise InputError(f"--out {out_root}: is a file or a link, not a folder")
    if out_root.is_dir() and read_marker(out_root) is None and (out_root / SUMMARY_FILE).exists():
        raise InputError(f"--out {out_root}: holds a {SUMMARY_FILE} the toolkit did not write; nothing was "
                         "changed. Choose another folder")


def shared_probes() -> dict[str, str]:
    """Facts about this machine every child would otherwise find out for itself: the CPU
    model codecarbon needs for its TDP lookup (a ~1 s probe per process). Best effort."""
    if os.environ.get(CPU_MODEL_ENV):
        return {}
    try:
        model = cached_cpu_model()
    except Exception:  # noqa: BLE001 - children then probe for themselves
        return {}
    return {CPU_MODEL_ENV: model} if model else {}


def run_batch(engagement_dirs: list[str | Path], out_root: str | Path, jobs: int = 1, resume: bool = False,
              timeout_s: float = DEFAULT_TIMEOUT_S, extra_args: list[str] | None = None,
              progress: bool | None = None) -> list[Outcome]:
    """Audit every engagement folder into ``out_root/<name>/``; write ``batch_summary.csv``."""
    out_root, dirs, names, labels, outcomes, todo = plan_batch(engagement_dirs, out_root, resume)
    extra = list(extra_args or [])
    child_env = shared_probes() if len(todo) > 1 else {}
    lock = threading.Lock()
    next_start = [time.monotonic()]

    def job(d: Path) -> Outcome:
        with lock:  # stagger kernel starts
            wait = next_start[0] - time.monotonic()
            next_start[0] = max(next_start[0], time.monotonic()) + STAGGER_S
        if wait > 0:
            time.sleep(wait)
        return run_child(d, out_root / names[d], timeout_s, extra, child_env, label=labels[d])

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool, \
            progress_bar(progress, total=len(todo), desc="engagements", unit="eng") as bar:
        futures = {pool.submit(job, d): d for d in todo}
        for fut in as_completed(futures):
            d = futures[fut]
            try:
                outcomes[d] = fut.result()
            except Exception as exc:  # noqa: BLE001 - a harness fault fails only this engagement
                outcomes[d] = Outcome(labels[d], "failed", 0.0, f"{type(exc).__name__}: {exc}")
            bar.set_postfix_str(f"{outcomes[d].engagement}: {outcomes[d].status}")
            bar.update()
            write_summary(out_root / SUMMARY_FILE, [outcomes[x] for x in dirs if x in outcomes])
    ordered = [outcomes[d] for d in dirs]
    write_summary(out_root / SUMMARY_FILE, ordered)
    write_portfolio(out_root, [names[d] for d in dirs])
    mark_batch_root(out_root, [names[d] for d in todo])
    return ordered


def write_portfolio(out_root: Path, names: list[str]) -> None:
    """ROOT/portfolio.html and ROOT/portfolio.xlsx: one row per engagement with a results.json
    (totals, GenAI share, intensity per accepted asset, top lever and its verdict)."""
    rows, notes = read_portfolio([(n, out_root / n / "results.json") for n in names])
    write_portfolio_html(rows, out_root / PORTFOLIO_HTML, notes)
    write_portfolio_xlsx(rows, out_root / PORTFOLIO_XLSX)


def mark_batch_root(out_root: Path, written: list[str]) -> None:
    """Record in ROOT's marker what this batch wrote there (the engagements' folders, their
    .failed folders, the summary), so that later runs know which entries are the toolkit's."""
    marker = read_marker(out_root) or {}
    entries = set(marker.get("entries", [])) | {SUMMARY_FILE}
    entries |= {n for n in (PORTFOLIO_HTML, PORTFOLIO_XLSX) if (out_root / n).exists()}
    for name in written:
        entries |= {n for n in (name, f"{name}.failed") if (out_root / n).exists()}
    write_marker(out_root, "batch", entries=entries)
