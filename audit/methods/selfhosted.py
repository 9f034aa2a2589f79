"""Self-hosted LLM inference as its own method: GPUs, hours and tokens served -> kWh.

A self-hosted row gives the GPUs, the hours they were provisioned, the tokens served and
either a **batch size** or a **utilisation** (the share of GPU-hours spent serving). Energy
per output token then follows from a measured curve, and "use a managed service" becomes a
real comparison.

The curve's shape is measured ground truth, shipped in
``data/selfhosted/gpu_inference_measurements.csv`` ("measured on an NVIDIA H200 (NVML energy
counter), December 2026"): an 8B and a 32B Llama-architecture model, untuned Hugging Face
``generate`` at batch 1, 16 and 64, plus prefill and idle power. GPU only: no host, no
PUE (apply :func:`facility_kwh`). Tuned servers (continuous batching, CUDA graphs, paged
attention) do several times better per token at the same batch size, so for them these
figures are an upper bound.

Equations (one function each):

    e_dec(B, N)   energy per output token: log-log interpolation of the measured J/token
                  over batch size B, then over parameter count N between measured sizes
    r(B, N)       decode throughput (tokens/s per GPU), interpolated the same way
    e_pre(N)      energy per input token = k_pre × N, k_pre fitted to the prefill rows
    busy hours    = output tokens / r(B, N) / 3600
    utilisation   = busy GPU-hours / (GPUs × hours)
    E_GPU [kWh]   = (out × e_dec + in × e_pre + idle hours × 3600 × P_idle) / 3.6e6
    E_site [kWh]  = E_GPU × PUE
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import pandas as pd

from audit.core.exceptions import InputError
from audit.core.paths import DATA_DIR

MEASUREMENTS_FILE = DATA_DIR / "selfhosted" / "gpu_inference_measurements.csv"
J_PER_KWH = 3.6e6


@lru_cache(maxsize=1)
def measurements() -> pd.DataFrame:
    """The shipped H200 measurements (one row per phase × model × batch); read once, do not mutate."""
    return pd.read_csv(MEASUREMENTS_FILE)


def _decode(params_b: float | None = None) -> pd.DataFrame:
    m = measurements()
    d = m[m["phase"] == "decode"]
    return d if params_b is None else d[d["model_params_b"] == params_b]


@lru_cache(maxsize=1)
def measured_sizes() -> tuple[float, ...]:
    """Parameter counts (billions) with a measured decode curve."""
    return tuple(sorted(_decode()["model_params_b"].unique()))


@lru_cache(maxsize=1)
def measured_batches() -> tuple[int, ...]:
    return tuple(sorted(int(b) for b in _decode()["batch"].unique()))


def loglog_interpolate(x: float, xs: list[float], ys: list[float]) -> float:
    """Piecewise-linear interpolation in log(x)-log(y); outside the measured range the end
    segment is extended (callers flag that as extrapolation)."""
    if x <= 0:
        raise ValueError("x must be positive")
    lx, lxs, lys = math.log(x), [math.log(v) for v in xs], [math.log(v) for v in ys]
    i = 0
    while i < len(lxs) - 2 and lx > lxs[i + 1]:
        i += 1
    t = (lx - lxs[i]) / (lxs[i + 1] - lxs[i])
    return math.exp(lys[i] + t * (lys[i + 1] - lys[i]))


@lru_cache(maxsize=64)
def _curve(column: str, params_b: float) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The measured (batch, value) points of one model size, by batch (read once per column and size)."""
    d = _decode(params_b).sort_values("batch")
    return tuple(d["batch"].tolist()), tuple(d[column].astype(float).tolist())


@lru_cache(maxsize=4096)
def _over_batch(column: str, batch: float, params_b: float) -> float:
    return loglog_interpolate(batch, *_curve(column, params_b))


def _over_size(column: str, batch: float, params_b: float) -> float:
    sizes = measured_sizes()
    if params_b in sizes:
        return _over_batch(column, batch, params_b)
    return loglog_interpolate(params_b, list(sizes), [_over_batch(column, batch, s) for s in sizes])


def decode_energy_per_output_token_j(batch: float, params_b: float, gross: bool = True) -> float:
    """e_dec(B, N): GPU energy per output token (J) at batch size B for an N-billion-parameter
    model: the measured J/token (gross, or net of idle) interpolated log-log in B and then in
    N. Measured: 8B falls from 14.37 J at B=1 to 0.226 J at B=64 (about 64×)."""
    return _over_size("j_per_token_gross" if gross else "j_per_token_net", batch, params_b)


def decode_tokens_per_second(batch: float, params_b: float) -> float:
    """r(B, N): output tokens per second per GPU, measured throughput interpolated log-log."""
    return _over_size("tokens_per_s", batch, params_b)


@lru_cache(maxsize=1)
def _prefill_k() -> float:
    m = measurements()
    p = m[m["phase"] == "prefill"]
    return float((p["j_per_token_gross"] / p["model_params_b"]).mean())


def prefill_energy_per_input_token_j(params_b: float) -> float:
    """e_pre(N) = k_pre × N with k_pre = mean(J/token ÷ N) over the measured prefill rows
    (about 2.6e-3 J per token per billion parameters, gross; compute-bound, so linear in N)."""
    return _prefill_k() * params_b


@lru_cache(maxsize=1)
def idle_power_w() -> float:
    """Measured idle GPU power (W)."""
    m = measurements()
    return float(m.loc[m["phase"] == "idle", "avg_power_w"].iloc[0])


def busy_gpu_hours(output_tokens: float, batch: float, params_b: float) -> float:
    """GPU-hours spent decoding = output tokens / r(B, N) / 3600."""
    return output_tokens / decode_tokens_per_second(batch, params_b) / 3600.0


def batch_for_throughput(tokens_per_s: float, params_b: float) -> float:
    """The batch size at which r(B, N) equals ``tokens_per_s`` (r rises with B, so bisection
    on log B). Outside the measured batches the end segment is extended."""
    lo, hi = math.log(1e-3), math.log(1e4)
    for _ in range(200):
        mid = (lo + hi) / 2
        if decode_tokens_per_second(math.exp(mid), params_b) < tokens_per_s:
            lo = mid
        else:
            hi = mid
    return math.exp((lo + hi) / 2)


def facility_kwh(gpu_kwh: float, pue: float) -> float:
    """E_site = E_GPU × PUE (host CPU and memory are not in the GPU counter: add them as
    their own line or through a higher PUE, and say which)."""
    return gpu_kwh * pue


@dataclass
class SelfHostedEstimate:
    gpus: float
    hours: float
    params_b: float
    batch: float
    utilisation: float
    busy_gpu_hours: float
    idle_gpu_hours: float
    kwh_decode: float
    kwh_prefill: float
    kwh_idle: float
    kwh_gpu: float
    kwh_facility: float
    j_per_output_token: float  # all GPU energy (idle included) / output tokens
    warnings: list[str] = field(default_factory=list)


def selfhosted_energy(gpus: float, hours: float, output_tokens: float, params_b: float, *,
                      input_tokens: float = 0.0, batch: float | None = None, utilisation: float | None = None,
                      pue: float = 1.0, where: str = "self-hosted row") -> SelfHostedEstimate:
    """Energy of a self-hosted LLM deployment from GPUs, hours, tokens served and either the
    batch size or the utilisation (exactly one). See the module docstring for the equations.

    Raises InputError (naming ``where``) for impossible inputs: tokens beyond what the GPUs
    can serve at that batch size in those hours, or both/neither of batch and utilisation."""
    if (batch is None) == (utilisation is None):
        raise InputError(f"{where}: give either batch_size or utilisation, not {'both' if batch else 'neither'}")
    for name, value in (("gpus", gpus), ("hours", hours), ("params_b", params_b)):
        if not value or value <= 0:
            raise InputError(f"{where}: {name} must be a positive number, got {value!r}")
    if output_tokens < 0 or input_tokens < 0:
        raise InputError(f"{where}: token counts must not be negative")
    gpu_hours = gpus * hours
    warnings = []
    sizes, batches = measured_sizes(), measured_batches()
    if not sizes[0] <= params_b <= sizes[-1]:
        warnings.append(f"{params_b:g}B is outside the measured sizes {sizes[0]:g}-{sizes[-1]:g}B: extrapolated")
    if utilisation is not None:
        if not 0 < utilisation <= 1:
            raise InputError(f"{where}: utilisation must be in (0, 1], got {utilisation!r}")
        busy = utilisation * gpu_hours
        batch = batch_for_throughput(output_tokens / (busy * 3600.0), params_b) if output_tokens else 1.0
    else:
        if batch < 1:
            raise InputError(f"{where}: batch_size must be at least 1, got {batch!r}")
        busy = busy_gpu_hours(output_tokens, batch, params_b)
        if busy > gpu_hours * (1 + 1e-9):
            raise InputError(f"{where}: {output_tokens:,.0f} output tokens need {busy:,.1f} GPU-hours at batch size "
                             f"{batch:g}, more than the {gpu_hours:,.1f} given: raise the batch size or the hours")
        utilisation = busy / gpu_hours
    if not batches[0] <= batch <= batches[-1]:
        warnings.append(f"batch size {batch:.3g} is outside the measured {batches[0]}-{batches[-1]}: extrapolated")
    idle = max(gpu_hours - busy, 0.0)
    kwh_decode = output_tokens * decode_energy_per_output_token_j(batch, params_b) / J_PER_KWH
    kwh_prefill = input_tokens * prefill_energy_per_input_token_j(params_b) / J_PER_KWH
    kwh_idle = idle * 3600.0 * idle_power_w() / J_PER_KWH
    kwh_gpu = kwh_decode + kwh_prefill + kwh_idle
    return SelfHostedEstimate(
        gpus=gpus, hours=hours, params_b=params_b, batch=batch, utilisation=utilisation, busy_gpu_hours=busy,
        idle_gpu_hours=idle, kwh_decode=kwh_decode, kwh_prefill=kwh_prefill, kwh_idle=kwh_idle, kwh_gpu=kwh_gpu,
        kwh_facility=facility_kwh(kwh_gpu, pue),
        j_per_output_token=kwh_gpu * J_PER_KWH / output_tokens if output_tokens else float("nan"),
        warnings=warnings)
