"""Property and fuzz tests over the intake and the estimator (hypothesis).

* Fuzz: any generated intake either validates or raises a located ``ValidationError``;
  nothing else escapes. ``make fuzz`` runs 10,000 intakes (AUDIT_FUZZ_EXAMPLES=10000).
* Invariants on valid intakes: totals equal the sum of the parts; low <= central <= high;
  results scale linearly in quantity; results do not depend on row order.
"""
import csv
import io
import os
import unicodedata
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.inventory.estimate import estimate
from audit.core.exceptions import ValidationError
from audit.inventory.intake import load_engagement
from audit.core.models import ALL_COLUMNS
from audit.core.paths import SAMPLE_ENGAGEMENT_DIR
from audit.inventory.results import compute_totals

FUZZ_EXAMPLES = int(os.environ.get("AUDIT_FUZZ_EXAMPLES", "120"))
# The sample's settings without its usage log: generated intakes are written to other folders.
ENGAGEMENT_YAML = yaml.safe_dump({k: v for k, v in yaml.safe_load(
    (SAMPLE_ENGAGEMENT_DIR / "engagement.yaml").read_text(encoding="utf-8")).items() if k != "usage_logs"},
    sort_keys=False, allow_unicode=True)

# One valid row per kind: the base every generated valid intake varies.
VALID_ROWS = [
    {"kind": "llm_api", "unit": "request", "provider": "openai", "model": "gpt-4o-mini", "input_tokens": "500",
     "output_tokens": "200", "latency_s": "3"},
    {"kind": "llm_api", "unit": "request", "provider": "anthropic", "model": "claude-sonnet-4-5", "output_tokens": "350"},
    {"kind": "llm_api", "unit": "request", "model": "70B", "output_tokens": "100", "ownership": "owned", "region": "GBR"},
    {"kind": "image_generation", "unit": "image", "provider": "stability", "accepted_fraction": "0.1"},
    {"kind": "video_generation", "unit": "video_second", "provider": "google", "model": "google/veo-3.0"},
    {"kind": "gpu_compute", "unit": "gpu_hour", "hardware": "nvidia-a100-sxm"},
    {"kind": "gpu_compute", "unit": "gpu_hour", "power_w": "300", "pue": "1.2", "carbon_intensity_g_per_kwh": "150"},
    {"kind": "gpu_compute", "unit": "gpu_hour", "hardware": "nvidia-l4", "provider": "gcp", "region": "gcp:europe-west2"},
    {"kind": "cpu_compute", "unit": "vcpu_hour", "provider": "aws", "region": "aws:eu-west-2"},
    {"kind": "electricity", "unit": "MWh", "region": "GBR"},
    {"kind": "electricity", "unit": "kWh", "region": "FRA", "ownership": "leased"},
    {"kind": "fuel", "unit": "litre", "mode": "diesel"},
    {"kind": "travel", "unit": "passenger_km", "mode": "flight_long_haul_business"},
    {"kind": "travel", "unit": "passenger_mile", "mode": "rail_national"},
    {"kind": "accommodation", "unit": "room_night", "region": "USA"},
    {"kind": "accommodation", "unit": "room_night", "region": "ISL"},
    {"kind": "freight", "unit": "tonne_km", "mode": "hgv_average"},
    {"kind": "storage", "unit": "tb_month", "mode": "hdd", "provider": "aws"},
    {"kind": "data_transfer", "unit": "TB", "provider": "azure", "region": "azure:uksouth"},
]

WEIRD_TEXT = st.sampled_from(["", " ", "=1+1", "+SUM(A1)", "@x", "-1", "\t=cmd", "<script>x</script>", "NaN", "inf",
                              "-inf", "1e400", "١٢", "0x10", "1,000", "1_000", "None", "null", "../../etc", "\x00",
                              "ünïcode", "GBR", "aws:eu-west-2", "kWh", "request", "llm_api", "LLM_API", "owned"])
COLUMN_VALUES = {
    "kind": st.one_of(st.sampled_from(["llm_api", "LLM_API", "Image-Generation", "gpu compute", "lmm_api", "fuel",
                                       "travel", "unknown", ""]), WEIRD_TEXT),
    "quantity": st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr),
                          st.integers(-10, 10**9).map(str), WEIRD_TEXT),
    "unit": st.one_of(st.sampled_from(["request", "image", "kWh", "MWh", "litre", "gallon", "passenger_km", "km",
                                       "vehicle_km", "gpu_hour", "hour", "tb_month", "GB", "room night", "tonne.km",
                                       "video_second", "vcpu_hour", "furlong", ""]), WEIRD_TEXT),
    "region": st.sampled_from(["", "GBR", "gbr", "USA", "ISL", "XXX", "aws:eu-west-2", "gcp:europe-west2",
                               "aws:mars-1", "azure:uksouth", "EU"]),
    "ownership": st.sampled_from(["", "owned", "leased", "purchased_service", "employee", "Owned", "rented"]),
    "provider": st.sampled_from(["", "openai", "OpenAI", "anthropic", "aws", "gcp", "stability", "acme-ai"]),
    "model": st.sampled_from(["", "gpt-4o", "gpt-4o-mini", "gpt4o", "70B", "0.5b", "google/veo-3.0", "claude-sonnet-4-5"]),
    "hardware": st.sampled_from(["", "nvidia-a100-sxm", "NVIDIA-L4", "a100", "tpu"]),
    "mode": st.sampled_from(["", "diesel", "flight_long_haul", "flight_short_haul_rf", "hgv_average", "ssd", "rocket"]),
}
NUMERIC_OPTIONAL = ["power_w", "utilisation", "pue", "carbon_intensity_g_per_kwh", "input_tokens", "output_tokens",
                    "latency_s", "accepted_fraction", "data_quality"]
for _c in NUMERIC_OPTIONAL:
    COLUMN_VALUES[_c] = st.one_of(st.just(""), st.floats(-10, 2000).map(lambda v: f"{v:g}"),
                                  st.sampled_from(["0", "1", "5", "6", "0.5", "abc", "nan", "inf", "-1"]))


@st.composite
def fuzz_table(draw):
    """Valid template rows with a few cells mutated, a sometimes-damaged header and a
    sometimes-wrong encoding: exercises both the rejection and the estimation paths."""
    n = draw(st.integers(0, 6))
    columns = list(ALL_COLUMNS)
    if draw(st.integers(0, 9)) == 0:  # 10%: damage the header
        columns = list(draw(st.permutations(columns)))[: draw(st.integers(3, len(columns)))]
        columns[draw(st.integers(0, len(columns) - 1))] = draw(st.sampled_from(["quantty", "Kind ", " UNIT", "extra", ""]))
    rows = []
    for i in range(n):
        row = dict(draw(st.sampled_from(VALID_ROWS)))
        row.update(activity_id=f"A{i}", stage=draw(WEIRD_TEXT), description=draw(WEIRD_TEXT), notes=draw(WEIRD_TEXT),
                   quantity=draw(st.floats(0, 1e9).map(repr)))
        for _ in range(draw(st.integers(0, 2))):  # mutate a few cells
            col = draw(st.sampled_from(list(COLUMN_VALUES) + ["activity_id"]))
            row[col] = draw(COLUMN_VALUES.get(col, st.sampled_from(["A0", "", "x"])))
        rows.append(row)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)
    encoding = draw(st.sampled_from(["utf-8"] * 8 + ["utf-8-sig", "cp1252", "utf-16"]))
    return buf.getvalue().encode(encoding, errors="replace")


def _engagement(folder: Path, csv_bytes: bytes, yaml_text: str = ENGAGEMENT_YAML) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "engagement.yaml").write_text(yaml_text, encoding="utf-8")
    (folder / "activities.csv").write_bytes(csv_bytes)
    return folder


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(fuzz_table())
def test_fuzzed_intake_validates_or_fails_cleanly(csv_bytes):
    with tempfile.TemporaryDirectory() as tmp:
        folder = _engagement(Path(tmp) / "eng", csv_bytes)
        try:
            loaded = load_engagement(folder)
        except ValidationError as err:
            assert err.problems, "a ValidationError must carry at least one problem"
            for p in err.problems:
                assert p.file.endswith(("activities.csv", "engagement.yaml")) and p.message
            return
        result = estimate(loaded)  # validated input must always estimate
        _assert_invariants(result.lines)


@settings(max_examples=max(30, FUZZ_EXAMPLES // 5), deadline=None, suppress_health_check=list(HealthCheck))
@given(st.text(max_size=300))
def test_fuzzed_yaml_validates_or_fails_cleanly(yaml_text):
    with tempfile.TemporaryDirectory() as tmp:
        csv_bytes = (SAMPLE_ENGAGEMENT_DIR / "activities.csv").read_bytes()
        folder = _engagement(Path(tmp) / "eng", csv_bytes, yaml_text)
        with pytest.raises(ValidationError):
            load_engagement(folder)


def _assert_invariants(lines):
    totals = compute_totals(lines)
    assert totals["kgco2e"] == pytest.approx(lines["kgco2e"].sum(), rel=1e-12)
    parts = totals["scope1_kgco2e"] + totals["scope2_location_kgco2e"] + totals["scope3_kgco2e"]
    assert parts == pytest.approx(totals["kgco2e"], rel=1e-9, abs=1e-12)
    assert (lines["kgco2e_low"] <= lines["kgco2e"] * (1 + 1e-12) + 1e-15).all()
    assert (lines["kgco2e"] <= lines["kgco2e_high"] * (1 + 1e-12) + 1e-15).all()
    assert (lines["kgco2e"] >= 0).all()


@st.composite
def valid_table(draw):
    picks = draw(st.lists(st.sampled_from(range(len(VALID_ROWS))), min_size=1, max_size=8))
    rows = []
    for i, k in enumerate(picks):
        row = dict(VALID_ROWS[k])
        row.update(activity_id=f"R{i}", stage=draw(st.sampled_from(["Ideation", "Production", "=Post"])),
                   description=f"row {i}", quantity=repr(draw(st.floats(0.001, 1e6))))
        rows.append(row)
    return rows


def _csv(rows) -> bytes:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(ALL_COLUMNS))
    w.writeheader()
    for r in rows:
        w.writerow(r)
    return buf.getvalue().encode("utf-8")


def _per_activity(folder):
    lines = estimate(load_engagement(folder)).lines
    return lines.set_index("activity_id")[["kwh", "kgco2e", "kgco2e_low", "kgco2e_high", "scope"]].sort_index(), lines


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(valid_table(), st.sampled_from([0.5, 3.0, 1000.0]), st.randoms(use_true_random=False))
def test_valid_intakes_add_up_scale_linearly_and_ignore_row_order(rows, k, rnd):
    with tempfile.TemporaryDirectory() as tmp:
        base, lines = _per_activity(_engagement(Path(tmp) / "a", _csv(rows)))
        _assert_invariants(lines)
        scaled_rows = [dict(r, quantity=repr(float(r["quantity"]) * k)) for r in rows]
        scaled, _ = _per_activity(_engagement(Path(tmp) / "b", _csv(scaled_rows)))
        for col in ("kwh", "kgco2e", "kgco2e_low", "kgco2e_high"):
            assert scaled[col].to_numpy() == pytest.approx(base[col].to_numpy() * k, rel=1e-9, abs=1e-12)
        shuffled = list(rows)
        rnd.shuffle(shuffled)
        reordered, _ = _per_activity(_engagement(Path(tmp) / "c", _csv(shuffled)))
        assert reordered.equals(base)


# --- issue 17: look-alike ids and bounded messages ------------------------------------------------

_INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u2060", "\u00ad", "\u202e", "\u202d", "\u200e", "\ufeff"]


@settings(max_examples=max(30, FUZZ_EXAMPLES // 5), deadline=None, suppress_health_check=list(HealthCheck))
@given(st.from_regex(r"[A-Z]{2,4}-[0-9]{1,3}", fullmatch=True), st.sampled_from(_INVISIBLE), st.data())
def test_an_id_with_a_hidden_character_never_passes_as_a_second_id(base_id, hidden, data):
    """Whatever id and wherever the invisible character goes, the table is refused at that
    row, in column activity_id, with the character named: never two rows under one visible id."""
    at = data.draw(st.integers(0, len(base_id)))
    twin = base_id[:at] + hidden + base_id[at:]
    text = ("activity_id,stage,description,kind,quantity,unit\n"
            f"{base_id},Production,one,electricity,100,kWh\n{twin},Production,two,electricity,100,kWh\n")
    with tempfile.TemporaryDirectory() as tmp:
        folder = _engagement(Path(tmp) / "eng", text.encode("utf-8"))
        with pytest.raises(ValidationError) as err:
            load_engagement(folder)
    row3 = [p for p in err.value.problems if p.row == 3 and p.column == "activity_id"]
    assert row3, [str(p) for p in err.value.problems]
    assert f"U+{ord(hidden):04X}" in str(row3[0]) or unicodedata.name(hidden) in str(row3[0])


@settings(max_examples=max(30, FUZZ_EXAMPLES // 5), deadline=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(["activity_id", "kind", "quantity", "unit", "region", "provider", "model", "ownership"]),
       st.text(min_size=1, max_size=40).filter(lambda t: "\n" not in t and "\r" not in t and '"' not in t),
       st.integers(100, 9_000))
def test_every_message_quotes_a_bounded_excerpt(column, seed, repeat):
    """A long bad cell (under the cell cap) in any column: each message stays short."""
    cell = (seed * (repeat // len(seed) + 1))[:repeat]
    row = {"activity_id": "A1", "stage": "Production", "description": "d", "kind": "electricity",
           "quantity": "100", "unit": "kWh"} | {column: cell}
    header = list(dict.fromkeys(["activity_id", "stage", "description", "kind", "quantity", "unit", column]))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=header)
    w.writeheader()
    w.writerow(row)
    with tempfile.TemporaryDirectory() as tmp:
        folder = _engagement(Path(tmp) / "eng", buf.getvalue().encode("utf-8"))
        try:
            load_engagement(folder)
        except ValidationError as err:
            for p in err.problems:
                assert len(str(p)) < 600, (column, len(str(p)), str(p)[:200])
