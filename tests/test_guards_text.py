"""audit.core.textinput: encodings are detected and named, empty and header-only logs are named
as such, never as EmptyDataError or a problem in engagement.yaml (issue 17)."""
from __future__ import annotations

import codecs
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.core.exceptions import ValidationError
from audit.core.textinput import (
    decode_text,
    detect_encoding,
    log_file_problem,
    oversized_cells,
)

CSV = "timestamp,provider,model,output_tokens\n2025-01-01T00:00:00Z,openai,gpt-4o,100\n"


@pytest.mark.parametrize("raw,name", [
    (CSV.encode("utf-16-le"), "UTF-16 LE (no BOM)"),
    (CSV.encode("utf-16-be"), "UTF-16 BE (no BOM)"),
    (codecs.BOM_UTF16_LE + CSV.encode("utf-16-le"), "UTF-16 LE with a BOM"),
    (CSV.encode("utf-32-le"), "UTF-32 LE (no BOM)"),
    ("client,Café Crème\n".encode("cp1252"), "Windows-1252 or Latin-1"),
    (CSV.encode("utf-8"), "UTF-8"),
    (codecs.BOM_UTF8 + CSV.encode("utf-8"), "UTF-8"),
    (b"PK\x03\x04rest", "a zip file (an Excel .xlsx workbook?)"),
    (b"PAR1....", "a Parquet file"),
])
def test_detect_encoding(raw, name):
    assert detect_encoding(raw) == name


def test_decode_text_names_utf16_without_bom():
    with pytest.raises(ValidationError) as info:
        decode_text(CSV.encode("utf-16-le"), file="usage/log.csv")
    message = str(info.value)
    assert "usage/log.csv: is UTF-16 LE (no BOM) text, not UTF-8" in message and "\x00" not in message


def test_decode_text_names_windows_1252_and_the_line():
    with pytest.raises(ValidationError) as info:
        decode_text("a,b\nx,Café\n".encode("cp1252"), file="activities.csv")
    assert "activities.csv, row 2: is Windows-1252 or Latin-1 text, not UTF-8; byte 0xe9 reads as 'é'" in str(info.value)


def test_decode_text_accepts_utf8_with_bom():
    assert decode_text(codecs.BOM_UTF8 + "a,é\n".encode(), file="f.csv") == "a,é\n"


@pytest.fixture
def usage(tmp_path: Path) -> Path:
    (tmp_path / "usage").mkdir()
    return tmp_path / "usage"


def test_empty_log(usage):
    f = usage / "empty.csv"
    f.write_bytes(b"")
    p = log_file_problem(f)
    assert p.file == str(f) and p.message == "is empty (0 bytes)"


def test_header_only_log_names_the_log(usage):
    f = usage / "head.csv"
    f.write_text("timestamp,provider,model,output_tokens\n\n")
    p = log_file_problem(f, file="usage/head.csv")
    assert str(p).startswith("usage/head.csv, row 1: has a header row but no requests")
    assert log_file_problem(f, header_only_ok=True) is None  # audit estimate-usage: an empty table


def test_a_good_log_has_no_problem(usage):
    f = usage / "ok.csv"
    f.write_text(CSV)
    assert log_file_problem(f) is None


def test_utf16_log_is_named(usage):
    f = usage / "u16.csv"
    f.write_bytes(CSV.encode("utf-16-le"))
    assert "UTF-16 LE (no BOM)" in log_file_problem(f).message


def test_xlsx_named_csv(usage):
    f = usage / "log.csv"
    f.write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    assert "is a zip file" in log_file_problem(f).message


def test_empty_and_fake_parquet(usage):
    import pandas as pd
    good = usage / "ok.parquet"
    pd.DataFrame({"timestamp": ["2025-01-01"], "output_tokens": [1]}).to_parquet(good)
    assert log_file_problem(good) is None
    empty = usage / "empty.parquet"
    pd.DataFrame({"timestamp": pd.Series([], dtype=str)}).to_parquet(empty)
    assert log_file_problem(empty).message == "has no rows"
    fake = usage / "fake.parquet"
    fake.write_text(CSV)
    assert "is named .parquet but is UTF-8" in log_file_problem(fake).message


@settings(max_examples=200, deadline=None)
@given(st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7e), min_size=8, max_size=200))
def test_ascii_text_in_utf16_is_always_named(text):
    assert detect_encoding(text.encode("utf-16-le")) == "UTF-16 LE (no BOM)"
    assert detect_encoding(text.encode("utf-16-be")) == "UTF-16 BE (no BOM)"
    assert detect_encoding(text.encode("utf-8")) == "UTF-8"


def test_oversized_cells_are_located_without_quoting():
    import pandas as pd
    df = pd.DataFrame({"activity_id": ["A", "B"], "description": ["ok", "x" * 4_000_000]}, index=[2, 3])
    problems = oversized_cells(df, file="activities.csv")
    assert [str(p) for p in problems] == [("activities.csv, row 3, column 'description': cell is 4,000,000 characters, "
                                          "over the 10,000 limit (shorten it; long notes belong in a document; or raise the limit: "
                                              "--max-cell-chars, AUDIT_MAX_CELL_CHARS)")]
    assert oversized_cells(df, file="a.csv", limit=5_000_000) == []
