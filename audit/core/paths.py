"""Every filesystem location the toolkit knows about, in one place.

The package runs from a source checkout (``pip install -e .``), so data, templates and
notebooks are found relative to the repository root. ``AUDIT_DATA_DIR`` and friends let a
consultancy point the toolkit at its own vetted copies without editing code.
"""
from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path

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
INTERVENTIONS_FILE = DATA_DIR / "interventions.yaml"

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
