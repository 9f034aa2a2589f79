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

    def activity_factor(self, activity_id: str, row_number: int, column: str, value: float, unit: str,
                        file: str = "activities") -> str:
        """Register a value the client supplied in the table, so results can cite it."""
        fid = f"activity:{activity_id}:{column}"
        self.extra_factors.append({
            "factor_id": fid, "name": f"{column} supplied for activity {activity_id}", "value": float(value),
            "unit": unit, "source": f"Client-supplied in {file}, row {row_number}, column {column}",
            "source_ref": f"row {row_number}", "year": _reporting_year(self.engagement, self.register),
            "licence": "Client data (confidential)",
            "notes": "Activity-level value used as is",
        })
        return fid

    def measured_factor(self, row) -> tuple[str, float]:
        """The register id and kWh per unit of the measured factor a ``measured:<id>`` row uses."""
        raw = row.get("measured_factor", "") if hasattr(row, "get") else ""
        if not isinstance(raw, str) or not raw:
            raise FactorError(f"activity {row['activity_id']}: mode '{row['mode']}' needs measured factor "
                              f"'{measured_factor_id(row['mode'])}' from the engagement's measured_factors.csv "
                              "(load the engagement folder, or run 'audit measure')")
        reg_row = register_row(json.loads(raw))
        fid = reg_row["factor_id"]
        if fid not in self.register and not any(r["factor_id"] == fid for r in self.extra_factors):
            self.extra_factors.append(reg_row)
        return fid, float(reg_row["value"])


def _reporting_year(eng, reg: FactorRegister) -> int:
    """The year of client-supplied values: the engagement's reporting year, else (an ad-hoc
    table with no reporting period) the factor set's."""
    return eng.reporting_year or reg.factor_set.desnz_year


def _pue(ctx: EstimateContext, df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """PUE per row: the table's value, else the provider's, else the on-premise average."""
    reg = ctx.register
    prov = providers()
    lo, mid, hi, ids = [], [], [], []
    for i, row in df.iterrows():
        if not math.isnan(row["pue"]):
            fid = ctx.activity_factor(row["activity_id"], row["row_number"], "pue", row["pue"], "ratio")
            lo.append(row["pue"]), mid.append(row["pue"]), hi.append(row["pue"]), ids.append(fid)
            continue
        owned = row["ownership"] in ("owned", "leased") and not row["provider"]
        fid = "pue:onprem-average" if owned or not row["provider"] else prov.loc[row["provider"], "pue_factor_id"]
        a, b, c = reg.bounds(fid)
        lo.append(a), mid.append(b), hi.append(c), ids.append(fid)
    return np.array(lo), np.array(mid), np.array(hi), ids


def _energy_result(kwh, kwh_low, kwh_high, factor_ids, method, formula):
    return {"kwh": np.asarray(kwh, float), "kwh_low": np.asarray(kwh_low, float),
            "kwh_high": np.asarray(kwh_high, float), "factor_ids": factor_ids, "method": method,
            "formula": formula, "energy_based": True}


GPU_USES = ("training", "serving", "rendering")


def _bad_mode(df: pd.DataFrame, row, message: str, hint: str) -> ValidationError:
    return ValidationError([Problem("activities", message, row=int(row["row_number"]), column="mode", hint=hint)])


def method_gpu_compute(ctx: EstimateContext, df: pd.DataFrame) -> dict:
    """kWh = gpu_hours x power_W x (1 + host share) / 1000 x PUE.

    power_W as given (no host share added: a measured draw), else TDP x utilisation, the
    utilisation by use (``mode``: training 0.90, serving 0.25, rendering 0.75; register
    ``gpu-utilisation:<mode>``) with the host share ``gpu-host-share:default`` (0.43);
    a row with no mode keeps the conservative TDP x 1.0 (0.5-1.0) and no host share.
    """
    reg = ctx.register
    p_lo, p_mid, p_hi, ids, dq = [], [], [], [], []
    h_lo, h_mid, h_hi = reg.bounds("gpu-host-share:default")
    for _, row in df.iterrows():
        row_ids = []
        mode = str(row["mode"] or "")
        if mode and mode not in GPU_USES:
            raise _bad_mode(df, row, f"unknown mode '{mode}' for gpu_compute", f"allowed: {', '.join(GPU_USES)}")
        host = (0.0, 0.0, 0.0)
        dq.append(np.nan)
        if not math.isnan(row["power_w"]):
            row_ids.append(ctx.activity_factor(row["activity_id"], row["row_number"], "power_w", row["power_w"], "W"))
            p_lo.append(row["power_w"]), p_mid.append(row["power_w"]), p_hi.append(row["power_w"])
            dq[-1] = 1  # the client's measured draw
        else:
            tdp_id = f"hw:{row['hardware'].lower()}"
            tdp = reg.value(tdp_id)
            row_ids.append(tdp_id)
            if "proxy" in str(reg.row(tdp_id)["licence"]).lower():
                dq[-1] = 5  # a power derived from marketing claims (TPU v5e, v6e, 7x)
            util_id = f"gpu-utilisation:{mode}" if mode else "gpu-utilisation:default"
            if mode:
                host = (h_lo, h_mid, h_hi)
                row_ids.append("gpu-host-share:default")
            if not math.isnan(row["utilisation"]):
                u = row["utilisation"]
                row_ids.append(ctx.activity_factor(row["activity_id"], row["row_number"], "utilisation", u, "fraction"))
                u_lo = u_mid = u_hi = u
            else:
                row_ids.append(util_id)
                u_lo, u_mid, u_hi = reg.bounds(util_id)
            p_lo.append(tdp * u_lo * (1 + host[0])), p_mid.append(tdp * u_mid * (1 + host[1]))
            p_hi.append(tdp * u_hi * (1 + host[2]))
        ids.append(row_ids)
    pue_lo, pue_mid, pue_hi, pue_ids = _pue(ctx, df)
    q = df["quantity_base"].to_numpy(float)
    res = _energy_result(
        device_energy_kwh(q, np.array(p_mid), pue_mid), device_energy_kwh(q, np.array(p_lo), pue_lo),
        device_energy_kwh(q, np.array(p_hi), pue_hi), [a + [b] for a, b in zip(ids, pue_ids)],
        "accelerator_hours", "kWh = gpu_hours × power_W × (1 + host share) / 1000 × PUE")
    res["device_hours"] = q
    res["method_data_quality"] = np.array(dq, float)
    res["boundary"] = [f"{m or 'unspecified use'}: accelerator" + (" + host" if m and math.isnan(pw) else "") + " × PUE"
                       for m, pw in zip(df["mode"].astype(str), df["power_w"])]
    return res


def method_cpu_compute(ctx: EstimateContext, df: pd.DataFrame) -> dict:
    """kWh = vCPU_hours x (Wmin + u x (Wmax - Wmin)) / 1000 x PUE (Cloud Carbon Footprint)."""
    reg = ctx.register
    u_lo, u_mid, u_hi = reg.bounds("ccf:cpu-utilisation:default")
    w = {"lo": [], "mid": [], "hi": []}
    ids = []
    for _, row in df.iterrows():
        if not math.isnan(row["power_w"]):
            fid = ctx.activity_factor(row["activity_id"], row["row_number"], "power_w", row["power_w"], "W per vCPU")
            for k in w:
                w[k].append(row["power_w"])
            ids.append([fid])
            continue
        clouds = [row["provider"]] if row["provider"] in ("aws", "gcp", "azure") else ["aws", "gcp", "azure"]
        wmin = np.mean([reg.value(f"ccf:cpu-wmin:{c}") for c in clouds])
        wmax = np.mean([reg.value(f"ccf:cpu-wmax:{c}") for c in clouds])
        row_ids = [f"ccf:cpu-wmin:{c}" for c in clouds] + [f"ccf:cpu-wmax:{c}" for c in clouds]
        if not math.isnan(row["utilisation"]):
            u = row["utilisation"]
            row_ids.append(ctx.activity_factor(row["activity_id"], row["row_number"], "utilisation", u, "fraction"))
            vals = (u, u, u)
        else:
            row_ids.append("ccf:cpu-utilisation:default")
            vals = (u_lo, u_mid, u_hi)
        for k, u in zip(("lo", "mid", "hi"), vals):
            w[k].append(ccf_cpu_power_w(wmin, wmax, u))
        ids.append(row_ids)
    pue_lo, pue_mid, pue_hi, pue_ids = _pue(ctx, df)
    q = df["quantity_base"].to_numpy(float)
    return _energy_result(
        device_energy_kwh(q, np.array(w["mid"]), pue_mid), device_energy_kwh(q, np.array(w["lo"]), pue_lo),
        device_energy_kwh(q, np.array(w["hi"]), pue_hi), [a + [b] for a, b in zip(ids, pue_ids)],
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
    coef_ids, rep, ids_extra = [], [], []
    for m in modes:
        rid = f"ccf:replication:{m}"
        if rid in reg:
            coef_ids.append(f"ccf:storage:{reg.row(rid)['per_unit']}")
            rep.append(reg.value(rid))
            ids_extra.append([rid])
        else:
            coef_ids.append(f"ccf:storage:{m}")
            rep.append(1.0)
            ids_extra.append([])
    coef = np.array([reg.value(f) for f in coef_ids]) * np.array(rep)
    pue_lo, pue_mid, pue_hi, pue_ids = _pue(ctx, df)
    tbh = df["quantity_base"].to_numpy(float) * hours_per_month()
    res = _energy_result(tbh * coef * pue_mid, tbh * coef * pue_lo, tbh * coef * pue_hi,
                         [[a, *e, b] for a, e, b in zip(coef_ids, ids_extra, pue_ids)], "ccf_storage",
                         "kWh = TB_months × 730.5 h × kWh_per_TB_hour × PUE × replication")
    res["boundary"] = [f"operational (IT energy × PUE × replication {r:g})" for r in rep]
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
    f_lo, f_mid, f_hi = reg.bounds("image:scaling:fixed-share")
    b_lo, b_mid, b_hi = reg.bounds("image:scaling:pixel-exponent")
    host = reg.bounds(HOST_SHARE_ID)
    idle = reg.bounds(IDLE_FACTOR_ID)
    gpu_w = reg.bounds(GPU_POWER_FOR_TIME_ID)[1]
    pue_lo, pue_mid, pue_hi, pue_ids = _pue(ctx, df)
    table = image_models()
    lo, mid, hi, ids, dq, methods, bounds, accel = [], [], [], [], [], [], [], []
    for j, ((_, row), pid) in enumerate(zip(df.iterrows(), pue_ids)):
        pue3 = (pue_lo[j], pue_mid[j], pue_hi[j])
        try:
            pixels, steps = parse_image_mode(row["mode"])
        except ValueError as exc:
            raise _bad_mode(df, row, f"image_generation mode '{row['mode']}': {exc}", IMAGE_MODE_HELP) from None
        entry = table.get(str(row["model"] or "").strip().lower())
        if not math.isnan(row["power_w"]) and not math.isnan(row["latency_s"]):
            e = row["power_w"] * row["latency_s"] / 3600.0 / 1000.0
            ids.append([ctx.activity_factor(row["activity_id"], row["row_number"], "power_w", row["power_w"], "W"),
                        ctx.activity_factor(row["activity_id"], row["row_number"], "latency_s", row["latency_s"], "s"),
                        pid])
            lo.append(e * pue3[0]), mid.append(e * pue3[1]), hi.append(e * pue3[2])
            dq.append(2), methods.append("image_measured"), bounds.append("measured draw × PUE"), accel.append(e)
        elif entry is not None:
            r_lo, r_mid, r_hi = reg.bounds(entry["factor_id"])
            ref_px = entry["width"] * entry["height"]
            px = pixels or ref_px
            want_steps = steps or entry["default_steps"]
            fixed = entry["fixed_share"] if entry["fixed_share"] is not None else f_mid
            s_scale = (image_steps_scale(want_steps, entry["steps"], fixed)
                       if entry["steps"] and want_steps else 1.0)
            p_scales = [image_pixels_scale(px, ref_px, b) for b in (b_lo, b_mid, b_hi)]
            acc = [r_lo * s_scale * min(p_scales), r_mid * s_scale * p_scales[1], r_hi * s_scale * max(p_scales)]
            if boundary == LlmBoundary.ACCELERATOR:
                e3 = acc
                row_ids = [entry["factor_id"]]
            else:
                e3 = [acc[k] * serving_scale(host[k], idle[k], pue3[k]) for k in range(3)]
                row_ids = [entry["factor_id"], HOST_SHARE_ID, IDLE_FACTOR_ID, pid]
            if s_scale != 1.0:
                row_ids.append("image:scaling:fixed-share")
            if px != ref_px:
                row_ids.append("image:scaling:pixel-exponent")
            ids.append(row_ids)
            lo.append(e3[0]), mid.append(e3[1]), hi.append(e3[2])
            dq.append(entry["data_quality"]), accel.append(acc[1])
            methods.append("image_proxy" if entry["proxy"] else "image_by_model")
            bounds.append(boundary)
        else:
            ids.append(["php:image-generation", pid])
            lo.append(e_lo * pue3[0]), mid.append(e_mid * pue3[1]), hi.append(e_hi * pue3[2])
            dq.append(4), methods.append("image_generic_fallback"), accel.append(e_mid)
            bounds.append("generic fallback band (IT energy of a whole node) × PUE")
    q = df["quantity_base"].to_numpy(float)
    formulas = {"image_measured": "kWh = images × power_W × latency_s / 3.6e6 × PUE",
                "image_by_model": "kWh = images × E_model × (f + (1 − f) × steps/steps_ref) × (pixels/pixels_ref)^b"
                                  + ("" if boundary == LlmBoundary.ACCELERATOR else " × (1 + host) × idle × PUE"),
                "image_generic_fallback": "kWh = images × generic kWh_per_image (Power Hungry Processing; FALLBACK: "
                                          "model, mode and hardware not used) × PUE"}
    formulas["image_proxy"] = formulas["image_by_model"] + " (PROXY model class)"
    res = _energy_result(q * np.array(mid), q * np.array(lo), q * np.array(hi), ids, methods,
                         [formulas[m] for m in methods])
    lat_h = df["latency_s"].to_numpy(float) / 3600.0
    # Reserved accelerator time: latency when given; for hosted lines E_accel / P_gpu (owned
    # hardware without latency gets none: its time may already be GPU-hours in another row).
    owned = df["ownership"].isin(["owned", "leased"]).to_numpy()
    res["device_hours"] = np.where(np.isnan(lat_h), np.where(owned, np.nan, q * np.array(accel) * 1000.0 / gpu_w),
                                   q * lat_h)
    res["method_data_quality"] = np.array(dq, float)
    res["boundary"] = bounds
    return res


def method_video_generation(ctx: EstimateContext, df: pd.DataFrame) -> dict:
    """EcoLogits video model: latency from the model's regression on frames x resolution,
    energy = PUE x latency x server power (p2.5 / mean / p97.5), per 5-second 720p clip,
    scaled to the video seconds requested."""
    from ecologits.estimations import video as ev

    clip_s = 5.0
    lo, mid, hi, ids, pues = [], [], [], [], []
    for _, row in df.iterrows():
        model = row["model"] or "google/veo-3.0"
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
        lo.append(per_s * sp["p2_5"] / 1000 * pue_lo)
        mid.append(per_s * sp["mean"] / 1000 * (pue_lo + pue_hi) / 2)
        hi.append(per_s * sp["p97_5"] / 1000 * pue_hi)
        ids.append([f"ecologits:video:{model}"])
        _register_video_model(ctx, model, info, hw, mid[-1])
        pues.append((pue_lo + pue_hi) / 2)
    q = df["quantity_base"].to_numpy(float)
    res = _energy_result(q * np.array(mid), q * np.array(lo), q * np.array(hi), ids, "ecologits_video",
                         "kWh = video_seconds × latency_per_second × server_power × PUE (EcoLogits video)")
    # Reserved accelerator time for the embodied share: kWh / PUE / P_gpu (the LLM method's 500 W).
    res["device_hours"] = q * np.array(mid) / np.array(pues) * 1000.0 / ctx.register.bounds(GPU_POWER_FOR_TIME_ID)[1]
    res["boundary"] = ["serving (EcoLogits video: server power × PUE)"] * len(df)
    return res


def _register_video_model(ctx, model, info, hw, kwh_per_s):
    fid = f"ecologits:video:{model}"
    if fid in ctx.register or any(r["factor_id"] == fid for r in ctx.extra_factors):
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
    act = np.zeros((3, n))
    tot = np.zeros((3, n))
    pue = np.zeros((3, n))
    tps = np.full(n, np.nan)
    ttft = np.full(n, np.nan)
    ids: list[list[str]] = []
    power_kwh = np.full(n, np.nan)
    for _, row in df[~df["mode"].astype(str).isin(("", *LlmMethod.ALL))].iterrows():
        raise _bad_mode(df, row, f"unknown mode '{row['mode']}' for llm_api",
                        "production or ecologits (blank: engagement.yaml llm_method)")
    row_method = np.array([m if m in LlmMethod.ALL else eng_method for m in df["mode"].astype(str)], dtype=object)
    self_hosted = df["ownership"].isin(["owned", "leased"]).to_numpy()
    for j, (_, row) in enumerate(df.iterrows()):
        row_ids = []
        if not math.isnan(row["power_w"]):
            # Self-hosted with a measured draw: E = power x latency x PUE, no model needed.
            lat = row["latency_s"] if not math.isnan(row["latency_s"]) else np.nan
            power_kwh[j] = row["power_w"] * lat / 3600 / 1000 if not math.isnan(lat) else np.nan
            row_ids.append(ctx.activity_factor(row["activity_id"], row["row_number"], "power_w", row["power_w"], "W"))
        m = PARAM_COUNT.match(row["model"] or "")
        if m:
            p = float(m.group(1))
            act[:, j] = tot[:, j] = p
            row_ids.append(ctx.activity_factor(row["activity_id"], row["row_number"], "model", p, "billion parameters"))
        elif row["model"] and not math.isnan(power_kwh[j]) and resolve_llm_model(row["provider"], row["model"])[0] is None:
            # A model EcoLogits does not know, with a measured draw (the intake allows it): the
            # measured power x latency is the energy; no parameter count is needed or guessed.
            act[:, j] = tot[:, j] = np.nan
        elif row["model"]:
            model, _ = resolve_llm_model(row["provider"], row["model"])
            mp = model_parameters(model)
            act[:, j], tot[:, j], tps[j], ttft[j] = mp.active, mp.total, mp.tps, mp.ttft
            row_ids.append(mp.factor_id)
        pue_row = _llm_pue(ctx, row, prov)
        pue[:, j] = pue_row[:3]
        if boundary != LlmBoundary.ACCELERATOR or row_method[j] == LlmMethod.ECOLOGITS:
            row_ids.append(pue_row[3])
        row_ids += llm_coefficient_factor_ids(row_method[j], boundary, bool(self_hosted[j]))
        ids.append(row_ids)
    out_tok = df["output_tokens"].to_numpy(float)
    in_tok = np.nan_to_num(df["input_tokens"].to_numpy(float))
    req_lat = df["latency_s"].to_numpy(float)
    q = df["quantity_base"].to_numpy(float)
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
    if not any(r["factor_id"] == fid for r in ctx.extra_factors):
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
    methods, formulas = list(res["method"]), list(res["formula"])
    boundary = list(res["boundary"])
    for j, (_, row) in enumerate(df.iterrows()):
        f = _supplier_match(factors, row["provider"], row["model"])
        if f is None:
            continue
        fid = _supplier_factor_id(ctx, f)
        res["factor_ids"][j] = [fid] + [x for x in res["factor_ids"][j] if not str(x).startswith("genai:llm:")]
        v, unit = float(f["value"]), f["unit"]
        if unit in ("wh_per_request", "wh_per_output_token"):
            per = v / 1000.0 * (out_tok[j] if unit == "wh_per_output_token" else 1.0)
            for key in ("kwh", "kwh_low", "kwh_high"):
                res[key][j] = q[j] * per
            formulas[j] = f"kWh = requests × supplier {unit.replace('_', ' ')} ({fid})"
        elif unit == "gco2e_per_request":
            kg = q[j] * v / 1000.0
            if f["basis"] == "market":
                res["supplier_kg_market"][j] = kg
                formulas[j] += f"; market-based kgCO2e = requests × supplier gCO2e/request ({fid})"
            else:
                res["supplier_kg"][j] = kg
                formulas[j] = f"kgCO2e = requests × supplier gCO2e/request ({fid}); kWh modelled for reference"
        else:
            res["supplier_ci"][j] = v
        if not (unit == "gco2e_per_request" and f["basis"] == "market"):
            res["supplier"][j] = True
            methods[j] = "supplier_specific"
        boundary[j] = f["boundary"]
    res["method"], res["formula"], res["boundary"] = methods, formulas, boundary


SELFHOSTED_FORMULA = ("kWh = PUE × (output tokens × J/token(batch, params) + input tokens × prefill J/token + idle "
                      "GPU-hours × idle W) / 3.6e6; measured H200 curve, data/selfhosted/gpu_inference_measurements.csv")


def _selfhosted_rows(ctx: EstimateContext, df: pd.DataFrame, res: dict, act: np.ndarray, pue: np.ndarray) -> None:
    """Self-hosted LLM rows (issue 12; optional columns gpus, serving_hours and batch_size or
    utilisation): energy from the GPUs, hours and tokens served (audit.methods.selfhosted),
    in place of the per-request EcoLogits figure. Low/central/high: the model's parameter
    range and the PUE range. Rows without gpus and serving_hours are left as they are."""
    gpus = pd.to_numeric(df.get("gpus", pd.Series(np.nan, index=df.index)), errors="coerce").to_numpy(float)
    hours = pd.to_numeric(df.get("serving_hours", pd.Series(np.nan, index=df.index)), errors="coerce").to_numpy(float)
    if not np.any((gpus > 0) & (hours > 0)):
        return
    batch = pd.to_numeric(df.get("batch_size", pd.Series(np.nan, index=df.index)), errors="coerce").to_numpy(float)
    util = df["utilisation"].to_numpy(float)
    q = df["quantity_base"].to_numpy(float)
    out_tok = np.nan_to_num(df["output_tokens"].to_numpy(float)) * q
    in_tok = np.nan_to_num(df["input_tokens"].to_numpy(float)) * q
    # Per-row method and formula (a kind's methods may give one string for all rows).
    method = np.array(res["method"] if not isinstance(res["method"], str) else [res["method"]] * len(df), dtype=object)
    formula = np.array(res["formula"] if not isinstance(res["formula"], str) else [res["formula"]] * len(df), dtype=object)
    for j, (_, row) in enumerate(df.iterrows()):
        if not (gpus[j] > 0 and hours[j] > 0):
            continue
        where = f"activity {row['activity_id']} (row {row['row_number']})"
        b = None if math.isnan(batch[j]) else float(batch[j])
        u = None if b is not None or math.isnan(util[j]) else float(util[j])
        for k, key in enumerate(("kwh_low", "kwh", "kwh_high")):
            est = selfhosted_energy(float(gpus[j]), float(hours[j]), float(out_tok[j]), float(act[k, j]),
                                    input_tokens=float(in_tok[j]), batch=b, utilisation=u, pue=float(pue[k, j]),
                                    where=where)
            res[key][j] = est.kwh_facility
        res["device_hours"][j] = gpus[j] * hours[j]
        res["factor_ids"][j] = list(res["factor_ids"][j]) + [
            ctx.activity_factor(row["activity_id"], row["row_number"], "gpus", float(gpus[j]), "GPUs"),
            ctx.activity_factor(row["activity_id"], row["row_number"], "serving_hours", float(hours[j]), "hours")]
        method[j], formula[j] = "selfhosted_llm", SELFHOSTED_FORMULA
    res["method"], res["formula"] = method, formula


def _llm_pue(ctx, row, prov):
    if not math.isnan(row["pue"]):
        fid = ctx.activity_factor(row["activity_id"], row["row_number"], "pue", row["pue"], "ratio")
        return row["pue"], row["pue"], row["pue"], fid
    fid = llm_pue_factor_id(row["provider"], row["ownership"], prov)
    lo, mid, hi = ctx.register.bounds(fid)
    return lo, mid, hi, fid


def method_conversion_factor(ctx: EstimateContext, df: pd.DataFrame) -> dict:
    """kgCO2e = quantity x DESNZ conversion factor (fuel, travel, accommodation, freight)."""
    reg = ctx.register
    rf = getattr(ctx.engagement, "radiative_forcing", True)
    kg = np.zeros((3, len(df)))
    ids = []
    for j, (_, row) in enumerate(df.iterrows()):
        fid = _desnz_factor_id(reg, row, "direct", rf)
        kg[:, j] = np.asarray(reg.bounds(fid)) * row["quantity_base"]
        ids.append([fid])
    nan = np.full(len(df), np.nan)
    return {"kwh": np.zeros(len(df)), "kwh_low": np.zeros(len(df)), "kwh_high": np.zeros(len(df)),
            "kgco2e": kg[1], "kgco2e_low": kg[0], "kgco2e_high": kg[2], "factor_ids": ids, "method": "conversion_factor",
            "formula": "kgCO2e = quantity × DESNZ factor", "energy_based": False, "intensity": nan}


def _desnz_factor_id(reg: FactorRegister, row, part: str, rf: bool) -> str | None:
    kind, region = row["kind"], row["country"] or row["region"]
    if kind == "accommodation":
        hits = reg.find(kind="accommodation", region=region, part=part, mode=row["mode"] if row["mode"] == "london" else "")
        if not len(hits):
            return None if part != "direct" else HOTEL_PROXY_ID
        return hits["factor_id"].iloc[0]
    mode = row["mode"] or _default_mode(kind)
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
    per_unit, ids = [], []
    for (_, row), pid in zip(df.iterrows(), pue_ids):
        fid, value = ctx.measured_factor(row)
        per_unit.append(value)
        ids.append([fid, pid])
    q = df["quantity_base"].to_numpy(float)
    e = np.asarray(per_unit, float)
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


def estimate(loaded, register: FactorRegister | None = None) -> Estimate:
    """Estimate every activity of a validated engagement (``intake.load_engagement``)."""
    eng = loaded.engagement
    reg = (register or load_register()).with_overrides(eng.factor_overrides)
    ctx = EstimateContext(reg, eng)
    df = loaded.activities.copy()
    blank = df["region"] == ""
    df.loc[blank, "region"] = _default_region(df[blank], eng)
    df.loc[df["country"] == "", "country"] = df.loc[df["country"] == "", "region"]
    activities = df.copy()
    df = map_scopes(df)


    measured = df["mode"].astype(str).str.startswith(MODE_PREFIX)
    method_key = df["kind"].where(~measured, "measured")
    parts = []
    for key, sub in df.groupby(method_key, sort=False):
        res = (method_measured if key == "measured" else METHODS[key])(ctx, sub)
        out = sub.copy()
        out["_device_hours"] = res.get("device_hours", np.full(len(sub), np.nan))
        out["kwh"], out["kwh_low"], out["kwh_high"] = res["kwh"], res["kwh_low"], res["kwh_high"]
        out["method"], out["formula"] = res["method"], res["formula"]
        out["boundary"] = res.get("boundary", _default_boundary(key, sub))
        out["ecologits_kwh"] = res.get("ecologits_kwh", np.full(len(sub), np.nan))
        out["_method_dq"] = res.get("method_data_quality", np.full(len(sub), np.nan))
        out["_supplier"] = res.get("supplier", np.zeros(len(sub), bool))
        out["_supplier_kg_market"] = res.get("supplier_kg_market", np.full(len(sub), np.nan))
        ids = [list(x) for x in res["factor_ids"]]
        if res["energy_based"]:
            ci, grid_ids = _location_intensity(ctx, sub)
            sup_ci = res.get("supplier_ci", np.full(len(sub), np.nan))
            ci = np.where(np.isnan(sup_ci), ci, sup_ci)
            out["intensity_g_per_kwh"] = ci
            out["kgco2e"] = emissions_kg(out["kwh"].to_numpy(), ci)
            out["kgco2e_low"] = emissions_kg(out["kwh_low"].to_numpy(), ci)
            out["kgco2e_high"] = emissions_kg(out["kwh_high"].to_numpy(), ci)
            sup_kg = res.get("supplier_kg", np.full(len(sub), np.nan))
            for col in ("kgco2e", "kgco2e_low", "kgco2e_high"):
                out[col] = np.where(np.isnan(sup_kg), out[col].to_numpy(float), sup_kg)
            ids = [a + ([] if not math.isnan(c) else [g]) for a, g, c in zip(ids, grid_ids, sup_ci)]
            out["formula"] = out["formula"] + "; kgCO2e = kWh × gCO2e_per_kWh / 1000"
        else:
            out["intensity_g_per_kwh"] = np.nan
            out["kgco2e"], out["kgco2e_low"], out["kgco2e_high"] = res["kgco2e"], res["kgco2e_low"], res["kgco2e_high"]
        out["factor_ids"] = ids
        parts.append(out)
    lines = pd.concat(parts).loc[df.index]

    lines, dq_warnings = _method_data_quality(lines)
    warnings = (list(getattr(loaded, "warnings", [])) + dq_warnings + _provider_region_assumptions(ctx, df, blank)
                + _grid_vintage_note(ctx, lines))

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
    ci, ids = grid_intensity(ctx.register, sub["region"], sub["country"])
    override = sub["carbon_intensity_g_per_kwh"].to_numpy(float)
    for j, (aid, rn, v) in enumerate(zip(sub["activity_id"], sub["row_number"], override)):
        if not math.isnan(v):
            ids[j] = ctx.activity_factor(aid, rn, "carbon_intensity_g_per_kwh", v, "gCO2e/kWh")
            ci[j] = v
    return ci, ids


def _market_based(ctx: EstimateContext, lines: pd.DataFrame) -> pd.DataFrame:
    """Market-based Scope 2 from the engagement's instruments (GHG Protocol Scope 2 Guidance).

    A supplier factor replaces the grid intensity; a renewable share scales it by (1 - share).
    Uncovered consumption falls back to the location-based factor and is labelled so.
    """
    lines = lines.copy()
    lines["kgco2e_market"] = lines["kgco2e"]
    lines["market_basis"] = ""
    scope2 = lines["scope"] == 2
    instruments = {i.region.lower(): (n, i) for n, i in enumerate(ctx.engagement.market_instruments)}
    registered: dict[int, str] = {}  # instrument index -> its factor id, registered once
    for idx in lines.index[scope2]:
        row = lines.loc[idx]
        found = instruments.get(str(row["region"]).lower()) or instruments.get(str(row["country"]).lower())
        if found is None:
            lines.at[idx, "market_basis"] = "location fallback (no contractual instrument)"
            continue
        n, inst = found
        if inst.supplier_factor_g_per_kwh is not None:
            lines.at[idx, "kgco2e_market"] = emissions_kg(row["kwh"], inst.supplier_factor_g_per_kwh)
            lines.at[idx, "market_basis"] = f"supplier factor {inst.supplier_factor_g_per_kwh:g} g/kWh"
        elif inst.renewable_share is not None:
            lines.at[idx, "kgco2e_market"] = row["kgco2e"] * (1 - inst.renewable_share)
            lines.at[idx, "market_basis"] = (f"renewable share {inst.renewable_share:.0%}; "
                                             "remainder at location factor (no residual mix)")
        else:
            continue
        if n not in registered:
            registered[n] = _instrument_factor(ctx, n, inst)
        lines.at[idx, "factor_ids"] = [*row["factor_ids"], registered[n]]
    return lines


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


def _upstream_lines(ctx: EstimateContext, lines: pd.DataFrame) -> pd.DataFrame:
    """Derived lines for well-to-tank and T&D losses (DESNZ).

    Scope 1 fuels and Scope 2 electricity on the DESNZ UK grid factor -> Scope 3 Cat 3.
    Travel and freight WTT stay in their own category (Cat 6 / Cat 4), as DESNZ advises.
    """
    reg = ctx.register
    rf = getattr(ctx.engagement, "radiative_forcing", True)
    desnz_grid = {f for f in reg.find(kind="electricity", part="direct")["factor_id"] if f.startswith("desnz-")}
    rows = []
    for _, row in lines.iterrows():
        extra: list[tuple[str, str, float, float]] = []  # (suffix, label, kg, kg_per_unit_or_kwh)
        if row["kind"] in ("fuel", "travel", "freight") and row["scope"] in (1, 3):
            fid = _desnz_factor_id(reg, row, "wtt", rf)
            if fid:
                extra.append(("wtt", "Well-to-tank", fid, row["quantity_base"] * reg.value(fid)))
        if row["scope"] == 2 and desnz_grid.intersection(row["factor_ids"]):
            for part, label in (("td", "T&D losses"), ("wtt", "Well-to-tank (generation)"),
                                ("wtt_td", "Well-to-tank (T&D)")):
                hits = reg.find(kind="electricity", region="GBR", part=part)
                if len(hits):
                    fid = hits["factor_id"].iloc[0]
                    extra.append((part, label, fid, row["kwh"] * reg.value(fid)))
        for suffix, label, fid, kg in extra:
            new = row.copy()
            new["activity_id"] = f"{row['activity_id']}~{suffix}"
            new["derived_from"] = row["activity_id"]
            new["description"] = f"{label}: {row['description']}"
            to_cat3 = row["scope"] in (1, 2)
            new["scope"] = 3
            new["scope3_category"] = 3 if to_cat3 else row["scope3_category"]
            new["scope_category_name"] = SCOPE3_CATEGORY_NAMES[int(new["scope3_category"])]
            new["kwh"] = new["kwh_low"] = new["kwh_high"] = 0.0
            ratio_lo = row["kgco2e_low"] / row["kgco2e"] if row["kgco2e"] else 1.0
            ratio_hi = row["kgco2e_high"] / row["kgco2e"] if row["kgco2e"] else 1.0
            new["kgco2e"], new["kgco2e_low"], new["kgco2e_high"] = kg, kg * ratio_lo, kg * ratio_hi
            new["intensity_g_per_kwh"] = np.nan
            new["factor_ids"] = [fid]
            new["boundary"] = "well-to-tank / T&D losses (DESNZ)"
            new["ecologits_kwh"] = new["embodied_kgco2e_memo"] = new["_supplier_kg_market"] = np.nan
            new["method"] = f"upstream_{suffix}"
            new["formula"] = ("kgCO2e = kWh × DESNZ factor" if row["scope"] == 2 else "kgCO2e = quantity × DESNZ WTT factor")
            rows.append(new)
    return pd.DataFrame(rows, columns=lines.columns)


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
    new = sel.copy()
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


def _method_data_quality(lines: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Data quality that follows the method and its source (GHG Protocol Scope 3 data hierarchy):
    measured 1, supplier-specific 2, average factor or model 3 (the kind's default), proxy 4
    (any ``proxy:`` factor), weak proxy 5 (hosted image names, TPU power proxies). A row whose
    data_quality differs from its kind's default is the consultant's override: it is kept,
    logged as a warning and shown in ``data_quality_basis``."""
    lines = lines.copy()
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
    proxied = lines["factor_ids"].map(lambda ids: any(str(f).startswith("proxy:") for f in ids)) & (method_dq < 4)
    method_dq, reason = method_dq.where(~proxied, 4), reason.where(~proxied, "proxy factor")
    given = lines["data_quality"].astype(float)
    override = given.notna() & (given != kind_default) & (given != method_dq)
    warnings = []
    basis = []
    for i in lines.index:
        m = int(method_dq[i])
        if override[i]:
            basis.append(f"{int(given[i])}: consultant's override (the method gives {m}: {reason[i]})")
            warnings.append(f"activity {lines.at[i, 'activity_id']}: data quality {int(given[i])} set by the "
                            f"consultant overrides the method's {m} ({reason[i]})")
        else:
            basis.append(f"{m}: {reason[i]}")
    final = pd.Series(np.where(override, given, method_dq), index=lines.index)
    # A proxy factor caps the score at 4 whatever the row says (GHG Protocol Scope 3 data hierarchy).
    any_proxy = lines["factor_ids"].map(lambda ids: any(str(f).startswith("proxy:") for f in ids))
    capped = any_proxy & (final < 4)
    basis = [f"4: capped (a proxy factor is used); was {b}" if c else b for b, c in zip(basis, capped)]
    lines["data_quality"] = final.where(~capped, 4).astype(int)
    lines["data_quality_basis"] = basis
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
    rows = df[blank.reindex(df.index, fill_value=False) & df["provider"].ne("")
              & df["kind"].isin(["llm_api", "image_generation", "video_generation"])
              & ~df["ownership"].isin(["owned", "leased"])]
    for provider, grp in rows.groupby(rows["provider"].map(_canonical_provider)):
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
