"""Model names as they appear in exports -> (provider, EcoLogits model name), recorded.

Order of resolution (first hit wins; ``how`` says which rule read the name):

1. the engagement's own ``model_aliases`` (Azure deployment names, in-house names);
2. a size class such as ``70B`` (kept as written: the estimator takes parameters from it; a
   fallback whose data quality the caller lowers);
3. a Bedrock ARN (foundation-model or inference-profile) is read as the id after '/'; an
   inference-profile prefix (us., eu., apac., global., jp., au.) is removed;
4. data/model_aliases.csv (dated snapshots, Bedrock ids, OpenRouter slugs, Vertex SKU phrases,
   old names), matched ignoring case;
5. EcoLogits 0.11.3's own model names and aliases for the provider (exact, then ignoring case);
6. a ``vendor/name`` slug or a ``vendor.name-v1:0`` Bedrock id not in the table: vendor ->
   provider, then 5 on the name (with '.' read as '-' for Anthropic: claude-sonnet-4.5);
7. a dated snapshot not in EcoLogits (name-2025-04-14, name-20250929): the undated name;
8. without a provider: a name EcoLogits knows under exactly one provider.

Otherwise the name is unknown: ``how`` starts with "unknown" and carries a "did you mean"
ranked by family first (same provider, same family words such as sonnet/haiku/flash/mini),
then by distance between version numbers (3.5 -> 4.5 before 5), then by spelling; and the
size-class fallback ("or give its size, e.g. model: 70B").

Video models (EcoLogits video_models.json, named provider/model) resolve from the provider and
a bare name compared without punctuation (runway + gen-4.5, gen4.5 or gen4_5).
"""
from __future__ import annotations

import json
import re
from difflib import SequenceMatcher
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from audit.core.paths import DATA_DIR

# A Bedrock model or inference-profile ARN, as invocation logs write modelId for calls made with
# one (arn:aws:bedrock:REGION:ACCOUNT:inference-profile/us.anthropic....); the id follows the '/'.
# Application inference profiles and provisioned models have opaque ids: those stay unknown
# (name them in the engagement's model_aliases).
BEDROCK_ARN = re.compile(r"^arn:aws[a-z-]*:bedrock:[a-z0-9-]*:\d*:(?:foundation-model|inference-profile|"
                         r"system-defined-inference-profile)/(.+)$", re.IGNORECASE)
SIZE_CLASS = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*[bB]\s*$")
DATED = re.compile(r"^(.*?)(?:-\d{4}-\d{2}-\d{2}|-\d{8}|-\d{4})$")
BEDROCK_VERSION = re.compile(r"-v\d+(?::\d+)?$|-\d+:\d+$|:\d+$")
SLUG_VENDOR = {"openai": "openai", "anthropic": "anthropic", "google": "google_genai", "mistralai": "mistralai",
               "mistral": "mistralai", "cohere": "cohere", "meta-llama": "huggingface_hub", "meta": "huggingface_hub",
               "amazon": "amazon", "deepseek": "deepseek", "qwen": "qwen"}
TYPO_RATIO = 0.9  # SequenceMatcher ratio above which an unknown name is read as a misspelling
GENERIC_WORDS = {"latest", "preview", "instruct", "chat", "it", "hf", "v", "exp", "online", "and", "the"}
MODEL_ALIAS_KINDS = ("dated_snapshot", "bedrock_id", "bedrock_profile_prefix", "openrouter_slug", "vertex_sku",
                     "old_name")


class ResolvedModel(NamedTuple):
    provider: str
    model: str
    how: str

    @property
    def known(self) -> bool:
        return not self.how.startswith("unknown")


@lru_cache(maxsize=1)
def alias_table() -> pd.DataFrame:
    t = pd.read_csv(DATA_DIR / "model_aliases.csv", keep_default_na=False, dtype=str)
    t["key"] = t["alias"].str.strip().str.lower()
    return t


@lru_cache(maxsize=1)
def provider_table() -> pd.DataFrame:
    return pd.read_csv(DATA_DIR / "providers.csv", keep_default_na=False, dtype=str).set_index("alias")


@lru_cache(maxsize=1)
def ecologits_names() -> dict[str, dict[str, str]]:
    """{ecologits provider: {lower-case name or alias: EcoLogits name}} from EcoLogits' data."""
    from ecologits.model_repository import models  # noqa: PLC0415 - slow to import (model repository)

    out: dict[str, dict[str, str]] = {}
    for m in models.list_models():
        out.setdefault(m.provider.value, {})[m.name.lower()] = m.name
    data = Path(__import__("ecologits").__file__).parent / "data" / "models.json"
    for a in json.loads(data.read_text()).get("aliases", []):
        names = out.setdefault(a["provider"], {})
        if a["name"].lower() in names:
            names.setdefault(a["alias"].lower(), names[a["name"].lower()])
        elif a["alias"].lower() in names:
            names.setdefault(a["name"].lower(), names[a["alias"].lower()])
    return out


@lru_cache(maxsize=1)
def video_models() -> dict[str, list[str]]:
    """{provider: [provider/model, ...]} from EcoLogits' video_models.json."""
    data = Path(__import__("ecologits").__file__).parent / "data" / "video_models.json"
    out: dict[str, list[str]] = {}
    for m in json.loads(data.read_text())["models"]:
        out.setdefault(m["provider"], []).append(m["model_name"])
    return out


def vertex_sku_phrases() -> dict[str, tuple[str, str]]:
    t = alias_table()
    t = t[t["alias_kind"] == "vertex_sku"]
    return {k: (p, m) for k, p, m in zip(t["key"], t["provider"], t["model"])}


def _eco_provider(provider: str) -> str:
    prov = provider_table()
    if provider in prov.index:
        return prov.loc[provider, "ecologits_provider"]
    return provider if provider in ecologits_names() else ""


def _ecologits_lookup(provider: str, name: str) -> str | None:
    names = ecologits_names().get(_eco_provider(provider), {})
    return names.get(name.strip().lower())


def _canonical_provider(eco_provider: str, given: str) -> str:
    """Keep the provider the export gave when it maps to this EcoLogits provider (azure-openai
    stays azure-openai: its PUE and region), else the EcoLogits provider's own alias."""
    if given and _eco_provider(given) == eco_provider:
        return given
    return eco_provider


def resolve_model_alias(provider: str, name: str, engagement_aliases: dict | None = None) -> ResolvedModel:
    """(provider, EcoLogits model, how it was read) for a model name as an export spells it.

    ``engagement_aliases`` maps a name (deployment or in-house) to "provider/model" or to a model
    of the row's provider; it wins over everything else."""
    provider = (provider or "").strip()
    raw = (name or "").strip()
    if not raw:
        return ResolvedModel(provider, raw, "unknown: model is empty; name the model or give its size, e.g. 70B")
    for key, target in (engagement_aliases or {}).items():
        if key.strip().lower() == raw.lower():
            target = str(target).strip()
            p, _, m = target.rpartition("/") if "/" in target and target.split("/", 1)[0] in provider_table().index \
                else ("", "", target)
            if "/" in target and target.split("/", 1)[0] in provider_table().index:
                p, m = target.split("/", 1)
            inner = resolve_model_alias(p or provider, m)
            return ResolvedModel(inner.provider, inner.model,
                                 f"engagement model_aliases: '{raw}' -> '{target}'; " + inner.how)
    if SIZE_CLASS.match(raw):
        size = SIZE_CLASS.match(raw).group(1)
        return ResolvedModel(provider, f"{size}B", f"size class {size}B (fallback: parameters as given, "
                                                    "data quality lowered)")
    notes: list[str] = []
    name_ = raw
    arn = BEDROCK_ARN.match(name_)
    if arn:
        name_ = arn.group(1)
        notes.append(f"Bedrock ARN read as its model id '{name_}'")
    table = alias_table()
    prefixes = table.loc[table["alias_kind"] == "bedrock_profile_prefix", "key"]
    for pre in prefixes:
        if name_.lower().startswith(pre) and "." in name_[len(pre):]:
            notes.append(f"Bedrock inference-profile prefix '{name_[:len(pre)]}' removed")
            name_ = name_[len(pre):]
            break
    hit = table[(table["key"] == name_.lower()) & (table["alias_kind"] != "bedrock_profile_prefix")]
    if len(hit):
        row = hit.iloc[0]
        eco = _ecologits_lookup(row["provider"], row["model"])
        notes.append(f"alias table ({row['alias_kind']}): '{name_}' -> {row['provider']}/{row['model']}")
        if eco is None:
            return _unknown(row["provider"], row["model"], raw, notes)
        return ResolvedModel(_canonical_provider(row["provider"], provider), eco, "; ".join(notes))
    found = _direct(provider, name_)
    if found:
        return ResolvedModel(found[0], found[1], "; ".join(notes + [found[2]]))
    # vendor/name slugs and vendor.name-v1:0 Bedrock ids
    vendor, sep, rest = (name_.partition("/") if "/" in name_ else name_.partition("."))
    if sep and vendor.lower() in SLUG_VENDOR and rest:
        vprov = SLUG_VENDOR[vendor.lower()]
        bare = BEDROCK_VERSION.sub("", rest) if sep == "." else rest
        found = _direct(vprov, bare) or (_direct(vprov, bare.replace(".", "-")) if vprov == "anthropic" else None) \
            or _dated(vprov, bare)
        kind = "OpenRouter-style slug" if sep == "/" else "Bedrock-style id"
        if found:
            return ResolvedModel(_canonical_provider(found[0], provider), found[1],
                                 "; ".join(notes + [f"{kind} '{name_}' read as {vprov} '{bare}'", found[2]]))
        return _unknown(vprov, bare, raw, notes)
    found = _dated(provider, name_)
    if found:
        return ResolvedModel(found[0], found[1], "; ".join(notes + [found[2]]))
    return _unknown(provider, name_, raw, notes)


def _direct(provider: str, name: str):
    if provider:
        eco = _ecologits_lookup(provider, name)
        if eco:
            how = "EcoLogits name" if eco == name else f"EcoLogits name '{eco}' (case or EcoLogits alias)"
            return _canonical_provider(_eco_provider(provider), provider), eco, how
        return None
    hits = [(p, names[name.lower()]) for p, names in ecologits_names().items() if name.lower() in names]
    if len(hits) == 1:
        return hits[0][0], hits[0][1], f"EcoLogits name under provider {hits[0][0]} (provider inferred)"
    return None


def _dated(provider: str, name: str):
    m = DATED.match(name)
    if not m:
        return None
    found = _direct(provider, m.group(1))
    if found:
        return found[0], found[1], f"dated snapshot '{name}' read as '{found[1]}' (snapshot not in EcoLogits)"
    return None


def _unknown(provider: str, name: str, raw: str, notes: list[str]) -> ResolvedModel:
    where = f" for provider '{provider}'" if provider else ""
    hint = suggest_models(provider, name)
    text = f"unknown: model '{raw}'{where} is not in EcoLogits 0.11.3"
    if name != raw:
        text += f" (read as '{name}')"
    if hint:
        text += f"; did you mean {', '.join(repr(h) for h in hint)}?"
    text += " Or give its size class, e.g. model: 70B (recorded as an assumption, data quality lowered)"
    if notes:
        text += " [" + "; ".join(notes) + "]"
    return ResolvedModel(provider, name, text)


def _words(name: str) -> tuple[set[str], float | None]:
    """Family words and the version number of a model name: claude-3-5-sonnet -> ({claude,
    sonnet}, 3.5); gpt-4.1-mini -> ({gpt, mini}, 4.1). Dates (2024-08-06, 20250929) are not versions."""
    base = name.lower().rsplit("/", 1)[-1]
    base = re.sub(r"-?(\d{4}-\d{2}-\d{2}|\d{8})", "", base)
    parts = [p for p in re.split(r"[-_./\s]+", base) if p]
    words = {p for p in parts if p.isalpha() and p not in GENERIC_WORDS}
    words |= {re.sub(r"\d", "", p) for p in parts if re.fullmatch(r"[a-z]+\d+[a-z]*|\d+[a-z]+", p)} - {""}
    digits = [p for p in parts if p.isdigit() and len(p) <= 2]
    inline = [m.group(0) for p in parts for m in [re.search(r"\d+(\.\d+)?", p)] if m and not p.isdigit()]
    version = None
    if digits:
        version = float(digits[0] + ("." + "".join(digits[1:2]) if len(digits) > 1 else ""))
    elif inline:
        version = float(inline[0])
    return words, version


def suggest_models(provider: str, name: str, limit: int = 3) -> list[str]:
    """Nearest EcoLogits names: same provider first, then shared family words, then nearest
    version, then spelling. claude-3-5-sonnet -> claude-sonnet-4-5-20250929 before claude-sonnet-5."""
    eco = _eco_provider(provider) if provider else ""
    pool = [(p, n) for p, names in ecologits_names().items() for n in set(names.values()) if not eco or p == eco]
    words, version = _words(name)
    scored = []
    for p, cand in pool:
        cw, cv = _words(cand)
        shared = len(words & cw) / max(len(words | cw), 1)
        if shared == 0 and SequenceMatcher(None, name.lower(), cand.lower()).ratio() < 0.6:
            continue
        distance = abs(cv - version) if cv is not None and version is not None else 99.0
        scored.append((-shared, distance, -SequenceMatcher(None, name.lower(), cand.lower()).ratio(), cand))
    scored.sort()
    # A plain typo (one or two characters off: gpt-4oo, gemini-2.5-flsh) is named first: the
    # family ranking serves renamed versions (claude-3-5-sonnet), not misspellings.
    typos = sorted((-SequenceMatcher(None, name.lower(), cand.lower()).ratio(), cand) for _, cand in pool)
    out: list[str] = [typos[0][1]] if typos and -typos[0][0] >= TYPO_RATIO else []
    for *_, cand in scored:
        if cand not in out:
            out.append(cand)
        if len(out) >= limit:
            break
    return out


def _parameters(arch) -> str:
    """EcoLogits' parameter count of a model, in B: a number or a range (dense), total/active (MoE)."""
    p = arch.parameters
    if isinstance(p, (int, float)):
        return f"{p:g}B"
    if hasattr(p, "min") and hasattr(p, "max"):  # a dense model known by a range
        return f"{p.min:g}-{p.max:g}B"
    text = []
    for k in ("total", "active"):
        v = getattr(p, k, None)
        if v is None:
            continue
        lo, hi = getattr(v, "min", v), getattr(v, "max", v)
        text.append(f"{k} {lo:g}B" if lo == hi else f"{k} {lo:g}-{hi:g}B")
    return ", ".join(text) or str(p)


@lru_cache(maxsize=1)
def model_catalogue() -> pd.DataFrame:
    """Every LLM the estimator knows (EcoLogits 0.11.3): provider aliases, model, parameters,
    architecture, and the export spellings data/model_aliases.csv reads as it."""
    from ecologits.model_repository import models  # noqa: PLC0415 - slow to import (model repository)

    prov = provider_table().reset_index()
    alias_of = prov.groupby("ecologits_provider")["alias"].apply(lambda s: ", ".join(sorted(s)))
    rows = [{"provider": alias_of.get(m.provider.value, m.provider.value), "model": m.name,
             "parameters": _parameters(m.architecture), "architecture": m.architecture.type.value}
            for m in models.list_models()]
    table = alias_table()
    known = table[table["alias_kind"] != "bedrock_profile_prefix"]
    also = known.groupby("model")["key"].apply(lambda s: ", ".join(sorted(s)))
    df = pd.DataFrame(rows).sort_values(["provider", "model"], ignore_index=True)
    df["also_read"] = df["model"].map(also).fillna("")
    return df


def resolve_video_model(provider: str, name: str) -> ResolvedModel:
    """EcoLogits video model (provider/model) from a provider and a bare name (runway + gen-4.5)."""
    provider = (provider or "").strip().lower()
    raw = (name or "").strip()
    key = re.sub(r"[^a-z0-9]", "", raw.lower().rsplit("/", 1)[-1])
    pools = video_models()
    if "/" in raw and not provider:
        provider = raw.split("/", 1)[0].lower()
    candidates = pools.get(provider, []) if provider else [m for ms in pools.values() for m in ms]
    for m in candidates:
        if re.sub(r"[^a-z0-9]", "", m.rsplit("/", 1)[-1].lower()) == key:
            how = "EcoLogits video model" if m.rsplit("/", 1)[-1] == raw.rsplit("/", 1)[-1] else \
                f"EcoLogits video model '{m}' (spelling '{raw}')"
            return ResolvedModel(m.split("/", 1)[0], m, how)
    ranked = sorted(candidates, key=lambda m: -SequenceMatcher(None, key, re.sub(r"[^a-z0-9]", "", m.lower())).ratio())
    hint = f"; did you mean {', '.join(repr(m) for m in ranked[:3])}?" if ranked else \
        f"; EcoLogits 0.11.3 has video models for {', '.join(sorted(pools))}"
    return ResolvedModel(provider, raw, f"unknown: video model '{raw}'"
                         + (f" for provider '{provider}'" if provider else "") + f" is not in EcoLogits 0.11.3{hint}")


@lru_cache(maxsize=1)
def runway_credits() -> pd.DataFrame:
    return pd.read_csv(DATA_DIR / "runway_credits.csv", keep_default_na=False)


def runway_credit_rate(model: str) -> pd.Series | None:
    """The row of data/runway_credits.csv for a Runway model named any usual way
    (``gen4_turbo``, ``gen-4-turbo``, ``runway/gen4.5``), or None."""
    t = runway_credits()
    key = re.sub(r"[^a-z0-9]", "", str(model).lower().rsplit("/", 1)[-1])
    hit = t[t["model"].map(lambda m: re.sub(r"[^a-z0-9]", "", m.lower())) == key]
    return hit.iloc[0] if len(hit) else None


def video_seconds_from_credits(credits: float, credits_per_second: float) -> float:
    """Seconds of video = credits / credits_per_second.

    Runway bills its API video models per output second at a fixed number of credits per second
    for each model; the rates are in data/runway_credits.csv with their sources."""
    return credits / credits_per_second


def runway_credits_to_seconds(model: str, credits: float) -> tuple[float, str]:
    """Seconds of video for ``credits`` of a Runway model, and how they were read."""
    row = runway_credit_rate(model)
    if row is None:
        raise KeyError(f"no Runway credit rate for '{model}'; known: {', '.join(runway_credits()['model'])}")
    return (video_seconds_from_credits(credits, float(row["credits_per_second"])),
            f"{row['credits_per_second']} credits/s ({row['id']}: {row['source']})")
