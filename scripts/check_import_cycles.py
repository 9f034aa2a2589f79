"""Fail when audit's modules import one another in a circle (grimp's graph, networkx cycles).

Every import counts, at module level or inside a function. The package ``__init__`` files
that only gather public names (``audit``, ``audit.cli``, ``audit.inventory.usage``) are
nodes like any other, so a module that imports its own package's ``__init__`` shows up too.

    python scripts/check_import_cycles.py       # exit 1 and each cycle when any is found
"""
from __future__ import annotations

import sys

import grimp
import networkx as nx


def import_cycles(package: str = "audit") -> list[list[str]]:
    """Each elementary cycle of direct imports among ``package``'s modules."""
    graph = grimp.build_graph(package)
    g = nx.DiGraph()
    for module in graph.modules:
        g.add_node(module)
        for imported in graph.find_modules_directly_imported_by(module):
            g.add_edge(module, imported)
    return [c for c in nx.simple_cycles(g)]


def main() -> int:
    cycles = import_cycles()
    for c in cycles:
        print(" -> ".join(c + c[:1]))
    if cycles:
        print(f"{len(cycles)} import cycle(s)", file=sys.stderr)
        return 1
    print("no import cycles")
    return 0


if __name__ == "__main__":
    sys.exit(main())
