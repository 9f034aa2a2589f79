"""audit.core.atomic: a file is either the old one or the whole new one, never half of either."""
from __future__ import annotations

import os
import stat

import pytest

from audit.core.atomic import atomic_path, write_text


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_write_creates_parents_and_leaves_no_temp_file(tmp_path):
    target = tmp_path / "a" / "b" / "report.html"
    write_text(target, "<p>ok</p>")
    assert target.read_text(encoding="utf-8") == "<p>ok</p>"
    assert _leftovers(target.parent) == []


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_a_new_file_follows_the_current_umask_not_mkstemps_0600(tmp_path, umask):
    old = os.umask(umask)
    try:
        target = tmp_path / "new.csv"
        write_text(target, "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask


def test_a_symlinked_target_is_written_through_the_link(tmp_path):
    real = tmp_path / "real.json"
    real.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    write_text(link, "new")
    assert link.is_symlink() and real.read_text() == "new"


def test_replacing_keeps_the_old_files_mode(tmp_path):
    target = tmp_path / "summary.csv"
    target.write_text("old")
    target.chmod(0o640)
    write_text(target, "new")
    assert target.read_text() == "new" and stat.S_IMODE(target.stat().st_mode) == 0o640


def test_a_failed_write_keeps_the_old_file_and_removes_the_temp_file(tmp_path):
    target = tmp_path / "report.xlsx"
    target.write_bytes(b"old workbook")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half a workb")
        raise RuntimeError("disk full")
    assert target.read_bytes() == b"old workbook"
    assert _leftovers(tmp_path) == []


def test_the_temp_file_is_beside_the_target_so_the_replace_is_one_rename(tmp_path):
    target = tmp_path / "out.json"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp.name.startswith(".out.json.")
        tmp.write_text("{}")
    assert target.read_text() == "{}"
