"""Intake: the sample validates, and every user mistake is a located problem, all at once."""
from __future__ import annotations

import math

import pytest

from audit.core.exceptions import InputError, ValidationError
from audit.inventory.intake import load_activities_file, load_engagement, read_engagement_yaml
from audit.core.paths import ACTIVITIES_FILE, ENGAGEMENT_FILE
from tests.helpers import (
    SAMPLE_ACTIVITY_COUNT, SAMPLE_CSV_ACTIVITIES, SAMPLE_DIR, SAMPLE_INPUT_FILES, activity, find_problem, problems_from,
    sample_loaded, write_engagement,
)

LLM = dict(kind="llm_api", unit="request", provider="openai", model="gpt-4o-mini", output_tokens="300")


def csv_problems(tmp_path, rows, **settings):
    folder = write_engagement(tmp_path, rows, **settings)
    return problems_from(load_engagement, folder), str(folder / ACTIVITIES_FILE)


# --- the sample ----------------------------------------------------------------------------

def test_sample_validates_with_its_activities_usage_log_and_row_numbers():
    loaded = sample_loaded()
    acts = loaded.activities
    assert len(acts) == SAMPLE_ACTIVITY_COUNT
    assert acts["activity_id"].is_unique
    rows = dict(zip(acts["activity_id"], acts["row_number"]))
    assert rows["IDE-01"] == 2 and rows["DEL-05"] == 32  # header is row 1
    assert set(loaded.input_files) == SAMPLE_INPUT_FILES
    assert all(len(h) == 64 for h in loaded.input_files.values())
    # POST-01 (row 19) gives accepted_fraction to a non-generative kind: a warning, not an error.
    # The sample is clean: its notes say what its usage logs became and how the export was read.
    assert "15,174 requests in 2 usage log file(s)" in loaded.warnings[0]
    assert loaded.warnings[1:] == [f"usage logs: {SAMPLE_DIR.resolve().name}/usage/openai/usage_completions_2025.json: "
                                   "read as openai-usage"]


def test_sample_is_normalised():
    acts = sample_loaded().activities.set_index("activity_id")
    assert acts.at["PRO-07", "quantity_base"] == pytest.approx(3200.0)  # 3.2 MWh -> kWh
    assert acts.at["PRE-03", "quantity_base"] == pytest.approx(90.0)  # 1.5 video_minute -> seconds
    assert acts.at["DEL-03", "quantity_base"] == pytest.approx(8500.0)  # 8.5 TB -> GB
    assert acts.at["LOC-01", "provider_canonical"] == "mistralai"  # alias 'mistral'
    assert acts.at["POST-03", "region"] == "aws:us-east-1" and acts.at["POST-03", "country"] == "USA"
    assert acts.at["PRE-01", "ownership"] == "purchased_service"  # kind default with a provider
    assert acts.at["PRE-01", "data_quality"] == 4
    assert acts.at["POST-02", "power_w"] == 380.0


# --- header problems -------------------------------------------------------------------------

def test_missing_required_column_suggests_the_misspelt_header(tmp_path):
    text = "activity_id,stage,description,kind,quantty,unit\nA1,S,d,electricity,1,kWh\n"
    problems, file = csv_problems(tmp_path, text)
    missing = find_problem(problems, column="quantity", contains="required column is missing")
    assert missing.file == file and "quantty" in missing.hint
    unknown = find_problem(problems, column="quantty", contains="unknown column")
    assert "did you mean 'quantity'" in unknown.hint


def test_unknown_extra_column_is_an_error(tmp_path):
    problems, file = csv_problems(tmp_path, [activity(colour="red")])
    p = find_problem(problems, column="colour", contains="unknown column")
    assert p.file == file and "allowed:" in p.hint
    assert len(problems) == 1


def test_empty_file(tmp_path):
    problems, file = csv_problems(tmp_path, "")
    assert len(problems) == 1 and problems[0].file == file and "empty" in problems[0].message


def test_header_only_file(tmp_path):
    problems, file = csv_problems(tmp_path, "activity_id,stage,description,kind,quantity,unit\n")
    assert len(problems) == 1 and problems[0].file == file
    assert "no activities" in problems[0].message


# --- cell problems: file, row and column ---------------------------------------------------

CELL_CASES = {
    # name: (row fields, column, message part, hint part or None)
    "non-numeric quantity": (dict(quantity="abc"), "quantity", "'abc' is not a number", None),
    "negative quantity": (dict(quantity="-5"), "quantity", "out of range", "at least 0"),
    "NaN quantity": (dict(quantity="NaN"), "quantity", "not a number", None),
    "inf quantity": (dict(quantity="inf"), "quantity", "finite", None),
    "-inf quantity": (dict(quantity="-inf"), "quantity", "finite", None),
    "empty quantity": (dict(quantity=""), "quantity", "is empty", None),
    "misspelt kind": (dict(kind="lmm_api", unit="request"), "kind", "unknown kind 'lmm_api'", "'llm_api'"),
    "unit of another kind": (dict(kind="travel", unit="kWh", mode="rail_national"), "unit",
                             "cannot be converted to passenger_km", "travel is counted in passenger_km"),
    "unknown unit": (dict(unit="bananas"), "unit", "unknown unit 'bananas'", None),
    "unknown region": (dict(region="GBRR"), "region", "unknown region 'GBRR'", "'GBR'"),
    "region misspelt": (dict(region="GRB"), "region", "unknown region 'GRB'", None),  # UK, Germany: read (listed)
    "misspelt country name": (dict(region="Frnace"), "region", "unknown region 'FRNACE'", "'FRA'"),
    "unknown cloud region": (dict(kind="gpu_compute", unit="gpu_hour", hardware="nvidia-a100-sxm",
                                  region="aws:eu-west-9"), "region", "unknown cloud region", "'aws:eu-west-2'"),
    "unknown provider": (dict(kind="image_generation", unit="image", provider="openaj"), "provider",
                         "unknown provider 'openaj'", "'openai'"),
    "unknown LLM model": (dict(LLM, model="gpt-4oo"), "model", "unknown model 'gpt-4oo'", "'gpt-4o'"),
    "llm_api without output_tokens": (dict(LLM, output_tokens=""), "output_tokens", "needs output_tokens", None),
    "llm_api without a model": (dict(LLM, model=""), "model", "needs a model", None),
    "gpu without power or hardware": (dict(kind="gpu_compute", unit="gpu_hour"), "hardware",
                                      "needs power_w or a hardware model", None),
    "unknown hardware": (dict(kind="gpu_compute", unit="gpu_hour", hardware="nvidia-a100-sxn"), "hardware",
                         "unknown hardware", "nvidia-a100-sxm"),
    "ownership not valid for kind": (dict(kind="accommodation", unit="room_night", ownership="owned"),
                                     "ownership", "not valid for accommodation", "employee"),
    "unknown mode": (dict(kind="fuel", unit="litre", mode="dieselx"), "mode", "unknown mode 'dieselx'", "'diesel'"),
    "utilisation above 1": (dict(kind="gpu_compute", unit="gpu_hour", hardware="nvidia-l4", utilisation="1.5"),
                            "utilisation", "out of range", "at most 1"),
    "pue below 1": (dict(pue="0.9"), "pue", "out of range", "at least 1"),
    "fractional data quality": (dict(data_quality="2.5"), "data_quality", "whole number", None),
}


@pytest.mark.parametrize("fields,column,message,hint", list(CELL_CASES.values()), ids=list(CELL_CASES))
def test_cell_problem_is_located(tmp_path, fields, column, message, hint):
    rows = [activity(activity_id="OK-1"), activity(activity_id="BAD-1", **fields)]
    problems, file = csv_problems(tmp_path, rows)
    p = find_problem(problems, column=column, contains=message)
    assert p.file == file
    assert p.row == 3  # header row 1, the good row 2, the bad row 3
    if hint:
        assert p.hint and hint in p.hint
    assert all(q.row == 3 for q in problems), problems  # the good row is never blamed
    text = str(p)
    assert text.startswith(file) and "row 3" in text and f"column '{column}'" in text


def test_duplicate_ids_name_the_first_row(tmp_path):
    rows = [activity(activity_id="A1"), activity(activity_id="B1"), activity(activity_id="A1")]
    problems, _ = csv_problems(tmp_path, rows)
    p = find_problem(problems, column="activity_id", contains="duplicate id 'A1'")
    assert p.row == 4 and p.hint == "first used on row 2"
    assert len(problems) == 1


def test_non_utf8_csv_names_the_line_and_byte(tmp_path):
    text = "activity_id,stage,description,kind,quantity,unit\nA1,S,ok,electricity,1,kWh\nA2,S,caf\xe9,electricity,1,kWh\n"
    problems, file = csv_problems(tmp_path, text.encode("cp1252"))
    assert len(problems) == 1
    p = problems[0]
    assert p.file == file and p.row == 3 and "0xe9" in p.message and "UTF-8" in p.hint


def test_all_problems_of_a_file_are_reported_at_once(tmp_path):
    rows = [activity(activity_id="R2", quantity="abc"),
            activity(activity_id="R3", kind="lmm_api"),
            activity(activity_id="R4", region="XXX"),
            activity(activity_id="R5")]
    problems, _ = csv_problems(tmp_path, rows)
    assert len(problems) >= 3
    assert {p.row for p in problems} == {2, 3, 4}
    assert {p.column for p in problems} >= {"quantity", "kind", "region"}
    with pytest.raises(ValidationError, match=r"problems found"):
        load_engagement(tmp_path / "engagement")


def test_blank_lines_keep_the_row_numbers_a_person_sees(tmp_path):
    text = ("activity_id,stage,description,kind,quantity,unit\n"
            "A1,S,d,electricity,1,kWh\n\n"
            "A2,S,d,electricity,oops,kWh\n")
    problems, _ = csv_problems(tmp_path, text)
    assert find_problem(problems, column="quantity").row == 4


# --- what is accepted ---------------------------------------------------------------------

def test_hyphenated_and_upper_case_kinds_are_normalised(tmp_path):
    rows = [activity(activity_id="L1", **dict(LLM, kind="llm-api")),
            activity(activity_id="E1", kind="ELECTRICITY"),
            activity(activity_id="G1", kind="GPU Compute", unit="gpu_hour", hardware="NVIDIA-L4", region="gbr")]
    acts = load_engagement(write_engagement(tmp_path, rows)).activities.set_index("activity_id")
    assert acts["kind"].to_dict() == {"L1": "llm_api", "E1": "electricity", "G1": "gpu_compute"}
    assert acts.at["G1", "region"] == "GBR"


def test_cells_reading_nan_or_none_are_blank(tmp_path):
    rows = [activity(activity_id="A1", notes=" nan ", provider="None", region="GBR"),
            activity(activity_id="A2", notes="None of these", provider="", region="nan")]
    acts = load_engagement(write_engagement(tmp_path, rows)).activities.set_index("activity_id")
    assert acts["notes"].to_dict() == {"A1": "", "A2": "None of these"}
    assert acts["provider"].to_dict() == {"A1": "", "A2": ""}
    assert acts.at["A2", "region"] == ""  # blank: the estimate gives it the engagement's default region


def test_utf8_bom_is_accepted(tmp_path):
    text = "activity_id,stage,description,kind,quantity,unit\nA1,S,café,electricity,12.5,kWh\n"
    folder = write_engagement(tmp_path, b"\xef\xbb\xbf" + text.encode("utf-8"))
    acts = load_engagement(folder).activities
    assert acts.at[0, "activity_id"] == "A1" and acts.at[0, "description"] == "café"
    assert acts.at[0, "quantity"] == 12.5


def test_trailing_spaces_and_case_in_headers_are_accepted(tmp_path):
    text = "activity_id ,Stage  ,description,KIND ,quantity,unit \nA1,S,d,electricity,2,MWh\n"
    acts = load_engagement(write_engagement(tmp_path, text)).activities
    assert acts.at[0, "quantity_base"] == 2000.0


def test_thousands_separators_and_blank_trailing_columns_are_accepted(tmp_path):
    text = 'activity_id,stage,description,kind,quantity,unit,,\nA1,S,d,electricity,"1,250",kWh,,\n'
    acts = load_engagement(write_engagement(tmp_path, text)).activities
    assert acts.at[0, "quantity"] == 1250.0


@pytest.mark.parametrize("provider", ["", "openai"])
def test_model_given_as_a_size_needs_no_known_name(tmp_path, provider):
    row = activity(**dict(LLM, model="70B", provider=provider))
    acts = load_engagement(write_engagement(tmp_path, [row])).activities
    assert acts.at[0, "model"] == "70B" and acts.at[0, "output_tokens"] == 300


def test_bare_activities_file_uses_a_default_engagement(tmp_path):
    folder = write_engagement(tmp_path, [activity()])
    loaded = load_activities_file(folder / ACTIVITIES_FILE)
    assert loaded.engagement.default_region == "GBR" and len(loaded.activities) == 1
    assert list(loaded.input_files) == [ACTIVITIES_FILE]


def test_missing_folder_and_missing_csv(tmp_path):
    with pytest.raises(InputError, match="engagement folder not found"):
        load_engagement(tmp_path / "nope")
    folder = write_engagement(tmp_path, [activity()])
    (folder / ACTIVITIES_FILE).unlink()
    problems = problems_from(load_engagement, folder)
    assert problems[0].message == "file not found" and problems[0].file.endswith(ACTIVITIES_FILE)


# --- engagement.yaml ---------------------------------------------------------------------

GOOD_YAML = "client: X\nperiod: '2025'\ncurrency: GBP\ncarbon_price_per_tonne: 85\ndefault_region: GBR\n"


def yaml_problems(tmp_path, text):
    path = tmp_path / ENGAGEMENT_FILE
    path.write_text(text, encoding="utf-8")
    return problems_from(read_engagement_yaml, path), str(path)


def test_good_yaml_is_read_and_normalised(tmp_path):
    path = tmp_path / ENGAGEMENT_FILE
    path.write_text(GOOD_YAML.replace("GBP", "gbp").replace("GBR", " gbr"), encoding="utf-8")
    eng = read_engagement_yaml(path)
    assert (eng.currency, eng.default_region, eng.radiative_forcing) == ("GBP", "GBR", True)


def test_malformed_yaml_gives_the_line(tmp_path):
    text = GOOD_YAML.replace("carbon_price_per_tonne: 85\n", "carbon_price_per_tonne: 85\n  oops: [1\n")
    problems, file = yaml_problems(tmp_path, text)
    assert len(problems) == 1
    assert problems[0].file == file and "not valid YAML" in problems[0].message
    assert problems[0].row == 5


def test_unknown_yaml_key_suggests_the_right_one(tmp_path):
    problems, file = yaml_problems(tmp_path, GOOD_YAML.replace("currency", "currncy"))
    p = find_problem(problems, column="currncy", contains="unknown key")
    assert p.file == file and "'currency'" in p.hint
    find_problem(problems, column="currency", contains="required key is missing")


def test_missing_yaml_key(tmp_path):
    problems, _ = yaml_problems(tmp_path, GOOD_YAML.replace("default_region: GBR\n", ""))
    assert len(problems) == 1
    find_problem(problems, column="default_region", contains="required key is missing")


def test_bad_yaml_value_is_located(tmp_path):
    problems, _ = yaml_problems(tmp_path, GOOD_YAML.replace("85", "-1"))
    p = find_problem(problems, column="carbon_price_per_tonne")
    assert "-1" in p.message


def test_yaml_that_is_not_a_mapping(tmp_path):
    problems, _ = yaml_problems(tmp_path, "- client\n- period\n")
    assert "mapping" in problems[0].message


def test_engagement_folder_reports_yaml_problems(tmp_path):
    folder = write_engagement(tmp_path, [activity()], currency=None)
    problems = problems_from(load_engagement, folder)
    assert problems[0].file == str(folder / ENGAGEMENT_FILE) and problems[0].column == "currency"


def test_unknown_nested_yaml_key_suggests_the_right_one(tmp_path):
    text = GOOD_YAML + "market_instruments:\n  - region: GBR\n    renewable_shar: 0.6\n"
    problems, _ = yaml_problems(tmp_path, text)
    p = find_problem(problems, contains="unknown key")
    assert p.column == "market_instruments.0.renewable_shar"
    assert p.hint and "'renewable_share'" in p.hint


# --- self-hosted LLM rows with a measured power draw ----------------------------------------

def test_llm_with_whole_number_power_needs_no_model(tmp_path):
    row = activity(kind="llm_api", unit="request", quantity="10", power_w="500", latency_s="2",
                   output_tokens="100", ownership="owned")
    loaded = load_engagement(write_engagement(tmp_path, [row]))
    assert loaded.activities.at[0, "power_w"] == 500


def test_llm_with_fractional_power_needs_no_model(tmp_path):
    row = activity(kind="llm_api", unit="request", quantity="10", power_w="500.0", latency_s="2",
                   output_tokens="100", ownership="owned")
    loaded = load_engagement(write_engagement(tmp_path, [row]))
    assert loaded.activities.at[0, "power_w"] == 500.0 and not math.isnan(loaded.activities.at[0, "latency_s"])


def test_llm_with_power_but_no_latency_is_an_error(tmp_path):
    row = activity(kind="llm_api", unit="request", quantity="10", power_w="500.5", output_tokens="100",
                   ownership="owned")
    problems = problems_from(load_engagement, write_engagement(tmp_path, [row]))
    assert any(p.column in ("latency_s", "model") and p.row == 2 for p in problems)


def test_sample_folder_is_untouched():
    # The tests above write only under tmp_path; the shipped sample must still validate as is.
    assert (SAMPLE_DIR / ACTIVITIES_FILE).read_text(encoding="utf-8").count("\n") == SAMPLE_CSV_ACTIVITIES + 1


# --- ambiguity is asked about, never guessed ----------------------------------------------

def test_decimal_comma_is_rejected_but_thousands_separators_are_read(tmp_path):
    from tests.helpers import activity, problems_from, write_engagement
    from audit.inventory.intake import load_engagement

    ok = write_engagement(tmp_path, [activity(quantity="1,250")], name="ok")
    assert load_engagement(ok).activities["quantity"].tolist() == [1250.0]
    bad = write_engagement(tmp_path, [activity(quantity="1,5")], name="bad")
    (p,) = problems_from(load_engagement, bad)
    assert (p.row, p.column) == (2, "quantity") and "comma" in p.message and "decimal point" in p.hint


@pytest.mark.parametrize("unit", ["gallon", "Gallons", "ton"])
def test_ambiguous_units_ask_which_one(tmp_path, unit):
    from tests.helpers import activity, problems_from, write_engagement
    from audit.inventory.intake import load_engagement

    kind, good = ("fuel", "imperial_gallon") if "gal" in unit.lower() else ("freight", "tonne_km")
    folder = write_engagement(tmp_path, [activity(kind=kind, unit=unit, mode="")])
    (p,) = problems_from(load_engagement, folder)
    assert p.column == "unit" and "ambiguous" in p.message and good.split("_")[0] in p.hint


def test_imperial_and_us_gallons_convert(tmp_path):
    from tests.helpers import activity, write_engagement
    from audit.inventory.intake import load_engagement

    rows = [activity(activity_id="UK", kind="fuel", unit="imperial_gallon", quantity="10"),
            activity(activity_id="US", kind="fuel", unit="US_gallon", quantity="10")]
    q = load_engagement(write_engagement(tmp_path, rows)).activities.set_index("activity_id")["quantity_base"]
    assert q["UK"] == pytest.approx(45.4609) and q["US"] == pytest.approx(37.85411784)


def test_image_power_without_latency_is_an_error(tmp_path):
    from tests.helpers import activity, problems_from, write_engagement
    from audit.inventory.intake import load_engagement

    folder = write_engagement(tmp_path, [activity(kind="image_generation", unit="image", power_w="300")])
    (p,) = problems_from(load_engagement, folder)
    assert p.column == "latency_s" and "power_w" in p.message


def test_engagement_default_region_given_as_uk_suggests_gbr(tmp_path):
    folder = write_engagement(tmp_path, [activity()], default_region="UK")
    problems = problems_from(load_engagement, folder)
    p = find_problem(problems, column="default_region")
    assert p.file.endswith("engagement.yaml") and p.hint and "'GBR'" in p.hint


# --- engagement.yaml against the toolkit's tables (what estimate and run would fail on) ------

def yaml_key_problems(tmp_path, **settings):
    """Problems of an engagement whose activities are fine, so every problem is the YAML's."""
    folder = write_engagement(tmp_path, [activity()], **settings)
    problems = problems_from(load_engagement, folder)
    assert all(p.file == str(folder / ENGAGEMENT_FILE) for p in problems), problems
    return problems


def test_override_of_an_unknown_factor_is_located_with_a_suggestion(tmp_path):
    problems = yaml_key_problems(tmp_path, factor_overrides=[
        {"factor_id": "pue:onprem-average", "value": 1.3, "reason": "metered"},
        {"factor_id": "pue:onprem-averge", "value": 1.2, "reason": "typo"},
        {"factor_id": "desnz-2025:nope", "value": 1, "reason": "typo"}])
    assert len(problems) == 2  # both at once; the good override is not blamed
    p = find_problem(problems, column="factor_overrides.1.factor_id", contains="unknown factor 'pue:onprem-averge'")
    assert "'pue:onprem-average'" in p.hint
    find_problem(problems, column="factor_overrides.2.factor_id", contains="unknown factor 'desnz-2025:nope'")


def test_override_of_another_desnz_year_names_the_register_year(tmp_path):
    (p,) = yaml_key_problems(tmp_path, factor_overrides=[
        {"factor_id": "desnz-2024:1_100_1003_8_1", "value": 1, "reason": "old year"}])
    assert "DESNZ 2025" in p.hint and "'desnz-2025:1_100_1003_8_1'" in p.hint


def test_a_factor_overridden_twice_is_an_error(tmp_path):
    (p,) = yaml_key_problems(tmp_path, factor_overrides=[
        {"factor_id": "pue:onprem-average", "value": 1.3, "reason": "metered"},
        {"factor_id": "pue:onprem-average", "value": 1.4, "reason": "again"}])
    assert p.column == "factor_overrides.1.factor_id" and "twice" in p.message and "factor_overrides.0" in p.hint


def test_validate_cli_exits_2_on_an_unknown_override(tmp_path):
    from typer.testing import CliRunner

    from audit.cli import app

    folder = write_engagement(tmp_path, [activity()], factor_overrides=[
        {"factor_id": "desnz-2025:nope", "value": 1, "reason": "typo"}])
    res = CliRunner().invoke(app, ["validate", str(folder)], prog_name="audit")
    assert res.exit_code == 2, res.output
    assert "key 'factor_overrides.0.factor_id'" in res.output and "unknown factor" in res.output
    assert "Traceback" not in res.output


OWN = {"id": "mine", "name": "Mine", "applies_to": {"kind": ["llm_api"]}, "change": {"set": {"model": "3B"}},
       "effort": {"person_days": 1}}

INTERVENTION_CASES = {
    # name: (changes to OWN, key, message part, hint part)
    "misspelt applies_to key": (dict(applies_to={"kindd": ["llm_api"]}), "interventions.0.applies_to.kindd",
                                "unknown key", "'kind'"),
    "misspelt change operation": (dict(change={"sett": {"model": "3B"}}), "interventions.0.change.sett",
                                  "unknown key", "'set'"),
    "misspelt column to set": (dict(change={"set": {"modle": "3B"}}), "interventions.0.change.set.modle",
                               "unknown key", "'model'"),
    "column that cannot be scaled": (dict(change={"scale": {"stage": [1, 1, 1]}}),
                                     "interventions.0.change.scale.stage", "unknown key", None),
    "scale without three bounds": (dict(change={"scale": {"quantity": [0.5, 0.8]}}),
                                   "interventions.0.change.scale.quantity", "at least 3", None),
    "unknown intensity_scale": (dict(change={"intensity_scale": "night"}), "interventions.0.change.intensity_scale",
                                "'profile'", None),
    "empty change": (dict(change={}), "interventions.0.change", "names no change", None),
    "unknown kind matched": (dict(applies_to={"kind": ["llm_apii"]}), "interventions.0.applies_to.kind.0",
                             "unknown kind 'llm_apii'", "'llm_api'"),
    "unknown ownership matched": (dict(applies_to={"ownership": ["owend"]}),
                                  "interventions.0.applies_to.ownership.0", "unknown ownership 'owend'", "'owned'"),
    "unknown region moved to": (dict(change={"set": {"region": "SWEE"}}), "interventions.0.change.set.region",
                                "unknown region 'SWEE'", "'SWE'"),
    "misspelt savings key": (dict(savings=[{"kind": "travel", "unit_cost": "flight_per_passenger_km",
                                            "mesure": "quantity"}]), "interventions.0.savings.0.mesure",
                             "unknown key", "'measure'"),
    "savings of an unknown kind": (dict(savings=[{"kind": "travell", "unit_cost": "flight_per_passenger_km"}]),
                                   "interventions.0.savings.0.kind", "unknown kind 'travell'", "'travel'"),
    "savings at an unknown unit cost": (dict(savings=[{"kind": "travel", "unit_cost": "flight_per_pasenger_km"}]),
                                        "interventions.0.savings.0.unit_cost", "unknown unit cost",
                                        "'flight_per_passenger_km'"),
    "savings without a unit cost": (dict(savings=[{"kind": "travel"}]), "interventions.0.savings.0.unit_cost",
                                    "required key is missing", None),
}


@pytest.mark.parametrize("changes,key,message,hint", list(INTERVENTION_CASES.values()), ids=list(INTERVENTION_CASES))
def test_custom_intervention_mistakes_are_located(tmp_path, changes, key, message, hint):
    problems = yaml_key_problems(tmp_path, interventions=[{**OWN, **changes}])
    p = find_problem(problems, column=key, contains=message)
    if hint:
        assert p.hint and hint in p.hint, p
    assert len(problems) == 1, problems


def test_intervention_problems_are_reported_at_once(tmp_path):
    bad = {**OWN, "id": "other", "applies_to": {"kindd": ["llm_api"]}, "change": {"sett": {"model": "3B"}}}
    problems = yaml_key_problems(tmp_path, interventions=[OWN, bad, dict(bad, id="mine")])
    assert {p.column for p in problems} == {
        "interventions.1.applies_to.kindd", "interventions.1.change.sett",
        "interventions.2.applies_to.kindd", "interventions.2.change.sett", "interventions.2.id"}
    assert "used twice" in find_problem(problems, column="interventions.2.id").message


def test_valid_custom_interventions_load_and_round_trip(tmp_path):
    import json

    from audit.analyses.options import intervention_library
    from audit.core.models import Engagement

    own = [{**OWN, "applies_to": {"kind": ["travel"], "stage": ["Production"]},
            "change": {"set": {"region": "aws:eu-north-1", "ownership": "employee"},
                       "scale": {"quantity": [0, 0.5, 1]}},
            "savings": [{"kind": "travel", "mode_prefix": ["taxi"], "measure": "quantity",
                         "unit_cost": "taxi_per_km"}]},
           {**OWN, "id": "night", "change": {"intensity_scale": "profile", "accepted_fraction_scale": [3, 2, 1.25]}}]
    # A unit cost the toolkit does not ship is fine when the engagement's savings price with it.
    folder = write_engagement(tmp_path, [activity()], interventions=own, forecast={"unit_costs": {"taxi_per_km": 2.5}})
    eng = load_engagement(folder).engagement
    iv = eng.interventions[0]
    assert iv.change["set"] == {"region": "aws:eu-north-1", "ownership": "employee"}  # plain dicts, as before
    assert iv.change["scale"]["quantity"][1] == 0.5 and iv.savings[0]["unit_cost"] == "taxi_per_km"
    assert Engagement.model_validate(json.loads(eng.model_dump_json())) == eng  # the pipeline reloads it
    assert len(intervention_library()) >= 7  # the shipped library keeps loading


def test_an_engagement_unit_cost_nobody_uses_is_a_typo(tmp_path):
    (p,) = yaml_key_problems(tmp_path, forecast={"unit_costs": {"hotel_per_room_nite": 100}})
    assert p.column == "forecast.unit_costs.hotel_per_room_nite" and "unknown unit cost" in p.message
    assert "'hotel_per_room_night'" in p.hint


FORECAST_CASES = {
    # name: (forecast settings, key, message part, hint part)
    "misspelt kind": ({"usage_growth_per_year": {"llm_apii": 0.2}}, "forecast.usage_growth_per_year.llm_apii",
                      "unknown kind", "'llm_api'"),
    "kind in another spelling": ({"usage_growth_per_year": {"LLM-API": 0.2}}, "forecast.usage_growth_per_year.LLM-API",
                                 "unknown kind", "'llm_api'"),
    "stage instead of a kind": ({"usage_growth_per_year": {"Production": 0.2}},
                                "forecast.usage_growth_per_year.Production", "unknown kind", "by kind"),
    "growth below -100 %": ({"usage_growth_per_year": {"llm_api": -1.5}}, "forecast.usage_growth_per_year.llm_api",
                            "greater than or equal to -1", "fraction"),
    "misspelt country": ({"grid_decarbonisation_per_year": {"GBRR": 0.1}},
                         "forecast.grid_decarbonisation_per_year.GBRR", "unknown country", "'GBR'"),
    "lower-case country": ({"grid_decarbonisation_per_year": {"gbr": 0.1}},
                           "forecast.grid_decarbonisation_per_year.gbr", "unknown country", "'GBR'"),
    "country given as UK": ({"grid_decarbonisation_per_year": {"UK": 0.1}},
                            "forecast.grid_decarbonisation_per_year.UK", "unknown country", "'GBR'"),
    "cloud region for a country": ({"grid_decarbonisation_per_year": {"aws:eu-west-2": 0.1}},
                                   "forecast.grid_decarbonisation_per_year.aws:eu-west-2", "unknown country", "'GBR'"),
    "Default capitalised": ({"grid_decarbonisation_per_year": {"Default": 0.1}},
                            "forecast.grid_decarbonisation_per_year.Default", "unknown country", "'default'"),
    "decarbonisation of 100 %": ({"grid_decarbonisation_per_year": {"GBR": 1.0}},
                                 "forecast.grid_decarbonisation_per_year.GBR", "less than 1", None),
    "negative decarbonisation": ({"grid_decarbonisation_per_year": {"default": -0.1}},
                                 "forecast.grid_decarbonisation_per_year.default", "greater than or equal to 0", None),
    "negative unit cost": ({"unit_costs": {"diesel_per_litre": -1}}, "forecast.unit_costs.diesel_per_litre",
                           "greater than or equal to 0", None),
    "infinite growth": ({"usage_growth_per_year": {"llm_api": float("inf")}},
                        "forecast.usage_growth_per_year.llm_api", "finite", None),
}


@pytest.mark.parametrize("forecast,key,message,hint", list(FORECAST_CASES.values()), ids=list(FORECAST_CASES))
def test_forecast_setting_mistakes_are_located(tmp_path, forecast, key, message, hint):
    problems = yaml_key_problems(tmp_path, forecast=forecast)
    p = find_problem(problems, column=key, contains=message)
    if hint:
        assert p.hint and hint in p.hint, p
    assert len(problems) == 1, problems


def test_valid_forecast_settings_are_accepted(tmp_path):
    forecast = {"usage_growth_per_year": {"llm_api": 0.5, "travel": -1},
                "grid_decarbonisation_per_year": {"GBR": 0.2, "SWE": 0.0, "default": 0.05},
                "unit_costs": {"hotel_per_room_night": 99}}
    eng = load_engagement(write_engagement(tmp_path, [activity()], forecast=forecast)).engagement
    assert eng.forecast.grid_decarbonisation_per_year == {"GBR": 0.2, "SWE": 0.0, "default": 0.05}


def test_shipped_forecast_defaults_pass_the_same_checks():
    from audit.reference.settings import forecast_defaults
    from audit.inventory.intake import forecast_problems
    from audit.core.models import ForecastSettings

    d = forecast_defaults()
    shipped = {"usage_growth_per_year": d["usage_growth_per_year"],
               "grid_decarbonisation_per_year": d["grid_decarbonisation_per_year"],
               "unit_costs": {k: v["value"] for k, v in d["unit_costs"].items()}}
    ForecastSettings.model_validate(shipped)
    assert forecast_problems(shipped, "data/forecast_defaults.yaml", prefix="") == []


def test_period_without_a_year_needs_a_base_year(tmp_path):
    (p,) = yaml_key_problems(tmp_path, period="FY")
    assert p.column == "period" and "no 4-digit year" in p.message and "base_year" in p.hint
    eng = load_engagement(write_engagement(tmp_path, [activity()], name="ok", period="FY", base_year=2025)).engagement
    assert eng.base_year == 2025
    (p,) = yaml_key_problems(tmp_path / "b", base_year=25)
    assert p.column == "base_year" and "4-digit year" in p.hint


@pytest.mark.parametrize("kind,unit,word", [
    ("freight", "ton*km", "ton"), ("freight", "tons*km", "tons"), ("freight", "km*ton", "ton"),
    ("freight", "ton*mile", "ton"), ("freight", "ton km", "ton"), ("freight", "ton_mile", "ton_mile"),
    ("fuel", "pint", "pint"), ("fuel", "1000 gallons", "gallons"), ("fuel", "barrel", "barrel"),
])
def test_ambiguous_units_inside_expressions_ask_which_one(tmp_path, kind, unit, word):
    folder = write_engagement(tmp_path, [activity(kind=kind, unit=unit, mode="")])
    (p,) = problems_from(load_engagement, folder)
    assert p.column == "unit" and p.row == 2 and "ambiguous" in p.message
    assert word in p.message or unit == word
    assert ("tonne" if kind == "freight" else "imperial") in p.hint or "oil_barrel" in p.hint


def test_explicit_tons_in_expressions_convert(tmp_path):
    rows = [activity(activity_id="US", kind="freight", unit="short_ton*km", quantity="10"),
            activity(activity_id="UK", kind="freight", unit="long_ton*mile", quantity="1"),
            activity(activity_id="T", kind="freight", unit="t*km", quantity="10"),
            activity(activity_id="P", kind="fuel", unit="imperial_pint", quantity="8")]
    q = load_engagement(write_engagement(tmp_path, rows)).activities.set_index("activity_id")["quantity_base"]
    assert q["US"] == pytest.approx(9.0718474) and q["T"] == pytest.approx(10.0)
    assert q["UK"] == pytest.approx(1.0160469088 * 1.609344) and q["P"] == pytest.approx(4.54609)


def test_header_problems_do_not_hide_the_rows_problems(tmp_path):
    """All problems of a file at once: a missing or unknown column is listed together with
    the rows' own mistakes, instead of one fix-and-rerun round per kind of mistake."""
    text = ("activity_id,stage,description,kind,quantity,foo\n"
            "A1,Production,x,electricty,100,1\n"
            "A2,Production,y,electricity,-5,2\n")
    folder = write_engagement(tmp_path, text)
    problems = problems_from(load_engagement, folder)
    assert find_problem(problems, column="unit", contains="required column is missing")
    assert find_problem(problems, column="foo", contains="unknown column")
    assert find_problem(problems, row=2, column="kind", contains="electricty")
    assert find_problem(problems, row=3, column="quantity")
    assert not [p for p in problems if p.column == "unit" and p.row is not None]  # not repeated per row


def test_market_instruments_are_checked_against_regions_and_one_basis_each(tmp_path):
    folder = write_engagement(tmp_path, [activity()], market_instruments=[
        {"region": "XXX", "renewable_share": 0.5},
        {"region": "FRA", "supplier_factor_g_per_kwh": 10, "renewable_share": 0.5},
        {"region": "fra", "renewable_share": 0.2},
        {"region": "DEU"}])
    problems = problems_from(load_engagement, folder)
    assert find_problem(problems, column="market_instruments.0.region", contains="unknown region")
    assert find_problem(problems, column="market_instruments.1", contains="both")
    assert find_problem(problems, column="market_instruments.2.region", contains="two instruments")
    assert find_problem(problems, column="market_instruments.3", contains="neither")


def test_scorecard_weights_are_the_consultants_and_checked(tmp_path):
    from audit.orchestration.pipeline import audit_engagement
    from audit.analyses.scorecard import default_weights

    folder = write_engagement(tmp_path, [activity()], scorecard_weights={"acuracy": 2})
    assert find_problem(problems_from(load_engagement, folder), column="scorecard_weights.acuracy",
                        contains="unknown scorecard factor").hint == "did you mean 'accuracy'?"
    llm = activity(activity_id="L1", **LLM, quantity="1000")
    weighted = write_engagement(tmp_path, [llm], name="weighted", scorecard_weights={"accuracy": 9.0})
    card = audit_engagement(weighted).analysis("scorecard")
    assert card["weights"]["accuracy"] == 9.0 and card["weights"]["speed"] == default_weights()["speed"]
