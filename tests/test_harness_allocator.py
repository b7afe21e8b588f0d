"""The allocator settings of measuring children (harness.allocator): freed buffers are reused, not mapped
and zeroed again on every pass; a user's own settings win; the parent's environment is left as it was."""

from __future__ import annotations

import os

import numpy as np
import pytest

from harness import allocator
from harness.isolation import run_isolated
from harness.timing import TimingPolicy, measure
from tests._harness_helpers import fresh_mapping_faults


@pytest.fixture
def clean_allocator_env(monkeypatch):
    for key in allocator.CHILD_ALLOCATOR_ENV:
        monkeypatch.delenv(key, raising=False)


def test_children_reuse_freed_buffers_and_user_settings_win(clean_allocator_env, monkeypatch):
    tuned = run_isolated("_harness_helpers:allocation_faults", 16, timeout_s=120)
    assert tuned.ok, tuned.error
    assert tuned.value["allocator"] == allocator.CHILD_ALLOCATOR_ENV
    assert not set(allocator.CHILD_ALLOCATOR_ENV) & set(os.environ)  # the parent's environment is restored

    # glibc's behaviour without the settings, forced (an explicit threshold also stops glibc adapting it):
    # every 16 MiB buffer is mapped afresh and faulted in again on each pass (4,096 faults with 4 KiB pages)
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "131072")
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "131072")
    forced = run_isolated("_harness_helpers:allocation_faults", 16, timeout_s=120)
    assert forced.ok, forced.error
    assert forced.value["allocator"] == {
        "MALLOC_MMAP_THRESHOLD_": "131072",
        "MALLOC_TRIM_THRESHOLD_": "131072",
    }
    fresh = fresh_mapping_faults(16)
    assert tuned.value["faults_per_pass"] < fresh / 4 < fresh / 2 < forced.value["faults_per_pass"], fresh


def test_child_environment_is_serialised_and_restored(clean_allocator_env, monkeypatch):
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "1")  # the user's value is kept, the other one added
    with allocator.child_environment():
        assert os.environ["MALLOC_TRIM_THRESHOLD_"] == "1"
        assert os.environ["MALLOC_MMAP_THRESHOLD_"] == allocator.CHILD_ALLOCATOR_ENV["MALLOC_MMAP_THRESHOLD_"]
    assert os.environ["MALLOC_TRIM_THRESHOLD_"] == "1" and "MALLOC_MMAP_THRESHOLD_" not in os.environ
    with pytest.raises(RuntimeError), allocator.child_environment():
        raise RuntimeError("a failed spawn")
    assert "MALLOC_MMAP_THRESHOLD_" not in os.environ


class _Allocating:
    """A runner whose every pass allocates and frees a 16 MiB buffer, like a forward pass's activations."""

    def to_input(self, x):
        return x

    def sync(self):
        pass

    def run(self, x):
        np.ones(16 << 20, dtype=np.uint8)


def test_each_run_records_its_page_faults_per_pass():
    m = measure(_Allocating(), np.zeros((1, 3, 8, 8), np.float32), TimingPolicy(min_duration_s=0.05))
    faults = m.noise["page_faults_per_pass"]
    assert isinstance(faults, float) and faults >= 0


def test_a_malformed_user_setting_is_refused_before_any_child_starts(clean_allocator_env, monkeypatch):
    from harness.errors import BadConfig

    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "lots")
    with pytest.raises(BadConfig, match="MALLOC_TRIM_THRESHOLD_"):
        run_isolated("os:getpid", None, timeout_s=60)
    assert "MALLOC_MMAP_THRESHOLD_" not in os.environ
