"""One coherent verdict per option, defined once (data/verdicts.yaml), with the money it
saves counted, what would change it, and per-campaign / per-year figures.

    net cost per year = (person-days × day rate + capex) / lifetime years + opex per year
                        − money saved per year            (negative: it saves money)
    cost per tonne    = net cost per year / (abated kgCO2e per year / 1000)

The verdict categories and their order of rules are in data/verdicts.yaml. The effort/impact
quadrant is another axis and is not decided here.
"""
from __future__ import annotations

import math
from enum import Enum
from functools import lru_cache

import yaml
from pydantic import BaseModel, ConfigDict, Field

from audit.core.paths import DATA_DIR

VERDICTS_FILE = DATA_DIR / "verdicts.yaml"


class Verdict(str, Enum):
    PAYS_FOR_ITSELF = "pays_for_itself"
    WORTH_IT_AT_CARBON_PRICE = "worth_it_at_carbon_price"
    CO_BENEFITS_ONLY = "co_benefits_only"
    NOT_WORTH_IT = "not_worth_it"
    NO_GAIN = "no_gain"


class VerdictDefinition(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Verdict
    label: str = Field(min_length=1)
    meaning: str = Field(min_length=1)
    in_plan: bool = False


@lru_cache(maxsize=1)
def definitions() -> dict[Verdict, VerdictDefinition]:
    """The verdict set from data/verdicts.yaml, in its documented order."""
    raw = yaml.safe_load(VERDICTS_FILE.read_text(encoding="utf-8"))
    defs = [VerdictDefinition.model_validate(x) for x in raw["verdicts"]]
    return {d.id: d for d in defs}


def label(v: Verdict | str) -> str:
    """The plain-words label every deliverable shows for a verdict id."""
    return definitions()[Verdict(v)].label


def order() -> dict[str, int]:
    """Verdict id -> its rank in data/verdicts.yaml (best first), for sorting options."""
    return {d.id.value: n for n, d in enumerate(definitions().values())}


def in_plan() -> tuple[str, ...]:
    """The verdict ids whose options go into the plan and the forecast (``in_plan: true``)."""
    return tuple(d.id.value for d in definitions().values() if d.in_plan)


def labels() -> dict[str, str]:
    """Verdict id -> label, in the documented order."""
    return {d.id.value: d.label for d in definitions().values()}


def words(v) -> str:
    """What a deliverable prints for a verdict: its label for a verdict id, else the text as
    given (an empty string for None)."""
    if v is None:
        return ""
    try:
        return label(v)
    except ValueError:
        return str(v)


class VerdictResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    verdict: Verdict
    label: str
    reason: str
    what_would_change_it: str
    cost_per_tonne: float | None


# --- equations ----------------------------------------------------------------------------

def one_off_cost(person_days: float, day_rate: float, capex: float) -> float:
    """One-off cost = person-days × day rate + capex."""
    return person_days * day_rate + capex


def net_cost_per_year(person_days: float, day_rate: float, capex: float, lifetime_years: float,
                      opex_per_year: float, money_saved_per_year: float) -> float:
    """Net cost per year = one-off cost / lifetime + opex − money saved (negative: saves money)."""
    if lifetime_years <= 0:
        raise ValueError("lifetime_years must be positive")
    return one_off_cost(person_days, day_rate, capex) / lifetime_years + opex_per_year - money_saved_per_year


def cost_per_tonne(net_cost: float, abated_kgco2e: float) -> float | None:
    """Net cost per tonne abated; None when nothing is abated."""
    return net_cost / (abated_kgco2e / 1000.0) if abated_kgco2e > 0 else None


def break_even_savings_share(net_cost: float, money_saved: float) -> float | None:
    """The share of the expected money saved that must materialise for the option to pay for
    itself: (net cost + saved) / saved, i.e. costs / saved. None without savings."""
    return (net_cost + money_saved) / money_saved if money_saved > 0 else None


def _money(x: float, cur: str) -> str:
    return f"{x:,.0f} {cur}"


def verdict(abated_kgco2e: float, net_cost_per_year: float, carbon_price_per_tonne: float, *,
            money_saved_per_year: float = 0.0, co_benefits: tuple[str, ...] | list[str] = (),
            currency: str = "GBP", hint: str = "") -> VerdictResult:
    """The verdict, a reason in plain words and what would change it.

    ``net_cost_per_year`` already nets off ``money_saved_per_year`` (see
    :func:`net_cost_per_year`); the saving is passed too so the reason can say how much of
    it must materialise. ``hint`` (from the lever's ``what_would_change_it``) is appended."""
    cur = currency
    cpt = cost_per_tonne(net_cost_per_year, abated_kgco2e)
    costs = net_cost_per_year + money_saved_per_year
    extra = f" {hint}" if hint else ""
    if not abated_kgco2e or abated_kgco2e <= 0 or (isinstance(abated_kgco2e, float) and math.isnan(abated_kgco2e)):
        money = (f" It would save {_money(-net_cost_per_year, cur)} a year." if net_cost_per_year < 0 else "")
        v, reason = Verdict.NO_GAIN, "It does not cut emissions in this engagement." + money
        change = "It gains only if the activities it applies to emit more, or the change cuts them." + extra
    elif net_cost_per_year <= 0:
        share = break_even_savings_share(net_cost_per_year, money_saved_per_year)
        v = Verdict.PAYS_FOR_ITSELF
        reason = (f"It saves {_money(money_saved_per_year, cur)} a year against {_money(costs, cur)} of effort, "
                  f"capex and running cost: a net saving of {_money(-net_cost_per_year, cur)} a year.")
        change = (f"It still pays for itself if at least {share:.0%} of the expected savings materialise."
                  if share is not None else "It costs nothing to run; only a loss of its carbon cut would change it.")
        change += extra
    elif carbon_price_per_tonne > 0 and cpt is not None and cpt <= carbon_price_per_tonne:
        v = Verdict.WORTH_IT_AT_CARBON_PRICE
        reason = (f"It costs {_money(net_cost_per_year, cur)} a year net, {_money(cpt, cur)} per tonne avoided, "
                  f"within the carbon price of {_money(carbon_price_per_tonne, cur)} per tonne.")
        change = (f"It would pay for itself with a further {_money(net_cost_per_year, cur)} a year of savings; "
                  f"it stops being worth it if the carbon price falls below {_money(cpt, cur)} per tonne." + extra)
    else:
        gap = net_cost_per_year - max(carbon_price_per_tonne, 0.0) * abated_kgco2e / 1000.0
        v = Verdict.CO_BENEFITS_ONLY if co_benefits else Verdict.NOT_WORTH_IT
        reason = (f"It costs {_money(net_cost_per_year, cur)} a year net, {_money(cpt, cur)} per tonne avoided, "
                  f"above the carbon price of {_money(carbon_price_per_tonne, cur)} per tonne.")
        if co_benefits:
            reason += " Co-benefits: " + "; ".join(co_benefits) + "."
        change = (f"It becomes worth it at a carbon price of {_money(cpt, cur)} per tonne, or with a further "
                  f"{_money(gap, cur)} a year of savings." + extra)
    return VerdictResult(verdict=v, label=label(v), reason=reason, what_would_change_it=change, cost_per_tonne=cpt)


# --- campaign or year ------------------------------------------------------------------------

class PeriodType(str, Enum):
    CAMPAIGN = "campaign"
    YEAR = "year"


class Period(BaseModel):
    """engagement.yaml ``period_type`` and ``campaigns_per_year`` (default 1). Activity
    quantities are for one campaign when period_type is campaign, for a year otherwise."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    period_type: PeriodType = PeriodType.YEAR
    campaigns_per_year: float = Field(default=1.0, gt=0)

    @property
    def periods_per_year(self) -> float:
        """How many engagement periods make a year: campaigns_per_year, or 1 for a year."""
        return self.campaigns_per_year if self.period_type is PeriodType.CAMPAIGN else 1.0


def per_year(value_per_period: float, period: Period) -> float:
    """A flow measured over the engagement's period, as a yearly figure: value × periods a year."""
    return value_per_period * period.periods_per_year


def per_campaign(value_per_year: float, period: Period) -> float:
    """A yearly flow as a per-campaign figure: value / campaigns a year."""
    return value_per_year / period.campaigns_per_year


def period_figures(record: dict, period: Period,
                   keys: tuple[str, ...] = ("abated_kgco2e_per_year", "money_saved_per_year",
                                            "net_cost_per_year")) -> dict | None:
    """The ``per_campaign`` block of an intervention record (None when period_type is year):
    each yearly key divided by campaigns per year, named without ``_per_year``."""
    if period.period_type is not PeriodType.CAMPAIGN:
        return None
    out = {k.removesuffix("_per_year"): (per_campaign(record[k], period) if record.get(k) is not None else None)
           for k in keys if k in record}
    out["campaigns_per_year"] = period.campaigns_per_year
    return out
