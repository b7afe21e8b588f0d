"""The one measuring loop used for every backend: warm-up, timed iterations, raw samples, memory peaks.

Per batch size ("shape"): warm up for both a minimum number of iterations and a minimum time, then time
single forward passes (``perf_counter_ns`` around ``run`` + ``sync``) until BOTH ``min_duration_s`` and
``min_iterations`` are reached, or the ``max_duration_s`` safety cap. Throughput is batch * iterations over
the measured wall time of the whole timed loop (so per-iteration overheads are not hidden).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.noise import assess, cpu_count, load_average

P99_MIN_SAMPLES = 100


@dataclass(frozen=True)
class TimingPolicy:
    min_duration_s: float = 1.0
    min_iterations: int = P99_MIN_SAMPLES  # p99 is only meaningful with >= 100 samples
    max_duration_s: float | None = None  # safety cap; default max(120 s, 10 x min_duration)
    warmup_iterations: int = 5
    warmup_s: float | None = None  # default: a quarter of min_duration, within 0.05-2 s
    max_warmup_s: float = 60.0

    @property
    def cap_s(self) -> float:
        return (
            self.max_duration_s if self.max_duration_s is not None else max(120.0, 10 * self.min_duration_s)
        )

    @property
    def warmup_time_s(self) -> float:
        if self.warmup_s is not None:
            return self.warmup_s
        return min(2.0, max(0.05, 0.25 * self.min_duration_s))


@dataclass
class Measurement:
    batch_size: int
    warmup: int  # warm-up iterations run
    iterations: int
    duration_s: float  # wall time of the timed loop
    samples_ms: list[float]
    latency_ms: dict[str, float | None]
    throughput_ips: float
    peak_rss_mb: float | None
    peak_gpu_mb: float | None
    capped: bool = False  # stopped by max_duration_s before min_iterations
    notes: list[str] = field(default_factory=list)
    noise: dict[str, Any] | None = None  # harness.noise.assess of the samples and the load around them


def percentile(sorted_samples: np.ndarray, q: float) -> float:
    """Linear-interpolated percentile (numpy's default method) of already sorted samples."""
    return float(np.percentile(sorted_samples, q))


def latency_stats(samples_ms: list[float]) -> dict[str, float | None]:
    """mean/std/min/p50/p90/p95/p99/max in ms; p99 is None below 100 samples (it would just be the max)."""
    a = np.sort(np.asarray(samples_ms, dtype=np.float64))
    if a.size == 0:
        raise ValueError("no latency samples")
    return {
        "mean": float(a.mean()),
        "std": float(a.std(ddof=1)) if a.size > 1 else 0.0,
        "min": float(a[0]),
        "p50": percentile(a, 50),
        "p90": percentile(a, 90),
        "p95": percentile(a, 95),
        "p99": percentile(a, 99) if a.size >= P99_MIN_SAMPLES else None,
        "max": float(a[-1]),
    }


# ---- threads ---------------------------------------------------------------------------------------------


def available_cpus() -> list[int]:
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return list(range(os.cpu_count() or 1))


def physical_cores() -> int:
    """Physical cores among the CPUs this process may run on (SMT siblings counted once)."""
    cpus = available_cpus()
    cores = set()
    for cpu in cpus:
        base = f"/sys/devices/system/cpu/cpu{cpu}/topology"
        try:
            with open(f"{base}/core_id") as f1, open(f"{base}/physical_package_id") as f2:
                cores.add((f2.read().strip(), f1.read().strip()))
        except OSError:
            return len(cpus)
    return max(1, len(cores))


def set_threads(threads: int | None) -> int:
    """Set torch's intra-op threads (default: physical cores available) and return what is in force."""
    import torch

    n = threads or physical_cores()
    torch.set_num_threads(n)
    return torch.get_num_threads()


# ---- memory ----------------------------------------------------------------------------------------------


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) to the current RSS, so each phase gets its own peak."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    try:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    except (ImportError, OSError):
        return None


class _GpuPeak:
    """Peak GPU memory for one phase: the runner's own hook if it has one, else torch's allocator stats."""

    def __init__(self, runner: Any, device: str):
        self.runner = runner
        self.torch = device == "cuda" and not hasattr(runner, "peak_gpu_mb")
        self.hook = device == "cuda" and hasattr(runner, "peak_gpu_mb")

    def reset(self) -> None:
        if self.hook and hasattr(self.runner, "reset_peak_gpu"):
            self.runner.reset_peak_gpu()
        elif self.torch:
            import torch

            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()

    def read(self) -> float | None:
        if self.hook:
            return self.runner.peak_gpu_mb()
        if self.torch:
            import torch

            return torch.cuda.max_memory_allocated() / 2**20
        return None


# ---- the loop --------------------------------------------------------------------------------------------


def measure(runner: Any, batch: np.ndarray, policy: TimingPolicy, device: str = "cpu") -> Measurement:
    """Time ``runner.run`` on one input batch (already preprocessed float32 NCHW)."""
    x = runner.to_input(np.ascontiguousarray(batch))
    runner.sync()
    gpu = _GpuPeak(runner, device)
    reset_peak_rss()
    gpu.reset()
    clock = time.perf_counter_ns
    notes: list[str] = []
    load_before = load_average()  # before warm-up: our own work has not raised it yet

    # warm-up: both a count and a time, bounded
    warm, t_start = 0, clock()
    min_warm_ns, max_warm_ns = policy.warmup_time_s * 1e9, policy.max_warmup_s * 1e9
    while True:
        runner.run(x)
        runner.sync()
        warm += 1
        elapsed = clock() - t_start
        if (warm >= policy.warmup_iterations and elapsed >= min_warm_ns) or elapsed >= max_warm_ns:
            break

    # timed loop: both a minimum duration and a minimum iteration count, bounded by the cap
    samples: list[int] = []
    min_ns, cap_ns = policy.min_duration_s * 1e9, policy.cap_s * 1e9
    run, sync = runner.run, runner.sync
    loop_start = clock()
    while True:
        t0 = clock()
        run(x)
        sync()
        t1 = clock()
        samples.append(t1 - t0)
        wall = t1 - loop_start
        if wall >= min_ns and len(samples) >= policy.min_iterations:
            break
        if wall >= cap_ns:
            break
    wall_ns = clock() - loop_start
    load_after = load_average()
    capped = len(samples) < policy.min_iterations
    if capped:
        why = "; p99 not reported" if len(samples) < P99_MIN_SAMPLES else ""
        notes.append(f"stopped by the {policy.cap_s:g} s cap after {len(samples)} iterations{why}")
    samples_ms = [s / 1e6 for s in samples]
    bs = int(batch.shape[0])
    duration_s = wall_ns / 1e9
    return Measurement(
        batch_size=bs,
        warmup=warm,
        iterations=len(samples),
        duration_s=duration_s,
        samples_ms=samples_ms,
        latency_ms=latency_stats(samples_ms),
        throughput_ips=bs * len(samples) / duration_s if duration_s > 0 else math.nan,
        peak_rss_mb=peak_rss_mb(),
        peak_gpu_mb=gpu.read(),
        capped=capped,
        notes=notes,
        noise=assess(samples_ms, load_before, load_after, cpu_count()),
    )


def random_batch(batch_size: int, input_size: tuple[int, int, int], seed: int = 0) -> np.ndarray:
    """The timing input: fixed-seed standard normal (what preprocessed images look like), float32 NCHW."""
    return np.random.default_rng(seed).standard_normal((batch_size, *input_size), dtype=np.float32)
