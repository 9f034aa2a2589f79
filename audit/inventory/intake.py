"""Discovery: read an engagement folder and validate it, reporting every problem at once.

An engagement folder holds ``engagement.yaml`` and ``activities.csv`` (or ``intake.xlsx``).
Validation is vectorised over the table and each problem names the file, row and column,
so a consultant can fix a client's spreadsheet in one pass.
"""
from __future__ import annotations

import io
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pint
import yaml
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError
from typing_extensions import is_typeddict

from audit.core.csvsafe import restore_cell
from audit.core.digests import file_sha256
from audit.core.exceptions import InputError, Problem, ValidationError
from audit.core.models import (
    ALL_COLUMNS, NUMERIC_COLUMNS, OPTIONAL_COLUMNS, REQUIRED_COLUMNS, Engagement, Kind, Ownership, period_year,
)
from audit.core.paths import ACTIVITIES_FILE, ENGAGEMENT_FILE
from audit.core.units import ambiguous_unit, conversion_factor
from audit.inventory.usage import engagement_usage
from audit.reference import pricing
from audit.reference.factors import cloud_regions, load_register
from audit.reference.measured import (
    MEASURABLE_KINDS, MEASURED_FILE, MODE_PREFIX, measured_factor_id, read_measured_factors, record_json,
)
from audit.reference.scopes import allowed_ownership, kinds_table
from audit.reference.settings import forecast_defaults
from audit.reference.settings import scorecard_factors as factors
from audit.reference.vocabularies import (
    PARAM_COUNT, hardware_ids, known_countries, providers, resolve_llm_model, suggest, suggest_region, valid_modes,
    video_models,
)

# Numeric columns' accepted ranges: (low, high, low_inclusive). None means unbounded.
RANGES = {
    "quantity": (0, None, True), "power_w": (0, None, False), "utilisation": (0, 1, False),
    "pue": (1, 5, True), "carbon_intensity_g_per_kwh": (0, 5000, True), "input_tokens": (0, None, True),
    "output_tokens": (0, None, True), "latency_s": (0, None, False), "accepted_fraction": (0, 1, False),
    "data_quality": (1, 5, True), "trips": (0, None, False), "gpus": (0, None, False),
    "serving_hours": (0, None, False), "batch_size": (1, None, True),
}


@dataclass
class LoadedEngagement:
    """A validated engagement: settings, the normalised activity table and input hashes."""

    engagement: Engagement
    activities: pd.DataFrame
    folder: Path
    input_files: dict[str, str] = field(default_factory=dict)  # name -> sha256
    warnings: list[str] = field(default_factory=list)


# --- engagement.yaml -----------------------------------------------------------------------

def _unwrap(tp):
    """Annotated[X, …] -> X; a union -> its structured member (model, TypedDict, list, dict)."""

    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated or (origin is not None and getattr(origin, "__name__", "") in
                                          ("Required", "NotRequired")):
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(tp) if a is not type(None)]
            structured = [m for m in members if typing.get_origin(m) in (list, dict) or is_typeddict(m)
                          or (isinstance(m, type) and issubclass(m, BaseModel))]
            tp = (structured or members)[0]
        else:
            return tp


def _keys_at(loc, model=Engagement) -> list[str]:
    """The keys allowed at a nested location of engagement.yaml (for 'did you mean' hints):
    a model's fields, a TypedDict's keys (interventions' applies_to, change, savings)."""

    tp = model
    for part in loc:
        tp = _unwrap(tp)
        origin = typing.get_origin(tp)
        if isinstance(part, int) and origin is list:
            tp = typing.get_args(tp)[0]
        elif isinstance(tp, type) and issubclass(tp, BaseModel) and str(part) in tp.model_fields:
            tp = tp.model_fields[str(part)].annotation
        elif is_typeddict(tp) and str(part) in tp.__annotations__:
            tp = typing.get_type_hints(tp, include_extras=True)[str(part)]
        elif origin is dict:
            tp = typing.get_args(tp)[1]
        else:
            return []
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return list(tp.model_fields)
    return list(tp.__annotations__) if is_typeddict(tp) else []


# Hints for values out of range, by the key they sit under.
RANGE_HINTS = {
    "usage_growth_per_year": "a fraction per year: 0.25 is +25 %, -0.5 is -50 %; -1 (all activity gone) is the least",
    "grid_decarbonisation_per_year": "the fall in grid intensity per year, a fraction from 0 up to (not including) 1, "
                                     "e.g. 0.03 for 3 %",
    "unit_costs": "a cost per unit in the engagement currency, 0 or more",
    "base_year": "a 4-digit year, e.g. 2025",
}


def _pydantic_problems(e: PydanticValidationError, name: str) -> list[Problem]:
    problems = []
    for err in e.errors():
        loc = tuple(p for p in err["loc"] if p != "[key]")
        key = ".".join(str(p) for p in loc)
        hint = None
        ctx = err.get("ctx") or {}
        if err["type"] == "extra_forbidden":
            allowed = _keys_at(loc[:-1])
            hint = suggest(str(loc[-1]), allowed)
            if not hint and allowed:
                hint = f"allowed: {', '.join(allowed)}"
            msg = "unknown key"
        elif err["type"] == "missing":
            msg = "required key is missing"
        elif err["type"] == "unknown_choice":  # audit.core.models._one_of: a kind, ownership… not in the vocabulary
            msg = str(err["msg"])
            choices = ctx.get("choices") or []
            hint = suggest(str(ctx.get("value", "")), choices) or f"allowed: {', '.join(choices)}"
        elif not loc:  # a rule across keys (e.g. embodied vs scope3_exclusions)
            msg = str(err["msg"]).removeprefix("Value error, ")
        else:
            msg = f"{str(err['msg']).removeprefix('Value error, ')} (got {err.get('input')!r})"
            if loc[-1] in ("default_region", "region") and isinstance(err.get("input"), str):
                hint = suggest_region(err["input"], known_countries())  # 'UK' -> 'GBR'
            hint = hint or next((h for k, h in RANGE_HINTS.items() if k in loc), None)
        problems.append(Problem(name, msg, column=key, hint=hint))
    return problems


def read_engagement_yaml(path: Path) -> Engagement:
    name = str(path)
    if not path.exists():
        raise ValidationError([Problem(name, "file not found", hint="run 'audit new NAME' to scaffold one")])
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ValidationError([Problem(name, f"is not UTF-8 text (byte {e.start})",
                                       hint="save it as UTF-8")]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        row = mark.line + 1 if mark else None
        raise ValidationError([Problem(name, f"is not valid YAML: {getattr(e, 'problem', e)}", row=row)]) from None
    if not isinstance(data, dict):
        raise ValidationError([Problem(name, "must be a mapping of keys to values (client: ..., period: ...)")])
    problems: list[Problem] = []
    engagement = None
    try:
        engagement = Engagement.model_validate(data)
    except PydanticValidationError as e:
        problems += _pydantic_problems(e, name)
    # Checks against the toolkit's tables run on the raw mapping, so that a file's problems
    # are all reported at once, whether or not the schema above passed.
    problems += engagement_problems(data, name)
    if problems:
        order = {k: n for n, k in enumerate(data)}  # in the file's key order
        problems.sort(key=lambda p: order.get((p.column or "").split(".")[0], -1))
        raise ValidationError(problems)
    return engagement


# --- engagement.yaml against the toolkit's tables -------------------------------------------------

def _mapping(value) -> dict:
    return value if isinstance(value, dict) else {}


def _sequence(value) -> list:
    return value if isinstance(value, list) else []


def engagement_problems(data: dict, file: str) -> list[Problem]:
    """What the schema cannot know: factor ids in the register, forecast keys that are kinds,
    countries and unit costs, regions an intervention moves work to, and a period the
    client-supplied values and the forecast can be dated by. Works on the raw mapping and
    skips entries of the wrong shape (the schema reports those)."""
    problems = _period_problems(data, file) + _override_problems(data, file)
    problems += _market_instrument_problems(data, file) + _scorecard_weight_problems(data, file)
    problems += _intervention_problems(data, file) + _money_problems(data, file)
    problems += forecast_problems(_mapping(data.get("forecast")), file, _savings_unit_costs(data),
                                  stages=[s for s in _sequence(data.get("stages")) if isinstance(s, str)])
    return problems


def _money_problems(data: dict, file: str) -> list[Problem]:
    """Price overrides (a new price id needs unit, currency and year) and a reference rate
    for the engagement currency and every override's currency (issue 12)."""
    problems: list[Problem] = []
    prices = data.get("prices")
    merged = {}
    if isinstance(prices, dict):
        try:
            merged = pricing.with_overrides(pricing.unit_prices(), prices, file=file)
        except ValidationError as e:
            problems += e.problems
    rates = set(pricing.currency_rates()) | {str(k) for k in _mapping(data.get("currency_rates"))}
    needed = {("currency", data.get("currency"))} | {(f"prices.{pid}.currency", merged[pid].currency)
                                                     for pid in _mapping(prices) if pid in merged}
    for column, cur in sorted(needed, key=str):
        cur = cur.strip().upper() if isinstance(cur, str) else cur
        if isinstance(cur, str) and len(cur) == 3 and cur not in rates:
            problems.append(Problem(file, f"no exchange rate for {cur}", column=column,
                                    hint=f"add it under currency_rates (units of {cur} per 1 EUR)"))
    return problems


def route_problems(engagement: Engagement, activity_ids: set[str], file: str) -> list[Problem]:
    """Every activity a route names must be an activity of the engagement."""
    problems = []
    for i, route in enumerate(engagement.routes.options if engagement.routes else []):
        for j, act in enumerate(route.activities):
            if act not in activity_ids:
                problems.append(Problem(file, f"route '{route.id}' names activity '{act}', which is not in the "
                                              f"activities", column=f"routes.options.{i}.activities.{j}"))
    return problems


def _period_problems(data: dict, file: str) -> list[Problem]:
    period = data.get("period")
    if data.get("base_year") is None and isinstance(period, str) and period.strip() \
            and period_year(period) is None:
        return [Problem(file, f"period '{period}' has no 4-digit year", column="period",
                        hint="write e.g. '2025' or '2025-04/2026-03', or add base_year: 2025, the year that "
                             "client-supplied values are dated by and the forecast starts from")]
    return []


def _market_instrument_problems(data: dict, file: str) -> list[Problem]:
    """Each instrument covers a known region, once, with one basis (GHG Protocol Scope 2:
    a supplier-specific factor OR a renewable share, not both)."""
    problems, seen = [], {}
    for i, inst in enumerate(_sequence(data.get("market_instruments"))):
        inst = _mapping(inst)
        region = inst.get("region")
        key = f"market_instruments.{i}"
        if isinstance(region, str) and region.strip():
            r = region.strip()
            known = r.lower() in cloud_regions() if ":" in r else r.upper() in known_countries()
            if not known:
                hint = (suggest(r.lower(), cloud_regions()) if ":" in r
                        else suggest_region(r, known_countries())) or "an ISO-3 country (GBR) or provider:region"
                problems.append(Problem(file, f"unknown region '{r}'", column=f"{key}.region", hint=hint))
            elif r.lower() in seen:
                problems.append(Problem(file, f"region '{r}' has two instruments", column=f"{key}.region",
                                        hint=f"first at market_instruments.{seen[r.lower()]}; keep one per region"))
            seen.setdefault(r.lower(), i)
        if inst.get("supplier_factor_g_per_kwh") is not None and inst.get("renewable_share") is not None:
            problems.append(Problem(file, "gives both supplier_factor_g_per_kwh and renewable_share", column=key,
                                    hint="one basis per instrument: the supplier's factor, or the certified share"))
        elif isinstance(region, str) and inst.get("supplier_factor_g_per_kwh") is None \
                and inst.get("renewable_share") is None:
            problems.append(Problem(file, "gives neither supplier_factor_g_per_kwh nor renewable_share",
                                    column=key, hint="add the basis the contract gives"))
    return problems


def _scorecard_weight_problems(data: dict, file: str) -> list[Problem]:
    names = factors()
    return [Problem(file, f"unknown scorecard factor '{k}'", column=f"scorecard_weights.{k}",
                    hint=suggest(str(k), names) or f"factors: {', '.join(names)}")
            for k in _mapping(data.get("scorecard_weights")) if k not in names]


def _override_problems(data: dict, file: str) -> list[Problem]:
    reg = load_register()
    ids = [_mapping(o).get("factor_id") for o in _sequence(data.get("factor_overrides"))]
    problems, seen = reg.unknown_override_problems(ids, file), {}
    for i, fid in enumerate(ids):
        if isinstance(fid, str) and fid in reg:
            if fid in seen:
                problems.append(Problem(file, f"factor '{fid}' is overridden twice",
                                        column=f"factor_overrides.{i}.factor_id",
                                        hint=f"first at factor_overrides.{seen[fid]}; keep one"))
            seen.setdefault(fid, i)
    return sorted(problems, key=lambda p: int(p.column.split(".")[1]))  # in the file's order


def _savings_unit_costs(data: dict) -> set[str]:
    """Unit-cost names the engagement's own interventions price their savings with."""
    return {name for iv in _sequence(data.get("interventions")) for sv in _sequence(_mapping(iv).get("savings"))
            if isinstance(name := _mapping(sv).get("unit_cost"), str)}


def _intervention_problems(data: dict, file: str) -> list[Problem]:
    problems, seen = [], {}
    own_costs = set(_mapping(_mapping(data.get("forecast")).get("unit_costs")))
    costs = sorted(set(forecast_defaults().get("unit_costs") or {}) | own_costs)
    countries, regions = known_countries(), cloud_regions()
    for i, iv in enumerate(_sequence(data.get("interventions"))):
        iv = _mapping(iv)
        if isinstance(iv.get("id"), str):
            if iv["id"] in seen:
                problems.append(Problem(file, f"intervention id '{iv['id']}' is used twice",
                                        column=f"interventions.{i}.id",
                                        hint=f"first at interventions.{seen[iv['id']]}; the same id as a library "
                                             "intervention replaces it, once"))
            seen.setdefault(iv["id"], i)
        # Savings are priced by name: an unknown name fails in notebook 03 (KeyError).
        for j, sv in enumerate(_sequence(iv.get("savings"))):
            name = _mapping(sv).get("unit_cost")
            if isinstance(name, str) and name not in costs:
                problems.append(Problem(file, f"unknown unit cost '{name}'",
                                        column=f"interventions.{i}.savings.{j}.unit_cost",
                                        hint=suggest(name, costs)
                                        or f"define it under forecast: unit_costs: {{{name}: cost per unit}}"))
        # A region or country the change moves work to must have a grid factor.
        moved = _mapping(_mapping(iv.get("change")).get("set"))
        for col in ("region", "country"):
            value = moved.get(col)
            if not isinstance(value, str) or value == "":
                continue
            ok = value in countries or (col == "region" and value.lower() in regions)
            if not ok:
                hint = (suggest_region(value, countries) if ":" not in value else suggest(value.lower(), regions))
                problems.append(Problem(file, f"unknown {col} '{value}'", column=f"interventions.{i}.change.set.{col}",
                                        hint=hint or "use an ISO 3166 alpha-3 code such as SWE"
                                        + (", or provider:region" if col == "region" else "")))
    return problems


def forecast_problems(forecast: dict, file: str, savings_costs: set[str] | None = None,
                      prefix: str = "forecast.", stages: list[str] | None = None) -> list[Problem]:
    """Unknown keys inside forecast settings: growth by kind (data/kinds.csv) or by a stage
    listed under the engagement's ``stages`` (a stage's rate wins over its kinds'), grid
    decarbonisation by ISO-3 country or 'default', unit costs by the names in
    data/forecast_defaults.yaml or a name the engagement's interventions price savings with.
    (Ranges are the schema's: audit.core.models.ForecastSettings.)"""
    problems = []
    kinds = list(kinds_table().index)
    stages = list(stages or [])
    for k in _mapping(forecast.get("usage_growth_per_year")):
        if k not in kinds and k not in stages:
            norm = str(k).strip().lower().replace(" ", "_").replace("-", "_")
            hint = (f"did you mean '{norm}'?" if norm in kinds else suggest(str(k), kinds + stages)) or \
                (f"growth is given by kind ({', '.join(kinds)}) or by a stage listed under 'stages'")
            problems.append(Problem(file, f"unknown kind or stage '{k}'", column=f"{prefix}usage_growth_per_year.{k}",
                                    hint=hint))
    countries, regions = known_countries(), cloud_regions()
    for k in _mapping(forecast.get("grid_decarbonisation_per_year")):
        if k == "default" or k in countries:
            continue
        text = str(k).strip()
        if text.lower() == "default":
            hint = "did you mean 'default'?"
        elif text.upper() in countries:
            hint = f"did you mean '{text.upper()}'? Countries are upper-case ISO 3166 alpha-3 codes"
        elif text.lower() in regions:
            hint = f"decarbonisation is given by country: use '{regions[text.lower()]}' for {text}"
        else:
            hint = suggest_region(text, countries) or "use an ISO 3166 alpha-3 code such as GBR, or 'default'"
        problems.append(Problem(file, f"unknown country '{k}'", column=f"{prefix}grid_decarbonisation_per_year.{k}",
                                hint=hint))
    shipped = sorted(forecast_defaults().get("unit_costs") or {})
    used = savings_costs or set()
    for k in _mapping(forecast.get("unit_costs")):
        if k not in shipped and k not in used:
            hint = suggest(str(k), shipped) or (f"known: {', '.join(shipped)}; a new name must be priced by an "
                                                 "intervention's savings (unit_cost)")
            problems.append(Problem(file, f"unknown unit cost '{k}'", column=f"{prefix}unit_costs.{k}", hint=hint))
    return problems


# --- activities table ----------------------------------------------------------------------

def read_activities_csv(path: Path) -> pd.DataFrame:
    """Read the CSV as strings (so we can say exactly what was wrong), BOM and all."""
    name = str(path)
    if not path.exists():
        raise ValidationError([Problem(name, "file not found")])
    if path.is_dir():
        raise ValidationError([Problem(name, "is a folder, not a CSV file",
                                       hint="give its activities.csv, or use a command that takes an engagement folder")])
    raw = path.read_bytes()
    if not raw.strip():
        raise ValidationError([Problem(name, "file is empty", hint="it needs a header row and at least one activity")])
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise ValidationError([Problem(name, f"is not UTF-8 text (bad byte 0x{raw[e.start]:02x})", row=line,
                                       hint="re-save as 'CSV UTF-8' from Excel")]) from None
    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skipinitialspace=True,
                         skip_blank_lines=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise ValidationError([Problem(name, f"could not be read as CSV: {e}")]) from None
    # Index = the row number a person sees (header is row 1); blank lines are dropped after.
    df.index = np.arange(len(df)) + 2
    blank = (df.apply(lambda col: col.str.strip()) == "").all(axis=1)
    # A CSV we wrote (estimate-usage --activities) guards formula-like text with "'": read it back as written.
    return df[~blank].map(lambda v: restore_cell(v.strip()))


def normalise_headers(df: pd.DataFrame, file: str, sheet: str | None = None) -> tuple[pd.DataFrame, list[Problem]]:
    """Accept trailing spaces and case differences in headers; flag missing and unknown ones."""
    problems: list[Problem] = []
    df = df.rename(columns=lambda c: str(c).strip().lower().replace(" ", "_"))
    cols = list(df.columns)
    unknown = [c for c in cols if c not in ALL_COLUMNS and not c.startswith("unnamed:")]
    for c in REQUIRED_COLUMNS:
        if c not in cols:
            problems.append(Problem(file, "required column is missing", sheet=sheet, column=c,
                                    hint=suggest(c, unknown)))
    for c in unknown:
        problems.append(Problem(file, "unknown column", sheet=sheet, column=c,
                                hint=suggest(c, ALL_COLUMNS) or f"allowed: {', '.join(ALL_COLUMNS)}"))
    dup = [c for c in set(cols) if cols.count(c) > 1]
    for c in dup:
        problems.append(Problem(file, "column appears more than once", sheet=sheet, column=c))
    # Blank trailing columns from spreadsheets ("Unnamed: 7") carry nothing; drop them.
    df = df[[c for c in cols if not c.startswith("unnamed:")]] if not dup else df
    for c in OPTIONAL_COLUMNS:
        if c not in df.columns:
            df[c] = ""
    return df, problems


def check_activity_table(raw: pd.DataFrame, engagement: Engagement, file: str,
                         sheet: str | None = None) -> tuple[pd.DataFrame, list[Problem], list[str]]:
    """Headers, then every row, with all problems of the file in one list: a missing or
    unknown column does not hide the rows' own problems (a repeated column does, as its
    cells cannot be told apart). Row problems in a missing column are not repeated."""
    df, header = normalise_headers(raw, file, sheet)
    if any(p.message == "column appears more than once" for p in header):
        return df, header, []
    missing = {p.column for p in header if p.message == "required column is missing"}
    for c in missing:
        df[c] = ""
    df, rows, warnings = validate_activities(df, engagement, file, sheet)
    return df, header + [p for p in rows if p.column not in missing], warnings


def validate_activities(df: pd.DataFrame, engagement: Engagement, file: str,
                        sheet: str | None = None) -> tuple[pd.DataFrame, list[Problem], list[str]]:
    """Check every cell and return (normalised table, problems, warnings).

    ``df.index`` holds the row numbers a person sees in the file (header = row 1).
    """
    problems: list[Problem] = []
    warnings: list[str] = []
    rows = pd.Series(df.index.astype(int), index=df.index)

    def bad(mask: pd.Series, column: str, message, hint=None) -> None:
        for i in df.index[mask.to_numpy()]:
            msg = message(i) if callable(message) else message
            h = hint(i) if callable(hint) else hint
            problems.append(Problem(file, msg, row=int(rows[i]), column=column, sheet=sheet, hint=h))

    df = df.copy()
    for c in ALL_COLUMNS:
        df[c] = df[c].astype(str).str.strip().replace({"nan": "", "None": ""})
    if df.empty:
        problems.append(Problem(file, "has a header but no activities", sheet=sheet))
        return df, problems, warnings

    # Identity and text.
    bad(df["activity_id"] == "", "activity_id", "is empty")
    dup = df["activity_id"].duplicated(keep="first") & (df["activity_id"] != "")
    first_seen = {a: int(rows[i]) for i, a in df["activity_id"][~dup].items()}
    bad(dup, "activity_id", lambda i: f"duplicate id '{df.at[i, 'activity_id']}'",
        lambda i: f"first used on row {first_seen.get(df.at[i, 'activity_id'])}")
    bad(df["stage"] == "", "stage", "is empty", "name the pipeline stage, e.g. 'Ideation'")

    # Kind: case-insensitive, with near matches.
    kinds = [k.value for k in Kind]
    df["kind"] = df["kind"].str.lower().str.replace(" ", "_").str.replace("-", "_")
    bad(~df["kind"].isin(kinds), "kind", lambda i: f"unknown kind '{df.at[i, 'kind']}'",
        lambda i: suggest(df.at[i, "kind"], kinds) or f"allowed: {', '.join(kinds)}")
    kind_ok = df["kind"].isin(kinds)

    # Numbers: parse, then check ranges.
    for c in NUMERIC_COLUMNS:
        # Commas only as thousands separators ("1,000"); "1,5" is a decimal comma: ambiguous.
        thousands = df[c].str.fullmatch(r"-?\d{1,3}(,\d{3})+(\.\d*)?")
        decimal_comma = df[c].str.contains(",", regex=False) & ~thousands
        text = df[c].where(~thousands, df[c].str.replace(",", "", regex=False)).str.replace("_", "", regex=False)
        num = pd.to_numeric(text.where(~decimal_comma, "x"), errors="coerce").astype(float)
        blank = df[c] == ""
        if c == "quantity":
            bad(blank, c, "is empty", "give the amount in the row's unit")
        bad(decimal_comma, c, lambda i, c=c: f"'{df.at[i, c]}' uses a comma", "use a decimal point, e.g. 1.5")
        nonnum = num.isna() & ~blank & ~decimal_comma
        bad(nonnum, c, lambda i, c=c: f"'{df.at[i, c]}' is not a number")
        inf = np.isinf(num.fillna(0))
        bad(inf, c, "must be a finite number")
        lo, hi, lo_incl = RANGES[c]
        ok = ~num.isna() & ~inf
        if lo is not None:
            below = ok & ((num < lo) if lo_incl else (num <= lo))
            bad(below, c, lambda i, c=c: f"{df.at[i, c]} is out of range",
                f"must be {'at least' if lo_incl else 'greater than'} {lo}" + (f" and at most {hi}" if hi is not None else ""))
            ok &= ~below
        if hi is not None:
            above = ok & (num > hi)
            bad(above, c, lambda i, c=c: f"{df.at[i, c]} is out of range", f"must be at most {hi}")
        df[c] = num.where(ok, np.nan)
    dq_frac = df["data_quality"].notna() & (df["data_quality"] % 1 != 0)
    bad(dq_frac, "data_quality", "must be a whole number from 1 (measured) to 5 (spend-based)")

    # Units: known and convertible to the kind's base unit (pint).
    kt = kinds_table()
    df["base_unit"] = df["kind"].map(kt["base_unit"]).fillna("")
    factors = np.full(len(df), np.nan)
    for pos, (i, unit, base) in enumerate(zip(df.index, df["unit"], df["base_unit"])):
        if not base:
            continue
        ambiguous = ambiguous_unit(unit)  # any part of it: "ton*km" is as ambiguous as "ton"
        if ambiguous:
            word, hint = ambiguous
            what = f"unit '{unit}' is ambiguous" + ("" if word == unit.strip() else f" ('{word}')")
            problems.append(Problem(file, what, row=int(rows[i]), column="unit", sheet=sheet, hint=hint))
            continue
        if unit == "":
            problems.append(Problem(file, "is empty", row=int(rows[i]), column="unit", sheet=sheet,
                                    hint=f"the base unit for {df.at[i, 'kind']} is {base}"))
            continue
        try:
            factors[pos] = conversion_factor(unit, base)
        except pint.DimensionalityError:
            problems.append(Problem(file, f"unit '{unit}' cannot be converted to {base}", row=int(rows[i]),
                                    column="unit", sheet=sheet,
                                    hint=f"{df.at[i, 'kind']} is counted in {base}"))
        except Exception:  # noqa: BLE001 - pint raises many parse errors for one mistake
            problems.append(Problem(file, f"unknown unit '{unit}'", row=int(rows[i]), column="unit", sheet=sheet,
                                    hint=suggest(unit, ["kWh", "MWh", "litre", "imperial_gallon", "US_gallon", "passenger_km",
                                                        "passenger_mile", "room_night", "tonne_km", "gpu_hour",
                                                        "vcpu_hour", "request", "image", "video_second",
                                                        "tb_month", "GB", "TB"]) or f"use {base}"))
    df["unit_factor"] = factors
    df["quantity_base"] = df["quantity"] * df["unit_factor"]

    # Provider (before ownership: a provider implies a purchased service by default).
    prov = providers()
    df["provider"] = df["provider"].str.lower()
    unknown_p = (df["provider"] != "") & ~df["provider"].isin(prov.index)
    bad(unknown_p, "provider", lambda i: f"unknown provider '{df.at[i, 'provider']}'",
        lambda i: suggest(df.at[i, "provider"], prov.index) or f"known: {', '.join(prov.index)}")
    df["provider_canonical"] = df["provider"].map(prov["provider"]).fillna("")

    # Ownership: default by kind, then check the (kind, ownership) pair has a scope rule.
    df["ownership"] = df["ownership"].str.lower().str.replace(" ", "_")
    owners = [o.value for o in Ownership]
    bad((df["ownership"] != "") & ~df["ownership"].isin(owners), "ownership",
        lambda i: f"unknown ownership '{df.at[i, 'ownership']}'",
        lambda i: suggest(df.at[i, "ownership"], owners) or f"allowed: {', '.join(owners)}")
    default_own = np.where(df["provider"] != "", df["kind"].map(kt["default_ownership_with_provider"]),
                           df["kind"].map(kt["default_ownership"]))
    df["ownership"] = df["ownership"].where(df["ownership"] != "", pd.Series(default_own, index=df.index).fillna(""))
    for i in df.index[kind_ok & df["ownership"].isin(owners)]:
        allowed = allowed_ownership(df.at[i, "kind"])
        if df.at[i, "ownership"] not in allowed:
            problems.append(Problem(file, f"ownership '{df.at[i, 'ownership']}' is not valid for {df.at[i, 'kind']}",
                                    row=int(rows[i]), column="ownership", sheet=sheet,
                                    hint=f"allowed: {', '.join(allowed)}"))

    # Region: ISO-3, provider:cloud-region, or blank (the engagement default).
    regions = cloud_regions()
    countries = known_countries()
    df["region"] = df["region"].where(df["region"].str.contains(":"), df["region"].str.upper())
    blank_r = df["region"] == ""
    is_cloud = df["region"].str.contains(":")
    cloud_key = df["region"].str.lower()
    bad(is_cloud & ~cloud_key.isin(regions), "region", lambda i: f"unknown cloud region '{df.at[i, 'region']}'",
        lambda i: suggest(df.at[i, "region"].lower(), regions) or "use provider:region, e.g. aws:eu-west-2")
    bad(~blank_r & ~is_cloud & ~df["region"].isin(countries), "region",
        lambda i: f"unknown region '{df.at[i, 'region']}'",
        lambda i: suggest_region(df.at[i, "region"], countries) or "use an ISO 3166 alpha-3 code such as GBR")
    df["region"] = df["region"].where(~is_cloud, cloud_key)
    df["country"] = np.where(is_cloud, cloud_key.map(regions).fillna(""), df["region"])

    # Modes, models and kind-specific needs.
    df["mode"] = df["mode"].str.lower().str.replace(" ", "_").str.replace("-", "_")
    # measured:<factor_id> (audit measure): the id normalised as measured_factors.csv stores it.
    measured_ids = df["mode"].map(measured_factor_id)
    is_measured = measured_ids.notna()
    df.loc[is_measured, "mode"] = MODE_PREFIX + measured_ids[is_measured]
    df["measured_factor"] = ""  # filled by attach_measured_factors (needs the engagement folder)
    df["model"] = df["model"]
    _check_kind_specifics(df, rows, file, sheet, problems, warnings, engagement)

    # Data quality default per kind; a measured factor is primary data (1).
    dq_default = pd.to_numeric(df["kind"].map(kt["default_data_quality"]), errors="coerce")
    dq_default = dq_default.where(~is_measured, 1)
    df["data_quality"] = df["data_quality"].fillna(dq_default)
    df["row_number"] = rows
    return df, problems, warnings


def attach_measured_factors(df: pd.DataFrame, folder: Path, file: str, sheet: str | None = None) -> list[Problem]:
    """Give each ``measured:<factor_id>`` row its record from ``folder/measured_factors.csv``
    (column ``measured_factor``, JSON), so the estimate is self-contained. Returns problems."""
    problems: list[Problem] = []
    ids = df["mode"].map(measured_factor_id)
    if not ids.notna().any():
        return problems
    mf_file = str(Path(folder) / MEASURED_FILE)
    try:
        table = read_measured_factors(folder)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        return [Problem(mf_file, f"could not be read: {exc}")]
    for i in df.index[ids.notna()]:
        fid, kind = ids[i], df.at[i, "kind"]
        r = int(df.at[i, "row_number"]) if "row_number" in df.columns else None
        if fid not in table.index:
            hint = suggest(fid, table.index) or (f"known: {', '.join(table.index)}" if len(table) else
                                                 f"run 'audit measure --factor-id {fid} ...' first")
            problems.append(Problem(file, f"measured factor '{fid}' is not in {MEASURED_FILE}", row=r,
                                    column="mode", sheet=sheet, hint=hint))
            continue
        rec = table.loc[fid]
        if rec["kind"] != kind:
            problems.append(Problem(file, f"measured factor '{fid}' was measured per {rec['unit']} ({rec['kind']}), "
                                    f"not for {kind}", row=r, column="mode", sheet=sheet))
            continue
        df.at[i, "measured_factor"] = record_json(rec)
    return problems


def _check_kind_specifics(df, rows, file, sheet, problems, warnings, engagement) -> None:

    # Plain dicts: a usage log's activities table has thousands of rows, and df.at is slow.
    for i, rec in zip(df.index, df.to_dict("records")):
        kind = rec["kind"]
        r = int(rows[i])
        modes = valid_modes(kind)
        mode = rec["mode"]
        is_measured = measured_factor_id(mode) is not None
        if modes is not None and mode and mode not in modes and not is_measured:
            problems.append(Problem(file, f"unknown mode '{mode}' for {kind}", row=r, column="mode", sheet=sheet,
                                    hint=suggest(mode, modes) or f"allowed: {', '.join(sorted(modes)[:12])}…"))
        if is_measured:
            if kind not in MEASURABLE_KINDS:
                problems.append(Problem(file, f"mode '{mode}': measured factors apply to {', '.join(MEASURABLE_KINDS)}, "
                                        f"not {kind}", row=r, column="mode", sheet=sheet))
            elif not measured_factor_id(mode):
                problems.append(Problem(file, "mode 'measured:' needs a factor id", row=r, column="mode", sheet=sheet,
                                        hint="e.g. measured:render_batch (the id given to audit measure)"))
            _embodied_warning(df, i, r, file, warnings, engagement)
            _accepted_fraction_warning(df, i, r, file, warnings)
            continue  # the measured factor replaces the model: no model, tokens or hardware needed
        _embodied_warning(df, i, r, file, warnings, engagement)
        has_power = not math.isnan(rec["power_w"])
        if kind in ("llm_api", "image_generation") and has_power and math.isnan(rec["latency_s"]):
            problems.append(Problem(file, f"{kind} with power_w also needs latency_s (seconds per "
                                    f"{'request' if kind == 'llm_api' else 'image'}) to turn power into energy",
                                    row=r, column="latency_s", sheet=sheet))
        if kind == "llm_api":
            if math.isnan(rec["output_tokens"]):
                problems.append(Problem(file, "llm_api needs output_tokens (per request)", row=r,
                                        column="output_tokens", sheet=sheet))
            model = rec["model"]
            if not model and not has_power:
                problems.append(Problem(file, "llm_api needs a model (e.g. gpt-4o-mini, or a size such as 8B)",
                                        row=r, column="model", sheet=sheet))
            elif model and not PARAM_COUNT.match(model) and not has_power:
                found, hint = resolve_llm_model(rec["provider"], model)
                if found is None:
                    problems.append(Problem(file, f"unknown model '{model}'"
                                            + (f" for provider '{df.at[i, 'provider']}'" if rec["provider"] else ""),
                                            row=r, column="model", sheet=sheet, hint=hint))
        elif kind == "video_generation":
            model = rec["model"]
            if model and model not in video_models() and math.isnan(rec["power_w"]):
                problems.append(Problem(file, f"unknown video model '{model}'", row=r, column="model", sheet=sheet,
                                        hint=suggest(model, video_models())))
        elif kind == "gpu_compute":
            hw = rec["hardware"].lower()
            if math.isnan(rec["power_w"]):
                if not hw:
                    problems.append(Problem(file, "gpu_compute needs power_w or a hardware model", row=r,
                                            column="hardware", sheet=sheet, hint=suggest("a100", hardware_ids())))
                elif hw not in hardware_ids():
                    problems.append(Problem(file, f"unknown hardware '{df.at[i, 'hardware']}'", row=r,
                                            column="hardware", sheet=sheet,
                                            hint=suggest(hw, hardware_ids()) or "or give power_w"))
        _accepted_fraction_warning(df, i, r, file, warnings)


def _accepted_fraction_warning(df, i, r, file, warnings) -> None:
    if 0 < df.at[i, "accepted_fraction"] <= 1 and df.at[i, "kind"] not in ("image_generation", "video_generation",
                                                                             "llm_api"):
        warnings.append(f"{file}, row {r}: accepted_fraction is only used for generative kinds; ignored")


def _embodied_warning(df, i, r, file, warnings, engagement) -> None:
    """Owned accelerator rows that will get no embodied line (estimate.embodied_eligible):
    say so rather than drop it silently."""
    if not getattr(engagement, "embodied", True) or df.at[i, "ownership"] not in ("owned", "leased"):
        return
    kind = df.at[i, "kind"]
    if kind == "gpu_compute" and not df.at[i, "hardware"]:
        warnings.append(f"{file}, row {r}: no embodied line for owned GPU-hours without a hardware model; "
                        "name the hardware (e.g. nvidia-a100-sxm) to count its embodied emissions")
    elif ((kind == "image_generation" or (kind == "llm_api" and measured_factor_id(df.at[i, "mode"])))
          and df.at[i, "hardware"] and math.isnan(df.at[i, "latency_s"])):
        unit = "image" if kind == "image_generation" else "request"
        warnings.append(f"{file}, row {r}: no embodied line for owned {kind} without latency_s "
                        f"(seconds per {unit}); give it to count the GPUs' embodied emissions")


def load_engagement(folder: str | Path) -> LoadedEngagement:
    """Read and validate an engagement folder. Raises ``ValidationError`` listing every problem."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: engagement folder not found")
    yaml_path = folder / ENGAGEMENT_FILE
    engagement = read_engagement_yaml(yaml_path)
    csv_path = folder / ACTIVITIES_FILE
    xlsx_path = folder / "intake.xlsx"
    # `audit new` writes both; the one edited last is the one someone filled in.
    use_xlsx = xlsx_path.exists() and (not csv_path.exists()
                                       or xlsx_path.stat().st_mtime > csv_path.stat().st_mtime)
    both_note = None
    if csv_path.exists() and xlsx_path.exists():
        chosen, other = (xlsx_path, csv_path) if use_xlsx else (csv_path, xlsx_path)
        both_note = (f"{folder.resolve().name}: activities read from {chosen.name}, the more recently "
                     f"changed of {chosen.name} and {other.name}; delete the other to silence this")
    if use_xlsx:
        from audit.inventory.workbook import read_intake_workbook  # noqa: PLC0415 - loads openpyxl: only for intake.xlsx

        raw, sheet = read_intake_workbook(xlsx_path)
        data_path = xlsx_path
    elif csv_path.exists():
        raw, sheet, data_path = read_activities_csv(csv_path), None, csv_path
    else:
        raise ValidationError([Problem(str(csv_path), "file not found",
                                       hint="an engagement needs activities.csv or intake.xlsx")])
    file = str(data_path)
    df, problems, warnings = check_activity_table(raw, engagement, file, sheet)
    problems += attach_measured_factors(df, folder, file, sheet) if not problems else []
    if problems:
        raise ValidationError(problems)
    usage_df, usage_hashes, usage_warnings = _usage_log_activities(folder, engagement, yaml_path)
    if usage_df is not None:
        clash = sorted(set(df["activity_id"]) & set(usage_df["activity_id"]))
        if clash:
            raise ValidationError([Problem(file, f"activity id '{clash[0]}' is also given to a usage-log activity",
                                           column="activity_id", hint="ids USG-… are reserved for usage logs")])
        df = pd.concat([df, usage_df], ignore_index=True)
    # A route naming an activity that is not there is reported, located, and its figures are
    # left unknown (never a partial sum); the rest of the audit runs.
    route_warnings = [f"{p.file}, key '{p.column}': {p.message}" for p in
                      route_problems(engagement, set(df["activity_id"]), str(yaml_path))]
    # Warnings travel into client reports: name files as "<engagement>/<file>", never by a
    # path on the consultant's machine. (Errors keep the path the consultant typed.)
    display = f"{folder.resolve().name}/{data_path.name}"
    warnings = [w.replace(file, display, 1) for w in warnings]
    if both_note:
        warnings.insert(0, both_note)
    warnings += usage_warnings + [w.replace(str(yaml_path), f"{folder.resolve().name}/{yaml_path.name}", 1)
                                  for w in route_warnings]
    hashes = {p.name: file_sha256(p) for p in (yaml_path, data_path)} | usage_hashes
    if (folder / MEASURED_FILE).exists() and df["measured_factor"].ne("").any():
        hashes[MEASURED_FILE] = file_sha256(folder / MEASURED_FILE)
    return LoadedEngagement(engagement, df.reset_index(drop=True), folder, hashes, warnings)


def _usage_log_activities(folder: Path, engagement: Engagement, yaml_path: Path):
    """engagement.yaml › usage_logs as validated llm_api activities (stage × model × region ×
    month, ids USG-…), their files' hashes and a note; (None, {}, []) when it lists none.
    Problems in a log are located in the log (file, row, column) by ``audit.inventory.usage``."""
    if not engagement.usage_logs:
        return None, {}, []

    result = engagement_usage(folder, engagement.usage_logs, engagement.default_region)
    acts = result.to_activities(prefix="USG")
    # As strings, the way a CSV arrives (repr of a float round-trips exactly).
    raw = pd.DataFrame({c: ["" if (isinstance(v, float) and math.isnan(v)) else str(v) for v in acts[c]]
                        for c in acts.columns})
    raw.index = pd.RangeIndex(2, len(raw) + 2)
    file = f"{yaml_path} › usage_logs (generated activities)"
    df, problems, _ = check_activity_table(raw, engagement, file)
    if problems:
        raise ValidationError(problems)
    root = folder.resolve()
    files = [Path(f) for f in result.sources]  # the files engagement_usage resolved, checked and hashed
    hashes = {f.resolve().relative_to(root).as_posix(): result.sha256[str(f)] for f in files}
    t = result.totals
    note = (f"{folder.resolve().name}: {t['requests']:,} requests in {len(files)} usage log file(s) became "
            f"{len(df):,} llm_api activities ({df['activity_id'].iloc[0]} to {df['activity_id'].iloc[-1]}) "
            "by stage × model × region × month; the hour-by-hour view is in notebook 01")
    return df, hashes, [note]


def load_activities_file(path: str | Path, engagement: Engagement | None = None) -> LoadedEngagement:
    """Validate a bare activities CSV (``audit estimate``), with a default engagement if none."""
    path = Path(path)
    engagement = engagement or Engagement(client="(ad hoc)", period="n/a", currency="GBP",
                                          carbon_price_per_tonne=0, default_region="GBR")
    df, problems, warnings = check_activity_table(read_activities_csv(path), engagement, str(path))
    problems += attach_measured_factors(df, path.parent, str(path)) if not problems else []
    if problems:
        raise ValidationError(problems)
    hashes = {path.name: file_sha256(path)}
    if (path.parent / MEASURED_FILE).exists() and df["measured_factor"].ne("").any():
        hashes[MEASURED_FILE] = file_sha256(path.parent / MEASURED_FILE)
    return LoadedEngagement(engagement, df.reset_index(drop=True), path.parent, hashes, warnings)
