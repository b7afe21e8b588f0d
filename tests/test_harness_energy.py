"""Energy per image and GPU monitoring from hardware counters only: RAPL on a fake powercap tree (the
reader takes its root), NVML through a stand-in module; absent counters leave null and a reason."""

from __future__ import annotations

import os
import types
from pathlib import Path

import numpy as np
import pytest

from harness.energy import EnergyProbe, RaplMeter, energy_probe, wrap_delta
from harness.gpu_monitor import GpuProbe, gpu_probe, load_nvml, process_gpu
from harness.record import RunRecord, check_energy
from harness.runner import probe_fields
from harness.timing import TimingPolicy, measure
from store.schema import SchemaError

MAX = 262_143_328_850  # a real package's max_energy_range_uj


def zone(root: Path, name: str, label: str, energy: str | int, max_range: str | int = MAX) -> Path:
    d = root / name
    d.mkdir(parents=True)
    (d / "name").write_text(f"{label}\n")
    (d / "energy_uj").write_text(f"{energy}\n")
    (d / "max_energy_range_uj").write_text(f"{max_range}\n")
    return d


def test_wrap_around_is_undone_once():
    assert wrap_delta(100, 250, MAX) == 150
    assert wrap_delta(MAX - 10, 5, MAX) == 15


def test_packages_are_summed_subzones_and_psys_are_not(tmp_path):
    p0 = zone(tmp_path, "intel-rapl:0", "package-0", 1_000_000)
    p1 = zone(tmp_path, "intel-rapl:1", "package-1", MAX - 500_000)  # about to wrap
    zone(tmp_path, "intel-rapl:0:0", "core", 7)  # part of package-0
    zone(tmp_path, "intel-rapl:2", "psys", 9)  # the whole platform
    meter = RaplMeter(tmp_path)
    assert [d.name for d in meter.domains] == ["package-0", "package-1"]
    before = meter.read()
    (p0 / "energy_uj").write_text("3000000\n")  # +2 J
    (p1 / "energy_uj").write_text("500000\n")  # wrapped: +1 J
    assert meter.joules(before, meter.read()) == pytest.approx(3.0)


def test_a_probe_gives_joules_per_image_and_mean_power(tmp_path):
    p0 = zone(tmp_path, "intel-rapl:0", "package-0", 0)
    probe = EnergyProbe(RaplMeter(tmp_path))
    probe.start()
    (p0 / "energy_uj").write_text("6000000\n")
    out = probe.stop(duration_s=2.0, images=30)
    assert out["energy_j_per_image"] == pytest.approx(0.2)
    assert out["energy"] == {"source": "rapl", "joules": 6.0, "images": 30, "mean_power_w": 3.0}
    assert "every process" in out["energy_note"] and check_energy(out["energy"]) is out["energy"]


def _reason(root) -> str:
    out = energy_probe("cpu", rapl_root=root).stop(1.0, 1)
    assert out["energy_j_per_image"] is None and out["energy"] is None
    return out["energy_note"]


def test_no_counter_means_null_and_the_reason(tmp_path):
    assert "does not exist" in _reason(tmp_path / "none")
    assert "no RAPL package domain" in _reason(tmp_path)
    zone(tmp_path, "intel-rapl:0", "package-0", "12abc")
    assert "does not hold a counter" in _reason(tmp_path)


@pytest.mark.parametrize(
    "energy",
    ["", "-5", "1" * 80, "\x00\xff", "<script>1</script>", "1e6", "nan"],
)
def test_garbage_counters_are_refused(tmp_path, energy):
    zone(tmp_path, "intel-rapl:0", "package-0", energy)
    assert "does not hold a counter" in _reason(tmp_path)


def test_unreadable_and_non_regular_counters_are_refused(tmp_path):
    p0 = zone(tmp_path, "intel-rapl:0", "package-0", 5)
    (p0 / "max_energy_range_uj").write_text("0\n")
    assert "is 0" in _reason(tmp_path)
    (p0 / "max_energy_range_uj").write_text(f"{MAX}\n")
    (p0 / "energy_uj").unlink()
    os.mkfifo(p0 / "energy_uj")  # would block a plain open()
    assert "not a regular file" in _reason(tmp_path)
    (p0 / "energy_uj").unlink()
    assert "could not be read" in _reason(tmp_path)
    if os.geteuid() != 0:
        (p0 / "energy_uj").write_text("5\n")
        (p0 / "energy_uj").chmod(0)
        assert "not readable by this user" in _reason(tmp_path)


def test_a_counter_that_disappears_mid_run_gives_null_and_the_reason(tmp_path):
    p0 = zone(tmp_path, "intel-rapl:0", "package-0", 5)
    probe = energy_probe("cpu", rapl_root=tmp_path)
    probe.start()
    (p0 / "energy_uj").unlink()
    out = probe.stop(1.0, 10)
    assert out["energy_j_per_image"] is None and "could not be read" in out["energy_note"]


# ---- NVML -------------------------------------------------------------------------------------------


class NVMLError(Exception):
    pass


def fake_nvml(pid: int, energy_mj: list[int] | None = None, util: int = 73, devices: int = 2):
    """A stand-in for pynvml: ``devices`` GPUs, our process on the last one using 300 MiB."""
    energy = iter(energy_mj or [])
    m = types.SimpleNamespace(NVMLError=NVMLError)
    m.nvmlInit = lambda: None
    m.nvmlDeviceGetCount = lambda: devices
    m.nvmlDeviceGetHandleByIndex = lambda i: f"gpu{i}"
    m.nvmlDeviceGetComputeRunningProcesses = lambda h: (
        [types.SimpleNamespace(pid=pid, usedGpuMemory=300 * 2**20)] if h == f"gpu{devices - 1}" else []
    )
    m.nvmlDeviceGetUtilizationRates = lambda h: types.SimpleNamespace(gpu=util, memory=10)
    m.nvmlDeviceGetMemoryInfo = lambda h: types.SimpleNamespace(used=5 * 2**30)

    def total_energy(h):
        if energy_mj is None:
            raise NVMLError("Not Supported")
        return next(energy)

    m.nvmlDeviceGetTotalEnergyConsumption = total_energy
    return m


def test_nvml_energy_is_read_on_the_gpu_this_process_uses():
    nvml = fake_nvml(os.getpid(), energy_mj=[10_000, 10_000, 14_000])  # check, start, stop
    assert process_gpu(nvml) == "gpu1"
    probe = energy_probe("cuda", nvml_module=nvml)
    probe.start()
    out = probe.stop(duration_s=0.5, images=8)
    assert out["energy"]["source"] == "nvml" and out["energy_j_per_image"] == pytest.approx(0.5)
    assert out["energy"]["mean_power_w"] == pytest.approx(8.0)


def test_nvml_absent_or_unsupported_gives_null_and_the_reason(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "pynvml", None)  # import fails as if not installed
    out = energy_probe("cuda").stop(1.0, 1)
    assert out["energy_j_per_image"] is None and "not installed" in out["energy_note"]
    assert gpu_probe("cuda").stop(1.0, 1) == {
        "gpu_util_pct": None,
        "gpu_mem_peak_mb": None,
        "gpu_note": "pynvml (nvidia-ml-py) is not installed",
    }
    broken = fake_nvml(os.getpid())
    broken.nvmlInit = lambda: (_ for _ in ()).throw(NVMLError("NVML Shared Library Not Found"))
    assert "Library Not Found" in energy_probe("cuda", nvml_module=broken).stop(1.0, 1)["energy_note"]
    old_gpu = fake_nvml(os.getpid(), energy_mj=None)
    assert "not available on this GPU" in energy_probe("cuda", nvml_module=old_gpu).stop(1, 1)["energy_note"]
    lost = fake_nvml(os.getpid() + 1)  # our pid on no GPU, two GPUs: cannot tell which
    assert "which of 2 GPUs" in gpu_probe("cuda", lost).stop(1.0, 1)["gpu_note"]
    assert gpu_probe("cpu") is None  # a cpu run has nothing to sample: fields stay absent
    with pytest.raises(Exception, match="Library Not Found"):
        load_nvml(broken)


def test_gpu_sampler_reports_mean_utilisation_and_peak_process_memory():
    import time

    probe = GpuProbe(fake_nvml(os.getpid()), "gpu1", interval_s=0.005)
    probe.start()
    time.sleep(0.05)
    out = probe.stop(0.05, 1)
    assert out["gpu_util_pct"] == 73.0 and out["gpu_mem_peak_mb"] == 300.0 and out["gpu_samples"] >= 1


class _Runner:
    provider, threads, info = "fake", 1, {}

    def to_input(self, batch):
        return batch

    def run(self, x):
        return float(np.square(x).sum())

    def sync(self):
        pass


def test_timed_loop_probes_land_in_the_run_record(tmp_path):
    p0 = zone(tmp_path, "intel-rapl:0", "package-0", 0)

    class Ticking(EnergyProbe):  # the fake counter advances 1 J while the loop runs
        def stop(self, duration_s, images):
            (p0 / "energy_uj").write_text("1000000\n")
            return super().stop(duration_s, images)

    probe = Ticking(RaplMeter(tmp_path))
    policy = TimingPolicy(min_duration_s=0.05, warmup_s=0.0, max_duration_s=0.2)
    m = measure(_Runner(), np.ones((2, 3, 4, 4), np.float32), policy, "cpu", [probe])
    assert m.probes["energy_j_per_image"] == pytest.approx(1.0 / (2 * m.iterations))
    fields = probe_fields({**m.probes, "unrelated": 1})
    run = RunRecord("pytorch", "cpu", "torch-cpu", "fp32", 2, 1, **fields)
    assert run.energy["images"] == 2 * m.iterations and "unrelated" not in fields


@pytest.mark.parametrize(
    "bad",
    [{"source": "guess", "joules": 1.0}, {"source": "rapl", "joules": -1.0}, {"source": "nvml", "images": 0}],
)
def test_stored_energy_is_checked(bad):
    with pytest.raises(SchemaError):
        check_energy(bad)
