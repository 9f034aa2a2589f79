"""Parity with EcoLogits 0.11.3: with no input tokens our per-request energy (central) lies
inside EcoLogits' own min-max for the same provider, model, output tokens and latency."""
from __future__ import annotations

import json
from importlib import resources

import pytest
from ecologits.tracers.utils import llm_impacts

from audit.inventory.estimate import estimate
from audit.inventory.intake import load_activities_file
from tests.helpers import write_activities

PROVIDERS = ("openai", "anthropic", "mistralai", "google_genai", "cohere", "huggingface_hub")
PER_PROVIDER = 5
OUTPUT_TOKENS = 400
LATENCY_S = 10
SLACK = 0.02  # ±2 % on EcoLogits' bounds


def all_models() -> list[tuple[str, str]]:
    data = json.loads((resources.files("ecologits") / "data" / "models.json").read_text(encoding="utf-8"))
    return sorted({(m["provider"], m["name"]) for m in data["models"]})


def chosen_pairs() -> list[tuple[str, str]]:
    """Deterministic: for each provider, PER_PROVIDER names evenly spaced through the sorted list."""
    models = all_models()
    out = []
    for provider in PROVIDERS:
        names = [n for p, n in models if p == provider]
        k = min(PER_PROVIDER, len(names))
        picks = sorted({round(i * (len(names) - 1) / max(k - 1, 1)) for i in range(k)})
        out += [(provider, names[i]) for i in picks]
    return out


PAIRS = chosen_pairs()


def _estimate_per_request(tmp_dir, pairs) -> dict[tuple[str, str], tuple[float, list[str]]]:
    rows = [{"activity_id": f"R{i:04d}", "stage": "Parity", "description": f"{p} {m}", "kind": "llm_api",
             "quantity": "1", "unit": "request", "provider": p, "model": m, "pue": "", "input_tokens": "0",
             "mode": "ecologits",  # issue 15: llm_method ecologits (per row) reproduces EcoLogits 0.11.3
             "output_tokens": str(OUTPUT_TOKENS), "latency_s": str(LATENCY_S)} for i, (p, m) in enumerate(pairs)]
    path = write_activities(tmp_dir / "activities.csv", rows)
    lines = estimate(load_activities_file(path)).lines.set_index("activity_id")
    return {pair: (float(lines.at[f"R{i:04d}", "kwh"]), list(lines.at[f"R{i:04d}", "factor_ids"]))
            for i, pair in enumerate(pairs)}


def ecologits_range(provider: str, model: str) -> tuple[float, float]:
    impacts = llm_impacts(provider, model, OUTPUT_TOKENS, LATENCY_S)
    assert not impacts.has_errors, impacts.errors
    v = impacts.energy.value
    return (float(v.min), float(v.max)) if hasattr(v, "min") else (float(v), float(v))


@pytest.fixture(scope="module")
def ours(tmp_path_factory):
    return _estimate_per_request(tmp_path_factory.mktemp("parity"), PAIRS)


def test_pairs_cover_every_provider():
    assert len(PAIRS) >= 20 and len(set(PAIRS)) == len(PAIRS)
    assert {p for p, _ in PAIRS} == set(PROVIDERS)


@pytest.mark.parametrize("provider,model", PAIRS, ids=[f"{p}/{m}" for p, m in PAIRS])
def test_per_request_energy_within_ecologits_range(ours, provider, model):
    kwh, factor_ids = ours[(provider, model)]
    lo, hi = ecologits_range(provider, model)
    assert lo * (1 - SLACK) <= kwh <= hi * (1 + SLACK), (lo, kwh, hi)
    assert f"ecologits:provider:{provider}" in factor_ids  # blank PUE column: the provider's PUE
    assert any(f.startswith(f"ecologits:model:{provider}/") for f in factor_ids)


def test_every_shipped_model_is_within_range(tmp_path):
    """The whole of models.json, as one sweep (cheap: one vectorised estimate)."""
    pairs = all_models()
    got = _estimate_per_request(tmp_path, pairs)
    outside = []
    for pair in pairs:
        lo, hi = ecologits_range(*pair)
        if not lo * (1 - SLACK) <= got[pair][0] <= hi * (1 + SLACK):
            outside.append((pair, lo, got[pair][0], hi))
    assert outside == []
