"""audit.core.progress: bars on a terminal, quiet elsewhere, and no tqdm warning in notebooks."""
from __future__ import annotations

import sys
import types
import warnings

from audit.core.progress import progress_bar


def test_quiet_unless_asked_or_on_a_terminal(monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    assert progress_bar(None, total=3).disable is True
    assert progress_bar(False, total=3).disable is True
    assert progress_bar(True, total=3).disable is False


def test_no_iprogress_warning_in_a_kernel_without_ipywidgets(monkeypatch):
    """tqdm.auto warns 'IProgress not found' inside a Jupyter kernel without ipywidgets; the
    warning (with a site-packages path) used to land in every stored notebook output."""
    import tqdm.notebook

    class ZMQInteractiveShell:  # what tqdm looks for to decide it is in a notebook kernel
        config = {"IPKernelApp": {}}

    fake_ipython = types.ModuleType("IPython")
    fake_ipython.get_ipython = lambda: ZMQInteractiveShell()
    monkeypatch.setitem(sys.modules, "IPython", fake_ipython)
    monkeypatch.setitem(sys.modules, "ipykernel.zmqshell", types.ModuleType("ipykernel.zmqshell"))
    monkeypatch.setattr(tqdm.notebook, "IProgress", None)
    for name in ("tqdm.auto", "tqdm.autonotebook"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bar = progress_bar(False, total=1)
    bar.close()
    # the set-up does reach tqdm's warning: importing tqdm.auto bare warns
    monkeypatch.delitem(sys.modules, "tqdm.auto")
    monkeypatch.delitem(sys.modules, "tqdm.autonotebook")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        import tqdm.auto  # noqa: F401
    assert any("IProgress" in str(w.message) for w in seen)
