"""GPU utilisation and memory while a CUDA run is timed, sampled through NVML (``pynvml``, the
``nvidia-ml-py`` package) on a background thread; and the one place that opens NVML for this process.

NVML's utilisation is the share of its own sampling period (1/6 s to 1 s, by GPU) in which a kernel ran,
for the whole device; memory is what NVML reports this process using (CUDA context and every allocator
included, so it covers ONNX Runtime too), else the device's used memory when the process list is not
visible (containers). torch's ``max_memory_allocated`` stays the record's ``peak_gpu_mb`` for PyTorch.
Without NVML, a GPU or a CUDA run, nothing is sampled and the run says why (``gpu_note``).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Any

SAMPLE_INTERVAL_S = 0.05  # fine enough for a 1 s loop; each sample is two NVML calls (~tens of µs)
MAX_SAMPLES = 100_000  # a loop capped at 20x its minimum never gets near this; bounds memory regardless


class GpuUnavailable(Exception):
    """NVML cannot tell us about this process's GPU (one-line reason)."""


def load_nvml(module: Any = None) -> Any:
    """The initialised ``pynvml`` module (or the given stand-in), else GpuUnavailable with the reason."""
    if module is None:
        try:
            import pynvml
        except ImportError:
            raise GpuUnavailable("pynvml (nvidia-ml-py) is not installed") from None
        module = pynvml
    try:
        module.nvmlInit()
    except Exception as exc:  # noqa: BLE001 - NVMLError subclasses: no driver, no library, no device
        raise GpuUnavailable(f"NVML is not available here ({_one_line(exc)})") from None
    return module


def process_gpu(nvml: Any, pid: int | None = None) -> Any:
    """The NVML handle of the GPU this process runs on: the device whose compute processes include our
    pid (CUDA device numbers need not be NVML's), else the only device; GpuUnavailable otherwise."""
    pid = os.getpid() if pid is None else pid
    try:
        handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(int(nvml.nvmlDeviceGetCount()))]
    except Exception as exc:  # noqa: BLE001
        raise GpuUnavailable(f"NVML could not list the GPUs ({_one_line(exc)})") from None
    for h in handles:
        if process_memory_mb(nvml, h, pid) is not None:
            return h
    if len(handles) == 1:
        return handles[0]
    raise GpuUnavailable(f"could not tell which of {len(handles)} GPUs this process uses")


def process_memory_mb(nvml: Any, handle: Any, pid: int) -> float | None:
    """MiB NVML reports ``pid`` using on ``handle``, or None (not listed, or not visible here)."""
    try:
        procs = nvml.nvmlDeviceGetComputeRunningProcesses(handle)
    except Exception:  # noqa: BLE001
        return None
    for p in procs or ():
        used = getattr(p, "usedGpuMemory", None)
        if getattr(p, "pid", None) == pid and isinstance(used, int) and used >= 0:
            return used / 2**20
    return None


@dataclass
class GpuSamples:
    util_pct: list[float] = field(default_factory=list)
    mem_mb: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        if not self.util_pct:
            return {"gpu_util_pct": None, "gpu_mem_peak_mb": None, "gpu_note": "no NVML sample was taken"}
        return {
            "gpu_util_pct": sum(self.util_pct) / len(self.util_pct),
            "gpu_mem_peak_mb": max(self.mem_mb) if self.mem_mb else None,
            "gpu_samples": len(self.util_pct),
        }


class GpuProbe:
    """A ``harness.timing`` loop probe: samples utilisation and memory from start() to stop()."""

    def __init__(self, nvml: Any, handle: Any, interval_s: float = SAMPLE_INTERVAL_S, pid: int | None = None):
        self.nvml, self.handle, self.interval_s = nvml, handle, interval_s
        self.pid = os.getpid() if pid is None else pid
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._samples = GpuSamples()
        self._error: str | None = None

    def sample(self) -> None:
        util = self.nvml.nvmlDeviceGetUtilizationRates(self.handle).gpu
        mem = process_memory_mb(self.nvml, self.handle, self.pid)
        if mem is None:
            mem = self.nvml.nvmlDeviceGetMemoryInfo(self.handle).used / 2**20
        self._samples.util_pct.append(float(util))
        self._samples.mem_mb.append(float(mem))

    def _loop(self) -> None:
        while not self._stop.is_set() and len(self._samples.util_pct) < MAX_SAMPLES:
            try:
                self.sample()
            except Exception as exc:  # noqa: BLE001 - a failing counter ends sampling, never the run
                self._error = f"NVML sampling failed ({_one_line(exc)})"
                return
            self._stop.wait(self.interval_s)

    def start(self) -> None:
        self._samples, self._error = GpuSamples(), None
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="gpu-monitor", daemon=True)
        self._thread.start()

    def stop(self, duration_s: float, images: int) -> dict[str, Any]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        out = self._samples.summary()
        if self._error and not self._samples.util_pct:
            out["gpu_note"] = self._error
        return out


class UnavailableProbe:
    """A probe that measures nothing and says why, once per run (``{key: None, note_key: reason}``)."""

    def __init__(self, fields: dict[str, None], note_key: str, reason: str):
        self.fields, self.note_key, self.reason = fields, note_key, reason

    def start(self) -> None:
        pass

    def stop(self, duration_s: float, images: int) -> dict[str, Any]:
        return {**self.fields, self.note_key: self.reason}


def gpu_probe(device: str, nvml_module: Any = None) -> GpuProbe | UnavailableProbe | None:
    """The utilisation probe for a run on ``device``: None on cpu (nothing to sample, not a failure)."""
    if device != "cuda":
        return None
    try:
        nvml = load_nvml(nvml_module)
        return GpuProbe(nvml, process_gpu(nvml))
    except GpuUnavailable as exc:
        return UnavailableProbe({"gpu_util_pct": None, "gpu_mem_peak_mb": None}, "gpu_note", str(exc))


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]
