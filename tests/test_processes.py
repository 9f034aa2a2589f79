"""orchestration.processes: notebook kernels forked from a warm process (issue 16).

The zygote is exercised in a fresh single-threaded interpreter, as in a batch worker's child
(forking pytest's own multi-threaded process would test something else)."""
import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

from audit.orchestration import processes

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="kernels are forked only where fork exists")

SCRIPT = textwrap.dedent("""
    import json, os, sys, tempfile
    from pathlib import Path
    import nbformat
    from audit.orchestration import processes
    from audit.orchestration.runner import KERNEL_WARM_UP, PipelineKernel
    exec(KERNEL_WARM_UP)  # what a batch worker imports before it forks (batch.WORKER_PRELOAD)
    import ipykernel.kernelapp, jupyter_client.provisioning
    processes.start_kernel_zygote()
    zygote_pid = processes._ZYGOTE[0].pid if processes._ZYGOTE else None
    kernel = PipelineKernel(Path(tempfile.mkdtemp()))
    kernel.start()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
                    "import os; print(os.getpid(), os.getppid(), os.getsid(0), os.getcwd(), os.environ.get('JPY_PARENT_PID'))"),
                nbformat.v4.new_code_cell(  # as the notebooks show the audit's pyplot-free figures
                    "from matplotlib_inline.backend_inline import set_matplotlib_formats\\nset_matplotlib_formats('png')\\n"
                    "from matplotlib.figure import Figure\\nfig = Figure(figsize=(2, 1)); fig.add_subplot().plot([0, 1]); fig")]
    kernel.execute(nb, "x.ipynb")
    out = {"me": os.getpid(), "zygote": zygote_pid, "stdout": nb.cells[0].outputs[0]["text"].split(),
           "figure_mime": sorted(nb.cells[1].outputs[0]["data"]), "nb_dir": str(kernel.nb_out),
           "provisioner": type(kernel.owner.km.provisioner).__name__}
    if sys.argv[1] == "shutdown":
        kernel.shutdown()
        out["after_shutdown"] = open(f"/proc/{zygote_pid}/stat").read().split(")")[1].split()[0] if os.path.exists(f"/proc/{zygote_pid}") else "gone"
    print(json.dumps(out), flush=True)
    os._exit(0)  # "die": no shutdown, as a run killed with SIGKILL
""")


def _run(mode: str, cold: bool = False) -> dict:
    env = {**os.environ, processes.COLD_KERNELS_ENV: "1" if cold else "0"}
    proc = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, timeout=240, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.slow
def test_the_kernel_is_the_zygote_in_a_session_of_its_own_and_behaves_as_a_launched_one():
    out = _run("shutdown")
    kernel_pid, parent, session, cwd, parent_env = out["stdout"]
    assert out["provisioner"] == "ForkedProvisioner"
    assert int(kernel_pid) == out["zygote"]  # the zygote became the kernel
    assert int(parent) == out["me"] == int(parent_env)  # the run's child; exits with it (JPY_PARENT_PID)
    assert int(session) == int(kernel_pid)  # its own session, as jupyter_client's launcher does
    assert os.path.realpath(cwd) == os.path.realpath(out["nb_dir"])  # the notebooks' folder, as launched
    assert out["figure_mime"] == ["image/png", "text/plain"]  # figures display inline
    launched = _run("shutdown", cold=True)  # GENAI_AUDIT_COLD_KERNELS=1: a new interpreter, as before
    assert launched["provisioner"] == "LocalProvisioner" and launched["zygote"] is None
    assert launched["figure_mime"] == out["figure_mime"]
    assert int(launched["stdout"][1]) == launched["me"] and int(launched["stdout"][2]) == int(launched["stdout"][0])
    assert out["after_shutdown"] in ("gone", "Z")  # killed at shutdown (a zombie only until its parent exits)


@pytest.mark.slow
def test_a_forked_kernel_exits_when_its_run_dies_without_shutting_it_down():
    out = _run("die")
    kernel_pid = int(out["stdout"][0])
    deadline = time.monotonic() + 20  # ipykernel's parent poller looks every second
    while _alive(kernel_pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(kernel_pid)


def test_only_this_interpreter_running_ipykernel_can_be_forked():
    argv = ["-f", "/tmp/k.json", "--IPKernelApp.log_level=ERROR"]
    assert processes.zygote_arguments([sys.executable, "-m", "ipykernel_launcher", *argv]) == argv
    assert processes.zygote_arguments(["/opt/other-env/bin/python", "-m", "ipykernel_launcher", *argv]) is None
    assert processes.zygote_arguments([sys.executable, "-m", "other_kernel", *argv]) is None
    assert processes.zygote_arguments(["R", "--slave", "-e", "IRkernel::main()"]) is None


def test_an_unused_zygote_exits_when_dismissed_or_when_its_run_ends():
    zygote = processes.KernelZygote()
    pid = zygote.pid
    assert _alive(pid)
    zygote.dismiss()
    assert not _alive(pid) and zygote.pid is None
    zygote.dismiss()  # twice is harmless
    with pytest.raises(OSError, match="already used or dismissed"):
        zygote.launch(["-f", "x.json"], {}, None)


def test_no_zygote_when_cold_kernels_are_asked_for(monkeypatch):
    monkeypatch.setenv(processes.COLD_KERNELS_ENV, "1")
    processes.start_kernel_zygote()
    assert processes.take_kernel_zygote() is None


def test_a_zygote_that_died_is_reported_so_the_kernel_is_launched_as_usual():
    """ForkedProvisioner falls back to a normal launch on this OSError (a killed zygote)."""
    import signal

    zygote = processes.KernelZygote()
    os.kill(zygote.pid, signal.SIGKILL)
    time.sleep(0.2)
    with pytest.raises(OSError):
        zygote.launch(["-f", "x.json"], {}, None)
    assert zygote.pid is None
