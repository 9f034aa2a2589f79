"""Input files stay inside the engagement folder, are regular files of bounded size, and are
counted once.

Issue 17 found: ``activities.csv`` linked to ``/dev/zero`` grew until memory ran out; a FIFO
hung for ever; a link to another client's file was read without comment; ``usage_logs:
[shared]`` with ``shared -> /`` walked the whole filesystem; a symlink in ``usage/`` or a link
loop under a ``**`` glob counted one log 2x or 41x.

* ``resolve_input(path, root, what=...)``: the one resolved ``Path`` of an input, refused
  (``ValidationError`` naming the file) when it leaves ``root``, is in a link loop, is not a
  regular file (FIFO, device, socket, folder) or is over its size cap. Nothing is opened:
  only ``lstat``/``stat``, so a FIFO cannot hang.
* ``open_input(path, max_bytes=...)``: open a resolved input for reading with ``O_NONBLOCK``
  and ``O_NOFOLLOW`` and check again on the open descriptor (the file may have been swapped).
* ``read_input_bytes(path, root, what=...)``: both, and at most the cap read.
* ``unique_log_files(paths)``: drop repeats by resolved path and by (st_dev, st_ino), with a
  note for each one dropped.
* ``find_inputs(pattern, root, what=...)``: a folder or glob (``*``, ``?``, ``[...]``, ``**``)
  expanded inside ``root`` without following symlinked folders (so no loop, no escape), with
  caps on files found and entries visited.

Caps: ``MAX_INPUT_BYTES`` (default 8 GiB, any one input file; environment variable
``AUDIT_MAX_INPUT_BYTES`` or the ``max_bytes`` argument overrides it), ``MAX_GLOB_FILES`` and
``MAX_GLOB_ENTRIES``.
"""
from __future__ import annotations

import errno
import os
import re
import stat
from pathlib import Path

from audit.core.exceptions import Problem, ValidationError
from audit.core.identifiers import excerpt

MAX_INPUT_BYTES = 8 << 30  # 8 GiB: a usage log of ~50 M requests; override per call or by environment
MAX_INPUT_BYTES_ENV = "AUDIT_MAX_INPUT_BYTES"
MAX_GLOB_FILES = 100_000
MAX_GLOB_ENTRIES = 1_000_000

_KIND = {stat.S_IFIFO: "a FIFO (named pipe)", stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
         stat.S_IFSOCK: "a socket", stat.S_IFDIR: "a folder", stat.S_IFLNK: "a symbolic link"}


def max_input_bytes() -> int:
    """The size cap in force: ``AUDIT_MAX_INPUT_BYTES`` when set to a positive integer, else
    ``MAX_INPUT_BYTES``."""
    raw = os.environ.get(MAX_INPUT_BYTES_ENV, "").strip().replace("_", "")
    return int(raw) if raw.isdigit() and int(raw) > 0 else MAX_INPUT_BYTES


def _refuse(file, message: str, hint: str | None = None) -> ValidationError:
    return ValidationError([Problem(str(file), message, hint=hint)])


def _kind_of(mode: int) -> str:
    return _KIND.get(stat.S_IFMT(mode), "not a regular file")


def _size_text(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:,.1f} {unit}"
    return f"{n:,} bytes"


def _realpath(path: Path, shown: str) -> Path:
    """``path`` with every link resolved; a loop or a missing part is refused."""
    try:
        return Path(path).resolve(strict=True)
    except RuntimeError:  # Python < 3.13 reports a symlink loop this way
        raise _refuse(shown, "is a symbolic link loop") from None
    except FileNotFoundError:
        if Path(path).is_symlink() or os.path.lexists(path):
            raise _refuse(shown, "is a link to something that does not exist") from None
        raise _refuse(shown, "file not found") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _refuse(shown, "is a symbolic link loop") from None
        raise _refuse(shown, f"cannot be read ({exc.strerror or type(exc).__name__})") from None


def check_regular(path: Path, shown: str, st: os.stat_result, max_bytes: int | None = None) -> None:
    """Refuse anything but a regular file of at most ``max_bytes`` (default: the cap in force)."""
    if not stat.S_ISREG(st.st_mode):
        raise _refuse(shown, f"is {_kind_of(st.st_mode)}, not a regular file",
                      "give a file saved in the engagement folder")
    cap = max_input_bytes() if max_bytes is None else max_bytes
    if st.st_size > cap:
        raise _refuse(shown, f"is {_size_text(st.st_size)}, over the {_size_text(cap)} limit for one input file",
                      f"if the file is right, raise the limit: --max-input-mb, or {MAX_INPUT_BYTES_ENV}=<bytes>")


def resolve_input(path, root, *, what: str = "input", max_bytes: int | None = None,
                  allow_outside: bool = False) -> Path:
    """The resolved path of one input file, checked without opening it.

    ``path``: as the user gave it (absolute, or relative to the current folder, as ``open``
    takes it); ``root``: the engagement folder it must stay in (after resolving links);
    ``what``: how messages name it ("usage log", "activities file"). Raises
    ``ValidationError`` with one ``Problem`` naming ``path``."""
    shown = str(path)
    real = _realpath(Path(path), shown)
    root_real = _realpath(Path(root), str(root))
    if not allow_outside and real != root_real and not real.is_relative_to(root_real):
        via = " through a link" if Path(path).absolute() != real else ""
        raise _refuse(shown, f"{what} leads{via} to {excerpt(str(real), 120)}, outside the engagement folder "
                      f"{excerpt(str(root_real), 120)}", "copy the file into the engagement folder")
    try:
        st = os.stat(real)
    except OSError as exc:
        raise _refuse(shown, f"cannot be read ({exc.strerror or type(exc).__name__})") from None
    check_regular(real, shown, st, max_bytes)
    return real


def open_input(path, *, max_bytes: int | None = None, shown: str | None = None):
    """Open a resolved input for binary reading: no link followed at the last step, never
    blocking on a FIFO, and the open descriptor checked to be a regular file within the cap."""
    shown = shown or str(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _refuse(shown, "became a symbolic link after it was checked") from None
        raise _refuse(shown, f"cannot be opened ({exc.strerror or type(exc).__name__})") from None
    try:
        check_regular(Path(path), shown, os.fstat(fd), max_bytes)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_input_bytes(path, root, *, what: str = "input", max_bytes: int | None = None) -> bytes:
    """``resolve_input`` then read the file: at most the cap, even if it grows meanwhile."""
    real = resolve_input(path, root, what=what, max_bytes=max_bytes)
    cap = max_input_bytes() if max_bytes is None else max_bytes
    with open_input(real, max_bytes=cap, shown=str(path)) as f:
        # Its size as checked, then whatever it grew by, in 1 MiB reads: never a buffer of the cap.
        parts = [f.read(os.fstat(f.fileno()).st_size)]
        total = len(parts[0])
        while total <= cap and (more := f.read(1 << 20)):
            parts.append(more)
            total += len(more)
        data = parts[0] if len(parts) == 1 else b"".join(parts)
    if len(data) > cap:
        raise _refuse(path, f"grew past the {_size_text(cap)} limit while being read")
    return data


def unique_log_files(paths) -> tuple[list[Path], list[str]]:
    """``paths`` without repeats, in first-seen order: the same resolved path (a symbolic
    link), or the same file under two names (a hard link: equal ``(st_dev, st_ino)``).
    Returns the files (resolved) and one note per file dropped, naming both."""
    return _unique([(str(p), _realpath(Path(p), str(p))) for p in paths])


def _unique(pairs: list[tuple[str, Path]]) -> tuple[list[Path], list[str]]:
    files: list[Path] = []
    notes: list[str] = []
    by_path: dict[Path, str] = {}
    by_inode: dict[tuple[int, int], str] = {}
    for shown, real in pairs:
        if real in by_path:
            notes.append(f"{shown} is the same file as {by_path[real]} (a link); counted once")
            continue
        st = os.stat(real)
        inode = (st.st_dev, st.st_ino)
        if inode in by_inode:
            notes.append(f"{shown} is the same file as {by_inode[inode]} (a hard link); counted once")
            continue
        by_path[real] = by_inode[inode] = shown
        files.append(real)
    return files, notes


# --- bounded glob --------------------------------------------------------------------------------

_MAGIC = re.compile(r"[*?\[]")


def _translate(pattern: str) -> re.Pattern:
    """A glob over '/'-separated relative paths as a regex: '**' as a whole component matches
    zero or more folders, '*' and '?' stay within one component, '[...]' a character class."""
    out = []
    parts = pattern.split("/")
    for n, part in enumerate(parts):
        last = n == len(parts) - 1
        if part == "**":
            out.append(".*" if last else "(?:[^/]*/)*")
            continue
        i, piece = 0, []
        while i < len(part):
            c = part[i]
            if c == "*":
                piece.append("[^/]*")
            elif c == "?":
                piece.append("[^/]")
            elif c == "[":
                j = part.find("]", i + 2 if part[i + 1:i + 2] in ("!", "]") else i + 1)
                if j < 0:
                    piece.append(re.escape(c))
                else:
                    body = part[i + 1:j].replace("\\", "\\\\")
                    piece.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
                    i = j
            else:
                piece.append(re.escape(c))
            i += 1
        out.append("".join(piece) + ("" if last else "/"))
    return re.compile("".join(out) + r"\Z", re.DOTALL)


def _walk(top: Path, notes: list[str], max_entries: int, shown: str):
    """Every regular file and file link under ``top`` (relative posix path, path), never
    descending into a symlinked folder; at most ``max_entries`` directory entries looked at."""
    stack, seen = [top], 0
    while stack:
        folder = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            notes.append(f"{folder}: skipped ({exc.strerror or type(exc).__name__})")
            continue
        for entry in entries:
            seen += 1
            if seen > max_entries:
                raise _refuse(shown, f"looks at more than {max_entries:,} files and folders",
                              "name the log files or a narrower pattern")
            path = Path(entry.path)
            if entry.is_dir(follow_symlinks=False):
                stack.append(path)
            elif entry.is_symlink() and os.path.isdir(path):
                notes.append(f"{path}: a link to a folder, not followed")
            else:
                yield path.relative_to(top).as_posix(), path


def find_inputs(pattern, root, *, what: str = "usage log", suffixes: tuple[str, ...] | None = None,
                max_files: int = MAX_GLOB_FILES, max_entries: int = MAX_GLOB_ENTRIES,
                max_bytes: int | None = None) -> tuple[list[Path], list[str]]:
    """The input files a path, folder or glob names, each passed through ``resolve_input``
    and deduplicated (``unique_log_files``). Returns (resolved files, notes).

    ``pattern`` is relative to ``root`` unless absolute. A folder yields its files (those
    ending in ``suffixes`` when given), recursively. Symlinked folders are never entered, so
    link loops end and links to '/' are not walked; a link to a file is followed, then
    refused if it leaves ``root``. Raises ``ValidationError`` when nothing matches."""
    root_real = _realpath(Path(root), str(root))
    text = str(pattern)
    full = Path(text) if os.path.isabs(text) else Path(root) / text
    notes: list[str] = []
    parts = full.as_posix().split("/")
    fixed = next((i for i, part in enumerate(parts) if _MAGIC.search(part)), None)
    if fixed is None:
        if os.path.isdir(full) and not os.path.islink(full):
            candidates = [p for _, p in _walk(full, notes, max_entries, text)]
            if suffixes:
                candidates = [p for p in candidates if p.name.lower().endswith(tuple(s.lower() for s in suffixes))]
        elif os.path.islink(full) and os.path.isdir(full):
            # A link to a folder named directly: allowed only when it stays inside root.
            target = _realpath(full, text)
            if target != root_real and not target.is_relative_to(root_real):
                raise _refuse(text, f"{what} folder leads through a link to {excerpt(str(target), 120)}, outside "
                              "the engagement folder", "copy the logs into the engagement folder")
            candidates = [p for _, p in _walk(target, notes, max_entries, text)]
            if suffixes:
                candidates = [p for p in candidates if p.name.lower().endswith(tuple(s.lower() for s in suffixes))]
        else:
            candidates = [full]
    else:
        base = Path("/".join(parts[:fixed]) or "/")
        if os.path.islink(base) or not os.path.isdir(base):
            raise _refuse(text, "no files match this pattern" if not os.path.isdir(base)
                          else "the pattern starts in a linked folder; name the folder itself")
        base_real = _realpath(base, text)
        if base_real != root_real and not base_real.is_relative_to(root_real):
            raise _refuse(text, f"{what} pattern starts outside the engagement folder, in {excerpt(str(base_real), 120)}",
                          "name files inside the engagement folder")
        regex = _translate("/".join(parts[fixed:]))
        candidates = [p for rel, p in _walk(base, notes, max_entries, text) if regex.match(rel)]
    if len(candidates) > max_files:
        raise _refuse(text, f"matches {len(candidates):,} files, more than the {max_files:,} allowed")
    if not candidates:
        raise _refuse(text, "no files match this pattern" if fixed is not None else "holds no matching files")
    resolved = [(str(p), resolve_input(p, root_real, what=what, max_bytes=max_bytes)) for p in candidates]
    files, dup_notes = _unique(resolved)
    return files, notes + dup_notes
