"""Batch audits: many engagements, each in its own process, one failure never stops the rest.

Each engagement runs as ``audit run`` in a child process of its own (its own kernel, its
own memory, killable on timeout with its kernel). A thread pool only waits on children;
papermill never runs in a thread. Starts are staggered so that kernels launched together
do not collide on ZMQ ports (papermill's "kernel didn't respond" failures).

Warm workers (issue 16): a fresh ``python -m audit run`` pays ~3 s of CPU for the interpreter
and its imports (papermill, nbconvert, matplotlib, openpyxl…) before it audits anything. Where
the platform can fork, each job slot instead keeps one *warm worker* (``WarmWorker``): a
process that imports all of that once and never audits anything itself; for each engagement
it forks a child, a copy of that clean, warm process, which runs ``audit run`` exactly as the
command line does (same arguments, exit status and messages) in its own session. So every
engagement still has its own process, memory and kernel (nothing one client computes can
reach another's: the worker itself never sees client data), a timeout still kills the
child's process group, and ``--resume`` and the summary are unchanged. ``run_child`` (a new
interpreter per engagement) stays for Dask tasks, for platforms without ``fork`` and when
``GENAI_AUDIT_COLD_CHILDREN=1``.

Forked kernels: each child also forks, before it reads anything, a copy of itself that becomes
its notebook kernel when the run starts one (``processes.KernelZygote``), so a kernel does not
pay its interpreter and imports (~1.5 s of CPU) either. It is still the run's own kernel, in a
session of its own, shut down with the run. ``GENAI_AUDIT_COLD_KERNELS=1`` launches kernels as
new interpreters instead.
"""
from __future__ import annotations

import csv
import gc
import json
import os
import queue
import select
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
from audit.orchestration.processes import exit_forked, skip_slow_optional_imports, start_kernel_zygote

SUMMARY_FILE = "batch_summary.csv"
SUMMARY_COLUMNS = ("engagement", "status", "seconds", "error")
DEFAULT_TIMEOUT_S = 1800
STAGGER_S = 1.0
NO_NOTEBOOKS_FLAG = "--fast"  # `audit run` without a kernel: its child forks no kernel zygote
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


# --- warm workers ------------------------------------------------------------------------------

COLD_CHILDREN_ENV = "GENAI_AUDIT_COLD_CHILDREN"  # "1": a new interpreter per engagement (run_child)
#: What ``audit run`` loads, imported once by each warm worker (by name: the command line is
#: the layer above; the child runs it through ``python -m audit`` semantics, see _run_forked).
WORKER_PRELOAD = ("audit.cli.main", "audit.orchestration.runner", "audit.orchestration.pipeline",
                  "audit.deliverables.figures", "audit.deliverables.html", "audit.deliverables.excel",
                  "audit.deliverables.impact_manifest", "audit.analyses.registry", "nbformat", "nbclient",
                  "nbconvert", "papermill.iorw", "papermill.parameterize", "papermill.translators", "bleach",
                  "jupyter_client.kernelspec", "jupyter_client.provisioning", "codecarbon",
                  # what a notebook kernel imports (runner.KERNEL_WARM_UP), for the forked kernels
                  "ipykernel.kernelapp", "pandas", "matplotlib_inline.backend_inline")
MAX_CHILD_STDERR = 1_000_000  # bytes of a child's stderr kept for its summary row
WORKER_REPLY_GRACE_S = 30.0  # after a SIGKILL, seconds the worker gets to report the child's end


def warm_workers_available() -> bool:
    """Fork-based warm workers: POSIX only, and not when the user asked for cold children."""
    return hasattr(os, "fork") and os.environ.get(COLD_CHILDREN_ENV, "") != "1"


def worker_main() -> None:  # pragma: no cover - runs in the worker process (tested through run_batch)
    """The warm worker's loop (``python -c "from audit.orchestration.batch import worker_main; worker_main()"``).

    Imports what ``audit run`` and its notebook kernel need, draws one throw-away chart
    (matplotlib's font cache and text layout), exports a one-cell notebook (nbconvert's
    templates) and validates and estimates the shipped sample engagement (the reference tables,
    EcoLogits' and genai-prices' data), then reads one JSON request per line on stdin:
    ``{"argv": [...], "env": {...}}``. For each it forks a child (``_run_forked``), writes
    ``{"pid": PID}`` at once, and when the child has ended ``{"pid": PID, "returncode": N,
    "stderr": "..."}``. It never sees a client's data, so every child starts from the same clean
    state. Ends at end of input."""
    import importlib  # noqa: PLC0415 - worker process only

    skip_slow_optional_imports()  # as `audit run` does: jsonschema's optional IRI checker (~1 s)
    for name in WORKER_PRELOAD:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a missing optional module: the child imports (or reports) it itself
            pass
    _warm_matplotlib()
    _warm_nbconvert()
    _warm_reference_data()
    # Everything loaded so far lives as long as the worker: move it out of the collector's sight
    # (gc.freeze, the documented pattern before fork). The children's collections then skip it and
    # do not write to its pages (copy-on-write): ~0.6-1 s CPU and ~20k page faults less per engagement.
    gc.collect()
    gc.freeze()
    out = sys.stdout
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        err_fd, err_path = _temp_file("stderr")
        pid = os.fork()
        if pid == 0:
            _run_forked(request["argv"], request["env"], err_fd)  # never returns
        os.close(err_fd)
        out.write(json.dumps({"pid": pid}) + "\n")
        out.flush()
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        with open(err_path, "rb") as f:
            f.seek(max(0, os.path.getsize(err_path) - MAX_CHILD_STDERR))
            err = f.read().decode("utf-8", "replace")
        os.unlink(err_path)
        out.write(json.dumps({"pid": pid, "returncode": code, "stderr": err}) + "\n")
        out.flush()


def _temp_file(kind: str) -> tuple[int, str]:
    import tempfile  # noqa: PLC0415 - worker process only

    return tempfile.mkstemp(prefix=f"genai-audit-child-{kind}-")


def _warm_matplotlib() -> None:
    """Draw a small chart with text to SVG once, so that every child starts with matplotlib's
    font list and glyph caches loaded (~0.3 s each otherwise). No client data involved."""
    try:
        from audit.deliverables import charts  # noqa: PLC0415 - worker process only

        fig = charts.new_figure(1.0, 2.0)
        ax = fig.add_subplot()
        ax.bar([0, 1], [1, 2], hatch="//")
        ax.set_title("warm-up", fontweight="bold")
        charts.figure_to_svg(fig)
    except Exception:  # noqa: BLE001 - an optimisation only
        pass


def _warm_reference_data() -> None:
    """Validate and estimate the shipped sample engagement (public data in the repository) once,
    so that every child starts with the reference tables loaded: the factor register, aliases,
    scope rules, EcoLogits' models and genai-prices' snapshot (~0.5 s per engagement otherwise);
    and compile the report's template. These caches hold shipped data only; nothing is written.
    (Auditing the whole sample here as well, charts and workbook included, made the children
    slower, not faster: 6.1-8.5 s against 5.4-6.1 s CPU per engagement, A/B interleaved.)"""
    try:
        from audit.core.paths import SAMPLE_ENGAGEMENT_DIR  # noqa: PLC0415 - worker process only
        from audit.deliverables import html  # noqa: PLC0415 - worker process only
        from audit.inventory.estimate import estimate  # noqa: PLC0415 - worker process only
        from audit.inventory.intake import load_engagement  # noqa: PLC0415 - worker process only
        from audit.inventory.results import from_estimate  # noqa: PLC0415 - worker process only

        loaded = load_engagement(SAMPLE_ENGAGEMENT_DIR)
        from_estimate(estimate(loaded), loaded.warnings)
        html.report_environment().get_template(html.TEMPLATE)  # compiled once, not in every child (~0.1 s)
    except Exception:  # noqa: BLE001 - an optimisation only (an installation without the sample, say)
        pass
    _stop_progress_monitor()


def _stop_progress_monitor() -> None:
    """End tqdm's monitor thread (any progress bar starts one, even a hidden bar): the worker
    forks, and a thread that held tqdm's lock at that moment would leave it locked in the child."""
    import threading  # noqa: PLC0415 - worker process only

    from tqdm import TMonitor  # noqa: PLC0415 - worker process only

    for thread in threading.enumerate():
        if isinstance(thread, TMonitor):
            thread.exit()
            thread.tqdm_cls.monitor = None


def _warm_nbconvert() -> None:
    """Export a one-cell notebook to HTML once: nbconvert's templates, Markdown renderer and
    highlighter are then loaded in every child (~0.1-0.2 s each otherwise). No client data."""
    try:
        import nbformat  # noqa: PLC0415 - worker process only
        from nbconvert import HTMLExporter  # noqa: PLC0415 - worker process only

        nb = nbformat.v4.new_notebook()
        nb.cells.append(nbformat.v4.new_markdown_cell("# warm-up"))
        HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True).from_notebook_node(nb)
    except Exception:  # noqa: BLE001 - an optimisation only
        pass


def _run_forked(argv: list[str], env: dict[str, str], err_fd: int) -> None:  # pragma: no cover - forked child
    """In the forked child: a session of its own (so a timeout kills it and what it started),
    stdin from /dev/null, stdout discarded (the worker's stdout is its channel to the batch),
    stderr to ``err_fd``; the batch's environment; then ``audit run ARGV`` as ``python -m audit``
    runs it. Exits with its status, never returning into the worker's loop."""
    code = 1
    try:
        os.setsid()
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 0)
        os.dup2(devnull, 1)
        os.dup2(err_fd, 2)
        os.close(devnull)
        os.close(err_fd)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_DFL if sig == signal.SIGTERM else signal.default_int_handler)
        os.environ.clear()
        os.environ.update(env)
        if NO_NOTEBOOKS_FLAG not in argv:
            # Forked now, before the run reads anything: the run's kernel (processes.KernelZygote).
            start_kernel_zygote()
        sys.argv = ["audit", *argv]
        import runpy  # noqa: PLC0415 - forked child only

        try:
            runpy.run_module("audit", run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if exc.code is not None and not isinstance(exc.code, int):
                print(exc.code, file=sys.stderr)
    except BaseException:  # noqa: BLE001 - report and exit: never back into the worker's loop
        import traceback  # noqa: PLC0415 - forked child only

        traceback.print_exc()
        code = 1
    finally:
        exit_forked(code)


class _Lines:
    """Lines from a pipe with a deadline (select on the raw descriptor, no buffered reads)."""

    def __init__(self, fd: int):
        self.fd, self.buf = fd, b""

    def read(self, timeout_s: float | None) -> dict | None:
        """The next JSON line, or None at the deadline; EOFError when the worker has gone."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while b"\n" not in self.buf:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([self.fd], [], [], wait)
            if not ready:
                return None
            chunk = os.read(self.fd, 65536)
            if not chunk:
                raise EOFError("the warm worker ended")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)


class WarmWorker:
    """One job slot's warm worker process (see the module docstring). ``run`` audits one
    engagement in a forked child with the same outcome, error text and timeout behaviour as
    ``run_child``; a worker that dies is replaced by a new one for the next engagement."""

    def __init__(self, env: dict[str, str] | None = None):
        self.env = env or {}
        self.proc: subprocess.Popen | None = None
        self.lines: _Lines | None = None
        self.last_pid: int | None = None  # the process that ran the last engagement

    def _start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from audit.orchestration.batch import worker_main; worker_main()"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env})
        self.lines = _Lines(self.proc.stdout.fileno())

    def start(self) -> None:
        """Launch the worker now (it imports while other work goes on)."""
        if self.proc is None or self.proc.poll() is not None:
            self._start()

    def run(self, engagement_dir: Path, out_dir: Path, timeout_s: float, extra_args: list[str], *,
            label: str) -> Outcome:
        t0 = time.perf_counter()
        argv = ["run", str(engagement_dir), "--out", str(out_dir), *extra_args]
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        try:
            self.start()
            self.proc.stdin.write((json.dumps({"argv": argv, "env": env}) + "\n").encode("utf-8"))
            self.proc.stdin.flush()
            # The worker answers with the child's pid at once, unless it is still importing.
            started = self.lines.read(timeout_s)
            if started is None:
                self.stop()
                return Outcome(label, "failed", time.perf_counter() - t0, f"timed out after {timeout_s:g} s")
            pid = self.last_pid = started["pid"]
            done = self.lines.read(max(0.0, timeout_s - (time.perf_counter() - t0)))
            if done is None:
                done = self._kill(pid)
                return Outcome(label, "failed", time.perf_counter() - t0, f"timed out after {timeout_s:g} s")
        except (EOFError, OSError, ValueError) as exc:  # the worker itself died: replaced next time
            self.stop()
            return Outcome(label, "failed", time.perf_counter() - t0, f"the batch worker ended unexpectedly ({exc})")
        seconds = time.perf_counter() - t0
        if done["returncode"] == 0:
            return Outcome(label, "ok", seconds)
        return Outcome(label, "failed", seconds, child_error(done["stderr"], done["returncode"]))

    def _kill(self, pid: int) -> dict | None:
        """A timed-out child: SIGTERM to its group (its notebook client shuts the kernel down
        and its work becomes OUT.failed), SIGKILL after KILL_GRACE_S; the worker then reports it."""
        for sig, grace in ((signal.SIGTERM, KILL_GRACE_S), (signal.SIGKILL, WORKER_REPLY_GRACE_S)):
            try:
                os.killpg(pid, sig)
            except ProcessLookupError:
                pass
            done = self.lines.read(grace)
            if done is not None:
                return done
        self.stop()  # a worker that cannot even report a killed child is replaced
        return None

    def stop(self) -> None:
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        try:
            proc.stdin.close()
        except OSError:
            pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        proc.stdout.close()


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
    slots = max(1, min(jobs, len(todo)))
    warm: queue.Queue[WarmWorker] = queue.Queue()
    use_warm = bool(todo) and warm_workers_available()
    if use_warm:  # one warm worker per job slot, importing while the first start is staggered
        for _ in range(slots):
            worker = WarmWorker(child_env)
            worker.start()
            warm.put(worker)

    def job(d: Path) -> Outcome:
        with lock:  # stagger kernel starts
            wait = next_start[0] - time.monotonic()
            next_start[0] = max(next_start[0], time.monotonic()) + STAGGER_S
        if wait > 0:
            time.sleep(wait)
        if not use_warm:
            return run_child(d, out_root / names[d], timeout_s, extra, child_env, label=labels[d])
        worker = warm.get()  # one per slot: never waits
        try:
            return worker.run(d, out_root / names[d], timeout_s, extra, label=labels[d])
        finally:
            warm.put(worker)

    try:
        _run_jobs(job, todo, slots, progress, outcomes, labels, out_root, dirs)
    finally:
        while use_warm and not warm.empty():
            warm.get().stop()
    ordered = [outcomes[d] for d in dirs]
    write_summary(out_root / SUMMARY_FILE, ordered)
    write_portfolio(out_root, [names[d] for d in dirs])
    mark_batch_root(out_root, [names[d] for d in todo])
    return ordered


def _run_jobs(job, todo: list[Path], slots: int, progress: bool | None, outcomes: dict, labels: dict,
              out_root: Path, dirs: list[Path]) -> None:
    """Run ``job`` on every folder of ``todo``, ``slots`` at a time; the summary is rewritten
    after each engagement."""
    with ThreadPoolExecutor(max_workers=slots) as pool, \
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
