"""The layering of docs/architecture.md holds (make lint checks the same with lint-imports and ruff)."""
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import audit
from scripts.check_import_cycles import import_cycles
from scripts.check_private_imports import FOLDERS, ROOT, violations

REPO = Path(__file__).resolve().parents[1]


def test_no_import_cycles():
    assert import_cycles() == []


def test_no_private_name_crosses_a_module_boundary():
    found = [v for folder in FOLDERS for p in sorted((ROOT / folder).rglob("*.py")) for v in violations(p)]
    assert found == []


def test_the_private_name_check_catches_one(tmp_path, monkeypatch):
    bad = ROOT / "audit" / "_scratch_private_import.py"
    bad.write_text("from audit.inventory.results import _records\n")
    try:
        assert violations(bad) == ["audit/_scratch_private_import.py:1: from audit.inventory.results import _records"]
    finally:
        bad.unlink()


def test_public_api_names_resolve_and_import_audit_stays_light():
    for name in audit.__all__:
        assert getattr(audit, name) is not None, name
    code = "import sys, audit; print(sorted(m for m in ('matplotlib', 'openpyxl', 'ecologits', 'codecarbon') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "[]"


def _listed(cell: str) -> tuple[list[str], dict[str, list[str]]]:
    """The modules a table cell names: the top-level ones, and each sub-package's in brackets."""
    top = re.findall(r"`(\w+)`", re.sub(r"\([^)]*\)", "", cell))
    subs = {name: re.findall(r"`(\w+)`", inner) for name, inner in re.findall(r"`(\w+)` \(([^)]*)\)", cell)}
    return top, subs


def _modules_in(folder: Path) -> set[str]:
    return {p.stem for p in folder.glob("*.py") if p.stem != "__init__"} | \
           {p.name for p in folder.iterdir() if (p / "__init__.py").is_file()}


def test_the_architecture_page_lists_every_module_in_its_contract_order():
    """docs/architecture.md's layer table names every module of each layer and sub-package,
    bottom up, in the order of the import contracts in pyproject.toml (which lint-imports checks
    against the code), and the modules on disk are exactly those."""
    page = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    contracts = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]["contracts"]
    by_container = {c["containers"][0]: c["layers"] for c in contracts if c.get("containers")}
    layers = next(c["layers"] for c in contracts if c["id"] == "layers")
    rows = re.findall(r"^\| `(\w+)` \|.*\| ([^|]+) \|$", page, re.M)
    assert [layer for layer, _ in rows] == [name.removeprefix("audit.") for name in reversed(layers)]
    for layer, cell in rows:
        top, subs = _listed(cell)
        assert top == list(reversed(by_container[f"audit.{layer}"])), layer
        assert set(top) == _modules_in(REPO / "audit" / layer), layer
        for sub, names in subs.items():
            assert names == list(reversed(by_container[f"audit.{layer}.{sub}"])), f"{layer}.{sub}"
            assert set(names) == _modules_in(REPO / "audit" / layer / sub), f"{layer}.{sub}"
