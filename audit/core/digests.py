"""SHA-256 digests of input files, streamed and remembered (usage logs can be gigabytes)."""
from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, remembered while its size and modification time are unchanged."""
    st = path.stat()
    return sha256_of(str(path.resolve()), st.st_size, st.st_mtime_ns)


@lru_cache(maxsize=256)
def sha256_of(path: str, size: int, mtime_ns: int) -> str:
    """Streamed (usage logs can be gigabytes) and remembered while the file is unchanged:
    each notebook of a run loads the engagement again."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
