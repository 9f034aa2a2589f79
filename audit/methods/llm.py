"""The LLM methods: one implementation for activity rows (audit.inventory.estimate) and for
usage logs (audit.inventory.usage), so both use the same parameter ranges, coefficients and
PUE choice.

Two methods (``engagement.yaml › llm_method``; an ``llm_api`` row's ``mode`` may pick one):

* ``production`` (default): calibrated on production-scale evidence, with an explicit boundary
  (``llm_boundary``: accelerator | serving | lifecycle); see the section "production-scale
  method" below and docs/methodology.md;
* ``ecologits``: EcoLogits 0.11.3 exactly, plus our prefill term. Every LLM line reports its
  EcoLogits figure (``ecologits_kwh``) beside ours, whichever method it uses.

EcoLogits energy per request (``impacts/llm.py``, plus our prefill term)::

    E = PUE x (server_energy(latency) + n_GPU x gpu_energy(output tokens)) + PUE x prefill(input tokens)

evaluated at the model's minimum, mean and maximum active parameters (EcoLogits' range) and
the PUE factor's low/central/high for the low/central/high bounds. Every term is linear in
output tokens, latency or input tokens, so ``llm_unit_energies`` gives the same method per
token and per second (what the usage-log path multiplies per request) and
``llm_request_energy_kwh`` evaluates it for whole rows.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from audit.reference.factors import FactorRegister

# EcoLogits' LLM coefficients, each a register factor ``ecologits:llm:<name>``.
LLM_COEFFICIENTS = ("gpu_energy_alpha", "gpu_energy_beta", "gpu_energy_gamma", "latency_alpha", "latency_beta",
                    "latency_gamma", "batch_size", "server_power", "gpu_memory")
PREFILL_FACTOR_ID = "genai:prefill-wh-per-token-per-bparam"
NO_PROVIDER_PUE_ID = "ecologits:provider:huggingface_hub"  # a model with no provider: a self-served hub model
ONPREM_PUE_ID = "pue:onprem-average"


# --- equations -------------------------------------------------------------------------------

def ecologits_gpu_energy_kwh(active_params_b, output_tokens, alpha, beta, gamma, batch_size):
    """GPU energy = tokens x (alpha x e^(beta x B) x P_active + gamma) / 1000  [kWh per GPU].

    Source: EcoLogits 0.11.3 ``impacts/llm.py`` gpu_energy; METHODOLOGY §3.
    """
    return output_tokens * (alpha * np.exp(beta * batch_size) * active_params_b + gamma) / 1000.0


def ecologits_latency_s(active_params_b, output_tokens, tps, ttft, request_latency,
                        lat_alpha, lat_beta, lat_gamma, batch_size):
    """Generation latency = tokens x (1/tps, else alpha_l x P + beta_l x B + gamma_l) + ttft,
    capped at the measured request latency. Source: EcoLogits 0.11.3 generation_latency."""
    per_token = np.where(np.isnan(tps), lat_alpha * active_params_b + lat_beta * batch_size + lat_gamma,
                         1.0 / np.where(np.isnan(tps), 1.0, tps))
    latency = output_tokens * per_token + np.nan_to_num(ttft)
    return np.where(np.isnan(request_latency), latency, np.minimum(latency, request_latency))


def ecologits_gpu_count(total_params_b, gpu_memory_gb, quantization_bits=16):
    """n_GPU = 2^ceil(log2(ceil(1.2 x P_total x bits/8 / 80 GB))). Source: EcoLogits 0.11.3."""
    needed = np.ceil(1.2 * total_params_b * quantization_bits / 8 / gpu_memory_gb)
    return np.power(2.0, np.ceil(np.log2(np.maximum(needed, 1))))


def ecologits_server_energy_kwh(latency_s, server_power_kw, gpu_count, batch_size, server_gpus=8):
    """Server (non-GPU) energy = latency/3600 x P_server x (n_GPU/8) / B. Source: EcoLogits 0.11.3."""
    return latency_s / 3600.0 * server_power_kw * (gpu_count / server_gpus) / batch_size


def prefill_energy_kwh(input_tokens, active_params_b, wh_per_token_per_bparam):
    """Prefill energy = input tokens x P_active x e_prefill / 1000  [kWh].

    Our extension (EcoLogits ignores input tokens, its issue #183): a forward pass costs
    about 2·N FLOPs per token (Kaplan et al. 2020), converted at H100 efficiency and an
    assumed model-FLOPs utilisation; factor ``genai:prefill-wh-per-token-per-bparam``.
    """
    return input_tokens * active_params_b * wh_per_token_per_bparam / 1000.0


def llm_request_energy_kwh(active_params_b, total_params_b, tps, ttft, output_tokens, input_tokens,
                           request_latency, pue, prefill_wh, c: dict):
    """E = PUE x (server + n_GPU x GPU energy) + PUE x prefill  [kWh per request], at one bound.

    Returns (energy, generation latency in s, n_GPU) per row. Source: EcoLogits 0.11.3
    ``impacts/llm.py`` (server and GPU energy, latency, GPU count) and ``prefill_energy_kwh``.
    """
    gpu_e = ecologits_gpu_energy_kwh(active_params_b, output_tokens, c["gpu_energy_alpha"], c["gpu_energy_beta"],
                                     c["gpu_energy_gamma"], c["batch_size"])
    lat = ecologits_latency_s(active_params_b, output_tokens, tps, ttft, request_latency, c["latency_alpha"],
                              c["latency_beta"], c["latency_gamma"], c["batch_size"])
    n_gpu = ecologits_gpu_count(total_params_b, c["gpu_memory"])
    server_e = ecologits_server_energy_kwh(lat, c["server_power"], n_gpu, c["batch_size"])
    energy = pue * (server_e + n_gpu * gpu_e) + pue * prefill_energy_kwh(input_tokens, active_params_b, prefill_wh)
    return energy, lat, n_gpu


def llm_unit_energies(active_params_b, total_params_b, tps, pue, prefill_wh, c: dict) -> dict:
    """The same method per unit (arrays of shape bounds x models): seconds per output token,
    kWh per output token, kWh per second of generation and kWh per input token, so that

        E = kWh/out x output tokens + kWh/s x min(s/token x output tokens + ttft, logged latency)
            + kWh/in x input tokens

    equals the row equation (each term is linear in its variable). ``c`` comes from
    ``llm_coefficients`` and says which method and boundary apply (``c["method"]``,
    ``c["boundary"]``): EcoLogits 0.11.3 (``llm_request_energy_kwh``) or the production method
    (``production_unit_energies``, which has no latency term: kWh/s is 0). The keys are the
    same for both, so the usage-log path (audit.inventory.usage.chunks) needs no change."""
    n_gpu = ecologits_gpu_count(total_params_b, c["gpu_memory"])  # per model: depends on the model only
    s_per_token = ecologits_latency_s(active_params_b, 1.0, tps, 0.0, np.nan, c["latency_alpha"],
                                      c["latency_beta"], c["latency_gamma"], c["batch_size"])
    if c.get("method", LlmMethod.ECOLOGITS) == LlmMethod.PRODUCTION:
        prod = production_unit_energies(active_params_b, total_params_b, pue, c["production"],
                                        c.get("boundary", LlmBoundary.SERVING), c.get("self_hosted", False))
        return {"s_per_token": s_per_token, "kwh_per_output_token": prod["kwh_per_output_token"],
                "kwh_per_second": np.zeros_like(prod["kwh_per_output_token"]),
                "kwh_per_input_token": prod["kwh_per_input_token"]}
    return {
        "s_per_token": s_per_token,
        "kwh_per_output_token": pue * n_gpu * ecologits_gpu_energy_kwh(
            active_params_b, 1.0, c["gpu_energy_alpha"], c["gpu_energy_beta"], c["gpu_energy_gamma"], c["batch_size"]),
        "kwh_per_second": pue * ecologits_server_energy_kwh(1.0, c["server_power"], n_gpu, c["batch_size"]),
        "kwh_per_input_token": pue * prefill_energy_kwh(1.0, active_params_b, prefill_wh),
    }


# --- parameters --------------------------------------------------------------------------------

def llm_coefficients(register: FactorRegister, method: str = "production", boundary: str = "serving") -> dict:
    """EcoLogits' LLM coefficients from the factor register (``ecologits:llm:<name>``), the
    production method's parameters (``production``: low/central/high columns) and the method
    and boundary to apply. The default is the toolkit's default: production, serving."""
    c: dict = {k: register.value(f"ecologits:llm:{k}") for k in LLM_COEFFICIENTS}
    c.update(method=method, boundary=boundary, production=production_parameters(register))
    return c


def llm_coefficient_factor_ids(method: str = "production", boundary: str = "serving",
                               self_hosted: bool = False) -> list[str]:
    """The register ids a line of the LLM method cites for its coefficients."""
    if method == LlmMethod.PRODUCTION:
        return production_factor_ids(self_hosted, boundary)
    return [f"ecologits:llm:{k}" for k in LLM_COEFFICIENTS] + [PREFILL_FACTOR_ID]


@dataclass(frozen=True)
class ModelParameters:
    """An EcoLogits model's parameter ranges (billions; low, central = mean, high) and deployment."""

    active: tuple[float, float, float]
    total: tuple[float, float, float]
    tps: float  # published output tokens per second, NaN when not published
    ttft: float  # published time to first token (s), NaN when not published
    factor_id: str  # ecologits:model:<provider>/<name>


def model_parameters(model) -> ModelParameters:
    """Parameter ranges of an EcoLogits model (``resolve_llm_model``'s result): the minimum,
    mean and maximum active and total parameters (mixture-of-experts or dense)."""
    from ecologits.model_repository import ParametersMoE

    params = model.architecture.parameters
    a = params.active if isinstance(params, ParametersMoE) else params
    t = params.total if isinstance(params, ParametersMoE) else params
    a_lo, a_hi = (a.min, a.max) if hasattr(a, "min") else (a, a)
    t_lo, t_hi = (t.min, t.max) if hasattr(t, "min") else (t, t)
    tps = ttft = np.nan
    if model.deployment:
        tps = model.deployment.tps if model.deployment.tps else np.nan
        ttft = model.deployment.ttft if model.deployment.ttft else np.nan
    return ModelParameters((a_lo, (a_lo + a_hi) / 2, a_hi), (t_lo, (t_lo + t_hi) / 2, t_hi), tps, ttft,
                           f"ecologits:model:{model.provider.value}/{model.name}")


def size_parameters(billions: float) -> tuple[float, float, float]:
    """A model given by its size ("70B"): active = total = that size at every bound."""
    return (billions, billions, billions)


def llm_pue_factor_id(provider: str, ownership: str, providers_table: pd.DataFrame) -> str:
    """The PUE factor of an LLM request: on-premise average for owned or leased hardware,
    else the provider's data-centre PUE, else (no provider) EcoLogits' hub default.
    A usage log has no ownership column: its requests are purchased services."""
    fid = providers_table.loc[provider, "pue_factor_id"] if provider else NO_PROVIDER_PUE_ID
    if ownership in ("owned", "leased"):
        fid = ONPREM_PUE_ID
    return fid


# --- the production-scale method (issue 15; docs/methodology.md "LLM requests") ----------------
#
#   N_eff      = N (dense) or sqrt(N_active x N_total) (mixture-of-experts)
#   E_accel    = out x k_dec x N_eff + in x k_pre x N_active                 [J]
#   E_serving  = E_accel x (1 + host_share) x idle_factor x PUE             [J]
#   lifecycle  = serving energy; embodied = E_accel / P_gpu / 3600 x kg per GPU-hour
#
# Parameters: data/factors/llm_production.csv (register ids below), calibrated on 92 ML.ENERGY
# v3 configurations, the project's H200 measurement and Google's 2025 serving split.

class LlmMethod:
    """``engagement.yaml › llm_method`` values (an activity's ``mode`` may pick one per row)."""

    PRODUCTION = "production"
    ECOLOGITS = "ecologits"
    ALL = ("production", "ecologits")


class LlmBoundary:
    """``engagement.yaml › llm_boundary`` values: what an LLM line's energy includes."""

    ACCELERATOR = "accelerator"  # the accelerators' own draw (what ML.ENERGY, NVML and AI Energy Score measure)
    SERVING = "serving"  # + host CPU/DRAM, provisioned idle capacity and PUE (Google 2025's comprehensive figure)
    LIFECYCLE = "lifecycle"  # serving + embodied hardware emissions (+ amortised training where disclosed)
    ALL = ("accelerator", "serving", "lifecycle")


K_DECODE_MANAGED_ID = "genai:llm:k-decode-managed"
K_DECODE_SELF_HOSTED_ID = "genai:llm:k-decode-self-hosted"
K_PREFILL_ID = "genai:llm:k-prefill"
HOST_SHARE_ID = "genai:llm:host-share"
IDLE_FACTOR_ID = "genai:llm:idle-factor"
GPU_POWER_FOR_TIME_ID = "genai:llm:gpu-power-for-time"
PRODUCTION_FACTOR_IDS = (K_DECODE_MANAGED_ID, K_DECODE_SELF_HOSTED_ID, K_PREFILL_ID, HOST_SHARE_ID,
                         IDLE_FACTOR_ID, GPU_POWER_FOR_TIME_ID)
J_PER_KWH = 3.6e6


def effective_params_b(active_params_b, total_params_b):
    """N_eff = sqrt(N_active x N_total) for mixture-of-experts; N for dense (active = total).

    Source: fit on ML.ENERGY Leaderboard v3.0 H100/B200 MoE configurations (Llama-4 Maverick
    and Scout, Qwen3-30B-A3B, Qwen3-235B-A22B, DeepSeek-V3.1): with N_eff the MoE decode
    energy per token per B falls in the dense band (0.005-0.017 J); with N_active alone it is
    2-5x higher (decode is memory-bound on all weights). research/15 llm_method.md §2.
    """
    return np.sqrt(np.asarray(active_params_b, float) * np.asarray(total_params_b, float))


def accelerator_decode_j(output_tokens, k_decode, n_eff_b):
    """E_decode = output tokens x k_dec x N_eff  [J].

    k_dec (J per output token per billion effective parameters) = node power / node tokens/s
    at the serving batch: managed serving 0.010 (0.004-0.030), ML.ENERGY v3 (Chung et al.,
    NeurIPS D&B 2025) lm-arena-chat H100/B200 configurations; self-hosted light load 0.055
    (0.034-0.13), ML.ENERGY v3 smallest-batch configurations.
    """
    return output_tokens * k_decode * n_eff_b


def accelerator_prefill_j(input_tokens, k_prefill, active_params_b):
    """E_prefill = input tokens x k_pre x N_active  [J].

    k_pre 2.5e-3 (2.0e-3-5.0e-3) J per input token per billion active parameters, measured on
    an NVIDIA H200 (NVML): 8B 0.0205 J/token, 32B 0.0793 J/token (gpu_measurements.md, 2026).
    """
    return input_tokens * k_prefill * active_params_b


def serving_energy_j(accelerator_j, host_share, idle_factor, pue):
    """E_serving = E_accel x (1 + host_share) x idle_factor x PUE  [J].

    Host share 0.43 (0.25-0.82) and idle factor 1.10 (1.05-1.20): Elsworth et al. 2025,
    "Measuring the environmental impact of delivering AI at Google Scale" (arXiv:2508.15734):
    accelerator 0.14 + host 0.06 + idle 0.02 + overhead 0.02 Wh per median prompt; high host
    share: DGX H100 10.2 kW system power against 8 x 700 W GPUs.
    """
    return accelerator_j * (1.0 + host_share) * idle_factor * pue


def reserved_gpu_hours(accelerator_j, gpu_power_w):
    """GPU-hours = E_accel / P_gpu / 3600: the accelerator time a request reserves, for
    allocating embodied emissions (P_gpu 500 W, 350-700: ML.ENERGY v3 H100 interactive)."""
    return accelerator_j / gpu_power_w / 3600.0


def production_parameters(register: FactorRegister) -> dict[str, np.ndarray]:
    """The production method's parameters as (low, central, high) columns of shape (3, 1),
    so that they broadcast over the (bounds x models) arrays of ``llm_unit_energies``."""
    names = {"k_decode_managed": K_DECODE_MANAGED_ID, "k_decode_self_hosted": K_DECODE_SELF_HOSTED_ID,
             "k_prefill": K_PREFILL_ID, "host_share": HOST_SHARE_ID, "idle_factor": IDLE_FACTOR_ID,
             "gpu_power_w": GPU_POWER_FOR_TIME_ID}
    return {k: np.asarray(register.bounds(fid), float)[:, None] for k, fid in names.items()}


def production_unit_energies(active_params_b, total_params_b, pue, p: dict, boundary: str = LlmBoundary.SERVING,
                             self_hosted=False) -> dict:
    """kWh per output token and per input token of the production method, arrays of shape
    (bounds x models); ``pue`` (bounds x models). Under ``accelerator`` no host, idle or PUE.

    ``self_hosted`` (bool or array per model) picks the self-hosted k_dec (owned or leased
    servers at light load) instead of the managed-service one.
    """
    active = np.asarray(active_params_b, float)
    n_eff = effective_params_b(active, total_params_b)
    k_dec = np.where(np.asarray(self_hosted, bool), p["k_decode_self_hosted"], p["k_decode_managed"])
    dec_j = accelerator_decode_j(1.0, k_dec, n_eff)
    pre_j = accelerator_prefill_j(1.0, p["k_prefill"], active)
    if boundary == LlmBoundary.ACCELERATOR:
        scale = np.ones_like(np.asarray(pue, float))
    else:
        scale = serving_energy_j(1.0, p["host_share"], p["idle_factor"], np.asarray(pue, float))
    return {"kwh_per_output_token": dec_j * scale / J_PER_KWH, "kwh_per_input_token": pre_j * scale / J_PER_KWH,
            "accel_kwh_per_output_token": dec_j / J_PER_KWH + 0 * scale,
            "accel_kwh_per_input_token": pre_j / J_PER_KWH + 0 * scale}


def production_factor_ids(self_hosted: bool = False, boundary: str = LlmBoundary.SERVING) -> list[str]:
    """The register ids a production-method line cites."""
    ids = [K_DECODE_SELF_HOSTED_ID if self_hosted else K_DECODE_MANAGED_ID, K_PREFILL_ID]
    if boundary != LlmBoundary.ACCELERATOR:
        ids += [HOST_SHARE_ID, IDLE_FACTOR_ID]
    if boundary == LlmBoundary.LIFECYCLE:
        ids.append(GPU_POWER_FOR_TIME_ID)
    return ids
