"""Shared helpers for the core test modules (fixtures live here, not in conftest.py).

Import what a module needs::

    from tests.helpers import activity, write_engagement, sample_estimate

Heavy objects built from the shipped sample (``sample_loaded``, ``sample_estimate``,
``sample_results``) are cached for the whole session: treat them as read-only and copy a
frame before changing it.
"""
from __future__ import annotations

import csv
import io
import shutil
from functools import lru_cache
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
import yaml

from audit.core.exceptions import Problem, ValidationError
from audit.core.models import ALL_COLUMNS
from audit.core.paths import ACTIVITIES_FILE, ENGAGEMENT_FILE, SAMPLE_ENGAGEMENT_DIR

SAMPLE_DIR = SAMPLE_ENGAGEMENT_DIR
SAMPLE_CSV_ACTIVITIES = 33  # rows (31 + PRE-06 self-hosted and PRO-09 recce flight, issue 12) of data/sample_engagement/activities.csv
# USG-… from its usage logs: the gateway log (3 models x 2 stages x 4 months) and the OpenAI usage
# export (2 models x 2 months, stage Ideation)
SAMPLE_USAGE_ACTIVITIES = 24 + 4
SAMPLE_ACTIVITY_COUNT = SAMPLE_CSV_ACTIVITIES + SAMPLE_USAGE_ACTIVITIES
SAMPLE_INPUT_FILES = {"engagement.yaml", "activities.csv", "usage/api_gateway_requests.csv",
                      "usage/openai/usage_completions_2025.json"}

#: The smallest valid engagement.yaml.
BASE_SETTINGS = {
    "client": "Test Client Ltd",
    "period": "2025",
    "currency": "GBP",
    "carbon_price_per_tonne": 85,
    "default_region": "GBR",
}


# --- building inputs ---------------------------------------------------------------------

def engagement_settings(**overrides) -> dict:
    """BASE_SETTINGS with overrides; a value of ``None`` removes the key."""
    out = dict(BASE_SETTINGS)
    for key, value in overrides.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def activity(**fields) -> dict:
    """One valid activity row (100 kWh of owned UK electricity) with ``fields`` replaced."""
    row = {"activity_id": "A1", "stage": "Production", "description": "test activity",
           "kind": "electricity", "quantity": "100", "unit": "kWh"}
    row.update({k: ("" if v is None else str(v)) for k, v in fields.items()})
    return row


def csv_text(rows: list[dict], header: list[str] | None = None) -> str:
    """CSV text for ``rows``. The default header is every contract column used by a row,
    in contract order, then any other (unknown) keys in first-seen order."""
    if header is None:
        used: list[str] = []
        for r in rows:
            used += [k for k in r if k not in used]
        header = [c for c in ALL_COLUMNS if c in used or c in ALL_COLUMNS[:6]]
        header += [k for k in used if k not in header]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=header, lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow(r)
    return buf.getvalue()


def write_activities(path: Path, rows: list[dict], header: list[str] | None = None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(csv_text(rows, header), encoding="utf-8")
    return path


def write_yaml(folder: Path, settings: dict) -> Path:
    path = Path(folder) / ENGAGEMENT_FILE
    path.write_text(yaml.safe_dump(settings, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def write_engagement(tmp_path: Path, rows: list[dict] | str | bytes, name: str = "engagement",
                     header: list[str] | None = None, **settings) -> Path:
    """An engagement folder ``tmp_path/name`` with engagement.yaml and activities.csv.

    ``rows`` is a list of dicts, or the raw CSV text/bytes to write as is. ``settings``
    override BASE_SETTINGS (``None`` removes a key). Returns the folder.
    """
    folder = Path(tmp_path) / name
    folder.mkdir(parents=True, exist_ok=True)
    write_yaml(folder, engagement_settings(**settings))
    csv_path = folder / ACTIVITIES_FILE
    if isinstance(rows, bytes):
        csv_path.write_bytes(rows)
    elif isinstance(rows, str):
        csv_path.write_text(rows, encoding="utf-8")
    else:
        write_activities(csv_path, rows, header)
    return folder


def copy_sample(tmp_path: Path, name: str = "sample") -> Path:
    """A private copy of data/sample_engagement (safe to edit)."""
    return Path(shutil.copytree(SAMPLE_DIR, Path(tmp_path) / name))


def read_rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def rewrite_rows(path: Path, rows: list[dict]) -> None:
    """Write dict rows back with the file's own header."""
    header = list(rows[0].keys())
    Path(path).write_text(csv_text(rows, header), encoding="utf-8")


# --- inspecting outcomes -----------------------------------------------------------------

def problems_from(fn, *args, **kwargs) -> list[Problem]:
    """Call ``fn`` expecting a ValidationError; return its problems."""
    with pytest.raises(ValidationError) as info:
        fn(*args, **kwargs)
    assert info.value.problems, "a ValidationError must list at least one problem"
    return info.value.problems


def find_problem(problems: list[Problem], *, column: str | None = None, row: int | None = None,
                 contains: str | None = None) -> Problem:
    """The single problem matching every given criterion (fails with the full list if none)."""
    hits = [p for p in problems
            if (column is None or p.column == column)
            and (row is None or p.row == row)
            and (contains is None or contains in p.message)]
    listing = "\n".join(f"  {p!r}" for p in problems)
    assert hits, f"no problem with column={column!r} row={row!r} contains={contains!r} in:\n{listing}"
    assert len(hits) == 1, f"several problems match:\n{listing}"
    return hits[0]


def by_id(lines: pd.DataFrame) -> pd.DataFrame:
    """Emission lines indexed by activity_id (ids are unique, derived ones carry '~')."""
    assert lines["activity_id"].is_unique
    return lines.set_index("activity_id")


# --- reading HTML pages ------------------------------------------------------------------

class PageTags(HTMLParser):
    """A page's start tags in order, the resources they point at (tag, attribute, value),
    their ids and the names of their event-handler (on*) attributes."""

    REF_ATTRIBUTES = ("src", "href", "xlink:href", "srcset", "action", "poster", "data")

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.refs: list[tuple[str, str, str]] = []
        self.ids: set[str] = set()
        self.events: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for k, v in attrs:
            if k in self.REF_ATTRIBUTES:
                self.refs.append((tag, k, v or ""))
            if k == "id":
                self.ids.add(v or "")
            if k.startswith("on"):
                self.events.append(k)


def parse_html(text: str) -> PageTags:
    p = PageTags()
    p.feed(text)
    return p


# --- the shipped sample, built once per session ------------------------------------------

@lru_cache(maxsize=1)
def sample_loaded():
    from audit.inventory.intake import load_engagement
    return load_engagement(SAMPLE_DIR)


@lru_cache(maxsize=1)
def sample_estimate():
    from audit.inventory.estimate import estimate
    return estimate(sample_loaded())


@lru_cache(maxsize=1)
def sample_results():
    """``audit_engagement`` on the sample: estimate, interventions and forecast."""
    from audit.orchestration.pipeline import audit_engagement
    return audit_engagement(SAMPLE_DIR)


@lru_cache(maxsize=1)
def sample_results_without_feasibility():
    from audit.inventory.results import from_estimate
    return from_estimate(sample_estimate(), sample_loaded().warnings)


@lru_cache(maxsize=1)
def sample_results_at_carbon_price(carbon_price_per_tonne: float = 10_000.0):
    """(the shared results without feasibility, a copy analysed at ``carbon_price_per_tonne``):
    a price high enough to make the location-shoot cut worth it. Built on a copy: the session's
    shared results must stay untouched (test_registry checks it)."""
    import dataclasses

    from audit.analyses import registry
    base = sample_results_without_feasibility()
    eng = base.engagement.model_copy(update={"carbon_price_per_tonne": carbon_price_per_tonne})
    r = dataclasses.replace(base, engagement=eng, interventions=[], forecast=[], extras={})
    registry.apply(r)
    return base, r


# Provider usage exports (tests/fixtures/usage_exports, synthetic values in the real schemas) and
# the --from format each is read as: the adapter tests and the bucket-estimate tests share them.
USAGE_EXPORT_FIXTURES = Path(__file__).parent / "fixtures" / "usage_exports"
USAGE_EXPORT_CASES = [
    ("openai_usage_completions.json", "openai-usage"),
    ("anthropic_usage.json", "anthropic-usage"),
    ("bedrock_invocations.json.gz", "bedrock"),
    ("litellm_spendlogs.csv", "litellm"),
    ("litellm_daily_team_spend.csv", "litellm"),
    ("langfuse_observations.json", "langfuse"),
    ("helicone_export.jsonl", "helicone"),
    ("openrouter_activity.json", "openrouter"),
    ("gcp_billing.jsonl", "gcp-billing"),
    ("azure_metrics.json", "azure-metrics"),
]
