"""The factor register: every number the estimator multiplies by, with its provenance.

Rows come from four places, all offline:

* ``data/factors/*.csv``: curated tables (compute coefficients, DESNZ conversion factors);
* codecarbon's shipped grid intensities (country table and GCP regions), pinned 3.3.2;
* EcoLogits' shipped model data (parameters, provider PUE), pinned 0.11.3;
* the engagement's own overrides, recorded with the consultant's reason.

Every row has ``factor_id, name, value, unit, source, source_ref, year, licence`` so a
number in a report resolves to its origin in one lookup.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
import importlib.util
from functools import lru_cache
from importlib import metadata, resources
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd
import yaml
from rapidfuzz import fuzz
from rapidfuzz import process as fuzz_process

from audit.core.exceptions import FactorError, Problem, ValidationError
from audit.core.paths import DATA_DIR, ENGAGEMENT_FILE, FACTORS_DIR

REGISTER_COLUMNS = [
    "factor_id", "name", "value", "value_low", "value_high", "unit", "kind", "mode", "region",
    "part", "per_unit", "source", "source_ref", "year", "licence", "notes",
]
CODECARBON_VERSION = metadata.version("codecarbon")
ECOLOGITS_VERSION = metadata.version("ecologits")


@dataclass(frozen=True)
class FactorSet:
    name: str
    version: str
    desnz_year: int
    grid_priority: tuple[str, ...]
    package_data_year: dict

    @property
    def label(self) -> str:
        return (f"{self.name} {self.version} (DESNZ {self.desnz_year}; codecarbon {CODECARBON_VERSION}; "
                f"EcoLogits {ECOLOGITS_VERSION})")


@lru_cache(maxsize=1)
def factor_set() -> FactorSet:
    cfg = yaml.safe_load((DATA_DIR / "factor_set.yaml").read_text(encoding="utf-8"))
    return FactorSet(cfg["name"], str(cfg["version"]), int(cfg["desnz_year"]), tuple(cfg["grid_priority"]),
                     dict(cfg.get("package_data_year", {})))


# --- loaders, one per source ----------------------------------------------------------------

def _curated_tables() -> pd.DataFrame:
    frames = [pd.read_csv(p, dtype={"year": "Int64"}, keep_default_na=False, na_values=[""])
              for p in sorted(FACTORS_DIR.glob("*.csv")) if p.name != "cloud_regions.csv"]
    return pd.concat(frames, ignore_index=True)


@lru_cache(maxsize=1)
def codecarbon_data_dir() -> Path:
    """codecarbon's shipped ``data`` folder, found without importing the package (its
    ``__init__`` loads the tracker: ~0.05 s that reading two data files does not need)."""
    spec = importlib.util.find_spec("codecarbon")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("codecarbon is not installed: its grid data cannot be read")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


@lru_cache(maxsize=1)
def codecarbon_energy_mix() -> dict:
    """codecarbon's data/private_infra/global_energy_mix.json, by ISO-3 country (read once:
    the register's grid factors and the intake's country-name hints both use it)."""
    root = codecarbon_data_dir()
    return json.loads((root / "private_infra" / "global_energy_mix.json").read_text(encoding="utf-8"))


def _codecarbon_grid() -> pd.DataFrame:
    """Country grid intensities from codecarbon's global_energy_mix.json (OWID / Ember)."""
    mix = codecarbon_energy_mix()
    rows = [{
        "factor_id": f"grid:codecarbon:{iso}", "name": f"Grid carbon intensity, {v.get('country_name', iso)}",
        "value": float(v["carbon_intensity"]), "unit": "gCO2e/kWh", "kind": "electricity", "region": iso,
        "part": "grid", "per_unit": "kWh",
        "source": f"codecarbon {CODECARBON_VERSION} data/private_infra/global_energy_mix.json "
                  "(Our World in Data from Ember and Energy Institute)",
        "source_ref": f"{iso}.carbon_intensity", "year": int(v.get("year") or 0) or pd.NA,
        "licence": "MIT (codecarbon); data CC BY 4.0 (Our World in Data)",
        "notes": "Annual average, life-cycle basis",
    } for iso, v in mix.items() if v.get("carbon_intensity") is not None]
    return pd.DataFrame(rows)


def _codecarbon_cloud() -> pd.DataFrame:
    """Provider-published region intensities shipped in codecarbon (GCP only)."""
    root = codecarbon_data_dir() / "cloud" / "impact.csv"
    with root.open(encoding="utf-8-sig") as f:
        df = pd.read_csv(f)
    return pd.DataFrame({
        "factor_id": "grid:" + df["provider"] + ":" + df["region"],
        "name": "Cloud region grid intensity, " + df["provider"] + " " + df["region"],
        "value": df["impact"].astype(float), "unit": "gCO2e/kWh", "kind": "electricity",
        "region": df["provider"] + ":" + df["region"], "part": "grid", "per_unit": "kWh",
        "source": f"codecarbon {CODECARBON_VERSION} data/cloud/impact.csv; " + df["source"],
        "source_ref": df["provider"] + "/" + df["region"], "year": pd.NA,
        "licence": "MIT (codecarbon)", "notes": "Provider-published location-based figure",
    })


def _ecologits_models() -> pd.DataFrame:
    """LLM parameter counts from EcoLogits' models.json (active parameters for MoE)."""
    root = resources.files("ecologits") / "data" / "models.json"
    data = json.loads(root.read_text(encoding="utf-8"))
    rows = []
    for m in data["models"]:
        params = m["architecture"]["parameters"]
        active = params["active"] if isinstance(params, dict) and "active" in params else params
        total = params["total"] if isinstance(params, dict) and "total" in params else params
        lo, hi = _range(active)
        tlo, thi = _range(total)
        rows.append({
            "factor_id": f"ecologits:model:{m['provider']}/{m['name']}",
            "name": f"{m['name']} ({m['provider']}) active parameters",
            "value": (lo + hi) / 2, "value_low": lo, "value_high": hi, "unit": "billion parameters",
            "kind": "llm_api", "mode": m["provider"], "region": "", "part": "model", "per_unit": "",
            "source": f"EcoLogits {ECOLOGITS_VERSION} data/models.json",
            "source_ref": "; ".join(m.get("sources") or []) or m["name"],
            "year": pd.NA, "licence": "MPL-2.0 (EcoLogits)",
            "notes": f"architecture {m['architecture']['type']}; total parameters {tlo:g}-{thi:g} B"
                     + (f"; warnings: {', '.join(m['warnings'])}" if m.get("warnings") else ""),
        })
    # Aliases resolve as EcoLogits resolves them: a copy of the target under the alias name.
    by_key = {(m["provider"], m["name"]): r for m, r in zip(data["models"], rows)}
    for a in data.get("aliases") or []:
        target = by_key.get((a["provider"], a["alias"]))
        if target:
            rows.append({**target, "factor_id": f"ecologits:model:{a['provider']}/{a['name']}",
                         "name": f"{a['name']} ({a['provider']}) active parameters, alias of {a['alias']}"})
    return pd.DataFrame(rows)


def _ecologits_providers() -> pd.DataFrame:
    from ecologits.tracers.utils import PROVIDER_CONFIG_MAP

    rows = []
    for provider, cfg in PROVIDER_CONFIG_MAP.items():
        lo, hi = _range(cfg.datacenter_pue)
        rows.append({
            "factor_id": f"ecologits:provider:{provider}", "name": f"{provider} data-centre PUE",
            "value": (lo + hi) / 2, "value_low": lo, "value_high": hi, "unit": "ratio", "kind": "llm_api",
            "mode": provider, "region": cfg.datacenter_location, "part": "pue", "per_unit": "",
            "source": f"EcoLogits {ECOLOGITS_VERSION} ecologits/tracers/utils.py PROVIDER_CONFIG_MAP",
            "source_ref": provider, "year": pd.NA, "licence": "MPL-2.0 (EcoLogits)",
            "notes": f"Default data-centre location {cfg.datacenter_location}",
        })
    return pd.DataFrame(rows)


def _ecologits_method() -> pd.DataFrame:
    """The coefficients of EcoLogits' LLM inference model, so results can cite them."""
    from ecologits.impacts import llm as el

    coef = {
        "gpu_energy_alpha": (el.GPU_ENERGY_ALPHA, "Wh per token per billion parameters"),
        "gpu_energy_beta": (el.GPU_ENERGY_BETA, "per request in batch"),
        "gpu_energy_gamma": (el.GPU_ENERGY_GAMMA, "Wh per token"),
        "latency_alpha": (el.LATENCY_ALPHA, "s per token per billion parameters"),
        "latency_beta": (el.LATENCY_BETA, "s per token per request in batch"),
        "latency_gamma": (el.LATENCY_GAMMA, "s per token"),
        "batch_size": (el.BATCH_SIZE, "requests"),
        "server_power": (el.SERVER_POWER, "kW per 8-GPU server (excluding GPUs)"),
        "gpu_memory": (el.GPU_MEMORY, "GB per GPU"),
        "gpu_embodied": (el.GPU_EMBODIED_IMPACT_GWP, "kgCO2e per GPU"),
        "server_embodied": (el.SERVER_EMBODIED_IMPACT_GWP, "kgCO2e per server"),
    }
    return pd.DataFrame([{
        "factor_id": f"ecologits:llm:{k}", "name": f"EcoLogits LLM inference model: {k}", "value": float(v),
        "unit": unit, "kind": "llm_api", "part": "method",
        "source": f"EcoLogits {ECOLOGITS_VERSION} methodology, ecologits/impacts/llm.py",
        "source_ref": "https://ecologits.ai/latest/methodology/llm_inference/", "year": 2025,
        "licence": "MPL-2.0 (EcoLogits)", "notes": "",
    } for k, (v, unit) in coef.items()])


def _range(v) -> tuple[float, float]:
    if isinstance(v, dict):
        return float(v["min"]), float(v["max"])
    if hasattr(v, "min") and hasattr(v, "max"):
        return float(v.min), float(v.max)
    return float(v), float(v)


# --- the register -------------------------------------------------------------------------

class UnknownFactorOverride(ValidationError, FactorError):
    """engagement.yaml overrides a factor the register does not hold. The consultant's input
    is wrong, so it is a ValidationError (located, exit status 2); it is also a FactorError,
    for callers that catch those around the estimate."""


@dataclass
class FactorRegister:
    """All factors of one factor set, indexed by ``factor_id``."""

    table: pd.DataFrame
    factor_set: FactorSet
    overridden: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        dup = self.table["factor_id"][self.table["factor_id"].duplicated()]
        if len(dup):
            raise FactorError(f"duplicate factor ids in the register: {sorted(set(dup))[:5]}")
        self.table = self.table.set_index("factor_id", drop=False)
        self._value = self.table["value"].astype(float).to_dict()
        self._columns = {c: self.table[c].fillna("").astype(str).to_numpy() for c in ("kind", "mode", "region", "part")}
        self._find_cache: dict[tuple, pd.DataFrame] = {}
        self._bounds_cache: dict[str, tuple[float, float, float]] = {}

    def __contains__(self, factor_id: str) -> bool:
        return factor_id in self._value

    def suggest(self, factor_id: str, limit: int = 3) -> str | None:
        """'did you mean' for a factor id: the nearest ids of its namespace ('desnz-2025:',
        'pue:', 'grid:codecarbon:') compared by the part after it, else of the whole register."""

        text = str(factor_id).strip()
        if not text:
            return None
        namespace, _, local = text.rpartition(":")
        namespace = f"{namespace}:" if namespace else ""
        desnz = f"desnz-{self.factor_set.desnz_year}:"
        other_year = re.fullmatch(r"desnz-\d{4}:", namespace)
        if other_year and namespace != desnz:
            same = desnz + local
            return (f"the register holds DESNZ {self.factor_set.desnz_year} factors (data/factor_set.yaml)"
                    + (f": did you mean '{same}'?" if same in self else ""))
        scoped = {f[len(namespace):]: f for f in self._value if namespace and f.startswith(namespace)}
        choices = scoped or {f: f for f in self._value}
        hits = fuzz_process.extract(local if scoped else text, sorted(choices), scorer=fuzz.ratio,
                                    limit=limit, score_cutoff=60)
        if hits:
            return f"did you mean {', '.join(repr(choices[h[0]]) for h in hits)}?"
        return "the ids are those of the factor register: audit.load_register().table['factor_id']"

    def value(self, factor_id: str) -> float:
        try:
            return self._value[factor_id]
        except KeyError:
            raise FactorError(f"factor '{factor_id}' is not in the register ({self.factor_set.label})") from None

    def row(self, factor_id: str) -> pd.Series:
        return self.table.loc[factor_id]

    def bounds(self, factor_id: str) -> tuple[float, float, float]:
        """(low, central, high); low/high equal central when no range is published.
        Memoised: estimators ask once per activity row, and a usage log's activities
        table has thousands of rows over a handful of factors."""
        hit = self._bounds_cache.get(factor_id)
        if hit is None:
            r = self.table.loc[factor_id]
            v = float(r["value"])
            lo = float(r["value_low"]) if pd.notna(r["value_low"]) else v
            hi = float(r["value_high"]) if pd.notna(r["value_high"]) else v
            hit = self._bounds_cache[factor_id] = (lo, v, hi)
        return hit

    def has_published_range(self, factor_id: str) -> bool:
        r = self.table.loc[factor_id]
        return bool(pd.notna(r["value_low"]) and pd.notna(r["value_high"]))

    def find(self, **where: str) -> pd.DataFrame:
        """Rows matching every ``column=value`` (kind, mode, region, part); memoised, since a
        register never changes once built (overrides make a new one)."""
        key = tuple(sorted(where.items()))
        hit = self._find_cache.get(key)
        if hit is None:
            mask = np.ones(len(self.table), dtype=bool)
            for col, val in where.items():
                mask &= self._columns[col] == val
            hit = self._find_cache[key] = self.table[mask]
        return hit

    def used(self, factor_ids: Iterable[str]) -> pd.DataFrame:
        """The register rows behind a set of results, sorted, ready for a report."""
        ids = sorted({f for f in factor_ids if f})
        missing = [f for f in ids if f not in self]
        if missing:
            raise FactorError(f"results cite factors missing from the register: {missing[:5]}")
        out = self.table.loc[ids, REGISTER_COLUMNS].reset_index(drop=True)
        out["overridden"] = out["factor_id"].map(lambda f: f in self.overridden)
        return out

    def extended(self, rows: list[dict]) -> "FactorRegister":
        """A copy with ``rows`` added (a row with an existing id replaces it)."""
        new = pd.DataFrame(rows).reindex(columns=REGISTER_COLUMNS)
        for col in ("kind", "mode", "region", "part", "per_unit", "notes", "source_ref"):
            new[col] = new[col].astype(object).fillna("").astype(str)
        table = pd.concat([self.table.reset_index(drop=True), new], ignore_index=True)
        table = table.drop_duplicates("factor_id", keep="last")
        return FactorRegister(table, self.factor_set, dict(self.overridden))

    def unknown_override_problems(self, factor_ids: list, file: str) -> list[Problem]:
        """engagement.yaml's ``factor_overrides`` ids (by position) that this register does not
        hold, located by key and with a suggestion. Non-text ids are the schema's business."""
        return [Problem(file, f"override names unknown factor '{fid}'", column=f"factor_overrides.{i}.factor_id",
                        hint=self.suggest(fid))
                for i, fid in enumerate(factor_ids) if isinstance(fid, str) and fid not in self]

    def with_overrides(self, overrides) -> "FactorRegister":
        """A copy where the engagement's overrides replace register values, with reasons."""
        if not overrides:
            return self
        unknown = self.unknown_override_problems([o.factor_id for o in overrides], ENGAGEMENT_FILE)
        if unknown:  # the consultant's input, not a gap in the register: exit status 2, all at once
            raise UnknownFactorOverride(unknown)
        t = self.table.copy()
        reasons = dict(self.overridden)
        for o in overrides:
            t.loc[o.factor_id, ["value", "value_low", "value_high"]] = [o.value, np.nan, np.nan]
            t.loc[o.factor_id, "source"] = f"{o.source} (replaces: {t.loc[o.factor_id, 'source']})"
            t.loc[o.factor_id, "notes"] = f"OVERRIDDEN by consultant: {o.reason}"
            reasons[o.factor_id] = o.reason
        reg = FactorRegister(t.reset_index(drop=True), self.factor_set, reasons)
        # Derived factors follow what they derive from (an overridden hotel factor moves the
        # proxy mean), unless the consultant overrode the derived factor itself.
        if HOTEL_PROXY_ID in reg and HOTEL_PROXY_ID not in reasons:
            reg = reg.extended([hotel_proxy_row(reg)])
        return reg


HOTEL_PROXY_ID = "proxy:hotel-desnz-mean"


def hotel_proxy_row(reg: FactorRegister) -> dict:
    """The mean (min-max) of the register's DESNZ hotel factors: a labelled proxy for the
    countries DESNZ gives no hotel factor."""
    t = reg.find(kind="accommodation", part="direct")
    hotels = t[~t["factor_id"].str.startswith("proxy:")]
    values = hotels["value"].astype(float)
    fs = reg.factor_set
    overridden = [f for f in hotels["factor_id"] if f in reg.overridden]
    # Provenance says so when a consultant's override moved the mean.
    with_overrides = (f", {len(overridden)} of them as overridden in this engagement ({', '.join(overridden[:3])}"
                      + (", …" if len(overridden) > 3 else "") + ")") if overridden else ""
    return {
        "factor_id": HOTEL_PROXY_ID, "name": "Hotel night, mean of DESNZ country factors (proxy)",
        "value": float(values.mean()), "value_low": float(values.min()), "value_high": float(values.max()),
        "unit": "kgCO2e/room_night", "kind": "accommodation", "mode": "", "region": "", "part": "direct",
        "per_unit": "room_night",
        "source": f"Derived: mean (min-max) of {len(hotels)} DESNZ {fs.desnz_year} hotel factors{with_overrides}",
        "source_ref": ", ".join(hotels["factor_id"].head(3)) + ", …", "year": fs.desnz_year,
        "licence": "OGL-3.0", "notes": "Proxy for countries with no DESNZ hotel factor; data quality 4",
    }


@lru_cache(maxsize=1)
def load_register() -> FactorRegister:
    """The default register (cached: it is read-only and costs ~100 ms to build)."""
    fs = factor_set()
    curated = _curated_tables()
    # Keep only the chosen DESNZ year, so each (kind, mode, region, part) has one factor.
    is_desnz = curated["factor_id"].str.startswith("desnz-")
    curated = curated[~is_desnz | (curated["year"] == fs.desnz_year)]
    parts = [curated, _codecarbon_grid(), _codecarbon_cloud(), _ecologits_models(),
             _ecologits_providers(), _ecologits_method()]
    table = pd.concat([p.reindex(columns=REGISTER_COLUMNS) for p in parts], ignore_index=True)
    for pkg, year in fs.package_data_year.items():
        no_year = table["year"].isna() & table["source"].str.contains(pkg, case=False)
        table.loc[no_year, "year"] = year
        table.loc[no_year, "notes"] = table.loc[no_year, "notes"].fillna("").astype(str) + \
            "; year is the package data release year"
    for col in ("kind", "mode", "region", "part", "per_unit", "notes", "source_ref"):
        table[col] = table[col].astype(object).fillna("").astype(str)
    reg = FactorRegister(table, fs)
    return reg.extended([hotel_proxy_row(reg)])


@lru_cache(maxsize=1)
def cloud_regions() -> dict[str, str]:
    """``provider:region`` -> ISO-3 country, from data/factors/cloud_regions.csv and codecarbon."""
    df = pd.read_csv(FACTORS_DIR / "cloud_regions.csv")
    out = {f"{p}:{r}": c for p, r, c in df[["provider", "region", "country"]].itertuples(index=False)}
    with (codecarbon_data_dir() / "cloud" / "impact.csv").open(encoding="utf-8-sig") as f:
        cc = pd.read_csv(f)
    for p, r, c in cc[["provider", "region", "countryIsoCode"]].itertuples(index=False):
        out.setdefault(f"{p}:{r}", c)
    return out


def grid_intensity(reg: FactorRegister, region: pd.Series, country: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Location-based grid intensity (g/kWh) and factor id per row, by factor_set.grid_priority."""
    fs = reg.factor_set
    desnz_uk = reg.find(kind="electricity", region="GBR", part="direct")
    values, ids = [], []
    seen: dict[tuple[str, str], tuple[float, str]] = {}  # one lookup per distinct region
    for r, c in zip(region, country):
        if (r, c) in seen:
            v, fid = seen[(r, c)]
            values.append(v), ids.append(fid)
            continue
        fid = None
        for source in fs.grid_priority:
            if source == "desnz" and c == "GBR" and len(desnz_uk):
                fid = desnz_uk["factor_id"].iloc[0]
            elif source == "cloud" and f"grid:{r}" in reg:
                fid = f"grid:{r}"
            elif source == "codecarbon" and f"grid:codecarbon:{c}" in reg:
                fid = f"grid:codecarbon:{c}"
            if fid:
                break
        if fid is None:
            raise FactorError(f"no grid intensity for region '{r or c}'")
        v = reg.value(fid)
        v = v * 1000.0 if reg.row(fid)["unit"].startswith("kgCO2e") else v
        seen[(r, c)] = (v, fid)
        values.append(v), ids.append(fid)
    return np.asarray(values, dtype=float), ids


@lru_cache(maxsize=1)
def image_models() -> dict[str, dict]:
    """data/image_models.csv by lower-case name and alias: the register factor of each image
    model's per-image energy, its reference resolution and steps, and the data quality of a
    line that uses it (proxy rows resolve hosted names with no disclosure)."""
    df = pd.read_csv(DATA_DIR / "image_models.csv", comment="#", dtype=str, keep_default_na=False)
    out: dict[str, dict] = {}
    for rec in df.to_dict("records"):
        entry = {"model": rec["model"], "factor_id": rec["factor_id"],
                 "width": float(rec["width"]), "height": float(rec["height"]),
                 "steps": float(rec["steps"]) if rec["steps"] else None,
                 "default_steps": float(rec["default_steps"]) if rec["default_steps"] else None,
                 "fixed_share": float(rec["fixed_share"]) if rec["fixed_share"] else None,
                 "hardware": rec["hardware"], "proxy": rec["proxy"] == "yes", "data_quality": int(rec["data_quality"])}
        for name in [rec["model"], *rec["aliases"].split("|")]:
            if name.strip():
                out[name.strip().lower()] = entry
    return out
