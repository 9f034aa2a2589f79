"""Intake: the sample validates, and every user mistake is a located problem, all at once."""
from __future__ import annotations

import math

import pytest

from audit.exceptions import InputError, ValidationError
from audit.intake import load_activities_file, load_engagement, read_engagement_yaml
from audit.paths import ACTIVITIES_FILE, ENGAGEMENT_FILE
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
    # The sample is clean: its only note says what its usage log became.
    assert len(loaded.warnings) == 1 and "12,000 requests in 1 usage log file(s)" in loaded.warnings[0]


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
    "region given as UK": (dict(region="UK"), "region", "unknown region 'UK'", "'GBR'"),
    "region given as a country name": (dict(region="Germany"), "region", "unknown region 'GERMANY'", "'DEU'"),
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
    from audit.intake import load_engagement

    ok = write_engagement(tmp_path, [activity(quantity="1,250")], name="ok")
    assert load_engagement(ok).activities["quantity"].tolist() == [1250.0]
    bad = write_engagement(tmp_path, [activity(quantity="1,5")], name="bad")
    (p,) = problems_from(load_engagement, bad)
    assert (p.row, p.column) == (2, "quantity") and "comma" in p.message and "decimal point" in p.hint


@pytest.mark.parametrize("unit", ["gallon", "Gallons", "ton"])
def test_ambiguous_units_ask_which_one(tmp_path, unit):
    from tests.helpers import activity, problems_from, write_engagement
    from audit.intake import load_engagement

    kind, good = ("fuel", "imperial_gallon") if "gal" in unit.lower() else ("freight", "tonne_km")
    folder = write_engagement(tmp_path, [activity(kind=kind, unit=unit, mode="")])
    (p,) = problems_from(load_engagement, folder)
    assert p.column == "unit" and "ambiguous" in p.message and good.split("_")[0] in p.hint


def test_imperial_and_us_gallons_convert(tmp_path):
    from tests.helpers import activity, write_engagement
    from audit.intake import load_engagement

    rows = [activity(activity_id="UK", kind="fuel", unit="imperial_gallon", quantity="10"),
            activity(activity_id="US", kind="fuel", unit="US_gallon", quantity="10")]
    q = load_engagement(write_engagement(tmp_path, rows)).activities.set_index("activity_id")["quantity_base"]
    assert q["UK"] == pytest.approx(45.4609) and q["US"] == pytest.approx(37.85411784)


def test_image_power_without_latency_is_an_error(tmp_path):
    from tests.helpers import activity, problems_from, write_engagement
    from audit.intake import load_engagement

    folder = write_engagement(tmp_path, [activity(kind="image_generation", unit="image", power_w="300")])
    (p,) = problems_from(load_engagement, folder)
    assert p.column == "latency_s" and "power_w" in p.message


def test_engagement_default_region_given_as_uk_suggests_gbr(tmp_path):
    folder = write_engagement(tmp_path, [activity()], default_region="UK")
    problems = problems_from(load_engagement, folder)
    p = find_problem(problems, column="default_region")
    assert p.file.endswith("engagement.yaml") and p.hint and "'GBR'" in p.hint
