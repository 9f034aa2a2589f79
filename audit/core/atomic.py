"""Atomic file writes: a reader (a consultant, Excel, a resumed batch) never sees half a file.

Every deliverable and every file the toolkit writes into a client's folder goes through
``atomic_path``: the content is written to a temporary file in the same folder and moved over
the target in one ``os.replace``, so the target is either the old file or the whole new one.
A failed write removes the temporary file and leaves the old target untouched.
"""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _new_temp_file(path: Path) -> Path:
    """An empty file beside ``path``, created with mode 0666 so that the process's umask
    applies as it does to any new file (``mkstemp`` would force 0600)."""
    while True:
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            return tmp
        except FileExistsError:  # pragma: no cover - 32 random bits
            continue


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block ends without an error, the
    temporary file replaces ``path``. Creates the parent folder."""
    path = Path(path)
    if path.is_symlink():  # write through the link, as a plain open() would, rather than replace it
        path = Path(os.path.realpath(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _new_temp_file(path)
    try:
        yield tmp
        if path.exists():  # keep the mode of the file being replaced
            os.chmod(tmp, path.stat().st_mode & 0o777)
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
