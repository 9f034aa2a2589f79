"""A Green Software Foundation Impact Framework (IF) manifest of an audit, so an independent
engine (`if-run` from npm `@grnsft/if`, tested with 1.1.0) recomputes our totals.

Tree: ``tree.children.inventory.children.<stage>.children.<activity_id>``, one leaf
(component) per line; with SCI rows, ``tree.children.sci.children.<functional unit>`` leaves
compute SCI with the builtin ``Sci`` (their energy and carbon use other parameter names or
are left out of aggregation, so they never add to the inventory).

- An energy-based line (kWh > 0) has inputs ``energy`` (kWh) and ``grid/carbon-intensity``
  (gCO2e/kWh); the builtin ``Multiply`` computes ``carbon-operational`` (gCO2e).
- A line IF cannot rebuild from energy (travel, fuel, freight, hotel nights, well-to-tank
  and T&D, amortised embodied) carries its emissions as an input: ``carbon-embodied`` for
  amortised embodied lines, ``carbon-other`` for the rest (gCO2e, from our estimate).
- The builtin ``Sum`` adds ``carbon-operational + carbon-embodied + carbon-other`` into
  ``carbon`` (gCO2e), and ``Divide`` by 1000 gives ``carbon-kg``.
  (IF parameter names may hold letters joined by "-", "_" or "/" only: no digits.)
- IF's component aggregation sums ``carbon``, ``carbon-kg`` and ``energy`` up the tree,
  so ``tree.children.inventory.aggregated.carbon-kg`` is the location-based total
  (``totals.kgco2e``).

Every leaf has one observation covering the reporting period (``timestamp`` = period start,
``duration`` = period length in seconds). The intensity of a line is its grid factor from the
factor register (unit gCO2e/kWh or kgCO2e/kWh); when no such factor is found it is the line's
kgCO2e x 1000 / kWh and the leaf says so in its ``description``.

Only ``yaml`` and the standard library are used; the manifest is plain data.
"""
from __future__ import annotations

import math
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from audit.core.atomic import write_text
from audit.core.exceptions import Problem, ValidationError

IF_PACKAGE = "@grnsft/if"
IF_VERSION = "1.1.0"
EMBODIED_METHODS = ("embodied_amortised",)

_PLUGINS: dict[str, Any] = {
    "operational-carbon": {
        "method": "Multiply",
        "path": "builtin",
        "config": {"input-parameters": ["energy", "grid/carbon-intensity"],
                   "output-parameter": "carbon-operational"},
        "parameter-metadata": {
            "inputs": {
                "energy": {"unit": "kWh", "description": "energy of the line (facility energy, PUE included)",
                           "aggregation-method": {"time": "sum", "component": "sum"}},
                "grid/carbon-intensity": {"unit": "gCO2e/kWh", "description": "location-based grid intensity",
                                          "aggregation-method": {"time": "avg", "component": "avg"}},
            },
            "outputs": {
                "carbon-operational": {"unit": "gCO2e", "description": "energy x grid intensity",
                                       "aggregation-method": {"time": "sum", "component": "sum"}},
            },
        },
    },
    "sum-carbon": {
        "method": "Sum",
        "path": "builtin",
        "config": {"input-parameters": ["carbon-operational", "carbon-embodied", "carbon-other"],
                   "output-parameter": "carbon"},
        "parameter-metadata": {
            "inputs": {
                "carbon-embodied": {"unit": "gCO2e", "description": "amortised embodied emissions of the line",
                                    "aggregation-method": {"time": "sum", "component": "sum"}},
                "carbon-other": {"unit": "gCO2e",
                                 "description": "emissions not rebuilt from energy (activity x conversion factor)",
                                 "aggregation-method": {"time": "sum", "component": "sum"}},
            },
            "outputs": {
                "carbon": {"unit": "gCO2e", "description": "operational + embodied + other",
                           "aggregation-method": {"time": "sum", "component": "sum"}},
            },
        },
    },
    "carbon-to-kg": {
        "method": "Divide",
        "path": "builtin",
        "config": {"numerator": "carbon", "denominator": 1000, "output": "carbon-kg"},
        "parameter-metadata": {
            "outputs": {
                "carbon-kg": {"unit": "kgCO2e", "description": "carbon / 1000",
                                  "aggregation-method": {"time": "sum", "component": "sum"}},
            },
        },
    },
}
_PIPELINE = ["operational-carbon", "sum-carbon", "carbon-to-kg"]

# SCI leaves reuse Sum with their own energy names, so the inventory's aggregated
# ``energy`` and ``carbon-kg`` never count them twice.
_SCI_PLUGINS: dict[str, Any] = {
    "sci-operational-carbon": {
        "method": "Multiply",
        "path": "builtin",
        "config": {"input-parameters": ["sci/energy", "sci/grid-intensity"],
                   "output-parameter": "carbon-operational"},
        "parameter-metadata": {
            "inputs": {
                "sci/energy": {"unit": "kWh", "description": "SCI E: energy inside the SCI boundary",
                               "aggregation-method": {"time": "sum", "component": "none"}},
                "sci/grid-intensity": {"unit": "gCO2e/kWh", "description": "SCI I: location-based intensity",
                                       "aggregation-method": {"time": "avg", "component": "none"}},
                "functional-units": {"unit": "count", "description": "SCI R: number of functional units",
                                     "aggregation-method": {"time": "sum", "component": "none"}},
            },
        },
    },
    "sci": {
        "method": "Sci",
        "path": "builtin",
        "config": {"functional-unit": "functional-units"},
        "parameter-metadata": {
            "outputs": {
                "sci": {"unit": "gCO2e per functional unit", "description": "SCI = (E x I + M) per R",
                        "aggregation-method": {"time": "avg", "component": "none"}},
            },
        },
    },
}
_SCI_PIPELINE = ["sci-operational-carbon", "sum-carbon", "sci"]


def _node_name(text: str, taken: set[str]) -> str:
    """A YAML-safe, unique node name (client text stays data: only [A-Za-z0-9._~-] kept, so
    derived line ids such as ``GEN-01~wtt`` keep their names)."""
    base = re.sub(r"[^A-Za-z0-9._~-]+", "-", text).strip("-") or "node"
    name, n = base, 2
    while name.lower() in taken:
        name, n = f"{base}-{n}", n + 1
    taken.add(name.lower())
    return name


def _period(period: str | int | None) -> tuple[str, int]:
    """(ISO timestamp of the period start, duration in seconds) for a period like "2025"."""
    text = str(period or "").strip()
    year = int(text[:4]) if re.match(r"^\d{4}", text) else 2025
    start = datetime(year, 1, 1, tzinfo=timezone.utc)
    end = datetime(year + 1, 1, 1, tzinfo=timezone.utc)
    return start.strftime("%Y-%m-%dT%H:%M:%S.000Z"), int((end - start).total_seconds())


def grid_intensity_g_per_kwh(line: Mapping[str, Any], factors_by_id: Mapping[str, Mapping[str, Any]]
                             ) -> tuple[float, str]:
    """(gCO2e/kWh, how it was found) for an energy-based line: the grid factor named in its
    ``factor_ids`` (gCO2e/kWh, or kgCO2e/kWh x 1000), else kgCO2e x 1000 / kWh."""
    for fid in line.get("factor_ids") or []:
        f = factors_by_id.get(str(fid))
        if not f:
            continue
        unit = str(f.get("unit", "")).replace(" ", "")
        if unit in ("gCO2e/kWh", "g/kWh"):
            return float(f["value"]), str(fid)
        if unit == "kgCO2e/kWh":
            return float(f["value"]) * 1000.0, str(fid)
    return float(line["kgco2e"]) * 1000.0 / float(line["kwh"]), "implied: kgCO2e x 1000 / kWh"


def build_manifest(results: Mapping[str, Any], name: str | None = None,
                   rel_tolerance: float = 1e-9,
                   sci_rows: Sequence[Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """The IF manifest (a dict ready for yaml.safe_dump) of a results.json-shaped mapping
    with ``activities``, ``factors`` and ``engagement``.

    A line whose kWh x register intensity / 1000 differs from its kgCO2e by more than
    ``rel_tolerance`` (e.g. an hour-aware estimate) gets the implied intensity instead, so the
    manifest always reproduces our figures; its description says which it used.
    """
    activities = results.get("activities")
    if not isinstance(activities, Sequence) or not activities:
        raise ValidationError([Problem(file="results.json", column="activities",
                                       message="no activities to write into the manifest")])
    factors = {str(f["factor_id"]): f for f in results.get("factors") or []}
    engagement = results.get("engagement") or {}
    timestamp, duration = _period(engagement.get("period"))
    problems: list[Problem] = []
    stages: dict[str, dict[str, Any]] = {}
    stage_names: dict[str, str] = {}
    taken_stage: set[str] = set()
    taken_leaf: set[str] = set()
    for i, line in enumerate(activities):
        aid = str(line.get("activity_id") or f"line-{i + 1}")
        kg = line.get("kgco2e")
        if not isinstance(kg, (int, float)) or not math.isfinite(kg):
            problems.append(Problem(file=f"results.json activity '{aid}'", column="kgco2e",
                                    message=f"kgco2e must be a finite number, not {kg!r}"))
            continue
        stage = str(line.get("stage") or "Unstaged")
        if stage not in stage_names:
            stage_names[stage] = _node_name(stage, taken_stage)
            stages[stage_names[stage]] = {"children": {}}
        kwh = float(line.get("kwh") or 0.0)
        inputs: dict[str, Any] = {"timestamp": timestamp, "duration": duration, "energy": 0.0,
                                  "grid/carbon-intensity": 0.0, "carbon-embodied": 0.0,
                                  "carbon-other": 0.0}
        description = str(line.get("description") or "")
        if line.get("method") in EMBODIED_METHODS:
            inputs["carbon-embodied"] = float(kg) * 1000.0
            basis = "embodied emissions carried from the estimate"
        elif kwh > 0:
            intensity, how = grid_intensity_g_per_kwh(line, factors)
            if abs(kwh * intensity / 1000.0 - kg) > rel_tolerance * max(abs(kg), 1e-300):
                intensity, how = float(kg) * 1000.0 / kwh, "implied: kgCO2e x 1000 / kWh"
            inputs["energy"], inputs["grid/carbon-intensity"] = kwh, intensity
            basis = f"energy x grid intensity ({how})"
        else:
            inputs["carbon-other"] = float(kg) * 1000.0
            basis = "emissions carried from the estimate (not energy-based)"
        leaf_name = _node_name(aid, taken_leaf)
        stages[stage_names[stage]]["children"][leaf_name] = {
            "description": f"{description} [{basis}]".strip(),
            "pipeline": {"compute": list(_PIPELINE)},
            "inputs": [inputs],
        }
    if problems:
        raise ValidationError(problems)
    client = str(engagement.get("client") or "engagement")
    plugins = dict(_PLUGINS)
    children: dict[str, Any] = {"inventory": {"children": stages}}
    if sci_rows:
        plugins.update(_SCI_PLUGINS)
        taken_fu: set[str] = set()
        leaves = {}
        for row in sci_rows:
            leaves[_node_name(str(row["functional_unit"]), taken_fu)] = {
                "description": f"SCI per {row['functional_unit']} = (E x I + M) per R, gCO2e",
                "pipeline": {"compute": list(_SCI_PIPELINE)},
                "inputs": [{"timestamp": timestamp, "duration": duration,
                            "sci/energy": float(row["E"]), "sci/grid-intensity": float(row["I"]),
                            "carbon-operational": 0.0, "carbon-embodied": float(row["M"]),
                            "carbon-other": 0.0, "functional-units": float(row["R"]),
                            # IF aggregates a metric only if every leaf has it; zeros keep the
                            # inventory totals whole at the tree root too.
                            "energy": 0.0, "carbon-kg": 0.0}],
            }
        children["sci"] = {"children": leaves}
    return {
        "name": name or f"genai-content-audit {client} {engagement.get('period') or ''}".strip(),
        "description": ("Emissions of the audit's lines, recomputable with the Impact Framework "
                        f"({IF_PACKAGE} {IF_VERSION}): if-run -m manifest.if.yaml. "
                        "tree.children.inventory.aggregated.carbon-kg equals results.json totals.kgco2e "
                        "(location-based Scope 2)."),
        "tags": None,
        "aggregation": {"metrics": ["carbon-kg", "energy"], "type": "component"},
        "initialize": {"plugins": plugins},
        "tree": {"children": children},
    }


MANIFEST_FILE = "manifest.if.yaml"


def write_manifest(results: Mapping[str, Any], path: str | Path,
                   sci_rows: Sequence[Mapping[str, Any]] | None = None) -> Path:
    """Write the manifest as YAML to ``path`` (atomically) and return the path. ``sci_rows``
    defaults to the results' own ``sci`` block (results.json)."""
    path = Path(path)
    if sci_rows is None:
        sci_rows = results.get("sci") or None
    text = yaml.safe_dump(build_manifest(results, sci_rows=sci_rows), sort_keys=False,
                          allow_unicode=True)
    write_text(path, text)
    return path


def aggregated_totals(if_output: Mapping[str, Any]) -> dict[str, float]:
    """{kgco2e, kwh} from an if-run output manifest's inventory node (``tree.children.
    inventory.aggregated``), and {functional unit node: sci} from its SCI leaves."""
    children = (if_output.get("tree") or {}).get("children") or {}
    agg = (children.get("inventory") or {}).get("aggregated") or {}
    sci_values = {name: float(node["outputs"][0]["sci"])
                  for name, node in ((children.get("sci") or {}).get("children") or {}).items()}
    return {"kgco2e": float(agg["carbon-kg"]), "kwh": float(agg["energy"]), "sci": sci_values}
