"""Interventions: is the gain worth the effort?

Options (the lever library data/levers.yaml, extendable per engagement) change the validated
activity table; the estimator is re-run on the changed rows, so an intervention's gain
uses exactly the same methodology and factors as the baseline. Costs follow the
marginal abatement cost curve convention (docs/methodology.md, Feasibility):

    one_off        = capex + person_days × day_rate
    savings        = max(kWh saved, 0) × electricity price + Σ Δquantity × unit cost
    cost_per_tonne = (one_off / lifetime + Δopex − savings) / tCO2e abated per year
    payback_years  = one_off / (savings − Δopex)

Non-energy savings (flights, hotel nights, fuel no longer bought) come from an
intervention's optional ``savings`` entries and the unit costs in
data/forecast_defaults.yaml (consultant assumptions, overridable). audit.analyses.sensitivity
re-evaluates the same formula with one input moved at a time (the tornado chart), and
audit.analyses.effort_impact places each option on the effort/impact matrix.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from audit.analyses import verdicts
from audit.analyses.options import Option, option_from_intervention, option_from_lever, savings_specs
from audit.core.exceptions import FactorError
from audit.core.models import Intervention
from audit.inventory.costing import engagement_prices, price_date, row_cost
from audit.inventory.estimate import estimate
from audit.inventory.intake import LoadedEngagement
from audit.reference import pricing
from audit.reference.factors import load_register
from audit.reference.profiles import hourly_profiles

BOUNDS = ("low", "central", "high")
VERDICT_ORDER = verdicts.order()             # data/verdicts.yaml, best first
ACTIONABLE_VERDICTS = verdicts.in_plan()     # the options that go into the plan and the forecast (in_plan: true)


# --- equations -----------------------------------------------------------------------------

def annualised_cost(one_off: float, lifetime_years: float, opex_per_year: float, savings_per_year: float) -> float:
    """Net annual cost = one-off / lifetime + Δopex − savings (MACC bar height numerator)."""
    return one_off / lifetime_years + opex_per_year - savings_per_year


def cost_per_tonne(net_annual_cost: float, abated_kg_per_year: float) -> float | None:
    """MACC bar height: net annual cost / tCO2e abated per year (None when nothing is abated)."""
    return net_annual_cost / (abated_kg_per_year / 1000.0) if abated_kg_per_year > 0 else None


PAYBACK_HORIZON_YEARS = 50  # beyond this, "pays back" means nothing to a client


def payback_years(one_off: float, net_savings_per_year: float) -> float | None:
    """Payback = one-off cost / annual net savings. None when savings never pay it back
    (no net savings, or longer than PAYBACK_HORIZON_YEARS)."""
    if one_off == 0 and net_savings_per_year >= 0:
        return 0.0
    if net_savings_per_year <= 0:
        return None
    years = one_off / net_savings_per_year
    return years if years <= PAYBACK_HORIZON_YEARS else None


def non_energy_savings(base_rows: pd.DataFrame, new_rows: pd.DataFrame, specs: list[dict],
                       unit_costs: dict) -> list[dict]:
    """Costs no longer incurred: for each ``savings`` entry, Δquantity × unit cost.

    Δquantity = Σ base quantity_base − Σ changed quantity_base over the rows the entry
    matches (``kind``, optional ``mode_prefix``); with ``measure: input_tokens`` (or
    output_tokens) the quantity is requests × tokens. The unit cost is
    ``unit_costs[entry.unit_cost].value`` per ``per`` units (default 1). A negative
    Δquantity is a cost increase and is kept as such."""
    out = []
    for spec in specs:
        kinds = spec.get("kind")
        kinds = [kinds] if isinstance(kinds, str) else list(kinds or [])
        prefixes = spec.get("mode_prefix")
        prefixes = [prefixes] if isinstance(prefixes, str) else list(prefixes or [])
        mask = base_rows["kind"].isin(kinds) if kinds else pd.Series(True, index=base_rows.index)
        if prefixes:
            mask &= base_rows["mode"].astype(str).map(lambda m: any(m.startswith(p) for p in prefixes))
        ids = set(base_rows.loc[mask, "activity_id"])
        if not ids:
            continue
        measure = spec.get("measure", "quantity")

        def qty(df: pd.DataFrame) -> float:
            df = df[df["activity_id"].isin(ids)]
            q = df["quantity_base"].astype(float)
            return float((q if measure == "quantity" else q * df[measure].fillna(0.0).astype(float)).sum())

        cost = unit_costs[spec["unit_cost"]]
        per = float(cost.get("per", 1) or 1)
        delta = qty(base_rows) - qty(new_rows)
        out.append({"unit_cost": spec["unit_cost"], "activities": sorted(ids), "measure": measure,
                    "quantity_saved": delta, "unit": cost.get("unit", ""), "cost_per_unit": float(cost["value"]) / per,
                    "saving": delta * float(cost["value"]) / per, "basis": cost.get("basis", "")})
    return out


# --- hourly profile for time shifting ---------------------------------------------------------

@lru_cache(maxsize=256)
def cleanest_window_ratio(country: str, window_hours: int = 8) -> tuple[float, float, float] | None:
    """Mean intensity of each month's cleanest contiguous window / the annual mean.

    Returns (best month ratio, mean ratio, worst month ratio) — the low/central/high scale of
    grid intensity for work moved into that window — or None without a profile."""
    prof = hourly_profiles()
    p = prof[prof["country"] == country]
    if p.empty:
        return None
    ratios = []
    annual = p["g_co2e_per_kwh"].mean()
    for _, m in p.groupby("month"):
        v = m.sort_values("hour_utc")["g_co2e_per_kwh"].to_numpy()
        ring = np.concatenate([v, v[: window_hours - 1]])
        means = np.convolve(ring, np.ones(window_hours) / window_hours, mode="valid")[: len(v)]
        ratios.append(means.min() / annual)
    return float(min(ratios)), float(np.mean(ratios)), float(max(ratios))


# --- applying interventions ----------------------------------------------------------------

@dataclass
class InterventionResult:
    record: dict
    abated_by_line: pd.Series  # kgCO2e per baseline line id (central), for the plan forecast
    prices: dict | None = None  # price id -> Price used by the money side


def _matches(activities: pd.DataFrame, applies_to: dict[str, list[str]]) -> pd.Series:
    """Rows an option applies to: every column's value among the allowed ones; ``mode_prefix``
    matches the start of ``mode``."""
    mask = np.ones(len(activities), bool)  # combined as arrays: ``Series &=`` costs ~1 ms a column
    for col, allowed in applies_to.items():
        if col == "mode_prefix":
            mode = activities["mode"].astype(str)
            mask &= mode.map(lambda m: any(m.startswith(str(p)) for p in allowed)).to_numpy(bool)
        elif col == "provider":
            names = [str(a) for a in allowed]
            ok = activities["provider"].astype(str).isin(names).to_numpy(bool)
            if "provider_canonical" in activities:
                ok = ok | activities["provider_canonical"].astype(str).isin(names).to_numpy(bool)
            mask &= ok
        else:
            mask &= activities[col].astype(str).isin([str(a) for a in allowed]).to_numpy(bool)
    return pd.Series(mask, index=activities.index)


SPLIT = "~kept"  # suffix of the part of a row an option leaves as it was (model_map with share_moved)


def _num_col(rows: pd.DataFrame, col: str) -> pd.Series:
    return pd.to_numeric(rows[col], errors="coerce") if col in rows else pd.Series(np.nan, index=rows.index)


def km_per_trip(passenger_km: float, trips: float) -> float:
    """One-way distance of a trip = passenger-km / one-way trips (NaN without trips)."""
    return passenger_km / trips if trips and trips > 0 else float("nan")


def draft_then_finish_scale(accepted_fraction: float, draft_energy_ratio: float) -> float:
    """Generations (in full-quality equivalents) when every candidate is drafted cheaply and
    only the accepted ones are finished: r + a, where r is a draft's energy share and a the
    accepted fraction (1 when it does not save: never more than today)."""
    return min(draft_energy_ratio + accepted_fraction, 1.0)


def _changed(rows: pd.DataFrame, change: dict, bound: int, baseline_lines: pd.DataFrame) -> pd.DataFrame | None:
    """The option's changed rows for one bound (0 low, 1 central, 2 high). Rows the change
    cannot apply to (no profile, a trip beyond the distance threshold) are left out."""
    rows = rows.copy(deep=False)  # copy-on-write: changing the copy never changes the activities
    rows["_price_input_tokens"] = rows["input_tokens"]
    for col, val in change.get("set", {}).items():
        rows[col] = val
        if col == "region" and val == "":
            rows["country"] = ""
    if change.get("set", {}).get("ownership") == "purchased_service":
        # a managed service bills per token: the self-hosted deployment's GPUs and hours go
        for col in ("gpus", "serving_hours", "batch_size"):
            if col in rows:
                rows[col] = np.nan
    for col, triple in change.get("scale", {}).items():
        rows[col] = rows[col].astype(float) * triple[bound]
        if col == "quantity":
            rows["quantity_base"] = rows["quantity_base"] * triple[bound]
        if col == "input_tokens":
            rows["_price_input_tokens"] = rows["input_tokens"]
    if change.get("mode_map"):
        rows["mode"] = rows["mode"].map(lambda m: change["mode_map"].get(m, m))
    if change.get("mode_switch"):
        sw = change["mode_switch"]
        trips = _num_col(rows, "trips")
        km = [km_per_trip(q, t) for q, t in zip(rows["quantity_base"].astype(float), trips)]
        rows = rows[[k <= float(sw["max_one_way_km"]) for k in km]]  # no trips given: distance unknown, not moved
        rows["mode"], rows["kind"] = sw["to"], sw["kind"]
    if change.get("fuel_to_electricity"):
        kwh = rows["quantity_base"].astype(float) * change["fuel_to_electricity"]["kwh_per_litre"][bound]
        rows["kind"], rows["mode"], rows["unit"], rows["base_unit"] = "electricity", "", "kWh", "kWh"
        rows["quantity"], rows["quantity_base"], rows["unit_factor"] = kwh, kwh, 1.0
    if change.get("model_map"):
        share = change.get("share_moved", (1.0, 1.0, 1.0))[bound]
        prov = rows.get("provider_canonical", rows["provider"]).astype(str)
        new_model = [change["model_map"].get(p, change["model_map"].get(q, {})).get(m)
                     for p, q, m in zip(prov, rows["provider"].astype(str), rows["model"].astype(str))]
        moved = rows[[m is not None for m in new_model]].copy()
        moved["model"] = [m for m in new_model if m is not None]
        for col in ("power_w", "latency_s"):  # measured for the old model: void for the new one
            moved[col] = np.nan
        kept = moved.copy()
        kept["model"] = rows.loc[moved.index, "model"]
        kept[["power_w", "latency_s"]] = rows.loc[moved.index, ["power_w", "latency_s"]]
        for part, f in ((moved, share), (kept, 1 - share)):
            part["quantity"] = part["quantity"].astype(float) * f
            part["quantity_base"] = part["quantity_base"].astype(float) * f
        kept["activity_id"] = kept["activity_id"] + SPLIT
        rows = pd.concat([moved, kept[kept["quantity_base"] > 0]])
    if change.get("cached_input_share"):
        share = change["cached_input_share"][bound]
        tokens = rows["input_tokens"].astype(float).fillna(0.0)
        rows["cached_input_tokens"] = tokens * share  # billed at the cache-read price
        rows["_price_input_tokens"] = tokens
        rows["input_tokens"] = tokens * (1 - share)   # cached tokens skip prefill: no prefill energy
    if change.get("draft_then_finish"):
        ratio = change["draft_then_finish"]["draft_energy_ratio"]
        af = rows["accepted_fraction"].fillna(1.0).astype(float)
        scale = np.array([draft_then_finish_scale(a, ratio) for a in af])
        rows["quantity"] = rows["quantity"] * scale
        rows["quantity_base"] = rows["quantity_base"] * scale
        rows["accepted_fraction"] = np.minimum(af / scale, 1.0)
    if change.get("selfhosted"):
        sh = change["selfhosted"]
        rows = rows[_num_col(rows, "gpus").gt(0) & _num_col(rows, "serving_hours").gt(0)]
        if sh.get("batch_size"):
            rows["batch_size"] = np.maximum(_num_col(rows, "batch_size").fillna(0.0), sh["batch_size"])
            rows["utilisation"] = np.nan
        if sh.get("params_b"):
            rows["model"] = f"{sh['params_b']:g}B"
    if "accepted_fraction_scale" in change:
        old = rows["accepted_fraction"].fillna(1.0).astype(float)
        new = np.minimum(old * change["accepted_fraction_scale"][bound], 1.0)
        factor = old / new
        rows["quantity"] = rows["quantity"] * factor
        rows["quantity_base"] = rows["quantity_base"] * factor
        rows["accepted_fraction"] = new
    if change.get("intensity_scale") is not None:
        ci = baseline_lines.set_index("activity_id").loc[rows["activity_id"], "intensity_g_per_kwh"].to_numpy()
        spec = change["intensity_scale"]
        scales = []
        for country in rows["country"].where(rows["country"] != "", rows["region"]):
            r = cleanest_window_ratio(country) if spec == "profile" else spec
            scales.append(np.nan if r is None else r[bound])
        scales = np.asarray(scales, float)
        ci = ci.astype(float)
        keep = ~np.isnan(scales)
        if change.get("price_context"):
            # A price change (the batch API) applies to every row; rows without an hourly
            # profile keep their intensity (no carbon change is claimed for them).
            scales, keep = np.where(keep, scales, 1.0), np.ones(len(scales), bool)
        if not keep.any():
            return None
        rows = rows[keep]
        rows["carbon_intensity_g_per_kwh"] = ci[keep] * scales[keep]
    return rows


def _priced_row(row: dict) -> dict:
    """A changed row as pricing sees it: all input tokens billed (cached ones at their price)."""
    out = dict(row)
    if "_price_input_tokens" in out:
        out["input_tokens"] = out["_price_input_tokens"]
    return out


def _cost_of(row: dict, engagement, prices, batch: bool) -> pricing.PricedCost:
    row = _priced_row(row)
    if batch and str(row.get("kind")) == "llm_api" and str(row.get("ownership")) in ("", "purchased_service"):
        def num(k):
            v = row.get(k)
            return 0.0 if v is None or v == "" or (isinstance(v, float) and np.isnan(v)) else float(v)
        return pricing.api_price(str(row.get("provider_canonical") or row.get("provider")), str(row.get("model")),
                                 num("input_tokens"), num("cached_input_tokens"), num("output_tokens"),
                                 num("quantity_base"), currency=engagement.currency, at=price_date(engagement),
                                 batch=True, rate_overrides=engagement.currency_rates)
    return row_cost(row, engagement, prices)


def records(frame: pd.DataFrame) -> list[dict]:
    """``frame.to_dict(orient="records")``, the same values of the same Python types, in a
    fifth of the time for the small frames of one option (one conversion of the whole frame,
    not one per column). Frames with other than float, integer, boolean and text columns go
    through pandas."""
    if not all(dtype.kind in "fiub" or isinstance(dtype, pd.StringDtype) for dtype in frame.dtypes):
        return frame.to_dict(orient="records")
    columns = frame.columns.tolist()
    return [dict(zip(columns, row)) for row in frame.to_numpy(dtype=object).tolist()]


def money_saved(cost_before: float, cost_after: float) -> float:
    """Money saved = cost before − cost after (negative: the option adds cost)."""
    return cost_before - cost_after


def money_effect(base_rows: pd.DataFrame, new_rows: pd.DataFrame, engagement, prices, batch: bool = False,
                 base_costs: dict | None = None) -> dict:
    """What the changed rows cost against the rows they replace, for the engagement period.

    Rows whose cost is unknown on either side are left out (listed in ``unpriced``), never
    guessed. Returns {saved, before, after, price_ids, prices, unpriced, notes}."""
    base_id = [str(a).removesuffix(SPLIT) for a in new_rows["activity_id"]]
    ids = sorted(set(base_id))
    before, after, used, unpriced, notes = {}, {}, {}, set(), []
    known = base_costs or {}
    missing = [i for i in ids if i not in known]
    rows_needed = base_rows[base_rows["activity_id"].isin(missing)].to_dict(orient="records") if missing else []
    for aid, c in [(i, known[i]) for i in ids if i in known] + \
            [(r["activity_id"], row_cost(r, engagement, prices)) for r in rows_needed]:
        before[aid] = c.amount
        used.update({p.price_id: p for p in c.prices})
        if c.amount is None:
            unpriced.add(aid)
    for bid, row in zip(base_id, records(new_rows)):
        c = _cost_of(row, engagement, prices, batch)
        used.update({p.price_id: p for p in c.prices})
        if c.note and c.note not in notes:
            notes.append(c.note)
        if c.amount is None:
            unpriced.add(bid)
        else:
            after[bid] = after.get(bid, 0.0) + c.amount
    priced = [i for i in ids if i not in unpriced]
    b = float(sum(before[i] for i in priced))
    a = float(sum(after.get(i, 0.0) for i in priced))
    by_activity = [{"activity_id": i, "cost_before": float(before[i]), "cost_after": float(after.get(i, 0.0))}
                   for i in priced]
    return {"saved": money_saved(b, a), "before": b, "after": a, "price_ids": sorted(used), "prices": used,
            "unpriced": sorted(unpriced), "notes": notes, "by_activity": by_activity}


def unavailable_reason(option) -> str | None:
    """Why an option cannot be evaluated with the shipped data (its DESNZ factors are listed
    in data/desnz_to_add.csv but not yet in the register), or None. Never a made-up factor."""
    register = load_register()
    missing = [f for f in option.factors_missing if f not in register]
    if not missing:
        return None
    return (f"Option {option.id} ({option.name}) is not evaluated: the DESNZ factors it needs "
            f"({', '.join(missing)}) are not shipped yet; data/desnz_to_add.csv lists them for verification.")


def evaluate_or_warn(results, option, settings_: dict) -> tuple[InterventionResult | None, str | None]:
    """:func:`evaluate`, or (None, the reason) when the option cannot be evaluated with the
    shipped factors (missing DESNZ rows, a mode with no factor)."""
    return evaluate_many(results, [option], settings_)[0]


def _as_option(x) -> Option:
    if isinstance(x, Option):
        return x
    return option_from_intervention(x) if isinstance(x, Intervention) else option_from_lever(x)


def _tag(k: int, b: int) -> str:
    return f"#{k}.{b}"


def evaluate_many(results, options, settings_: dict) -> list[tuple[InterventionResult | None, str | None]]:
    """Every option's :func:`evaluate` with ONE re-estimate for all of them: each option's
    changed rows for each bound are tagged (``#option.bound``), estimated together, then split
    back. A re-estimate that fails (a mode with no factor) falls back to one option at a time,
    so the failing option is named and the others still evaluated."""
    options = [_as_option(o) for o in options]
    out: list = [None] * len(options)
    prepared = {}
    for k, option in enumerate(options):
        reason = unavailable_reason(option)
        if reason:
            out[k] = (None, reason)
            continue
        prep = _prepare(results, option)
        if prep is None:
            out[k] = (None, None)
            continue
        prepared[k] = prep
    eng = results.engagement

    def run(keys) -> pd.DataFrame:
        parts = [prepared[k]["new_rows"][b] for k in keys for b in range(3)]
        tags = [_tag(k, b) for k in keys for b in range(3) for _ in range(len(prepared[k]["new_rows"][b]))]
        frame = pd.concat(parts, ignore_index=True).drop(columns=["_price_input_tokens", "cached_input_tokens"],
                                                         errors="ignore")
        frame["activity_id"] = [a + tag for a, tag in zip(frame["activity_id"], tags, strict=True)]
        return estimate(LoadedEngagement(eng, frame, Path("."))).lines

    keys = list(prepared)
    if keys:
        try:
            lines = {None: run(keys)}
        except FactorError:
            lines = {}
            for k in keys:
                try:
                    lines[k] = run([k])
                except FactorError as exc:
                    out[k] = (None, f"Option {options[k].id} ({options[k].name}) is not evaluated: {exc}.")
        by_tag = {key: _lines_by_tag(frame) for key, frame in lines.items()}
        base_lines = _narrow(results.lines)
        for k in keys:
            if out[k] is not None:
                continue
            groups = by_tag.get(None, by_tag.get(k))
            per_bound = []
            for b in range(3):
                tag = _tag(k, b)
                sel = groups.get(tag[1:], groups[None])
                per_bound.append(_LineArrays(sel, lambda i, tag=tag: i.replace(tag, "").removesuffix(SPLIT)))
            out[k] = (_finish(results, options[k], prepared[k], per_bound, settings_, base_lines), None)
    return out


#: The emission-line columns an option's evaluation reads (``_finish``); selecting rows of
#: these alone, not of the ~60 columns of a line, is most of the evaluation's cost saved.
LINE_COLUMNS = ("activity_id", "derived_from", "ownership", "kwh", "kgco2e")


def _narrow(lines: pd.DataFrame) -> pd.DataFrame:
    """The lines' ``LINE_COLUMNS``, ids and ownership as text."""
    out = lines[list(LINE_COLUMNS)]
    return out.assign(activity_id=out["activity_id"].astype(str), derived_from=out["derived_from"].astype(str),
                      ownership=out["ownership"].astype(str))


def _lines_by_tag(lines: pd.DataFrame) -> dict:
    """The re-estimated lines (``LINE_COLUMNS``) grouped by the tag their owner ends with
    (``"k.b"`` of ``#k.b``, see ``_tag``), in their order; ``None``: an empty frame of the
    same columns. A line's owner is its own id, or for a derived line the activity it came from."""
    narrow = _narrow(lines)
    owner = narrow["derived_from"].where(narrow["derived_from"] != "", narrow["activity_id"])
    tags = np.array([o.rpartition("#")[2] for o in owner], dtype=object)
    groups = {tag: narrow.iloc[np.flatnonzero(tags == tag)] for tag in dict.fromkeys(tags)}
    groups[None] = narrow.iloc[:0]
    return groups


def _period(engagement) -> verdicts.Period:
    return verdicts.Period(period_type=engagement.period_type.value, campaigns_per_year=engagement.campaigns_per_year)


def evaluate(results, intervention, settings_: dict) -> InterventionResult | None:
    """Gain, money and verdict of one option on one engagement, or None if it applies to nothing.

    Quantities are the engagement period's (a campaign or a year); yearly figures are ×
    periods a year (``Engagement.periods_per_year``). A missing factor raises FactorError."""
    result, why = evaluate_many(results, [intervention], settings_)[0]
    if result is None and why and "not evaluated" in why and "DESNZ factors it needs" not in why:
        raise FactorError(why)
    return result


def _prepare(results, option: Option) -> dict | None:
    """The rows an option applies to and their changed versions for each bound (None if it
    applies to nothing, or its change leaves nothing to re-estimate)."""
    acts = results.activities
    mask = _matches(acts, option.applies_to)
    if not mask.any() or option.change.get("customisation"):
        return None  # customisation: evaluated by the customisation analysis (break-even), reported there
    rows = acts[mask]
    new_rows = []
    for b in range(3):
        changed = _changed(rows, option.change, b, results.lines)
        if changed is None or changed.empty:
            return None
        new_rows.append(changed)
    return {"rows": rows, "new_rows": new_rows}


OWNED = frozenset(("owned", "leased"))  # ownership whose electricity the client pays for


def _total(values: np.ndarray):
    """Σ values, a missing value counted as 0, exactly as ``pandas.Series.sum`` adds them: a
    float column pairwise (numpy), an object column (the lines of a re-estimate without
    derived lines can come back so) one value after the other."""
    return np.nansum(values) if values.dtype.kind == "f" else pd.Series(values, dtype=values.dtype).sum()


class _LineArrays:
    """Emission lines (``LINE_COLUMNS``) as arrays, for the many small selections of
    ``_finish`` (a pandas selection costs ~1 ms; these, microseconds). ``ids``: how to read
    the ids (the re-estimate's tag and ``SPLIT`` taken off)."""

    def __init__(self, frame: pd.DataFrame, ids=None):
        self.activity_id = np.array([ids(a) if ids else a for a in frame["activity_id"]], dtype=object)
        self.derived_from = np.array([ids(d) if ids else d for d in frame["derived_from"]], dtype=object)
        self.kg = frame["kgco2e"].to_numpy()  # the column's own dtype: see _total
        self.kwh = frame["kwh"].to_numpy()
        self.owned = np.fromiter((o in OWNED for o in frame["ownership"]), bool, len(frame))
        self.direct = np.fromiter((d == "" for d in self.derived_from), bool, len(frame))

    def take(self, mask: np.ndarray) -> "_LineArrays":
        out = object.__new__(_LineArrays)
        for name in ("activity_id", "derived_from", "kg", "kwh", "owned", "direct"):
            setattr(out, name, getattr(self, name)[mask])
        return out

    def in_ids(self, ids: set) -> np.ndarray:
        """Lines whose own id is in ``ids``."""
        return np.fromiter((a in ids for a in self.activity_id), bool, len(self.activity_id))

    def owned_by(self, ids: set) -> np.ndarray:
        """Lines of the activities ``ids``: their own lines and the lines derived from them."""
        return np.fromiter((a in ids or d in ids for a, d in zip(self.activity_id, self.derived_from)), bool,
                           len(self.activity_id))

    def kg_by_parent(self, mask: np.ndarray) -> pd.Series:
        """Σ kgCO2e of the ``mask`` lines by the activity each belongs to (``parent_key``)."""
        parent = np.where(self.direct[mask], self.activity_id[mask], self.derived_from[mask])
        frame = pd.DataFrame({"derived_from": pd.Series(parent, dtype="str"), "kgco2e": self.kg[mask]})
        return frame.groupby(frame["derived_from"])["kgco2e"].sum()


def _finish(results, intervention: Option, prep: dict, new_lines: list[_LineArrays], settings_: dict,
            lines: pd.DataFrame) -> InterventionResult:
    """The option's record from its re-estimated lines per bound (ids as the baseline's);
    ``lines``: the baseline's lines (``LINE_COLUMNS``)."""
    rows = prep["rows"]
    row_ids = set(rows["activity_id"])
    base = _LineArrays(lines)
    affected = base.owned_by(row_ids)
    base = base.take(affected)
    base_kg = _total(base.kg)
    base_kwh_owned = _total(base.kwh[base.owned])
    abated, kwh_saved, other, breakdown, money, by_line = {}, {}, {}, {}, {}, None
    specs = savings_specs(intervention)
    eng = results.engagement
    ppy = eng.periods_per_year
    prices = engagement_prices(eng)
    batch = (intervention.change.get("price_context") or {}).get("processing") == "batch"
    shifted = intervention.change.get("intensity_scale") is not None
    for b, bound in enumerate(BOUNDS):
        new_rows = prep["new_rows"][b]
        ids = {a.removesuffix(SPLIT) for a in new_rows["activity_id"]}
        in_subset = base.owned_by(ids)
        new = new_lines[b]
        in_new = np.ones(len(new.kg), bool)
        if shifted:
            # Shifted rows carry an intensity override, so their re-estimate has no DESNZ
            # upstream lines; compare direct lines only (kWh, and so T&D and the embodied
            # share of the hardware, do not change).
            in_subset &= base.direct
            in_new &= new.direct
        abated[bound] = float(_total(base.kg[in_subset]) - _total(new.kg[in_new])) * ppy
        money[bound] = money_effect(rows, new_rows, eng, prices, batch, base_costs=results.costs)
        # Owned equipment whose activity has no price (GPU nodes, self-hosted inference): its
        # electricity saved is money saved (kWh × electricity price).
        unpriced = set(money[bound]["unpriced"])
        kwh_saved[bound] = float(_total(base.kwh[in_subset & base.owned & base.in_ids(unpriced)])
                                 - _total(new.kwh[in_new & new.owned & new.in_ids(unpriced)])) * ppy
        if specs:
            unpriced_rows = rows[rows["activity_id"].isin(unpriced)]
            breakdown[bound] = non_energy_savings(unpriced_rows, new_rows[new_rows["activity_id"].isin(unpriced)],
                                                  specs, settings_["unit_costs"])
        else:
            breakdown[bound] = []
        other[bound] = (money[bound]["saved"] + float(sum(x["saving"] for x in breakdown[bound]))) * ppy
        if bound == "central":
            by_line = (base.kg_by_parent(in_subset) - new.kg_by_parent(in_new)).fillna(0.0) * ppy
    # The abatement range's low and high ends, and the bound (scenario) each comes from.
    lo_b = min(BOUNDS, key=lambda b: (abated[b], BOUNDS.index(b)))
    hi_b = max(BOUNDS, key=lambda b: (abated[b], -BOUNDS.index(b)))
    lo, mid, hi = sorted([abated["low"], abated["central"], abated["high"]])
    effort = intervention.effort
    one_off = verdicts.one_off_cost(effort.person_days, settings_["day_rate"], effort.capex)
    energy_savings = max(kwh_saved["central"], 0.0) * settings_["electricity_price_per_kwh"]
    saved = energy_savings + other["central"]
    net_cost = verdicts.net_cost_per_year(effort.person_days, settings_["day_rate"], effort.capex,
                                          effort.lifetime_years, effort.opex_per_year, saved)
    cpt = verdicts.cost_per_tonne(net_cost, mid)
    pb = payback_years(one_off, saved - effort.opex_per_year) if mid > 0 else None
    m = money["central"]
    hint = intervention.what_would_change_it
    if m["unpriced"]:
        hint = (hint + " " if hint else "") + (f"Money on {', '.join(m['unpriced'])} is not counted (no price): "
                                               f"give one under prices in engagement.yaml.")
    v = verdicts.verdict(mid, net_cost, float(eng.carbon_price_per_tonne), money_saved_per_year=saved,
                         co_benefits=intervention.co_benefits, currency=eng.currency, hint=hint)
    not_counted = sorted(set(intervention.money_saves + intervention.money_adds)
                         - set(m["price_ids"]) - {x for x in intervention.money_saves + intervention.money_adds
                                                  if x.startswith("api:")})
    record = {
        "id": intervention.id, "name": intervention.name, "description": intervention.description,
        "area": intervention.area,
        # the rows the change reached (a distance threshold or a missing profile can leave some out)
        "applies_to": sorted(set(prep["new_rows"][1]["activity_id"].str.removesuffix(SPLIT))),
        "abated_kgco2e_per_year": mid, "abated_low": lo, "abated_high": hi, "baseline_kgco2e": base_kg * ppy,
        "kwh_saved_per_year": kwh_saved["central"],
        "money_saved_per_year": saved, "net_cost_per_year": net_cost,
        "verdict": v.verdict.value, "verdict_label": v.label, "verdict_reason": v.reason,
        "what_would_change_it": v.what_would_change_it,
        "cost_savings_per_year": saved, "energy_cost_savings_per_year": energy_savings,
        "other_savings_per_year": other["central"], "one_off_cost": one_off, "capex": effort.capex,
        "lifetime_years": effort.lifetime_years, "opex_per_year": effort.opex_per_year,
        "net_annual_cost": net_cost, "cost_per_tonne": cpt, "payback_years": pb,
        "effort_person_days": effort.person_days, "reason": v.reason,
        "money_cost_before_per_year": m["before"] * ppy, "money_cost_after_per_year": m["after"] * ppy,
        "money_price_ids": m["price_ids"], "money_unpriced_activities": m["unpriced"],
        "money_not_counted": not_counted, "money_notes": m["notes"],
        "money_breakdown": [{**x, "cost_before": x["cost_before"] * ppy, "cost_after": x["cost_after"] * ppy,
                             "money_saved": (x["cost_before"] - x["cost_after"]) * ppy} for x in m["by_activity"]],
        "risks": intervention.risks, "quality_risk": intervention.quality_risk,
        "co_benefits": list(intervention.co_benefits), "basis": intervention.basis, "citation": intervention.citation,
        "factor_ids": list(intervention.factor_ids), "factors_missing": list(intervention.factors_missing),
        "scope_note": ("Hourly-profile saving: an annual-factor inventory will not show it." if shifted else ""),
        "energy_owned_kwh": base_kwh_owned * ppy,
        # the abatement range's ends re-evaluated as whole scenarios (for the tornado)
        "kwh_saved_low": kwh_saved[lo_b], "kwh_saved_high": kwh_saved[hi_b],
        "other_savings_low": other[lo_b], "other_savings_high": other[hi_b],
        "savings_breakdown": breakdown["central"],
        "period_type": eng.period_type.value,
    }
    record["per_campaign"] = verdicts.period_figures(record, _period(eng))
    return InterventionResult(record, by_line, m["prices"])

