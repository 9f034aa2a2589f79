"""Fail when a module imports a private name (``_x``) from another audit module.

A leading underscore means "this module's own business": another module that needs it should
get a public name instead. Checks ``from audit.x import _name`` and ``audit.x._name`` attribute
use in audit/, tests/, benchmarks/ and scripts/ (tests may still read a module's private
state through ``module._name`` on a module they import whole, e.g. to clear a cache).

    python scripts/check_private_imports.py        # exit 1 and a list when any is found
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("audit", "tests", "benchmarks", "scripts")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def violations(path: Path) -> list[str]:
    """``file:line: from audit.x import _name`` for each private name imported across modules."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    here = module_name(path)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and (node.module == "audit" or node.module.startswith("audit.")) and node.module != here:
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: from {node.module} import {alias.name}")
    return found


def main() -> int:
    found = [v for folder in FOLDERS for p in sorted((ROOT / folder).rglob("*.py")) for v in violations(p)]
    for v in found:
        print(v)
    if found:
        print(f"{len(found)} private name(s) imported across modules: give them public names", file=sys.stderr)
        return 1
    print("no private names imported across modules")
    return 0


if __name__ == "__main__":
    sys.exit(main())
