"""The audit runs with the network switched off (pytest-socket): every factor is shipped data."""
from __future__ import annotations

import socket
import warnings

import pytest
from pytest_socket import SocketBlockedError, disable_socket, enable_socket

import audit.inventory.estimate
import audit.reference.factors
import audit.analyses.interventions
import audit.analyses.options
import audit.inventory.intake
import audit.reference.scopes
import audit.core.units
from audit.core.paths import SAMPLE_ENGAGEMENT_DIR
from tests.helpers import SAMPLE_ACTIVITY_COUNT

CACHED_MODULES = (audit.reference.factors, audit.inventory.intake, audit.inventory.estimate, audit.reference.scopes, audit.core.units,
                  audit.analyses.options, audit.analyses.interventions)


def _clear_audit_caches() -> None:
    """Forget every lru_cache'd table so the offline run really reads the shipped data."""
    for module in CACHED_MODULES:
        for obj in vars(module).values():
            if callable(getattr(obj, "cache_clear", None)) and getattr(obj, "__module__", "") == module.__name__:
                obj.cache_clear()


@pytest.fixture
def no_network():
    """Sockets off for the test, on again afterwards whatever happens."""
    # urllib3 probes IPv6 support with a socket when first imported (codecarbon imports it
    # lazily); the probe never connects, so import it before the network goes away.
    import urllib3  # noqa: F401

    disable_socket(allow_unix_socket=False)
    try:
        with warnings.catch_warnings():  # pytest-socket warns as well as raising; this attempt is ours
            warnings.simplefilter("ignore")
            with pytest.raises(SocketBlockedError):
                socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield caught
    finally:
        enable_socket()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # re-enabled for the tests that follow
    s.close()


def _socket_attempts(caught) -> list[str]:
    return [str(w.message) for w in caught if "socket" in str(w.message).lower()]


def test_audit_runs_offline(no_network):
    from audit import audit_engagement, estimate, load_engagement

    _clear_audit_caches()
    loaded = load_engagement(SAMPLE_ENGAGEMENT_DIR)
    assert len(loaded.activities) == SAMPLE_ACTIVITY_COUNT
    est = estimate(loaded)
    assert est.lines["kgco2e"].gt(0).all()
    assert len(est.factors_used) > 30
    results = audit_engagement(SAMPLE_ENGAGEMENT_DIR)
    assert results.totals["kgco2e"] == pytest.approx(est.lines["kgco2e"].sum(), rel=1e-12)
    assert results.interventions and results.forecast
    assert _socket_attempts(no_network) == []


def test_codecarbon_offline_tracker_starts_and_stops(no_network):
    import logging

    from codecarbon import OfflineEmissionsTracker

    logging.getLogger("codecarbon").setLevel(logging.ERROR)
    tracker = OfflineEmissionsTracker(country_iso_code="GBR", save_to_file=False, log_level="error",
                                      measure_power_secs=1, tracking_mode="process")
    tracker.start()
    sum(i * i for i in range(200_000))
    kg = tracker.stop()
    data = tracker.final_emissions_data
    assert kg is not None and kg >= 0
    assert data.country_iso_code == "GBR" and data.energy_consumed >= 0
    assert _socket_attempts(no_network) == []


def test_footprint_measurement_offline(no_network):
    from audit.orchestration.footprint import measured

    with measured("GBR") as record:
        sum(range(100_000))
    assert "error" not in record, record
    assert record["country"] == "GBR" and record["duration_s"] > 0
    assert record["kgco2e"] >= 0 and record["energy_kwh"] >= 0
    assert _socket_attempts(no_network) == []
