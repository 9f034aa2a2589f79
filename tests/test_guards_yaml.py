"""audit.core.safeyaml: alias bombs, deep nesting, duplicate keys and size, each refused quickly,
with bounded memory and a message that names the file and line (issue 17)."""
from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.core.exceptions import ValidationError
from audit.core.safeyaml import MAX_YAML_DEPTH, load_yaml


def billion_laughs(levels: int = 9) -> str:
    """The classic alias bomb: each level refers to the previous one ten times."""
    lines = ['lol0: &lol0 "lol"']
    for i in range(1, levels + 1):
        refs = ", ".join([f"*lol{i - 1}"] * 10)
        lines.append(f"lol{i}: &lol{i} [{refs}]")
    return "\n".join(lines) + "\n"


def refused(text, **kw) -> tuple[str, float, int]:
    """(message, seconds, peak bytes) of load_yaml refusing ``text``."""
    t0 = time.perf_counter()
    with pytest.raises(ValidationError) as info:
        load_yaml(text, source="engagement.yaml", **kw)
    seconds = time.perf_counter() - t0  # untraced; memory on a second, traced run
    tracemalloc.start()
    try:
        with pytest.raises(ValidationError):
            load_yaml(text, source="engagement.yaml", **kw)
        return str(info.value), seconds, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("levels", [9, 10])
def test_alias_bomb_is_refused_where_it_passes_the_cap(levels):
    text = billion_laughs(levels)
    assert len(text) < 2_000  # a bomb as small as the 1.7 KB one of the issue (and one level deeper)
    message, seconds, peak = refused(text)
    # lol5 is the first value over 100,000 once expanded (111,111 values); it is on line 6.
    assert "engagement.yaml, line 6: a value here expands to more than 100,000 values" in message
    assert len(message) < 300
    assert seconds < 0.5 and peak < 5_000_000


def test_a_wide_alias_bomb_is_refused():
    text = "a: &a [" + ", ".join(["1"] * 1000) + "]\nb: [" + ", ".join(["*a"] * 1000) + "]\n"
    message, _, _ = refused(text)
    assert "line 2: a value here expands to more than" in message


def test_aliases_written_by_safe_dump_load():
    import yaml
    shared = ["GBR", "FRA"]
    text = yaml.safe_dump({"regions": shared, "fallback_regions": shared})
    assert "*id001" in text
    assert load_yaml(text, source="e.yaml") == {"regions": shared, "fallback_regions": shared}
    message, _, _ = refused(text, allow_aliases=False)
    assert "alias '*id001'; aliases are not accepted" in message


def test_a_structure_that_contains_itself_is_refused():
    message, _, _ = refused("a: &x [1, *x]\n")
    assert "line 1: the alias '*x' is inside the value it names" in message


def test_the_sample_engagement_loads_as_before():
    import yaml

    from audit.core.paths import SAMPLE_ENGAGEMENT_DIR
    path = SAMPLE_ENGAGEMENT_DIR / "engagement.yaml"
    assert load_yaml(path, source=str(path)) == yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_nested_brackets_are_refused_without_recursion_error(depth):
    message, seconds, peak = refused("x: " + "[" * depth + "]" * depth)
    assert f"nested more than {MAX_YAML_DEPTH} levels" in message and "line 1" in message
    assert seconds < 0.5 and peak < 5_000_000


def test_deep_block_nesting_is_refused_at_its_line():
    text = "".join(" " * i + f"k{i}:\n" for i in range(200)) + " " * 200 + "v\n"
    message, _, _ = refused(text)
    assert f"line {MAX_YAML_DEPTH}:" in message and "nested" in message


def test_ordinary_nesting_loads():
    assert load_yaml("a:\n  b: {c: [1, {d: e}]}\n", source="e.yaml") == {"a": {"b": {"c": [1, {"d": "e"}]}}}


def test_duplicate_key_is_named_with_both_lines():
    message, _, _ = refused("client: Acme\nperiod: '2025'\nclient: Other\n")
    assert "line 3" in message and "key 'client' appears twice" in message and "first on line 1" in message


def test_duplicate_key_in_a_nested_mapping():
    message, _, _ = refused("forecast:\n  gpu_compute: 1\n  gpu_compute: 2\n")
    assert "line 3" in message and "'gpu_compute'" in message


def test_equal_keys_spelt_differently_are_duplicates():
    # YAML 1.1: 'yes' and 'true' are both the boolean True.
    message, _, _ = refused("flags:\n  yes: 1\n  true: 2\n")
    assert "appears twice" in message


def test_file_over_the_size_cap_is_refused_before_reading(tmp_path: Path):
    f = tmp_path / "engagement.yaml"
    f.write_text("a: " + "x" * 5000 + "\n")
    with pytest.raises(ValidationError, match=r"5,004 bytes; a YAML file may be at most 1,000 bytes"):
        load_yaml(f, source=str(f), max_bytes=1000)


def test_a_fifo_is_refused_without_hanging(tmp_path: Path):
    import os
    fifo = tmp_path / "engagement.yaml"
    os.mkfifo(fifo)
    with pytest.raises(ValidationError, match="not a regular file"):
        load_yaml(fifo, source=str(fifo))


def test_not_utf8_names_the_line(tmp_path: Path):
    f = tmp_path / "e.yaml"
    f.write_bytes(b"a: 1\nclient: Caf\xe9\n")
    with pytest.raises(ValidationError, match=r"line 2: is not UTF-8 text \(bad byte 0xe9\)"):
        load_yaml(f, source="e.yaml")


def test_syntax_error_message_is_bounded():
    long_line = "a: 'unterminated " + "x" * 100_000
    message, _, _ = refused(long_line)
    assert "is not valid YAML" in message and len(message) < 400


def test_a_huge_key_in_a_duplicate_message_is_excerpted():
    key = "k" * 1_000  # YAML allows simple keys up to 1,024 characters
    message, _, _ = refused(f"{key}: 1\n{key}: 2\n")
    assert "appears twice" in message and len(message) < 400


@pytest.mark.parametrize("text,what", [("period: 2025-02-30\n", "'2025-02-30' cannot be read as timestamp"),
                                       ("a: !!int 0x\n", "cannot be read as int"),
                                       ("x: 1\nstart: 2025-01-01 25:00:00\n", "cannot be read as timestamp")])
def test_impossible_dates_and_numbers_are_located_not_tracebacks(text, what):
    message, _, _ = refused(text)
    assert what in message and f"line {text.count(chr(10))}" in message


@settings(max_examples=300, deadline=None)
@given(st.text(st.sampled_from(list("ab:-[]{}&*!|>'\"#?,@` \n\t0123456789.e+_\x08\x00")), max_size=80))
def test_any_text_loads_or_gives_one_located_problem(text):
    try:
        load_yaml(text, source="e.yaml")
    except ValidationError as exc:
        assert len(exc.problems) == 1 and exc.problems[0].file == "e.yaml"


def test_a_control_character_is_located():
    message, _, _ = refused("a: 1\nb: x\x08y\n")
    assert "line 2: holds the control character U+0008" in message
