"""Discovery: read an engagement folder and validate it, reporting every problem at once.

An engagement folder holds ``engagement.yaml`` and ``activities.csv`` (or ``intake.xlsx``).
Validation is vectorised over the table and each problem names the file, row and column,
so a consultant can fix a client's spreadsheet in one pass.
"""
from __future__ import annotations

import csv
import io
import math
import re
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pint
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError
from typing_extensions import is_typeddict

from audit.core.csvsafe import restore_cell
from audit.core.digests import file_sha256
from audit.core.exceptions import InputError, Problem, ValidationError
from audit.core.identifiers import comparison_key, excerpt, identifier_problem, lookalike_difference
from audit.methods.energy import IMAGE_MODE_HELP, parse_image_mode
from audit.core.models import (
    ALL_COLUMNS, NUMERIC_COLUMNS, OPTIONAL_COLUMNS, REQUIRED_COLUMNS, Engagement, Kind, Ownership, period_year,
)
from audit.core.numeric import overflow_mask, overflow_message, parse_number_column
from audit.core.paths import ACTIVITIES_FILE, ENGAGEMENT_FILE
from audit.core.safefiles import read_input_bytes, resolve_input
from audit.core.safeyaml import MAX_YAML_BYTES, load_yaml
from audit.core.textinput import HEAD_BYTES, decode_text, detect_encoding, oversized_cells
from audit.core.unitguard import check_unit_text
from audit.core.units import ambiguous_unit, conversion_factor
from audit.inventory.usage import engagement_log_files_and_notes, engagement_usage_sums
from audit.reference import pricing
from audit.reference.factors import cloud_regions, load_register
from audit.reference.measured import (
    MEASURABLE_KINDS, MEASURED_FILE, MODE_PREFIX, measured_factor_id, read_measured_factors, record_json,
)
from audit.reference.scopes import allowed_ownership, kinds_table
from audit.reference.settings import forecast_defaults
from audit.reference.settings import scorecard_factors as factors
from audit.inventory.usage_import import media_activities
from audit.inventory.usage_import.aliases import (
    resolve_model_alias,
    resolve_video_model,
    runway_credit_rate,
    runway_credits,
    video_seconds_from_credits,
)
from audit.reference.vocabularies import (
    PARAM_COUNT, hardware_ids, known_countries, providers, read_region_alias, read_unit_alias, resolve_llm_model, suggest,
    suggest_region, valid_modes, video_models,
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
            msg = f"{str(err['msg']).removeprefix('Value error, ')} (got '{excerpt(err.get('input'))}')"
            if loc[-1] in ("default_region", "region") and isinstance(err.get("input"), str):
                hint = suggest_region(err["input"], known_countries())  # 'UK' -> 'GBR'
            hint = hint or next((h for k, h in RANGE_HINTS.items() if k in loc), None)
        problems.append(Problem(name, msg, column=key, hint=hint))
    return problems


def read_engagement_yaml(path: Path) -> Engagement:
    name = str(path)
    if not path.exists() and not path.is_symlink():
        raise ValidationError([Problem(name, "file not found", hint="run 'audit new NAME' to scaffold one")])
    # Inside the engagement folder, a regular file, then parsed with alias, depth, size and
    # duplicate-key caps (issue 17: a 1.7 KB alias bomb was a 35 MB message, then a traceback).
    real = resolve_input(path, path.parent, what="engagement file", max_bytes=MAX_YAML_BYTES)
    data = load_yaml(real, source=name)
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
        return [Problem(file, f"period '{excerpt(period)}' has no 4-digit year", column="period",
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
                problems.append(Problem(file, f"unknown region '{excerpt(r)}'", column=f"{key}.region", hint=hint))
            elif r.lower() in seen:
                problems.append(Problem(file, f"region '{excerpt(r)}' has two instruments", column=f"{key}.region",
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
    return [Problem(file, f"unknown scorecard factor '{excerpt(k)}'", column=f"scorecard_weights.{k}",
                    hint=suggest(str(k), names) or f"factors: {', '.join(names)}")
            for k in _mapping(data.get("scorecard_weights")) if k not in names]


def _override_problems(data: dict, file: str) -> list[Problem]:
    reg = load_register()
    ids = [_mapping(o).get("factor_id") for o in _sequence(data.get("factor_overrides"))]
    problems, seen = reg.unknown_override_problems(ids, file), {}
    for i, fid in enumerate(ids):
        if isinstance(fid, str) and fid in reg:
            if fid in seen:
                problems.append(Problem(file, f"factor '{excerpt(fid)}' is overridden twice",
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
                problems.append(Problem(file, f"intervention id '{excerpt(iv['id'])}' is used twice",
                                        column=f"interventions.{i}.id",
                                        hint=f"first at interventions.{seen[iv['id']]}; the same id as a library "
                                             "intervention replaces it, once"))
            seen.setdefault(iv["id"], i)
        # Savings are priced by name: an unknown name fails in notebook 03 (KeyError).
        for j, sv in enumerate(_sequence(iv.get("savings"))):
            name = _mapping(sv).get("unit_cost")
            if isinstance(name, str) and name not in costs:
                problems.append(Problem(file, f"unknown unit cost '{excerpt(name)}'",
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
                problems.append(Problem(file, f"unknown {col} '{excerpt(value)}'", column=f"interventions.{i}.change.set.{col}",
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
            problems.append(Problem(file, f"unknown kind or stage '{excerpt(k)}'", column=f"{prefix}usage_growth_per_year.{k}",
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
        problems.append(Problem(file, f"unknown country '{excerpt(k)}'", column=f"{prefix}grid_decarbonisation_per_year.{k}",
                                hint=hint))
    shipped = sorted(forecast_defaults().get("unit_costs") or {})
    used = savings_costs or set()
    for k in _mapping(forecast.get("unit_costs")):
        if k not in shipped and k not in used:
            hint = suggest(str(k), shipped) or (f"known: {', '.join(shipped)}; a new name must be priced by an "
                                                 "intervention's savings (unit_cost)")
            problems.append(Problem(file, f"unknown unit cost '{excerpt(k)}'", column=f"{prefix}unit_costs.{k}", hint=hint))
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
    # A regular file under the size cap, inside its folder (not /dev/zero, a FIFO, or a link
    # to another client's file); UTF-16/32, Windows-1252 and binary files named as such.
    raw = read_input_bytes(path, path.parent, what="activities file")
    if not raw or raw.isspace():  # (strip() would copy the whole file)
        raise ValidationError([Problem(name, "file is empty", hint="it needs a header row and at least one activity")])
    nul = nul_problems(raw, name)  # a stray NUL in UTF-8 text: located by row and column
    if nul:
        raise ValidationError(nul)
    decode_text(raw, file=name)  # raises naming the encoding; the text itself is not kept
    try:
        # From the bytes: a StringIO of the decoded text was one more copy of the file.
        df = pd.read_csv(io.BytesIO(raw), encoding="utf-8-sig", dtype=str, keep_default_na=False, skipinitialspace=True,
                         skip_blank_lines=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise ValidationError([Problem(name, f"could not be read as CSV: {e}")]) from None
    del raw
    # Index = the row number a person sees (header is row 1); blank lines are dropped after.
    df.index = np.arange(len(df)) + 2
    # Column by column (a cell-by-cell map took most of a 1 M-row validate).
    blank = np.ones(len(df), dtype=bool)
    for j in range(df.shape[1]):
        col = df.iloc[:, j].str.strip()
        blank &= (col == "").to_numpy()
        # A CSV we wrote (estimate-usage --activities) guards formula-like text with "'": read it back as written.
        quoted = col.str.startswith("'")
        if quoted.any():
            col = col.where(~quoted, col[quoted].map(restore_cell))
        df.isetitem(j, col)
    return df[~blank]


MAX_NUL_PROBLEMS = 10
_SENTINEL = "\ufdd0"  # a Unicode noncharacter: stands for a NUL while the row is split into cells


def nul_problems(raw: bytes, file: str) -> list[Problem]:
    """The NUL characters of a CSV that is otherwise UTF-8 text, each located by row and column (at
    most ``MAX_NUL_PROBLEMS`` rows); [] when there is none, or when the NULs belong to an encoding
    (UTF-16/32) or a binary file, which ``decode_text`` names. Rows are counted by lines, as
    ``decode_text`` counts them (a cell with a line break inside quotes counts its lines)."""
    first = raw.find(b"\x00")
    if first < 0 or detect_encoding(raw[:HEAD_BYTES]) not in ("UTF-8", "binary (NUL bytes)"):
        return []
    try:
        raw.replace(b"\x00", b"").decode("utf-8-sig")
    except UnicodeDecodeError:
        return []  # not text with a stray NUL: decode_text says what it is

    def cells(line: bytes) -> list[str]:
        text = line.replace(b"\x00", _SENTINEL.encode()).decode("utf-8-sig", "replace").rstrip("\r")
        return next(csv.reader([text]), [])

    header_end = raw.find(b"\n")
    header = [c.replace(_SENTINEL, "").strip().lower().replace(" ", "_")
              for c in cells(raw[: header_end if header_end >= 0 else len(raw)])]
    problems: list[Problem] = []
    pos, line_no, counted = first, 1, 0
    while pos >= 0 and len(problems) < MAX_NUL_PROBLEMS:
        line_no += raw.count(b"\n", counted, pos)
        start = raw.rfind(b"\n", 0, pos) + 1
        end = raw.find(b"\n", pos)
        end = len(raw) if end < 0 else end
        where = next((j for j, c in enumerate(cells(raw[start:end])) if _SENTINEL in c), None)
        if line_no == 1:
            column = None
            message = "the header contains a NUL character (U+0000)" + (
                f" in its column {where + 1} ('{excerpt(header[where])}')" if where is not None else "")
        else:
            column = header[where] if where is not None and where < len(header) and header[where] else None
            message = "contains a NUL character (U+0000)" + (
                "" if column else f" in cell {where + 1} of the row" if where is not None else "")
        problems.append(Problem(file, message, row=line_no, column=column,
                                hint="delete it (most editors do not show it), or " + "re-save the file as 'CSV UTF-8'"))
        counted, pos = end, raw.find(b"\x00", end)
    return problems


# Control characters (Unicode category Cc: C0, DEL, C1). Free text may hold tab and line breaks.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_CONTROL_IN_FREE_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
FREE_TEXT_COLUMNS = ("description", "notes")
_CONTROL_NAMES = {0x00: "NUL", 0x07: "BEL", 0x08: "backspace", 0x09: "tab", 0x0A: "line feed",
                  0x0D: "carriage return", 0x1B: "escape", 0x7F: "delete"}


def control_character_problems(df: pd.DataFrame, columns, file: str, sheet: str | None = None) -> list[Problem]:
    """Cells of the text ``columns`` holding a control character, each located by row and column and
    naming the character (a BEL in a stage made a second 'Production'; an escape sequence in a
    note reached the terminal). Tab and line breaks are allowed in free text (description, notes).
    ``df.index`` holds the rows as a person sees them. One vectorised match per column (pyarrow's
    regular expressions on pandas' str columns; over the distinct values of a label column) finds
    the clean columns, the usual case, without per-cell work."""
    problems: list[Problem] = []
    if not _any_control_character(df, columns):
        return problems  # the usual case: one match per pattern, not ~5 pandas operations per column
    for c in columns:
        if c not in df.columns:
            continue
        pattern = _CONTROL_IN_FREE_TEXT if c in FREE_TEXT_COLUMNS else _CONTROL
        col = df[c].astype(str)
        # A million rows hold a few stages, units and models: their distinct values are checked; free
        # text, mostly distinct, is checked whole.
        seen = col if c in FREE_TEXT_COLUMNS else pd.Series(col.unique(), dtype=str)
        if not seen.str.contains(pattern.pattern, regex=True).to_numpy(bool, na_value=False).any():
            continue
        hit = col.str.contains(pattern.pattern, regex=True).to_numpy(bool, na_value=False)
        for i, value in col[hit].items():
            ch = pattern.search(value).group()
            name = _CONTROL_NAMES.get(ord(ch))
            problems.append(Problem(file, f"'{excerpt(value, 40)}' contains the control character U+{ord(ch):04X}"
                                    + (f" ({name})" if name else ""), row=int(i), column=c, sheet=sheet,
                                    hint="delete it (most editors do not show it)"))
    return problems


def _any_control_character(df: pd.DataFrame, columns) -> bool:
    """Whether any cell of the text ``columns`` may hold a control character: the distinct values of
    the label columns together, and the free-text cells together, each matched once with the
    pattern ``control_character_problems`` uses for them (False means no column has one)."""
    present = [c for c in columns if c in df.columns]
    for pattern, cols in ((_CONTROL, [c for c in present if c not in FREE_TEXT_COLUMNS]),
                          (_CONTROL_IN_FREE_TEXT, [c for c in present if c in FREE_TEXT_COLUMNS])):
        if not cols:
            continue
        values = pd.concat([df[c].astype(str) if c in FREE_TEXT_COLUMNS else pd.Series(df[c].astype(str).unique(), dtype=str)
                            for c in cols], ignore_index=True)
        if values.str.contains(pattern.pattern, regex=True).to_numpy(bool, na_value=False).any():
            return True
    return False


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


def _converts(unit: str, base: str) -> bool:
    """True when pint converts ``unit`` to ``base`` as written."""
    try:
        conversion_factor(unit, base)
    except Exception:  # noqa: BLE001 - pint raises many parse errors for one mistake
        return False
    return True


_UNIT_SUGGESTIONS = ["kWh", "MWh", "litre", "imperial_gallon", "US_gallon", "passenger_km", "passenger_mile",
                     "room_night", "tonne_km", "gpu_hour", "vcpu_hour", "request", "image", "video_second",
                     "tb_month", "GB", "TB"]


def _unit_verdict(unit: str, base: str, kind: str) -> tuple[float, str | None, str | None]:
    """(factor to ``base``, problem message, hint) for one unit cell of a ``kind`` row; the
    message is None when the unit converts. Unit text is bounded (check_unit_text) before pint."""
    if not base:
        return np.nan, None, None
    if unit == "":
        return np.nan, "is empty", f"the base unit for {kind} is {base}"
    too_much = check_unit_text(unit)  # 50 KB cells and 9**9**9 took pint minutes, or for ever
    if too_much:
        return np.nan, too_much, f"use {base}"
    ambiguous = ambiguous_unit(unit)  # any part of it: "ton*km" is as ambiguous as "ton"
    if ambiguous:
        word, hint = ambiguous
        return np.nan, f"unit '{excerpt(unit)}' is ambiguous" + ("" if word == unit.strip() else f" ('{word}')"), hint
    try:
        return conversion_factor(unit, base), None, None
    except pint.DimensionalityError:
        return np.nan, f"unit '{excerpt(unit)}' cannot be converted to {base}", f"{kind} is counted in {base}"
    except Exception:  # noqa: BLE001 - pint raises many parse errors for one mistake
        return np.nan, f"unknown unit '{excerpt(unit)}'", suggest(unit, _UNIT_SUGGESTIONS) or f"use {base}"


def _credits_as_video_seconds(df: pd.DataFrame, mask: pd.Series, rows: pd.Series, file: str, bad, warnings: list) -> None:
    """Runway credits -> seconds of video, per model (``video_seconds_from_credits``); each row
    read this way is listed, with the rate's id and how far its source is verified."""
    rates = {m: runway_credit_rate(m) for m in df.loc[mask, "model"].unique()}
    foreign = mask & ~df["provider"].str.lower().isin(("", "runway"))
    bad(foreign, "unit", lambda i: f"credits are Runway's billing unit, but the provider is '{excerpt(df.at[i, 'provider'])}'",
        "enter the seconds of video generated (unit: s)")
    no_rate = mask & ~foreign & df["model"].map(lambda m: rates.get(m) is None)
    bad(no_rate, "model", lambda i: (f"no Runway credit rate for model '{excerpt(df.at[i, 'model'])}'" if df.at[i, "model"]
                                     else "Runway credits need the model: each model has its own credits per second"),
        f"models with a rate (data/runway_credits.csv): {', '.join(runway_credits()['model'])}; or enter seconds (unit: s)")
    read = mask & ~foreign & ~no_rate
    for i in df.index[read.to_numpy()]:
        rate = rates[df.at[i, "model"]]
        credits = df.at[i, "quantity"]
        seconds = video_seconds_from_credits(credits, float(rate["credits_per_second"]))
        said = (f"{file}, row {int(rows[i])}: read {credits:g} Runway credits of {rate['model']} as {seconds:g} s "
                f"of video ({rate['credits_per_second']} credits/s, {rate['id']}; {rate['verification']})")
        if rate["energy_model_is_proxy"] == "yes":
            # No published energy for this model: its Runway sibling in EcoLogits stands in, at data quality 5.
            said += (f"; {rate['model']} has no published energy figure: estimated as {rate['ecologits_video_model']} "
                     "(EcoLogits), a proxy, at data quality 5")
            df.at[i, "data_quality"] = 5
        warnings.append(said)
        df.at[i, "quantity"] = seconds
        df.at[i, "model"] = rate["ecologits_video_model"]
    df.loc[read, "unit"] = "video_second"
    df.loc[read & (df["provider"] == ""), "provider"] = "runway"
    # A row refused above has its problem; its unit is not refused a second time.
    df.loc[mask & ~read, "unit"] = "video_second"
    df.loc[no_rate, "model"] = ""


def _blank_missing_words(column: pd.Series) -> pd.Series:
    """``column`` with the cells 'nan' and 'None' (how a missing value reads once made text) blank.
    Arrow finds whether there is one (~20 µs); pandas' replace, ~0.4 ms a column even when there is
    none, runs only then (26 columns, 3 validations per audit run)."""
    import pyarrow as pa  # noqa: PLC0415, TID253 - already loaded by pandas for its str columns
    import pyarrow.compute as pc  # noqa: PLC0415, TID253 - as above

    if not pc.any(pc.is_in(pa.array(column.array), value_set=pa.array(["nan", "None"]))).as_py():
        return column
    return column.replace({"nan": "", "None": ""})


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
        df[c] = _blank_missing_words(df[c].astype(str).str.strip())
    if df.empty:
        problems.append(Problem(file, "has a header but no activities", sheet=sheet))
        return df, problems, warnings
    # A 4 MB cell is a paste gone wrong: say where, by its length, before any per-cell work.
    problems += oversized_cells(df[list(ALL_COLUMNS)], file=file, sheet=sheet)
    if problems:
        return df, problems, warnings
    # Control characters in text cells (ids have their own check below, naming invisible ones too).
    problems += control_character_problems(df, [c for c in ALL_COLUMNS if c != "activity_id" and c not in NUMERIC_COLUMNS],
                                           file, sheet)

    # Identity and text. Ids are compared in NFKC with invisible characters removed, and an id
    # holding such characters is refused by name (look-alikes would otherwise count a row twice).
    bad(df["activity_id"] == "", "activity_id", "is empty")
    plain_ascii = df["activity_id"].str.fullmatch(r"[\x20-\x7e]*").to_numpy()  # the common case: nothing to check
    id_problem = pd.Series(None, index=df.index, dtype=object)
    if not plain_ascii.all():
        id_problem[~plain_ascii] = df["activity_id"][~plain_ascii].map(identifier_problem)
    bad(id_problem.notna(), "activity_id", lambda i: f"id '{excerpt(df.at[i, 'activity_id'])}' {id_problem[i]}",
        "type the id again with plain letters, digits and '-'")
    id_key = df["activity_id"].copy()
    id_key[~plain_ascii] = id_key[~plain_ascii].map(comparison_key)
    dup = id_key.duplicated(keep="first") & (id_key != "") & id_problem.isna()
    # The first row of each repeated id only (a dict of every id took a per-row pass over the column).
    firsts = id_key[~dup & id_key.isin(id_key[dup].unique())] if dup.any() else id_key.iloc[:0]
    first_index = dict(zip(firsts, firsts.index))

    def duplicate_message(i) -> str:
        first = first_index[id_key[i]]
        differs = lookalike_difference(df.at[i, "activity_id"], df.at[first, "activity_id"])
        if differs:
            return (f"id '{excerpt(df.at[i, 'activity_id'])}' looks the same as '{excerpt(df.at[first, 'activity_id'])}' "
                    f"but holds {differs}")
        return f"duplicate id '{excerpt(df.at[i, 'activity_id'])}'"

    bad(dup, "activity_id", duplicate_message, lambda i: f"first used on row {rows[first_index[id_key[i]]]}")
    bad(df["stage"] == "", "stage", "is empty", "name the pipeline stage, e.g. 'Ideation'")

    # Kind: case-insensitive, with near matches.
    kinds = [k.value for k in Kind]
    df["kind"] = df["kind"].str.lower().str.replace(" ", "_").str.replace("-", "_")
    bad(~df["kind"].isin(kinds), "kind", lambda i: f"unknown kind '{excerpt(df.at[i, 'kind'])}'",
        lambda i: suggest(df.at[i, "kind"], kinds) or f"allowed: {', '.join(kinds)}")
    kind_ok = df["kind"].isin(kinds)

    # Numbers: parse, then check ranges.
    for c in NUMERIC_COLUMNS:
        # Strict: thousands separators "1,000" / "1_000" only; "1,5" (decimal comma), "_5", "5_",
        # "1__0", "inf" and numbers too large for a float are refused, quoting 40 characters at most.
        num, num_problems = parse_number_column(df[c])
        blank = df[c] == ""
        if c == "quantity":
            bad(blank, c, "is empty", "give the amount in the row's unit")
        bad(num_problems.notna(), c, lambda i, p=num_problems: p[i][0], lambda i, p=num_problems: p[i][1])
        inf = np.isinf(num.fillna(0))
        bad(inf, c, "must be a finite number")
        lo, hi, lo_incl = RANGES[c]
        ok = ~num.isna() & ~inf
        if lo is not None:
            below = ok & ((num < lo) if lo_incl else (num <= lo))
            bad(below, c, lambda i, c=c: f"{excerpt(df.at[i, c], 40)} is out of range",
                f"must be {'at least' if lo_incl else 'greater than'} {lo}" + (f" and at most {hi}" if hi is not None else ""))
            ok &= ~below
        if hi is not None:
            above = ok & (num > hi)
            bad(above, c, lambda i, c=c: f"{excerpt(df.at[i, c], 40)} is out of range", f"must be at most {hi}")
        df[c] = num.where(ok, np.nan)
    dq_frac = df["data_quality"].notna() & (df["data_quality"] % 1 != 0)
    bad(dq_frac, "data_quality", "must be a whole number from 1 (measured) to 5 (spend-based)")

    # Units: known and convertible to the kind's base unit (pint).
    kt = kinds_table()
    df["base_unit"] = df["kind"].map(kt["base_unit"]).fillna("")
    # A spelling that means one unit for a kind ('GPU hours', 'hrs' for gpu_compute): accepted and listed,
    # once per distinct (kind, unit).
    spelled = df["kind"] + "\x00" + df["unit"] + "\x00" + df["base_unit"]
    readings = {}
    for pair in spelled.unique():
        kd, unit, base = pair.split("\x00")
        alias = read_unit_alias(kd, unit) if unit else None  # None for anything but a known spelling
        if alias and alias != unit and base and not _converts(unit, base):
            readings[pair] = alias
    if readings:
        read_as = spelled.map(readings)
        for i in df.index[read_as.notna() & (read_as != "runway_credit")]:  # credits are said with their rate below
            warnings.append(f"{file}, row {int(rows[i])}: read unit '{excerpt(df.at[i, 'unit'])}' as {read_as[i]} "
                            f"({df.at[i, 'kind']})")
        df.loc[read_as.notna(), "unit"] = read_as[read_as.notna()]
    # Runway credits are a billing unit: seconds of video per model (data/runway_credits.csv), said per row.
    credits = (df["kind"] == "video_generation") & (df["unit"] == "runway_credit")
    if credits.any():
        _credits_as_video_seconds(df, credits, rows, file, bad, warnings)
    # One verdict per distinct (unit, base unit, kind), not per row: a million rows use a few units.
    key = df["unit"] + "\x00" + df["base_unit"] + "\x00" + df["kind"]
    verdicts = {k: _unit_verdict(*k.split("\x00")) for k in key.unique()}
    factors = key.map({k: v[0] for k, v in verdicts.items()}).astype(float).to_numpy()
    unit_bad = key.map({k: v[1] is not None for k, v in verdicts.items()}).astype(bool)
    bad(unit_bad, "unit", lambda i: verdicts[key[i]][1], lambda i: verdicts[key[i]][2])
    df["unit_factor"] = factors
    # A quantity whose base-unit value would not be finite (1e308 MWh) stops here, located,
    # rather than as inf in the estimate.
    over = pd.Series(overflow_mask(df["quantity"], df["unit_factor"]), index=df.index)
    bad(over, "quantity", lambda i: overflow_message(df.at[i, "quantity"], df.at[i, "unit"], df.at[i, "base_unit"]),
        "check the quantity and its unit")
    df["quantity_base"] = (df["quantity"] * df["unit_factor"]).where(~over)

    # Provider (before ownership: a provider implies a purchased service by default).
    prov = providers()
    df["provider"] = df["provider"].str.lower()
    unknown_p = (df["provider"] != "") & ~df["provider"].isin(prov.index)
    bad(unknown_p, "provider", lambda i: f"unknown provider '{excerpt(df.at[i, 'provider'])}'",
        lambda i: suggest(df.at[i, "provider"], prov.index) or f"known: {', '.join(prov.index)}")
    df["provider_canonical"] = df["provider"].map(prov["provider"]).fillna("")

    # Ownership: default by kind, then check the (kind, ownership) pair has a scope rule.
    df["ownership"] = df["ownership"].str.lower().str.replace(" ", "_")
    owners = [o.value for o in Ownership]
    bad((df["ownership"] != "") & ~df["ownership"].isin(owners), "ownership",
        lambda i: f"unknown ownership '{excerpt(df.at[i, 'ownership'])}'",
        lambda i: suggest(df.at[i, "ownership"], owners) or f"allowed: {', '.join(owners)}")
    default_own = np.where(df["provider"] != "", df["kind"].map(kt["default_ownership_with_provider"]),
                           df["kind"].map(kt["default_ownership"]))
    df["ownership"] = df["ownership"].where(df["ownership"] != "", pd.Series(default_own, index=df.index).fillna(""))
    # One rule lookup per kind (a df.at per row took 18 s per 100,000 rows).
    allowed_by_kind = {kd: allowed_ownership(kd) for kd in df["kind"][kind_ok].unique()}
    # Vectorised on "kind\x00ownership" keys (a per-row zip over the str columns took ~1.4 s per 200,000 rows).
    allowed_pairs = [f"{kd}\x00{o}" for kd, owners_of_kind in allowed_by_kind.items() for o in owners_of_kind]
    pair_ok = (df["kind"] + "\x00" + df["ownership"]).isin(allowed_pairs)
    bad(kind_ok & df["ownership"].isin(owners) & ~pair_ok, "ownership",
        lambda i: f"ownership '{excerpt(df.at[i, 'ownership'])}' is not valid for {df.at[i, 'kind']}",
        lambda i: f"allowed: {', '.join(allowed_by_kind[df.at[i, 'kind']])}")

    # Region: ISO-3, provider:cloud-region, or blank (the engagement default).
    regions = cloud_regions()
    countries = known_countries()
    region_as_written = df["region"].copy()
    df["region"] = df["region"].where(df["region"].str.contains(":"), df["region"].str.upper())
    # Unambiguous country names and abbreviations ('UK', 'GB', 'Portugal'): accepted, listed.
    for i in df.index[(df["region"] != "") & ~df["region"].str.contains(":") & ~df["region"].isin(countries)]:
        iso = read_region_alias(df.at[i, "region"])
        if iso:
            warnings.append(f"{file}, row {int(rows[i])}: read region '{region_as_written[i]}' as {iso}")
            df.at[i, "region"] = iso
    blank_r = df["region"] == ""
    is_cloud = df["region"].str.contains(":")
    cloud_key = df["region"].str.lower()
    bad(is_cloud & ~cloud_key.isin(regions), "region", lambda i: f"unknown cloud region '{excerpt(df.at[i, 'region'])}'",
        lambda i: suggest(df.at[i, "region"].lower(), regions) or "use provider:region, e.g. aws:eu-west-2")
    bad(~blank_r & ~is_cloud & ~df["region"].isin(countries), "region",
        lambda i: f"unknown region '{excerpt(df.at[i, 'region'])}'",
        lambda i: suggest_region(df.at[i, "region"], countries) or "use an ISO 3166 alpha-3 code such as GBR")
    df["region"] = df["region"].where(~is_cloud, cloud_key)
    df["country"] = np.where(is_cloud, cloud_key.map(regions).fillna(""), df["region"])

    # Modes, models and kind-specific needs.
    df["mode"] = df["mode"].str.lower().str.replace(" ", "_").str.replace("-", "_")
    # measured:<factor_id> (audit measure): the id normalised as measured_factors.csv stores it.
    measured_ids = df["mode"].map({m: measured_factor_id(m) for m in df["mode"].unique()})  # per distinct mode
    is_measured = measured_ids.notna()
    df.loc[is_measured, "mode"] = MODE_PREFIX + measured_ids[is_measured]
    df["measured_factor"] = ""  # filled by attach_measured_factors (needs the engagement folder)
    df["model"] = df["model"]
    fallbacks = _check_kind_specifics(df, rows, file, sheet, problems, warnings, engagement)

    # Data quality default per kind; a measured factor is primary data (1); a model given only by
    # its size class (70B) is a fallback one step lower (recorded in the warnings).
    dq_default = pd.to_numeric(df["kind"].map(kt["default_data_quality"]), errors="coerce")
    dq_default = dq_default.where(~is_measured, 1)
    lowered = df.index.isin(fallbacks) & df["data_quality"].isna()
    dq_default = dq_default.where(~lowered, np.minimum(dq_default + 1, 5))
    for i in df.index[lowered]:
        warnings.append(f"{file}, row {int(rows[i])}: model given by its size class '{df.at[i, 'model']}' "
                        f"(parameters as given, no published deployment figures): data quality lowered to "
                        f"{int(dq_default[i])}")
    df["data_quality"] = df["data_quality"].fillna(dq_default)
    df["row_number"] = rows
    return df, problems, warnings


def attach_measured_factors(df: pd.DataFrame, folder: Path, file: str, sheet: str | None = None) -> list[Problem]:
    """Give each ``measured:<factor_id>`` row its record from ``folder/measured_factors.csv``
    (column ``measured_factor``, JSON), so the estimate is self-contained. Returns problems."""
    problems: list[Problem] = []
    ids = df["mode"].map({m: measured_factor_id(m) for m in df["mode"].unique()})
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
            problems.append(Problem(file, f"measured factor '{excerpt(fid)}' is not in {MEASURED_FILE}", row=r,
                                    column="mode", sheet=sheet, hint=hint))
            continue
        rec = table.loc[fid]
        if rec["kind"] != kind:
            problems.append(Problem(file, f"measured factor '{excerpt(fid)}' was measured per {rec['unit']} ({rec['kind']}), "
                                    f"not for {kind}", row=r, column="mode", sheet=sheet))
            continue
        df.at[i, "measured_factor"] = record_json(rec)
    return problems


def _check_kind_specifics(df, rows, file, sheet, problems, warnings, engagement) -> list:
    """Modes, models, hardware and the warnings each kind needs, as column masks: a row loop
    with ``df.at`` took 49 s per 100,000 rows (issue 17's 1,048,576-row intake: minutes).
    Problems and warnings come out in row order, as the loop gave them."""
    found: list[tuple[int, int, Problem]] = []  # (row, rule order, problem)
    notes: list[tuple[int, int, str]] = []
    r = rows.to_numpy()
    kind, mode = df["kind"], df["mode"]
    uniq_modes = mode.unique()
    mid = mode.map(dict(zip(uniq_modes, (measured_factor_id(m) for m in uniq_modes))))
    is_measured = mid.notna().to_numpy()
    measured_ok = np.array([bool(x) for x in mid.fillna("")], dtype=bool) if is_measured.any() else is_measured

    def add(mask, order, make, column) -> None:
        for pos in np.flatnonzero(np.asarray(mask, dtype=bool)):
            message, hint = make(pos)
            found.append((int(r[pos]), order, Problem(file, message, row=int(r[pos]), column=column, sheet=sheet,
                                                      hint=hint)))

    def note(mask, order, make) -> None:
        for pos in np.flatnonzero(np.asarray(mask, dtype=bool)):
            notes.append((int(r[pos]), order, f"{file}, row {int(r[pos])}: {make(pos)}"))

    m = mode.to_numpy()
    k = kind.to_numpy()
    for kd in kind.unique():
        modes = valid_modes(kd)
        if modes is None:
            continue
        wrong = (k == kd) & (m != "") & ~mode.isin(modes).to_numpy() & ~is_measured
        add(wrong, 0, lambda pos, modes=modes: (f"unknown mode '{excerpt(m[pos])}' for {k[pos]}",
                                                suggest(m[pos], modes) or f"allowed: {', '.join(sorted(modes)[:12])}…"),
            "mode")
    measurable = kind.isin(MEASURABLE_KINDS).to_numpy()
    add(is_measured & ~measurable, 1, lambda pos: (f"mode '{excerpt(m[pos])}': measured factors apply to "
                                                   f"{', '.join(MEASURABLE_KINDS)}, not {k[pos]}", None), "mode")
    add(is_measured & measurable & ~measured_ok, 1,
        lambda pos: ("mode 'measured:' needs a factor id", "e.g. measured:render_batch (the id given to audit measure)"),
        "mode")

    # The measured factor replaces the model: no model, tokens or hardware needed.
    plain = ~is_measured
    power = df["power_w"].to_numpy(dtype=float)
    latency = df["latency_s"].to_numpy(dtype=float)
    has_power = ~np.isnan(power)
    model = df["model"].to_numpy()
    provider = df["provider"].to_numpy()
    add(plain & np.isin(k, ["llm_api", "image_generation"]) & has_power & np.isnan(latency), 2,
        lambda pos: (f"{k[pos]} with power_w also needs latency_s (seconds per "
                     f"{'request' if k[pos] == 'llm_api' else 'image'}) to turn power into energy", None), "latency_s")
    llm = plain & (k == "llm_api")
    add(llm & np.isnan(df["output_tokens"].to_numpy(dtype=float)), 3,
        lambda pos: ("llm_api needs output_tokens (per request)", None), "output_tokens")
    add(llm & (model == "") & ~has_power, 4,
        lambda pos: ("llm_api needs a model (e.g. gpt-4o-mini, or a size such as 8B)", None), "model")
    size_class = df["model"].str.match(PARAM_COUNT.pattern).fillna(False).to_numpy()
    fallbacks = list(df.index[llm & (model != "") & ~has_power & size_class])
    named = llm & (model != "") & ~has_power & ~size_class
    if named.any():
        # One reading per distinct (provider, model): EcoLogits' name, else an alias (dated snapshot,
        # Bedrock id, slug, old name, the engagement's model_aliases) read as a model and listed.
        uniq = df.loc[df.index[named], ["provider", "model"]].drop_duplicates()
        verdict = {(p, mo): v for p, mo in uniq.itertuples(index=False)
                   if (v := _read_llm_model(p, mo, engagement)) is not None}
        # Per distinct pair, mapped onto rows (a per-row list of verdicts took seconds per million rows).
        pair_key = df["provider"] + "\x00" + df["model"]
        readings = {f"{p}\x00{mo}": v for (p, mo), v in verdict.items()}
        status = pair_key.map({key: v[0] for key, v in readings.items()}).to_numpy(dtype=object)  # NaN: no reading
        add(named & (status == "unknown"), 4,
            lambda pos: (f"unknown model '{excerpt(model[pos])}'"
                         + (f" for provider '{excerpt(provider[pos])}'" if provider[pos] else ""),
                         verdict[(provider[pos], model[pos])][1]),
            "model")
        read = named & (status == "read")
        note(read, 0, lambda pos: f"read model '{excerpt(model[pos])}' as {verdict[(provider[pos], model[pos])][1]} "
                                  f"({verdict[(provider[pos], model[pos])][2]})")
        if read.any():
            read_as = pair_key.map({key: v[1] for key, v in readings.items() if v[0] == "read"}).to_numpy(dtype=object)
            df.loc[df.index[read], "model"] = read_as[read]
            by_size = [key for key, v in readings.items() if v[0] == "read" and PARAM_COUNT.match(v[1])]
            fallbacks += list(df.index[read & pair_key.isin(by_size).to_numpy()])
    video = plain & (k == "video_generation") & (model != "") & ~has_power & ~df["model"].isin(video_models()).to_numpy()
    if video.any():
        # runway + gen-4.5 -> runway/gen-4.5: read and listed; anything else is unknown.
        vreads = {pair: resolve_video_model(*pair) for pair in {(provider[pos], model[pos]) for pos in np.flatnonzero(video)}}
        vknown = np.array([bool(v) and (rv := vreads[(p, mo)]).known and rv.model in video_models()
                           for p, mo, v in zip(provider, model, video)])
        note(vknown, 0, lambda pos: f"read video model '{excerpt(model[pos])}' as {vreads[(provider[pos], model[pos])].model} "
                                    f"({vreads[(provider[pos], model[pos])].how})")
        add(video & ~vknown, 5, lambda pos: (f"unknown video model '{excerpt(model[pos])}'",
                                             suggest(model[pos], video_models())
                                             or vreads[(provider[pos], model[pos])].how.split("; ", 1)[-1]), "model")
        for pos in np.flatnonzero(vknown):
            df.iat[pos, df.columns.get_loc("model")] = vreads[(provider[pos], model[pos])].model
    # image_generation mode: WxH and/or steps:N (methods.energy.parse_image_mode), once per distinct mode.
    imaging = plain & (k == "image_generation") & (m != "")
    if imaging.any():
        image_mode_errors = {}
        for text in set(m[imaging]):
            try:
                parse_image_mode(text)
            except ValueError as exc:
                image_mode_errors[text] = str(exc)
        add(imaging & np.isin(m, list(image_mode_errors)), 0,
            lambda pos: (f"image_generation mode '{excerpt(m[pos])}': {image_mode_errors[m[pos]]}", IMAGE_MODE_HELP), "mode")
    hw_raw = df["hardware"].to_numpy()
    hw = df["hardware"].str.lower()
    gpu = plain & (k == "gpu_compute") & ~has_power
    add(gpu & (hw == "").to_numpy(), 6,
        lambda pos: ("gpu_compute needs power_w or a hardware model", suggest("a100", hardware_ids())), "hardware")
    add(gpu & (hw != "").to_numpy() & ~hw.isin(hardware_ids()).to_numpy(), 6,
        lambda pos: (f"unknown hardware '{excerpt(hw_raw[pos])}'", suggest(hw_raw[pos].lower(), hardware_ids())
                     or "or give power_w"), "hardware")

    # Warnings, for every row (measured or not): no embodied line, then an unused accepted_fraction.
    if getattr(engagement, "embodied", True):
        own = df["ownership"].isin(["owned", "leased"]).to_numpy()
        note(own & (k == "gpu_compute") & (hw_raw == ""), 0,
             lambda pos: "no embodied line for owned GPU-hours without a hardware model; "
                         "name the hardware (e.g. nvidia-a100-sxm) to count its embodied emissions")
        timed = own & ((k == "image_generation") | ((k == "llm_api") & measured_ok)) & (hw_raw != "") & np.isnan(latency)
        note(timed, 0, lambda pos: f"no embodied line for owned {k[pos]} without latency_s (seconds per "
                                   f"{'image' if k[pos] == 'image_generation' else 'request'}); give it to count the "
                                   "GPUs' embodied emissions")
    accepted = df["accepted_fraction"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        unused = (accepted > 0) & (accepted <= 1) & ~np.isin(k, ["image_generation", "video_generation", "llm_api"])
    note(unused, 1, lambda pos: "accepted_fraction is only used for generative kinds; ignored")

    rented = plain & (k == "gpu_compute") & (df["ownership"] != "owned").to_numpy() & (provider == "") \
        & (df["region"] == "").to_numpy()
    note(rented, 0, lambda pos: "rented GPU-hours with no provider or region: estimated on the grid of the "
                                f"engagement's default region {engagement.default_region}; give the provider or "
                                "region where they ran")

    problems += [p for _, _, p in sorted(found, key=lambda t: (t[0], t[1]))]
    warnings += [w for _, _, w in sorted(notes, key=lambda t: (t[0], t[1]))]
    return fallbacks


def _read_llm_model(provider: str, model: str, engagement) -> tuple[str, str | None, str | None] | None:
    """How one (provider, model) of an llm_api row is read: None when EcoLogits knows it as
    written; ("read", name, how) for an alias (dated snapshot, Bedrock id, slug, old name, the
    engagement's model_aliases) or a size class; ("unknown", hint, None) otherwise."""
    aliased = model.strip().lower() in {k.strip().lower() for k in engagement.model_aliases}
    found, hint = (None, None) if aliased else resolve_llm_model(provider, model)
    if found is not None:
        return None
    read = resolve_model_alias(provider, model, engagement.model_aliases)
    if read.known and (not read.provider or read.provider in providers().index):
        found, _ = (resolve_llm_model(read.provider if provider else "", read.model)
                    if not PARAM_COUNT.match(read.model) else (read.model, None))
    if found is None:
        return "unknown", (read.how.split("; ", 1)[-1] if "did you mean" in read.how else hint or read.how), None
    return "read", found if isinstance(found, str) else found.name, read.how


def _inventory_source(folder: Path, engagement: Engagement, csv_path: Path, xlsx_path: Path,
                      yaml_path: Path) -> tuple[bool, str | None]:
    """(read intake.xlsx?, the note saying which file is read and why, or None).

    ``inventory_source`` in engagement.yaml pins the file. Otherwise, when both exist and hold
    different activities, the one changed last is read and the note says so: opening and saving
    the workbook in Excel must not switch the source unnoticed."""
    pinned = engagement.inventory_source.value if engagement.inventory_source else None
    if pinned:
        path = xlsx_path if pinned == xlsx_path.name else csv_path
        if not path.exists():
            raise ValidationError([Problem(str(yaml_path), f"inventory_source names {pinned}, which is not in the "
                                           "engagement folder", column="inventory_source",
                                           hint="create it, or remove inventory_source to read whichever exists")])
        other = csv_path if path is xlsx_path else xlsx_path
        note = (f"{folder.resolve().name}: activities read from {pinned} (inventory_source in engagement.yaml); "
                f"{other.name} is not read") if other.exists() else None
        return path is xlsx_path, note
    if not (csv_path.exists() and xlsx_path.exists()):
        return xlsx_path.exists() and not csv_path.exists(), None
    from audit.inventory.workbook import read_intake_workbook  # noqa: PLC0415 - loads openpyxl: only for intake.xlsx

    def same(a: pd.DataFrame, b: pd.DataFrame) -> bool:
        a, b = (x.fillna("").astype(str).map(str.strip).reset_index(drop=True) for x in (a, b))
        a = a.loc[:, [c for c in a.columns if a[c].ne("").any()]]
        b = b.loc[:, [c for c in b.columns if b[c].ne("").any()]]
        return list(a.columns) == list(b.columns) and a.shape == b.shape and bool((a.values == b.values).all())

    try:
        identical = same(read_activities_csv(csv_path), read_intake_workbook(xlsx_path)[0])
    except (ValidationError, InputError, ValueError, KeyError):
        identical = False
    use_xlsx = xlsx_path.stat().st_mtime > csv_path.stat().st_mtime  # the one edited last
    if identical:
        return False, None
    chosen, other = (xlsx_path, csv_path) if use_xlsx else (csv_path, xlsx_path)
    return use_xlsx, (f"{folder.resolve().name}: {csv_path.name} and {xlsx_path.name} hold different activities; "
                      f"activities read from {chosen.name}, the more recently changed, not {other.name}. Pin the choice with "
                      f"'inventory_source: {chosen.name}' in engagement.yaml, or delete the other file")


def load_engagement(folder: str | Path) -> LoadedEngagement:
    """Read and validate an engagement folder. Raises ``ValidationError`` listing every problem."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: engagement folder not found")
    yaml_path = folder / ENGAGEMENT_FILE
    engagement = read_engagement_yaml(yaml_path)
    csv_path = folder / ACTIVITIES_FILE
    xlsx_path = folder / "intake.xlsx"
    use_xlsx, both_note = _inventory_source(folder, engagement, csv_path, xlsx_path, yaml_path)
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
            raise ValidationError([Problem(file, f"activity id '{excerpt(clash[0])}' is also given to a usage-log activity",
                                           column="activity_id", hint="ids USG-… are reserved for usage logs")])
        df = pd.concat([df, usage_df], ignore_index=True)
    # A route naming an activity that is not there is reported, located, and its figures are
    # left unknown (never a partial sum); the rest of the audit runs.
    named_ids = pd.Index(df["activity_id"]) if engagement.routes else ()  # a hashed index, not a set of a million str
    route_warnings = [f"{p.file}, key '{p.column}': {p.message}" for p in
                      route_problems(engagement, named_ids, str(yaml_path))]
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
    Problems in a log are located in the log (file, row, column) by ``audit.inventory.usage``.
    Validation never estimates: the logs are read, checked and summed (requests, tokens, latency by
    group; ``engagement_usage_sums``); their energy is the estimate step's (``Estimate.usage``)."""
    if not engagement.usage_logs:
        return None, {}, []

    _, link_notes = engagement_log_files_and_notes(folder, engagement.usage_logs)  # repeats counted once, said so
    result = engagement_usage_sums(folder, engagement.usage_logs, engagement.default_region, engagement.model_aliases)
    acts = result.to_activities(prefix="USG")
    # Image/video usage of provider exports: image_generation / video_generation lines MED-….
    media = media_activities(result.media, prefix="MED")
    # As strings, the way a CSV arrives (repr of a float round-trips exactly).
    raw = pd.DataFrame({c: ["" if (isinstance(v, float) and math.isnan(v)) else str(v) for v in acts[c]]
                        for c in acts.columns})
    if len(media):
        raw = pd.concat([raw, media.astype(str)], ignore_index=True).fillna("")
    raw.index = pd.RangeIndex(2, len(raw) + 2)
    file = f"{yaml_path} › usage_logs (generated activities)"
    df, problems, _ = check_activity_table(raw, engagement, file)
    if problems:
        raise ValidationError(problems)
    root = folder.resolve()
    files = [Path(f) for f in result.sources]  # the files engagement_usage_sums resolved, checked and hashed
    hashes = {f.resolve().relative_to(root).as_posix(): result.sha256[str(f)] for f in files}
    llm_ids = df.loc[df["kind"] == "llm_api", "activity_id"]
    note = (f"{folder.resolve().name}: {result.requests:,} requests in {len(files)} usage log file(s) became "
            f"{len(llm_ids):,} llm_api activities"
            + (f" ({llm_ids.iloc[0]} to {llm_ids.iloc[-1]})" if len(llm_ids) else "")
            + " by stage × model × region × month; the hour-by-hour view is in notebook 01")
    if len(media):
        note += (f"; their image/video usage became {len(media):,} image_generation/video_generation activities "
                 f"({media['activity_id'].iloc[0]} to {media['activity_id'].iloc[-1]})")
    # How the logs were read (formats, ignored columns, model names read as others, stated means): listed.
    # Named as "<engagement>/<file>" (warnings travel into client reports), not by a path on this machine.
    shown = [n.replace(str(root) + os.sep, f"{root.name}/") for n in result.notes]
    return df, hashes, [note, *link_notes] + [f"usage logs: {n}" for n in shown]


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
