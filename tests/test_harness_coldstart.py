"""Cold start (harness.coldstart): phase figures from the parent's spawn timestamp, in order or not at all."""

from __future__ import annotations

import pytest

from harness import coldstart
from harness.coldstart import ColdStart
from harness.isolation import run_isolated
from harness.record import check_cold_start
from store.schema import SchemaError


def test_phases_are_durations_between_marks_and_total_is_start_to_first_answer():
    cold = ColdStart(origin=100.0)
    for phase, at in (
        ("imports", 100.5),
        ("model_load", 100.75),
        ("prepare", 101.0),
        ("first_inference", 101.1),
    ):
        cold.mark(phase, at)
    d = cold.to_dict()
    assert d is not None and d["origin"] == coldstart.ORIGIN
    assert [d[f"{p}_ms"] for p in coldstart.PHASES] == pytest.approx([500.0, 250.0, 250.0, 100.0])
    assert d["total_ms"] == pytest.approx(1100.0) and check_cold_start(d) is d


def test_a_phase_the_child_does_not_have_is_null_and_the_next_counts_from_the_previous_mark():
    cold = ColdStart(origin=0.0)  # an ONNX-only child: no model loaded, the session build is "prepare"
    cold.mark("imports", 0.4)
    cold.mark("prepare", 0.5)
    cold.mark("first_inference", 0.6)
    d = cold.to_dict()
    assert d["model_load_ms"] is None and d["prepare_ms"] == pytest.approx(100.0)
    assert d["total_ms"] == pytest.approx(600.0)


@pytest.mark.parametrize(
    "marks",
    [
        {"imports": 1.0, "prepare": 0.5, "first_inference": 2.0},  # out of order
        {"imports": -1.0, "first_inference": 2.0},  # before the process started
        {"imports": 1.0, "prepare": 2.0},  # the first inference never ran
    ],
)
def test_figures_that_cannot_be_trusted_are_not_recorded(marks):
    cold = ColdStart(origin=0.0)
    for phase, at in marks.items():
        cold.mark(phase, at)
    assert cold.to_dict() is None


def test_unknown_phase_is_refused_and_an_unspawned_process_records_nothing():
    with pytest.raises(ValueError, match="unknown cold-start phase"):
        ColdStart(0.0).mark("coffee")
    coldstart.set_spawned_at(None)
    assert coldstart.begin() is None


@pytest.mark.parametrize(
    "bad",
    [
        {"total_ms": -1.0},
        {"imports_ms": "fast"},
        {"imports_ms": float("nan")},
        {"imports_ms": 5.0, "prepare_ms": 6.0, "total_ms": 10.0},  # phases add up past the total
        {"origin": ["x"]},
        "<b>cold</b>",
    ],
)
def test_stored_cold_start_is_checked(bad):
    with pytest.raises(SchemaError):
        check_cold_start(bad)


def test_the_spawned_child_knows_the_parents_spawn_timestamp():
    import time

    before = time.monotonic()
    out = run_isolated("harness.coldstart:spawned_at_of", None, 120)
    assert out.ok, out.error
    assert before <= out.value <= time.monotonic()
