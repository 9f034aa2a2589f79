"""`audit list WHAT [--search TEXT]`: the vocabulary an engagement may use (kinds, modes, LLM and
video models, regions, units, hardware, providers), from the same tables the intake checks against."""
from __future__ import annotations

from enum import Enum
from typing import Annotated, Optional

import pandas as pd
import typer

from audit.cli.common import DebugOpt, app, guard
from audit.core.paths import DATA_DIR
from audit.inventory.usage_import.aliases import model_catalogue, video_models
from audit.reference.scopes import kinds_table
from audit.reference.vocabularies import (
    hardware_ids,
    known_countries,
    modes_by_kind,
    providers,
    region_aliases,
    unit_aliases,
)


class Vocabulary(str, Enum):
    kinds = "kinds"
    modes = "modes"
    models = "models"
    video_models = "video-models"
    regions = "regions"
    units = "units"
    hardware = "hardware"
    providers = "providers"


def vocabulary(what: Vocabulary) -> pd.DataFrame:
    """One table per vocabulary, one row per accepted value."""
    if what is Vocabulary.kinds:
        k = kinds_table().reset_index()
        kind_base = dict(zip(k["kind"], k["base_unit"]))
        return k[["kind", "base_unit", "family", "description"]]
    if what is Vocabulary.modes:
        return pd.DataFrame([{"kind": kind, "mode": m} for kind, modes in sorted(modes_by_kind().items())
                             for m in sorted(modes)])
    if what is Vocabulary.models:
        return model_catalogue()
    if what is Vocabulary.video_models:
        return pd.DataFrame([{"provider": p, "model": m} for p, ms in sorted(video_models().items())
                             for m in sorted(ms)])
    if what is Vocabulary.regions:
        names = region_aliases()
        by_iso: dict[str, list[str]] = {}
        for alias, iso in names.items():
            by_iso.setdefault(iso, []).append(alias)
        return pd.DataFrame([{"region": c, "also_read": ", ".join(sorted(by_iso.get(c, [])))}
                             for c in sorted(known_countries())])
    if what is Vocabulary.units:
        k = kinds_table().reset_index()
        kind_base = dict(zip(k["kind"], k["base_unit"]))
        lines = [ln.split("#")[0].strip() for ln in (DATA_DIR / "units.txt").read_text(encoding="utf-8").splitlines()]
        spellings = {}
        for ln in lines:
            if "=" in ln:
                names = [p.strip() for p in ln.split("=")]
                spellings[names[0]] = ", ".join(n for n in names[1:] if n and not n.startswith("[")
                                                and not n[0].isdigit() and "*" not in n)
        # Spellings a kind accepts besides its units (data/unit_aliases.csv: 'GPU hours', Runway 'credits').
        by_kind: dict[str, list[str]] = {}
        for (kind, alias), unit in unit_aliases().items():
            by_kind.setdefault(kind, []).append(f"{alias} ({unit})" if unit != kind_base.get(kind) else alias)
        return pd.DataFrame({"kind": k["kind"], "base_unit": k["base_unit"],
                             "also_accepted": k["base_unit"].map(spellings).fillna(""),
                             "spellings": k["kind"].map(lambda kd: ", ".join(by_kind.get(kd, []))).fillna("")})
    if what is Vocabulary.hardware:
        return pd.DataFrame({"hardware": hardware_ids()})
    p = providers().reset_index()
    return p[["alias", "provider", "default_region", "role"]]


@app.command("list")
@guard
def list_cmd(
    what: Annotated[Vocabulary, typer.Argument(help="kinds, modes, models, video-models, regions, units, hardware "
                                                    "or providers.")],
    search: Annotated[Optional[str], typer.Option("--search", "-s", help="Only rows containing this text "
                                                                           "(any column, ignoring case).")] = None,
    debug: DebugOpt = False,
):
    """List the names an engagement may use.

    Example:  audit list models --search claude

    Example:  audit list regions --search united
    """
    df = vocabulary(what)
    if search:
        needle = search.strip().lower()
        hit = df.astype(str).apply(lambda c: c.str.lower().str.contains(needle, regex=False)).any(axis=1)
        df = df[hit]
    if not len(df):
        typer.echo(f"no {what.value} match '{search}'")
        return
    with pd.option_context("display.max_rows", None, "display.width", 200, "display.max_colwidth", 70):
        typer.echo(df.to_string(index=False))
