"""harness.noise: the pure rule that marks a measurement noisy, and the timing loop that feeds it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness import noise
from harness.noise import NOISY_CV, NOISY_LOAD_PER_CPU, NOISY_P95_OVER_P50, assess, describe_rule, is_noisy

QUIET = [10.0 + 0.01 * (i % 7) for i in range(200)]


def test_a_quiet_run_on_an_idle_machine_is_not_noisy():
    n = assess(QUIET, 0.1, 0.3, 4)
    assert n == {
        "cv": pytest.approx(float(np.std(QUIET, ddof=1) / np.mean(QUIET)), abs=1e-4),
        "p95_over_p50": pytest.approx(float(np.percentile(QUIET, 95) / np.percentile(QUIET, 50)), abs=1e-4),
        "load_before": 0.1,
        "load_after": 0.3,
        "cpu_count": 4,
        "noisy": False,
        "reasons": [],
    }


def test_a_slow_tail_is_noisy_with_its_reason():
    samples = [10.0] * 90 + [40.0] * 10  # p95 = 4 x p50
    n = assess(samples, None, None, 8)
    assert n["noisy"] and n["p95_over_p50"] == pytest.approx(4.0)
    assert any(r.startswith("p95/p50 4.00 >") for r in n["reasons"])
    assert n["load_before"] is None and n["load_after"] is None  # unknown load never marks a run


def test_a_wide_spread_is_noisy_by_cv():
    samples = [1.0, 1.0, 1.0, 10.0] * 30
    n = assess(samples, 0.0, 0.0, 1)
    assert n["cv"] > NOISY_CV and any("cv" in r for r in n["reasons"]) and n["noisy"]


@pytest.mark.parametrize(
    "before, after, cpus, noisy",
    [
        (3.9, 0.0, 4, False),
        (4.0, 4.3, 4, False),  # busy only with our own measuring threads (one per core)
        (4.0 * NOISY_LOAD_PER_CPU, 0.0, 4, True),
        (0.0, 9.5, 4, True),
        (1.5, 1.5, 1, True),
        (None, 100.0, 64, True),
    ],
)
def test_machine_load_marks_a_run(before, after, cpus, noisy):
    n = assess(QUIET, before, after, cpus)
    assert n["noisy"] is noisy
    assert all("load" in r and f"on {cpus} CPUs" in r for r in n["reasons"])


def test_thresholds_are_inclusive_boundaries_as_documented():
    at_ratio = [10.0] * 94 + [10.0 * NOISY_P95_OVER_P50] * 6
    assert assess(at_ratio, None, None, 1)["p95_over_p50"] <= NOISY_P95_OVER_P50 + 1e-9
    assert not any("p95" in r for r in assess(at_ratio, None, None, 1)["reasons"])


@pytest.mark.parametrize("samples", [[], [5.0]])
def test_too_few_samples_have_unknown_spread_and_are_judged_by_load_only(samples):
    assert assess(samples, 0.0, 0.0, 2) | {"reasons": None} == {
        "cv": 0.0,
        "p95_over_p50": 1.0,
        "load_before": 0.0,
        "load_after": 0.0,
        "cpu_count": 2,
        "noisy": False,
        "reasons": None,
    }
    assert assess(samples, 5.0, None, 2)["noisy"]


@pytest.mark.parametrize(
    "args, msg",
    [
        (([1.0, math.nan], 0, 0, 1), "finite"),
        (([1.0, -1.0], 0, 0, 1), "non-negative"),
        ((["a", "b"], 0, 0, 1), "numbers"),
        (([[1.0], [2.0]], 0, 0, 1), "finite"),
        ((QUIET, math.inf, 0, 1), "load_before"),
        ((QUIET, 0, -1.0, 1), "load_after"),
        ((QUIET, True, 0, 1), "load_before"),
        ((QUIET, 0, 0, 0), "cpu_count"),
        ((QUIET, 0, 0, True), "cpu_count"),
        ((QUIET, 0, 0, 2.0), "cpu_count"),
    ],
)
def test_bad_inputs_are_refused(args, msg):
    with pytest.raises(ValueError, match=msg):
        assess(*args)


def test_all_zero_samples_do_not_divide_by_zero():
    n = assess([0.0] * 10, None, None, 1)
    assert n["cv"] == 0.0 and n["p95_over_p50"] == 1.0 and not n["noisy"]


def test_is_noisy_accepts_only_a_positive_assessment():
    assert is_noisy({"noisy": True})
    for value in (None, {}, {"noisy": "true"}, {"noisy": 1}, [True], "noisy"):
        assert not is_noisy(value)


def test_describe_rule_states_every_threshold_in_one_sentence():
    text = describe_rule()
    assert "\n" not in text and text.endswith(".")
    for threshold in (NOISY_CV, NOISY_P95_OVER_P50, NOISY_LOAD_PER_CPU):
        assert f"{threshold:g}" in text


def test_load_average_is_a_number_or_none(monkeypatch):
    assert noise.load_average() is None or noise.load_average() >= 0
    assert noise.cpu_count() >= 1

    def unavailable():
        raise OSError("no load average here")

    monkeypatch.setattr(noise.os, "getloadavg", unavailable)
    assert noise.load_average() is None


def test_the_timing_loop_records_the_assessment(monkeypatch):
    from harness import timing

    loads = iter([0.25, 64.0])
    monkeypatch.setattr(timing, "load_average", lambda: next(loads))

    class Runner:
        def to_input(self, batch):
            return batch

        def run(self, x):
            return x

        def sync(self):
            pass

    policy = timing.TimingPolicy(min_duration_s=0.01, min_iterations=20, warmup_iterations=1, warmup_s=0.0)
    m = timing.measure(Runner(), np.zeros((1, 3, 4, 4), np.float32), policy)
    assert m.noise["load_before"] == 0.25 and m.noise["load_after"] == 64.0
    assert m.noise["cpu_count"] == noise.cpu_count()
    faults = m.noise.pop("page_faults_per_pass")  # measured around the loop (harness.allocator)
    assert isinstance(faults, float) and faults >= 0
    assert m.noise == assess(
        m.samples_ms, 0.25, 64.0, noise.cpu_count(), interval=m.p50_interval, interval_target=0.01
    )


def test_was_loaded_reads_the_load_rule_and_nothing_else():
    calm = {"load_before": 0.4, "load_after": 0.9, "cpu_count": 2}
    assert not noise.was_loaded(calm)
    assert noise.was_loaded(calm | {"load_after": 3.0}) and noise.was_loaded(calm | {"load_before": 3.0})
    assert not noise.was_loaded(calm | {"load_after": 2.9})  # 1.45 per CPU, under the 1.5 rule
    for junk in (
        None,
        "x",
        [],
        {},
        calm | {"cpu_count": 0},
        calm | {"cpu_count": True},
        calm | {"load_before": True, "cpu_count": 1},
        calm | {"load_after": "9"},
    ):
        assert not noise.was_loaded(junk)
