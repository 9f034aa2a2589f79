"""Paths: client text becomes a file name only through slugify / safe_child, never a path."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from audit.core import paths
from audit.core.paths import safe_child, slugify

SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")

HOSTILE = ["../", "..", ".", "../../etc/passwd", "/etc/passwd", "/", "a/../../b", "..\\..\\windows", "C:\\Temp\\x",
           "a\x00b", "\x00", "", "   ", "...", "-", "~", "~/.ssh", "$HOME", "x/./y", ".hidden", "-rf",
           "con/../..", "a" * 300, "é/../..", "\u202e../evil", "日本語"]


@pytest.mark.parametrize("name", HOSTILE, ids=[repr(n)[:30] for n in HOSTILE])
def test_slugify_never_yields_a_path(name):
    s = slugify(name)
    assert SLUG.match(s), s
    assert "/" not in s and "\\" not in s and "\x00" not in s and ".." not in s
    assert s not in (".", "..")


@pytest.mark.parametrize("name", HOSTILE, ids=[repr(n)[:30] for n in HOSTILE])
def test_safe_child_stays_inside_root(tmp_path, name):
    child = safe_child(tmp_path, name)
    assert child.parent == tmp_path.resolve()
    assert child.is_relative_to(tmp_path.resolve())


@pytest.mark.parametrize("name,slug", [
    ("Acme Studios", "Acme-Studios"),
    ("Café Ünïcode", "Cafe-Unicode"),
    ("../evil", "evil"),
    ("/etc/passwd", "etc-passwd"),
    ("a\x00b", "ab"),
    ("report v1.2", "report-v1.2"),
    ("a -- b", "a-b"),
    ("", "engagement"),
    ("..", "engagement"),
    ("日本語", "engagement"),
])
def test_slugify_examples(name, slug):
    assert slugify(name) == slug


def test_slugify_fallback_and_length():
    assert slugify("", fallback="client") == "client"
    assert len(slugify("x" * 500)) == 80


def test_safe_child_refuses_a_symlink_that_leaves_the_root(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, root / "evil")
    with pytest.raises(ValueError, match="refusing to write outside"):
        safe_child(root, "evil")


def test_safe_child_resolves_a_relative_root(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert safe_child(Path("clients"), "../x") == tmp_path / "clients" / "x"


def test_shipped_locations_exist():
    for p in (paths.DATA_DIR, paths.FACTORS_DIR, paths.SAMPLE_ENGAGEMENT_DIR):
        assert p.is_dir(), p
    for p in (paths.UNITS_FILE, paths.SCOPE_RULES_FILE, paths.KINDS_FILE, paths.INTERVENTIONS_FILE,
              paths.SAMPLE_ENGAGEMENT_DIR / paths.ENGAGEMENT_FILE, paths.SAMPLE_ENGAGEMENT_DIR / paths.ACTIVITIES_FILE):
        assert p.is_file(), p
