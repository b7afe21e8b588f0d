"""The harness reads its two environment variables through settings (typed, blank = unset, bad = refused)."""

from __future__ import annotations

import pytest

from harness import environment, models
from harness.errors import HarnessError


def test_hardware_profile_override_and_blank(monkeypatch):
    monkeypatch.delenv("LEADERBOARD_HARDWARE_PROFILE", raising=False)
    derived = environment.hardware_profile("cpu")
    assert derived.startswith("cpu-") and derived.endswith("c")
    monkeypatch.setenv("LEADERBOARD_HARDWARE_PROFILE", "  cpu-ci-runner  ")
    assert environment.hardware_profile("cpu") == "cpu-ci-runner"
    monkeypatch.setenv("LEADERBOARD_HARDWARE_PROFILE", "   ")  # blank counts as unset
    assert environment.hardware_profile("cpu") == derived


def test_download_cap_default_and_override(monkeypatch):
    monkeypatch.delenv("HARNESS_MAX_DOWNLOAD_MB", raising=False)
    assert models.max_download_mb() == 4096.0
    monkeypatch.setenv("HARNESS_MAX_DOWNLOAD_MB", "250")
    assert models.max_download_mb() == 250.0


@pytest.mark.parametrize("raw", ["lots", "nan", "-5", "0.5"])
def test_a_malformed_download_cap_is_bad_input_not_ignored(monkeypatch, raw):
    monkeypatch.setenv("HARNESS_MAX_DOWNLOAD_MB", raw)
    with pytest.raises(HarnessError, match="HARNESS_MAX_DOWNLOAD_MB") as err:
        models.max_download_mb()
    assert "\n" not in str(err.value)
