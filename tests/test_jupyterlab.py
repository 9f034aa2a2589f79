"""The JupyterLab walkthrough (README "Walkthrough in JupyterLab"), through a real server.

A `jupyter lab` server is started on loopback with a random token, a free port and its own
runtime and config folders. Through its REST API the test checks that the project kernel
**Python (genai-audit)** is offered, that the three pipeline notebooks are served, and then
runs 01_discovery's code cells in order on a genai-audit kernel over the kernel websocket,
as the browser would, with the parameters cell pointing at the sample engagement and a
temporary work folder. Every cell must reply ``ok``.

`make install` registers the kernelspec inside the venv (``ipykernel install --sys-prefix``).
When the current environment has no such kernelspec for this interpreter, the test
registers one into a temporary ``JUPYTER_DATA_DIR`` (``--user`` with that variable set, so
nothing outside the temporary folder is touched).
"""
from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest

import audit
from audit.core.paths import PIPELINE_NOTEBOOKS, SAMPLE_ENGAGEMENT_DIR
from tests.helpers import SAMPLE_ACTIVITY_COUNT

pytestmark = pytest.mark.slow

pytest.importorskip("jupyterlab", reason="JupyterLab not installed: pip install -e '.[lab]'")
websocket = pytest.importorskip("websocket", reason="websocket-client not installed (jupyter_server depends on it)")

REPO = Path(audit.__file__).resolve().parents[1]
KERNEL = "genai-audit"
STARTUP_TIMEOUT_S = 60
CELL_TIMEOUT_S = 120


# --- server ----------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kernelspecs(env: dict) -> dict:
    out = subprocess.run([sys.executable, "-m", "jupyter", "kernelspec", "list", "--json"], env=env,
                         capture_output=True, text=True, timeout=60, check=True)
    return json.loads(out.stdout)["kernelspecs"]


def project_kernel_registered(env: dict) -> bool:
    """A genai-audit kernelspec that starts this very interpreter (as `make install` writes it)."""
    spec = kernelspecs(env).get(KERNEL)
    if not spec:
        return False
    exe = spec["spec"]["argv"][0]
    return os.path.isabs(exe) and os.path.normpath(exe) == os.path.normpath(sys.executable)


class Lab:
    def __init__(self, url: str, token: str, log: Path, proc: subprocess.Popen):
        self.url, self.token, self.log, self.proc = url, token, log, proc

    def api(self, method: str, path: str, body: dict | None = None, timeout: float = 30) -> dict | None:
        req = urllib.request.Request(f"{self.url}{path}", method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": f"token {self.token}",
                                              "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("jupyterlab")
    env = {**os.environ,
           "JUPYTER_RUNTIME_DIR": str(root / "runtime"), "JUPYTER_CONFIG_DIR": str(root / "config"),
           "JUPYTER_DATA_DIR": str(root / "data"), "IPYTHONDIR": str(root / "ipython")}
    env.pop("JUPYTER_PATH", None)
    if not project_kernel_registered(env):
        subprocess.run([sys.executable, "-m", "ipykernel", "install", "--user", "--name", KERNEL,
                        "--display-name", "Python (genai-audit)"], env=env, check=True, capture_output=True,
                       timeout=60)
        env["JUPYTER_PREFER_ENV_PATH"] = "0"  # the temporary data dir before the venv's
        assert project_kernel_registered(env), kernelspecs(env).get(KERNEL)
    # the kernels import `audit` from this checkout, like the test process
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)

    port, token = free_port(), secrets.token_hex(24)
    log = root / "server.log"
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
           f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--ServerApp.token={token}",
           f"--ServerApp.root_dir={REPO}", "--ServerApp.open_browser=False",
           # nothing in the test may reach the network: no update check, news feed or PyPI listing
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate", "--LabApp.news_url=None",
           "--LabApp.extension_manager=readonly"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers and CI often run as root
        cmd.append("--allow-root")
    with log.open("wb") as fh:
        proc = subprocess.Popen(cmd, env=env, cwd=root, stdout=fh, stderr=subprocess.STDOUT)
    server = Lab(f"http://127.0.0.1:{port}", token, log, proc)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"jupyter lab exited with {proc.returncode}:\n{server.log_tail()}")
            try:
                if server.api("GET", "/api/status", timeout=2) is not None:
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"jupyter lab did not answer /api/status within {STARTUP_TIMEOUT_S} s:\n"
                            f"{server.log_tail()}")
            time.sleep(0.5)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


# --- kernel messaging (Jupyter messaging protocol over the server's websocket) ----------------

class KernelClient:
    def __init__(self, lab: Lab, kernel_id: str):
        self.session = uuid.uuid4().hex
        ws_url = lab.url.replace("http://", "ws://", 1) + f"/api/kernels/{kernel_id}/channels?session_id={self.session}"
        self.ws = websocket.create_connection(ws_url, header=[f"Authorization: token {lab.token}"],
                                              timeout=CELL_TIMEOUT_S)

    def request(self, msg_type: str, content: dict, timeout: float = CELL_TIMEOUT_S) -> tuple[dict, list[dict]]:
        """Send on shell; return (the reply's content, the iopub messages for this request)."""
        msg_id = uuid.uuid4().hex
        self.ws.send(json.dumps({
            "header": {"msg_id": msg_id, "msg_type": msg_type, "username": "test", "session": self.session,
                       "date": datetime.now(timezone.utc).isoformat(), "version": "5.3"},
            "parent_header": {}, "metadata": {}, "content": content, "channel": "shell", "buffers": []}))
        deadline = time.monotonic() + timeout
        iopub, reply, idle = [], None, False
        while reply is None or not idle:  # the reply and iopub's idle may come in either order
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"no complete {msg_type} reply within {timeout} s; reply {reply}, iopub {iopub[-3:]}")
            # Short socket waits: the server pings every 30 s and each ping restarts a blocking
            # recv's timeout, so one long recv could outlive the deadline for ever.
            self.ws.settimeout(min(left, 2.0))
            try:
                msg = json.loads(self.ws.recv())
            except websocket.WebSocketTimeoutException:
                continue
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            if msg["channel"] == "iopub":
                iopub.append(msg)
                idle = idle or (msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle")
            elif msg["channel"] == "shell":
                reply = msg["content"]
        return reply, iopub

    def close(self) -> None:
        self.ws.close()


# --- tests -----------------------------------------------------------------------------------

def test_project_kernel_is_offered(lab):
    specs = lab.api("GET", "/api/kernelspecs")["kernelspecs"]
    assert KERNEL in specs, sorted(specs)
    spec = specs[KERNEL]["spec"]
    assert spec["display_name"] == "Python (genai-audit)" and spec["language"] == "python"


def test_the_three_notebooks_are_served(lab):
    listing = lab.api("GET", "/api/contents/notebooks")
    assert listing["type"] == "directory"
    notebooks = {item["name"]: item["type"] for item in listing["content"] if item["name"].endswith(".ipynb")}
    assert notebooks == {name: "notebook" for name in PIPELINE_NOTEBOOKS}


def test_discovery_notebook_runs_on_the_project_kernel(lab, tmp_path):
    nb = lab.api("GET", f"/api/contents/notebooks/{PIPELINE_NOTEBOOKS[0]}?type=notebook&content=1")
    code = [c for c in nb["content"]["cells"] if c["cell_type"] == "code"]
    assert "parameters" in code[0]["metadata"].get("tags", []), "first code cell is not the parameters cell"
    sources = ["".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in code]
    work_dir = tmp_path / "work"
    sources[0] = f"engagement_dir = {str(SAMPLE_ENGAGEMENT_DIR.resolve())!r}\nwork_dir = {str(work_dir)!r}\n"

    kernel = lab.api("POST", "/api/kernels", {"name": KERNEL, "path": "notebooks"})
    client = None
    try:
        client = KernelClient(lab, kernel["id"])
        info, _ = client.request("kernel_info_request", {}, timeout=60)  # the kernel is up
        assert info["status"] == "ok" and info["language_info"]["name"] == "python"
        for i, src in enumerate(sources):
            reply, iopub = client.request("execute_request", {
                "code": src, "silent": False, "store_history": True, "user_expressions": {},
                "allow_stdin": False, "stop_on_error": True})
            errors = [m["content"] for m in iopub if m["msg_type"] == "error"]
            detail = f"{reply.get('ename')}: {reply.get('evalue')}" if reply["status"] == "error" else ""
            assert reply["status"] == "ok", f"code cell {i} ({src.strip().splitlines()[0][:60]!r}): {detail} {errors}"
            assert not errors, f"code cell {i}: {errors}"
        # the parameters took: the kernel ran on the sample, writing under the temporary work_dir
        reply, iopub = client.request("execute_request", {
            "code": "print(engagement_dir, work_dir, len(acts), sep='|')", "silent": False, "store_history": False,
            "user_expressions": {}, "allow_stdin": False, "stop_on_error": True})
        out = "".join(m["content"].get("text", "") for m in iopub if m["msg_type"] == "stream")
        assert out.strip().split("|") == [str(SAMPLE_ENGAGEMENT_DIR.resolve()), str(work_dir), str(SAMPLE_ACTIVITY_COUNT)], out
        assert work_dir.is_dir()
    finally:
        if client is not None:
            client.close()
        try:
            lab.api("DELETE", f"/api/kernels/{kernel['id']}")
        except (urllib.error.URLError, OSError):
            pass
