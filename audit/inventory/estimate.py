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

from audit.core.exceptions import FactorError
from audit.core.units import conversion_factor
from audit.methods.energy import (
    ccf_cpu_power_w, device_energy_kwh, embodied_kg_per_gpu_hour, emissions_kg, measured_energy_kwh,
)
from audit.methods.llm import (
    PREFILL_FACTOR_ID, llm_coefficient_factor_ids, llm_coefficients, llm_pue_factor_id, llm_request_energy_kwh,
    model_parameters,
)
from audit.methods.selfhosted import selfhosted_energy
from audit.methods.uncertainty import combine_log_bounds, uncertainty_k95
from audit.reference.factors import ECOLOGITS_VERSION, HOTEL_PROXY_ID, FactorRegister, grid_intensity, load_register
from audit.reference.measured import MODE_PREFIX, measured_factor_id, register_row
from audit.reference.scopes import SCOPE3_CATEGORY_NAMES, kinds_table, map_scopes
from audit.reference.vocabularies import PARAM_COUNT, providers, resolve_llm_model, valid_modes


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
    "method", "formula",
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


def method_gpu_compute(ctx: EstimateContext, df: pd.DataFrame) -> dict:
    """kWh = gpu_hours x power_w / 1000 x PUE; power_w as given, else TDP x utilisation."""
    reg = ctx.register
    u_lo, u_mid, u_hi = reg.bounds("gpu-utilisation:default")
    p_lo, p_mid, p_hi, ids = [], [], [], []
    for _, row in df.iterrows():
        row_ids = []
        if not math.isnan(row["power_w"]):
            row_ids.append(ctx.activity_factor(row["activity_id"], row["row_number"], "power_w", row["power_w"], "W"))
            p_lo.append(row["power_w"]), p_mid.append(row["power_w"]), p_hi.append(row["power_w"])
        else:
            tdp_id = f"hw:{row['hardware'].lower()}"
            tdp = reg.value(tdp_id)
            row_ids.append(tdp_id)
            if not math.isnan(row["utilisation"]):
                u = row["utilisation"]
                row_ids.append(ctx.activity_factor(row["activity_id"], row["row_number"], "utilisation", u, "fraction"))
                p_lo.append(tdp * u), p_mid.append(tdp * u), p_hi.append(tdp * u)
            else:
                row_ids.append("gpu-utilisation:default")
                p_lo.append(tdp * u_lo), p_mid.append(tdp * u_mid), p_hi.append(tdp * u_hi)
        ids.append(row_ids)
    pue_lo, pue_mid, pue_hi, pue_ids = _pue(ctx, df)
    q = df["quantity_base"].to_numpy(float)
    res = _energy_result(
        device_energy_kwh(q, np.array(p_mid), pue_mid), device_energy_kwh(q, np.array(p_lo), pue_lo),
        device_energy_kwh(q, np.array(p_hi), pue_hi), [a + [b] for a, b in zip(ids, pue_ids)],
        "accelerator_hours", "kWh = gpu_hours × power_W / 1000 × PUE")
    res["device_hours"] = q
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
    """kWh = TB_months x 730.5 h x coefficient (kWh/TB-h) x PUE (Cloud Carbon Footprint)."""
    reg = ctx.register
    modes = df["mode"].where(df["mode"] != "", "ssd")
    coef_ids = [f"ccf:storage:{m}" for m in modes]
    coef = np.array([reg.value(f) for f in coef_ids])
    pue_lo, pue_mid, pue_hi, pue_ids = _pue(ctx, df)
    tbh = df["quantity_base"].to_numpy(float) * hours_per_month()
    return _energy_result(tbh * coef * pue_mid, tbh * coef * pue_lo, tbh * coef * pue_hi,
                          [[a, b] for a, b in zip(coef_ids, pue_ids)], "ccf_storage",
                          "kWh = TB_months × 730.5 h × kWh_per_TB_hour × PUE")


def method_data_transfer(ctx: EstimateContext, df: pd.DataFrame) -> dict:
    """kWh = GB x 0.001 kWh/GB x PUE (Cloud Carbon Footprint networking coefficient)."""
    reg = ctx.register
    coef = reg.value("ccf:network")
    pue_lo, pue_mid, pue_hi, pue_ids = _pue(ctx, df)
    gb = df["quantity_base"].to_numpy(float)
    return _energy_result(gb * coef * pue_mid, gb * coef * pue_lo, gb * coef * pue_hi,
                          [["ccf:network", p] for p in pue_ids], "ccf_network", "kWh = GB × kWh_per_GB × PUE")


def method_image_generation(ctx: EstimateContext, df: pd.DataFrame) -> dict:
    """kWh = images x e_image x PUE, e_image from Power Hungry Processing (Luccioni et al. 2024);
    or, when power_w and latency_s are given, images x power_W x latency_s / 3600 x PUE."""
    reg = ctx.register
    e_lo, e_mid, e_hi = reg.bounds("php:image-generation")
    pue_lo, pue_mid, pue_hi, pue_ids = _pue(ctx, df)
    lo, mid, hi, ids = [], [], [], []
    for (_, row), pid in zip(df.iterrows(), pue_ids):
        if not math.isnan(row["power_w"]) and not math.isnan(row["latency_s"]):
            e = row["power_w"] * row["latency_s"] / 3600.0 / 1000.0
            ids.append([ctx.activity_factor(row["activity_id"], row["row_number"], "power_w", row["power_w"], "W"),
                        ctx.activity_factor(row["activity_id"], row["row_number"], "latency_s", row["latency_s"], "s"),
                        pid])
            lo.append(e), mid.append(e), hi.append(e)
        else:
            ids.append(["php:image-generation", pid])
            lo.append(e_lo), mid.append(e_mid), hi.append(e_hi)
    q = df["quantity_base"].to_numpy(float)
    res = _energy_result(q * np.array(mid) * pue_mid, q * np.array(lo) * pue_lo, q * np.array(hi) * pue_hi,
                         ids, "image_per_image", "kWh = images × kWh_per_image × PUE")
    res["device_hours"] = q * df["latency_s"].to_numpy(float) / 3600.0  # one accelerator per image; NaN without latency
    return res


def method_video_generation(ctx: EstimateContext, df: pd.DataFrame) -> dict:
    """EcoLogits video model: latency from the model's regression on frames x resolution,
    energy = PUE x latency x server power (p2.5 / mean / p97.5), per 5-second 720p clip,
    scaled to the video seconds requested."""
    from ecologits.estimations import video as ev

    clip_s = 5.0
    lo, mid, hi, ids = [], [], [], []
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
    q = df["quantity_base"].to_numpy(float)
    return _energy_result(q * np.array(mid), q * np.array(lo), q * np.array(hi), ids, "ecologits_video",
                          "kWh = video_seconds × latency_per_second × server_power × PUE (EcoLogits video)")


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


def method_llm_api(ctx: EstimateContext, df: pd.DataFrame) -> dict:
    """Per request: EcoLogits output-token energy plus our prefill (input-token) energy.

    E = PUE x (server_energy + n_GPU x gpu_energy) + PUE x prefill_energy, evaluated at the
    model's minimum, mean and maximum active parameters (EcoLogits' range) for low/central/high.
    """
    reg = ctx.register
    c = llm_coefficients(reg)
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
        row_ids.append(pue_row[3])
        row_ids += llm_coefficient_factor_ids()
        ids.append(row_ids)
    out_tok = df["output_tokens"].to_numpy(float)
    in_tok = np.nan_to_num(df["input_tokens"].to_numpy(float))
    req_lat = df["latency_s"].to_numpy(float)
    per_request = []
    device_s = None
    for k, pre in zip(range(3), (pre_lo, pre_mid, pre_hi)):
        e, lat, n_gpu = llm_request_energy_kwh(act[k], tot[k], tps, ttft, out_tok, in_tok, req_lat, pue[k], pre, c)
        e = np.where(np.isnan(power_kwh), e, power_kwh * pue[k])
        per_request.append(e)
        if k == 1:
            # GPU time reserved per request, as EcoLogits allocates embodied impacts: latency x n_GPU / B;
            # with a measured power_w the request had the device to itself: latency_s.
            device_s = np.where(np.isnan(power_kwh), lat * n_gpu / c["batch_size"], req_lat)
    q = df["quantity_base"].to_numpy(float)
    res = _energy_result(q * per_request[1], q * per_request[0], q * per_request[2], ids, "ecologits_llm",
                         "kWh = requests × PUE × (server + n_GPU × GPU energy(output tokens) + prefill(input tokens))")
    res["device_hours"] = q * device_s / 3600.0
    _selfhosted_rows(ctx, df, res, act, pue)
    return res


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
    method = np.array([res["method"]] * len(df), dtype=object)
    formula = np.array([res["formula"]] * len(df), dtype=object)
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
        ids = [list(x) for x in res["factor_ids"]]
        if res["energy_based"]:
            ci, grid_ids = _location_intensity(ctx, sub)
            out["intensity_g_per_kwh"] = ci
            out["kgco2e"] = emissions_kg(out["kwh"].to_numpy(), ci)
            out["kgco2e_low"] = emissions_kg(out["kwh_low"].to_numpy(), ci)
            out["kgco2e_high"] = emissions_kg(out["kwh_high"].to_numpy(), ci)
            ids = [a + [g] for a, g in zip(ids, grid_ids)]
            out["formula"] = out["formula"] + "; kgCO2e = kWh × gCO2e_per_kWh / 1000"
        else:
            out["intensity_g_per_kwh"] = np.nan
            out["kgco2e"], out["kgco2e_low"], out["kgco2e_high"] = res["kgco2e"], res["kgco2e_low"], res["kgco2e_high"]
        out["factor_ids"] = ids
        parts.append(out)
    lines = pd.concat(parts).loc[df.index]

    # A proxy factor caps the data quality at 4 (GHG Protocol Scope 3 data hierarchy).
    proxied = lines["factor_ids"].map(lambda ids: any(str(f).startswith("proxy:") for f in ids))
    lines.loc[proxied, "data_quality"] = lines.loc[proxied, "data_quality"].clip(lower=4)

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
    lines = _market_based(ctx, lines)  # every line's market-based figure, derived lines included
    reg = reg.extended(ctx.extra_factors) if ctx.extra_factors else reg
    lines["scope3_category"] = lines["scope3_category"].astype("Int64")
    return Estimate(lines.reindex(columns=RESULT_COLUMNS).reset_index(drop=True), reg, eng, activities,
                    list(getattr(loaded, "warnings", [])))


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
            new["method"] = f"upstream_{suffix}"
            new["formula"] = ("kgCO2e = kWh × DESNZ factor" if row["scope"] == 2 else "kgCO2e = quantity × DESNZ WTT factor")
            rows.append(new)
    return pd.DataFrame(rows, columns=lines.columns)


EMBODIED_FACTOR_IDS = ("embodied:gpu", "embodied:server-share", "embodied:lifetime")
EMBODIED_MIN_DATA_QUALITY = 4  # generic A100-server figures applied to any accelerator: a proxy


EMBODIED_KINDS = ("gpu_compute", "llm_api", "image_generation")


def embodied_eligible(lines: pd.DataFrame) -> pd.Series:
    """Lines that get an embodied line: owned or leased ``gpu_compute``, ``llm_api`` and
    ``image_generation`` rows that name their accelerator in ``hardware``. Naming it says the
    device is the client's own and, for LLM and image rows, that its time is not already
    counted as GPU-hours in another row (the intake warns about owned GPU-hours without it)."""
    owned = lines["ownership"].isin(["owned", "leased"]) & (lines["derived_from"] == "")
    named = lines["hardware"].astype(str).str.strip() != ""
    return owned & named & lines["kind"].isin(EMBODIED_KINDS)


def _embodied_lines(ctx: EstimateContext, lines: pd.DataFrame) -> pd.DataFrame:
    """Derived lines for the embodied emissions of owned or leased accelerators, amortised over
    their life (Scope 3 Category 2, capital goods): kgCO2e = GPU-hours x M per GPU-hour.

    Set directly, like ``_upstream_lines`` (scope rules are not consulted). Low / high use the
    factors' bounds (low: Impact Framework defaults and a 4-year life; high: EcoLogits and
    3 years), widened by the pedigree factor of the line's data quality (at least 4).
    """
    reg = ctx.register
    (g_lo, g, g_hi), (s_lo, s_mid, s_hi), (l_lo, l_mid, l_hi) = (reg.bounds(f) for f in EMBODIED_FACTOR_IDS)
    per_h_lo = embodied_kg_per_gpu_hour(g_lo, s_lo, l_hi)
    per_h = embodied_kg_per_gpu_hour(g, s_mid, l_mid)
    per_h_hi = embodied_kg_per_gpu_hour(g_hi, s_hi, l_lo)
    sel = lines[embodied_eligible(lines) & lines["_device_hours"].notna()]
    if sel.empty:
        return pd.DataFrame(columns=lines.columns)
    hours = sel["_device_hours"].to_numpy(float)
    dq = np.maximum(sel["data_quality"].to_numpy(float), EMBODIED_MIN_DATA_QUALITY).astype(int)
    k95 = pd.Series(dq).map(uncertainty_k95()).to_numpy(float)
    kg = hours * per_h
    lo, hi = combine_log_bounds(kg, hours * per_h_lo, hours * per_h_hi, k95)
    new = sel.copy()
    new["derived_from"] = sel["activity_id"]
    new["activity_id"] = sel["activity_id"] + "~embodied"
    new["description"] = "Embodied emissions of owned hardware (amortised): " + sel["description"].astype(str)
    new["scope"] = 3
    new["scope3_category"] = 2
    new["scope_category_name"] = SCOPE3_CATEGORY_NAMES[2]
    new["kwh"] = new["kwh_low"] = new["kwh_high"] = 0.0
    new["intensity_g_per_kwh"] = np.nan
    new["kgco2e"], new["kgco2e_low"], new["kgco2e_high"] = kg, lo, hi
    new["data_quality"] = dq
    new["factor_ids"] = [list(EMBODIED_FACTOR_IDS) for _ in range(len(new))]
    new["method"] = "embodied_amortised"
    hours_rule = {"gpu_compute": "GPU_hours = quantity",
                  "llm_api": "GPU_hours = requests × latency × n_GPU / batch / 3600",
                  "image_generation": "GPU_hours = images × latency_s / 3600"}
    new["formula"] = [f"kgCO2e = GPU_hours × (E_GPU + E_server_share) / (lifetime_years × 8760 h); "
                      f"{hours_rule.get(k, 'GPU_hours = quantity × latency_s / 3600')}" for k in sel["kind"]]
    return new.reset_index(drop=True)
