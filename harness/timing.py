"""The one measuring loop used for every backend: warm-up, timed iterations, raw samples, memory peaks.

Per batch size ("shape"): warm up for both a minimum number of iterations and a minimum time, then time
single forward passes (``perf_counter_ns`` around ``run`` + ``sync``) until the stopping rule holds
(:func:`describe_stopping_rule`): the distribution-free 95% confidence interval of the median is within
±1% of the median, after at least ``min_iterations`` and ``min_duration_s``; or the ``max_duration_s`` cap,
which marks the run noisy when the interval was not reached; or earlier, as "unreachable" (noisy too),
when the interval's present width says the target would take over three times the cap. Throughput is batch *
iterations over the wall time of the timed loop, less the time spent checking the rule (so per-iteration
overheads of the model are not hidden, and the harness's own bookkeeping is not charged to it).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Protocol

import numpy as np

from harness.allocator import describe_allocator, minor_page_faults
from harness.noise import assess, cpu_count, load_average

CONFIDENCE = 0.95  # of the interval around the median
TARGET_REL_HALF_WIDTH = 0.01  # stop once both interval ends are within ±1% of the median
MIN_ITERATIONS = 20  # floor under the rule (and what p95 needs): a few lucky samples never stop a run
P95_MIN_SAMPLES = 20  # below this p95 would be the max (or interpolated towards it)
P99_MIN_SAMPLES = 100  # below this p99 would be the max
EXACT_BINOMIAL_UP_TO = 5_000  # exact binomial ranks up to here, normal approximation beyond
STOP_REASONS = ("converged", "unreachable", "max_duration", "max_iterations", "fixed")
# Samples per shape at most: bounds the record (raw samples are kept) and a loop whose clock never moves.
MAX_ITERATIONS = 100_000
# The cap is this many times the minimum duration: 20 s by default, where the slowest default shape
# (resnet50 at batch 8 on 2 cores, ~0.45 s a pass) gets ~44 samples, enough for ±1% unless its spread
# around the median is a few percent; short test windows get short caps.
CAP_FACTOR = 20.0
# Stop early, as "unreachable", when the interval's present width says the target needs more than this many
# times the cap: the half-width shrinks like 1/sqrt(n), so reaching ±1% from ±w% takes (w/1)^2 times the
# time spent so far. Simulated (tests/test_harness_timing.py), a margin of 3 keeps most runs whose width at
# a few dozen samples is merely unluckily wide (2 lost a third more of the runs that would have converged
# within the cap), while a run on a drifting host stops after its minimums instead of burning the cap.
UNREACHABLE_MARGIN = 3.0


@dataclass(frozen=True)
class TimingPolicy:
    """How long to time one shape. ``adaptive=False`` is the pre-interval policy (time until both minimums,
    default 100 iterations and 1 s): kept for the fidelity bench's before/after comparison."""

    min_duration_s: float = 1.0
    min_iterations: int = MIN_ITERATIONS
    max_duration_s: float | None = None  # default CAP_FACTOR x min_duration (20 s for 1 s)
    warmup_iterations: int = 3  # with warmup_s: the first passes (allocations, kernel choice) are apart
    warmup_s: float | None = None  # default: a quarter of min_duration, within 0.05-2 s
    max_warmup_s: float = 60.0
    adaptive: bool = True
    target_rel_half_width: float = TARGET_REL_HALF_WIDTH
    confidence: float = CONFIDENCE

    @classmethod
    def fixed(cls, min_duration_s: float = 1.0, min_iterations: int = P99_MIN_SAMPLES) -> TimingPolicy:
        """The old policy: no interval rule, at least 100 iterations and 1 s."""
        cap = max(120.0, 10 * min_duration_s)  # the old safety cap
        return cls(min_duration_s, min_iterations, max_duration_s=cap, adaptive=False)

    @property
    def cap_s(self) -> float:
        return self.max_duration_s if self.max_duration_s is not None else CAP_FACTOR * self.min_duration_s

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
    p50_interval: dict[str, Any] | None = None  # median_interval(...) of the samples at the stop
    stop_reason: str | None = None  # one of STOP_REASONS
    latency_notes: list[str] = field(default_factory=list)  # why a percentile is withheld
    # What the loop probes (harness.energy, harness.gpu_monitor) measured over the timed loop, by field.
    probes: dict[str, Any] = field(default_factory=dict)


class LoopProbe(Protocol):
    """Something measured over exactly the timed loop (an energy counter, a GPU sampler). ``start`` runs
    after the warm-up, ``stop`` right after the last sample; their own cost is outside the samples."""

    def start(self) -> None: ...

    def stop(self, duration_s: float, images: int) -> dict[str, Any]: ...


# ---- the interval of the median ------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def median_ranks(n: int, confidence: float = CONFIDENCE) -> tuple[int, int, float] | None:
    """0-based ranks (j, k) of sorted samples such that [x_j, x_k] holds the population median with at
    least ``confidence`` for any continuous distribution, and the exact coverage; None when n is too small.

    The count of samples below the median is Binomial(n, 1/2), so [x_j, x_k] with k = n-1-j covers it with
    probability 1 - 2 P(B <= j). j is the largest rank keeping that at or above ``confidence``.
    """
    if n < 1 or not 0.0 < confidence < 1.0:
        return None
    tail = (1.0 - confidence) / 2.0
    if n > EXACT_BINOMIAL_UP_TO:  # normal approximation, continuity-corrected; conservative by one rank
        z = _z(confidence)
        j = math.floor((n - 1) / 2.0 - z * math.sqrt(n) / 2.0) - 1
        return (j, n - 1 - j, confidence) if j >= 0 else None
    log_half_n = n * math.log(0.5)
    lgn = math.lgamma(n + 1)
    cdf, j = 0.0, -1
    for i in range(n // 2 + 1):
        cdf += math.exp(lgn - math.lgamma(i + 1) - math.lgamma(n - i + 1) + log_half_n)
        if cdf > tail:
            break
        j = i
    if j < 0:
        return None
    cdf_j = sum(
        math.exp(lgn - math.lgamma(i + 1) - math.lgamma(n - i + 1) + log_half_n) for i in range(j + 1)
    )
    return j, n - 1 - j, 1.0 - 2.0 * cdf_j


def _z(confidence: float) -> float:
    """Two-sided standard normal quantile (bisection on erf: no scipy needed)."""
    lo, hi = 0.0, 10.0
    for _ in range(80):
        mid = (lo + hi) / 2
        if math.erf(mid / math.sqrt(2)) < confidence:
            lo = mid
        else:
            hi = mid
    return hi


def median_interval(sorted_samples: np.ndarray, confidence: float = CONFIDENCE) -> dict[str, Any] | None:
    """``{"lo", "hi", "rel_half_width", "confidence", "n"}`` for already sorted samples, or None when too few.

    ``rel_half_width`` is the larger distance from the median to an interval end, over the median (the
    interval is not symmetric, and "within ±1%" must hold on both sides).
    """
    n = int(sorted_samples.size)
    ranks = median_ranks(n, confidence)
    if ranks is None:
        return None
    j, k, coverage = ranks
    lo, hi = float(sorted_samples[j]), float(sorted_samples[k])
    med = percentile(sorted_samples, 50)
    rel = max(med - lo, hi - med) / med if med > 0 else (0.0 if hi == lo else 1.0)  # finite: JSON
    return {"lo": lo, "hi": hi, "rel_half_width": rel, "confidence": round(coverage, 4), "n": n}


def to_reach(amount: float, width: float, target: float = TARGET_REL_HALF_WIDTH) -> float:
    """``amount`` (samples or timed seconds) scaled to what narrowing the median's interval from ``width``
    to ``target`` would take: the width shrinks as one over the square root of the sample count."""
    return amount * (width / target) ** 2


def interval_reached(interval: dict[str, Any] | None, target: float = TARGET_REL_HALF_WIDTH) -> bool:
    return interval is not None and interval["rel_half_width"] <= target


def describe_stopping_rule() -> str:
    """One Markdown paragraph stating how long each shape is timed (for the About tab and reports)."""
    return (
        "Each batch size is timed one forward pass at a time after a warm-up, until the distribution-free "
        f"{CONFIDENCE:.0%} confidence interval of the median latency (binomial order statistics of the "
        f"samples) lies within ±{TARGET_REL_HALF_WIDTH:.0%} of the median, and at least {MIN_ITERATIONS} "
        "iterations and the configured minimum duration (1 s by default) have passed. A run that has not "
        f"reached that interval after {CAP_FACTOR:g}× the minimum duration stops and is marked **noisy** "
        '("interval not reached"); so does one whose interval, at its present width, would need more than '
        f"{UNREACHABLE_MARGIN:g}× that cap to narrow (the width shrinks as one over the square root of the "
        'sample count), which stops early as "unreachable" instead of spending the cap on a drifting '
        "machine. Every run "
        "records its interval, iteration count and stopping reason; "
        f"p95 is reported from {P95_MIN_SAMPLES} samples and p99 from {P99_MIN_SAMPLES}, otherwise left "
        "empty with the reason in the run's latency notes. " + describe_allocator()
    )


def percentile(sorted_samples: np.ndarray, q: float) -> float:
    """Linear-interpolated percentile (numpy's default method) of already sorted samples."""
    return float(np.percentile(sorted_samples, q))


def latency_stats(samples_ms: list[float]) -> dict[str, float | None]:
    """mean/std/min/p50/p90/p95/p99/max in ms; p95 is None below 20 samples and p99 below 100 (each would
    just be the max); :func:`latency_notes` says so."""
    a = np.sort(np.asarray(samples_ms, dtype=np.float64))
    if a.size == 0:
        raise ValueError("no latency samples")
    return {
        "mean": float(a.mean()),
        "std": float(a.std(ddof=1)) if a.size > 1 else 0.0,
        "min": float(a[0]),
        "p50": percentile(a, 50),
        "p90": percentile(a, 90),
        "p95": percentile(a, 95) if a.size >= P95_MIN_SAMPLES else None,
        "p99": percentile(a, 99) if a.size >= P99_MIN_SAMPLES else None,
        "max": float(a[-1]),
    }


def latency_notes(n: int) -> list[str]:
    """Why a percentile is missing from :func:`latency_stats` of ``n`` samples (empty when none is)."""
    notes = []
    for name, need in (("p95", P95_MIN_SAMPLES), ("p99", P99_MIN_SAMPLES)):
        if n < need:
            notes.append(f"{name} not reported: {n} samples, {need} needed")
    return notes


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


class _Stopper:
    """Decides after each sample whether to stop. The interval is re-checked only each time the sample
    count has grown by a tenth (sorting n samples per iteration would cost O(n^2 log n) overall); the
    time spent checking is returned so it is not charged to the model's throughput."""

    def __init__(self, policy: TimingPolicy) -> None:
        self.policy = policy
        self.min_ns, self.cap_ns = policy.min_duration_s * 1e9, policy.cap_s * 1e9
        self.next_check = max(1, policy.min_iterations)
        self.reason: str | None = None
        self.check_ns = 0
        self.projected_s: float | None = None  # the time the target would have needed, when unreachable

    def done(self, samples: list[int], wall_ns: int) -> bool:
        n = len(samples)
        if wall_ns >= self.cap_ns:
            # the interval is checked only every tenth more samples: the rule may hold now, unchecked
            self.reason = "converged" if self._rule_holds(samples, wall_ns) else "max_duration"
            return True
        if n >= MAX_ITERATIONS:
            self.reason = "max_iterations"
            return True
        if n < self.policy.min_iterations or wall_ns < self.min_ns:
            return False
        if not self.policy.adaptive:
            self.reason = "fixed"
            return True
        if n < self.next_check:
            return False
        self.next_check = n + max(1, n // 10)
        width = self._width(samples)
        if width is not None and width <= self.policy.target_rel_half_width:
            self.reason = "converged"
            return True
        projected_s = self._projected_s(width, wall_ns)
        if projected_s is not None and projected_s > UNREACHABLE_MARGIN * self.policy.cap_s:
            self.reason, self.projected_s = "unreachable", projected_s
            return True
        return False

    def _projected_s(self, width: float | None, wall_ns: int) -> float | None:
        """Timed seconds the target would take at the present width (it shrinks as 1/sqrt(n))."""
        if width is None or not math.isfinite(width):
            return None
        return to_reach(wall_ns / 1e9, width, self.policy.target_rel_half_width)

    def _width(self, samples: list[int]) -> float | None:
        """The median interval's relative half-width now (None with too few samples); timed apart."""
        t0 = time.perf_counter_ns()
        interval = median_interval(np.sort(np.asarray(samples, dtype=np.float64)), self.policy.confidence)
        self.check_ns += time.perf_counter_ns() - t0
        return None if interval is None else float(interval["rel_half_width"])

    def _rule_holds(self, samples: list[int], wall_ns: int) -> bool:
        """Both minimums met and the median's interval within the target (the adaptive rule)."""
        n = len(samples)
        if not self.policy.adaptive or n < self.policy.min_iterations or wall_ns < self.min_ns:
            return False
        width = self._width(samples)
        return width is not None and width <= self.policy.target_rel_half_width


def measure(
    runner: Any,
    batch: np.ndarray,
    policy: TimingPolicy,
    device: str = "cpu",
    probes: Sequence[LoopProbe] = (),
) -> Measurement:
    """Time ``runner.run`` on one input batch (already preprocessed float32 NCHW); ``probes`` measure
    over the timed loop (their results land in ``Measurement.probes``)."""
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

    # timed loop: until the stopping rule holds, bounded by the cap
    samples: list[int] = []
    stopper = _Stopper(policy)
    run, sync = runner.run, runner.sync
    for probe in probes:
        probe.start()
    faults_before = minor_page_faults()
    loop_start = clock()
    while True:
        t0 = clock()
        run(x)
        sync()
        t1 = clock()
        samples.append(t1 - t0)
        if stopper.done(samples, t1 - loop_start):
            break
    loop_end = clock()
    faults = minor_page_faults() - faults_before
    bs = int(batch.shape[0])
    probed: dict[str, Any] = {}
    for probe in probes:  # over the whole loop, as the counters saw it (rule checks included)
        probed.update(probe.stop((loop_end - loop_start) / 1e9, bs * len(samples)))
    wall_ns = loop_end - loop_start - stopper.check_ns
    load_after = load_average()
    samples_ms = [s / 1e6 for s in samples]
    interval = median_interval(np.sort(np.asarray(samples_ms, dtype=np.float64)), policy.confidence)
    capped = len(samples) < policy.min_iterations
    if stopper.reason == "max_iterations":
        notes.append(f"stopped at the {MAX_ITERATIONS} iteration limit")
    if stopper.reason == "max_duration":
        short = f" (fewer than the {policy.min_iterations} wanted)" if capped else ""
        notes.append(f"stopped by the {policy.cap_s:g} s cap after {len(samples)} iterations{short}")
    if stopper.reason == "unreachable" and interval is not None:
        notes.append(
            f"stopped early after {len(samples)} iterations: at ±{interval['rel_half_width']:.1%} the "
            f"±{policy.target_rel_half_width:.0%} interval would need about {stopper.projected_s:.0f} s, "
            f"over {UNREACHABLE_MARGIN:g}x the {policy.cap_s:g} s cap"
        )
    duration_s = wall_ns / 1e9
    noise = assess(
        samples_ms,
        load_before,
        load_after,
        cpu_count(),
        interval=interval,
        interval_target=policy.target_rel_half_width if policy.adaptive else None,
    )
    # pages mapped and zeroed per pass: near 0 when buffers are reused (harness.allocator), thousands if not
    noise["page_faults_per_pass"] = round(faults / len(samples), 1)
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
        noise=noise,
        p50_interval=interval,
        stop_reason=stopper.reason,
        latency_notes=latency_notes(len(samples)),
        probes=probed,
    )


def random_batch(batch_size: int, input_size: tuple[int, int, int], seed: int = 0) -> np.ndarray:
    """The timing input: fixed-seed standard normal (what preprocessed images look like), float32 NCHW."""
    return np.random.default_rng(seed).standard_normal((batch_size, *input_size), dtype=np.float32)
