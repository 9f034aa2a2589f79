"""The lever library as data: every lever has a basis, every price id resolves, every DESNZ id exists."""
from __future__ import annotations

import json
from importlib import resources

import pandas as pd
import pytest
import yaml

from audit.reference import pricing
from audit.core.exceptions import ValidationError
from audit.reference.levers import (
    API_PRICE_TOKENS,
    DESNZ_TO_ADD_FILE,
    LEVERS_FILE,
    Area,
    lever_library,
    read_levers,
)
from audit.core.paths import FACTORS_DIR

LEVERS = lever_library()
IDS = [lv.id for lv in LEVERS]


def test_at_least_twenty_levers_across_production_and_genai():
    assert len(LEVERS) >= 20
    areas = {lv.area for lv in LEVERS}
    assert {Area.PRODUCTION, Area.GENAI} <= areas
    assert sum(lv.area is Area.PRODUCTION for lv in LEVERS) >= 8
    assert sum(lv.area is Area.GENAI for lv in LEVERS) >= 8


def test_issue_12_levers_are_all_there():
    wanted = {"generator_to_hvo", "generator_to_battery_hybrid", "generator_to_grid", "flight_to_rail",
              "cabin_to_economy", "local_crew", "remote_direction", "fewer_shoot_days_previs", "air_to_road_freight",
              "air_to_sea_freight", "fewer_hotel_nights", "smaller_model", "prompt_caching", "batch_api",
              "distil_or_quantise_selfhosted", "managed_service", "fewer_wasted_generations", "cheaper_drafts",
              "rag_peft_finetune"}
    assert wanted <= set(IDS)


@pytest.mark.parametrize("lever", LEVERS, ids=IDS)
def test_every_lever_has_a_basis_citation_and_a_hint(lever):
    assert len(lever.basis) >= 10 and lever.citation and lever.what_would_change_it
    if "assum" in lever.basis.lower() or "assum" in lever.citation.lower():
        assert "Assum" in lever.basis or "Assum" in lever.citation  # said plainly, not hidden
    if lever.area is Area.GENAI:
        assert lever.quality_risk, "GenAI levers state their quality risk"


@pytest.mark.parametrize("lever", LEVERS, ids=IDS)
def test_every_price_id_resolves(lever):
    prices = pricing.unit_prices()
    for pid in (*lever.money.saves, *lever.money.adds):
        assert pid in prices or pid in API_PRICE_TOKENS, f"{lever.id}: unknown price id {pid!r}"


@pytest.mark.parametrize("lever", LEVERS, ids=IDS)
def test_every_desnz_id_exists_or_is_listed_to_add(lever):
    shipped = set(pd.read_csv(FACTORS_DIR / "desnz.csv")["factor_id"])
    to_add = set(pd.read_csv(DESNZ_TO_ADD_FILE)["factor_id"])
    for fid in lever.factors.uses:
        assert fid in shipped, f"{lever.id}: {fid} is not in data/factors/desnz.csv"
    for fid in lever.factors.to_add:
        assert fid in to_add and fid not in shipped, f"{lever.id}: {fid} must be listed in desnz_to_add.csv"


def test_mode_changes_land_on_modes_with_desnz_factors():
    desnz = pd.read_csv(FACTORS_DIR / "desnz.csv")
    modes = set(desnz["mode"].dropna())
    for lever in LEVERS:
        targets = list(lever.change.mode_map.values()) + list(lever.change.set.values() if "mode" in lever.change.set else [])
        if lever.change.mode_switch:
            targets.append(lever.change.mode_switch.to)
        for mode in targets:
            if mode == "hvo":
                assert lever.factors.to_add, "HVO is not shipped yet: the lever must list the rows to add"
                continue
            assert mode in modes, f"{lever.id}: no DESNZ factor for mode {mode!r}"


def test_model_switch_targets_are_priced_and_known_to_ecologits():
    eco = json.loads((resources.files("ecologits") / "data" / "models.json").read_text(encoding="utf-8"))
    known = {(m["provider"], m["name"]) for m in eco["models"]} | {(a["provider"], a["name"]) for a in eco["aliases"]}
    for lever in LEVERS:
        for provider, mapping in lever.change.model_map.items():
            for old, new in mapping.items():
                assert (provider, new) in known, f"{lever.id}: EcoLogits does not know {provider}/{new}"
                old_cost = pricing.api_price(provider, old, 1000, 0, 300)
                new_cost = pricing.api_price(provider, new, 1000, 0, 300)
                assert old_cost.amount is not None and new_cost.amount is not None
                assert new_cost.amount < old_cost.amount, f"{lever.id}: {new} is not cheaper than {old}"


def test_triples_run_from_best_to_worst_case_for_the_climate():
    for lever in LEVERS:
        for col, (lo, mid, hi) in lever.change.scale.items():
            assert lo <= mid <= hi, (lever.id, col)
        if lever.change.accepted_fraction_scale:
            lo, mid, hi = lever.change.accepted_fraction_scale
            assert lo >= mid >= hi
        if lever.change.cached_input_share:
            lo, mid, hi = lever.change.cached_input_share
            assert 1 >= lo >= mid >= hi >= 0


def test_desnz_rows_to_add_name_their_source():
    rows = pd.read_csv(DESNZ_TO_ADD_FILE)
    assert rows["source"].str.contains("DESNZ").all()
    assert rows["status"].notna().all()


def test_a_broken_lever_file_names_the_lever_and_field(tmp_path):
    raw = yaml.safe_load(LEVERS_FILE.read_text(encoding="utf-8"))
    raw["levers"][0]["effort"]["lifetime_years"] = 0
    raw["levers"][1]["surprise"] = "x"
    del raw["levers"][2]["basis"]
    bad = tmp_path / "levers.yaml"
    bad.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(ValidationError) as exc:
        read_levers(bad)
    text = str(exc.value)
    assert f"lever {IDS[0]}" in text and "effort.lifetime_years" in text
    assert f"lever {IDS[1]}" in text and "surprise" in text
    assert f"lever {IDS[2]}" in text and "basis" in text
