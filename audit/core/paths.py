"""Every filesystem location the toolkit knows about, in one place.

The package runs from a source checkout (``pip install -e .``), so data, templates and
notebooks are found relative to the repository root. ``AUDIT_DATA_DIR`` and friends let a
consultancy point the toolkit at its own vetted copies without editing code.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import unicodedata
from pathlib import Path

from audit.core.atomic import write_text
from audit.core.exceptions import InputError

PACKAGE_DIR = Path(__file__).resolve().parents[1]
PROJECT_DIR = PACKAGE_DIR.parent

DATA_DIR = Path(os.environ.get("AUDIT_DATA_DIR", PROJECT_DIR / "data"))
TEMPLATES_DIR = Path(os.environ.get("AUDIT_TEMPLATES_DIR", PROJECT_DIR / "templates"))
NOTEBOOKS_DIR = Path(os.environ.get("AUDIT_NOTEBOOKS_DIR", PROJECT_DIR / "notebooks"))

FACTORS_DIR = DATA_DIR / "factors"
SOURCES_DIR = DATA_DIR / "sources"
SAMPLE_ENGAGEMENT_DIR = DATA_DIR / "sample_engagement"

UNITS_FILE = DATA_DIR / "units.txt"
SCOPE_RULES_FILE = DATA_DIR / "scope_rules.csv"
KINDS_FILE = DATA_DIR / "kinds.csv"
INTERVENTIONS_FILE = DATA_DIR / "levers.yaml"  # the lever library (issue 12) replaced interventions.yaml

# The pipeline's notebooks, in the order papermill runs them.
PIPELINE_NOTEBOOKS = ("01_discovery.ipynb", "02_scope_mapping.ipynb", "03_feasibility.ipynb")

ENGAGEMENT_FILE = "engagement.yaml"
ACTIVITIES_FILE = "activities.csv"


def slugify(name: str, fallback: str = "engagement") -> str:
    """A file-name-safe slug: ASCII letters, digits, '-', '_' and '.', never '..' or a path.

    Client names and activity ids become file names through this function only.
    """
    text = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^A-Za-z0-9._-]+", "-", text.replace("\x00", "")).strip(".-_")
    text = re.sub(r"[-._]*-[-._]*|\.{2,}", lambda m: "-" if "-" in m.group(0) else ".", text)
    return text[:80] or fallback


def safe_child(root: Path, name: str) -> Path:
    """``root / slugify(name)``, guaranteed to stay inside ``root``."""
    root = Path(root).resolve()
    child = (root / slugify(name)).resolve()
    if child.parent != root:
        raise ValueError(f"refusing to write outside {root}: {name!r}")
    return child


def make_folder(folder: Path, what: str) -> None:
    """``mkdir -p folder``, or an InputError "<what> (<reason>)" when it cannot be made (a file
    in the way, no permission, a read-only place)."""
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{what} ({exc.strerror or exc})") from None


# --- output folders: never destroy what the user did not ask to replace -------------------------
# Every folder the toolkit writes as a whole (a run's --out, a batch root) carries this marker: a
# small JSON file naming the entries the toolkit wrote. An existing folder is replaced only if it
# is empty or its marker lists everything in it; anything else is refused with a message, so a
# mistyped --out can never remove a client's files.
OUTPUT_MARKER = ".genai-audit-output"
TOOL_NAME = "genai-content-audit"
# What `audit run` wrote before the marker existed: a folder holding only these (and whose
# manifest.json names the tool) is recognised as an earlier report of ours.
LEGACY_RUN_ENTRIES = frozenset({"report.xlsx", "report.html", "report.pdf", "results.json", "manifest.json",
                                "notebooks", "usage_by_hour.csv", "steps"})


def _is_within(inner: Path, outer: Path) -> bool:
    return inner == outer or outer in inner.parents


def check_output_location(out: str | Path, inputs, *, option: str = "--out") -> Path:
    """The resolved ``out``, or an InputError when writing there could touch an input or a
    folder nobody means to replace: ``out`` is, contains or lies inside any of ``inputs`` (the
    engagement folders, their logs and intake files), or is ``/``, the home folder, or the
    current folder or one of its parents."""
    out_path = Path(out).expanduser().resolve()
    cwd = Path.cwd().resolve()
    if out_path == Path(out_path.anchor):
        raise InputError(f"{option} {out}: refusing to write the audit into the filesystem root; "
                         "choose a new folder, e.g. reports/CLIENT")
    if out_path == Path.home().resolve():
        raise InputError(f"{option} {out}: refusing to write the audit over your home folder; "
                         "choose a new folder, e.g. reports/CLIENT")
    if _is_within(cwd, out_path) and out_path != cwd:
        raise InputError(f"{option} {out}: refusing to write the audit over {out_path}, which holds the "
                         "current folder; choose a new folder, e.g. reports/CLIENT")
    for item in inputs:
        src = Path(item).expanduser().resolve()
        if out_path == src:
            relation = "is"
        elif _is_within(src, out_path):
            relation = "contains"
        elif _is_within(out_path, src):
            relation = "lies inside"
        else:
            continue
        raise InputError(f"{option} {out}: {relation} the input {src}; the audit never writes over or into "
                         "its inputs. Choose a folder outside it, e.g. reports/" + slugify(src.name))
    return out_path


def read_marker(folder: Path) -> dict | None:
    """The toolkit's marker in ``folder`` (a dict), or None when there is none or it is not ours."""
    path = Path(folder) / OUTPUT_MARKER
    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > 1_000_000:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("tool") == TOOL_NAME else None


def write_marker(folder: Path, kind: str, entries=None, **extra) -> None:
    """Mark ``folder`` as written by the toolkit, listing ``entries`` (default: every entry now
    in it, for a folder the toolkit built from scratch)."""
    if entries is None:
        entries = (p.name for p in Path(folder).iterdir() if p.name != OUTPUT_MARKER
                   and not p.name.startswith(f".{OUTPUT_MARKER}."))
    entries = sorted(set(entries))
    write_text(Path(folder) / OUTPUT_MARKER,
               json.dumps({"tool": TOOL_NAME, "kind": kind, "entries": entries, **extra}, indent=1) + "\n")


def _legacy_run_folder(folder: Path, names: set[str]) -> bool:
    if not names <= LEGACY_RUN_ENTRIES or "results.json" not in names or "manifest.json" not in names:
        return False
    try:
        return json.loads((folder / "manifest.json").read_text(encoding="utf-8")).get("tool") == TOOL_NAME
    except (OSError, ValueError, AttributeError):
        return False


def replaceable_problem(folder: str | Path, *, option: str = "--out") -> str | None:
    """Why ``folder`` must not be replaced, or None when it may be: it does not exist, is
    empty, or holds only what the toolkit wrote there (its marker's entries)."""
    folder = Path(folder)
    if folder.is_symlink():
        return f"{option} {folder}: is a symbolic link; give the real folder"
    if not folder.exists():
        return None
    if not folder.is_dir():
        return f"{option} {folder}: is a file, not a folder"
    try:
        names = {p.name for p in folder.iterdir()}
    except OSError as exc:
        return f"{option} {folder}: cannot be read ({exc.strerror or exc})"
    if not names:
        return None
    marker = read_marker(folder)
    if marker is None:
        if _legacy_run_folder(folder, names):
            return None
        shown = ", ".join(sorted(names)[:5]) + (", …" if len(names) > 5 else "")
        return (f"{option} {folder}: this folder already exists and was not written by the toolkit "
                f"(it holds {len(names)} entries: {shown}); nothing was changed. Choose a new or empty "
                "folder, or move its contents away yourself")
    unknown = sorted(names - set(marker.get("entries", [])) - {OUTPUT_MARKER})
    if unknown:
        shown = ", ".join(unknown[:5]) + (", …" if len(unknown) > 5 else "")
        return (f"{option} {folder}: holds files the toolkit did not write ({shown}); nothing was changed. "
                "Move them out of the folder, or choose another folder")
    return None


def check_replaceable(folder: str | Path, *, option: str = "--out") -> None:
    """Raise InputError when ``folder`` may not be replaced (see replaceable_problem)."""
    problem = replaceable_problem(folder, option=option)
    if problem:
        raise InputError(problem)


def remove_own_folder(folder: Path) -> bool:
    """Delete ``folder`` only if it is the toolkit's (replaceable_problem is None); True if gone."""
    if replaceable_problem(folder) is not None:
        return False
    shutil.rmtree(folder, ignore_errors=True)
    return not folder.exists()


def clean_stale_work(out_dir: Path) -> list[Path]:
    """Remove hidden work folders of earlier runs into ``out_dir`` that died without cleaning
    up (SIGKILL, power loss): ``.OUT.tmp-*``/``.OUT.old-*`` siblings that carry the toolkit's
    marker, whose process is gone. Returns what was removed."""
    removed = []
    for folder in sorted(out_dir.parent.glob(f".{out_dir.name}.tmp-*")) + sorted(out_dir.parent.glob(f".{out_dir.name}.old-*")):
        marker = read_marker(folder)
        if marker is None or folder.is_symlink():
            continue
        pid, host = marker.get("pid"), marker.get("host")
        if pid is not None and host == socket.gethostname() and _process_alive(int(pid)):
            continue  # a run in progress
        if marker.get("kind") == "work" or replaceable_problem(folder) is None:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
