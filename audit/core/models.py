"""The engagement's vocabulary as pydantic models and enums.

Models forbid unknown keys so that a typo in ``engagement.yaml`` is an error, not a
silently ignored setting.
"""
from __future__ import annotations

import re
from enum import Enum
from pathlib import PurePath
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator, with_config
from pydantic_core import PydanticCustomError
from typing_extensions import Required, TypedDict  # pydantic needs these, not typing's, before 3.12


class Kind(str, Enum):
    """Activity kinds; their base units and defaults live in data/kinds.csv."""

    llm_api = "llm_api"
    image_generation = "image_generation"
    video_generation = "video_generation"
    gpu_compute = "gpu_compute"
    cpu_compute = "cpu_compute"
    electricity = "electricity"
    fuel = "fuel"
    travel = "travel"
    accommodation = "accommodation"
    freight = "freight"
    storage = "storage"
    data_transfer = "data_transfer"


class Ownership(str, Enum):
    """Who owns or controls the thing that emits; decides the GHG Protocol scope."""

    owned = "owned"
    leased = "leased"
    purchased_service = "purchased_service"
    employee = "employee"


class DataQuality(int, Enum):
    """1 = best. Follows the GHG Protocol Scope 3 data hierarchy."""

    measured = 1
    supplier_specific = 2
    modelled = 3
    proxy = 4
    spend_based = 5


DQ_LABELS = {q.value: q.name.replace("_", "-") for q in DataQuality}  # 1 -> "measured", … (both reports)


# The activity table's contract (README). Column order is the order we write them back.
REQUIRED_COLUMNS = ("activity_id", "stage", "description", "kind", "quantity", "unit")
OPTIONAL_COLUMNS = (
    "region", "provider", "model", "hardware", "ownership", "power_w", "utilisation", "pue",
    "carbon_intensity_g_per_kwh", "input_tokens", "output_tokens", "latency_s", "mode",
    "accepted_fraction", "data_quality", "notes",
    "client_brand",  # the agency's brand client the activity is for (CDP allocation to customers)
    # issue 12: trips (one-way trips in a travel row, so a lever can test its distance
    # threshold: km per trip = passenger_km / trips); self-hosted LLM rows (llm_api, owned or
    # leased): gpus, serving_hours (wall-clock hours they were up), batch_size (mean
    # concurrent requests; or give utilisation, the share of GPU-hours spent serving)
    "trips", "gpus", "serving_hours", "batch_size",
)
NUMERIC_COLUMNS = (
    "quantity", "power_w", "utilisation", "pue", "carbon_intensity_g_per_kwh",
    "input_tokens", "output_tokens", "latency_s", "accepted_fraction", "data_quality",
    "trips", "gpus", "serving_hours", "batch_size",
)
ALL_COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS

# The rows a new engagement starts with (activities.csv and the workbook's Activities sheet).
EXAMPLE_ROWS = [
    {"activity_id": "IDE-01", "stage": "Ideation", "description": "Concept drafts with an LLM", "kind": "llm_api",
     "quantity": "1000", "unit": "request", "provider": "openai", "model": "gpt-4o-mini", "input_tokens": "800",
     "output_tokens": "300", "latency_s": "4", "accepted_fraction": "0.5", "data_quality": "3"},
    {"activity_id": "PRO-01", "stage": "Production", "description": "Crew flights", "kind": "travel",
     "quantity": "2400", "unit": "passenger_km", "mode": "flight_short_haul_economy", "data_quality": "2"},
    {"activity_id": "POST-01", "stage": "Post-production", "description": "Renders on own GPUs", "kind": "gpu_compute",
     "quantity": "120", "unit": "gpu_hour", "hardware": "nvidia-rtx-a6000", "ownership": "owned", "data_quality": "3"},
]


def period_year(period: str) -> int | None:
    """The first 4-digit year in a reporting period ('2025', 'FY2024/25', '2025-04/2026-03')."""
    m = re.search(r"(19|20)\d{2}", str(period))
    return int(m.group(0)) if m else None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


ISO3 = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 3166-1 alpha-3 country code")]


class MarketInstrument(_Strict):
    """A contractual instrument for market-based Scope 2 (GHG Protocol Scope 2 Guidance)."""

    region: str = Field(description="ISO-3 country, or provider:cloud-region, the instrument covers")
    supplier_factor_g_per_kwh: float | None = Field(default=None, ge=0)
    renewable_share: float | None = Field(default=None, ge=0, le=1)
    description: str = ""


class FactorOverride(_Strict):
    """A consultant's replacement for a register factor, recorded with a reason."""

    factor_id: str
    value: float = Field(ge=0)
    reason: str = Field(min_length=3)
    source: str = "engagement override"


class LlmMethodChoice(str, Enum):
    """engagement.yaml › llm_method (issue 15): the LLM energy method."""

    production = "production"  # calibrated on production-scale evidence (default)
    ecologits = "ecologits"  # EcoLogits 0.11.3 exactly (+ our prefill term)


class LlmBoundaryChoice(str, Enum):
    """engagement.yaml › llm_boundary: what an LLM, image or video line's energy includes."""

    accelerator = "accelerator"  # the accelerators only
    serving = "serving"  # + host CPU/DRAM, idle provisioned capacity, PUE (default)
    lifecycle = "lifecycle"  # serving + embodied hardware (+ amortised training where disclosed)


class SupplierFactorUnit(str, Enum):
    """What a supplier-specific figure is per."""

    wh_per_request = "wh_per_request"
    wh_per_output_token = "wh_per_output_token"
    gco2e_per_request = "gco2e_per_request"
    gco2e_per_kwh = "gco2e_per_kwh"


class CarbonBasis(str, Enum):
    location = "location"
    market = "market"


class SupplierFactor(_Strict):
    """A provider's disclosed figure (GHG Protocol: supplier-specific data for Cat 1), used for
    its provider's or model's llm_api lines instead of the modelled figure (data quality 2).
    Either name a shipped ``preset`` (data/supplier_presets.yaml) or give value, unit, source,
    boundary and year."""

    provider: str = ""
    model: str = ""
    preset: str = ""
    value: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    unit: SupplierFactorUnit | None = None
    source: str = ""
    boundary: LlmBoundaryChoice | None = None
    year: int | None = Field(default=None, ge=1990, le=2099)
    basis: CarbonBasis = CarbonBasis.location
    description: str = ""

    @model_validator(mode="after")
    def _complete(self) -> "SupplierFactor":
        if not self.preset:
            missing = [k for k in ("value", "unit", "boundary", "year") if getattr(self, k) is None]
            if not self.source.strip():
                missing.append("source")
            if missing:
                raise ValueError(f"a supplier factor without a preset needs {', '.join(missing)}")
            if not (self.provider or self.model):
                raise ValueError("a supplier factor names the provider or the model it applies to")
        return self


class Scope3Exclusion(_Strict):
    """One Scope 3 category's screening. A blank reason (as ``audit new`` writes for all 15)
    means "not screened yet"; a reason means "not relevant: reason"."""

    category: int = Field(ge=1, le=15)
    reason: str | None = ""

    @field_validator("reason")
    @classmethod
    def _blank_or_a_reason(cls, v: str | None) -> str:
        text = (v or "").strip()
        if text and len(text) < 3:
            raise ValueError("give a reason of at least 3 characters, or leave it blank (not screened yet)")
        return text

    @property
    def screened_out(self) -> bool:
        return bool(self.reason)


class FunctionalUnitSpec(_Strict):
    """An SCI functional unit the consultant names (engagement.yaml ``functional_units``).
    ``R`` is the number of units in the period; left out, it is counted from the lines for
    "accepted asset", "image", "video-second" and "1,000 tokens". ``applies_to`` limits the
    SCI boundary to stages, kinds or activity ids (default: GenAI and compute kinds)."""

    functional_unit: str = Field(min_length=1)
    R: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    applies_to: list[str] | None = None


# Forecast rates: a fall of more than 100 % a year, or a grid that decarbonises by 100 % or
# more a year, means nothing physically (the multipliers are (1+g)^t and (1-d)^t).
GrowthRate = Annotated[float, Field(ge=-1, allow_inf_nan=False)]
DecarbonisationRate = Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)]
UnitCost = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class ForecastSettings(_Strict):
    """Overrides of data/forecast_defaults.yaml; anything left out keeps its default."""

    years: int | None = Field(default=None, ge=1, le=5)
    usage_growth_per_year: dict[str, GrowthRate] = Field(
        default_factory=dict, description="Fractional growth in activity per year, by kind (0.25 = +25 %/year)")
    model_efficiency_per_year: float | None = Field(default=None, ge=0, lt=1)
    grid_decarbonisation_per_year: dict[str, DecarbonisationRate] = Field(
        default_factory=dict, description="Fall in grid intensity per year, by ISO-3 country or 'default'")
    electricity_price_per_kwh: float | None = Field(default=None, ge=0)
    day_rate: float | None = Field(default=None, ge=0)
    unit_costs: dict[str, UnitCost] = Field(
        default_factory=dict, description="Costs per unit avoided (e.g. flights per passenger_km), in the currency")
    impact_threshold_share: float | None = Field(
        default=None, gt=0, lt=1, description="Share of the footprint above which a measure counts as high impact")


class InterventionEffort(_Strict):
    person_days: float = Field(ge=0)
    capex: float = Field(default=0, ge=0)
    opex_per_year: float = 0
    lifetime_years: float = Field(default=3, gt=0)


# --- interventions: applies_to, change and savings ---------------------------------------------
# TypedDicts, not models: feasibility reads them as plain dicts (change.get("set"), "scale" in
# change), and a TypedDict validates to exactly the keys given. extra="forbid" makes a
# misspelt key (applies_to: {kindd: …}, change: {sett: …}) an error at load time.

def _one_of(what: str, choices) -> AfterValidator:
    """A value (or each value of a list) must be one of ``choices``. The error carries the
    choices so the intake can suggest the nearest one."""
    allowed = tuple(choices)

    def check(value):
        for v in [value] if isinstance(value, str) else value:
            if v not in allowed:
                raise PydanticCustomError("unknown_choice", "unknown {what} '{value}'",
                                          {"what": what, "value": v, "choices": list(allowed)})
        return value
    return AfterValidator(check)


KINDS = tuple(k.value for k in Kind)
OWNERSHIPS = tuple(o.value for o in Ownership)
KindName = Annotated[str, _one_of("kind", KINDS)]
OwnershipName = Annotated[str, _one_of("ownership", OWNERSHIPS)]
# Columns an intervention may match on or set: the activity table's, plus the country a
# cloud region resolves to.
INTERVENTION_COLUMNS = ALL_COLUMNS + ("country",)
SCALABLE_COLUMNS = tuple(c for c in NUMERIC_COLUMNS if c != "data_quality")
Bounds = Annotated[list[Annotated[float, Field(ge=0, allow_inf_nan=False)]], Field(min_length=3, max_length=3)]


def _columns_dict(name: str, columns, value_type, **typed) -> type:
    """A TypedDict with one optional key per column (``typed`` overrides some types)."""
    td = TypedDict(name, {c: typed.get(c, value_type) for c in columns}, total=False)
    return with_config(ConfigDict(extra="forbid"))(td)


AppliesTo = _columns_dict("AppliesTo", INTERVENTION_COLUMNS, list[str],
                          kind=list[KindName], ownership=list[OwnershipName])
SetColumns = _columns_dict("SetColumns", INTERVENTION_COLUMNS, Any, kind=KindName, ownership=OwnershipName)
ScaleColumns = _columns_dict("ScaleColumns", SCALABLE_COLUMNS, Bounds)


def _profile_or_bounds(value):
    if value == "profile" or (isinstance(value, list) and len(value) == 3):
        return value
    raise PydanticCustomError("intensity_scale", "must be 'profile' (the hourly profile of the row's country) "
                              "or [low, central, high]")


@with_config(ConfigDict(extra="forbid"))
class Change(TypedDict, total=False):
    """How an intervention changes the rows it applies to (an engagement intervention; the levers of data/levers.yaml have more operations)."""

    set: SetColumns
    scale: ScaleColumns
    intensity_scale: Annotated[str | Bounds, AfterValidator(_profile_or_bounds)]
    accepted_fraction_scale: Annotated[list[Annotated[float, Field(gt=0, allow_inf_nan=False)]],
                                       Field(min_length=3, max_length=3)]


@with_config(ConfigDict(extra="forbid"))
class Saving(TypedDict, total=False):
    """A non-energy cost the change avoids, priced with forecast unit_costs[unit_cost]."""

    kind: Annotated[str | list[str], _one_of("kind", KINDS)]
    mode_prefix: str | list[str]
    measure: Annotated[str, _one_of("measure", ("quantity", "input_tokens", "output_tokens"))]
    unit_cost: Required[str]


class Intervention(_Strict):
    """One of the engagement's own interventions (engagement.yaml ``interventions``)."""

    id: str = Field(pattern=r"^[a-z0-9_]+$")
    name: str
    description: str = ""
    applies_to: AppliesTo
    change: Change
    effort: InterventionEffort
    risks: str = ""
    basis: str = ""
    savings: list[Saving] = Field(
        default_factory=list, description="Non-energy savings: {kind, mode_prefix?, measure, unit_cost}")

    @field_validator("change")
    @classmethod
    def _changes_something(cls, v: dict) -> dict:
        if not v:
            raise ValueError("names no change: give set, scale, intensity_scale or accepted_fraction_scale")
        return v


class UsageFormat(str, Enum):
    """The format of a usage log (``--from``; audit.inventory.usage_import.ADAPTERS)."""
    auto = "auto"
    canonical = "canonical"
    openai_usage = "openai-usage"
    anthropic_usage = "anthropic-usage"
    bedrock = "bedrock"
    litellm = "litellm"
    langfuse = "langfuse"
    helicone = "helicone"
    openrouter = "openrouter"
    gcp_billing = "gcp-billing"
    azure_metrics = "azure-metrics"


class UsageLogEntry(_Strict):
    """One entry of ``usage_logs`` that names its format: ``{path: exports/*.json, from: openai-usage}``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)  # dumps say "from"

    path: str = Field(min_length=1, description="File, folder or glob, relative to the engagement folder")
    from_: UsageFormat = Field(default=UsageFormat.canonical, alias="from")
    mean_output_tokens: float | None = Field(
        default=None, gt=0, description="Mean output tokens per request, for exports without a request count "
                                        "(anthropic-usage, gcp-billing); recorded as an assumption")
    stage: str = Field(default="", description="Stage of every row read, for exports that carry none")


class InventorySource(str, Enum):
    """Which file holds the activities when an engagement folder has both."""
    activities_csv = "activities.csv"
    intake_xlsx = "intake.xlsx"
# --- money, period and routes (issue 12) --------------------------------------------------------

class PeriodType(str, Enum):
    """What the activity quantities cover: one campaign, or a year of work."""

    campaign = "campaign"
    year = "year"


class PriceOverride(_Strict):
    """An engagement's own price (engagement.yaml ``prices``): a number, or this record. A new
    price id needs unit, currency and year; a shipped id keeps its unit, currency and year."""

    value: float = Field(ge=0, allow_inf_nan=False)
    unit: str | None = None
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    year: int | None = Field(default=None, ge=1990, le=2100)
    source: str | None = None
    licence: str | None = None
    notes: str | None = None


class RouteKind(str, Enum):
    traditional = "traditional"
    generative = "generative"
    hybrid = "hybrid"


class Route(_Strict):
    """One way of making the deliverable and the activities it takes."""

    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    kind: RouteKind
    activities: list[str] = Field(min_length=1)
    fixed_activities: list[str] = Field(
        default_factory=list, description="One-off work that does not grow with volume (the scale sensitivity)")
    accepted_assets: float | None = Field(default=None, gt=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _fixed_are_listed(self) -> "Route":
        extra = set(self.fixed_activities) - set(self.activities)
        if extra:
            raise ValueError(f"fixed_activities not in activities: {', '.join(sorted(extra))}")
        return self


class Routes(_Strict):
    """engagement.yaml ``routes``: the same deliverable made by different routes."""

    deliverable: str = Field(min_length=1, description="What is delivered, e.g. '40 key visuals'")
    asset: str = Field(min_length=1, description="One accepted asset, e.g. 'key visual'")
    accepted_assets: float = Field(gt=0, allow_inf_nan=False)
    options: list[Route] = Field(min_length=1)
    scale_multiples: list[Annotated[float, Field(gt=0, allow_inf_nan=False)]] = Field(
        default_factory=lambda: [1, 2, 5, 10, 100], description="Volume multiples for the scale (rebound) sensitivity")

    @model_validator(mode="after")
    def _unique_ids(self) -> "Routes":
        ids = [r.id for r in self.options]
        if len(set(ids)) != len(ids):
            raise ValueError("route ids must be unique")
        return self


class Engagement(_Strict):
    """engagement.yaml: who the audit is for and the settings the consultant chose."""

    client: str = Field(min_length=1)
    period: str = Field(min_length=1, description="Reporting period, e.g. 2025 or 2025-04/2026-03")
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    carbon_price_per_tonne: float = Field(ge=0)
    default_region: ISO3
    description: str = ""
    consultant: str = ""
    base_year: int | None = Field(default=None, ge=1900, le=2099)
    radiative_forcing: bool = Field(
        default=True,
        description="Flights include the radiative-forcing uplift (DESNZ 'with RF' factors).",
    )
    upstream_cat3: bool = Field(
        default=True,
        description="Add well-to-tank and T&D lines (DESNZ) for fuels, travel, freight and UK electricity.",
    )
    embodied: bool = Field(
        default=True,
        description="Add amortised embodied emissions of owned or leased accelerators (Scope 3 Cat 2): "
                    "GPU-hours x (GPU + server share) / lifetime; see docs/methodology.md.",
    )
    effort_threshold_person_days: float = Field(default=20, ge=0)
    market_instruments: list[MarketInstrument] = Field(default_factory=list)
    scorecard_weights: dict[str, Annotated[float, Field(ge=0, allow_inf_nan=False)]] = Field(
        default_factory=dict, description="The consultant's weights for the base-model scorecard, by factor "
                                          "(data/scorecard_weights.yaml gives the defaults and the factor names)")
    factor_overrides: list[FactorOverride] = Field(default_factory=list)
    scope3_exclusions: list[Scope3Exclusion] = Field(default_factory=list)
    assumptions: list[str] = Field(default_factory=list)
    stages: list[str] = Field(default_factory=list, description="Stage order for the process map")
    usage_logs: list[str | UsageLogEntry] = Field(
        default_factory=list,
        description="LLM API usage logs (CSV or Parquet files, folders or globs, relative to the engagement "
                    "folder), estimated request by request and added as llm_api activities by stage × model × "
                    "region × month (ids USG-…); see audit estimate-usage. A provider export names its format: "
                    "{path: usage/openai/*.json, from: openai-usage}")
    model_aliases: dict[str, str] = Field(
        default_factory=dict, description="Model names of this client (Azure deployment names, in-house names) -> "
                                          "provider/model or a model name, e.g. prod-4o-eastus: openai/gpt-4o")
    inventory_source: InventorySource | None = Field(
        default=None, description="activities.csv or intake.xlsx: which file holds the activities when both exist")
    forecast: ForecastSettings = Field(default_factory=ForecastSettings)
    llm_method: LlmMethodChoice = Field(
        default=LlmMethodChoice.production,
        description="LLM energy method: production (calibrated on production-scale evidence) or ecologits "
                    "(EcoLogits 0.11.3 exactly); an llm_api row's mode may pick one per row")
    llm_boundary: LlmBoundaryChoice = Field(
        default=LlmBoundaryChoice.serving,
        description="What LLM, image and video lines include: accelerator, serving (+ host, idle, PUE) or "
                    "lifecycle (+ embodied hardware)")
    supplier_factors: list[SupplierFactor] = Field(
        default_factory=list, description="Providers' disclosed per-request, per-token or per-kWh figures "
                                          "(or shipped presets), used for their lines with data quality 2")
    interventions: list[Intervention] = Field(
        default_factory=list, description="Extra or replacement interventions (same id replaces the library's)")
    net_revenue: float | None = Field(
        default=None, gt=0, allow_inf_nan=False,
        description="Net revenue (turnover) in the currency, for GHG intensity per net revenue (ESRS E1-6, VSME B3)")
    functional_units: list[FunctionalUnitSpec] = Field(
        default_factory=list, description="SCI functional units, e.g. {functional_unit: accepted asset}")
    client_brands: dict[str, str] = Field(
        default_factory=dict, description="Brand client by stage or activity id (CDP allocation to customers); "
                                          "an activity id wins over its stage")
    reduction_target_per_year: float | None = Field(
        default=None, ge=0, lt=1, allow_inf_nan=False,
        description="Reduction target as a fraction a year (0.042 = 4.2 %/year), for audit compare")

    @property
    def scope3_screened_out(self) -> dict[int, str]:
        """{category: reason} for the Scope 3 categories screened out with a reason."""
        return {e.category: e.reason for e in self.scope3_exclusions if e.reason}
    period_type: PeriodType = Field(
        default=PeriodType.year, description="campaign: activity quantities are one campaign's; year: a year's")
    campaigns_per_year: float = Field(default=1, gt=0, allow_inf_nan=False,
                                      description="How often the campaign runs a year (period_type campaign)")
    prices: dict[str, float | PriceOverride] = Field(
        default_factory=dict, description="The engagement's own prices by price id (win over genai-prices and "
                                          "data/prices/unit_prices.csv)")
    currency_rates: dict[Annotated[str, Field(pattern=r"^[A-Z]{3}$")],
                         Annotated[float, Field(gt=0, allow_inf_nan=False)]] = Field(
        default_factory=dict, description="Units of a currency per 1 EUR (win over data/currency_rates.csv)")
    routes: Routes | None = Field(default=None, description="The same deliverable by several routes")

    @property
    def periods_per_year(self) -> float:
        """Engagement periods in a year: campaigns_per_year for a campaign, else 1."""
        return float(self.campaigns_per_year) if self.period_type == PeriodType.campaign else 1.0

    @property
    def reporting_year(self) -> int | None:
        """The year client-supplied values are dated by and the forecast starts from:
        base_year, else the first 4-digit year in the period, else None."""
        return int(self.base_year) if self.base_year else period_year(self.period)

    @field_validator("usage_logs")
    @classmethod
    def _inside_the_folder(cls, v: list[str]) -> list[str]:
        for item in v:
            entry = item if isinstance(item, str) else item.path
            path = PurePath(entry.replace("\\", "/"))
            if not entry.strip() or path.is_absolute() or ".." in path.parts or entry.strip().startswith("~"):
                raise ValueError(f"'{entry}': usage logs are given relative to the engagement folder, "
                                 "inside it (e.g. usage/*.parquet)")
        return v

    @field_validator("functional_units", mode="before")
    @classmethod
    def _functional_unit_shorthands(cls, v: object) -> object:
        """``[accepted asset, image]`` and ``{accepted asset: null, campaign: 4}`` are shorthands
        for the list of ``{functional_unit, R}``."""
        if isinstance(v, dict):
            return [{"functional_unit": k} if r is None else {"functional_unit": k, "R": r} for k, r in v.items()]
        if isinstance(v, list):
            return [{"functional_unit": x} if isinstance(x, str) else x for x in v]
        return v

    @field_validator("currency", "default_region", mode="before")
    @classmethod
    def _upper(cls, v: object) -> object:
        return v.strip().upper() if isinstance(v, str) else v

    @model_validator(mode="after")
    def _embodied_not_excluded(self) -> "Engagement":
        if self.embodied and any(e.category == 2 and e.reason for e in self.scope3_exclusions):
            raise ValueError("embodied is true but scope3_exclusions excludes category 2 (capital goods), where "
                             "embodied lines are reported: set 'embodied: false' or remove the exclusion")
        return self
