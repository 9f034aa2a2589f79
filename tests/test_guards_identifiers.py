"""audit.core.identifiers: look-alike ids are refused by name of the character, normalised ids
compare equal, and every excerpt is bounded (issue 17)."""
from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.core.identifiers import (
    excerpt,
    identifier_problem,
    is_invisible,
    normalise_identifier,
)

LOOKALIKES = {
    "zero-width joiner": ("ACT\u200d-001", "U+200D (ZERO WIDTH JOINER)"),
    "zero-width space": ("ACT-\u200b001", "U+200B (ZERO WIDTH SPACE)"),
    "right-to-left override": ("ACT-\u202e001", "U+202E (RIGHT-TO-LEFT OVERRIDE)"),
    "NUL": ("ACT-001\x00", "U+0000"),
    "soft hyphen": ("ACT\u00ad-001", "U+00AD (SOFT HYPHEN)"),
    "fullwidth letters": ("\uff21\uff23\uff34-001", "U+FF21 (FULLWIDTH LATIN CAPITAL LETTER A)"),
    "Cyrillic a": ("\u0410CT-001", "U+0410 (CYRILLIC CAPITAL LETTER A)"),
    "Greek omicron": ("ACT-0\u039f1", None),  # Greek capital omicron among Latin: mixed only if Latin letters
    "no-break space": ("ACT\u00a0001", "U+00A0 (NO-BREAK SPACE)"),
    "word joiner": ("ACT\u2060001", "U+2060 (WORD JOINER)"),
    "BOM": ("\ufeffACT-001", "U+FEFF"),
}


@pytest.mark.parametrize("name", sorted(LOOKALIKES))
def test_lookalike_ids_are_refused_naming_the_character(name):
    value, named = LOOKALIKES[name]
    problem = identifier_problem(value)
    assert problem is not None
    if named:
        assert named in problem


def test_lookalikes_normalise_to_the_plain_id_where_unicode_says_so():
    plain = "ACT-001"
    for value in ("ACT\u200d-001", "ACT-\u200b001", "ACT\u00ad-001", "\uff21\uff23\uff34-001", "\ufeffACT-001",
                  "ACT-\u202e001", " ACT-001 "):
        assert normalise_identifier(value) == plain, repr(value)


def test_nfd_and_nfc_are_the_same_id_and_not_refused():
    nfc, nfd = "CAF\u00c9-1", "CAFE\u0301-1"
    assert nfc != nfd and normalise_identifier(nfc) == normalise_identifier(nfd)
    assert identifier_problem(nfd) is None and identifier_problem(nfc) is None


@pytest.mark.parametrize("value", ["ACT-001", "gpu_train.v2", "Ünïcödé-ok", "東京-01", "Αθήνα-7", "Москва-3", "a b"])
def test_ordinary_ids_pass(value):
    assert identifier_problem(value) is None


def test_mixed_latin_and_cyrillic_is_refused():
    assert "mixes Latin and Cyrillic" in identifier_problem("p\u0430yroll")  # Cyrillic а


def test_excerpt_bounds_a_4mb_cell():
    text = excerpt("x" * 4_000_000)
    assert len(text) < 120 and text.endswith("(4,000,000 characters)")


def test_excerpt_shows_invisible_characters():
    assert excerpt("A\u200dB\x00") == "A\\u200dB\\x00"


def test_excerpt_of_a_huge_structure_is_bounded():
    # What an expanded alias bomb is: a list repeated into itself.
    level = ["lol"] * 10
    for _ in range(9):
        level = [level] * 10
    assert len(excerpt(level)) < 200


INVISIBLES = st.sampled_from(["\u200b", "\u200c", "\u200d", "\u2060", "\u00ad", "\u202e", "\u202d", "\u2066",
                              "\u200e", "\ufeff", "\u034f", "\u3164", "\ufe0f", "\x00", "\x1b"])
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)


@settings(max_examples=300, deadline=None)
@given(TEXT, INVISIBLES, TEXT)
def test_any_id_with_an_invisible_or_control_character_is_refused(before, ch, after):
    assert identifier_problem(before + ch + after) is not None


@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_normalise_is_idempotent_and_leaves_nothing_invisible(value):
    once = normalise_identifier(value)
    assert normalise_identifier(once) == once
    assert not any(is_invisible(ch) for ch in once)
    assert unicodedata.is_normalized("NFKC", once)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=5_000), st.integers(min_value=10, max_value=200))
def test_excerpt_is_bounded(value, limit):
    out = excerpt(value, limit)
    assert len(out) <= limit + len(f"… ({len(value):,} characters)")
