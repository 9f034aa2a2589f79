"""GHG Protocol scope mapping: rules are data, looked up by (kind, ownership)."""
from __future__ import annotations

import pandas as pd
import pytest

from audit.core.models import Kind, Ownership
from audit.reference.scopes import SCOPE3_CATEGORY_NAMES, allowed_ownership, kinds_table, map_scopes, scope_rules


def test_rules_are_unique_and_use_the_vocabulary():
    r = scope_rules()
    assert not r.duplicated(["kind", "ownership"]).any()
    assert set(r["kind"]) == {k.value for k in Kind}
    assert set(r["ownership"]) <= {o.value for o in Ownership}
    assert (r["rationale"].str.len() > 20).all()


def test_scope3_rules_have_a_named_category_and_others_none():
    r = scope_rules()
    s3 = r[r["scope"] == 3]
    assert s3["scope3_category"].notna().all()
    for cat, name in zip(s3["scope3_category"], s3["category_name"]):
        assert name.startswith(SCOPE3_CATEGORY_NAMES[int(cat)].split(" (")[0].split(" incl")[0]), (cat, name)
    assert r.loc[r["scope"] != 3, "scope3_category"].isna().all()
    assert set(r["scope"]) == {1, 2, 3}


def test_every_kind_has_a_row_and_its_default_ownerships_have_a_rule():
    kt = kinds_table()
    assert set(kt.index) == {k.value for k in Kind}
    for kind, row in kt.iterrows():
        allowed = allowed_ownership(kind)
        assert row["default_ownership"] in allowed, kind
        assert row["default_ownership_with_provider"] in allowed, kind
        assert 1 <= int(row["default_data_quality"]) <= 5


def test_allowed_ownership():
    assert allowed_ownership("accommodation") == ["employee", "purchased_service"]
    assert set(allowed_ownership("fuel")) == {"owned", "leased", "purchased_service"}
    assert allowed_ownership("no_such_kind") == []


MAPPINGS = [
    ("electricity", "owned", 2, None),
    ("electricity", "leased", 2, None),
    ("electricity", "purchased_service", 3, 1),
    ("electricity", "employee", 3, 7),
    ("gpu_compute", "owned", 2, None),
    ("gpu_compute", "purchased_service", 3, 1),
    ("llm_api", "purchased_service", 3, 1),
    ("llm_api", "owned", 2, None),
    ("fuel", "owned", 1, None),
    ("fuel", "leased", 1, None),
    ("fuel", "purchased_service", 3, 1),
    ("travel", "employee", 3, 6),
    ("travel", "leased", 1, None),
    ("accommodation", "employee", 3, 6),
    ("freight", "purchased_service", 3, 4),
    ("storage", "purchased_service", 3, 1),
    ("data_transfer", "purchased_service", 3, 1),
]


def test_map_scopes_by_kind_and_ownership():
    df = pd.DataFrame([{"activity_id": f"X{i}", "kind": k, "ownership": o} for i, (k, o, _, _) in enumerate(MAPPINGS)],
                      index=range(100, 100 + len(MAPPINGS)))
    out = map_scopes(df)
    assert list(out.index) == list(df.index)  # the caller's index is kept
    assert out["activity_id"].tolist() == df["activity_id"].tolist()
    for (kind, own, scope, cat), (_, row) in zip(MAPPINGS, out.iterrows()):
        assert row["scope"] == scope, (kind, own)
        assert (pd.isna(row["scope3_category"]) if cat is None else row["scope3_category"] == cat), (kind, own)
        assert row["scope_rationale"] and row["scope_category_name"]


def test_map_scopes_leaves_unknown_pairs_blank():
    out = map_scopes(pd.DataFrame([{"kind": "accommodation", "ownership": "owned"}]))
    assert pd.isna(out.at[0, "scope"])


@pytest.mark.parametrize("kind", [k.value for k in Kind])
def test_kind_base_units_are_declared(kind):
    assert kinds_table().at[kind, "base_unit"]
