"""The LLM method: one implementation for activity rows (audit.inventory.estimate) and for
usage logs (audit.inventory.usage), so both use the same parameter ranges, coefficients and
PUE choice.

Energy per request (EcoLogits 0.11.3 ``impacts/llm.py``, plus our prefill term)::

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

    equals ``llm_request_energy_kwh`` (each term is linear in its variable)."""
    n_gpu = ecologits_gpu_count(total_params_b, c["gpu_memory"])  # per model: depends on the model only
    return {
        "s_per_token": ecologits_latency_s(active_params_b, 1.0, tps, 0.0, np.nan, c["latency_alpha"],
                                           c["latency_beta"], c["latency_gamma"], c["batch_size"]),
        "kwh_per_output_token": pue * n_gpu * ecologits_gpu_energy_kwh(
            active_params_b, 1.0, c["gpu_energy_alpha"], c["gpu_energy_beta"], c["gpu_energy_gamma"], c["batch_size"]),
        "kwh_per_second": pue * ecologits_server_energy_kwh(1.0, c["server_power"], n_gpu, c["batch_size"]),
        "kwh_per_input_token": pue * prefill_energy_kwh(1.0, active_params_b, prefill_wh),
    }


# --- parameters --------------------------------------------------------------------------------

def llm_coefficients(register: FactorRegister) -> dict[str, float]:
    """EcoLogits' LLM coefficients from the factor register (``ecologits:llm:<name>``)."""
    return {k: register.value(f"ecologits:llm:{k}") for k in LLM_COEFFICIENTS}


def llm_coefficient_factor_ids() -> list[str]:
    """The register ids a line of the LLM method cites for its coefficients and prefill factor."""
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
