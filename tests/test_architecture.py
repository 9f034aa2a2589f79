"""The layering of docs/architecture.md holds (make lint checks the same with lint-imports and ruff)."""
import subprocess
import sys
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
