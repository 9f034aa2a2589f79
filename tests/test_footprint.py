"""The audit's own footprint: codecarbon's offline tracker, and the CPU model a batch shares."""
import cpuinfo

from audit.orchestration import footprint
from audit.orchestration.batch import shared_probes


def test_measured_records_energy_and_the_cpu(monkeypatch):
    monkeypatch.delenv(footprint.CPU_MODEL_ENV, raising=False)
    with footprint.measured("GBR") as record:
        sum(i * i for i in range(200_000))
    assert record["method"] == "codecarbon OfflineEmissionsTracker" and "error" not in record
    assert record["energy_kwh"] >= 0 and record["kgco2e"] >= 0 and record["duration_s"] > 0
    assert record["cpu_model"] == footprint.cpu_model()


def test_a_known_cpu_model_replaces_the_probe_only_while_the_tracker_starts(monkeypatch):
    def probe():
        raise AssertionError("py-cpuinfo probed although the batch parent gave the model")

    monkeypatch.setattr(cpuinfo, "get_cpu_info", probe)
    monkeypatch.setenv(footprint.CPU_MODEL_ENV, "Example CPU 1234")
    with footprint.known_cpu_model():
        assert cpuinfo.get_cpu_info() == {"brand_raw": "Example CPU 1234"}
    assert cpuinfo.get_cpu_info is probe  # restored
    monkeypatch.delenv(footprint.CPU_MODEL_ENV)
    monkeypatch.setattr(footprint, "cached_cpu_model", lambda: "")  # none cached, none found
    with footprint.known_cpu_model():  # no model known: codecarbon probes as usual
        assert cpuinfo.get_cpu_info is probe


def test_the_cpu_probe_runs_once_per_machine(monkeypatch, tmp_path):
    monkeypatch.setenv(footprint.CPU_CACHE_ENV, str(tmp_path))
    monkeypatch.delenv(footprint.CPU_MODEL_ENV, raising=False)
    probes = []
    monkeypatch.setattr(footprint, "cpu_model", lambda: probes.append(1) or "Example CPU 5678")
    assert footprint.cached_cpu_model() == "Example CPU 5678"
    assert footprint.cached_cpu_model() == "Example CPU 5678"
    assert len(probes) == 1 and (tmp_path / footprint.CPU_CACHE_FILE).is_file()
    with footprint.known_cpu_model():  # a later run answers codecarbon from the cache
        assert cpuinfo.get_cpu_info() == {"brand_raw": "Example CPU 5678"}
    assert len(probes) == 1
    monkeypatch.setattr(footprint, "machine_key", lambda: "other host|x86_64|64|Other CPU")
    assert footprint.cached_cpu_model() == "Example CPU 5678" and len(probes) == 2  # other hardware: probed again


def test_batch_parent_probes_once_for_its_children(monkeypatch):
    monkeypatch.delenv(footprint.CPU_MODEL_ENV, raising=False)
    assert shared_probes() == {footprint.CPU_MODEL_ENV: footprint.cpu_model()}
    monkeypatch.setenv(footprint.CPU_MODEL_ENV, "set by the consultant")
    assert shared_probes() == {}  # the environment already carries it to the children
