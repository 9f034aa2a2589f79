"""Identifiers that look alike are alike: NFKC normalisation, refusal of invisible, control,
bidi and mixed-script characters, and bounded quoting of any value in a message.

Why: an activity id that differs from another only by a zero-width joiner, a soft hyphen, an
RLO, a NUL, fullwidth letters, a Cyrillic look-alike or NFD vs NFC passed the duplicate check,
and the row was counted twice under an id that reads the same (issue 17).

Rules (after Unicode UAX #15 for NFKC, UTS #39 section 5 "single script" restriction level for
mixed scripts, and the Default_Ignorable_Code_Point property of UAX #44 for invisibles):

* ``normalise_identifier`` : NFKC, invisible characters removed, outer white space stripped.
  Use it as the key of every duplicate check.
* ``identifier_problem``   : a message naming the first offending character, or None.
* ``excerpt``              : at most ``limit`` characters of any value, non-printing characters
  shown as ``\\uXXXX``, for every error message (a 4 MB cell gives an 80-character message).

Standard library only (``unicodedata``); no confusables table is shipped, so an id written
wholly in Cyrillic is not matched with its Latin twin (see ``mixed_script_letter``).
"""
from __future__ import annotations

import reprlib
import unicodedata

EXCERPT_LIMIT = 80

# Default-ignorable code points that are not in category Cf (UAX #44, DerivedCoreProperties:
# Default_Ignorable_Code_Point): Hangul fillers, the combining grapheme joiner, Khmer inherent
# vowels, Mongolian variation selectors, variation selectors. They render as nothing.
_IGNORABLE_RANGES = (
    (0x034F, 0x034F), (0x115F, 0x1160), (0x17B4, 0x17B5), (0x180B, 0x180F), (0x3164, 0x3164),
    (0xFE00, 0xFE0F), (0xFFA0, 0xFFA0), (0xE0100, 0xE01EF),
)

# Scripts whose letters are confused with Latin ones (UTS #39 confusables: Cyrillic and Greek
# hold most Latin look-alikes; Armenian and Cherokee a few). Mixed with Latin in one id: refused.
_LOOKALIKE_SCRIPTS = ("CYRILLIC", "GREEK", "ARMENIAN", "CHEROKEE")


def _char_name(ch: str) -> str:
    return f"U+{ord(ch):04X} ({unicodedata.name(ch, 'unnamed')})"


def is_invisible(ch: str) -> bool:
    """True for a character that renders as nothing or reorders text: format characters
    (category Cf: zero-width space/joiner, soft hyphen, bidi controls such as RLO, BOM, tags)
    and the other default-ignorable code points."""
    if unicodedata.category(ch) == "Cf":
        return True
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in _IGNORABLE_RANGES)


def normalise_identifier(value) -> str:
    """The comparison form of an id: NFKC (fullwidth 'ＡＢ' -> 'AB', NFD 'e\\u0301' -> 'é'),
    invisible characters removed, outer white space stripped. Idempotent."""
    text = unicodedata.normalize("NFKC", str(value))
    text = "".join(ch for ch in text if not is_invisible(ch))
    # Removing a character can leave a sequence NFKC would compose differently: normalise again.
    return unicodedata.normalize("NFKC", text).strip()


# Letters of other scripts drawn like a Latin letter (from Unicode's confusables.txt, the
# Cyrillic and Greek letters whose prototype is one ASCII letter): an id written with them
# looks identical to a Latin one, so the duplicate check compares ids with them mapped to Latin.
_CONFUSABLE_FROM = "АВЕКМНОРСТХУЅІЈаеорсхуѕіјԁһԛԝΑΒΕΖΗΙΚΜΝΟΡΤΥΧονρ"
_CONFUSABLE_TO = "ABEKMHOPCTXYSIJaeopcxysijdhqwABEZHIKMNOPTYXovp"
_CONFUSABLES = str.maketrans(_CONFUSABLE_FROM, _CONFUSABLE_TO)


def comparison_key(value) -> str:
    """The form ids are compared in for duplicates: ``normalise_identifier``, then Cyrillic and
    Greek look-alikes of Latin letters mapped to them ('А1' in Cyrillic is 'A1')."""
    return normalise_identifier(value).translate(_CONFUSABLES)


def lookalike_difference(value, other) -> str | None:
    """Name the first character by which ``value`` differs from an id that looks the same
    (``other``), e.g. 'CYRILLIC CAPITAL LETTER A'; None when they are the same text."""
    a, b = normalise_identifier(value), normalise_identifier(other)
    if a == b:
        return None
    return next((_char_name(x) for x, y in zip(a, b) if x != y), None)


def _script(ch: str) -> str | None:
    """The script of a letter, from its Unicode name's first word (a heuristic: 'LATIN SMALL
    LETTER A' -> LATIN, 'CYRILLIC SMALL LETTER A' -> CYRILLIC); None for non-letters."""
    if not unicodedata.category(ch).startswith("L"):
        return None
    name = unicodedata.name(ch, "")
    return name.split(" ", 1)[0] if name else None


def mixed_script_letter(text: str) -> tuple[str, str] | None:
    """(character, script) of the first Cyrillic, Greek, Armenian or Cherokee letter in a text
    that also holds Latin letters, else None."""
    scripts = {}
    for ch in text:
        s = _script(ch)
        if s and s not in scripts:
            scripts[s] = ch
    if "LATIN" not in scripts:
        return None
    for s in _LOOKALIKE_SCRIPTS:
        if s in scripts:
            return scripts[s], s.title()
    return None


def identifier_problem(value) -> str | None:
    """What is wrong with an id, naming the character, or None when it is clean.

    Refused: control characters (NUL, tab, newline...), invisible and bidi characters (zero-width
    space and joiner, soft hyphen, RLO, LRM, BOM...), unassigned, private-use and surrogate code
    points, compatibility forms that NFKC rewrites (fullwidth and circled letters, ligatures,
    superscripts), and Latin mixed with Cyrillic, Greek, Armenian or Cherokee letters.
    Canonical differences (NFD vs NFC, as macOS writes names) are not refused: normalise them.
    """
    text = str(value)
    for ch in text:
        cat = unicodedata.category(ch)
        if cat == "Cc":
            return f"contains the control character {_char_name(ch)}"
        if is_invisible(ch):
            return f"contains the invisible character {_char_name(ch)}"
        if cat in ("Cn", "Co", "Cs"):
            kind = {"Cn": "an unassigned", "Co": "a private-use", "Cs": "a surrogate"}[cat]
            return f"contains {kind} character U+{ord(ch):04X}"
        if cat in ("Zl", "Zp") or (cat == "Zs" and ch != " "):
            return f"contains the white-space character {_char_name(ch)}; use a plain space"
    canonical = unicodedata.normalize("NFC", text)
    for ch in canonical:
        compat = unicodedata.normalize("NFKC", ch)
        if compat != ch:
            return f"contains {_char_name(ch)}, which reads as '{excerpt(compat)}'; type '{excerpt(compat)}'"
    mixed = mixed_script_letter(canonical)
    if mixed:
        ch, script = mixed
        return f"mixes Latin and {script} letters: {_char_name(ch)} looks like a Latin letter"
    return None


def _escape(ch: str) -> str:
    if ch.isprintable() and not is_invisible(ch):
        return ch
    cp = ord(ch)
    return f"\\x{cp:02x}" if cp < 0x100 else f"\\u{cp:04x}" if cp < 0x10000 else f"\\U{cp:08x}"


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict, _REPR.maxtuple, _REPR.maxset = 3, 6, 6, 6, 6
_REPR.maxstring, _REPR.maxother, _REPR.maxlong = EXCERPT_LIMIT, EXCERPT_LIMIT, 40


def excerpt(value, limit: int = EXCERPT_LIMIT) -> str:
    """At most ``limit`` characters of ``value`` for a message, plus a note of how long it was.
    Strings: control and invisible characters are shown escaped (``\\u200d``), so a look-alike
    is visible in the message. Other values (lists, dicts: an expanded YAML alias bomb) are
    repr'd with bounded depth and width (``reprlib``), never in full."""
    if isinstance(value, bytes):
        value = value[: limit * 4].decode("utf-8", "replace") + ("…" if len(value) > limit * 4 else "")
    if not isinstance(value, str):
        value = _REPR.repr(value)
    out, used = [], 0
    for ch in value[: limit + 1]:
        piece = _escape(ch)
        if used + len(piece) > limit:
            break
        out.append(piece)
        used += len(piece)
    if len(out) < len(value):
        return "".join(out) + f"… ({len(value):,} characters)"
    return "".join(out)
