"""Cold start of one isolated measurement child, as separate figures.

What a user deploying a model pays before the first answer: start a process, import the runtime, load
the model, build the engine (compile, convert, quantize, build a session), run the first inference. The
child marks the end of each phase; every figure is measured from the child's own process start, taken as
the **parent's spawn timestamp**: ``time.monotonic()`` read just before ``Process.start()`` and handed to
the child (CLOCK_MONOTONIC is one clock for every process on a machine, and unlike psutil's
``create_time`` it has sub-millisecond resolution and never jumps with the wall clock).

Only the standard library is imported here: this module is loaded in the child before anything is timed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

ORIGIN = "parent spawn timestamp (monotonic clock)"
# Phase names in order; a phase a child does not have (no model loaded in an ONNX-only child) is absent
# and the next phase is measured from the previous mark.
PHASES = ("imports", "model_load", "prepare", "first_inference")

_spawned_at: float | None = None


def set_spawned_at(t: float | None) -> None:
    """Called by ``harness.isolation`` in the child, first thing: the parent's spawn timestamp."""
    global _spawned_at
    _spawned_at = t


def spawned_at() -> float | None:
    """The parent's spawn timestamp of this process, or None when it was not started by the harness."""
    return _spawned_at


@dataclass
class ColdStart:
    """Monotonic timestamps of the end of each phase, from ``origin`` (the process start)."""

    origin: float
    marks: dict[str, float] = field(default_factory=dict)

    def mark(self, phase: str, at: float | None = None) -> None:
        if phase not in PHASES:
            raise ValueError(f"unknown cold-start phase {phase!r} (known: {', '.join(PHASES)})")
        self.marks[phase] = time.monotonic() if at is None else at

    def to_dict(self) -> dict[str, Any] | None:
        """``{origin, imports_ms, model_load_ms, prepare_ms, first_inference_ms, total_ms}`` (each phase's
        own duration; total = process start to first inference done), or None when the marks are not in
        order or the first inference never ran (a figure that cannot be trusted is not recorded)."""
        if "first_inference" not in self.marks:
            return None
        out: dict[str, Any] = {"origin": ORIGIN}
        last = self.origin
        for phase in PHASES:
            at = self.marks.get(phase)
            if at is None:
                out[f"{phase}_ms"] = None
                continue
            if at < last:
                return None
            out[f"{phase}_ms"] = (at - last) * 1000.0
            last = at
        out["total_ms"] = (last - self.origin) * 1000.0
        return out


def begin() -> ColdStart | None:
    """A cold-start recorder for this child, or None when the process was not spawned by the harness
    (called in-process, its start is unknown: nothing is recorded rather than a wrong figure)."""
    return ColdStart(_spawned_at) if _spawned_at is not None else None


def spawned_at_of(_payload: object = None) -> float | None:
    """:func:`spawned_at` as a ``harness.isolation`` target (``module:function(payload)``)."""
    return _spawned_at
