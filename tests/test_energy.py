"""audit.methods.energy: each equation by hand (device energy and kgCO2e: test_uncertainty)."""
from __future__ import annotations

import pytest

from audit.methods.energy import (
    HOURS_PER_YEAR_365, ccf_cpu_power_w, embodied_kg_per_gpu_hour, image_pixels_scale, image_steps_scale,
    measured_energy_kwh, parse_image_mode, serving_scale,
)


def test_embodied_per_gpu_hour_from_the_two_cited_sources():
    # EcoLogits: 273 kg per A100 + 5,700 kg per 8-GPU server over 3 years
    assert embodied_kg_per_gpu_hour(273.0, 5700.0 / 8, 3) == pytest.approx((273 + 712.5) / 26280, rel=1e-12)
    # Impact Framework SciEmbodied defaults: 150 kg per GPU + 1,000 kg per server over 4 years
    assert embodied_kg_per_gpu_hour(150.0, 1000.0 / 8, 4) == pytest.approx(275 / 35040, rel=1e-12)
    assert HOURS_PER_YEAR_365 == 365 * 24


def test_measured_and_cpu_power_and_serving():
    assert measured_energy_kwh(50, 0.002, 1.2) == pytest.approx(0.12)
    assert ccf_cpu_power_w(0.74, 3.5, 0.5) == pytest.approx(0.74 + 0.5 * 2.76)
    assert ccf_cpu_power_w(0.74, 3.5, 0.0) == 0.74 and ccf_cpu_power_w(0.74, 3.5, 1.0) == 3.5
    assert serving_scale(0.43, 1.10, 1.09) == pytest.approx(1.43 * 1.10 * 1.09)


def test_image_scales_are_one_at_the_reference():
    assert image_steps_scale(30, 30, 0.2) == pytest.approx(1.0)
    assert image_steps_scale(15, 30, 0.2) == pytest.approx(0.2 + 0.8 * 0.5)  # the fixed part stays
    assert image_steps_scale(0, 30, 0.2) == pytest.approx(0.2)
    assert image_pixels_scale(1024 * 1024, 1024 * 1024, 0.6) == 1.0
    assert image_pixels_scale(512 * 512, 1024 * 1024, 0.6) == pytest.approx(0.25 ** 0.6)


@pytest.mark.parametrize("mode,expected", [
    ("1024x768", (1024.0 * 768, None)), ("steps:30", (None, 30.0)),
    ("steps:4; 512x512", (512.0 * 512, 4.0)), ("", (None, None)), (None, (None, None)),
])
def test_parse_image_mode(mode, expected):
    assert parse_image_mode(mode) == expected


@pytest.mark.parametrize("mode", ["1024", "steps:0", "steps:-3", "1024x768x2", "steps:30;hd", "9x9"])
def test_parse_image_mode_refuses_what_it_cannot_read(mode):
    with pytest.raises(ValueError, match="neither a resolution"):
        parse_image_mode(mode)
