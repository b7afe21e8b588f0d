"""Energy per image during the timed loop, from hardware energy counters only (never estimated).

- CUDA runs: NVML's total energy of the GPU board (``nvmlDeviceGetTotalEnergyConsumption``, mJ, Volta+).
- CPU runs: RAPL package counters under ``/sys/class/powercap/intel-rapl:N/energy_uj`` (µJ; AMD CPUs expose
  them there too). Only package domains are summed (their sub-zones are parts of them; ``psys`` covers
  the whole platform and would count the package twice). A counter wraps at ``max_energy_range_uj``: one
  wrap per loop is undone (a loop is capped at seconds; a wrap takes minutes even at hundreds of watts).
  Package energy includes everything else that ran on the package meanwhile: the note says so.

Where no counter can be read (no powercap, ``energy_uj`` root-only since Linux 5.10, no NVML, an old GPU)
the run records ``energy_j_per_image: null`` and the reason in ``energy_note``.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from harness.gpu_monitor import GpuUnavailable, UnavailableProbe, load_nvml, process_gpu

RAPL_ROOT = Path("/sys/class/powercap")
MAX_COUNTER_BYTES = 64  # a counter is one decimal number; anything longer is not one
MAX_NAME_BYTES = 64
_PACKAGE_DIR = re.compile(r"^intel-rapl:\d{1,4}$")
_NUMBER = re.compile(r"^\d{1,20}$")
CPU_PACKAGE_NOTE = "RAPL package energy: includes every process that ran on the CPU package meanwhile"


class EnergyUnavailable(Exception):
    """No energy counter can be read here (one-line reason)."""


def read_counter(path: Path) -> int:
    """A non-negative integer from a sysfs counter file; EnergyUnavailable naming the file otherwise.
    Never opens anything but a regular file (a FIFO would block, a device could be endless)."""
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise EnergyUnavailable(f"{path} is not a regular file")
        with open(path, "rb") as fh:
            raw = fh.read(MAX_COUNTER_BYTES + 1)
    except PermissionError:
        raise EnergyUnavailable(
            f"{path} is not readable by this user (RAPL is root-only since Linux 5.10)"
        ) from None
    except OSError as exc:
        raise EnergyUnavailable(f"{path} could not be read ({exc.strerror or type(exc).__name__})") from None
    text = raw.decode("ascii", "replace").strip()
    if len(raw) > MAX_COUNTER_BYTES or not _NUMBER.match(text):
        raise EnergyUnavailable(f"{path} does not hold a counter ({text[:20]!r})")
    return int(text)


def wrap_delta(before: int, after: int, max_range: int) -> int:
    """Counter increase from ``before`` to ``after`` on a counter that wraps to 0 at ``max_range``."""
    if after >= before:
        return after - before
    return after + max_range - before


@dataclass(frozen=True)
class RaplDomain:
    name: str  # e.g. package-0
    energy_path: Path
    max_range_uj: int


def rapl_domains(root: Path = RAPL_ROOT) -> list[RaplDomain]:
    """The package domains under a powercap root, each with a readable counter; EnergyUnavailable
    with the first reason otherwise."""
    root = Path(root)
    if not root.is_dir():
        raise EnergyUnavailable(f"no RAPL counters: {root} does not exist")
    domains = []
    for zone in sorted(root.iterdir()):
        if not _PACKAGE_DIR.match(zone.name):
            continue
        name = zone.name
        try:
            with open(zone / "name", "rb") as fh:
                name = fh.read(MAX_NAME_BYTES).decode("ascii", "replace").strip() or name
        except OSError:
            pass
        if name.startswith("psys"):
            continue
        max_range = read_counter(zone / "max_energy_range_uj")
        if max_range <= 0:
            raise EnergyUnavailable(f"{zone / 'max_energy_range_uj'} is 0")
        read_counter(zone / "energy_uj")  # readable now, or say why
        domains.append(RaplDomain(name, zone / "energy_uj", max_range))
    if not domains:
        raise EnergyUnavailable(f"no RAPL package domain under {root}")
    return domains


class RaplMeter:
    """Sum of the package counters, in joules between two reads."""

    source = "rapl"

    def __init__(self, root: Path = RAPL_ROOT):
        self.domains = rapl_domains(root)
        self.note = CPU_PACKAGE_NOTE

    def read(self) -> list[int]:
        return [read_counter(d.energy_path) for d in self.domains]

    def joules(self, before: list[int], after: list[int]) -> float:
        uj = sum(
            wrap_delta(b, a, d.max_range_uj) for b, a, d in zip(before, after, self.domains, strict=True)
        )
        return uj / 1e6


class NvmlMeter:
    """The GPU board's total energy since driver load (mJ, 64-bit: never wraps in practice)."""

    source = "nvml"
    note = "NVML board energy of the GPU this process ran on"

    def __init__(self, nvml: Any, handle: Any):
        self.nvml, self.handle = nvml, handle
        self.read()  # NotSupported on pre-Volta GPUs: say so now

    def read(self) -> int:
        try:
            return int(self.nvml.nvmlDeviceGetTotalEnergyConsumption(self.handle))
        except Exception as exc:  # noqa: BLE001 - NVMLError_NotSupported and friends
            raise EnergyUnavailable(f"NVML total energy is not available on this GPU ({exc})") from None

    def joules(self, before: int, after: int) -> float:
        return max(0, after - before) / 1e3


class Meter(Protocol):
    source: str
    note: str

    def read(self) -> Any: ...

    def joules(self, before: Any, after: Any) -> float: ...


class EnergyProbe:
    """A ``harness.timing`` loop probe: counter read at start() and stop(), joules per image."""

    def __init__(self, meter: Meter):
        self.meter = meter
        self.before: Any = None
        self.error: str | None = None

    def start(self) -> None:
        self.error = None
        try:
            self.before = self.meter.read()
        except EnergyUnavailable as exc:
            self.before, self.error = None, str(exc)

    def stop(self, duration_s: float, images: int) -> dict[str, Any]:
        if self.before is None:
            return unmeasured(self.error or "the energy counter was not read")
        try:
            after = self.meter.read()
        except EnergyUnavailable as exc:
            return unmeasured(str(exc))
        joules = self.meter.joules(self.before, after)
        if images <= 0 or duration_s <= 0:
            return unmeasured("no images were timed")
        return {
            "energy_j_per_image": joules / images,
            "energy": {
                "source": self.meter.source,
                "joules": joules,
                "images": images,
                "mean_power_w": joules / duration_s,
            },
            "energy_note": self.meter.note,
        }


def unmeasured(reason: str) -> dict[str, Any]:
    return {"energy_j_per_image": None, "energy": None, "energy_note": reason}


def energy_probe(
    device: str, rapl_root: Path = RAPL_ROOT, nvml_module: Any = None
) -> EnergyProbe | UnavailableProbe:
    """The energy probe for a run on ``device``: NVML on cuda, RAPL on cpu; else one that says why."""
    try:
        if device == "cuda":
            try:
                nvml = load_nvml(nvml_module)
                meter: Meter = NvmlMeter(nvml, process_gpu(nvml))
            except GpuUnavailable as exc:
                raise EnergyUnavailable(str(exc)) from None
        else:
            meter = RaplMeter(rapl_root)
    except EnergyUnavailable as exc:
        return UnavailableProbe({"energy_j_per_image": None, "energy": None}, "energy_note", str(exc))
    return EnergyProbe(meter)
