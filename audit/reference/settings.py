"""Settings files shipped in ``data/``: forecast defaults, the lever library (raw) and the
scorecard weights. Each file is read here once; the analyses apply an engagement's
overrides on top."""
from __future__ import annotations

from functools import lru_cache

import yaml

from audit.core.paths import DATA_DIR, INTERVENTIONS_FILE

FORECAST_DEFAULTS_FILE = DATA_DIR / "forecast_defaults.yaml"
SCORECARD_FILE = DATA_DIR / "scorecard_weights.yaml"


@lru_cache(maxsize=1)
def forecast_defaults() -> dict:
    """data/forecast_defaults.yaml: consultant assumptions (years, growth, prices, unit costs)."""
    return yaml.safe_load(FORECAST_DEFAULTS_FILE.read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def intervention_entries() -> tuple[dict, ...]:
    """The lever library (data/levers.yaml, ``levers:``) as written: one dict per lever.
    audit.reference.levers validates it; this is the raw view."""
    return tuple(yaml.safe_load(INTERVENTIONS_FILE.read_text(encoding="utf-8"))["levers"])


@lru_cache(maxsize=1)
def scorecard_config() -> dict:
    """data/scorecard_weights.yaml: factors with weights and labels, candidates, the task."""
    return yaml.safe_load(SCORECARD_FILE.read_text(encoding="utf-8"))


def scorecard_factors() -> tuple[str, ...]:
    """The scorecard's factor names, in the file's order."""
    return tuple(scorecard_config()["factors"])
