"""Energy and emissions equations shared by the estimators: one small function per equation,
each with the equation and its source in the docstring."""
from __future__ import annotations

import re


def device_energy_kwh(device_hours, power_w, pue):
    """E = hours x P_avg / 1000 x PUE  [kWh].

    Source: METHODOLOGY §2 accelerator-hours; Green Algorithms (Lannelongue et al. 2021).
    """
    return device_hours * power_w / 1000.0 * pue


HOURS_PER_YEAR_365 = 8760.0  # both embodied sources state lifetimes in 365-day years


def embodied_kg_per_gpu_hour(gpu_kg, server_share_kg, lifetime_years):
    """M per GPU-hour = (E_GPU + E_server / GPUs per server) / (lifetime_years x 8760 h)  [kgCO2e].

    GSF SCI v1.1 (ISO/IEC 21031:2024): M = TE x (TiR / EL) x (RR / ToR), with the time
    reserved TiR in GPU-hours and the server's share RR/ToR = 1 / 8 per GPU. Factors:
    EcoLogits 0.11.3 (273 kg per A100, 5,700 kg per 8-GPU server, 3 years) and the Impact
    Framework SciEmbodied defaults (150 kg per GPU, 1,000 kg per server, 4 years).
    """
    return (gpu_kg + server_share_kg) / (lifetime_years * HOURS_PER_YEAR_365)


def measured_energy_kwh(quantity, kwh_per_unit, pue):
    """E = quantity x measured kWh per unit x PUE  [kWh] (``audit measure``; codecarbon
    measures IT energy at the machine, so facility overhead is applied on top)."""
    return quantity * kwh_per_unit * pue


def emissions_kg(kwh, intensity_g_per_kwh):
    """kgCO2e = E_kWh x CI_g/kWh / 1000."""
    return kwh * intensity_g_per_kwh / 1000.0


def ccf_cpu_power_w(wmin, wmax, utilisation):
    """P = Wmin + u x (Wmax - Wmin) per vCPU. Source: Cloud Carbon Footprint methodology."""
    return wmin + utilisation * (wmax - wmin)


def image_steps_scale(steps, reference_steps, fixed_share):
    """E(steps) / E_ref = f + (1 - f) x steps / steps_ref  (linear in denoising steps plus a
    fixed part f for text encoders and VAE). Fit on the project's H200 SDXL-class
    measurements (0.00745 Wh per step + 0.0495 Wh fixed at 1024², batch 1) and ML.ENERGY v2
    A100 30/50-step files; register ``image:scaling:fixed-share``."""
    return fixed_share + (1.0 - fixed_share) * steps / reference_steps


def image_pixels_scale(pixels, reference_pixels, exponent):
    """E(pixels) / E_ref = (pixels / pixels_ref)^b, b = 0.6 (0.5-1.0) at batch 1. Fit on the
    project's H200 SDXL-class measurements at 512², 768², 1024² (b = 0.57 gross); register
    ``image:scaling:pixel-exponent``."""
    return (pixels / reference_pixels) ** exponent


def serving_scale(host_share, idle_factor, pue):
    """Accelerator energy to serving energy: x (1 + host share) x idle factor x PUE
    (Elsworth et al. 2025, arXiv:2508.15734; the LLM method's serving boundary)."""
    return (1.0 + host_share) * idle_factor * pue


IMAGE_MODE_HELP = "e.g. 1024x1024, steps:30, or both: 1024x1024;steps:30"


def parse_image_mode(mode: str) -> tuple[float | None, float | None]:
    """``image_generation`` mode: ``WxH`` and/or ``steps:N``, joined by ``;`` (any order).
    Returns (pixels, steps), None for what the mode does not give; raises ValueError."""
    pixels = steps = None
    for part in filter(None, (p.strip() for p in str(mode or "").split(";"))):
        m_res = re.fullmatch(r"(\d{2,5})x(\d{2,5})", part)
        m_steps = re.fullmatch(r"steps:(\d{1,4})", part)
        if m_res:
            pixels = float(m_res.group(1)) * float(m_res.group(2))
        elif m_steps and int(m_steps.group(1)) > 0:
            steps = float(m_steps.group(1))
        else:
            raise ValueError(f"'{part}' is neither a resolution (WxH) nor steps:N")
    return pixels, steps
