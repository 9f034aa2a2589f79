"""The full `audit run` (driver and every notebook kernel) makes no network call.

pytest-socket only guards this process; a real run also starts kernels. So the run goes
through a subprocess whose every Python process loads a `sitecustomize` guard that refuses
and records any connection or name lookup beyond loopback. The PDF is skipped (Chromium is
not Python; its report page carries a CSP default-src 'none' and is checked in
tests/test_report_html.py).
"""
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from audit.core.paths import SAMPLE_ENGAGEMENT_DIR

pytestmark = pytest.mark.slow

GUARD = textwrap.dedent('''
    import os, socket
    _LOG = os.environ["AUDIT_NET_LOG"]
    _LOCAL = ("127.", "::1", "localhost", "0.0.0.0")

    def _record(what):
        with open(_LOG, "a") as f:
            f.write(f"{os.getpid()} {what}\\n")
        raise OSError(f"network disabled by test guard: {what}")

    def _is_local(address):
        host = address[0] if isinstance(address, tuple) else address
        return not isinstance(host, str) or host.startswith(_LOCAL) or host == ""

    _connect, _connect_ex, _getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(address):
            _record(f"connect {address!r}")
        return _connect(self, address)

    def connect_ex(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(address):
            _record(f"connect_ex {address!r}")
        return _connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):
        if host is not None and not _is_local(host if isinstance(host, str) else host.decode()):
            _record(f"getaddrinfo {host!r}")
        return _getaddrinfo(host, *args, **kwargs)

    socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = connect, connect_ex, getaddrinfo
''')


def test_demo_audit_makes_no_network_call(tmp_path):
    guard_dir = tmp_path / "guard"
    guard_dir.mkdir()
    (guard_dir / "sitecustomize.py").write_text(GUARD)
    log = tmp_path / "network.log"
    engagement = shutil.copytree(SAMPLE_ENGAGEMENT_DIR, tmp_path / "sample")
    env = {**os.environ, "AUDIT_NET_LOG": str(log),
           "PYTHONPATH": os.pathsep.join([str(guard_dir), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    # The guard must really load in child processes, or this test would prove nothing.
    probe = subprocess.run([sys.executable, "-c", "import socket; socket.getaddrinfo('example.org', 80)"],
                           env=env, capture_output=True, text=True)
    assert probe.returncode != 0 and "network disabled by test guard" in probe.stderr
    log.unlink()
    run = subprocess.run([sys.executable, "-m", "audit", "run", str(engagement), "--out", str(tmp_path / "out"),
                          "--no-pdf"], env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    assert (tmp_path / "out" / "report.html").exists() and (tmp_path / "out" / "report.xlsx").exists()
    attempts = log.read_text() if log.exists() else ""
    assert attempts == "", f"network attempts during the audit:\n{attempts}"
