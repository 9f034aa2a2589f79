"""The lever library (data/levers.yaml): interventions as data, each with a cited basis,
its effort, the prices it saves or adds and the DESNZ factors it rests on.

This module only reads and validates the library; applying a lever to an engagement is the
feasibility step's job (see the integration notes in the issue 12 report).
"""
from __future__ import annotations

from enum import Enum
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic import ValidationError as PydanticValidationError

from audit.core.exceptions import Problem, ValidationError
from audit.core.paths import DATA_DIR

LEVERS_FILE = DATA_DIR / "levers.yaml"
DESNZ_TO_ADD_FILE = DATA_DIR / "desnz_to_add.csv"
# The row's own API prices (resolved per activity through audit/pricing.api_price).
API_PRICE_TOKENS = frozenset({"api:input", "api:cached_input", "api:output", "api:batch"})

Triple = tuple[float, float, float]


class Area(str, Enum):
    PRODUCTION = "production"
    GENAI = "genai"
    COMPUTE = "compute"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModeSwitch(Strict):
    to: str
    kind: str
    max_one_way_km: float = Field(gt=0)


class FuelToElectricity(Strict):
    kwh_per_litre: Triple


class SelfHostedChange(Strict):
    batch_size: float | None = Field(default=None, ge=1)
    params_b: float | None = Field(default=None, gt=0)


class DraftThenFinish(Strict):
    draft_energy_ratio: float = Field(gt=0, lt=1)


class Change(Strict):
    set: dict[str, str] = {}
    scale: dict[str, Triple] = {}
    intensity_scale: str | Triple | None = None
    accepted_fraction_scale: Triple | None = None
    mode_map: dict[str, str] = {}
    mode_switch: ModeSwitch | None = None
    fuel_to_electricity: FuelToElectricity | None = None
    model_map: dict[str, dict[str, str]] = {}
    share_moved: Triple | None = None
    cached_input_share: Triple | None = None
    price_context: dict[str, str] = {}
    selfhosted: SelfHostedChange | None = None
    draft_then_finish: DraftThenFinish | None = None
    customisation: str | None = None


class Effort(Strict):
    person_days: float = Field(ge=0)
    capex: float = Field(ge=0)
    opex_per_year: float
    lifetime_years: float = Field(gt=0)


class Money(Strict):
    saves: tuple[str, ...] = ()
    adds: tuple[str, ...] = ()


class Factors(Strict):
    uses: tuple[str, ...] = ()
    to_add: tuple[str, ...] = ()


class Lever(Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str = Field(min_length=3)
    description: str = Field(min_length=3)
    area: Area
    applies_to: dict[str, list[str]]
    change: Change
    effort: Effort
    money: Money
    factors: Factors
    risks: str = Field(min_length=3)
    quality_risk: str | None = None
    co_benefits: tuple[str, ...] = ()
    basis: str = Field(min_length=10)
    citation: str = Field(min_length=3)
    what_would_change_it: str = Field(min_length=3)

    @field_validator("applies_to")
    @classmethod
    def _not_empty(cls, v: dict) -> dict:
        if not v or any(not vals for vals in v.values()):
            raise ValueError("applies_to needs at least one column with at least one value")
        return v


def read_levers(path: Path = LEVERS_FILE) -> tuple[Lever, ...]:
    """Every lever in the file, validated; all problems reported at once (file, lever
    number counted from 1, field)."""
    # The C loader when PyYAML has it: the library is read on every run.
    raw = yaml.load(Path(path).read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
    items = raw.get("levers") if isinstance(raw, dict) else None
    if not isinstance(items, list):
        raise ValidationError([Problem(str(path), "expected a top-level 'levers:' list")])
    out, problems, seen = [], [], set()
    for n, item in enumerate(items, start=1):
        try:
            lever = Lever.model_validate(item)
        except PydanticValidationError as exc:
            ident = item.get("id", f"#{n}") if isinstance(item, dict) else f"#{n}"
            problems.extend(Problem(str(path), f"lever {ident}: {e['msg']}", column=".".join(map(str, e["loc"])))
                            for e in exc.errors())
            continue
        if lever.id in seen:
            problems.append(Problem(str(path), f"duplicate lever id {lever.id!r}", column="id"))
        seen.add(lever.id)
        out.append(lever)
    if problems:
        raise ValidationError(problems)
    return tuple(out)


@lru_cache(maxsize=1)
def lever_library() -> tuple[Lever, ...]:
    return read_levers(LEVERS_FILE)
