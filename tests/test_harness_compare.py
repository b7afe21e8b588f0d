"""``harness compare`` with noisy runs: marked, and a rise in a noisy run is inconclusive, not a regression."""

from __future__ import annotations

import copy
import json

import pytest

from harness import compare
from harness.noise import assess

QUIET_NOISE = assess([10.0] * 100, 0.0, 0.0, 4)
NOISY_NOISE = assess([10.0] * 100, 16.0, 16.0, 4)  # the machine was busy


def _record(p50: float, noise: dict | None, **run) -> dict:
    return {
        "schema_version": 1,
        "model": {"id": "m"},
        "environment": {"hardware_profile": "hw"},
        "accuracy": {"top1": 90.0, "top5": 99.0},
        "runs": [
            {
                "backend": "pytorch",
                "device": "cpu",
                "precision": "fp32",
                "batch_size": 1,
                "status": "ok",
                "latency_ms": {"p50": p50, "p95": p50 * 1.01},
                "throughput_ips": 1000 / p50,
                "noise": noise,
                **run,
            }
        ],
    }


@pytest.mark.parametrize(
    "base_noise, cur_noise, marker",
    [(NOISY_NOISE, QUIET_NOISE, "baseline noisy"), (QUIET_NOISE, NOISY_NOISE, "current noisy"),
     (NOISY_NOISE, NOISY_NOISE, "both noisy")],
)  # fmt: skip
def test_a_rise_in_a_noisy_run_is_inconclusive(base_noise, cur_noise, marker):
    result = compare.compare_records(_record(10.0, base_noise), _record(20.0, cur_noise), 10.0, 0.5)
    d = result.runs[0]
    assert not result.regressed and result.inconclusive
    assert d.noise == marker and d.inconclusive and d.note == f"inconclusive: {marker}"
    row = [line for line in compare.render(result).splitlines() if line.startswith("| pytorch")][0]
    assert f"| {marker} | INCONCLUSIVE: noisy |" in row


@pytest.mark.parametrize("noise", [QUIET_NOISE, None, {"noisy": "yes"}, "garbage"])
def test_quiet_or_unknown_noise_keeps_a_clear_regression(noise):
    result = compare.compare_records(_record(10.0, noise), _record(20.0, QUIET_NOISE), 10.0, 0.5)
    assert result.regressed and not result.inconclusive and result.runs[0].noise == ""


def test_noise_does_not_excuse_failures_or_accuracy_drops():
    failed = _record(10.0, NOISY_NOISE, status="failed", error="boom", latency_ms=None)
    assert compare.compare_records(_record(10.0, NOISY_NOISE), failed, 10.0, 0.5).regressed
    worse = _record(10.0, NOISY_NOISE)
    worse["accuracy"]["top1"] = 80.0
    assert compare.compare_records(_record(10.0, NOISY_NOISE), worse, 10.0, 0.5).regressed


def test_a_noisy_run_without_a_rise_is_marked_but_ok():
    result = compare.compare_records(_record(10.0, NOISY_NOISE), _record(10.0, QUIET_NOISE), 10.0, 0.5)
    assert not result.regressed and not result.inconclusive
    assert "| baseline noisy | ok |" in compare.render(result)


def _main(tmp_path, base, cur, capsys):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(base))
    b.write_text(json.dumps(cur))
    rc = compare.main([str(a), str(b)])
    return rc, capsys.readouterr().out


def test_exit_codes_separate_clear_regressions_from_noisy_ones(tmp_path, capsys):
    rc, out = _main(tmp_path, _record(10.0, QUIET_NOISE), _record(20.0, NOISY_NOISE), capsys)
    assert rc == compare.EXIT_INCONCLUSIVE == 3 and "INCONCLUSIVE:" in out and "FAIL" not in out
    rc, out = _main(tmp_path, _record(10.0, QUIET_NOISE), _record(20.0, QUIET_NOISE), capsys)
    assert rc == compare.EXIT_REGRESSION == 1 and "FAIL: regression" in out
    two = _record(10.0, QUIET_NOISE)  # one clear regression beside a noisy one: still a failure
    two["runs"].append(copy.deepcopy(two["runs"][0]) | {"batch_size": 8})
    cur = copy.deepcopy(two)
    for run in cur["runs"]:
        run["latency_ms"] = {"p50": 20.0, "p95": 20.2}
    cur["runs"][1]["noise"] = NOISY_NOISE
    rc, out = _main(tmp_path, two, cur, capsys)
    assert rc == 1 and out.count("REGRESSION") == 1 and "INCONCLUSIVE: noisy" in out
    rc, out = _main(tmp_path, _record(10.0, NOISY_NOISE), _record(10.0, NOISY_NOISE), capsys)
    assert rc == 0 and "OK: within thresholds" in out and "both noisy" in out
