"""What the processes that run audits share: lighter imports, and notebook kernels forked
from a warm process instead of started as new interpreters.

A new kernel (``python -m ipykernel_launcher``) pays ~1.5 s of CPU per engagement for its
interpreter and imports (IPython, the toolkit, pandas, matplotlib). In a batch every
engagement runs in a child forked from a warm worker that has imported all of that already
(``batch.WarmWorker``). Such a child can fork, at its very start, a **kernel zygote**: a copy of
itself taken before it has read any client data, that waits on a pipe. When the child's run
starts its notebook kernel, ``PipelineKernel`` (runner) hands the zygote the kernel's command
line instead of executing it: the zygote puts itself in a session of its own (as jupyter_client
does for a kernel it launches), takes the kernel's environment and working folder, and becomes
that kernel (``IPKernelApp`` with the same arguments and connection file). Everything after that
is the ordinary Jupyter protocol: nbclient connects, executes, interrupts and shuts the kernel
down exactly as before; the kernel is the run's child (polled, signalled and reaped like the
``Popen`` a normal launch makes) and exits when the run dies (``JPY_PARENT_PID``).

A zygote is used only for a kernel whose command is this very interpreter running
``ipykernel_launcher``; any other kernel (``--kernel`` naming another environment) is launched
as a new process, as always, and the zygote is dismissed. A run that never starts a kernel
(``--fast``, bad input) closes the pipe and the zygote exits.
"""
from __future__ import annotations

import json
import os
import select
import signal
import sys
from functools import cache

LAUNCHER_MODULE = "ipykernel_launcher"
COLD_KERNELS_ENV = "GENAI_AUDIT_COLD_KERNELS"  # "1": every kernel a new interpreter, as before (comparisons, a fallback)
ZYGOTE_ACK_TIMEOUT_S = 30.0  # the zygote answers within milliseconds; this only guards a wedged one


def skip_slow_optional_imports() -> None:
    """For processes that only run audits (``audit run``, batch workers): make jsonschema skip its
    optional IRI format checker. nbformat imports jsonschema, which imports ``rfc3987_syntax`` when
    it is installed (JupyterLab's jupyter-events pulls it in); that package builds a Lark grammar
    at import, about 1 s per process (python-jsonschema/jsonschema#1392, #1521). Notebook
    schemas use no IRI formats, so validation is unchanged. Not done on import of ``audit``,
    so a consultant's own kernel keeps every checker it has."""
    if "rfc3987_syntax" not in sys.modules:
        sys.modules["rfc3987_syntax"] = None  # type: ignore[assignment]  # import now raises ImportError


def exit_forked(code: int) -> None:
    """End a forked process: flush its streams, then ``os._exit`` (never the parent's atexit
    handlers or its loop). Used by batch children and kernel zygotes."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001, S110 - exiting anyway
            pass
    os._exit(code)


class ForkedKernelProcess:
    """The ``subprocess.Popen`` surface jupyter_client's provisioner uses (poll, wait,
    send_signal, terminate, kill, pid, returncode, the three streams), for a kernel that is
    this process's forked child."""

    stdin = stdout = stderr = None

    def __init__(self, pid: int):
        self.pid = pid
        self.returncode: int | None = None

    def _reap(self, flags: int) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, flags)
            except ChildProcessError:  # already reaped elsewhere: it has ended
                self.returncode = 0
                return self.returncode
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def poll(self) -> int | None:
        return self._reap(os.WNOHANG)

    def wait(self, timeout: float | None = None) -> int | None:
        return self._reap(0)

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class KernelZygote:
    """A forked copy of this (warm, still client-free) process that waits to become its notebook
    kernel. ``launch(argv, env, cwd)`` turns it into the kernel and returns its pid; ``dismiss()``
    (or this process's end) lets it exit unused."""

    def __init__(self) -> None:
        request_read, self.request_fd = os.pipe()
        self.ack_fd, ack_write = os.pipe()
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the zygote's own process
            os.close(self.request_fd)
            os.close(self.ack_fd)
            _zygote_main(request_read, ack_write)
        os.close(request_read)
        os.close(ack_write)
        self.pid: int | None = pid

    def launch(self, argv: list[str], env: dict[str, str], cwd: str | None) -> int:
        """Hand the zygote ``ipykernel_launcher``'s arguments, the kernel's environment and working
        folder; returns its pid once it runs in a session of its own. OSError if it does not answer."""
        if self.pid is None:
            raise OSError("the kernel zygote was already used or dismissed")
        payload = json.dumps({"argv": argv, "env": env, "cwd": cwd}).encode("utf-8")
        pid, self.pid = self.pid, None
        try:
            with os.fdopen(self.request_fd, "wb") as request:  # closing it is the end of the request
                request.write(payload)
        except OSError:  # it died waiting (EPIPE): reap it, and the caller launches as usual
            os.close(self.ack_fd)
            ForkedKernelProcess(pid).wait()
            raise
        ready, _, _ = select.select([self.ack_fd], [], [], ZYGOTE_ACK_TIMEOUT_S)
        answer = os.read(self.ack_fd, 4096) if ready else b""
        os.close(self.ack_fd)
        if answer != b"ok\n":
            process = ForkedKernelProcess(pid)
            process.kill()
            process.wait()
            raise OSError(f"the forked kernel did not start ({answer.decode('utf-8', 'replace').strip() or 'no answer'})")
        return pid

    def dismiss(self) -> None:
        """Let an unused zygote go: it reads the end of its input and exits."""
        if self.pid is None:
            return
        os.close(self.request_fd)
        os.close(self.ack_fd)
        ForkedKernelProcess(self.pid).wait()
        self.pid = None


def _zygote_main(request_fd: int, ack_fd: int) -> None:  # pragma: no cover - runs in the zygote
    """Wait for the kernel's command; then a session of its own, the kernel's environment and
    folder, stdin from /dev/null, and ``IPKernelApp`` with the command's arguments. Never returns."""
    code = 0
    try:
        chunks = []
        while chunk := os.read(request_fd, 65536):
            chunks.append(chunk)
        os.close(request_fd)
        if not chunks:  # dismissed, or the run ended without a kernel
            os._exit(0)
        request = json.loads(b"".join(chunks))
        os.setsid()  # as jupyter_client's launcher does (start_new_session): interrupts reach the kernel's group only
        if request["cwd"]:
            os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.write(ack_fd, b"ok\n")
        os.close(ack_fd)
        # As ipykernel_launcher: the working folder is not an import path of the kernel.
        if sys.path and sys.path[0] in ("", os.getcwd()):
            del sys.path[0]
        sys.argv = [LAUNCHER_MODULE, *request["argv"]]
        from ipykernel import kernelapp  # noqa: PLC0415 - zygote only; already imported by the warm worker

        kernelapp.launch_new_instance(argv=request["argv"])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException as exc:  # noqa: BLE001 - never return into the run's code
        try:
            os.write(ack_fd, f"{type(exc).__name__}: {exc}\n".encode())
        except OSError:
            pass
        import traceback  # noqa: PLC0415 - zygote only

        traceback.print_exc()
        code = 1
    finally:
        exit_forked(code)


_ZYGOTE: list[KernelZygote] = []  # at most one: this process's waiting zygote


def start_kernel_zygote() -> None:
    """Fork this process's kernel zygote now (call it before reading any client data); not when
    ``GENAI_AUDIT_COLD_KERNELS=1``."""
    if hasattr(os, "fork") and not _ZYGOTE and os.environ.get(COLD_KERNELS_ENV, "") != "1":
        _ZYGOTE.append(KernelZygote())


def take_kernel_zygote() -> KernelZygote | None:
    """This process's waiting zygote, once (None when there is none)."""
    return _ZYGOTE.pop() if _ZYGOTE else None


def zygote_arguments(cmd: list[str]) -> list[str] | None:
    """``ipykernel_launcher``'s arguments when ``cmd`` runs it on this very interpreter (the only
    kernel a zygote can become), else None."""
    if len(cmd) >= 3 and cmd[1:3] == ["-m", LAUNCHER_MODULE] and \
            os.path.abspath(cmd[0]) == os.path.abspath(sys.executable):
        return cmd[3:]
    return None


@cache
def forked_provisioner_class():
    """jupyter_client's ``LocalProvisioner`` that launches through this process's kernel zygote
    when it has one and the command is this interpreter's ipykernel, and as a new process
    otherwise. Built on first use (jupyter_client loads only where notebooks run)."""
    from jupyter_client.provisioning import LocalProvisioner  # noqa: PLC0415 - notebook stack: only where kernels run

    class ForkedProvisioner(LocalProvisioner):
        async def launch_kernel(self, cmd, **kwargs):
            zygote = take_kernel_zygote()
            arguments = zygote_arguments(cmd) if zygote is not None else None
            if arguments is None:
                if zygote is not None:
                    zygote.dismiss()
                return await super().launch_kernel(cmd, **kwargs)
            env = {**(kwargs.get("env") or os.environ), "JPY_PARENT_PID": str(os.getpid())}
            # ipykernel reads JPY_PARENT_PID into a default when it is imported (in the warm
            # worker, long before): say it on the command line, so that the kernel exits with
            # this process and stays quiet on the terminal, as a launched kernel does.
            arguments = [*arguments, f"--IPKernelApp.parent_handle={os.getpid()}"]
            cwd = kwargs.get("cwd")
            try:
                pid = zygote.launch(arguments, env, str(cwd) if cwd else None)
            except OSError:  # the zygote is gone (killed, out of memory): launch as usual
                return await super().launch_kernel(cmd, **kwargs)
            self.process = ForkedKernelProcess(pid)
            self.pid = self.pgid = pid  # the zygote called setsid() before answering
            self.cwd = cwd or os.getcwd()
            return self.connection_info

    return ForkedProvisioner


def use_kernel_zygote(km) -> bool:
    """Give kernel manager ``km`` (before its kernel starts) the forked provisioner, when this
    process has a zygote waiting. True if it did."""
    if not _ZYGOTE:
        return False
    import uuid  # noqa: PLC0415 - only here

    km.kernel_id = km.kernel_id or str(uuid.uuid4())
    km.provisioner = forked_provisioner_class()(kernel_id=km.kernel_id, kernel_spec=km.kernel_spec, parent=km)
    return True
