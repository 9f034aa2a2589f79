"""Atomic file writes: a reader (a consultant, Excel, a resumed batch) never sees half a file.

Every deliverable and every file the toolkit writes into a client's folder goes through
``atomic_path``: the content is written to a temporary file in the same folder and moved over
the target in one ``os.replace``, so the target is either the old file or the whole new one.
A failed write removes the temporary file and leaves the old target untouched.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _read_umask() -> int:
    mask = os.umask(0)  # the only portable way to read it; done once, before any worker threads
    os.umask(mask)
    return mask


_DEFAULT_MODE = 0o666 & ~_read_umask()


def _final_mode(path: Path) -> int:
    """Keep the mode of the file being replaced; a new file gets the usual ``0666 & ~umask``
    (``mkstemp`` would leave it 0600)."""
    try:
        return path.stat().st_mode & 0o777
    except FileNotFoundError:
        return _DEFAULT_MODE


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block ends without an error, the
    temporary file replaces ``path``. Creates the parent folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, _final_mode(path))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, flushed to disk before the replace."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def write_text(path: str | Path, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    write_bytes(path, text.encode("utf-8"))
