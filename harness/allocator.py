"""The memory allocator every measuring child runs with: glibc keeps freed buffers instead of unmapping them.

PyTorch eager on CPU allocates its activations with glibc ``malloc``. Buffers over glibc's mmap threshold
come from ``mmap`` and go back with ``munmap`` when freed, and the heap top is trimmed; so every forward
pass maps fresh pages and the kernel zeroes them on first touch. Measured on the 2-core CI machine (timm
resnet50, 2 threads, ``bench/host_noise.py`` and issue 15's notes): 56,000-60,000 minor page faults per
pass at batch 8 and 840,000 at batch 32; with both thresholds raised to 4 GiB, zero, and the pass 20%
(batch 8) to 41% (batch 32) faster, with a narrower spread: page-zeroing in the kernel is where much of the
run-to-run noise came from. A serving process is usually tuned the same way (PyTorch's CPU performance
guide recommends a caching allocator, jemalloc or tcmalloc); ONNX Runtime and OpenVINO use their own arenas
and are unaffected. The variables only exist for glibc; other C libraries ignore them.

The harness sets them in the environment of the children it spawns (``harness.isolation``); values the
user exported win (setting ``MALLOC_TRIM_THRESHOLD_=131072`` restores glibc's trimming). Each run records
what was in force (``info["allocator"]``) and the minor page faults per timed pass
(``noise["page_faults_per_pass"]``).
"""

from __future__ import annotations

import contextlib
import os
import resource
import threading
from collections.abc import Iterator

import settings
from harness.errors import BadConfig

GIB = 1 << 30
# glibc reads these once at process start (``mallopt`` tunables): big buffers from the heap, heap not trimmed
CHILD_ALLOCATOR_ENV = {"MALLOC_MMAP_THRESHOLD_": str(4 * GIB), "MALLOC_TRIM_THRESHOLD_": str(4 * GIB)}
_environ_lock = threading.Lock()


@contextlib.contextmanager
def child_environment() -> Iterator[None]:
    """Within the block, ``os.environ`` carries the allocator settings a child spawned now inherits (the
    ones the user did not set); restored afterwards. Serialised: two threads spawning at once see one."""
    with _environ_lock:
        user = _user_values()  # a malformed value is refused here, naming it, not in the child
        added = {k: v for k, v in CHILD_ALLOCATOR_ENV.items() if k not in user}
        os.environ.update(added)
        try:
            yield
        finally:
            for key in added:
                os.environ.pop(key, None)


def in_force() -> dict[str, str]:
    """The allocator variables this process started with (what a run records), empty when none."""
    return {k: str(v) for k, v in _user_values().items()}


def _user_values() -> dict[str, int]:
    """The thresholds exported in this process's environment (``BadConfig`` naming a malformed one)."""
    try:
        values = {
            "MALLOC_MMAP_THRESHOLD_": settings.get("MALLOC_MMAP_THRESHOLD_"),
            "MALLOC_TRIM_THRESHOLD_": settings.get("MALLOC_TRIM_THRESHOLD_"),
        }
    except settings.SettingError as exc:
        raise BadConfig(str(exc)) from None
    return {k: v for k, v in values.items() if v is not None}


def describe_allocator() -> str:
    """One Markdown sentence for the About tab: the allocator settings every timed child runs with."""
    return (
        "Measuring processes run with glibc's mmap and trim thresholds raised to 4 GiB "
        "(`MALLOC_MMAP_THRESHOLD_`, `MALLOC_TRIM_THRESHOLD_`), so PyTorch reuses freed activation buffers "
        "instead of having the kernel map and zero fresh pages on every pass, as a tuned server does; each "
        "run records the settings in force and its page faults per pass."
    )


def minor_page_faults() -> int:
    """Minor page faults of this process so far (pages the kernel mapped and zeroed on first touch)."""
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_minflt)
