"""Scope mapping and estimation: activity x factor, vectorised per kind.

Each kind has one method (``METHODS``) that takes the validated rows of that kind and
returns energy (kWh) with low/central/high bounds and the factor ids it used. Emissions
are then energy x grid intensity (for energy-based kinds) or quantity x conversion factor
(for DESNZ kinds). Every equation is a small function whose docstring gives its source,
so a number in a report leads here in one hop.

Uncertainty: the method's published range (EcoLogits parameter ranges, the Power Hungry
Processing spread, TDP utilisation bounds) is combined in log space with the activity's
data-quality factor (pedigree matrix, data/uncertainty.csv), giving low <= central <= high.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import chain

import numpy as np
import pandas as pd

from audit.core.exceptions import FactorError, Problem, ValidationError
from audit.core.paths import DATA_DIR, ENGAGEMENT_FILE
from audit.core.units import conversion_factor
from audit.methods.energy import (  # noqa: F401 - embodied_kg_per_gpu_hour re-exported for callers and tests
    ccf_cpu_power_w, device_energy_kwh, embodied_kg_per_gpu_hour, emissions_kg, image_pixels_scale,
    image_steps_scale, measured_energy_kwh, parse_image_mode, serving_scale,
)
from audit.methods.energy import IMAGE_MODE_HELP  # noqa: F401 - re-exported (image mode syntax)
from audit.methods.llm import (
    GPU_POWER_FOR_TIME_ID, HOST_SHARE_ID, IDLE_FACTOR_ID, J_PER_KWH, PREFILL_FACTOR_ID, LlmBoundary, LlmMethod, llm_coefficient_factor_ids, llm_coefficients,
    llm_pue_factor_id, llm_request_energy_kwh, model_parameters, production_parameters, production_unit_energies,
)
from audit.methods.selfhosted import selfhosted_energy
from audit.methods.uncertainty import combine_log_bounds, uncertainty_k95
from audit.reference.factors import (
    CODECARBON_VERSION, ECOLOGITS_VERSION, HOTEL_PROXY_ID, FactorRegister, grid_intensity, image_models, load_register,
)
from audit.reference.measured import MODE_PREFIX, measured_factor_id, register_row
from audit.reference.scopes import SCOPE3_CATEGORY_NAMES, kinds_table, map_scopes
from audit.reference.vocabularies import PARAM_COUNT, providers, resolve_llm_model, valid_modes
from audit.inventory.usage import UsageEnergy, usage_energy


@lru_cache(maxsize=1)
def hours_per_month() -> float:
    """pint's month: 1/12 of a 365.25-day year. Looked up on first use, so that importing
    the package does not build the unit registry (every batch child and kernel imports it)."""
    return conversion_factor("month", "hour")

RESULT_COLUMNS = [
    "activity_id", "derived_from", "stage", "description", "kind", "mode", "model", "provider", "region",
    "country", "ownership", "quantity", "unit", "quantity_base", "base_unit", "scope", "scope3_category",
    "scope_category_name", "kwh", "kwh_low", "kwh_high", "intensity_g_per_kwh", "kgco2e", "kgco2e_low",
    "kgco2e_high", "kgco2e_market", "market_basis", "factor_ids", "data_quality", "accepted_fraction",
    "method", "formula", "boundary", "ecologits_kwh", "embodied_kgco2e_memo", "data_quality_basis",
]


# --- the estimate ------------------------------------------------------------------------

@dataclass
class EstimateContext:
    register: FactorRegister
    engagement: object
    extra_factors: list[dict] = field(default_factory=list)  # activity-supplied values, as register rows
    _extra_ids: set[str] = field(default_factory=set, init=False, repr=False)  # ids in extra_factors, indexed
    _extra_seen: int = field(default=0, init=False, repr=False)  # how many of extra_factors are indexed

    def activity_factor(self, activity_id: str, row_number: int, column: str, value: float, unit: str,
                        file: str = "activities") -> str:
        """Register a value the client supplied in the table, so results can cite it."""
        fid = f"activity:{activity_id}:{column}"
        self.extra_factors.append(self._supplied_record(fid, activity_id, row_number, column, value, unit, file,
                                                        _reporting_year(self.engagement, self.register)))
        return fid

    @staticmethod
    def _supplied_record(fid: str, activity_id, row_number, column: str, value: float, unit: str, file: str,
                         year: int) -> dict:
        return {
            "factor_id": fid, "name": f"{column} supplied for activity {activity_id}", "value": float(value),
            "unit": unit, "source": f"Client-supplied in {file}, row {row_number}, column {column}",
            "source_ref": f"row {row_number}", "year": year, "licence": "Client data (confidential)",
            "notes": "Activity-level value used as is",
        }

    def supplied_factors(self, df: pd.DataFrame, specs: list[tuple], file: str = "activities") -> list[np.ndarray]:
        """``activity_factor`` for whole columns at once. ``specs``: (column, unit, mask, values),
        values None for the column's own. Returns per spec an object array of factor ids (None
        where the mask is False). Records are registered row by row and, within a row, in spec
        order, as a per-row loop would, so the register's order does not depend on this."""
        n = len(df)
        aid = df["activity_id"].to_numpy(object)
        rn = df["row_number"].to_numpy(object)
        year = _reporting_year(self.engagement, self.register)
        out, rows, ranks, recs = [], [], [], []
        for rank, (column, unit, mask, values) in enumerate(specs):
            ids = np.full(n, None, dtype=object)
            pos = np.flatnonzero(np.asarray(mask, bool))
            if len(pos):
                vals = np.asarray(df[column] if values is None else values, dtype=float)[pos]
                fids = [f"activity:{a}:{column}" for a in aid[pos]]
                ids[pos] = np.array(fids, dtype=object)
                recs += [self._supplied_record(f, a, r, column, v, unit, file, year)
                         for f, a, r, v in zip(fids, aid[pos], rn[pos], vals)]
                rows.append(pos), ranks.append(np.full(len(pos), rank))
            out.append(ids)
        if recs:
            order = np.lexsort((np.concatenate(ranks), np.concatenate(rows)))
            self.extra_factors.extend(recs[i] for i in order)
        return out

    def known(self, fid: str) -> bool:
        """Whether ``fid`` is in the register or already registered by this estimate."""
        if fid in self.register:
            return True
        if self._extra_seen < len(self.extra_factors):  # index the ids registered since the last call
            self._extra_ids.update(r["factor_id"] for r in self.extra_factors[self._extra_seen:])
            self._extra_seen = len(self.extra_factors)
        return fid in self._extra_ids

    def measured_factors(self, df: pd.DataFrame) -> tuple[list[str], np.ndarray]:
        """The register id and kWh per unit of the measured factor each ``measured:<id>`` row
        uses (one look-up per distinct record)."""
        raw = (df["measured_factor"] if "measured_factor" in df.columns
               else pd.Series("", index=df.index)).to_numpy(object)
        missing = np.array([not isinstance(r, str) or not r for r in raw], bool)
        if missing.any():
            j = int(np.flatnonzero(missing)[0])
            aid, mode = df["activity_id"].iloc[j], df["mode"].iloc[j]
            raise FactorError(f"activity {aid}: mode '{mode}' needs measured factor "
                              f"'{measured_factor_id(mode)}' from the engagement's measured_factors.csv "
                              "(load the engagement folder, or run 'audit measure')")
        per_record: dict[str, tuple[str, float]] = {}
        for r in pd.unique(raw):
            reg_row = register_row(json.loads(r))
            fid = reg_row["factor_id"]
            if not self.known(fid):
                self.extra_factors.append(reg_row)
            per_record[r] = fid, float(reg_row["value"])
        return [per_record[r][0] for r in raw], np.array([per_record[r][1] for r in raw], float)


def _reporting_year(eng, reg: FactorRegister) -> int:
    """The year of client-supplied values: the engagement's reporting year, else (an ad-hoc
    table with no reporting period) the factor set's."""
    return eng.reporting_year or reg.factor_set.desnz_year


def _per_key(keys, fn) -> list:
    """``fn`` once per distinct key, spread back to every row (keys: hashable, one per row)."""
    keys = list(keys)
    cache = {k: fn(k) for k in dict.fromkeys(keys)}
    return [cache[k] for k in keys]


def _bounds_of(reg: FactorRegister, fids) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(low, central, high) arrays of the register factors ``fids`` (one look-up per distinct
    id; NaN where the id is None)."""
    nan3 = (np.nan, np.nan, np.nan)
    b = np.array(_per_key(fids, lambda f: nan3 if f is None else reg.bounds(f)), float).reshape(-1, 3)
    return b[:, 0], b[:, 1], b[:, 2]


def _pue(ctx: EstimateContext, df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """PUE per row: the table's value, else the provider's, else the on-premise average."""
    prov = providers()
    given = df["pue"].to_numpy(float)
    has = ~np.isnan(given)
    # Owned or leased hardware has no provider; no provider means the on-premise average.
    fids = _per_key([None if h else p for p, h in zip(df["provider"].to_numpy(object), has)],
                    lambda p: None if p is None else prov.loc[p, "pue_factor_id"] if p else "pue:onprem-average")
    lo, mid, hi = _bounds_of(ctx.register, fids)
    (supplied,) = ctx.supplied_factors(df, [("pue", "ratio", has, None)])
    lo, mid, hi = (np.where(has, given, a) for a in (lo, mid, hi))
    return lo, mid, hi, [s if h else f for s, f, h in zip(supplied, fids, has)]


def _energy_result(kwh, kwh_low, kwh_high, factor_ids, method, formula):
    return {"kwh": np.asarray(kwh, float), "kwh_low": np.asarray(kwh_low, float),
            "kwh_high": np.asarray(kwh_high, float), "factor_ids": factor_ids, "method": method,
            "formula": formula, "energy_based": True}


GPU_USES = ("training", "serving", "rendering")


def _bad_mode(df: pd.DataFrame, row, message: str, hint: str) -> ValidationError:
    return ValidationError([Problem("activities", message, row=int(row["row_number"]), column="mode", hint=hint)])


def _first_bad_mode(df: pd.DataFrame, bad, message, hint: str) -> None:
    """Raise for the first row of ``df`` where ``bad`` holds; ``message(mode)`` says what is wrong."""
    bad = np.asarray(bad, bool)
    if bad.any():
        row = df.iloc[int(np.flatnonzero(bad)[0])]
        raise _bad_mode(df, row, message(row["mode"]), hint)


def method_gpu_compute(ctx: EstimateContext, df: pd.DataFrame) -> dict:
    """kWh = gpu_hours x power_W x (1 + host share) / 1000 x PUE.

    power_W as given (no host share added: a measured draw), else TDP x utilisation, the
    utilisation by use (``mode``: training 0.90, serving 0.25, rendering 0.75; register
    ``gpu-utilisation:<mode>``) with the host share ``gpu-host-share:default`` (0.43);
    a row with no mode keeps the conservative TDP x 1.0 (0.5-1.0) and no host share.
    """
    reg = ctx.register
    modes = df["mode"].astype(str).to_numpy(object)
    with_mode = modes != ""
    _first_bad_mode(df, with_mode & ~np.isin(modes, GPU_USES), lambda m: f"unknown mode '{m}' for gpu_compute",
                    f"allowed: {', '.join(GPU_USES)}")
    h_lo, h_mid, h_hi = reg.bounds("gpu-host-share:default")
    power = df["power_w"].to_numpy(float)
    has_power = ~np.isnan(power)
    util = df["utilisation"].to_numpy(float)
    has_util = ~np.isnan(util) & ~has_power
    hw = df["hardware"].to_numpy(object)
    tdp_ids = np.array(_per_key(np.where(has_power, None, hw), lambda h: None if h is None else f"hw:{h.lower()}"),
                       dtype=object)
    tdp = np.array(_per_key(tdp_ids, lambda f: np.nan if f is None else reg.value(f)), float)
    # a power derived from marketing claims (TPU v5e, v6e, 7x) is a weak proxy
    proxy = np.array(_per_key(tdp_ids, lambda f: f is not None and "proxy" in str(reg.row(f)["licence"]).lower()),
                     bool)
    util_ids = np.where(with_mode, "gpu-utilisation:" + modes.astype(str), "gpu-utilisation:default").astype(object)
    u_lo, u_mid, u_hi = _bounds_of(reg, np.where(has_power | has_util, None, util_ids))
    u_lo, u_mid, u_hi = (np.where(has_util, util, u) for u in (u_lo, u_mid, u_hi))
    host = with_mode & ~has_power
    p3 = [np.where(has_power, power, tdp * u * (1 + np.where(host, h, 0.0)))
          for u, h in ((u_lo, h_lo), (u_mid, h_mid), (u_hi, h_hi))]
    dq = np.where(has_power, 1.0, np.where(proxy, 5.0, np.nan))
    power_ids, util_supplied = ctx.supplied_factors(df, [("power_w", "W", has_power, None),
                                                         ("utilisation", "fraction", has_util, None)])
    pue_lo, pue_mid, pue_hi, pue_ids = _pue(ctx, df)
    ids = [[p] if p is not None else [t, *(["gpu-host-share:default"] if h else []), s if s is not None else u]
           for p, t, h, s, u in zip(power_ids, tdp_ids, host, util_supplied, util_ids)]
    q = df["quantity_base"].to_numpy(float)
    res = _energy_result(
        device_energy_kwh(q, p3[1], pue_mid), device_energy_kwh(q, p3[0], pue_lo),
        device_energy_kwh(q, p3[2], pue_hi), [a + [b] for a, b in zip(ids, pue_ids)],
        "accelerator_hours", "kWh = gpu_hours × power_W × (1 + host share) / 1000 × PUE")
    res["device_hours"] = q
    res["method_data_quality"] = dq
    res["boundary"] = [f"{m or 'unspecified use'}: accelerator" + (" + host" if m and math.isnan(pw) else "") + " × PUE"
                       for m, pw in zip(df["mode"].astype(str), df["power_w"])]
    return res


CCF_CLOUDS = ("aws", "gcp", "azure")


def _ccf_cpu_watts(reg: FactorRegister, provider: str) -> tuple[float, float, list[str]]:
    """CCF's Wmin and Wmax per vCPU for a cloud (the mean of the three for any other provider)
    and the ids they cite."""
    clouds = [provider] if provider in CCF_CLOUDS else list(CCF_CLOUDS)
    wmin = np.mean([reg.value(f"ccf:cpu-wmin:{c}") for c in clouds])
    wmax = np.mean([reg.value(f"ccf:cpu-wmax:{c}") for c in clouds])
    return wmin, wmax, [f"ccf:cpu-wmin:{c}" for c in clouds] + [f"ccf:cpu-wmax:{c}" for c in clouds]


def method_cpu_compute(ctx: EstimateContext, df: pd.DataFrame) -> dict:
    """kWh = vCPU_hours x (Wmin + u x (Wmax - Wmin)) / 1000 x PUE (Cloud Carbon Footprint)."""
    reg = ctx.register
    u_lo, u_mid, u_hi = reg.bounds("ccf:cpu-utilisation:default")
    power = df["power_w"].to_numpy(float)
    has_power = ~np.isnan(power)
    util = df["utilisation"].to_numpy(float)
    has_util = ~np.isnan(util) & ~has_power
    watts = _per_key(np.where(has_power, None, df["provider"].to_numpy(object)),
                     lambda p: (np.nan, np.nan, []) if p is None else _ccf_cpu_watts(reg, p))
    wmin = np.array([w[0] for w in watts], float)
    wmax = np.array([w[1] for w in watts], float)
    w = [np.where(has_power, power, ccf_cpu_power_w(wmin, wmax, np.where(has_util, util, u)))
         for u in (u_lo, u_mid, u_hi)]
    power_ids, util_ids = ctx.supplied_factors(df, [("power_w", "W per vCPU", has_power, None),
                                                    ("utilisation", "fraction", has_util, None)])
    ids = [[p] if p is not None else [*wt[2], u if u is not None else "ccf:cpu-utilisation:default"]
           for p, wt, u in zip(power_ids, watts, util_ids)]
    pue_lo, pue_mid, pue_hi, pue_ids = _pue(ctx, df)
    q = df["quantity_base"].to_numpy(float)
    return _energy_result(
        device_energy_kwh(q, w[1], pue_mid), device_energy_kwh(q, w[0], pue_lo),
        device_energy_kwh(q, w[2], pue_hi), [a + [b] for a, b in zip(ids, pue_ids)],
        "ccf_cpu", "kWh = vCPU_hours × (Wmin + u·(Wmax − Wmin)) / 1000 × PUE")


def method_electricity(ctx: EstimateContext, df: pd.DataFrame) -> dict:
    """kWh = metered kWh."""
    q = df["quantity_base"].to_numpy(float)
    return _energy_result(q, q, q, [[] for _ in range(len(df))], "metered", "kWh = metered kWh")


def method_storage(ctx: EstimateContext, df: pd.DataFrame) -> dict:
    """kWh = TB_months x 730.5 h x coefficient (kWh/TB-h) x PUE x replication (Cloud Carbon Footprint).

    Mode ``ssd`` / ``hdd``: the TB entered are taken as held, replicas included (factor 1).
    Mode = a storage class (``aws_s3``, ``azure_storage_grs``…): CCF's replication factor for
    that class and the media coefficient it applies (data/factors/ccf_storage.csv).
    """
    reg = ctx.register
    modes = df["mode"].where(df["mode"] != "", "ssd")

    def by_mode(m: str) -> tuple[str, float, list[str]]:
        rid = f"ccf:replication:{m}"
        if rid in reg:
            return f"ccf:storage:{reg.row(rid)['per_unit']}", reg.value(rid), [rid]
        return f"ccf:storage:{m}", 1.0, []

    per_mode = _per_key(modes, by_mode)
    coef_ids = [p[0] for p in per_mode]
    rep = np.array([p[1] for p in per_mode], float)
    coef = np.array(_per_key(coef_ids, reg.value), float) * rep
    pue_lo, pue_mid, pue_hi, pue_ids = _pue(ctx, df)
    tbh = df["quantity_base"].to_numpy(float) * hours_per_month()
    res = _energy_result(tbh * coef * pue_mid, tbh * coef * pue_lo, tbh * coef * pue_hi,
                         [[a, *e[2], b] for a, e, b in zip(coef_ids, per_mode, pue_ids)], "ccf_storage",
                         "kWh = TB_months × 730.5 h × kWh_per_TB_hour × PUE × replication")
    res["boundary"] = _per_key(rep, lambda r: f"operational (IT energy × PUE × replication {r:g})")
    return res


def method_data_transfer(ctx: EstimateContext, df: pd.DataFrame) -> dict:
    """kWh = GB x 0.001 kWh/GB x PUE (Cloud Carbon Footprint networking coefficient)."""
    reg = ctx.register
    coef = reg.value("ccf:network")
    pue_lo, pue_mid, pue_hi, pue_ids = _pue(ctx, df)
    gb = df["quantity_base"].to_numpy(float)
    res = _energy_result(gb * coef * pue_mid, gb * coef * pue_lo, gb * coef * pue_hi,
                         [["ccf:network", p] for p in pue_ids], "ccf_network", "kWh = GB × kWh_per_GB × PUE")
    # CCF's coefficient covers data moved between cloud regions only (not to end users).
    res["boundary"] = ["operational (CCF: inter-region network only)"] * len(df)
    return res


def _image_by_model(reg: FactorRegister, entry: dict, pixels, steps) -> dict:
    """One image model at one mode: the accelerator energy per image (low, central, high) at the
    requested pixels and steps, and which scalings apply (once per distinct model and mode)."""
    f_mid = reg.bounds("image:scaling:fixed-share")[1]
    b_lo, b_mid, b_hi = reg.bounds("image:scaling:pixel-exponent")
    r_lo, r_mid, r_hi = reg.bounds(entry["factor_id"])
    ref_px = entry["width"] * entry["height"]
    px = pixels or ref_px
    want_steps = steps or entry["default_steps"]
    fixed = entry["fixed_share"] if entry["fixed_share"] is not None else f_mid
    s_scale = image_steps_scale(want_steps, entry["steps"], fixed) if entry["steps"] and want_steps else 1.0
    p_scales = [image_pixels_scale(px, ref_px, b) for b in (b_lo, b_mid, b_hi)]
    return {"acc": (r_lo * s_scale * min(p_scales), r_mid * s_scale * p_scales[1], r_hi * s_scale * max(p_scales)),
            "scaled_steps": s_scale != 1.0, "scaled_pixels": px != ref_px}


def method_image_generation(ctx: EstimateContext, df: pd.DataFrame) -> dict:
    """kWh per image, in this order of preference:

    1. measured: power_W x latency_s / 3600 (x PUE);
    2. by model (data/image_models.csv): the model's published accelerator energy at its
       reference resolution and steps, scaled by steps (linear + fixed part) and pixels
       (exponent 0.6), then x (1 + host) x idle x PUE under the serving boundary; hosted names
       with no disclosure (DALL-E 3, gpt-image-1, Midjourney, Imagen) use a documented proxy
       class at data quality 5;
    3. fallback: the generic Power Hungry Processing band (Luccioni et al. 2024) x PUE, which
       says it is the fallback (and ignores the model, mode and hardware columns).
    """
    reg = ctx.register
    _, boundary = _llm_settings(ctx)
    e_lo, e_mid, e_hi = reg.bounds("php:image-generation")
    host = reg.bounds(HOST_SHARE_ID)
    idle = reg.bounds(IDLE_FACTOR_ID)
    gpu_w = reg.bounds(GPU_POWER_FOR_TIME_ID)[1]
    pue_lo, pue_mid, pue_hi, pue_ids = _pue(ctx, df)
    pue3 = (pue_lo, pue_mid, pue_hi)
    table = image_models()

    def parsed(mode):
        try:
            return parse_image_mode(mode)
        except ValueError as exc:
            return exc

    modes = df["mode"].to_numpy(object)
    parsed_modes = _per_key(modes, parsed)
    failed = np.array([isinstance(p, ValueError) for p in parsed_modes], bool)
    if failed.any():
        j = int(np.flatnonzero(failed)[0])
        raise _bad_mode(df, df.iloc[j], f"image_generation mode '{modes[j]}': {parsed_modes[j]}",
                        IMAGE_MODE_HELP) from None
    model_keys = [str(m or "").strip().lower() for m in df["model"].to_numpy(object)]
    power = df["power_w"].to_numpy(float)
    latency = df["latency_s"].to_numpy(float)
    measured = ~np.isnan(power) & ~np.isnan(latency)
    known = np.array([k in table for k in model_keys], bool)
    by_model = ~measured & known
    fallback = ~measured & ~known
    # 1. measured draw
    e_meas = power * latency / 3600.0 / 1000.0
    power_ids, latency_ids = ctx.supplied_factors(df, [("power_w", "W", measured, None),
                                                       ("latency_s", "s", measured, None)])
    # 2. by model: once per distinct (model, mode)
    per_model = _per_key(zip(np.where(by_model, model_keys, None), modes),
                         lambda k: None if k[0] is None else _image_by_model(reg, table[k[0]], *parse_image_mode(k[1])))
    acc = np.array([p["acc"] if p else (np.nan,) * 3 for p in per_model], float).reshape(-1, 3)
    serving = boundary != LlmBoundary.ACCELERATOR
    e3_model = [acc[:, k] * serving_scale(host[k], idle[k], pue3[k]) if serving else acc[:, k] for k in range(3)]
    # 3. the generic band
    e3_fallback = [e * p for e, p in zip((e_lo, e_mid, e_hi), pue3)]
    lo, mid, hi = (np.where(measured, e_meas * pue3[k], np.where(by_model, e3_model[k], e3_fallback[k]))
                   for k in range(3))
    accel = np.where(measured, e_meas, np.where(by_model, acc[:, 1], e_mid))
    entries = [table[k] if b else None for k, b in zip(model_keys, by_model)]
    dq = np.array([2.0 if m else (e["data_quality"] if e is not None else 4.0) for m, e in zip(measured, entries)],
                  float)
    methods = np.where(measured, "image_measured", np.where(fallback, "image_generic_fallback", np.array(
        ["image_proxy" if e is not None and e["proxy"] else "image_by_model" for e in entries], dtype=object)))
    bounds = np.where(measured, "measured draw × PUE",
                      np.where(fallback, "generic fallback band (IT energy of a whole node) × PUE", boundary))
    serving_ids = [HOST_SHARE_ID, IDLE_FACTOR_ID]
    ids = [[p, lat, u] if m else
           [e["factor_id"], *(serving_ids + [u] if serving else []),
            *(["image:scaling:fixed-share"] if pm["scaled_steps"] else []),
            *(["image:scaling:pixel-exponent"] if pm["scaled_pixels"] else [])] if e is not None else
           ["php:image-generation", u]
           for m, p, lat, u, e, pm in zip(measured, power_ids, latency_ids, pue_ids, entries, per_model)]
    q = df["quantity_base"].to_numpy(float)
    formulas = {"image_measured": "kWh = images × power_W × latency_s / 3.6e6 × PUE",
                "image_by_model": "kWh = images × E_model × (f + (1 − f) × steps/steps_ref) × (pixels/pixels_ref)^b"
                                  + ("" if boundary == LlmBoundary.ACCELERATOR else " × (1 + host) × idle × PUE"),
                "image_generic_fallback": "kWh = images × generic kWh_per_image (Power Hungry Processing; FALLBACK: "
                                          "model, mode and hardware not used) × PUE"}
    formulas["image_proxy"] = formulas["image_by_model"] + " (PROXY model class)"
    methods = list(methods)
    res = _energy_result(q * mid, q * lo, q * hi, ids, methods, [formulas[m] for m in methods])
    lat_h = latency / 3600.0
    # Reserved accelerator time: latency when given; for hosted lines E_accel / P_gpu (owned
    # hardware without latency gets none: its time may already be GPU-hours in another row).
    owned = df["ownership"].isin(["owned", "leased"]).to_numpy()
    res["device_hours"] = np.where(np.isnan(lat_h), np.where(owned, np.nan, q * accel * 1000.0 / gpu_w),
                                   q * lat_h)
    res["method_data_quality"] = dq
    res["boundary"] = list(bounds)
    return res


def _video_per_second(model: str) -> dict:
    """EcoLogits' video model for one model: kWh per video second (low, central, high), the
    mean PUE, and what the register row needs (once per distinct model)."""
    from ecologits.estimations import video as ev  # noqa: PLC0415 - EcoLogits' video tables, only for video rows

    clip_s = 5.0
    info = ev._MODELS_INFO[model]  # noqa: SLF001
    hw = ev._HARDWARE_CONFIGURATIONS[info["hardware"]]  # noqa: SLF001
    prov = ev._PROVIDER_CONFIGURATIONS[info["provider"]]  # noqa: SLF001
    pue = prov["datacenter_pue"]
    pue_lo, pue_hi = (pue["min"], pue["max"]) if isinstance(pue, dict) else (pue, pue)
    w, h = info["capabilities"]["resolutions"][0]
    frames = ev.duration_to_frames(clip_s)
    r = info["regression_parameters"]
    wh, vol = w * h, w * h * frames / 1000
    latency = (r["n"] * frames * wh ** 2 + r["m"] * vol + r["m1"] * frames + r["m2"] * wh ** 2
               + r["n1"] * frames ** 2 + r["n2"] * vol ** 2 + r["g"])
    per_s = latency / 3600 / clip_s  # hours of server time per video second
    sp = hw["server_power"]
    return {"kwh": (per_s * sp["p2_5"] / 1000 * pue_lo, per_s * sp["mean"] / 1000 * (pue_lo + pue_hi) / 2,
                    per_s * sp["p97_5"] / 1000 * pue_hi), "pue": (pue_lo + pue_hi) / 2, "info": info, "hw": hw}


def method_video_generation(ctx: EstimateContext, df: pd.DataFrame) -> dict:
    """EcoLogits video model: latency from the model's regression on frames x resolution,
    energy = PUE x latency x server power (p2.5 / mean / p97.5), per 5-second 720p clip,
    scaled to the video seconds requested."""
    models = [m or "google/veo-3.0" for m in df["model"].to_numpy(object)]
    per_model = {m: _video_per_second(m) for m in dict.fromkeys(models)}
    for m, v in per_model.items():
        _register_video_model(ctx, m, v["info"], v["hw"], v["kwh"][1])
    kwh = np.array([per_model[m]["kwh"] for m in models], float).reshape(-1, 3)
    pues = np.array([per_model[m]["pue"] for m in models], float)
    q = df["quantity_base"].to_numpy(float)
    res = _energy_result(q * kwh[:, 1], q * kwh[:, 0], q * kwh[:, 2], [[f"ecologits:video:{m}"] for m in models],
                         "ecologits_video",
                         "kWh = video_seconds × latency_per_second × server_power × PUE (EcoLogits video)")
    # Reserved accelerator time for the embodied share: kWh / PUE / P_gpu (the LLM method's 500 W).
    res["device_hours"] = q * kwh[:, 1] / pues * 1000.0 / ctx.register.bounds(GPU_POWER_FOR_TIME_ID)[1]
    res["boundary"] = ["serving (EcoLogits video: server power × PUE)"] * len(df)
    return res


def _register_video_model(ctx, model, info, hw, kwh_per_s):
    fid = f"ecologits:video:{model}"
    if ctx.known(fid):
        return
    ctx.extra_factors.append({
        "factor_id": fid, "name": f"{model} video generation energy per second (5 s clip, native resolution)",
        "value": kwh_per_s, "unit": "kWh/video_second",
        "source": f"EcoLogits {ECOLOGITS_VERSION} data/video_models.json ({info['hardware']} server power, "
                  "latency regression)", "source_ref": model, "year": 2026, "licence": "MPL-2.0 (EcoLogits)",
        "notes": "Derived: regression latency x mean server power x provider PUE",
    })


def _llm_settings(ctx: EstimateContext) -> tuple[str, str]:
    """The engagement's LLM method and boundary (enum values), defaults production / serving."""
    eng = ctx.engagement
    method = getattr(getattr(eng, "llm_method", None), "value", None) or LlmMethod.PRODUCTION
    boundary = getattr(getattr(eng, "llm_boundary", None), "value", None) or LlmBoundary.SERVING
    return method, boundary


def _llm_model(provider: str, model: str, has_power: bool) -> tuple:
    """How an LLM row's model gives its parameters (once per distinct provider, model and
    whether a measured draw is given): ("count", N) for a bare parameter count ("70B");
    ("unknown",) for a model EcoLogits does not know with a measured draw (the intake allows
    it: the measured power x latency is the energy, no parameter count is needed or guessed);
    ("model", ModelParameters) for an EcoLogits model; ("none",) without a model."""
    m = PARAM_COUNT.match(model or "")
    if m:
        return ("count", float(m.group(1)))
    if model and has_power and resolve_llm_model(provider, model)[0] is None:
        return ("unknown",)
    if model:
        resolved, _ = resolve_llm_model(provider, model)
        return ("model", model_parameters(resolved))
    return ("none",)


def method_llm_api(ctx: EstimateContext, df: pd.DataFrame) -> dict:
    """Per request, by the engagement's ``llm_method`` (a row's ``mode`` may pick one):

    production (default): E = (out x k_dec x N_eff + in x k_pre x N_active) x (1 + host) x idle x PUE
    (``audit.methods.llm`` production functions; under ``llm_boundary: accelerator`` no host,
    idle or PUE); ecologits: E = PUE x (server + n_GPU x gpu_energy) + PUE x prefill (EcoLogits
    0.11.3). Low/central/high at the low/central/high parameters together (an envelope) and the
    model's minimum/mean/maximum parameters. Every line also carries EcoLogits' figure
    (``ecologits_kwh``). A supplier factor (engagement.yaml › supplier_factors) replaces the
    modelled figure for its provider or model.
    """
    reg = ctx.register
    eng_method, boundary = _llm_settings(ctx)
    c_eco = llm_coefficients(reg, LlmMethod.ECOLOGITS, boundary)
    prod = production_parameters(reg)
    pre_lo, pre_mid, pre_hi = reg.bounds(PREFILL_FACTOR_ID)
    prov = providers()
    n = len(df)
    modes = df["mode"].astype(str).to_numpy(object)
    _first_bad_mode(df, ~np.isin(modes, ("", *LlmMethod.ALL)), lambda m: f"unknown mode '{m}' for llm_api",
                    "production or ecologits (blank: engagement.yaml llm_method)")
    row_method = np.array([m if m in LlmMethod.ALL else eng_method for m in modes], dtype=object)
    self_hosted = df["ownership"].isin(["owned", "leased"]).to_numpy()
    provider = df["provider"].to_numpy(object)
    model = df["model"].to_numpy(object)
    out_tok = df["output_tokens"].to_numpy(float)
    in_tok = np.nan_to_num(df["input_tokens"].to_numpy(float))
    req_lat = df["latency_s"].to_numpy(float)
    q = df["quantity_base"].to_numpy(float)
    # Self-hosted with a measured draw: E = power x latency x PUE, no model needed.
    power = df["power_w"].to_numpy(float)
    has_power = ~np.isnan(power)
    power_kwh = np.where(has_power, power * req_lat / 3600 / 1000, np.nan)
    # Parameters: once per distinct (provider, model, measured draw).
    how = _per_key(zip(provider, model, has_power), lambda k: _llm_model(*k))
    kind = np.array([h[0] for h in how], dtype=object)
    act = np.zeros((3, n))
    tot = np.zeros((3, n))
    tps = np.full(n, np.nan)
    ttft = np.full(n, np.nan)
    is_count = kind == "count"
    counts = np.array([h[1] if h[0] == "count" else np.nan for h in how], float)
    act[:, is_count] = tot[:, is_count] = counts[is_count]
    unknown = kind == "unknown"
    act[:, unknown] = tot[:, unknown] = np.nan
    is_model = kind == "model"
    if is_model.any():
        mps = [h[1] for h, m in zip(how, is_model) if m]
        act[:, is_model] = np.array([mp.active for mp in mps], float).T
        tot[:, is_model] = np.array([mp.total for mp in mps], float).T
        tps[is_model] = [mp.tps for mp in mps]
        ttft[is_model] = [mp.ttft for mp in mps]
    # PUE: the row's, else by provider and ownership (one look-up per distinct pair).
    given_pue = df["pue"].to_numpy(float)
    has_pue = ~np.isnan(given_pue)
    pue_fids = _per_key([None if h else (p, o) for p, o, h in zip(provider, df["ownership"].to_numpy(object), has_pue)],
                        lambda k: None if k is None else llm_pue_factor_id(k[0], k[1], prov))
    pue = np.array(_bounds_of(reg, pue_fids))
    pue[:, has_pue] = given_pue[has_pue]
    power_ids, model_ids, pue_supplied = ctx.supplied_factors(df, [
        ("power_w", "W", has_power, None), ("model", "billion parameters", is_count, counts),
        ("pue", "ratio", has_pue, None)])
    cites_pue = (boundary != LlmBoundary.ACCELERATOR) | (row_method == LlmMethod.ECOLOGITS)
    coef_ids = _per_key(zip(row_method, self_hosted),
                        lambda k: llm_coefficient_factor_ids(k[0], boundary, bool(k[1])))
    ids = [[*([p] if p is not None else []),
            *([c] if c is not None else [h[1].factor_id] if h[0] == "model" else []),
            *([s if s is not None else f] if cp else []), *co]
           for p, c, h, s, f, cp, co in zip(power_ids, model_ids, how, pue_supplied, pue_fids, cites_pue, coef_ids)]
    measured = ~np.isnan(power_kwh)
    # EcoLogits 0.11.3 (+ prefill), for every line: its own figure where it is the method,
    # and ecologits_kwh beside ours everywhere.
    eco, eco_device_s = [], None
    for k, pre in zip(range(3), (pre_lo, pre_mid, pre_hi)):
        e, lat, n_gpu = llm_request_energy_kwh(act[k], tot[k], tps, ttft, out_tok, in_tok, req_lat, pue[k], pre, c_eco)
        eco.append(e)
        if k == 1:
            # GPU time reserved per request, as EcoLogits allocates embodied impacts: latency x n_GPU / B.
            eco_device_s = lat * n_gpu / c_eco["batch_size"]
    # The production method: per-token energies at each bound (arrays of shape 3 x rows).
    units = production_unit_energies(act, tot, pue, prod, boundary, self_hosted)
    prod_kwh = units["kwh_per_output_token"] * out_tok + units["kwh_per_input_token"] * in_tok
    accel_kwh = units["accel_kwh_per_output_token"] * out_tok + units["accel_kwh_per_input_token"] * in_tok
    # Reserved GPU-hours (embodied allocation): E_accel / P_gpu; the low embodied bound uses high power.
    prod_device_s = accel_kwh[1] * J_PER_KWH / prod["gpu_power_w"][1, 0]
    use_eco = row_method == LlmMethod.ECOLOGITS
    per_request = []
    for k in range(3):
        e = np.where(use_eco, eco[k], prod_kwh[k])
        meas_pue = 1.0 if boundary == LlmBoundary.ACCELERATOR else pue[k]
        per_request.append(np.where(measured, power_kwh * np.where(use_eco, pue[k], meas_pue), e))
    device_s = np.where(measured, req_lat, np.where(use_eco, eco_device_s, prod_device_s))
    methods = np.where(measured, "measured_power_llm", np.where(use_eco, "ecologits_llm", "production_llm"))
    formulas = {"ecologits_llm": "kWh = requests × PUE × (server + n_GPU × GPU energy(output tokens) + prefill(input tokens))",
                "measured_llm": "kWh = requests × power_W × latency_s / 3.6e6 × PUE",
                "production_llm": PRODUCTION_FORMULA[boundary]}
    res = _energy_result(q * per_request[1], q * per_request[0], q * per_request[2], ids, list(methods),
                         [formulas.get(m, formulas["measured_llm"]) for m in methods])
    res["device_hours"] = q * device_s / 3600.0
    res["ecologits_kwh"] = np.where(measured, q * power_kwh * pue[1], q * eco[1])
    res["boundary"] = [LlmBoundary.SERVING if u else boundary for u in use_eco]
    _apply_supplier_factors(ctx, df, res, out_tok)
    _selfhosted_rows(ctx, df, res, act, pue)
    return res


PRODUCTION_FORMULA = {
    "accelerator": "kWh = requests × (out × k_dec × N_eff + in × k_pre × N_active) / 3.6e6",
    "serving": "kWh = requests × (out × k_dec × N_eff + in × k_pre × N_active) × (1 + host) × idle × PUE / 3.6e6",
    "lifecycle": "kWh = requests × (out × k_dec × N_eff + in × k_pre × N_active) × (1 + host) × idle × PUE / 3.6e6 "
                 "(+ embodied line: GPU-hours = E_accel / P_gpu)",
}


@lru_cache(maxsize=1)
def supplier_presets() -> dict:
    """data/supplier_presets.yaml: disclosed figures consultants may opt into."""
    import yaml  # noqa: PLC0415 - only read when an engagement names supplier factors

    return yaml.safe_load((DATA_DIR / "supplier_presets.yaml").read_text(encoding="utf-8"))


def resolved_supplier_factors(eng) -> list[dict]:
    """The engagement's supplier factors with presets filled in (a field given beside a preset wins)."""
    out = []
    for n, sf in enumerate(getattr(eng, "supplier_factors", None) or []):
        d = {k: (v.value if hasattr(v, "value") else v) for k, v in sf.model_dump().items()}
        if sf.preset:
            preset = supplier_presets().get(sf.preset)
            if preset is None:
                raise ValidationError([Problem(ENGAGEMENT_FILE, f"unknown supplier-factor preset '{sf.preset}'",
                                               column=f"supplier_factors.{n}.preset",
                                               hint=f"shipped presets: {', '.join(sorted(supplier_presets()))}")])
            d = {**preset, **{k: v for k, v in d.items() if v not in (None, "") and k != "basis"},
                 "basis": preset.get("basis", d["basis"])}
        d["index"] = n
        out.append(d)
    return out


def _canonical_provider(name: str) -> str:
    """A provider alias (google, gemini, vertex…) as its canonical name (google_genai)."""
    prov = providers()
    name = str(name or "").strip().lower()
    return prov.at[name, "provider"] if name in prov.index else name


def _supplier_match(factors: list[dict], provider: str, model: str) -> dict | None:
    """A model-specific factor wins over a provider-wide one; providers compare by canonical name."""
    provider = _canonical_provider(provider)
    for f in factors:
        if f.get("model") and f["model"].lower() == str(model).lower() and (
                not f.get("provider") or _canonical_provider(f["provider"]) == provider):
            return f
    for f in factors:
        if not f.get("model") and _canonical_provider(f.get("provider", "")) == provider:
            return f
    return None


def _supplier_factor_id(ctx: EstimateContext, f: dict) -> str:
    fid = f"supplier:{f['index'] + 1}:{f.get('preset') or f.get('model') or f.get('provider')}"
    if not ctx.known(fid):
        unit = {"wh_per_request": "Wh/request", "wh_per_output_token": "Wh/output_token",
                "gco2e_per_request": "gCO2e/request", "gco2e_per_kwh": "gCO2e/kWh"}[f["unit"]]
        ctx.extra_factors.append({
            "factor_id": fid, "name": f"Supplier-specific figure, {f.get('model') or f.get('provider')}",
            "value": float(f["value"]), "unit": unit, "kind": "llm_api", "part": "supplier",
            "source": " ".join(str(f["source"]).split()), "source_ref": f"engagement.yaml supplier_factors[{f['index']}]"
            + (f" (preset {f['preset']})" if f.get("preset") else ""), "year": int(f["year"]),
            "licence": "Fact (figure cited)",
            "notes": f"boundary {f['boundary']}; {f['basis']}-based" + (f"; {f['description']}" if f.get("description") else ""),
        })
    return fid


def _apply_supplier_factors(ctx: EstimateContext, df: pd.DataFrame, res: dict, out_tok: np.ndarray) -> None:
    """Replace modelled figures by the engagement's supplier-specific ones (GHG Protocol Scope 3
    Standard: supplier-specific data preferred for purchased services). Energy figures replace
    kWh (low = central = high: a disclosed value); carbon figures are kept for the estimate
    loop (``supplier_kg`` location-based, ``supplier_kg_market`` market-based, ``supplier_ci``)."""
    factors = resolved_supplier_factors(ctx.engagement)
    n = len(df)
    res["supplier_kg"] = np.full(n, np.nan)
    res["supplier_kg_market"] = np.full(n, np.nan)
    res["supplier_ci"] = np.full(n, np.nan)
    res["supplier"] = np.zeros(n, bool)
    if not factors:
        return
    q = df["quantity_base"].to_numpy(float)
    methods, formulas = np.array(res["method"], dtype=object), np.array(res["formula"], dtype=object)
    boundary = np.array(res["boundary"], dtype=object)
    # One match per distinct (provider, model); then each factor over its rows, in the order of
    # the first row it applies to (its register entry is made then).
    matched = _per_key(zip(df["provider"].to_numpy(object), df["model"].to_numpy(object)),
                       lambda k: _supplier_match(factors, *k))
    which = np.array([-1 if f is None else f["index"] for f in matched])
    by_index = {f["index"]: f for f in factors}
    for index in pd.unique(which[which >= 0]):
        f = by_index[int(index)]
        pos = np.flatnonzero(which == index)
        fid = _supplier_factor_id(ctx, f)
        for j in pos:  # the cited ids: the supplier's first, EcoLogits' model parameters dropped
            res["factor_ids"][j] = [fid] + [x for x in res["factor_ids"][j] if not str(x).startswith("genai:llm:")]
        v, unit = float(f["value"]), f["unit"]
        if unit in ("wh_per_request", "wh_per_output_token"):
            per = v / 1000.0 * (out_tok[pos] if unit == "wh_per_output_token" else 1.0)
            for key in ("kwh", "kwh_low", "kwh_high"):
                res[key][pos] = q[pos] * per
            formulas[pos] = f"kWh = requests × supplier {unit.replace('_', ' ')} ({fid})"
        elif unit == "gco2e_per_request":
            kg = q[pos] * v / 1000.0
            if f["basis"] == "market":
                res["supplier_kg_market"][pos] = kg
                formulas[pos] = formulas[pos] + f"; market-based kgCO2e = requests × supplier gCO2e/request ({fid})"
            else:
                res["supplier_kg"][pos] = kg
                formulas[pos] = f"kgCO2e = requests × supplier gCO2e/request ({fid}); kWh modelled for reference"
        else:
            res["supplier_ci"][pos] = v
        if not (unit == "gco2e_per_request" and f["basis"] == "market"):
            res["supplier"][pos] = True
            methods[pos] = "supplier_specific"
        boundary[pos] = f["boundary"]
    res["method"], res["formula"], res["boundary"] = list(methods), list(formulas), list(boundary)


SELFHOSTED_FORMULA = ("kWh = PUE × (output tokens × J/token(batch, params) + input tokens × prefill J/token + idle "
                      "GPU-hours × idle W) / 3.6e6; measured H200 curve, data/selfhosted/gpu_inference_measurements.csv")


def _selfhosted_rows(ctx: EstimateContext, df: pd.DataFrame, res: dict, act: np.ndarray, pue: np.ndarray) -> None:
    """Self-hosted LLM rows (issue 12; optional columns gpus, serving_hours and batch_size or
    utilisation): energy from the GPUs, hours and tokens served (audit.methods.selfhosted),
    in place of the per-request EcoLogits figure. Low/central/high: the model's parameter
    range and the PUE range. Rows without gpus and serving_hours are left as they are."""
    gpus = pd.to_numeric(df.get("gpus", pd.Series(np.nan, index=df.index)), errors="coerce").to_numpy(float)
    hours = pd.to_numeric(df.get("serving_hours", pd.Series(np.nan, index=df.index)), errors="coerce").to_numpy(float)
    fleet = (gpus > 0) & (hours > 0)
    if not np.any(fleet):
        return
    batch = pd.to_numeric(df.get("batch_size", pd.Series(np.nan, index=df.index)), errors="coerce").to_numpy(float)
    util = df["utilisation"].to_numpy(float)
    q = df["quantity_base"].to_numpy(float)
    out_tok = np.nan_to_num(df["output_tokens"].to_numpy(float)) * q
    in_tok = np.nan_to_num(df["input_tokens"].to_numpy(float)) * q
    # Per-row method and formula (a kind's methods may give one string for all rows).
    method = np.array(res["method"] if not isinstance(res["method"], str) else [res["method"]] * len(df), dtype=object)
    formula = np.array(res["formula"] if not isinstance(res["formula"], str) else [res["formula"]] * len(df), dtype=object)
    pos = np.flatnonzero(fleet)
    aid, rn = df["activity_id"].to_numpy(object), df["row_number"].to_numpy(object)
    # batch_size wins over utilisation; selfhosted_energy wants exactly one of them.
    b = [None if math.isnan(x) else float(x) for x in batch[pos]]
    u = [None if bb is not None or math.isnan(x) else float(x) for bb, x in zip(b, util[pos])]
    keys = ("kwh_low", "kwh", "kwh_high")
    inputs = [[(float(gpus[j]), float(hours[j]), float(out_tok[j]), float(act[k, j]), float(in_tok[j]), bb, uu,
                float(pue[k, j])) for k in range(3)] for j, bb, uu in zip(pos, b, u)]
    energy: dict[tuple, float] = {}  # one call per distinct input (fleet rows repeat across periods)
    for j, per_bound in zip(pos, inputs):
        for x in per_bound:
            if x not in energy:
                g, h, o, p, i, bb, uu, pe = x
                energy[x] = selfhosted_energy(g, h, o, p, input_tokens=i, batch=bb, utilisation=uu, pue=pe,
                                              where=f"activity {aid[j]} (row {rn[j]})").kwh_facility
    for k, key in enumerate(keys):
        res[key][pos] = [energy[x[k]] for x in inputs]
    res["device_hours"][pos] = gpus[pos] * hours[pos]
    gpu_ids, hour_ids = ctx.supplied_factors(df, [("gpus", "GPUs", fleet, gpus), ("serving_hours", "hours", fleet, hours)])
    for j in pos:
        res["factor_ids"][j] = list(res["factor_ids"][j]) + [gpu_ids[j], hour_ids[j]]
    method[pos], formula[pos] = "selfhosted_llm", SELFHOSTED_FORMULA
    res["method"], res["formula"] = method, formula


def _desnz_factor_ids(reg: FactorRegister, frame: pd.DataFrame, part: str, rf: bool) -> np.ndarray:
    """The DESNZ factor id of each row for ``part``, looked up once per distinct (kind, country
    else region, mode)."""
    country = frame["country"].to_numpy(object)
    where = np.where(country != "", country, frame["region"].to_numpy(object))
    codes, uniques = _factorize_rows(frame["kind"].to_numpy(object), where, frame["mode"].to_numpy(object))
    fids = np.empty(len(uniques), dtype=object)
    fids[:] = [_desnz_factor_id(reg, *u, part, rf) for u in uniques]
    return fids[codes]


def _factorize_rows(*columns: np.ndarray) -> tuple[np.ndarray, list[tuple]]:
    """(codes, distinct tuples in order of first appearance) of the rows of ``columns``, like
    ``pd.MultiIndex.from_arrays(columns).factorize()`` for columns without missing values, but
    without building the index's categoricals (~2 ms per call; 61 calls per ``audit run``)."""
    code_of: dict[tuple, int] = {}
    codes = np.fromiter((code_of.setdefault(key, len(code_of)) for key in zip(*columns)), dtype=np.intp,
                        count=len(columns[0]))
    return codes, list(code_of)


def method_conversion_factor(ctx: EstimateContext, df: pd.DataFrame) -> dict:
    """kgCO2e = quantity x DESNZ conversion factor (fuel, travel, accommodation, freight)."""
    reg = ctx.register
    rf = getattr(ctx.engagement, "radiative_forcing", True)
    fids = _desnz_factor_ids(reg, df, "direct", rf)
    lo, mid, hi = _bounds_of(reg, fids)
    q = df["quantity_base"].to_numpy(float)
    kg = np.array([lo * q, mid * q, hi * q])
    ids = [[f] for f in fids]
    nan = np.full(len(df), np.nan)
    return {"kwh": np.zeros(len(df)), "kwh_low": np.zeros(len(df)), "kwh_high": np.zeros(len(df)),
            "kgco2e": kg[1], "kgco2e_low": kg[0], "kgco2e_high": kg[2], "factor_ids": ids, "method": "conversion_factor",
            "formula": "kgCO2e = quantity × DESNZ factor", "energy_based": False, "intensity": nan}


def _desnz_factor_id(reg: FactorRegister, kind: str, region: str, mode: str, part: str, rf: bool) -> str | None:
    """The DESNZ factor of a kind, region (country else region) and mode, for ``part`` (direct,
    wtt); radiative forcing picks the ``_rf`` mode where there is one."""
    if kind == "accommodation":
        hits = reg.find(kind="accommodation", region=region, part=part, mode=mode if mode == "london" else "")
        if not len(hits):
            return None if part != "direct" else HOTEL_PROXY_ID
        return hits["factor_id"].iloc[0]
    mode = mode or _default_mode(kind)
    if rf and f"{mode}_rf" in valid_modes(kind):
        mode = f"{mode}_rf"
    hits = reg.find(kind=kind, mode=mode, part=part)
    if not len(hits):
        if part == "direct":
            raise FactorError(f"no DESNZ factor for {kind} mode '{mode}'")
        return None
    return hits["factor_id"].iloc[0]


def _default_mode(kind: str) -> str:
    return kinds_table().loc[kind, "default_mode"]


def method_measured(ctx: EstimateContext, df: pd.DataFrame) -> dict:
    """kWh = quantity x measured kWh per unit x PUE, for rows with ``mode = measured:<factor_id>``.

    The factor comes from the engagement's measured_factors.csv (``audit measure``) and is
    cited as ``measured:<factor_id>``. PUE as for every energy-based kind (row, provider,
    else the on-premise average): codecarbon measures IT energy at the machine.
    """
    pue_lo, pue_mid, pue_hi, pue_ids = _pue(ctx, df)
    fids, e = ctx.measured_factors(df)
    ids = [[f, p] for f, p in zip(fids, pue_ids)]
    q = df["quantity_base"].to_numpy(float)
    res = _energy_result(measured_energy_kwh(q, e, pue_mid), measured_energy_kwh(q, e, pue_lo),
                         measured_energy_kwh(q, e, pue_hi), ids, "measured",
                         "kWh = quantity × measured kWh_per_unit × PUE")
    lat = df["latency_s"].to_numpy(float)
    res["device_hours"] = np.where(df["kind"].to_numpy() == "gpu_compute", q, q * lat / 3600.0)
    return res


METHODS = {
    "gpu_compute": method_gpu_compute, "cpu_compute": method_cpu_compute, "electricity": method_electricity,
    "storage": method_storage, "data_transfer": method_data_transfer, "image_generation": method_image_generation,
    "video_generation": method_video_generation, "llm_api": method_llm_api, "fuel": method_conversion_factor,
    "travel": method_conversion_factor, "accommodation": method_conversion_factor,
    "freight": method_conversion_factor,
}


@dataclass
class Estimate:
    """The estimator's output: one row per emission line, and the register behind it."""

    lines: pd.DataFrame
    register: FactorRegister
    engagement: object
    activities: pd.DataFrame | None = None  # the validated input rows, regions defaulted
    warnings: list[str] = field(default_factory=list)  # intake warnings, carried to the reports
    usage: UsageEnergy | None = None  # the usage logs' energy, request by request (``usage.result()``), on first use

    @property
    def factors_used(self) -> pd.DataFrame:
        return self.register.used(f for ids in self.lines["factor_ids"] for f in ids)


# The columns a line carries while it is built: the results' and what derived lines need.
LINE_COLUMNS = frozenset(RESULT_COLUMNS) | {"hardware", "_device_hours", "_supplier_kg_market", "_method_dq", "_supplier"}


def estimate(loaded, register: FactorRegister | None = None) -> Estimate:
    """Estimate every activity of a validated engagement (``intake.load_engagement``)."""
    eng = loaded.engagement
    reg = (register or load_register()).with_overrides(eng.factor_overrides)
    ctx = EstimateContext(reg, eng)
    df = loaded.activities.copy(deep=False)  # copy-on-write: a column is copied when it is changed
    blank = df["region"] == ""
    df.loc[blank, "region"] = _default_region(df.loc[blank, ["kind", "provider", "ownership"]], eng)  # the columns it reads
    df.loc[df["country"] == "", "country"] = df.loc[df["country"] == "", "region"]
    activities = df.copy(deep=False)
    df = map_scopes(df)
    lines = _kind_lines(ctx, df)
    assumptions = _provider_region_assumptions(ctx, df, blank)
    del df  # the merged input: not needed from here on (peak memory)

    lines, dq_warnings = _method_data_quality(lines)
    warnings = list(getattr(loaded, "warnings", [])) + dq_warnings + assumptions + _grid_vintage_note(ctx, lines)

    # Data quality widens every range (pedigree factor), on top of the method's own range.
    k95 = lines["data_quality"].astype(int).map(uncertainty_k95()).to_numpy(float)
    for prefix in ("kwh", "kgco2e"):
        lo, hi = combine_log_bounds(lines[prefix].to_numpy(float), lines[f"{prefix}_low"].to_numpy(float),
                                    lines[f"{prefix}_high"].to_numpy(float), k95)
        lines[f"{prefix}_low"], lines[f"{prefix}_high"] = lo, hi
    lines["derived_from"] = ""
    if getattr(eng, "upstream_cat3", True):
        lines = pd.concat([lines, _upstream_lines(ctx, lines)], ignore_index=True)
    if getattr(eng, "embodied", True):
        embodied = _embodied_lines(ctx, lines)
        if len(embodied):
            lines = pd.concat([lines, embodied], ignore_index=True)
    # Derived lines of an LLM line (embodied, upstream) carry no energy: EcoLogits' kWh for them is 0 too.
    derived_llm = (lines["kind"] == "llm_api") & (lines["derived_from"] != "") & lines["ecologits_kwh"].isna()
    lines.loc[derived_llm, "ecologits_kwh"] = 0.0
    lines = _market_based(ctx, lines)  # every line's market-based figure, derived lines included
    sup_market = lines["_supplier_kg_market"].to_numpy(float)
    has_market = ~np.isnan(sup_market)
    lines.loc[has_market, "kgco2e_market"] = sup_market[has_market]
    lines.loc[has_market, "market_basis"] = "supplier-specific market-based figure (engagement supplier_factors)"
    reg = reg.extended(ctx.extra_factors) if ctx.extra_factors else reg
    lines["scope3_category"] = lines["scope3_category"].astype("Int64")
    return Estimate(lines.reindex(columns=RESULT_COLUMNS).reset_index(drop=True), reg, eng, activities, warnings,
                    usage=usage_energy(loaded))


def _kind_lines(ctx: EstimateContext, df: pd.DataFrame) -> pd.DataFrame:
    """One line per activity, in table order: each kind's method (``METHODS``; ``measured:<id>``
    rows by ``method_measured``) on all its rows at once, then kgCO2e = kWh x grid intensity for
    the energy-based kinds (a supplier figure where the engagement gives one)."""
    measured = df["mode"].astype(str).str.startswith(MODE_PREFIX)
    method_key = df["kind"].where(~measured, "measured")
    # Each kind's results go into whole-table arrays at its rows' positions, and the line table is
    # built once at the end: a frame per kind with ~16 columns set one by one, concatenated and
    # put back in table order, cost ~40 ms per estimate (three estimates per audit run).
    n = len(df)
    key_of_row = method_key.to_numpy(object)
    new = {"_device_hours": np.full(n, np.nan), "kwh": np.full(n, np.nan), "kwh_low": np.full(n, np.nan),
           "kwh_high": np.full(n, np.nan), "method": np.empty(n, object), "formula": np.empty(n, object),
           "boundary": np.empty(n, object), "ecologits_kwh": np.full(n, np.nan), "_method_dq": np.full(n, np.nan),
           "_supplier": np.zeros(n, bool), "_supplier_kg_market": np.full(n, np.nan),
           "intensity_g_per_kwh": np.full(n, np.nan), "kgco2e": np.full(n, np.nan),
           "kgco2e_low": np.full(n, np.nan), "kgco2e_high": np.full(n, np.nan), "factor_ids": np.empty(n, object)}
    for key, sub in df.groupby(method_key, sort=False):
        pos = np.flatnonzero(key_of_row == key)  # sub's rows, in table order
        res = (method_measured if key == "measured" else METHODS[key])(ctx, sub)
        if "device_hours" in res:
            new["_device_hours"][pos] = res["device_hours"]
        for col in ("kwh", "kwh_low", "kwh_high"):
            new[col][pos] = res[col]
        new["method"][pos], new["formula"][pos] = res["method"], res["formula"]
        new["boundary"][pos] = res.get("boundary", _default_boundary(key, sub))
        for col, name in (("ecologits_kwh", "ecologits_kwh"), ("_method_dq", "method_data_quality"),
                          ("_supplier", "supplier"), ("_supplier_kg_market", "supplier_kg_market")):
            if name in res:
                new[col][pos] = res[name]
        ids = list(res["factor_ids"])  # each method builds a fresh list per row
        if res["energy_based"]:
            ci, grid_ids = _location_intensity(ctx, sub)
            sup_ci = res.get("supplier_ci", np.full(len(sub), np.nan))
            ci = np.where(np.isnan(sup_ci), ci, sup_ci)
            new["intensity_g_per_kwh"][pos] = ci
            sup_kg = res.get("supplier_kg", np.full(len(sub), np.nan))
            for col, kwh_col in (("kgco2e", "kwh"), ("kgco2e_low", "kwh_low"), ("kgco2e_high", "kwh_high")):
                new[col][pos] = np.where(np.isnan(sup_kg), emissions_kg(new[kwh_col][pos], ci), sup_kg)
            ids = [[*a, g] if math.isnan(c) else list(a) for a, g, c in zip(ids, grid_ids, sup_ci)]
            new["formula"][pos] = [f + "; kgCO2e = kWh × gCO2e_per_kWh / 1000" for f in new["formula"][pos]]
        else:
            for col in ("kgco2e", "kgco2e_low", "kgco2e_high"):
                new[col][pos] = res[col]
        new["factor_ids"][pos] = _list_column(ids)
    lines = df[[c for c in df.columns if c in LINE_COLUMNS]]  # input-only columns are not carried
    return pd.concat([lines, pd.DataFrame(new, index=df.index)], axis=1)


def _default_region(rows: pd.DataFrame, eng) -> pd.Series:
    """Blank region: an LLM API runs where its provider's data centres are (EcoLogits);
    everything else happens in the engagement's default region."""
    prov = providers()
    llm_like = rows["kind"].isin(["llm_api", "image_generation", "video_generation"]) & (rows["provider"] != "")
    region = pd.Series(eng.default_region, index=rows.index)
    hosted = llm_like & ~rows["ownership"].isin(["owned", "leased"])
    region[hosted] = rows.loc[hosted, "provider"].map(prov["default_region"]).replace("", eng.default_region)
    return region


def _location_intensity(ctx: EstimateContext, sub: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """Grid intensity (g/kWh) and its factor id per row: the row's own value, else the grid of
    its region and country (``grid_intensity`` once per distinct pair)."""
    codes, pairs = _factorize_rows(sub["region"].to_numpy(object), sub["country"].to_numpy(object))
    ci_pairs, id_pairs = grid_intensity(ctx.register, pd.Series([r for r, _ in pairs], dtype=object),
                                        pd.Series([c for _, c in pairs], dtype=object))
    ci, ids = ci_pairs[codes], list(np.asarray(id_pairs, dtype=object)[codes])
    override = sub["carbon_intensity_g_per_kwh"].to_numpy(float)
    has = ~np.isnan(override)
    (supplied,) = ctx.supplied_factors(sub, [("carbon_intensity_g_per_kwh", "gCO2e/kWh", has, None)])
    ci = np.where(has, override, np.asarray(ci, float))
    return ci, [s if h else g for s, g, h in zip(supplied, ids, has)]


def _market_based(ctx: EstimateContext, lines: pd.DataFrame) -> pd.DataFrame:
    """Market-based Scope 2 from the engagement's instruments (GHG Protocol Scope 2 Guidance).

    A supplier factor replaces the grid intensity; a renewable share scales it by (1 - share).
    Uncovered consumption falls back to the location-based factor and is labelled so.
    """
    lines = lines.copy(deep=False)
    lines["kgco2e_market"] = lines["kgco2e"]
    lines["market_basis"] = ""
    scope2 = (lines["scope"] == 2).to_numpy()
    instruments = {i.region.lower(): (n, i) for n, i in enumerate(ctx.engagement.market_instruments)}
    # The instrument of each Scope 2 line by region, else country (one look-up per distinct pair):
    # its index, -1 for none, -2 for a line that is not Scope 2.
    def instrument_of(key) -> int:
        if key is None:
            return -2
        hit = instruments.get(key[0].lower()) or instruments.get(key[1].lower())
        return -1 if hit is None else hit[0]

    which = np.array(_per_key([(r, c) if s2 else None for r, c, s2 in zip(
        lines["region"].astype(str).to_numpy(object), lines["country"].astype(str).to_numpy(object), scope2)],
        instrument_of), dtype=int)
    uncovered = which == -1
    basis = lines["market_basis"].to_numpy(object).copy()
    basis[uncovered] = "location fallback (no contractual instrument)"
    market = lines["kgco2e_market"].to_numpy(float).copy()
    kwh, kg = lines["kwh"].to_numpy(float), lines["kgco2e"].to_numpy(float)
    factor_ids = lines["factor_ids"].to_numpy(object).copy()
    # Each instrument over its lines, registered when its first line is met (as a line loop would).
    for n in pd.unique(which[which >= 0]):
        inst = ctx.engagement.market_instruments[int(n)]
        pos = np.flatnonzero(which == n)
        if inst.supplier_factor_g_per_kwh is not None:
            market[pos] = emissions_kg(kwh[pos], inst.supplier_factor_g_per_kwh)
            basis[pos] = f"supplier factor {inst.supplier_factor_g_per_kwh:g} g/kWh"
        elif inst.renewable_share is not None:
            market[pos] = kg[pos] * (1 - inst.renewable_share)
            basis[pos] = (f"renewable share {inst.renewable_share:.0%}; "
                          "remainder at location factor (no residual mix)")
        else:
            continue
        fid = _instrument_factor(ctx, int(n), inst)
        factor_ids[pos] = _list_column([*ids, fid] for ids in factor_ids[pos])
    lines["kgco2e_market"] = market
    lines["market_basis"] = basis
    lines["factor_ids"] = factor_ids
    return lines


def _list_column(items) -> np.ndarray:
    """A 1-D object array whose elements are the given lists (numpy would make a 2-D array)."""
    return pd.Series(list(items), dtype=object).to_numpy()


def _instrument_factor(ctx: EstimateContext, n: int, inst) -> str:
    """Register a contractual instrument (engagement.yaml market_instruments[n]) as a factor,
    so a market-based figure names its source like every other number."""
    supplier = inst.supplier_factor_g_per_kwh is not None
    fid = f"engagement:market_instrument:{n + 1}:{inst.region.lower()}"
    ctx.extra_factors.append({
        "factor_id": fid,
        "name": (f"Supplier emission factor for {inst.region}" if supplier
                 else f"Renewable share of electricity in {inst.region}"),
        "value": float(inst.supplier_factor_g_per_kwh if supplier else inst.renewable_share),
        "unit": "gCO2e/kWh" if supplier else "fraction",
        "source": ("Contractual instrument in engagement.yaml, market_instruments[" + str(n) + "]"
                   + (f": {inst.description}" if inst.description else "")),
        "source_ref": f"market_instruments[{n}]", "year": _reporting_year(ctx.engagement, ctx.register),
        "licence": "Client data (confidential)",
        "notes": ("Market-based Scope 2 (GHG Protocol Scope 2 Guidance): replaces the grid factor" if supplier
                  else "Market-based Scope 2: the covered share at zero; the rest at the location factor"),
    })
    return fid


UPSTREAM_GRID_PARTS = (("td", "T&D losses"), ("wtt", "Well-to-tank (generation)"), ("wtt_td", "Well-to-tank (T&D)"))


def _upstream_lines(ctx: EstimateContext, lines: pd.DataFrame) -> pd.DataFrame:
    """Derived lines for well-to-tank and T&D losses (DESNZ).

    Scope 1 fuels and Scope 2 electricity on the DESNZ UK grid factor -> Scope 3 Cat 3.
    Travel and freight WTT stay in their own category (Cat 6 / Cat 4), as DESNZ advises.
    """
    reg = ctx.register
    rf = getattr(ctx.engagement, "radiative_forcing", True)
    desnz_grid = {f for f in reg.find(kind="electricity", part="direct")["factor_id"] if f.startswith("desnz-")}
    kind = lines["kind"].to_numpy(object)
    scope = lines["scope"].to_numpy()
    # (parent position, order within the parent, suffix, label, factor id, kgCO2e) per derived line
    pos_parts, order_parts, suffixes, labels, fids, kgs = [], [], [], [], [], []
    # Fuel, travel and freight: kgCO2e = quantity x DESNZ WTT factor.
    fuel_like = np.isin(kind, ("fuel", "travel", "freight")) & np.isin(scope, (1, 3))
    wtt = np.full(len(lines), None, dtype=object)
    wtt[fuel_like] = _desnz_factor_ids(reg, lines[fuel_like], "wtt", rf)
    pos = np.flatnonzero(wtt != None)  # noqa: E711 - elementwise on an object array
    if len(pos):
        values = np.array(_per_key(wtt[pos], reg.value), float)
        pos_parts.append(pos), order_parts.append(np.zeros(len(pos), int))
        suffixes.append(np.full(len(pos), "wtt", dtype=object)), labels.append(np.full(len(pos), "Well-to-tank", dtype=object))
        fids.append(wtt[pos]), kgs.append(lines["quantity_base"].to_numpy(float)[pos] * values)
    # Scope 2 on the DESNZ UK grid factor: kgCO2e = kWh x DESNZ T&D / WTT factor.
    on_desnz = (scope == 2) & np.array([s == 2 and not desnz_grid.isdisjoint(ids)
                                        for s, ids in zip(scope, lines["factor_ids"])], bool)
    pos = np.flatnonzero(on_desnz)
    if len(pos):
        kwh = lines["kwh"].to_numpy(float)[pos]
        for order, (part, label) in enumerate(UPSTREAM_GRID_PARTS):
            hits = reg.find(kind="electricity", region="GBR", part=part)
            if len(hits):
                fid = hits["factor_id"].iloc[0]
                pos_parts.append(pos), order_parts.append(np.full(len(pos), order))
                suffixes.append(np.full(len(pos), part, dtype=object)), labels.append(np.full(len(pos), label, dtype=object))
                fids.append(np.full(len(pos), fid, dtype=object)), kgs.append(kwh * reg.value(fid))
    if not pos_parts:
        return pd.DataFrame([], columns=lines.columns)
    parent, order = np.concatenate(pos_parts), np.concatenate(order_parts)
    sort = np.lexsort((order, parent))  # each parent's derived lines together, in the parent's order
    parent = parent[sort]
    suffix, label = np.concatenate(suffixes)[sort], np.concatenate(labels)[sort]
    fid, kg = np.concatenate(fids)[sort], np.concatenate(kgs)[sort]
    par = lines.iloc[parent]
    new = par.copy(deep=False)
    parent_id = par["activity_id"].astype(str).to_numpy(object)
    new["activity_id"] = parent_id + "~" + suffix
    new["derived_from"] = parent_id
    new["description"] = label + ": " + par["description"].astype(str).to_numpy(object)
    parent_scope = par["scope"].to_numpy()
    to_cat3 = np.isin(parent_scope, (1, 2))
    new["scope"] = 3
    category = [3 if c3 else int(c) for c3, c in zip(to_cat3, par["scope3_category"].to_numpy(object))]
    new["scope3_category"] = category
    new["scope_category_name"] = [SCOPE3_CATEGORY_NAMES[c] for c in category]
    new["kwh"] = new["kwh_low"] = new["kwh_high"] = 0.0
    parent_kg = par["kgco2e"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio_lo = np.where(parent_kg != 0, par["kgco2e_low"].to_numpy(float) / parent_kg, 1.0)
        ratio_hi = np.where(parent_kg != 0, par["kgco2e_high"].to_numpy(float) / parent_kg, 1.0)
    new["kgco2e"], new["kgco2e_low"], new["kgco2e_high"] = kg, kg * ratio_lo, kg * ratio_hi
    new["intensity_g_per_kwh"] = np.nan
    new["factor_ids"] = _list_column([f] for f in fid)
    new["boundary"] = "well-to-tank / T&D losses (DESNZ)"
    new["ecologits_kwh"] = new["embodied_kgco2e_memo"] = new["_supplier_kg_market"] = np.nan
    new["method"] = "upstream_" + suffix
    new["formula"] = np.where(parent_scope == 2, "kgCO2e = kWh × DESNZ factor", "kgCO2e = quantity × DESNZ WTT factor")
    return new


EMBODIED_FACTOR_IDS = ("embodied:gpu-hour",)
EMBODIED_MIN_DATA_QUALITY = 4  # generic A100-server figures applied to any accelerator: a proxy


EMBODIED_KINDS = ("gpu_compute", "llm_api", "image_generation")
HOSTED_EMBODIED_KINDS = ("llm_api", "image_generation", "video_generation")


def embodied_eligible(lines: pd.DataFrame) -> pd.Series:
    """Lines that get an embodied line: owned or leased ``gpu_compute``, ``llm_api`` and
    ``image_generation`` rows that name their accelerator in ``hardware``. Naming it says the
    device is the client's own and, for LLM and image rows, that its time is not already
    counted as GPU-hours in another row (the intake warns about owned GPU-hours without it)."""
    owned = lines["ownership"].isin(["owned", "leased"]) & (lines["derived_from"] == "")
    named = lines["hardware"].astype(str).str.strip() != ""
    return owned & named & lines["kind"].isin(EMBODIED_KINDS)


def hosted_embodied_eligible(lines: pd.DataFrame) -> pd.Series:
    """Hosted LLM, image and video lines (a provider's hardware): their share of the provider's
    embodied emissions, allocated by reserved accelerator time as EcoLogits does."""
    hosted = ~lines["ownership"].isin(["owned", "leased"]) & (lines["derived_from"] == "")
    return hosted & lines["kind"].isin(HOSTED_EMBODIED_KINDS)


EMBODIED_COMPONENT_IDS = ("embodied:gpu", "embodied:server-share", "embodied:lifetime")


def embodied_per_gpu_hour(reg: FactorRegister) -> tuple[tuple[float, float, float], list[str]]:
    """kgCO2e per reserved GPU-hour (low, central, high) and the factor ids it cites: register
    factor ``embodied:gpu-hour`` (EcoLogits components over Google's six-year functional unit;
    BLOOM; EcoLogits 3 years). When the consultant overrides a component (a GPU footprint, the
    client's depreciation period), the central follows it: (E_GPU + E_server share) / (life x
    8760 h), citing the components, unless embodied:gpu-hour itself is overridden."""
    bounds = reg.bounds("embodied:gpu-hour")
    if "embodied:gpu-hour" not in reg.overridden and any(f in reg.overridden for f in EMBODIED_COMPONENT_IDS):
        central = embodied_kg_per_gpu_hour(*(reg.value(f) for f in EMBODIED_COMPONENT_IDS))
        return (min(bounds[0], central), central, max(bounds[2], central)), ["embodied:gpu-hour",
                                                                             *EMBODIED_COMPONENT_IDS]
    return bounds, list(EMBODIED_FACTOR_IDS)


def _embodied_lines(ctx: EstimateContext, lines: pd.DataFrame) -> pd.DataFrame:
    """Derived lines for embodied emissions, kgCO2e = GPU-hours x kg per GPU-hour:

    * owned or leased accelerators: Scope 3 Category 2 (capital goods), always;
    * hosted LLM, image and video lines (the provider's hardware, EcoLogits' allocation by
      reserved GPU time): in the parent's category (Cat 1, purchased services) under
      ``llm_boundary: lifecycle``; under accelerator or serving the figure is a memo on the
      parent line (``embodied_kgco2e_memo``), not added to the totals.

    Low / high use the factor's bounds, widened by the pedigree factor of the line's data
    quality (at least 4).
    """
    reg = ctx.register
    (per_h_lo, per_h, per_h_hi), embodied_ids = embodied_per_gpu_hour(reg)
    _, boundary = _llm_settings(ctx)
    hosted = hosted_embodied_eligible(lines) & lines["_device_hours"].notna()
    lines.loc[hosted, "embodied_kgco2e_memo"] = lines.loc[hosted, "_device_hours"].astype(float) * per_h
    eligible = embodied_eligible(lines)
    if boundary == LlmBoundary.LIFECYCLE:
        eligible = eligible | hosted
    sel = lines[eligible & lines["_device_hours"].notna()]
    if sel.empty:
        return pd.DataFrame(columns=lines.columns)
    is_hosted = hosted_embodied_eligible(sel).to_numpy()
    hours = sel["_device_hours"].to_numpy(float)
    dq = np.maximum(sel["data_quality"].to_numpy(float), EMBODIED_MIN_DATA_QUALITY).astype(int)
    k95 = pd.Series(dq).map(uncertainty_k95()).to_numpy(float)
    kg = hours * per_h
    lo, hi = combine_log_bounds(kg, hours * per_h_lo, hours * per_h_hi, k95)
    new = sel.copy(deep=False)
    new["derived_from"] = sel["activity_id"]
    new["activity_id"] = sel["activity_id"] + "~embodied"
    new["description"] = np.where(is_hosted, "Embodied emissions of the provider's hardware (allocated): ",
                                  "Embodied emissions of owned hardware (amortised): ") + sel["description"].astype(str)
    new["scope"] = 3
    parent_cat = pd.to_numeric(sel["scope3_category"].astype(object).where(sel["scope3_category"].notna(), np.nan),
                               errors="coerce").fillna(1).to_numpy(float)
    new["scope3_category"] = np.where(is_hosted, parent_cat, 2).astype(int)
    new["scope_category_name"] = [SCOPE3_CATEGORY_NAMES[int(c)] for c in new["scope3_category"]]
    new["kwh"] = new["kwh_low"] = new["kwh_high"] = 0.0
    new["intensity_g_per_kwh"] = np.nan
    new["kgco2e"], new["kgco2e_low"], new["kgco2e_high"] = kg, lo, hi
    new["data_quality"] = dq
    new["data_quality_basis"] = [f"{d}: proxy (A100-class embodied figures for any accelerator)" for d in dq]
    new["factor_ids"] = [list(embodied_ids) for _ in range(len(new))]
    new["method"] = "embodied_amortised"
    new["boundary"] = np.where(is_hosted, "lifecycle (embodied share of the provider's hardware)", "embodied (capital goods)")
    new["ecologits_kwh"] = np.nan
    new["embodied_kgco2e_memo"] = np.nan
    new["_supplier_kg_market"] = np.nan
    hours_rule = {"gpu_compute": "GPU_hours = quantity",
                  "llm_api": "GPU_hours = requests × E_accel / P_gpu (production) or latency × n_GPU / batch (EcoLogits)",
                  "image_generation": "GPU_hours = images × E_accel / P_gpu (or latency_s / 3600)",
                  "video_generation": "GPU_hours = kWh / PUE / P_gpu"}
    new["formula"] = [f"kgCO2e = GPU_hours × kg_per_GPU_hour (embodied:gpu-hour); "
                      f"{hours_rule.get(k, 'GPU_hours = quantity × latency_s / 3600')}" for k in sel["kind"]]
    return new.reset_index(drop=True)


DEFAULT_BOUNDARY = {
    "measured": "measured IT energy × PUE", "electricity": "metered electricity",
    "cpu_compute": "operational (IT energy × PUE)", "storage": "operational (IT energy × PUE × replication)",
    "data_transfer": "operational (inter-region network, CCF)", "fuel": "direct combustion (DESNZ)",
    "travel": "DESNZ conversion factor (direct)", "accommodation": "DESNZ conversion factor (direct)",
    "freight": "DESNZ conversion factor (direct)",
}
DQ_REASON = {1: "measured", 2: "supplier-specific", 3: "average factor / modelled", 4: "proxy", 5: "proxy (weak)"}


def _default_boundary(method_key: str, sub: pd.DataFrame) -> list[str]:
    return [DEFAULT_BOUNDARY.get(method_key, "serving")] * len(sub)


def _cites_prefix(factor_ids: pd.Series, prefix: str) -> np.ndarray:
    """Per line, whether any of its factor ids starts with ``prefix`` (one string operation over
    all ids, then back to their lines)."""
    lengths = np.fromiter(map(len, factor_ids), dtype=int, count=len(factor_ids))
    flat = pd.Series(list(chain.from_iterable(factor_ids)), dtype=object).astype(str)
    hit = flat.str.startswith(prefix).to_numpy(bool)
    out = np.zeros(len(lengths), dtype=bool)
    out[np.repeat(np.arange(len(lengths)), lengths)[hit]] = True
    return out


def _method_data_quality(lines: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Data quality that follows the method and its source (GHG Protocol Scope 3 data hierarchy):
    measured 1, supplier-specific 2, average factor or model 3 (the kind's default), proxy 4
    (any ``proxy:`` factor), weak proxy 5 (hosted image names, TPU power proxies). A row whose
    data_quality differs from its kind's default is the consultant's override: it is kept,
    logged as a warning and shown in ``data_quality_basis``."""
    lines = lines.copy(deep=False)
    kind_default = pd.to_numeric(lines["kind"].map(kinds_table()["default_data_quality"]), errors="coerce")
    from_method = lines["_method_dq"].astype(float)
    method_dq = from_method.fillna(kind_default)
    reason = pd.Series(np.where(from_method.isna(), "the kind's default for its average factor (data/kinds.csv)",
                                from_method.map(lambda v: DQ_REASON.get(int(v), "") if v == v else "")),
                       index=lines.index, dtype=object)
    measured = lines["method"].astype(str).eq("measured")
    method_dq, reason = method_dq.where(~measured, 1), reason.where(~measured, "measured (audit measure)")
    supplier = lines["_supplier"].astype(bool)
    method_dq, reason = method_dq.where(~supplier, 2), reason.where(~supplier, "supplier-specific factor")
    any_proxy = pd.Series(_cites_prefix(lines["factor_ids"], "proxy:"), index=lines.index, dtype=bool)
    proxied = any_proxy & (method_dq < 4)
    method_dq, reason = method_dq.where(~proxied, 4), reason.where(~proxied, "proxy factor")
    given = lines["data_quality"].astype(float)
    override = given.notna() & (given != kind_default) & (given != method_dq)
    m = method_dq.astype(int).astype(str).to_numpy(object)
    why = reason.astype(str).to_numpy(object)
    basis = m + ": " + why
    ov = override.to_numpy(bool)
    given_text = np.where(ov, given.fillna(0).astype(int).astype(str).to_numpy(object), "")
    basis[ov] = given_text[ov] + ": consultant's override (the method gives " + m[ov] + ": " + why[ov] + ")"
    ids = lines["activity_id"].astype(str).to_numpy(object)
    warnings = [f"activity {a}: data quality {g} set by the consultant overrides the method's {mm} ({r})"
                for a, g, mm, r in zip(ids[ov], given_text[ov], m[ov], why[ov])]
    final = pd.Series(np.where(override, given, method_dq), index=lines.index)
    # A proxy factor caps the score at 4 whatever the row says (GHG Protocol Scope 3 data hierarchy).
    capped = (any_proxy & (final < 4)).to_numpy(bool)
    basis[capped] = "4: capped (a proxy factor is used); was " + basis[capped]
    lines["data_quality"] = final.where(~capped, 4).astype(int)
    lines["data_quality_basis"] = list(basis)
    return lines, warnings


@lru_cache(maxsize=1)
def provider_regions() -> pd.DataFrame:
    """data/provider_regions.csv: each provider's assumed region, its basis and what it discloses."""
    return pd.read_csv(DATA_DIR / "provider_regions.csv", comment="#", dtype=str,
                       keep_default_na=False).set_index("provider")


def _provider_region_assumptions(ctx: EstimateContext, df: pd.DataFrame, blank: pd.Series) -> list[str]:
    """One assumptions-register entry per provider whose default region was used: the region,
    its grid factor and year (location-based), the basis, and what the provider discloses."""
    out = []
    table = provider_regions()
    # The three columns read below only (a full-width selection took each of ~45 columns).
    rows = df.loc[blank.reindex(df.index, fill_value=False) & df["provider"].ne("")
                  & df["kind"].isin(["llm_api", "image_generation", "video_generation"])
                  & ~df["ownership"].isin(["owned", "leased"]), ["provider", "region", "activity_id"]]
    if rows.empty:
        return out
    canonical = {p: _canonical_provider(p) for p in rows["provider"].unique()}  # once per distinct name
    for provider, grp in rows.groupby(rows["provider"].map(canonical)):
        region = grp["region"].iloc[0]
        ci, ids = grid_intensity(ctx.register, pd.Series([region]), pd.Series([region]))
        year = ctx.register.row(ids[0])["year"]
        info = table.loc[provider] if provider in table.index else None
        text = (f"Assumption: {provider} requests with no region run in {region} (location-based grid "
                f"{ci[0]:.1f} gCO2e/kWh, {ids[0]}, data year {year}); basis: "
                f"{info['basis'] if info is not None else 'data/providers.csv default'}")
        if info is not None and info["provider_disclosure"]:
            text += f"; provider disclosure: {info['provider_disclosure']}"
        if info is not None and info["sensitivity_region"]:
            alt, alt_ids = grid_intensity(ctx.register, pd.Series([info["sensitivity_region"]]),
                                          pd.Series([info["sensitivity_region"]]))
            text += f"; sensitivity: {info['sensitivity_region']} {alt[0]:.1f} gCO2e/kWh ({alt_ids[0]})"
        text += f" (activities: {', '.join(grp['activity_id'].astype(str).head(8))}" + (
            ", …)" if len(grp) > 8 else ")")
        out.append(text)
    return out


def _grid_vintage_note(ctx: EstimateContext, lines: pd.DataFrame) -> list[str]:
    """The year of every grid factor used, said plainly (the report's register lists warnings)."""
    desnz_grid = set(ctx.register.find(kind="electricity", part="direct")["factor_id"])
    grid_ids = sorted({f for ids in lines["factor_ids"] for f in ids if str(f).startswith("grid:") or f in desnz_grid})
    if not grid_ids:
        return []
    years: dict[str, list[str]] = {}
    for f in grid_ids:
        y = ctx.register.row(f)["year"]
        label = "UK (DESNZ)" if f in desnz_grid else f.removeprefix("grid:codecarbon:")
        years.setdefault("unknown" if pd.isna(y) else str(int(y)), []).append(label)
    reporting = _reporting_year(ctx.engagement, ctx.register)
    parts = [f"{y}: {', '.join(v[:10])}{', …' if len(v) > 10 else ''}" for y, v in sorted(years.items())]
    oldest = min((int(y) for y in years if y != "unknown"), default=None)
    age = f"; the oldest is {reporting - oldest} year(s) older than the reporting year {reporting}" if oldest else ""
    return [f"Grid factor vintage (annual, location-based): {'; '.join(parts)}{age}. codecarbon "
            f"{CODECARBON_VERSION}'s country table gives 2023 data for 78 zones (incl. every large market) and "
            "2022 for most others; no newer open dataset with a compatible licence ships with the toolkit"]
