"""Write the sample engagement's second usage source: an OpenAI organisation Usage API export
(``/v1/organization/usage/completions``, daily buckets by model; invented figures) for the
agency's concept-development work in ChatGPT-style tools via the API, Feb-Apr 2025.

Field names follow the Usage API's completions result object (input_tokens, input_cached_tokens,
output_tokens, num_model_requests, model; see docs/usage_import.md). Values are seeded and
not client data. Run: python scripts/make_sample_openai_usage.py
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "data" / "sample_engagement" / "usage" / "openai" / "usage_completions_2025.json"
MODELS = {"gpt-4o-2024-08-06": (18, 1400, 420), "gpt-4o-mini-2024-07-18": (60, 900, 260)}  # requests/day, in, out


def main() -> None:
    rng = np.random.default_rng(14)
    start = int(datetime(2025, 2, 3, tzinfo=timezone.utc).timestamp())
    buckets = []
    for day in range(56):  # eight weeks of concept development, weekdays only
        t0 = start + day * 86_400
        results = []
        if datetime.fromtimestamp(t0, timezone.utc).weekday() < 5:
            for model, (per_day, mean_in, mean_out) in MODELS.items():
                n = int(rng.poisson(per_day))
                if n == 0:
                    continue
                inp = int(n * mean_in * rng.uniform(0.8, 1.2))
                results.append({
                    "object": "organization.usage.completions.result", "input_tokens": inp,
                    "input_cached_tokens": int(inp * rng.uniform(0.1, 0.4)),
                    "output_tokens": int(n * mean_out * rng.uniform(0.8, 1.2)), "input_audio_tokens": 0,
                    "output_audio_tokens": 0, "num_model_requests": n, "project_id": None, "user_id": None,
                    "api_key_id": None, "model": model, "batch": False, "service_tier": "default"})
        buckets.append({"object": "bucket", "start_time": t0, "end_time": t0 + 86_400, "results": results})
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"object": "page", "has_more": False, "next_page": None, "data": buckets}, indent=1)
                   + "\n", encoding="utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
