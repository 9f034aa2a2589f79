"""Disclosure tables from an audit's lines: GHG Protocol, ESRS E1-6, VSME B3, ISO 14064-1,
allocation to brand clients (CDP), SCI per functional unit, and water beside carbon.

Pure functions over plain data: ``activities`` is a list of dicts shaped like
``results.json``'s ``activities`` (``activity_id``, ``scope``, ``scope3_category``, ``kwh``,
``kgco2e``, ``kgco2e_market``, ``method``, ``data_quality``, ``stage``, ``factor_ids`` ...),
``factors`` like its ``factors``. Mappings and element names are data in
``data/disclosures/`` with their sources and a verification status.

Every total here is a sum over lines, so it equals ``results.json``'s ``totals`` (location-based
Scope 2 in the total; market-based reported beside it, never added in).
"""
from __future__ import annotations

import csv
import json
import math
from collections import defaultdict
from functools import lru_cache
from pathlib import Path
from enum import Enum
from typing import Any, Iterable, Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field, ValidationError as PydanticError

from audit.core.exceptions import Problem, ValidationError
from audit.core.paths import DATA_DIR as PATHS_DATA_DIR
from audit.reference.scopes import map_scopes

DATA_DIR = PATHS_DATA_DIR / "disclosures"
ENGAGEMENT_FILE = "engagement.yaml"
KG_PER_TONNE = 1000.0



class Scope3Status(str, Enum):
    """Screening status of a Scope 3 category, as the report prints it."""

    MEASURED = "relevant, measured"
    NOT_MEASURED = "relevant, not yet measured"
    NOT_RELEVANT = "not relevant"


class Scope2Basis(str, Enum):
    LOCATION = "location"
    MARKET = "market"


STATUS_MEASURED = Scope3Status.MEASURED.value
STATUS_NOT_MEASURED = Scope3Status.NOT_MEASURED.value
STATUS_NOT_RELEVANT = Scope3Status.NOT_RELEVANT.value


class FunctionalUnit(BaseModel):
    """One SCI functional unit the consultant names: R units of ``functional_unit`` (e.g.
    "accepted asset", "1,000 tokens", "image", "video-second"), over the lines whose stage,
    kind, activity id or parent id is in ``applies_to`` (default: GenAI and compute kinds)."""

    model_config = ConfigDict(extra="forbid")
    functional_unit: str = Field(min_length=1)
    R: float = Field(gt=0, allow_inf_nan=False)
    applies_to: list[str] | None = None


# --------------------------------------------------------------------------- data files
def _read_csv(name: str) -> list[dict[str, str]]:
    with open(DATA_DIR / name, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@lru_cache(maxsize=None)
def scope3_categories() -> tuple[dict[str, Any], ...]:
    """GHG Protocol Scope 3 categories 1-15 with names and their ISO 14064-1 category."""
    rows = _read_csv("scope3_categories.csv")
    return tuple(
        {
            "scope3_category": int(r["scope3_category"]),
            "name": r["name"],
            "direction": r["direction"],
            "iso14064_category": int(r["iso14064_category"]),
            "source": r["source"],
        }
        for r in rows
    )


@lru_cache(maxsize=None)
def iso14064_categories() -> tuple[dict[str, Any], ...]:
    """ISO 14064-1:2018 categories 1-6 (clause 5.2.4)."""
    return tuple(
        {"iso14064_category": int(r["iso14064_category"]), "name": r["name"],
         "ghg_protocol_scope": int(r["ghg_protocol_scope"]), "source": r["source"]}
        for r in _read_csv("iso14064_categories.csv")
    )


@lru_cache(maxsize=None)
def esrs_e1_6_elements() -> dict[str, dict[str, str]]:
    """ESRS E1-6 datapoint -> {element, unit, esrs_reference, verification, source}."""
    return {r["datapoint"]: dict(r) for r in _read_csv("esrs_e1_6_elements.csv")}


@lru_cache(maxsize=None)
def vsme_b3_datapoints() -> dict[str, dict[str, str]]:
    """VSME (EFRAG, Dec 2024) B3 datapoint -> {element, unit, vsme_reference, ...}."""
    return {r["datapoint"]: dict(r) for r in _read_csv("vsme_b3_datapoints.csv")}


@lru_cache(maxsize=None)
def esrs_e3_water_elements() -> dict[str, dict[str, str]]:
    return {r["datapoint"]: dict(r) for r in _read_csv("esrs_e3_water_elements.csv")}


@lru_cache(maxsize=None)
def water_defaults() -> dict[str, dict[str, Any]]:
    """Data-centre WUE defaults (L/kWh of IT energy) with sources, by id."""
    out = {}
    for r in _read_csv("water_defaults.csv"):
        out[r["id"]] = {**r, "value": float(r["value"]), "year": int(r["year"])}
    return out


@lru_cache(maxsize=None)
def method_names() -> dict[str, str]:
    """Method code (results.json ``method``) -> the name a reader sees."""
    return {r["method"]: r["name"] for r in _read_csv("method_names.csv")}


@lru_cache(maxsize=None)
def kind_names() -> dict[str, str]:
    """Kind id (data/kinds.csv) -> the name a reader sees."""
    return {r["kind"]: r["name"] for r in _read_csv("kind_names.csv")}


def kind_name(kind: str) -> str:
    return kind_names().get(kind, kind.replace("_", " "))


def method_name(code: str) -> str:
    """The human name of a method code; an unknown code is shown with its underscores as spaces."""
    return method_names().get(code, code.replace("_", " "))


# --------------------------------------------------------------------------- helpers
def _tonnes(kg: float) -> float:
    return kg / KG_PER_TONNE


def _market_kg(line: Mapping[str, Any]) -> float:
    """Market-based kgCO2e of a line: its ``kgco2e_market`` where given (Scope 2 lines
    with an instrument), else its location-based ``kgco2e`` (GHG Protocol Scope 2
    Guidance: lines without instruments are the same on both bases)."""
    value = line.get("kgco2e_market")
    return float(line["kgco2e"]) if value is None else float(value)


def _line_id(line: Mapping[str, Any], index: int) -> str:
    return str(line.get("activity_id") or f"activity #{index + 1}")


def _check_lines(activities: Sequence[Mapping[str, Any]], source: str = "results.json") -> None:
    """Every line needs a scope in 1-3, a Scope 3 category 1-15 when in Scope 3, and a
    finite kgCO2e; all problems are reported at once."""
    problems: list[Problem] = []
    for i, line in enumerate(activities):
        where = f"{source} activity '{_line_id(line, i)}'"
        scope = line.get("scope")
        if scope not in (1, 2, 3):
            problems.append(Problem(file=where, column="scope",
                                    message=f"scope must be 1, 2 or 3, not {scope!r}"))
        if scope == 3:
            cat = line.get("scope3_category")
            if not isinstance(cat, int) or not 1 <= cat <= 15:
                problems.append(Problem(file=where, column="scope3_category",
                                        message=f"a Scope 3 line needs a category 1-15, not {cat!r}"))
        kg = line.get("kgco2e")
        if not isinstance(kg, (int, float)) or not math.isfinite(kg):
            problems.append(Problem(file=where, column="kgco2e",
                                    message=f"kgco2e must be a finite number, not {kg!r}"))
    if problems:
        raise ValidationError(problems)


def check_scope3_exclusions(exclusions: Iterable[Mapping[str, Any]] | None,
                            source: str = ENGAGEMENT_FILE) -> dict[int, str]:
    """``scope3_exclusions`` ({category, reason} records) -> {category: reason}.

    A category outside 1-15, a reason that is not text, or a category listed twice is a
    located error. A blank reason (as in ``scope3_exclusions_stub``) means "not screened
    yet": the category is left out of the result."""
    out: dict[int, str] = {}
    seen: set[int] = set()
    problems: list[Problem] = []
    for i, item in enumerate(exclusions or []):
        column = f"scope3_exclusions[{i}]"
        if not isinstance(item, Mapping):
            problems.append(Problem(file=source, column=column,
                                    message="each exclusion is a mapping {category, reason}"))
            continue
        cat, reason = item.get("category"), item.get("reason")
        if isinstance(cat, bool) or not isinstance(cat, int) or not 1 <= cat <= 15:
            problems.append(Problem(file=source, column=f"{column}.category",
                                    message=f"category must be a whole number 1-15, not {cat!r}"))
            continue
        if reason is not None and not isinstance(reason, str):
            problems.append(Problem(file=source, column=f"{column}.reason",
                                    message=f"the reason for category {cat} must be text"))
            continue
        if cat in seen:
            problems.append(Problem(file=source, column=f"{column}.category",
                                    message=f"category {cat} is listed twice"))
            continue
        seen.add(cat)
        if reason and reason.strip():
            out[cat] = reason.strip()
    if problems:
        raise ValidationError(problems)
    return out


def _weighted_data_quality(lines: Sequence[Mapping[str, Any]]) -> float | None:
    """Emission-weighted mean of the lines' data-quality scores (1 best - 5 worst);
    lines without a score are left out; None when no line has one."""
    num = den = 0.0
    for line in lines:
        dq = line.get("data_quality")
        if isinstance(dq, (int, float)) and not isinstance(dq, bool):
            weight = abs(float(line["kgco2e"]))
            num += weight * dq
            den += weight
    return num / den if den > 0 else None


# --------------------------------------------------------------------------- GHG Protocol
def ghg_protocol(activities: Sequence[Mapping[str, Any]],
                 scope3_exclusions: Iterable[Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """GHG Protocol inventory in tCO2e: Scope 1, Scope 2 location- and market-based, and
    Scope 3 by category 1-15 with methods, data quality and screening status.

    Scope 3 status per category: "relevant, measured" (lines present), "not relevant"
    (screened out in ``scope3_exclusions`` with a reason), "relevant, not yet measured"
    (neither measured nor screened). Totals: location-based total = S1 + S2(location) + S3;
    market-based total = S1 + S2(market) + S3 (GHG Protocol Scope 2 Guidance, 2015, ch. 7).
    """
    _check_lines(activities)
    excluded = check_scope3_exclusions(scope3_exclusions)
    by_scope: dict[int, list[Mapping[str, Any]]] = defaultdict(list)
    by_category: dict[int, list[Mapping[str, Any]]] = defaultdict(list)
    for line in activities:
        by_scope[line["scope"]].append(line)
        if line["scope"] == 3:
            by_category[line["scope3_category"]].append(line)

    def block(lines: Sequence[Mapping[str, Any]], market: bool = False) -> dict[str, Any]:
        kg = sum(_market_kg(x) if market else float(x["kgco2e"]) for x in lines)
        return {"tco2e": _tonnes(kg), "lines": len(lines),
                "methods": sorted({str(x.get("method") or "") for x in lines} - {""}),
                "method_names": sorted({method_name(str(x.get("method") or "")) for x in lines
                                        if x.get("method")}),
                "data_quality": _weighted_data_quality(lines)}

    categories = []
    for cat in scope3_categories():
        n = cat["scope3_category"]
        lines = by_category.get(n, [])
        reason = excluded.get(n)
        if lines:
            status = STATUS_MEASURED
        elif reason:
            status = STATUS_NOT_RELEVANT
        else:
            status = STATUS_NOT_MEASURED
        label = f"{STATUS_NOT_RELEVANT}: {reason}" if status == STATUS_NOT_RELEVANT else status
        entry = {"scope3_category": n, "name": cat["name"], "direction": cat["direction"],
                 "status": status, "label": label, **block(lines), "exclusion_reason": reason}
        if lines and reason:
            entry["note"] = "measured although screened out in scope3_exclusions; the measurement is kept"
        categories.append(entry)

    scope1 = block(by_scope.get(1, []))
    scope2_location = block(by_scope.get(2, []))
    scope2_market = block(by_scope.get(2, []), market=True)
    scope3_t = sum(c["tco2e"] for c in categories)
    return {
        "unit": "tCO2e",
        "scope1": scope1,
        "scope2_location": scope2_location,
        "scope2_market": scope2_market,
        "scope3": {"tco2e": scope3_t, "lines": len(by_scope.get(3, [])), "categories": categories},
        "total_location_tco2e": scope1["tco2e"] + scope2_location["tco2e"] + scope3_t,
        "total_market_tco2e": scope1["tco2e"] + scope2_market["tco2e"] + scope3_t,
    }


# --------------------------------------------------------------------------- ESRS E1-6
def _category_element(n: int) -> str:
    name = next(c["name"] for c in scope3_categories() if c["scope3_category"] == n)
    template = esrs_e1_6_elements()["scope3_category"]["element"]
    return template.format(n=n, name=name)


def ghg_intensity(total_tco2e: float, net_revenue: float) -> float:
    """GHG intensity = total GHG emissions (tCO2e) / net revenue (monetary units)
    (ESRS E1-6 §53, AR 53; VSME B3 §31 with turnover)."""
    return total_tco2e / net_revenue


def _check_revenue(value: float | None, field: str) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value <= 0:
        raise ValidationError([Problem(file=ENGAGEMENT_FILE, column=field,
                                       message=f"{field} must be a positive number, not {value!r}")])


def esrs_e1_6(activities: Sequence[Mapping[str, Any]], net_revenue: float | None = None,
              significance_share: float = 0.0) -> dict[str, float]:
    """ESRS E1-6 datapoints as {taxonomy element name: value}; emissions in tCO2e.

    Gross Scope 1, Scope 2 location- and market-based, Scope 3 total and each significant
    category (share of Scope 3 > ``significance_share``; 0 keeps every measured category with
    emissions), totals on both bases, and, when ``net_revenue`` is given, GHG intensity per
    net revenue on both bases (tCO2e per monetary unit) with the revenue used.
    Element names and their verification status: ``data/disclosures/esrs_e1_6_elements.csv``.
    """
    _check_revenue(net_revenue, "net_revenue")
    inv = ghg_protocol(activities)
    el = {k: v["element"] for k, v in esrs_e1_6_elements().items()}
    out: dict[str, float] = {
        el["scope1"]: inv["scope1"]["tco2e"],
        el["scope2_location"]: inv["scope2_location"]["tco2e"],
        el["scope2_market"]: inv["scope2_market"]["tco2e"],
        el["scope3"]: inv["scope3"]["tco2e"],
        el["total"]: inv["total_location_tco2e"],
        el["total_location"]: inv["total_location_tco2e"],
        el["total_market"]: inv["total_market_tco2e"],
    }
    scope3_t = inv["scope3"]["tco2e"]
    for cat in inv["scope3"]["categories"]:
        if cat["lines"] and cat["tco2e"] != 0 and (
                scope3_t <= 0 or cat["tco2e"] / scope3_t > significance_share):
            out[_category_element(cat["scope3_category"])] = cat["tco2e"]
    if net_revenue is not None:
        out[el["intensity_location"]] = ghg_intensity(inv["total_location_tco2e"], net_revenue)
        out[el["intensity_market"]] = ghg_intensity(inv["total_market_tco2e"], net_revenue)
        out[el["net_revenue"]] = float(net_revenue)
    return out


def esrs_e1_6_table(activities: Sequence[Mapping[str, Any]], net_revenue: float | None = None,
                    significance_share: float = 0.0) -> list[dict[str, Any]]:
    """The same datapoints as rows with unit, ESRS paragraph and verification status, for the
    report and the Excel sheet."""
    meta = esrs_e1_6_elements()
    by_element = {v["element"]: v for v in meta.values()}
    rows = []
    for element, value in esrs_e1_6(activities, net_revenue, significance_share).items():
        m = by_element.get(element, meta["scope3_category"])
        rows.append({"element": element, "value": value, "unit": m["unit"],
                     "esrs_reference": m["esrs_reference"], "verification": m["verification"]})
    return rows


# --------------------------------------------------------------------------- VSME B3
def vsme_b3(activities: Sequence[Mapping[str, Any]], turnover: float | None = None,
            renewable_mwh: float | None = None, include_scope3: bool = True) -> dict[str, float | None]:
    """VSME B3 datapoints as {element: value}: total energy (MWh), renewable and
    non-renewable energy where ``renewable_mwh`` is known, Scope 1, Scope 2 location- and
    market-based, Scope 3 (optional in VSME) in tCO2e, and GHG intensity per turnover
    (VSME B3 §31: gross emissions (location-based) / turnover) when turnover is given.

    Energy = kWh of the undertaking's own Scope 1 and Scope 2 lines / 1000. Fuel lines
    carry no kWh in the estimate, so their energy is not in this total.
    """
    _check_revenue(turnover, "turnover")
    inv = ghg_protocol(activities)
    el = {k: v["element"] for k, v in vsme_b3_datapoints().items()}
    own_mwh = sum(float(x.get("kwh") or 0.0) for x in activities if x["scope"] in (1, 2)) / 1000.0
    out: dict[str, float | None] = {
        el["total_energy"]: own_mwh,
        el["scope1"]: inv["scope1"]["tco2e"],
        el["scope2_location"]: inv["scope2_location"]["tco2e"],
        el["scope2_market"]: inv["scope2_market"]["tco2e"],
    }
    if renewable_mwh is not None:
        if not 0 <= renewable_mwh <= own_mwh * (1 + 1e-12):
            raise ValidationError([Problem(file=ENGAGEMENT_FILE, column="renewable_mwh",
                                           message=f"renewable energy {renewable_mwh!r} MWh must lie "
                                                   f"between 0 and the total {own_mwh:.6g} MWh")])
        out[el["energy_renewable"]] = float(renewable_mwh)
        out[el["energy_non_renewable"]] = own_mwh - float(renewable_mwh)
    if include_scope3:
        out[el["scope3"]] = inv["scope3"]["tco2e"]
    if turnover is not None:
        out[el["intensity_turnover"]] = ghg_intensity(inv["total_location_tco2e"], turnover)
    return out


# --------------------------------------------------------------------------- ISO 14064-1
def iso14064_category_of(scope: int, scope3_category: int | None) -> int:
    """ISO 14064-1:2018 category (1-6) of a line: Scope 1 -> 1, Scope 2 -> 2, Scope 3 by
    ``data/disclosures/scope3_categories.csv`` (transport 4, 6, 7, 9 -> 3; products used
    1, 2, 3, 5, 8 -> 4; use of products from the organisation 10-14 -> 5; other 15 -> 6)."""
    if scope == 1:
        return 1
    if scope == 2:
        return 2
    return next(c["iso14064_category"] for c in scope3_categories()
                if c["scope3_category"] == scope3_category)


def iso14064_1(activities: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """ISO 14064-1:2018 categories 1-6 in tCO2e (category 2 also market-based beside it)."""
    _check_lines(activities)
    kg: dict[int, float] = defaultdict(float)
    kg_market: dict[int, float] = defaultdict(float)
    count: dict[int, int] = defaultdict(int)
    for line in activities:
        cat = iso14064_category_of(line["scope"], line.get("scope3_category"))
        kg[cat] += float(line["kgco2e"])
        kg_market[cat] += _market_kg(line)
        count[cat] += 1
    mapped = defaultdict(list)
    for c in scope3_categories():
        mapped[c["iso14064_category"]].append(c["scope3_category"])
    return [{"iso14064_category": c["iso14064_category"], "name": c["name"],
             "tco2e": _tonnes(kg[c["iso14064_category"]]),
             "tco2e_market": _tonnes(kg_market[c["iso14064_category"]]),
             "lines": count[c["iso14064_category"]],
             "ghg_protocol_scope3_categories": mapped.get(c["iso14064_category"], [])}
            for c in iso14064_categories()]


# --------------------------------------------------------------------------- CDP allocation
def allocation_to_clients(activities: Sequence[Mapping[str, Any]],
                          client_brand_by_stage: Mapping[str, str] | None = None,
                          basis: str = "location") -> dict[str, Any]:
    """Allocate the audit's emissions to the agency's brand clients (CDP supply-chain
    allocation to customers): each line goes to its ``client_brand`` when it has one, else to
    its activity's (or parent activity's) brand in ``client_brand_by_stage``, else its stage's
    brand there, else stays unallocated.

    share = brand tCO2e / total tCO2e; the shares and the unallocated share sum to 1.
    ``basis`` is "location" (default) or "market" for Scope 2.
    """
    try:
        basis = Scope2Basis(basis).value
    except ValueError:
        raise ValidationError([Problem(file="allocation", column="basis",
                                       message=f"basis must be 'location' or 'market', not {basis!r}")]) from None
    _check_lines(activities)
    stage_map = dict(client_brand_by_stage or {})
    kg: dict[str, float] = defaultdict(float)
    lines: dict[str, int] = defaultdict(int)
    unallocated_kg, unallocated_lines, total_kg = 0.0, 0, 0.0
    for line in activities:
        value = _market_kg(line) if basis == "market" else float(line["kgco2e"])
        total_kg += value
        brand = (line.get("client_brand") or stage_map.get(str(line.get("activity_id") or ""))
                 or stage_map.get(str(line.get("derived_from") or "")) or stage_map.get(str(line.get("stage") or "")))
        brand = brand.strip() if isinstance(brand, str) else brand
        if brand:
            kg[brand] += value
            lines[brand] += 1
        else:
            unallocated_kg += value
            unallocated_lines += 1

    def share(x: float) -> float | None:
        return x / total_kg if total_kg else None

    clients = [{"client_brand": b, "tco2e": _tonnes(v), "share": share(v), "lines": lines[b]}
               for b, v in sorted(kg.items(), key=lambda kv: (-kv[1], kv[0]))]
    return {"unit": "tCO2e", "basis": basis, "clients": clients,
            "unallocated": {"tco2e": _tonnes(unallocated_kg), "share": share(unallocated_kg),
                            "lines": unallocated_lines},
            "total_tco2e": _tonnes(total_kg)}


# --------------------------------------------------------------------------- SCI
SCI_KINDS = ("llm_api", "image_generation", "video_generation", "gpu_compute", "cpu_compute",
             "storage", "data_transfer")
EMBODIED_METHODS = ("embodied_amortised",)


def sci_score(e_kwh: float, i_g_per_kwh: float, m_g: float, r: float) -> float:
    """SCI = ((E * I) + M) per R (Green Software Foundation SCI specification, ISO/IEC
    21031:2024): E energy (kWh), I location-based grid intensity (gCO2e/kWh), M embodied
    emissions (gCO2e) and R the number of functional units; result in gCO2e per unit."""
    return (e_kwh * i_g_per_kwh + m_g) / r


def _in_boundary(line: Mapping[str, Any], applies_to: Sequence[str] | None) -> bool:
    if applies_to:
        keys = {str(line.get("activity_id")), str(line.get("stage")), str(line.get("kind")),
                str(line.get("derived_from"))}
        return bool(keys & set(applies_to))
    return line.get("kind") in SCI_KINDS


def sci(activities: Sequence[Mapping[str, Any]],
        functional_units: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """SCI per functional unit the consultant names.

    Each functional unit: {functional_unit: "accepted asset" | "1,000 tokens" | "image" |
    "video-second" | ..., R: count of those units, applies_to: optional list of stages,
    kinds or activity ids (default: the GenAI and compute kinds)}. Within the boundary,
    E = sum of the lines' kWh, I = their emissions / E (the kWh-weighted location-based
    intensity; 0 when E is 0), M = amortised embodied lines (gCO2e); well-to-tank and T&D lines are outside
    the SCI (the spec counts operational and embodied emissions only).

    Returns [{functional_unit, value, unit, E, I, M, R}] with value in gCO2e per unit.
    """
    units: list[FunctionalUnit] = []
    problems = []
    for i, fu in enumerate(functional_units):
        try:
            units.append(FunctionalUnit.model_validate(fu))
        except PydanticError as err:
            name = fu.get("functional_unit") if isinstance(fu, Mapping) else None
            for e in err.errors():
                field = ".".join(str(x) for x in e["loc"]) or "functional unit"
                problems.append(Problem(file=ENGAGEMENT_FILE, column=f"functional_units[{i}].{field}",
                                        message=f"{'R' if field == 'R' else field} for "
                                                f"'{name}': {e['msg']}"))
    if problems:
        raise ValidationError(problems)
    out = []
    for unit in units:
        name, r = unit.functional_unit.strip(), unit.R
        e_kwh = op_g = m_g = 0.0
        for line in activities:
            if not _in_boundary(line, unit.applies_to):
                continue
            if line.get("method") in EMBODIED_METHODS:
                m_g += float(line["kgco2e"]) * 1000.0
            elif float(line.get("kwh") or 0.0) > 0:
                e_kwh += float(line["kwh"])
                op_g += float(line["kgco2e"]) * 1000.0
        i_g = op_g / e_kwh if e_kwh > 0 else 0.0
        out.append({"functional_unit": name, "value": sci_score(e_kwh, i_g, m_g, r),
                    "unit": f"gCO2e per {name}", "E": e_kwh, "I": i_g, "M": m_g, "R": r})
    return out


# --------------------------------------------------------------------------- water
def water_litres(kwh: float, wue: float, pue: float, ewif: float) -> float:
    """Water consumed (litres) = E_IT x (WUE + PUE x EWIF).

    E_IT: IT (server) energy in kWh; WUE: the data centre's on-site water usage effectiveness
    (L/kWh of IT energy); PUE: power usage effectiveness; EWIF: water consumed off site to
    generate a kWh of the local electricity mix (L/kWh). EcoLogits 0.11.3,
    ``impacts/llm.py::request_usage_wcf`` (``request_it_energy * (datacenter_wue +
    datacenter_pue * if_electricity_mix_wue)``).
    """
    return kwh * (wue + pue * ewif)


@lru_cache(maxsize=None)
def _ecologits_mix_wue() -> dict[str, float]:
    """EcoLogits' electricity-mix water factors (L/kWh) by ISO-3 zone, from its shipped data."""
    import ecologits  # pinned 0.11.3; its data ships in the package

    path = Path(ecologits.__file__).parent / "data" / "electricity_mixes.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    return {m["name"]: float(m["wue"]) for m in data["electricity_mixes"]}


def _ecologits_provider(provider: str) -> tuple[float, float] | None:
    """(WUE, PUE) midpoints of EcoLogits' provider configuration, or None if unknown."""
    from ecologits.tracers.utils import PROVIDER_CONFIG_MAP

    cfg = PROVIDER_CONFIG_MAP.get(provider)
    if cfg is None:
        return None

    def mid(v: Any) -> float:
        return (float(v.min) + float(v.max)) / 2 if hasattr(v, "min") else float(v)

    return mid(cfg.datacenter_wue), mid(cfg.datacenter_pue)


GENAI_KINDS = ("llm_api", "image_generation", "video_generation")
COMPUTE_KINDS = ("gpu_compute", "cpu_compute", "storage", "data_transfer")
CLOUD_PUE_PREFIXES = ("pue:aws", "pue:gcp", "pue:azure", "pue:oci", "pue:ibm", "pue:alibaba")


def water_by_activity(activities: Sequence[Mapping[str, Any]],
                      factors: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Water (litres) per line, beside carbon and never summed with it; None where no method
    gives it (travel, fuel, freight, metered electricity, derived upstream lines).

    - GenAI lines with an EcoLogits provider factor: the provider's WUE and PUE from
      EcoLogits' configuration (range midpoints); E_IT = kWh / PUE.
    - Compute, storage and transfer lines: PUE from their ``pue:*`` factor; cloud PUE ids ->
      data-centre WUE ``wue:datacenter:us-average`` (LBNL 2016), others (on-premises,
      client-supplied) -> ``wue:owned:air-cooled``.
    - GenAI lines without a provider factor use the cloud default with PUE 1 (E_IT = kWh,
      which overstates on-site water rather than understating it).
    EWIF: EcoLogits' electricity-mix water factor of the grid factor's region (world mix when
    the region is unknown).
    Boundary: on-site cooling water plus water consumed off site for the electricity.
    """
    by_id = {str(f["factor_id"]): f for f in factors}
    mix = _ecologits_mix_wue()
    defaults = water_defaults()
    out = []
    for line in activities:
        kwh = float(line.get("kwh") or 0.0)
        kind = line.get("kind")
        row: dict[str, Any] = {"activity_id": line.get("activity_id"), "water_litres": None}
        if kwh <= 0 or line.get("derived_from") or kind not in GENAI_KINDS + COMPUTE_KINDS:
            out.append(row)
            continue
        ids = [str(x) for x in line.get("factor_ids") or []]
        region = next((by_id[i].get("region") for i in ids
                       if i in by_id and str(by_id[i].get("unit", "")).lower().endswith("/kwh")
                       and by_id[i].get("region")), None)
        ewif = mix.get(region or "", mix["WOR"])
        provider = next((i.split(":", 2)[2] for i in ids if i.startswith("ecologits:provider:")), None)
        pue_id = next((i for i in ids if i.startswith("pue:") or i.endswith(":pue")), None)
        if kind in GENAI_KINDS and provider and _ecologits_provider(provider):
            wue, pue = _ecologits_provider(provider)
            if provider and f"ecologits:provider:{provider}" in by_id:
                pue = float(by_id[f"ecologits:provider:{provider}"]["value"])
            wue_source = f"EcoLogits 0.11.3 provider configuration '{provider}' (WUE range midpoint)"
        elif pue_id and pue_id in by_id:
            pue = float(by_id[pue_id]["value"])
            key = "wue:datacenter:us-average" if pue_id.startswith(CLOUD_PUE_PREFIXES) else "wue:owned:air-cooled"
            wue, wue_source = defaults[key]["value"], key
        else:
            pue, wue = 1.0, defaults["wue:datacenter:us-average"]["value"]
            wue_source = "wue:datacenter:us-average (no PUE known: E_IT taken as the line's kWh)"
        kwh_it = kwh / pue
        row.update({"water_litres": water_litres(kwh_it, wue, pue, ewif), "kwh_it": kwh_it,
                    "wue": wue, "pue": pue, "ewif": ewif, "ewif_region": region or "WOR",
                    "wue_source": wue_source,
                    "ewif_source": "EcoLogits 0.11.3 data/electricity_mixes.json (wue, L/kWh)",
                    "boundary": "on-site data-centre water + off-site water for electricity (consumption)"})
        out.append(row)
    return out


def water_totals(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """totals.water_litres (sum over lines that have a figure) and its ESRS E3 mapping.

    ESRS E3-4 asks for the undertaking's own water consumption (m3); GenAI and cloud water is
    value-chain water, so it is reported beside, not under, that element. Only on-site water
    of owned compute (WUE part of owned lines) would count there."""
    total = sum(r["water_litres"] for r in rows if r.get("water_litres") is not None)
    own_onsite = sum(r["kwh_it"] * r["wue"] for r in rows
                     if r.get("water_litres") is not None and r.get("wue_source") == "wue:owned:air-cooled")
    element = esrs_e3_water_elements()["water_consumption"]["element"]
    return {"water_litres": total, "lines_with_water": sum(r.get("water_litres") is not None for r in rows),
            "esrs_e3": {element: own_onsite / 1000.0},
            "esrs_e3_unit": "m3", "value_chain_water_m3": (total - own_onsite) / 1000.0}


# --------------------------------------------------------------------------- all at once
def disclosures(results: Mapping[str, Any], net_revenue: float | None = None,
                client_brand_by_stage: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The ``disclosures`` block of results.json from its ``activities`` and ``engagement``."""
    activities = results["activities"]
    exclusions = (results.get("engagement") or {}).get("scope3_exclusions") or []
    return {
        "ghg_protocol": ghg_protocol(activities, exclusions),
        "esrs_e1_6": esrs_e1_6(activities, net_revenue),
        "vsme_b3": vsme_b3(activities, turnover=net_revenue),
        "iso14064_1": iso14064_1(activities),
        "allocation_to_clients": allocation_to_clients(activities, client_brand_by_stage),
    }


def scope3_exclusions_stub() -> list[dict[str, Any]]:
    """A ``scope3_exclusions`` stub listing all 15 categories ({category, reason: ""}) for
    ``audit new`` to write into engagement.yaml, each with its name as a comment (see
    ``scope3_categories()``); a blank reason means "not screened yet"."""
    return [{"category": c["scope3_category"], "reason": ""} for c in scope3_categories()]


def extend_results(results: Mapping[str, Any], net_revenue: float | None = None,
                   functional_units: Sequence[Mapping[str, Any]] = (),
                   client_brand_by_stage: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A copy of a results.json mapping with the issue-13 contract blocks added:
    ``disclosures`` (ghg_protocol, esrs_e1_6, vsme_b3, iso14064_1, allocation_to_clients),
    ``sci`` (list of {functional_unit, value, unit, E, I, M, R}), ``water_litres`` on each
    activity (None where no method gives it) and ``totals.water_litres``; the input is not
    changed."""
    activities = results["activities"]
    water_rows = water_by_activity(activities, results.get("factors") or [])
    water_totals_block = water_totals(water_rows)
    out = dict(results)
    out["activities"] = [{**a, "water_litres": w["water_litres"]}
                         for a, w in zip(activities, water_rows)]
    out["totals"] = {**(results.get("totals") or {}), "water_litres": water_totals_block["water_litres"]}
    out["disclosures"] = disclosures(results, net_revenue, client_brand_by_stage)
    out["disclosures"]["esrs_e3"] = water_totals_block["esrs_e3"]
    out["sci"] = sci(activities, functional_units) if functional_units else []
    out["water"] = {"boundary": "on-site data-centre water + off-site water for electricity (consumption), "
                                "reported beside carbon and never added to it",
                    "lines": [w for w in water_rows if w["water_litres"] is not None],
                    **water_totals_block}
    return out


# --------------------------------------------------------------------------- from AuditResults
# Functional units R can be counted for, and the kinds their SCI boundary covers by default.
COUNTED_UNITS: dict[str, tuple[str, ...]] = {
    "accepted asset": GENAI_KINDS + COMPUTE_KINDS,
    "image": ("image_generation",),
    "video-second": ("video_generation",),
    "1,000 tokens": ("llm_api",),
}
# Other spellings of the counted units (lower case, without a leading "per ").
UNIT_ALIASES = {"accepted assets": "accepted asset", "asset": "accepted asset", "images": "image",
                "video second": "video-second", "video-seconds": "video-second", "video seconds": "video-second",
                "second of video": "video-second", "1000 tokens": "1,000 tokens", "1k tokens": "1,000 tokens",
                "thousand tokens": "1,000 tokens"}
ASSET_KINDS = ("llm_api", "image_generation")


def counted_unit(functional_unit: str) -> str | None:
    """The COUNTED_UNITS name a functional unit means ("per image", "Images" -> "image"), or None."""
    name = " ".join(functional_unit.strip().lower().split())
    name = name[4:] if name.startswith("per ") else name
    name = UNIT_ALIASES.get(name, name)
    return name if name in COUNTED_UNITS else None  # kinds whose base unit is one output (request, image)


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def accepted_assets(lines: Sequence[Mapping[str, Any]]) -> float:
    """Accepted assets = sum over LLM-request and image lines (not derived lines) of
    quantity (requests or images) x accepted_fraction; lines without an accepted fraction
    count nothing. Video is counted in video-seconds, not assets."""
    total = 0.0
    for line in lines:
        if line.get("kind") in ASSET_KINDS and not line.get("derived_from"):
            quantity, accepted = _finite(line.get("quantity_base")), _finite(line.get("accepted_fraction"))
            if quantity is not None and accepted is not None:
                total += quantity * accepted
    return total


def functional_unit_count(functional_unit: str, lines: Sequence[Mapping[str, Any]],
                          input_rows: Sequence[Mapping[str, Any]]) -> float | None:
    """R for the units the toolkit can count (``COUNTED_UNITS``), None for any other.

    - accepted asset: ``accepted_assets(lines)``;
    - image: images generated (quantity of image_generation lines);
    - video-second: seconds of video generated (quantity of video_generation lines);
    - 1,000 tokens: sum over LLM input rows of requests x (input + output tokens) / 1000
      (rows without token counts count nothing)."""
    name = counted_unit(functional_unit)
    own = [x for x in lines if not x.get("derived_from")]
    if name == "accepted asset":
        return accepted_assets(own)
    if name in ("image", "video-second"):
        kind = COUNTED_UNITS[name][0]
        return sum(_finite(x.get("quantity_base")) or 0.0 for x in own if x.get("kind") == kind)
    if name == "1,000 tokens":
        tokens = 0.0
        for row in input_rows:
            if row.get("kind") == "llm_api":
                n = _finite(row.get("quantity_base"))
                t_in, t_out = _finite(row.get("input_tokens")), _finite(row.get("output_tokens"))
                if n is not None and (t_in is not None or t_out is not None):
                    tokens += n * ((t_in or 0.0) + (t_out or 0.0))
        return tokens / 1000.0
    return None


def functional_units_of(engagement: Any, lines: Sequence[Mapping[str, Any]],
                        input_rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The engagement's ``functional_units`` with R filled in where it was left out and the
    default boundary of a counted unit; a unit the toolkit cannot count needs R (located error).
    A counted unit the lines count none of (e.g. tokens or images for a client without generative
    AI) is left out: no SCI row for it, rather than an error or a division by zero."""
    out, problems = [], []
    for i, fu in enumerate(engagement.functional_units):
        name = fu.functional_unit.strip()
        r = fu.R if fu.R is not None else functional_unit_count(name, lines, input_rows)
        if fu.R is None and r is not None and r <= 0:
            continue  # counted, and nothing to count: this engagement has no such unit
        if r is None or r <= 0:
            why = ("the toolkit counts only " + ", ".join(f"'{k}'" for k in COUNTED_UNITS)
                   if r is None else "the lines count none of them")
            problems.append(Problem(file=ENGAGEMENT_FILE, column=f"functional_units[{i}].R",
                                    message=f"give R (how many '{name}' in the period): {why}"))
            continue
        applies_to = fu.applies_to or list(COUNTED_UNITS.get(counted_unit(name) or "", ())) or None
        out.append({"functional_unit": name, "R": float(r), "applies_to": applies_to})
    if problems:
        raise ValidationError(problems)
    return out


def results_blocks(results: Any, out: dict[str, Any]) -> dict[str, Any]:
    """results.json with the issue-13 blocks (``extend_results``) for an ``AuditResults``:
    net revenue, functional units (R counted where left out) and brand clients from the
    engagement; the Scope 3 screening from its ``scope3_exclusions``."""
    eng = results.engagement
    lines = results.lines.to_dict(orient="records")
    input_rows = results.activities.to_dict(orient="records") if results.activities is not None else []
    units = functional_units_of(eng, lines, input_rows)
    # a client_brand column in the activities wins over engagement.yaml's client_brands;
    # derived lines (upstream, embodied) follow their parent activity
    brand_of = {str(r.get("activity_id")): str(r.get("client_brand") or "").strip() for r in input_rows}
    brands = {**eng.client_brands, **{k: v for k, v in brand_of.items() if v}}
    extended = extend_results(out, net_revenue=eng.net_revenue, functional_units=units,
                              client_brand_by_stage=brands)
    extended["functional_unit_counts"] = {name: functional_unit_count(name, lines, input_rows)
                                          for name in COUNTED_UNITS}
    if eng.reduction_target_per_year is not None:
        extended["reduction_target_per_year"] = eng.reduction_target_per_year
    return extended


def scope3_exclusions_yaml() -> str:
    """The ``scope3_exclusions`` stub as engagement.yaml text: all 15 categories, each named in a
    comment, with a blank reason (= not screened yet) for the consultant to fill in."""
    lines = ["# Scope 3 screening, GHG Protocol categories 1-15. Give a reason for each category that is not",
             "# relevant to this client; leave it blank while it is not screened yet (audit validate warns).",
             "# A measured category needs no reason.",
             "scope3_exclusions:"]
    for cat in scope3_categories():
        lines += [f"  - category: {cat['scope3_category']}  # {cat['name']}", '    reason: ""']
    return "\n".join(lines) + "\n"


def measured_scope3_categories(loaded) -> set[int]:
    """Scope 3 categories an engagement's activities fall in, from the scope rules alone (no
    estimate: validation never runs the estimator). The derived lines are counted by the same
    rules the estimator applies: upstream well-to-tank and T&D (Category 3) when
    ``upstream_cat3`` and any Scope 1 or 2 activity exists; embodied hardware (Category 2) when
    ``embodied`` and an owned or leased row names its hardware."""
    acts = map_scopes(loaded.activities)
    found = {int(c) for c in acts.loc[acts["scope"] == 3, "scope3_category"].dropna()}
    eng = loaded.engagement
    if eng.upstream_cat3 and acts["scope"].isin([1, 2]).any():
        found.add(3)
    owned = acts["ownership"].isin(["owned", "leased"]) & acts["hardware"].fillna("").astype(str).ne("")
    if eng.embodied and owned.any():
        found.add(2)
    return found


def screening_warnings(screened_out: Mapping[int, str], measured_categories: Iterable[int]) -> list[str]:
    """One warning per Scope 3 category neither measured nor screened out with a reason."""
    measured = set(measured_categories)
    return [f"Scope 3 category {c['scope3_category']} ({c['name']}) is neither measured nor screened: add "
            f"activities for it, or give a reason in engagement.yaml scope3_exclusions"
            for c in scope3_categories()
            if c["scope3_category"] not in measured and not screened_out.get(c["scope3_category"])]
