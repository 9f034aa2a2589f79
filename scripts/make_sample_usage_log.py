"""Write the sample engagement's API usage log (invented, seeded, reproducible).

    .venv/bin/python scripts/make_sample_usage_log.py

12,000 requests that the invented agency's API gateway logged for community replies and
social-post variants during the campaign (March-June 2025, UK working hours weighted). The
gateway sends OpenAI models to Azure OpenAI in UK South (region azure:uksouth, so these
requests get the hour-aware GBR figure); other providers' regions are left blank (the
provider's default region applies).
Real EcoLogits model names; tokens and latencies drawn from log-normals. Not client data.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).resolve().parents[1] / "data" / "sample_engagement" / "usage" / "api_gateway_requests.csv"
MODELS = [("azure-openai", "gpt-4o-mini", 0.6), ("anthropic", "claude-haiku-4-5", 0.3),
          ("mistralai", "mistral-small-2603", 0.1)]
N = 12_000


def main() -> None:
    rng = np.random.default_rng(2025)
    days = pd.date_range("2025-03-01", "2025-06-30", freq="D", tz="UTC")
    weekday = days.day_of_week < 5
    day = rng.choice(len(days), N, p=np.where(weekday, 3.0, 1.0) / np.where(weekday, 3.0, 1.0).sum())
    hour_weights = np.array([1, 1, 1, 1, 1, 1, 2, 4, 8, 10, 10, 9, 8, 9, 10, 10, 9, 7, 5, 4, 3, 2, 2, 1], float)
    hour = rng.choice(24, N, p=hour_weights / hour_weights.sum())
    second = rng.integers(0, 3600, N)
    ts = days[day] + pd.to_timedelta(hour, "h") + pd.to_timedelta(second, "s")
    which = rng.choice(len(MODELS), N, p=[m[2] for m in MODELS])
    out_tok = np.maximum(np.round(rng.lognormal(np.log(220), 0.6, N)), 1).astype(int)
    in_tok = np.round(rng.lognormal(np.log(900), 0.5, N)).astype(int)
    latency = np.round(out_tok / rng.uniform(60, 140, N) + rng.uniform(0.2, 0.8, N), 3)
    log = pd.DataFrame({
        "timestamp": ts.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "provider": [MODELS[i][0] for i in which], "model": [MODELS[i][1] for i in which],
        "input_tokens": in_tok, "output_tokens": out_tok,
        "latency_s": np.where(rng.random(N) < 0.8, latency, np.nan),  # some gateway rows lack latency
        "stage": np.where(rng.random(N) < 0.65, "Delivery", "Localisation"),
        "region": ["azure:uksouth" if MODELS[i][0] == "azure-openai" else "" for i in which],
    }).sort_values("timestamp", kind="stable")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    log.to_csv(OUT, index=False)
    print(f"wrote {OUT} ({len(log):,} requests)")


if __name__ == "__main__":
    main()
