"""Prices as provenance: what an activity costs, and where every price comes from.

Three offline sources, in this order of precedence:

1. the engagement's own prices (``overrides``: a price id -> value or full record);
2. for LLM, image and other API lines, **genai-prices** (pydantic, MIT), pinned in
   pyproject.toml: its bundled price snapshot only. We never call its ``UpdatePrices`` (the
   one part of the package that reaches the network); :func:`api_price` also refuses to run
   on a snapshot that did not come bundled with the package;
3. ``data/prices/unit_prices.csv``: a documented table (GPU-hours, storage, travel, fuel,
   hire...) whose every row has ``price_id, value, unit, currency, source, year, licence``.

Amounts are converted with dated reference rates (``data/currency_rates.csv``, ECB euro
reference rates on a stated date), which an engagement may override.

Every result is a :class:`PricedCost` carrying the ids of the prices it used, and
:func:`price_register` turns those into the ``prices`` register of results.json.
"""
from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timezone
from enum import Enum
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic import ValidationError as PydanticValidationError

from audit.core.exceptions import InputError, Problem, ValidationError
from audit.core.paths import DATA_DIR
from audit.core.units import conversion_factor

PRICES_DIR = DATA_DIR / "prices"
UNIT_PRICES_FILE = PRICES_DIR / "unit_prices.csv"
GENAI_PROVIDERS_FILE = PRICES_DIR / "genai_providers.csv"
GENAI_ALIASES_FILE = PRICES_DIR / "genai_model_aliases.csv"
CURRENCY_RATES_FILE = DATA_DIR / "currency_rates.csv"

GENAI_PRICES_VERSION = metadata.version("genai-prices")
# The date API prices are looked up at when the caller gives none. Prices in genai-prices
# carry start dates; pass the engagement's period end so a run is reproducible.
DEFAULT_PRICE_DATE = date(2025, 12, 31)
MTOK = 1_000_000


class Price(BaseModel):
    """One price in the register (like a row of the factor register)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    price_id: str = Field(min_length=1)
    value: float = Field(ge=0)
    unit: str = Field(min_length=1)          # what one `value` buys: gpu_hour, litre, 1M input tokens
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    source: str = Field(min_length=1)
    year: int = Field(ge=1990, le=2100)
    licence: str = Field(min_length=1)
    notes: str = ""

    @field_validator("price_id", "unit", "source", "licence")
    @classmethod
    def _stripped(cls, v: str) -> str:
        if v != v.strip():
            raise ValueError("must not start or end with spaces")
        return v


class MatchKind(str, Enum):
    """How an activity's (provider, model) was matched to a genai-prices model."""

    EXACT = "exact"                  # same model id
    PACKAGE_ALIAS = "package_alias"  # genai-prices' own matching (dated snapshot names etc.)
    UNKNOWN = "unknown"              # no price: cost unknown


class PricedCost(BaseModel):
    """A cost and its provenance. ``amount`` is None when the cost cannot be known."""

    model_config = ConfigDict(extra="forbid")

    amount: float | None
    currency: str
    price_ids: tuple[str, ...] = ()
    prices: tuple[Price, ...] = ()
    match: MatchKind = MatchKind.EXACT
    priced_model: str | None = None  # the genai-prices model id used, for API lines
    note: str = ""


# --- reading the tables --------------------------------------------------------------------

def _read_rows(path: Path) -> list[dict]:
    try:
        with open(path, encoding="utf-8", newline="") as f:
            return list(csv.DictReader(f))
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None


def _problems_from(exc: PydanticValidationError, file: str, row: int) -> list[Problem]:
    return [Problem(file=file, row=row, column=".".join(str(p) for p in e["loc"]) or None, message=e["msg"])
            for e in exc.errors()]


def read_prices(path: Path = UNIT_PRICES_FILE) -> dict[str, Price]:
    """The unit price table: price_id -> :class:`Price`. Every bad cell is reported at once
    (file, row as a person counts it with the header as row 1, column)."""
    rows = _read_rows(path)
    out: dict[str, Price] = {}
    problems: list[Problem] = []
    for n, raw in enumerate(rows, start=2):
        record = {k: (v if v is not None else "") for k, v in raw.items() if k is not None}
        if None in raw:
            problems.append(Problem(str(path), "more cells than header columns", row=n))
            continue
        try:
            price = Price.model_validate(record)
        except PydanticValidationError as exc:
            problems.extend(_problems_from(exc, str(path), n))
            continue
        if price.price_id in out:
            problems.append(Problem(str(path), f"duplicate price_id {price.price_id!r}", row=n, column="price_id"))
        out[price.price_id] = price
    if problems:
        raise ValidationError(problems)
    return out


@lru_cache(maxsize=1)
def unit_prices() -> dict[str, Price]:
    """The shipped unit price table (read once)."""
    return read_prices(UNIT_PRICES_FILE)


def with_overrides(prices: Mapping[str, Price], overrides: Mapping[str, object] | None,
                   file: str = "engagement.yaml") -> dict[str, Price]:
    """The engagement's own prices win. ``overrides`` maps a price id to a number (same
    unit, currency and year as the shipped price) or to a record with at least ``value``,
    plus ``unit``, ``currency`` and ``year`` for a new id; the source defaults to
    "Engagement override". Every bad entry is reported at once, named by its key."""
    out = dict(prices)
    problems = []
    for pid, spec in (overrides or {}).items():
        base = out.get(pid)
        rec = {"value": spec} if isinstance(spec, (int, float)) and not isinstance(spec, bool) else dict(spec or {})
        merged = {**(base.model_dump() if base else {}), "price_id": pid,
                  "source": "Engagement override (prices in engagement.yaml)", "licence": "Client data",
                  "notes": "", **rec}
        if base is not None and "year" not in rec:
            merged["year"] = base.year
        try:
            out[pid] = Price.model_validate(merged)
        except PydanticValidationError as exc:
            problems.extend(Problem(file, e["msg"], column=f"prices.{pid}.{'.'.join(map(str, e['loc']))}")
                            for e in exc.errors())
    if problems:
        raise ValidationError(problems)
    return out


def price_register(prices: Iterable[Price]) -> dict[str, dict]:
    """The ``prices`` register of results.json: id -> value, unit, currency, source, year,
    licence, notes (one entry per id, in id order)."""
    return {p.price_id: p.model_dump(exclude={"price_id"}) for p in sorted(set(prices), key=lambda p: p.price_id)}


# --- currency --------------------------------------------------------------------------------

class Rate(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    currency: str = Field(pattern=r"^[A-Z]{3}$")
    units_per_eur: float = Field(gt=0)
    date: date
    source: str = Field(min_length=1)
    licence: str = ""


def read_rates(path: Path = CURRENCY_RATES_FILE) -> dict[str, Rate]:
    """Dated reference rates: currency -> units of it per 1 EUR."""
    out, problems = {}, []
    for n, raw in enumerate(_read_rows(path), start=2):
        try:
            r = Rate.model_validate(raw)
        except PydanticValidationError as exc:
            problems.extend(_problems_from(exc, str(path), n))
            continue
        out[r.currency] = r
    if problems:
        raise ValidationError(problems)
    return out


@lru_cache(maxsize=1)
def currency_rates() -> dict[str, Rate]:
    return read_rates(CURRENCY_RATES_FILE)


def exchange_rate(from_currency: str, to_currency: str, overrides: Mapping[str, float] | None = None,
                  rates: Mapping[str, Rate] | None = None) -> float:
    """Units of ``to_currency`` per unit of ``from_currency``, through the euro:

        rate = (to per EUR) / (from per EUR)

    ``overrides`` (the engagement's own rates) are units of a currency per 1 EUR and win
    over the shipped table. An unknown currency is an InputError naming it."""
    if from_currency == to_currency:
        return 1.0
    table = {c: r.units_per_eur for c, r in (rates if rates is not None else currency_rates()).items()}
    for cur, value in (overrides or {}).items():
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
            raise ValidationError([Problem("engagement.yaml", f"rate must be a positive number, got {value!r}",
                                           column=f"currency_rates.{cur}")])
        table[cur] = float(value)
    missing = [c for c in (from_currency, to_currency) if c not in table]
    if missing:
        raise InputError(f"No exchange rate for {', '.join(missing)}: add it under currency_rates in "
                         f"engagement.yaml (units per 1 EUR) or to {CURRENCY_RATES_FILE.name}")
    return table[to_currency] / table[from_currency]


def convert(amount: float, from_currency: str, to_currency: str, overrides: Mapping[str, float] | None = None,
            rates: Mapping[str, Rate] | None = None) -> float:
    """``amount`` in ``from_currency`` expressed in ``to_currency`` (see :func:`exchange_rate`)."""
    return amount * exchange_rate(from_currency, to_currency, overrides, rates)


# --- unit prices -------------------------------------------------------------------------------

def unit_cost(price_id: str, quantity: float, currency: str, prices: Mapping[str, Price] | None = None,
              rate_overrides: Mapping[str, float] | None = None) -> PricedCost:
    """Cost = quantity × unit price, converted to ``currency``. Unknown id -> amount None."""
    table = prices if prices is not None else unit_prices()
    price = table.get(price_id)
    if price is None:
        return PricedCost(amount=None, currency=currency, match=MatchKind.UNKNOWN,
                          note=f"no price {price_id!r} in the register")
    amount = convert(quantity * price.value, price.currency, currency, rate_overrides)
    return PricedCost(amount=amount, currency=currency, price_ids=(price_id,), prices=(price,))


# --- genai-prices ------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _provider_map() -> dict[str, str]:
    return {r["ecologits_provider"]: r["genai_prices_provider"] for r in _read_rows(GENAI_PROVIDERS_FILE)}


@lru_cache(maxsize=1)
def _alias_map() -> dict[tuple[str, str], tuple[str, str]]:
    return {(r["ecologits_provider"], r["model"]): (r["genai_prices_model"], r["reason"])
            for r in _read_rows(GENAI_ALIASES_FILE)}


def _bundled_snapshot():
    """genai-prices' bundled snapshot, never one fetched by ``UpdatePrices``."""
    from genai_prices import data_snapshot  # late: loads its bundled price snapshot

    snap = data_snapshot.get_snapshot()
    if snap.from_auto_update:  # someone in-process ran UpdatePrices: do not use fetched data
        snap = data_snapshot._bundled_snapshot()
    return snap


def genai_provider(provider: str) -> str | None:
    """The genai-prices provider id for an EcoLogits provider id (or an alias already in
    genai-prices' form). None for hosts without a single list price (Hugging Face)."""
    mapping = _provider_map()
    if provider in mapping:
        return mapping[provider] or None
    return provider if provider in set(mapping.values()) else None


def resolve_model(provider: str, model: str):
    """(genai-prices Provider, ModelInfo, MatchKind, note) or None with the reason.

    Order: our curated table (data/prices/genai_model_aliases.csv) first, where an empty
    target means "do not price this name"; then genai-prices' own matching, reported as
    EXACT when the ids agree and PACKAGE_ALIAS otherwise (the note names the model used)."""
    gp = genai_provider(provider)
    if gp is None:
        return None, f"no list-price provider for {provider!r} (self-hosted or multi-host models: give a price)"
    alias = _alias_map().get((provider, model))
    ref = model
    if alias is not None:
        target, reason = alias
        if not target:
            return None, f"{provider}/{model}: {reason}"
        ref = target
    try:
        prov, info = _bundled_snapshot().find_provider_model(ref, None, gp, None)
    except LookupError:
        return None, f"genai-prices {GENAI_PRICES_VERSION} has no price for {gp}/{model}"
    if info.id == model.lower():
        return (prov, info, MatchKind.EXACT, ""), ""
    return (prov, info, MatchKind.PACKAGE_ALIAS,
            f"priced as {gp}/{info.id} (genai-prices' match for {model!r})"), ""


_PRICE_KEYS = (("input_mtok", "1M input tokens"), ("cache_read_mtok", "1M cached input tokens"),
               ("output_mtok", "1M output tokens"))


def _price_records(prov, info, model_price, at: date, suffix: str, used: set[str]) -> list[Price]:
    """The register entries for the price components a calculation used."""
    out = []
    urls = ", ".join(prov.pricing_urls or []) or "provider price page"
    for key, unit in _PRICE_KEYS:
        value = getattr(model_price, key, None)
        if value is None or key not in used:
            continue
        tiers = ""
        if hasattr(value, "base"):  # TieredPrices: the base rate; tiers noted
            tiers = "; tiered: " + ", ".join(f"{t.price} from {t.start:,} input tokens" for t in value.tiers)
            value = value.base
        out.append(Price(price_id=f"genai-prices:{prov.id}/{info.id}:{key}{suffix}", value=float(value), unit=unit,
                         currency="USD", source=f"genai-prices {GENAI_PRICES_VERSION} bundled data ({urls})",
                         year=at.year, licence="MIT (genai-prices)",
                         notes=f"List price in force on {at.isoformat()}{tiers}"))
    return out


def api_price(provider: str, model: str, input_tokens: float, cached_input_tokens: float = 0.0,
              output_tokens: float = 0.0, requests: float = 1.0, *, currency: str = "USD",
              at: date | None = None, batch: bool = False,
              rate_overrides: Mapping[str, float] | None = None) -> PricedCost:
    """List-price cost of API use, from genai-prices' bundled data (no network).

    Tokens are per request; ``input_tokens`` counts all input tokens, of which
    ``cached_input_tokens`` are read from the provider's prompt cache (billed at the
    cache-read price; genai-prices' convention). Per request:

        cost = (input − cached) × input price + cached × cache-read price
               + output × output price            (prices per token, tiers applied)

    and the total is cost × ``requests``, converted from USD to ``currency``. ``batch``
    asks for the provider's batch-API price variant; when genai-prices has none at ``at``
    the standard price is used and the note says so. Unknown provider or model, or a name
    our alias table refuses: ``amount`` None and the reason in ``note``, never a guess."""
    at = at or DEFAULT_PRICE_DATE
    if cached_input_tokens > input_tokens:
        raise InputError(f"{provider}/{model}: cached_input_tokens ({cached_input_tokens:g}) exceed "
                         f"input_tokens ({input_tokens:g}); input_tokens counts cached ones too")
    per_request, prices, match, priced_model, note = _api_price_per_request(
        provider, model, float(input_tokens), float(cached_input_tokens), float(output_tokens), at, batch)
    if per_request is None:
        return PricedCost(amount=None, currency=currency, match=MatchKind.UNKNOWN, note=note)
    return PricedCost(amount=convert(per_request * float(requests), "USD", currency, rate_overrides),
                      currency=currency, price_ids=tuple(p.price_id for p in prices), prices=prices, match=match,
                      priced_model=priced_model, note=note)


@lru_cache(maxsize=4096)
def _api_price_per_request(provider: str, model: str, input_tokens: float, cached_input_tokens: float,
                           output_tokens: float, at: date, batch: bool):
    """(USD per request, price records, match, priced model, note) from genai-prices'
    bundled data, or (None, (), UNKNOWN, None, reason). Cached: feasibility prices the same
    rows once per option and bound."""
    from genai_prices import Usage  # late: loads its bundled price snapshot

    resolved, why = resolve_model(provider, model)
    if resolved is None:
        return None, (), MatchKind.UNKNOWN, None, why
    prov, info, match, note = resolved
    usage = Usage(input_tokens=round(input_tokens), cache_read_tokens=round(cached_input_tokens) or None,
                  output_tokens=round(output_tokens))
    when = datetime(at.year, at.month, at.day, 12, tzinfo=timezone.utc)
    snap = _bundled_snapshot()
    standard = snap.calc(usage, info.id, prov.id, None, when)
    calc, suffix = standard, ""
    if batch:
        batched = snap.calc(usage, info.id, prov.id, None, when, {"processing": "batch"})
        if batched.model_price != standard.model_price:
            calc, suffix = batched, ":batch"
        else:
            missing = f"no batch price in genai-prices for {info.id} on {at.isoformat()}: standard price used"
            note = "; ".join(x for x in (note, missing) if x)
    used = {"input_mtok"} | ({"cache_read_mtok"} if cached_input_tokens else set()) \
        | ({"output_mtok"} if output_tokens else set())
    prices = _price_records(prov, info, calc.model_price, at, suffix, used)
    return float(calc.total_price), tuple(prices), match, f"{prov.id}/{info.id}", note


# --- an activity's cost ----------------------------------------------------------------------

PRICE_RULES_FILE = PRICES_DIR / "activity_price_rules.csv"


@lru_cache(maxsize=1)
def _price_rules() -> tuple[dict, ...]:
    return tuple(_read_rows(PRICE_RULES_FILE))


def activity_price_id(kind: str, mode: str = "", hardware: str = "", provider: str = "",
                      ownership: str = "") -> str | None:
    """The unit price id for a non-API activity: the first row of
    data/prices/activity_price_rules.csv whose kind matches and whose non-empty ownership,
    mode prefix, hardware prefix and provider match. None: no documented price (owned GPUs,
    for example, cost their electricity, which is its own line)."""
    for rule in _price_rules():
        if rule["kind"] != kind:
            continue
        if rule["ownership"] and rule["ownership"] != (ownership or ""):
            continue
        if rule["mode_prefix"] and not str(mode or "").startswith(rule["mode_prefix"]):
            continue
        if rule["hardware_prefix"] and not str(hardware or "").startswith(rule["hardware_prefix"]):
            continue
        if rule["provider"] and rule["provider"] != str(provider or "").split(":")[0]:
            continue
        return rule["price_id"]
    return None


def activity_cost(activity: Mapping, base_unit: str, currency: str, *, prices: Mapping[str, Price] | None = None,
                  rate_overrides: Mapping[str, float] | None = None, at: date | None = None,
                  price_id: str | None = None) -> PricedCost:
    """The cost of one activity row for its period, in the engagement currency.

    ``activity``: a validated row (``kind``, ``quantity_base`` in ``base_unit``, ``mode``,
    ``hardware``, ``provider``, ``model``, ``ownership``, tokens per request). llm_api rows
    bought as a service are priced with :func:`api_price` (requests = quantity_base);
    everything else by its unit price (``price_id`` if given, else
    :func:`activity_price_id`), the quantity converted from ``base_unit`` to the price's
    unit with the toolkit's unit registry. Unknown: amount None and a note."""
    def text(key: str) -> str:
        v = activity.get(key)
        return "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)

    def number(key: str) -> float:
        v = activity.get(key)
        return 0.0 if v is None or (isinstance(v, float) and math.isnan(v)) or v == "" else float(v)

    kind, quantity = text("kind"), number("quantity_base")
    table = prices if prices is not None else unit_prices()
    if price_id is None and kind == "llm_api" and text("ownership") in ("", "purchased_service"):
        return api_price(text("ecologits_provider") or text("provider"), text("model"), number("input_tokens"),
                         number("cached_input_tokens"), number("output_tokens"), quantity, currency=currency,
                         at=at, rate_overrides=rate_overrides)
    pid = price_id or activity_price_id(kind, text("mode"), text("hardware"), text("provider"), text("ownership"))
    if pid is None:
        return PricedCost(amount=None, currency=currency, match=MatchKind.UNKNOWN,
                          note=f"no documented price for a {kind} activity like this one: give one in engagement.yaml")
    price = table.get(pid)
    if price is None:
        return PricedCost(amount=None, currency=currency, match=MatchKind.UNKNOWN, note=f"no price {pid!r}")
    try:
        in_price_units = quantity * conversion_factor(base_unit, price.unit)
    except Exception:  # noqa: BLE001 - pint raises a zoo of errors; a unit mismatch means unknown cost
        return PricedCost(amount=None, currency=currency, match=MatchKind.UNKNOWN,
                          note=f"{base_unit} cannot be converted to the price's unit {price.unit}")
    return unit_cost(pid, in_price_units, currency, table, rate_overrides)
