"""audit.methods.uncertainty and .energy: the shared equations."""
import numpy as np
import pytest

from audit.methods.energy import device_energy_kwh, emissions_kg
from audit.methods.uncertainty import combine_log_bounds, uncertainty_k95


def test_k95_grows_with_worse_data_quality():
    k = uncertainty_k95()
    assert sorted(k) == [1, 2, 3, 4, 5]
    assert all(k[q] <= k[q + 1] for q in range(1, 5)) and k[1] >= 1.0


def test_combined_bounds_are_wider_than_either_source():
    central, low, high = np.array([10.0]), np.array([8.0]), np.array([12.0])
    lo, hi = combine_log_bounds(central, low, high, 1.5)
    assert lo[0] < 8.0 and hi[0] > 12.0 and lo[0] < central[0] < hi[0]
    # the data-quality factor alone when the method has no range: central / k, central x k
    lo, hi = combine_log_bounds(central, central, central, 1.5)
    assert lo[0] == pytest.approx(10 / 1.5) and hi[0] == pytest.approx(15.0)


def test_energy_equations():
    assert device_energy_kwh(10, 300, 1.2) == pytest.approx(3.6)
    assert emissions_kg(1000.0, 200.0) == pytest.approx(200.0)
