"""audit.reference.vocabularies: one home per vocabulary, read from data/."""
import pandas as pd

from audit.core.models import Kind
from audit.reference.scopes import kinds_table
from audit.reference.vocabularies import (
    KIND_FAMILY_LABELS, generative_kinds, kind_family_labels, kinds_in_family, suggest, suggest_region,
)


def test_every_kind_is_in_exactly_one_family():
    genai, traditional = kinds_in_family("genai_compute"), kinds_in_family("traditional")
    assert set(genai).isdisjoint(traditional)
    assert set(genai) | set(traditional) == {k.value for k in Kind}
    assert set(kinds_table()["family"]) == set(KIND_FAMILY_LABELS)


def test_generative_kinds_are_the_model_outputs_and_part_of_genai():
    assert set(generative_kinds()) == {"llm_api", "image_generation", "video_generation"}
    assert set(generative_kinds()) <= set(kinds_in_family("genai_compute"))


def test_family_labels_map_kinds_to_reader_names():
    labels = kind_family_labels(pd.Series(["llm_api", "travel", "storage"]))
    assert labels.name == "family"
    assert list(labels) == ["Generative AI and compute", "Traditional production", "Generative AI and compute"]


def test_hints_name_the_nearest_choice():
    assert "gpt-4o" in suggest("gpt4o", ["gpt-4o", "claude"])
    assert suggest("", ["a"]) is None
    assert "'GBR'" in suggest_region("UK", {"GBR", "FRA"})
