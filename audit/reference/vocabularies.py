"""Vocabularies the intake and the estimators both check against: providers, regions,
model names, hardware, modes per kind, and the "did you mean" hints.

Each vocabulary is read from one place: ``data/providers.csv``, ``data/region_aliases.csv``,
``data/kinds.csv``, the factor register and EcoLogits' shipped model tables.
"""
from __future__ import annotations

import re
from functools import lru_cache

import pandas as pd
from rapidfuzz import process as fuzz_process

from audit.core.paths import DATA_DIR
from audit.reference.factors import codecarbon_energy_mix, load_register
from audit.reference.scopes import kinds_table

PARAM_COUNT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*[bB]\s*$")  # "70B": a model given by its size


def suggest(value: str, choices, limit: int = 3) -> str | None:
    """A 'did you mean' hint from the nearest choices, or None."""
    choices = list(choices)
    if not value or not choices:
        return None
    hits = fuzz_process.extract(str(value), sorted(choices), limit=limit, score_cutoff=60)
    return f"did you mean {', '.join(repr(h[0]) for h in hits)}?" if hits else None


@lru_cache(maxsize=1)
def region_aliases() -> dict[str, str]:
    """Country names and common abbreviations (upper case) -> ISO 3166 alpha-3: codecarbon's
    country names plus data/region_aliases.csv. Used for hints only; a region is never
    rewritten silently, because the consultant must see which grid the client's text maps to."""
    mix = codecarbon_energy_mix()
    names = {str(v.get("country_name", "")).upper(): iso for iso, v in mix.items() if v.get("country_name")}
    extra = pd.read_csv(DATA_DIR / "region_aliases.csv", keep_default_na=False)
    names.update({a.upper(): iso for a, iso in zip(extra["alias"], extra["iso3"])})
    return names


def suggest_region(value: str, countries) -> str | None:
    """'did you mean' for a region: a country name or abbreviation first ('UK' -> 'GBR'),
    then the nearest codes."""
    names = region_aliases()
    text = str(value).strip().upper()
    iso = names.get(text)
    if iso is None and len(text) > 3:  # a misspelt country name: 'Frnace'
        hit = fuzz_process.extractOne(text, list(names), score_cutoff=80)
        iso = names[hit[0]] if hit else None
    if iso and iso in countries:
        return f"did you mean '{iso}'? Regions are ISO 3166 alpha-3 codes"
    return suggest(value, countries)


def read_region_alias(value: str) -> str | None:
    """The ISO-3 code an unambiguous country name or abbreviation stands for ('UK', 'GB' ->
    'GBR'; data/region_aliases.csv and codecarbon's country names), or None. The intake accepts
    it and lists the reading ("read 'UK' as GBR"), never silently."""
    iso = region_aliases().get(str(value).strip().upper())
    return iso if iso and iso in known_countries() else None


@lru_cache(maxsize=1)
def unit_aliases() -> dict[tuple[str, str], str]:
    """(kind, spelling) -> unit, from data/unit_aliases.csv: spellings that mean one unit for that
    kind only ('GPU hours', 'hrs' -> gpu_hour for gpu_compute). Spellings are compared lower-case,
    with '-' and '_' read as spaces."""
    t = pd.read_csv(DATA_DIR / "unit_aliases.csv", keep_default_na=False, dtype=str)
    return {(k, _unit_key(a)): u for k, a, u in zip(t["kind"], t["alias"], t["unit"])}


def _unit_key(text: str) -> str:
    return " ".join(str(text).lower().replace("-", " ").replace("_", " ").split())


def read_unit_alias(kind: str, unit: str) -> str | None:
    """The unit a spelling stands for in this kind (``unit_aliases``), or None."""
    return unit_aliases().get((kind, _unit_key(unit)))


@lru_cache(maxsize=1)
def providers() -> pd.DataFrame:
    return pd.read_csv(DATA_DIR / "providers.csv", keep_default_na=False).set_index("alias")


@lru_cache(maxsize=1)
def known_countries() -> frozenset[str]:
    reg = load_register()
    return frozenset(reg.find(part="grid")["region"].loc[lambda s: s.str.fullmatch(r"[A-Z]{3}")])


@lru_cache(maxsize=1)
def modes_by_kind() -> dict[str, set[str]]:
    reg = load_register()
    out: dict[str, set[str]] = {}
    for kind in ("fuel", "travel", "freight", "storage"):
        modes = set(reg.find(kind=kind)["mode"]) - {""}
        # Flights and air freight: the consultant names the leg; RF is an engagement setting.
        out[kind] = modes | {m[:-3] for m in modes if m.endswith("_rf")}
    # Issue 15: gpu_compute uses (data: gpu-utilisation:<use> factors) and the LLM methods.
    out["gpu_compute"] = set(reg.find(kind="gpu_compute", part="utilisation")["mode"]) - {""}
    out["llm_api"] = {"production", "ecologits"}
    return out


def valid_modes(kind: str) -> set[str] | None:
    return modes_by_kind().get(kind)


@lru_cache(maxsize=1)
def hardware_ids() -> list[str]:
    reg = load_register()
    return sorted(f.removeprefix("hw:") for f in reg.find(part="tdp")["factor_id"])


@lru_cache(maxsize=1)
def video_models() -> dict:
    from ecologits.estimations import video as ev
    return ev._MODELS_INFO  # noqa: SLF001 - the shipped table; no public accessor


@lru_cache(maxsize=4096)
def resolve_llm_model(provider: str, model: str):
    """Find an LLM in EcoLogits' data as EcoLogits resolves it (provider + name or alias).

    Returns (ecologits Model or None, hint). Without a provider, a unique name match wins.
    Names are matched exactly first, then ignoring case ('GPT-4o' is gpt-4o), as providers are.
    """
    from ecologits.model_repository import models
    prov_table = providers()
    eco_provider = prov_table["ecologits_provider"].get(provider, "") if provider else ""
    if eco_provider:
        m = models.find_model(eco_provider, model)
        names = [x.name for x in models.list_models() if x.provider.value == eco_provider]
        if m is None:
            same = next((n for n in names if n.lower() == model.strip().lower()), None)
            m = models.find_model(eco_provider, same) if same else None
        return (m, None) if m else (None, suggest(model.lower(), names) or f"see EcoLogits' list for {eco_provider}")
    hits = [x for x in models.list_models() if x.name == model] or \
        [x for x in models.list_models() if x.name.lower() == model.strip().lower()]
    if len(hits) >= 1:
        return hits[0], None
    return None, suggest(model, sorted({x.name for x in models.list_models()}))


# --- kind families (data/kinds.csv, columns family and generative) ----------------------------

KIND_FAMILY_LABELS = {"genai_compute": "Generative AI and compute", "traditional": "Traditional production"}


def kinds_in_family(family: str) -> tuple[str, ...]:
    """The kinds of one family (``genai_compute`` or ``traditional``), in data/kinds.csv's order."""
    kt = kinds_table()
    return tuple(kt.index[kt["family"] == family])


def generative_kinds() -> tuple[str, ...]:
    """The kinds whose output is generated by a model (``generative = yes``): LLM calls, images, video."""
    kt = kinds_table()
    return tuple(kt.index[kt["generative"] == "yes"])


def kind_family_labels(kinds: pd.Series) -> pd.Series:
    """Each kind's family as a reader sees it ("Generative AI and compute" / "Traditional production")."""
    return kinds.map(kinds_table()["family"].map(KIND_FAMILY_LABELS)).rename("family")
