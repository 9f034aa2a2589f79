"""The factor register: every number has provenance, ids are unique, overrides are recorded."""
from __future__ import annotations

import pandas as pd
import pytest

from audit.core.exceptions import FactorError, InputError, ValidationError
from audit.reference.factors import (
    CODECARBON_VERSION, ECOLOGITS_VERSION, REGISTER_COLUMNS, FactorRegister, cloud_regions, factor_set, load_register,
)
from audit.core.models import FactorOverride


@pytest.fixture(scope="module")
def register() -> FactorRegister:
    return load_register()


def test_register_loads_every_source(register):
    t = register.table
    assert list(t.columns) == REGISTER_COLUMNS
    assert len(t) > 500
    ids = t["factor_id"]
    for prefix in ("desnz-2025:", "grid:codecarbon:", "grid:gcp:", "ecologits:model:", "ecologits:provider:",
                   "ecologits:llm:", "hw:", "pue:", "ccf:", "php:"):
        assert ids.str.startswith(prefix).any(), prefix


@pytest.mark.parametrize("column", ["factor_id", "value", "unit", "source", "year", "licence"])
def test_every_row_has_provenance(register, column):
    col = register.table[column]
    assert col.notna().all(), register.table.loc[col.isna(), "factor_id"].tolist()[:5]
    assert (col.astype(str).str.strip() != "").all()
    if column == "year":
        years = col.astype(int)
        assert years.between(2000, 2030).all(), register.table.loc[~years.between(2000, 2030), "factor_id"].tolist()
    if column == "value":
        assert (col.astype(float) == col.astype(float)).all()  # no NaN values


def test_factor_ids_are_unique(register):
    assert register.table["factor_id"].is_unique
    dup = pd.concat([register.table.head(2), register.table.head(1)]).reset_index(drop=True)
    with pytest.raises(FactorError, match="duplicate factor ids"):
        FactorRegister(dup, register.factor_set)


def test_ranges_bracket_the_central_value(register):
    t = register.table.dropna(subset=["value_low", "value_high"])
    assert len(t) > 100
    assert (t["value_low"].astype(float) <= t["value"].astype(float)).all()
    assert (t["value"].astype(float) <= t["value_high"].astype(float)).all()


def test_codecarbon_grid_intensity_for_gbr(register):
    assert register.value("grid:codecarbon:GBR") == 237.589
    row = register.row("grid:codecarbon:GBR")
    assert row["unit"] == "gCO2e/kWh" and row["region"] == "GBR" and row["part"] == "grid"
    assert CODECARBON_VERSION in row["source"]


def test_desnz_2025_uk_electricity(register):
    hits = register.find(kind="electricity", region="GBR", part="direct")
    assert len(hits) == 1
    row = hits.iloc[0]
    assert row["factor_id"].startswith("desnz-2025:") and float(row["value"]) == 0.177
    assert row["unit"] == "kgCO2e/kWh" and int(row["year"]) == 2025 and row["licence"] == "OGL-3.0"


def test_only_the_chosen_desnz_year_is_loaded(register):
    assert factor_set().desnz_year == 2025
    ids = register.table["factor_id"]
    assert not ids.str.startswith("desnz-2024:").any()
    assert ids.str.startswith("desnz-2025:").sum() > 100


def test_ecologits_model_parameters_for_gpt_4o(register):
    assert register.bounds("ecologits:model:openai/gpt-4o") == (44.0, 88.0, 132.0)
    assert register.has_published_range("ecologits:model:openai/gpt-4o")
    row = register.row("ecologits:model:openai/gpt-4o")
    assert row["unit"] == "billion parameters" and ECOLOGITS_VERSION in row["source"]


def test_ecologits_provider_pue(register):
    assert register.bounds("ecologits:provider:openai") == (1.2, 1.2, 1.2)
    assert register.bounds("ecologits:provider:anthropic") == pytest.approx((1.09, 1.115, 1.14))


def test_factor_without_range_has_equal_bounds(register):
    assert register.bounds("pue:onprem-average") == (1.56, 1.56, 1.56)
    assert not register.has_published_range("pue:onprem-average")


def test_unknown_factor_raises_factor_error(register):
    with pytest.raises(FactorError, match="not in the register"):
        register.value("no:such:factor")
    with pytest.raises(FactorError, match="missing from the register"):
        register.used(["pue:aws", "no:such:factor"])


def test_used_returns_sorted_unique_rows(register):
    used = register.used(["pue:gcp", "pue:aws", "pue:gcp", ""])
    assert used["factor_id"].tolist() == ["pue:aws", "pue:gcp"]
    assert used["value"].tolist() == [1.135, 1.1]
    assert not used["overridden"].any()


def test_overrides_replace_the_value_and_record_the_reason(register):
    reason = "Metered PUE of the client's render room, 2025"
    o = register.with_overrides([FactorOverride(factor_id="pue:onprem-average", value=1.3, reason=reason)])
    assert o.value("pue:onprem-average") == 1.3
    assert o.bounds("pue:onprem-average") == (1.3, 1.3, 1.3)
    assert o.overridden == {"pue:onprem-average": reason}
    row = o.used(["pue:onprem-average"]).iloc[0]
    assert bool(row["overridden"]) and reason in row["notes"]
    assert "engagement override" in row["source"] and "Uptime" in row["source"]  # the replaced source is kept
    # The default register is cached and shared: it must be untouched.
    assert register.value("pue:onprem-average") == 1.56 and not register.overridden
    assert load_register().value("pue:onprem-average") == 1.56


def test_override_of_a_ranged_factor_drops_the_range(register):
    o = register.with_overrides([FactorOverride(factor_id="ecologits:model:openai/gpt-4o", value=200, reason="vendor")])
    assert o.bounds("ecologits:model:openai/gpt-4o") == (200.0, 200.0, 200.0)


def test_override_of_unknown_factor_is_an_input_error_naming_every_one(register):
    """The consultant's mistake, not a gap in the register: located, all at once, exit status 2."""
    overrides = [FactorOverride(factor_id="pue:onprem-average", value=1.3, reason="metered"),
                 FactorOverride(factor_id="pue:moon", value=1.0, reason="why not"),
                 FactorOverride(factor_id="pue:onprem-averge", value=1.2, reason="typo")]
    with pytest.raises(ValidationError, match="unknown factor") as info:
        register.with_overrides(overrides)
    assert isinstance(info.value, InputError) and info.value.exit_code == 2
    assert isinstance(info.value, FactorError)  # callers that catch FactorError still do
    moon, typo = info.value.problems
    assert (moon.file, moon.column) == ("engagement.yaml", "factor_overrides.1.factor_id")
    assert "'pue:moon'" in moon.message
    assert typo.column == "factor_overrides.2.factor_id" and "'pue:onprem-average'" in typo.hint


def test_estimate_with_an_unknown_override_exits_2_not_1():
    """An engagement built in code (a notebook) skips the intake: the estimate still says where."""
    from audit.inventory.estimate import estimate
    from tests.helpers import sample_loaded

    loaded = sample_loaded()
    eng = loaded.engagement.model_copy(update={"factor_overrides": [
        FactorOverride(factor_id="desnz-2025:nope", value=1, reason="typo")]})
    with pytest.raises(ValidationError) as info:
        estimate(type(loaded)(eng, loaded.activities, loaded.folder))
    assert info.value.exit_code == 2 and info.value.problems[0].column == "factor_overrides.0.factor_id"


@pytest.mark.parametrize("factor_id,hint", [
    ("pue:onprem-averge", "'pue:onprem-average'"),
    ("grid:codecarbon:GBRR", "'grid:codecarbon:GBR'"),
    ("desnz-2024:1_100_1003_8_1", "'desnz-2025:1_100_1003_8_1'"),  # another DESNZ year
    ("desnz-2025:nope", "load_register()"),  # no near id: say where the ids are, never a random one
    ("pue:moon", "load_register()"),
])
def test_factor_id_suggestions_stay_in_the_namespace(register, factor_id, hint):
    assert hint in register.suggest(factor_id)


def test_no_overrides_returns_the_same_register(register):
    assert register.with_overrides([]) is register


def test_factor_set_label_names_the_package_versions():
    label = factor_set().label
    assert "DESNZ 2025" in label and f"codecarbon {CODECARBON_VERSION}" in label
    assert f"EcoLogits {ECOLOGITS_VERSION}" in label


def test_cloud_regions_map_to_countries(register):
    regions = cloud_regions()
    assert regions["aws:eu-west-2"] == "GBR" and regions["aws:us-east-1"] == "USA"
    assert regions["azure:uksouth"] == "GBR" and regions["gcp:europe-west2"] == "GBR"
    # Every mapped country has a grid intensity, so a valid region can always be estimated.
    for region, country in regions.items():
        assert f"grid:codecarbon:{country}" in register, region


def test_hotel_proxy_is_built_once_and_follows_overrides(tmp_path):
    from audit.inventory.estimate import estimate
    from audit.reference.factors import HOTEL_PROXY_ID, hotel_proxy_row, load_register
    from audit.inventory.intake import load_engagement
    from tests.helpers import activity, write_engagement

    reg = load_register()
    hotels = reg.find(kind="accommodation", part="direct")
    countries = hotels[~hotels["factor_id"].str.startswith("proxy:")]["value"].astype(float)
    assert reg.value(HOTEL_PROXY_ID) == pytest.approx(countries.mean())  # the proxy never averages itself
    assert hotel_proxy_row(reg)["value"] == pytest.approx(countries.mean())
    first = countries.index[0]
    override = {"factor_id": first, "value": 1000.0, "reason": "client's hotel-chain data"}
    rows = [activity(kind="accommodation", unit="room_night", region="ISL", ownership="employee")]
    folder = write_engagement(tmp_path, rows, factor_overrides=[override])
    est = estimate(load_engagement(folder))
    expected = (countries.sum() - countries[first] + 1000.0) / len(countries)
    assert est.register.value(HOTEL_PROXY_ID) == pytest.approx(expected)


def test_an_overridden_hotel_proxy_is_used_not_recomputed(tmp_path):
    """Overriding the derived proxy itself wins over re-deriving it (it used to be recomputed
    on top of the override, while the register still reported the override)."""
    from audit.inventory.estimate import estimate
    from audit.reference.factors import HOTEL_PROXY_ID
    from audit.inventory.intake import load_engagement
    from tests.helpers import activity, write_engagement

    override = {"factor_id": HOTEL_PROXY_ID, "value": 99.0, "reason": "client's own hotel survey"}
    rows = [activity(kind="accommodation", unit="room_night", region="ISL", ownership="employee", quantity="2")]
    est = estimate(load_engagement(write_engagement(tmp_path, rows, factor_overrides=[override])))
    assert est.register.value(HOTEL_PROXY_ID) == 99.0 and HOTEL_PROXY_ID in est.register.overridden
    line = est.lines.set_index("activity_id").loc["A1"]
    assert line["kgco2e"] == pytest.approx(2 * 99.0)


def test_the_hotel_proxy_says_when_an_override_moved_its_mean():
    from audit.reference.factors import HOTEL_PROXY_ID, load_register
    from audit.core.models import FactorOverride

    reg = load_register()
    uk = reg.find(kind="accommodation", part="direct", region="GBR")["factor_id"].iloc[0]
    moved = reg.with_overrides([FactorOverride(factor_id=uk, value=12.0, reason="client's own hotel data")])
    assert "overridden in this engagement" in moved.row(HOTEL_PROXY_ID)["source"] and uk in moved.row(HOTEL_PROXY_ID)["source"]
    assert "overridden" not in reg.row(HOTEL_PROXY_ID)["source"]
