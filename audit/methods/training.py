"""FLOPs-based energy of training and fine-tuning runs, as a ``gpu_compute`` activity.

Training compute of a dense transformer is C = 6·N·D FLOPs (N parameters, D tokens;
Kaplan et al. 2020 §2.1, Hoffmann et al. 2022). At a hardware peak P_peak (FLOP/s, dense
BF16/FP16 tensor, datasheets) and a model-FLOPs utilisation MFU, the run takes

    GPU-seconds = 6·N·D / (P_peak × MFU)

and draws

    E [kWh] = GPU-seconds × P_GPU [W] / 3.6e6 × PUE.

``training_activity`` turns the result into a ``gpu_compute`` row (GPU-hours + hardware),
so a run can be entered either as GPU-hours or as parameters × tokens; the estimator then
prices it like any other accelerator time (TDP × utilisation unless ``power_w`` is given),
and the derivation is kept in the row's ``notes``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from audit.core.exceptions import InputError
from audit.reference.factors import load_register
from audit.reference.vocabularies import providers

FLOPS_FACTOR_ID = "training:flops-per-param-token"
MFU_FACTOR_ID = "training:mfu-default"


def training_flops(params: float, tokens: float, flops_per_param_token: float = 6.0) -> float:
    """C = 6·N·D FLOPs (forward + backward). Kaplan et al. 2020; Hoffmann et al. 2022."""
    return flops_per_param_token * params * tokens


def training_gpu_hours(params: float, tokens: float, flops_per_second_per_gpu: float, utilisation: float,
                       flops_per_param_token: float = 6.0) -> float:
    """GPU-hours = 6·N·D / (peak FLOP/s × MFU) / 3600."""
    return training_flops(params, tokens, flops_per_param_token) / (flops_per_second_per_gpu * utilisation) / 3600.0


def training_energy_kwh(params: float, tokens: float, flops_per_second_per_gpu: float, utilisation: float,
                        gpu_power_w: float, pue: float, flops_per_param_token: float = 6.0) -> float:
    """E = 6·N·D / (peak FLOP/s × MFU) × P_GPU / 3.6e6 × PUE  [kWh].

    ``utilisation`` is the model-FLOPs utilisation (MFU), the share of peak FLOP/s the run
    achieves; ``gpu_power_w`` the average draw per GPU (TDP when unknown).
    """
    gpu_seconds = training_flops(params, tokens, flops_per_param_token) / (flops_per_second_per_gpu * utilisation)
    return gpu_seconds * gpu_power_w / 3.6e6 * pue


@dataclass
class TrainingEstimate:
    params: float
    tokens: float
    hardware: str
    flops: float
    peak_flops_per_s: float
    mfu: float
    gpu_power_w: float
    pue: float
    gpu_hours: float
    kwh: float
    gpu_hours_low: float  # at the high MFU bound (only when the default MFU is used)
    gpu_hours_high: float
    factor_ids: list[str]
    activity: dict

    def to_dict(self) -> dict:
        return asdict(self)


def estimate_training(params: float, tokens: float, hardware: str, mfu: float | None = None,
                      pue: float | None = None, power_w: float | None = None, activity_id: str = "TRN-01",
                      stage: str = "Training", description: str = "", ownership: str = "",
                      region: str = "", provider: str = "", register=None) -> TrainingEstimate:
    """GPU-hours and kWh of a run from parameters × tokens, with cited factors, and the
    ``gpu_compute`` activity row to enter it with.

    Power: ``power_w`` if given, else the hardware's TDP × the default utilisation (the
    estimator's rule). PUE: ``pue`` if given, else the provider's, else the on-premise average.
    """
    if params <= 0 or tokens <= 0:
        raise InputError("--params and --tokens must be positive (e.g. --params 7e9 --tokens 2e12)")
    if mfu is not None and not 0 < mfu <= 1:
        raise InputError("--mfu must be in (0, 1], e.g. 0.4")
    if pue is not None and not 1 <= pue <= 5:
        raise InputError("--pue must be between 1 and 5")
    reg = register or load_register()
    ownership = ownership or ("purchased_service" if provider else "owned")  # the kind's defaults
    hw = hardware.strip().lower()
    peak_id, tdp_id = f"hw-peak:{hw}", f"hw:{hw}"
    if peak_id not in reg:
        known = sorted(f.removeprefix("hw-peak:") for f in reg.find(part="peak_flops")["factor_id"])
        raise InputError(f"no peak FLOP/s for hardware '{hardware}'; known: {', '.join(known)}")
    ids = [FLOPS_FACTOR_ID, peak_id]
    k = reg.value(FLOPS_FACTOR_ID)
    peak = reg.value(peak_id)
    if mfu is None:
        mfu_lo, mfu_mid, mfu_hi = reg.bounds(MFU_FACTOR_ID)
        ids.append(MFU_FACTOR_ID)
    else:
        mfu_lo = mfu_mid = mfu_hi = float(mfu)
    if power_w is None:
        # Training draw (issue 15): TDP x 0.90 x (1 + host share 0.43), as a gpu_compute row with mode training.
        u = reg.value("gpu-utilisation:training")
        power = reg.value(tdp_id) * u * (1 + reg.value("gpu-host-share:default"))
        ids += [tdp_id, "gpu-utilisation:training", "gpu-host-share:default"]
    else:
        power = float(power_w)
    if pue is None:
        owned = ownership in ("owned", "leased") and not provider
        pue_id = "pue:onprem-average" if owned or not provider else providers().loc[provider, "pue_factor_id"]
        pue_v = reg.value(pue_id)
        ids.append(pue_id)
    else:
        pue_v = float(pue)
    flops = training_flops(params, tokens, k)
    hours = training_gpu_hours(params, tokens, peak, mfu_mid, k)
    kwh = training_energy_kwh(params, tokens, peak, mfu_mid, power, pue_v, k)
    notes = (f"FLOPs-based: {k:g}·N·D = {k:g} × {params:.3g} params × {tokens:.3g} tokens = {flops:.3g} FLOP; "
             f"{hw} peak {peak / 1e12:g} TFLOP/s at MFU {mfu_mid:g} -> {hours:,.0f} GPU-hours "
             f"(audit training-estimate)")
    row = {"activity_id": activity_id, "stage": stage,
           "description": description or f"Training/fine-tuning run, {params:.3g} parameters × {tokens:.3g} tokens",
           "kind": "gpu_compute", "quantity": f"{hours:.10g}", "unit": "gpu_hour", "region": region,
           "provider": provider, "hardware": hw, "ownership": ownership, "mode": "training",
           "power_w": "" if power_w is None else f"{power_w:g}", "pue": "" if pue is None else f"{pue:g}",
           "notes": notes}
    return TrainingEstimate(
        params=float(params), tokens=float(tokens), hardware=hw, flops=flops, peak_flops_per_s=peak, mfu=mfu_mid,
        gpu_power_w=power, pue=pue_v, gpu_hours=hours, kwh=kwh,
        gpu_hours_low=training_gpu_hours(params, tokens, peak, mfu_hi, k),
        gpu_hours_high=training_gpu_hours(params, tokens, peak, mfu_lo, k), factor_ids=ids, activity=row)
