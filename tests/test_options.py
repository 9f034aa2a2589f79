"""The options (audit.analyses.options): the lever library and the engagement's own interventions."""
from __future__ import annotations

from audit.analyses.options import Option, intervention_library, interventions_for, savings_specs
from audit.core.models import Engagement
from audit.reference.settings import forecast_defaults
from tests.helpers import BASE_SETTINGS


def test_savings_specs_only_for_engagement_interventions():
    """Library levers price their money from the activities' own prices; an engagement's own
    intervention may still name assumed unit-cost savings."""
    lib = {i.id: i for i in intervention_library()}
    assert savings_specs(lib["virtual_production"]) == []
    own = Engagement.model_validate({**BASE_SETTINGS, "interventions": [{
        "id": "no_hotels", "name": "No hotels", "applies_to": {"kind": ["accommodation"]},
        "change": {"scale": {"quantity": [0, 0, 0]}}, "effort": {"person_days": 1},
        "savings": [{"kind": "accommodation", "unit_cost": "hotel_per_room_night"}]}]})
    option = next(o for o in interventions_for(own) if o.id == "no_hotels")
    assert savings_specs(option) == [{"kind": "accommodation", "unit_cost": "hotel_per_room_night",
                                         **{k: v for k, v in savings_specs(option)[0].items()
                                            if k not in ("kind", "unit_cost")}}]
    for v in forecast_defaults()["unit_costs"].values():
        assert v["value"] >= 0 and v["unit"] and v["basis"]  # every assumption says where it comes from


def test_engagement_interventions_replace_and_extend_the_library():
    own = {"id": "smaller_model", "name": "Our own right-sizing", "applies_to": {"kind": ["llm_api"]},
           "change": {"set": {"model": "3B"}}, "effort": {"person_days": 1}}
    extra = {"id": "no_flights", "name": "Rail only", "applies_to": {"kind": ["travel"]},
             "change": {"scale": {"quantity": [0, 0, 0]}}, "effort": {"person_days": 0}}
    eng = Engagement.model_validate({**BASE_SETTINGS, "interventions": [own, extra]})
    merged = interventions_for(eng)
    ids = [i.id for i in merged]
    assert ids == [i.id for i in intervention_library()] + ["no_flights"]
    assert next(i for i in merged if i.id == "smaller_model").name == "Our own right-sizing"
    assert all(isinstance(i, Option) for i in merged)
