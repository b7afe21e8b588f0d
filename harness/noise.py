"""Is a latency measurement trustworthy? The rule that marks a run "noisy", and the facts it is based on.

A run measured on a busy machine can show p50s ten times too high and a p95 three times its p50 while
looking like any other row. Each run therefore records its own spread (coefficient of variation and
p95/p50 of the timed samples) and the machine's 1-minute load average just before and just after the
measurement; :func:`assess` turns those into ``noisy`` plus the reasons. The thresholds live here and
nowhere else; :func:`describe_rule` states them for the About tab.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

NOISY_CV = 0.5  # std/mean of the timed samples; quiet CPU runs sit well under 0.2
NOISY_P95_OVER_P50 = 1.5  # a slow tail: one in twenty iterations 50% slower than the median
# Load average per CPU. Our own measuring threads (up to the physical cores, for up to a minute of earlier
# runs of the same evaluation) alone can bring it near 1.0 on a machine without SMT; 1.5 means at least
# half a CPU's worth of other work was competing with us on every core.
NOISY_LOAD_PER_CPU = 1.5
MIN_SAMPLES = 2  # below this the spread is unknown and only the load can mark a run


def load_average() -> float | None:
    """The 1-minute load average, or None where the platform has none."""
    try:
        return float(os.getloadavg()[0])
    except (AttributeError, OSError):
        return None


def cpu_count() -> int:
    """CPUs the load average is shared by (the whole machine, like the load average itself)."""
    return max(1, os.cpu_count() or 1)


def assess(
    samples_ms: Sequence[float],
    load_before: float | None,
    load_after: float | None,
    cpu_count: int,
    *,
    interval: dict[str, Any] | None = None,
    interval_target: float | None = None,
) -> dict[str, Any]:
    """The ``noise`` dict of one run (contract 4): cv, p95_over_p50, loads, cpu_count, noisy, reasons.

    With ``interval_target`` (the adaptive stopping rule was in force), a p50 confidence ``interval``
    (``harness.timing.median_interval``) that is missing or wider than the target marks the run noisy:
    the timing stopped at its cap without the median pinned down.
    """
    a = _samples(samples_ms)
    loads = {"load_before": _load(load_before, "load_before"), "load_after": _load(load_after, "load_after")}
    if isinstance(cpu_count, bool) or not isinstance(cpu_count, int) or cpu_count < 1:
        raise ValueError(f"cpu_count must be a positive whole number, got {cpu_count!r}")
    cv, ratio = 0.0, 1.0
    if a.size >= MIN_SAMPLES:
        mean, p50 = float(a.mean()), float(np.percentile(a, 50))
        cv = float(a.std(ddof=1)) / mean if mean > 0 else 0.0
        ratio = float(np.percentile(a, 95)) / p50 if p50 > 0 else 1.0
    reasons = []
    if cv > NOISY_CV:
        reasons.append(f"latency cv {cv:.2f} > {NOISY_CV:g}")
    if ratio > NOISY_P95_OVER_P50:
        reasons.append(f"p95/p50 {ratio:.2f} > {NOISY_P95_OVER_P50:g}")
    if interval_target is not None:
        width = interval.get("rel_half_width") if isinstance(interval, dict) else None
        if not isinstance(width, int | float) or not width <= interval_target:
            shown = f"±{width:.1%}" if isinstance(width, int | float) and math.isfinite(width) else "unknown"
            reasons.append(f"p50 interval not reached ({shown} > ±{interval_target:.0%})")
    for when, load in loads.items():
        if load is not None and load / cpu_count >= NOISY_LOAD_PER_CPU:
            reasons.append(f"{when.replace('_', ' ')} {load:.2f} on {cpu_count} CPUs")
    return {
        "cv": round(cv, 4),
        "p95_over_p50": round(ratio, 4),
        **loads,
        "cpu_count": cpu_count,
        "noisy": bool(reasons),
        "reasons": reasons,
    }


def was_loaded(noise: Any) -> bool:
    """True when a run's ``noise`` shows the machine busy with other work just before or after it (the
    load rule above): noise from outside that a later measurement may escape, unlike the jitter a run
    carries with it."""
    if not isinstance(noise, dict):
        return False
    cpus = noise.get("cpu_count")
    if isinstance(cpus, bool) or not isinstance(cpus, int) or cpus < 1:
        return False
    loads = (noise.get("load_before"), noise.get("load_after"))
    return any(
        isinstance(v, int | float) and not isinstance(v, bool) and v / cpus >= NOISY_LOAD_PER_CPU
        for v in loads
    )


def is_noisy(noise: Any) -> bool:
    """True only for a run assessed as noisy; a missing or malformed assessment (older records) is not."""
    return isinstance(noise, dict) and noise.get("noisy") is True


def describe_rule() -> str:
    """One Markdown sentence stating when a run is marked noisy (for the About tab and reports)."""
    return (
        f"A run is marked **noisy** when its latency samples' coefficient of variation exceeds {NOISY_CV:g}, "
        f"its p95 exceeds {NOISY_P95_OVER_P50:g}× its p50, or the machine's 1-minute load average just "
        f"before or after the measurement was at least {NOISY_LOAD_PER_CPU:g}× its CPU count, "
        "or its timing stopped (at the maximum duration, or early when that could not suffice) before the "
        'median\'s confidence interval was reached ("interval not reached"); runs recorded before this '
        "check have no marker."
    )


def _samples(samples_ms: Sequence[float]) -> np.ndarray:
    try:
        a = np.asarray(list(samples_ms), dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("latency samples must be numbers") from None
    if a.ndim != 1 or not np.all(np.isfinite(a)) or np.any(a < 0):
        raise ValueError("latency samples must be finite, non-negative numbers")
    return a


def _load(value: float | None, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{what} must be a finite, non-negative number or None, got {value!r}")
    return round(float(value), 3)
