"""audit.core.safefiles: inputs stay inside the engagement folder, are regular files under a size
cap, are never opened when they are FIFOs or devices, and are counted once (issue 17)."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.core.exceptions import ValidationError
from audit.core.safefiles import (
    MAX_INPUT_BYTES_ENV,
    find_inputs,
    open_input,
    read_input_bytes,
    resolve_input,
    unique_log_files,
)


@pytest.fixture
def eng(tmp_path: Path) -> Path:
    root = tmp_path / "acme"
    (root / "usage").mkdir(parents=True)
    (root / "activities.csv").write_text("activity_id,stage\nA,x\n")
    (root / "usage" / "a.csv").write_text("timestamp\n2025-01-01\n")
    (root / "usage" / "b.csv").write_text("timestamp\n2025-01-02\n")
    return root


def test_a_plain_file_resolves(eng):
    assert resolve_input(eng / "activities.csv", eng, what="activities file") == (eng / "activities.csv").resolve()


def test_link_to_dev_zero_is_refused_without_reading(eng):
    (eng / "activities.csv").unlink()
    (eng / "activities.csv").symlink_to("/dev/zero")
    with pytest.raises(ValidationError) as info:
        resolve_input(eng / "activities.csv", eng, what="activities file", allow_outside=True)
    assert "activities.csv: is a character device, not a regular file" in str(info.value)
    with pytest.raises(ValidationError, match="outside the engagement folder"):
        resolve_input(eng / "activities.csv", eng, what="activities file")


def test_fifo_is_refused_at_once(eng):
    fifo = eng / "usage" / "pipe.csv"
    os.mkfifo(fifo)
    t0 = time.perf_counter()
    with pytest.raises(ValidationError, match="pipe.csv: is a FIFO"):
        resolve_input(fifo, eng)
    with pytest.raises(ValidationError, match="is a FIFO"):
        open_input(fifo)  # O_NONBLOCK: opening a FIFO with no writer does not wait
    assert time.perf_counter() - t0 < 1


def test_link_to_another_clients_file_is_refused(eng, tmp_path):
    other = tmp_path / "globex" / "activities.csv"
    other.parent.mkdir()
    other.write_text("secret\n")
    link = eng / "usage" / "c.csv"
    link.symlink_to(other)
    with pytest.raises(ValidationError) as info:
        resolve_input(link, eng, what="usage log")
    message = str(info.value)
    assert "c.csv: usage log leads through a link to" in message and "globex" in message


def test_link_loop_is_refused(eng):
    (eng / "x.csv").symlink_to(eng / "y.csv")
    (eng / "y.csv").symlink_to(eng / "x.csv")
    with pytest.raises(ValidationError, match="symbolic link loop"):
        resolve_input(eng / "x.csv", eng)


def test_folder_is_refused(eng):
    with pytest.raises(ValidationError, match="is a folder, not a regular file"):
        resolve_input(eng / "usage", eng)


def test_size_cap_names_file_and_cap(eng, monkeypatch):
    with pytest.raises(ValidationError, match=r"a\.csv: is 21 bytes, over the 10 bytes limit"):
        resolve_input(eng / "usage" / "a.csv", eng, max_bytes=10)
    monkeypatch.setenv(MAX_INPUT_BYTES_ENV, "5")
    with pytest.raises(ValidationError, match=MAX_INPUT_BYTES_ENV):
        read_input_bytes(eng / "usage" / "a.csv", eng)
    monkeypatch.delenv(MAX_INPUT_BYTES_ENV)
    assert read_input_bytes(eng / "usage" / "a.csv", eng).startswith(b"timestamp")


def test_duplicates_by_link_and_by_inode_are_dropped_with_a_note(eng):
    usage = eng / "usage"
    (usage / "soft.csv").symlink_to(usage / "a.csv")
    os.link(usage / "b.csv", usage / "hard.csv")
    files, notes = unique_log_files([usage / "a.csv", usage / "b.csv", usage / "soft.csv", usage / "hard.csv"])
    assert files == [(usage / "a.csv").resolve(), (usage / "b.csv").resolve()]
    assert len(notes) == 2
    assert "soft.csv is the same file as" in notes[0] and "a.csv" in notes[0]
    assert "hard.csv is the same file as" in notes[1] and "hard link" in notes[1]


def test_glob_survives_a_link_loop_and_counts_each_log_once(eng):
    usage = eng / "usage"
    (usage / "loop").symlink_to(usage)  # usage/loop/loop/loop/... for ever
    (usage / "twin.csv").symlink_to(usage / "a.csv")
    files, notes = find_inputs("usage/**/*.csv", eng)
    assert [f.name for f in files] == ["a.csv", "b.csv"]
    assert any("loop: a link to a folder, not followed" in n for n in notes)
    assert any("twin.csv is the same file as" in n for n in notes)


def test_folder_entry_linking_to_root_is_refused_without_walking(eng):
    (eng / "shared").symlink_to("/")
    t0 = time.perf_counter()
    with pytest.raises(ValidationError, match="shared: usage log folder leads through a link to /, outside"):
        find_inputs("shared", eng)
    assert time.perf_counter() - t0 < 1


def test_pattern_starting_outside_root_is_refused_without_walking(eng):
    t0 = time.perf_counter()
    with pytest.raises(ValidationError, match="pattern starts outside the engagement folder"):
        find_inputs("/**/*.csv", eng)
    with pytest.raises(ValidationError, match="pattern starts outside"):
        find_inputs("../*/usage/*.csv", eng)
    assert time.perf_counter() - t0 < 1


def test_folder_and_suffix_filter(eng):
    (eng / "usage" / "notes.txt").write_text("x")
    files, notes = find_inputs("usage", eng, suffixes=(".csv",))
    assert [f.name for f in files] == ["a.csv", "b.csv"] and notes == []


def test_glob_caps_entries(eng):
    for i in range(30):
        (eng / "usage" / f"l{i}.csv").write_text("t\n")
    with pytest.raises(ValidationError, match="more than 10 files and folders"):
        find_inputs("usage/*.csv", eng, max_entries=10)
    with pytest.raises(ValidationError, match="more than the 5 allowed"):
        find_inputs("usage/*.csv", eng, max_files=5)


def test_no_match_is_a_located_problem(eng):
    with pytest.raises(ValidationError, match=r"usage/\*\.parquet: no files match"):
        find_inputs("usage/*.parquet", eng)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(["a.csv", "b.csv", "../outside.csv", "l_a", "l_out", "l_loop", "usage"]),
                min_size=1, max_size=6))
def test_any_entry_list_resolves_inside_or_is_refused(tmp_path_factory, names):
    tmp = tmp_path_factory.mktemp("prop")
    root = tmp / "eng"
    root.mkdir()
    (tmp / "outside.csv").write_text("x\n")
    (root / "a.csv").write_text("a\n")
    (root / "b.csv").write_text("b\n")
    (root / "usage").mkdir()
    (root / "l_a").symlink_to(root / "a.csv")
    (root / "l_out").symlink_to(tmp / "outside.csv")
    (root / "l_loop").symlink_to(root / "l_loop")
    try:
        files, _ = unique_log_files([resolve_input(root / n, root) for n in names])
    except ValidationError as exc:
        assert str(exc).count("\n") == 1  # one located problem, never a traceback
        return
    assert all(f.is_relative_to(root.resolve()) and f.is_file() for f in files)
    assert len(files) == len({os.stat(f).st_ino for f in files})
