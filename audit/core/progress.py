"""Progress bars for long work (usage logs, batches): tqdm, shown on a terminal, quiet elsewhere."""

from __future__ import annotations

import sys
import warnings


def bar_shown(show: bool | None = None) -> bool:
    """Whether ``progress_bar(show)`` draws a bar: ``show`` if given, else whether stderr is a
    terminal. Lets callers skip work done only for the bar (such as counting rows)."""
    return sys.stderr.isatty() if show is None else bool(show)


def progress_bar(show: bool | None = None, **tqdm_kwargs):
    """A ``tqdm`` bar on stderr, with rate and ETA.

    ``show=None`` shows it only when stderr is a terminal, so logs, CI and papermill children stay
    quiet. In a notebook, ``tqdm.auto`` draws a widget if ipywidgets is installed and a text bar if
    not; its "IProgress not found" warning is silenced because the text bar is a fine fallback and
    the warning (with a site-packages path in it) would otherwise land in every notebook's output.
    """
    from tqdm import TqdmWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TqdmWarning)
        from tqdm.auto import tqdm

    tqdm_kwargs.setdefault("file", sys.stderr)
    return tqdm(disable=not bar_shown(show), **tqdm_kwargs)
