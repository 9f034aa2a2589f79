"""Run one engagement end to end: notebooks through papermill, then the deliverables.

Outputs are written into a temporary sibling folder and moved into place only when every
step succeeded, so an interrupted or failed run never leaves a half-written report and
the previous good report stays intact. A failed run's folder is kept as ``OUT.failed``
with the executed notebooks, for debugging.
"""
from __future__ import annotations

import ast
import atexit
import errno
import json
import os
import queue
import re
import shutil
import signal
import socket
import sys
import threading
import uuid
from concurrent.futures import Future
from contextlib import contextmanager
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from audit.core.atomic import write_text
from audit.core.exceptions import AuditError, ExecutionError, InputError
from audit.core.paths import (NOTEBOOKS_DIR, PIPELINE_NOTEBOOKS, check_output_location, check_replaceable,
                              clean_stale_work, make_folder, remove_own_folder, write_marker)
from audit.deliverables.impact_manifest import MANIFEST_FILE, write_manifest
from audit.inventory.intake import load_engagement
from audit.inventory.usage import USAGE_HANDOFF_ENV, write_handoff
from audit.orchestration.footprint import measured
from audit.orchestration.pipeline import PREPARED_ENV, PREPARED_FILE, prepare_run, write_prepared, write_steps
from audit.orchestration.processes import use_kernel_zygote

DEFAULT_KERNEL = "python3"
DEFAULT_START_TIMEOUT_S = 120
DEFAULT_CELL_TIMEOUT_S = 600


def tool_version() -> str:
    return metadata.version("genai-content-audit")


def safe_parameters(params: dict[str, str]) -> dict[str, str]:
    """Check that each parameter survives papermill's Python translation as the same value,
    so text from a client (a folder name, say) can only ever arrive as data."""
    from papermill.translators import PythonTranslator

    for key, value in params.items():
        literal = PythonTranslator.translate(value)
        if ast.literal_eval(literal) != value:
            raise ExecutionError(f"parameter {key!r} would not arrive as a plain value; refusing to run")
    return params


#: Imported by the kernel while it starts (IPKernelApp.exec_lines), so that its imports run
#: while ``audit run`` computes the audit in its own process, not after.
KERNEL_WARM_UP = "import audit.orchestration.pipeline, pandas, matplotlib_inline.backend_inline"


class PipelineKernel:
    """One kernel for the three notebooks of a run. ``start()`` launches it and returns at
    once (the kernel boots and imports the toolkit while the caller works); ``execute`` waits
    for it to be ready the first time."""

    def __init__(self, work_dir: Path, kernel_name: str = DEFAULT_KERNEL, start_timeout: int = DEFAULT_START_TIMEOUT_S,
                 cell_timeout: int = DEFAULT_CELL_TIMEOUT_S, warm_up: str | None = KERNEL_WARM_UP):
        import nbformat
        from nbclient import NotebookClient

        self.nb_out = work_dir / "notebooks"
        self.nb_out.mkdir(parents=True, exist_ok=True)
        self.kernel_name, self.start_timeout, self.cell_timeout = kernel_name, start_timeout, cell_timeout
        # "immediate": the notebooks are written when the kernel stops, so there is nothing for a
        # graceful shutdown to wait for (it took ~0.5 s per run).
        self.owner = NotebookClient(nbformat.v4.new_notebook(), kernel_name=kernel_name, timeout=cell_timeout,
                                    startup_timeout=start_timeout, resources={"metadata": {"path": str(self.nb_out)}},
                                    shutdown_kernel="immediate")
        # Kernels listen on loopback only; ipykernel's warning about unencrypted TCP would
        # otherwise print on every start.
        self.owner.extra_arguments = ["--IPKernelApp.log_level=ERROR"]
        if warm_up:
            self.owner.extra_arguments.append(f"--IPKernelApp.exec_lines={[warm_up]!r}")
        self.started = self.connected = False
        self.executed = 0
        self.clients: list = []

    def start(self) -> None:
        try:
            with _own_sigterm_handler():
                self.owner.km = self.owner.create_kernel_manager()
                use_kernel_zygote(self.owner.km)  # in a batch worker's child: the kernel is forked, not started
                self.owner.start_new_kernel()
        except Exception as exc:  # no such kernel, a missing interpreter, a kernel that died at start
            atexit.unregister(self.owner._cleanup_kernel)  # noqa: SLF001 - nothing to clean: no atexit traceback
            raise kernel_start_error(self.kernel_name, exc) from None
        self.started = True

    def execute(self, nb, name: str) -> None:
        """Execute one notebook on the kernel (namespace reset after the first); saves it into
        ``work/notebooks`` as executed, also when it fails (then ExecutionError)."""
        import nbformat
        from nbclient import NotebookClient

        if not self.started:
            self.start()
        with _own_sigterm_handler():
            if not self.connected:
                try:
                    self.owner.start_new_kernel_client()
                except Exception as exc:  # the kernel died or timed out before answering
                    raise kernel_start_error(self.kernel_name, exc) from None
                self.connected = True
            elif self.executed:
                _reset_namespace(self.owner)
        client = NotebookClient(nb, kernel_name=self.kernel_name, timeout=self.cell_timeout,
                                startup_timeout=self.start_timeout, km=self.owner.km, allow_errors=False,
                                resources={"metadata": {"path": str(self.nb_out)}})
        client.kc = self.owner.kc
        self.clients.append(client)
        self.executed += 1
        try:
            with _own_sigterm_handler():
                client.execute(cleanup_kc=False)
        except Exception as exc:  # CellExecutionError, DeadKernelError, CellTimeoutError…
            nbformat.write(nb, str(self.nb_out / name))
            raise ExecutionError(f"notebook {name} failed: {_short(exc)}") from exc
        nbformat.write(nb, str(self.nb_out / name))

    def shutdown(self) -> None:
        if self.started and self.owner.km is not None:
            self.owner._cleanup_kernel()  # noqa: SLF001 - nbclient's own shutdown of the kernel it started
        for c in [self.owner, *self.clients]:  # nbclient registers its cleanup at exit, which fails once done
            atexit.unregister(c._cleanup_kernel)  # noqa: SLF001 - the bound method nbclient registered


def run_notebooks(kernel: PipelineKernel, engagement_dir: Path, work_dir: Path, on_executed=None) -> None:
    """Run the pipeline notebooks in order on ``kernel``, with absolute-path parameters;
    ``on_executed(name)`` is called as each one is written."""
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    params = safe_parameters({"engagement_dir": str(engagement_dir), "work_dir": str(work_dir)})
    for name in PIPELINE_NOTEBOOKS:
        kernel.execute(parameterize_notebook(load_notebook_node(str(NOTEBOOKS_DIR / name)), params), name)
        if on_executed is not None:
            on_executed(name)


def execute_notebooks(engagement_dir: Path, work_dir: Path, kernel_name: str = DEFAULT_KERNEL,
                      start_timeout: int = DEFAULT_START_TIMEOUT_S, cell_timeout: int = DEFAULT_CELL_TIMEOUT_S,
                      progress: bool = False) -> None:
    """Run the pipeline notebooks in order on ONE kernel, with absolute-path parameters.

    Each notebook is parameterised by papermill and executed by nbclient. They share a kernel
    (its namespace reset between notebooks with ``%reset -f``) so that the interpreter start
    and the imports are paid once per engagement, not three times. A failing notebook is saved
    as executed so far, for debugging.
    """
    kernel = PipelineKernel(work_dir, kernel_name, start_timeout, cell_timeout)
    try:
        run_notebooks(kernel, engagement_dir, work_dir)
    finally:
        kernel.shutdown()


def kernel_start_error(kernel_name: str, exc: BaseException) -> InputError:
    """A kernel that could not be started (no such kernel, a missing interpreter, a kernel
    that died or timed out before answering): an input error naming the kernel and the ones
    installed, no traceback."""
    try:
        from jupyter_client.kernelspec import KernelSpecManager  # noqa: PLC0415 - only on this error path

        installed = ", ".join(sorted(KernelSpecManager().find_kernel_specs())) or "none"
    except Exception:  # noqa: BLE001 - the list is a hint only
        installed = "unknown"
    return InputError(f"the Jupyter kernel '{kernel_name}' could not be started ({_short(exc)}); "
                      f"kernels installed: {installed}. Give one with --kernel, or install this environment's: "
                      "python -m ipykernel install --user --name python3")


def _reset_namespace(owner) -> None:
    """Clear the previous notebook's variables; imported modules stay loaded (the point)."""
    from nbclient.util import run_sync

    msg_id = owner.kc.execute("%reset -f", silent=True, store_history=False)
    run_sync(owner.async_wait_for_reply)(msg_id)


def _short(exc: BaseException) -> str:
    text = getattr(exc, "evalue", None) or str(exc)
    ename = getattr(exc, "ename", type(exc).__name__)
    first = str(text).strip().splitlines()[0] if str(text).strip() else ""
    return f"{ename}: {first}"[:500]


# Nothing runs and nothing is fetched: the page is read offline by the client, like report.html.
NOTEBOOK_PAGE_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; "
                     "base-uri 'none'; form-action 'none'")


def offline_page(html: str) -> str:
    """nbconvert's page without its scripts (require.js and MathJax from a CDN, widget
    state) and with a Content-Security-Policy that blocks any script and any request."""
    html = re.sub(r"<script\b.*?</script\s*>", "", html, flags=re.S | re.I)
    html = re.sub(r"<link\b[^>]*\bhref=[\"']?https?:[^>]*>", "", html, flags=re.I)
    meta = f'<meta http-equiv="Content-Security-Policy" content="{NOTEBOOK_PAGE_CSP}">'
    return re.sub(r"<head([^>]*)>", lambda m: f"<head{m.group(1)}>\n{meta}", html, count=1, flags=re.I)


# A chart's base64 payload is hundreds of kB that bleach's HTML tokenizer would walk character by
# character (0.5 s per run): it is set aside under a token bleach leaves as it is, and put back.
# Base64 has no character bleach escapes, so the result is the same as cleaning the whole string.
_IMAGE_DATA = re.compile(r"(?<=data:image/)([a-z+.-]{1,20};base64,)([A-Za-z0-9+/=]{256,})(?=[\"'])")


def park_image_data(html: str) -> tuple[str, dict[str, str]]:
    """``html`` with each long base64 image payload replaced by a random token, and the payloads."""
    nonce, blobs = uuid.uuid4().hex, {}

    def park(m: re.Match) -> str:
        token = f"AUDITIMG{nonce}N{len(blobs)}X"
        blobs[token] = m.group(2)
        return m.group(1) + token
    return _IMAGE_DATA.sub(park, html), blobs


def restore_image_data(html: str, blobs: dict[str, str]) -> str:
    """Put back the payloads ``park_image_data`` set aside (a token the cleaning dropped stays dropped)."""
    if not blobs:
        return html
    return re.sub(r"AUDITIMG[0-9a-f]{32}N\d+X", lambda m: blobs.get(m.group(0), m.group(0)), html)


def _notebook_attribute(tag: str, name: str, value: str) -> bool:
    """The attributes a notebook page keeps (html.NOTEBOOK_ATTRIBUTES); a data: URI only as an
    image's source."""
    from audit.deliverables.html import NOTEBOOK_ATTRIBUTES  # noqa: PLC0415 - loads matplotlib+openpyxl: only here

    is_data = value.strip().lower().startswith("data:")
    if name == "src":
        return tag == "img" and value.startswith("data:image/")
    if is_data:
        return False
    return name in NOTEBOOK_ATTRIBUTES.get(tag, []) or name in NOTEBOOK_ATTRIBUTES["*"]


def export_notebooks_html(nb_dir: Path, names: list[str] | None = None) -> dict[str, Path]:
    """Executed notebooks (all, or ``names``) as HTML without code cells, for transparency
    beside the report."""
    import bleach  # noqa: PLC0415 - html5lib behind it: only when notebook pages are written
    import nbformat
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors.sanitize import SanitizeHTML

    from audit.deliverables.html import NOTEBOOK_ATTRIBUTES, NOTEBOOK_TAGS, drop_active_blocks  # noqa: PLC0415 - loads matplotlib+openpyxl: only here

    class NotebookSanitizer(SanitizeHTML):
        def sanitize_html_tags(self, html_str):  # <style>/<script> go whole, not as leftover text
            # The report's charts are <img src="data:image/svg+xml;base64,…"> (figures.ChartSVG):
            # data: is allowed for an image's src and nowhere else.
            parked, blobs = park_image_data(drop_active_blocks(html_str))
            return restore_image_data(bleach.clean(parked, tags=self.tags, attributes=_notebook_attribute,
                                                   protocols=[*bleach.sanitizer.ALLOWED_PROTOCOLS, "data"],
                                                   strip=self.strip, strip_comments=self.strip_comments), blobs)

    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    # Client text in Markdown/HTML outputs stays text: markup outside the notebook allowlist is
    # stripped before rendering. (nbconvert's sanitize_html escapes <p>, <h1> and <table> too.)
    exporter.register_preprocessor(
        NotebookSanitizer(tags=list(NOTEBOOK_TAGS), attributes=NOTEBOOK_ATTRIBUTES, strip=True), enabled=True)
    out = {}
    for name in names or PIPELINE_NOTEBOOKS:
        src = nb_dir / name
        if src.exists():
            body, _ = exporter.from_notebook_node(nbformat.read(str(src), as_version=4))
            dest = src.with_suffix(".html")
            write_text(dest, offline_page(body))
            out[name] = dest
    return out


class NotebookPages:
    """Notebook pages exported one by one on a daemon thread (``submit(name)``), while the caller
    goes on; ``finish()`` waits for them and raises the first failure.

    A daemon thread, not a pool: a run stopped by SIGTERM (``_terminate_as_exit``) raises
    ``SystemExit`` wherever the main thread is, possibly inside an import with Python's import
    lock held; a pages thread that then needs an import (bleach, a Pygments lexer) waits for that
    lock for ever, and a pool's thread is joined at exit, so the run hung instead of ending (seen
    once in tests/test_runner.py's terminated-run test). A daemon thread is never waited for on
    the way out; the work folder still becomes OUT.failed."""

    def __init__(self, folder: Path):
        self.folder, self.jobs, self.done = folder, queue.Queue(), []
        threading.Thread(target=self._work, name="notebook-pages", daemon=True).start()

    def submit(self, name: str) -> None:
        page = Future()
        self.done.append(page)
        self.jobs.put((name, page))

    def _work(self) -> None:
        while (job := self.jobs.get()) is not None:
            name, page = job
            try:
                page.set_result(export_notebooks_html(self.folder, [name]))
            except BaseException as exc:  # noqa: BLE001 - handed to finish(), which raises it
                page.set_exception(exc)

    def finish(self) -> None:
        self.jobs.put(None)
        for page in self.done:
            page.result()


def write_deliverables(results, out_dir: Path, pdf: bool = True, svgs: dict[str, str] | None = None) -> list[str]:
    """report.xlsx, report.html (+ report.pdf), results.json and manifest.if.yaml from one AuditResults;
    ``svgs``: the report's charts already rendered this run (``figures.render_svgs``)."""
    from audit.deliverables.excel import write_excel  # noqa: PLC0415 - loads matplotlib+openpyxl: only here
    from audit.deliverables.html import write_html, write_pdf  # noqa: PLC0415 - loads matplotlib+openpyxl: only here

    notes = []
    results.write_json(out_dir / "results.json")
    # Impact Framework manifest from the results.json just written (if-run recomputes its totals)
    try:
        write_manifest(json.loads((out_dir / "results.json").read_text(encoding="utf-8")), out_dir / MANIFEST_FILE)
    except AuditError as exc:  # the reports still get written; the run says why the manifest is missing
        notes.append(f"{MANIFEST_FILE} not written: {exc}")
    write_excel(results, out_dir / "report.xlsx")
    write_html(results, out_dir / "report.html", svgs=svgs)
    if pdf:
        try:
            write_pdf(out_dir / "report.html", out_dir / "report.pdf")
        except ExecutionError as exc:
            notes.append(f"report.pdf not written: {exc}")
    return notes


@contextmanager
def _own_sigterm_handler():
    """Put back this process's SIGTERM handler after an nbclient call: nbclient adds its own
    (asyncio) handler to stop the kernel, and asyncio resets SIGTERM to the default (die at
    once) when its loop closes, which would skip the clean-up between two notebooks.
    Yields whether this thread may set handlers (the main thread only: signal's rule)."""
    if threading.current_thread() is not threading.main_thread():
        yield False
        return
    before = signal.getsignal(signal.SIGTERM)
    try:
        yield True
    finally:
        if before is not None:
            signal.signal(signal.SIGTERM, before)


@contextmanager
def _terminate_as_exit():
    """SIGTERM (a batch timeout, a scheduler stopping the job) ends the run like Ctrl-C does:
    the kernel is shut down and the work folder moves to OUT.failed, instead of the process
    dying with a hidden half-written folder beside OUT. Main thread only (signal's rule)."""
    def stop(signum, frame):
        raise SystemExit(128 + signum)

    with _own_sigterm_handler() as owned:  # puts the previous handler back afterwards
        if owned:
            signal.signal(signal.SIGTERM, stop)
        yield


@contextmanager
def _environment(name: str, value: str):
    """``name=value`` in this process's environment (a kernel started meanwhile inherits it)."""
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


@contextmanager
def _usage_handed_off(engagement, engagement_dir: Path, folder: Path):
    """The usage logs estimated while validating, handed to the kernel (audit.inventory.usage hand-off)
    instead of estimated again there; the hand-off folder is removed before the deliverables."""
    if write_handoff(folder, engagement_dir, engagement.usage_logs, engagement.default_region,
                     engagement.model_aliases) is None:
        yield
        return
    try:
        with _environment(USAGE_HANDOFF_ENV, str(folder)):
            yield
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run_engagement(engagement_dir: str | Path, out_dir: str | Path, *, kernel_name: str = DEFAULT_KERNEL,
                   start_timeout: int = DEFAULT_START_TIMEOUT_S, cell_timeout: int = DEFAULT_CELL_TIMEOUT_S,
                   pdf: bool = True, progress: bool = False, notebooks: bool = True) -> dict:
    """Audit one engagement folder into ``out_dir`` atomically. Returns a small summary.

    The audit is computed once, here (``pipeline.prepare_run``: the engagement validated once,
    each chart rendered once); the notebooks, on a kernel started first so that it boots
    meanwhile, show those very objects (``pipeline.PREPARED_ENV``). ``notebooks=False``
    (``audit run --fast``) writes the same files except the notebooks and their pages; its
    results.json is byte-identical.

    Raises ``InputError`` (bad input, nothing written) or ``ExecutionError``.
    """
    engagement_dir = Path(engagement_dir).resolve()
    # Before anything else: --out must not touch the inputs, and an existing folder is replaced
    # only if the toolkit wrote it (paths.check_replaceable).
    out_dir = check_output_location(out_dir, [engagement_dir])
    check_replaceable(out_dir)
    loaded = load_engagement(engagement_dir)  # fail fast on user mistakes, before any kernel starts
    make_folder(out_dir.parent, f"--out {out_dir}: cannot create this folder")
    clean_stale_work(out_dir)
    work = _new_work_folder(out_dir)
    kernel = None
    try:
        with _terminate_as_exit(), measured(loaded.engagement.default_region) as footprint:
            private = work / ".prepared"
            with _usage_handed_off(loaded.engagement, engagement_dir, private / "usage"), \
                    _environment(PREPARED_ENV, str(private / PREPARED_FILE)):
                if notebooks:
                    kernel = PipelineKernel(work, kernel_name, start_timeout, cell_timeout)
                    kernel.start()  # boots and imports while the audit is computed below
                run = prepare_run(loaded)
                write_steps(run, work)
                if kernel is not None:
                    write_prepared(run, private)
                    # Each notebook's page is exported on a thread while the kernel runs the next
                    # one on the other core (this process only waits on the kernel meanwhile).
                    pages = NotebookPages(work / "notebooks")
                    run_notebooks(kernel, engagement_dir, work, on_executed=pages.submit)
                    kernel.shutdown()
                    kernel = None
                    pages.finish()  # a failed export fails the run, as before
            shutil.rmtree(private, ignore_errors=True)
        results = run.results
        results.footprint = footprint
        results.manifest.update({"tool": "genai-content-audit", "tool_version": tool_version(),
                                 "factor_set": results.factor_set,
                                 "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds")})
        notes = write_deliverables(results, work, pdf=pdf, svgs=run.svgs)
        run_manifest = {**results.manifest,
                        "engagement_dir_name": engagement_dir.name, "footprint": footprint, "notes": notes}
        (work / "manifest.json").write_text(json.dumps(run_manifest, indent=2, default=str), encoding="utf-8")
        write_marker(work, "run")
        _promote(work, out_dir)
    except BaseException as exc:
        if kernel is not None:
            kernel.shutdown()
        _keep_failed(work, out_dir)
        if isinstance(exc, AuditError):
            raise
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
            raise InputError(f"--out {out_dir}: could not write the report ({exc.strerror}); "
                             f"{'the previous report is unchanged' if out_dir.exists() else 'nothing was written there'}"
                             "; free some space and run again") from None
        raise ExecutionError(f"{type(exc).__name__}: {exc}") from exc
    return {"out_dir": str(out_dir), "totals": results.totals, "notes": notes}


def _new_work_folder(out_dir: Path) -> Path:
    """The hidden sibling ``.OUT.tmp-XXXX`` a run builds its report in, marked with this process
    so that a later run can remove it if this one is killed (paths.clean_stale_work)."""
    work = out_dir.parent / f".{out_dir.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        work.mkdir()
    except OSError as exc:
        raise InputError(f"--out {out_dir}: cannot write in {out_dir.parent} ({exc.strerror or exc})") from None
    write_marker(work, "work", pid=os.getpid(), host=socket.gethostname())
    return work


def _promote(work: Path, out_dir: Path) -> None:
    """Swap the finished folder into place; the old report is removed only after the swap, and
    only because it is the toolkit's own (checked again here: it may have changed meanwhile)."""
    check_replaceable(out_dir)
    old = None
    if out_dir.exists():
        old = out_dir.parent / f".{out_dir.name}.old-{uuid.uuid4().hex[:8]}"
        os.replace(out_dir, old)
    os.replace(work, out_dir)
    if old is not None:
        remove_own_folder(old)
    failed = out_dir.parent / f"{out_dir.name}.failed"
    if failed.exists():
        remove_own_folder(failed)


def _keep_failed(work: Path, out_dir: Path) -> None:
    """Keep a failed run's work as ``OUT.failed`` for debugging. An earlier OUT.failed is
    replaced only if the toolkit wrote it; otherwise the work goes to ``OUT.failed-XXXX``."""
    if not work.exists():
        return
    failed = out_dir.parent / f"{out_dir.name}.failed"
    if failed.exists() and not remove_own_folder(failed):
        failed = out_dir.parent / f"{out_dir.name}.failed-{uuid.uuid4().hex[:8]}"
    try:
        write_marker(work, "failed")
        os.replace(work, failed)
    except OSError:  # a full or read-only disk: the work stays hidden, cleaned by the next run
        pass
