"""Money a lever saves, with the price ids it used: the half of a verdict that was missing.

Two kinds of saving:

* **API fees** (llm_api lines): the line's cost at list price before and after the change
  (a smaller model for a share of requests, cached input tokens, the batch API), both from
  :func:`audit.pricing.api_price`;
* **unit prices** (travel, hotel, fuel, hire, freight, GPU-hours): Δquantity × unit price for
  each price id the lever names under ``money.saves`` / ``money.adds``.

    money saved = cost before − cost after         (negative: the lever adds cost)
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from pydantic import BaseModel, ConfigDict

from audit.reference import pricing


class MoneyEffect(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cost_before: float | None
    cost_after: float | None
    money_saved: float | None          # None when either side's cost is unknown
    currency: str
    price_ids: tuple[str, ...] = ()
    prices: tuple[pricing.Price, ...] = ()
    note: str = ""


def money_saved(cost_before: float | None, cost_after: float | None) -> float | None:
    """Money saved = cost before − cost after; unknown when either is unknown."""
    return None if cost_before is None or cost_after is None else cost_before - cost_after


def _join(*costs: pricing.PricedCost) -> tuple[tuple[str, ...], tuple[pricing.Price, ...], str]:
    ids, prices, notes = [], [], []
    for c in costs:
        ids += [i for i in c.price_ids if i not in ids]
        prices += [p for p in c.prices if p not in prices]
        if c.note and c.note not in notes:
            notes.append(c.note)
    return tuple(ids), tuple(prices), "; ".join(notes)


def api_fee_change(provider: str, model: str, input_tokens: float, output_tokens: float, requests: float, *,
                   cached_input_tokens: float = 0.0, new_model: str | None = None, share_moved: float = 1.0,
                   new_cached_share: float | None = None, batch: bool = False, currency: str = "GBP",
                   at: date | None = None, rate_overrides: Mapping[str, float] | None = None) -> MoneyEffect:
    """API fees of one llm_api line before and after a GenAI lever.

    After = (1 − share_moved) × requests on the old model + share_moved × requests on
    ``new_model`` (default: the same model), with ``new_cached_share`` of input tokens read
    from the prompt cache (default: as before) and the batch-API price when ``batch``."""
    if not 0 <= share_moved <= 1:
        raise ValueError("share_moved must be within 0-1")
    kw = {"currency": currency, "at": at, "rate_overrides": rate_overrides}
    before = pricing.api_price(provider, model, input_tokens, cached_input_tokens, output_tokens, requests, **kw)
    cached_after = cached_input_tokens if new_cached_share is None else new_cached_share * input_tokens
    target = new_model or model
    moved = pricing.api_price(provider, target, input_tokens, cached_after, output_tokens, requests * share_moved,
                              batch=batch, **kw)
    kept = pricing.api_price(provider, model, input_tokens, cached_input_tokens, output_tokens,
                             requests * (1 - share_moved), **kw) if share_moved < 1 else None
    after = None if moved.amount is None or (kept is not None and kept.amount is None) else \
        moved.amount + (kept.amount if kept is not None else 0.0)
    ids, prices, note = _join(before, moved, *([kept] if kept is not None else []))
    return MoneyEffect(cost_before=before.amount, cost_after=after, money_saved=money_saved(before.amount, after),
                       currency=currency, price_ids=ids, prices=prices, note=note)


def unit_price_change(changes: Mapping[str, tuple[float, float]], currency: str,
                      prices: Mapping[str, pricing.Price] | None = None,
                      rate_overrides: Mapping[str, float] | None = None) -> MoneyEffect:
    """Σ over price ids of quantity before/after × unit price, in ``currency``.

    ``changes``: price id -> (quantity before, quantity after) in the price's unit, e.g.
    {"diesel_per_litre": (640, 0), "hvo_per_litre": (0, 640)}. An unknown id makes the
    effect unknown (never a partial sum) and the note names it."""
    before_total, after_total, used, notes = 0.0, 0.0, [], []
    for pid, (q_before, q_after) in changes.items():
        b = pricing.unit_cost(pid, q_before, currency, prices, rate_overrides)
        a = pricing.unit_cost(pid, q_after, currency, prices, rate_overrides)
        if b.amount is None or a.amount is None:
            notes.append(b.note or a.note)
            continue
        before_total += b.amount
        after_total += a.amount
        used.append(b)
    ids, plist, _ = _join(*used)
    if notes:
        return MoneyEffect(cost_before=None, cost_after=None, money_saved=None, currency=currency, price_ids=ids,
                           prices=plist, note="; ".join(notes))
    return MoneyEffect(cost_before=before_total, cost_after=after_total,
                       money_saved=money_saved(before_total, after_total), currency=currency, price_ids=ids,
                       prices=plist)
