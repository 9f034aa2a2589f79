"""What each activity costs, for the engagement's period, in the engagement currency.

    cost = quantity × unit price × exchange rate          (non-API rows)
    cost = Σ tokens × token price × requests × exchange rate   (API rows, genai-prices)

Prices come from audit.reference.pricing: the engagement's own ``prices`` win, then
genai-prices' bundled data for API lines (offline), then data/prices/unit_prices.csv.
Exchange rates: data/currency_rates.csv, overridden by the engagement's ``currency_rates``.
A cost that cannot be known is ``None`` (never guessed) and its note says why.

``price_register`` gives results.json's ``prices``: every id an activity's ``cost_ids``
names resolves there.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date

import pandas as pd

from audit.core.models import Engagement, PriceOverride
from audit.reference import pricing


def price_date(engagement: Engagement) -> date:
    """The date API list prices are looked up at: 31 December of the reporting year
    (the package's default date when the period names no year)."""
    year = engagement.reporting_year
    return date(year, 12, 31) if year else pricing.DEFAULT_PRICE_DATE


def override_records(engagement: Engagement) -> dict[str, object]:
    """engagement.yaml ``prices`` as plain values/records for pricing.with_overrides."""
    return {pid: (v.model_dump(exclude_none=True) if isinstance(v, PriceOverride) else v)
            for pid, v in engagement.prices.items()}


def engagement_prices(engagement: Engagement) -> dict[str, pricing.Price]:
    """The unit price table with the engagement's own prices applied (they win)."""
    return pricing.with_overrides(pricing.unit_prices(), override_records(engagement))


def _overridden_api_cost(cost: pricing.PricedCost, row: Mapping, prices: Mapping[str, pricing.Price],
                         engagement: Engagement) -> pricing.PricedCost:
    """An API cost recomputed when the engagement overrides one of its genai-prices ids:

        cost = requests × [(input − cached) × p_input + cached × p_cached + output × p_output] / 1e6
    """
    tokens = {"input_mtok": _num(row, "input_tokens") - _num(row, "cached_input_tokens"),
              "cache_read_mtok": _num(row, "cached_input_tokens"), "output_mtok": _num(row, "output_tokens")}
    used, amount = [], 0.0
    for p in cost.prices:
        chosen = prices.get(p.price_id, p)
        component = p.price_id.split(":")[-1] if not p.price_id.endswith(":batch") else p.price_id.split(":")[-2]
        per_request = tokens.get(component, 0.0) * chosen.value / pricing.MTOK
        amount += pricing.convert(per_request * _num(row, "quantity_base"), chosen.currency, engagement.currency,
                                  engagement.currency_rates)
        used.append(chosen)
    return cost.model_copy(update={"amount": amount, "prices": tuple(used),
                                   "note": "; ".join(x for x in (cost.note, "engagement price override") if x)})


def _num(row: Mapping, key: str) -> float:
    v = row.get(key)
    if v is None or v == "":
        return 0.0
    try:
        f = float(v)
    except (TypeError, ValueError):
        return 0.0
    return 0.0 if math.isnan(f) else f


def row_cost(row: Mapping, engagement: Engagement, prices: Mapping[str, pricing.Price]) -> pricing.PricedCost:
    """One activity row's cost (see the module docstring). Self-hosted LLM rows (owned or
    leased) cost their GPU time and electricity, which are their own rows: unknown here."""
    record = dict(row)
    record["ecologits_provider"] = record.get("provider_canonical") or record.get("provider")
    cost = pricing.activity_cost(record, str(record.get("base_unit") or ""), engagement.currency, prices=prices,
                                 rate_overrides=engagement.currency_rates, at=price_date(engagement))
    if cost.amount is not None and any(p.price_id in engagement.prices for p in cost.prices) \
            and str(record.get("kind")) == "llm_api":
        cost = _overridden_api_cost(cost, record, prices | {
            p.price_id: pricing.with_overrides({p.price_id: p}, {p.price_id: override_records(engagement)[p.price_id]})
            [p.price_id] for p in cost.prices if p.price_id in engagement.prices}, engagement)
    return cost


def activity_costs(engagement: Engagement, activities: pd.DataFrame | None
                   ) -> tuple[dict[str, pricing.PricedCost], dict[str, pricing.Price]]:
    """activity id -> its PricedCost, and every price used (id -> Price) for the register."""
    if activities is None or activities.empty:
        return {}, {}
    prices = engagement_prices(engagement)
    costs, used = {}, {}
    for row in activities.to_dict(orient="records"):
        cost = row_cost(row, engagement, prices)
        costs[str(row["activity_id"])] = cost
        used.update({p.price_id: p for p in cost.prices})
    return costs, used


def price_register(used: Mapping[str, pricing.Price]) -> dict[str, dict]:
    """results.json ``prices``: id -> value, unit, currency, source, year, licence, notes."""
    return pricing.price_register(used.values())


def costs_from_json(data: Mapping) -> tuple[dict[str, pricing.PricedCost], dict[str, pricing.Price]]:
    """The activity costs and price register back from a results.json mapping (for the report
    writers, which reload the results a notebook step saved)."""
    currency = str((data.get("engagement") or {}).get("currency") or "")
    prices = {pid: pricing.Price.model_validate({"price_id": pid, **entry})
              for pid, entry in (data.get("prices") or {}).items()}
    costs = {}
    for a in data.get("activities") or []:
        if a.get("derived_from") or "cost" not in a:
            continue
        ids = tuple(a.get("cost_ids") or ())
        costs[a["activity_id"]] = pricing.PricedCost(
            amount=a["cost"], currency=currency, price_ids=ids, prices=tuple(prices[i] for i in ids if i in prices),
            match=pricing.MatchKind.EXACT if a["cost"] is not None else pricing.MatchKind.UNKNOWN,
            note=a.get("cost_note") or "")
    return costs, prices
