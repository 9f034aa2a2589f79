"""`audit list` (audit.cli.listing): each vocabulary lists exactly what the intake checks against.
(The command's output and --search on models and regions: test_usage_buckets.)"""
from __future__ import annotations

from typer.testing import CliRunner

from audit.cli import app
from audit.cli.listing import Vocabulary, vocabulary
from audit.reference.scopes import kinds_table
from audit.reference.vocabularies import hardware_ids, known_countries, modes_by_kind, providers, region_aliases


def test_kinds_modes_units_and_hardware_are_the_intakes_tables():
    kinds = kinds_table()
    assert sorted(vocabulary(Vocabulary.kinds)["kind"]) == sorted(kinds.index)
    modes = vocabulary(Vocabulary.modes)
    assert set(zip(modes["kind"], modes["mode"])) == {(k, m) for k, ms in modes_by_kind().items() for m in ms}
    assert len(modes) == sum(len(ms) for ms in modes_by_kind().values())  # no row twice
    units = vocabulary(Vocabulary.units).set_index("kind")["base_unit"]
    assert units.to_dict() == kinds["base_unit"].to_dict()
    assert list(vocabulary(Vocabulary.hardware)["hardware"]) == list(hardware_ids())
    assert set(vocabulary(Vocabulary.providers)["alias"]) == set(providers().index)


def test_every_region_alias_is_listed_beside_its_country():
    regions = vocabulary(Vocabulary.regions).set_index("region")["also_read"]
    assert list(regions.index) == sorted(known_countries())
    for alias, iso in region_aliases().items():
        if iso in regions.index:
            assert alias in regions[iso].split(", "), (alias, iso)


def test_search_keeps_matching_rows_and_says_when_none_match():
    res = CliRunner().invoke(app, ["list", "kinds", "--search", "LLM_API"])
    assert res.exit_code == 0, res.output
    rows = res.output.strip().splitlines()[1:]
    assert any(r.split()[0] == "llm_api" for r in rows) and all("llm" in r.lower() for r in rows)  # any case
    none = CliRunner().invoke(app, ["list", "hardware", "--search", "no-such-accelerator"])
    assert none.exit_code == 0 and "no hardware match 'no-such-accelerator'" in none.output
