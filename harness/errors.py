"""Errors the harness reports as one line, and the one failure taxonomy shared with the queue worker.

Every way a job can fail has a ``kind`` listed in :data:`FAILURE_KINDS`: the HarnessError subclasses
below (raised in the harness, written by ``python -m harness --error-file``) and the kinds only the
worker can observe (the child was killed, the lease ran out). One OOM detector serves both sides:
:func:`is_oom` for exceptions, :func:`looks_like_oom` for a dead child's stderr.
"""

from __future__ import annotations

import sys

EXIT_BAD_INPUT = 2


class HarnessError(Exception):
    """Bad input or an evaluation that cannot go on; ``str(err)`` is the one-line reason."""

    exit_code = EXIT_BAD_INPUT
    kind = "harness_error"

    def __str__(self) -> str:
        return " ".join(super().__str__().split())  # always one line


class UnknownArchitecture(HarnessError):
    kind = "unknown_architecture"


class BadModelSpec(HarnessError):
    kind = "bad_model_spec"


class UnsupportedWeights(HarnessError):
    """Missing weights, or weights in a format we refuse to load (pickle)."""

    kind = "unsupported_weights"


class WeightMismatch(HarnessError):
    kind = "weight_mismatch"


class ModelUnavailable(HarnessError):
    """The Hub could not be reached or the repo/revision does not exist."""

    kind = "model_unavailable"


class DownloadTooLarge(HarnessError):
    kind = "download_too_large"


class BadDataset(HarnessError):
    kind = "bad_dataset"


class ClassCountMismatch(HarnessError):
    kind = "class_count_mismatch"


class OutOfMemory(HarnessError):
    kind = "oom"


class MeasurementTimeout(HarnessError):
    kind = "timeout"


# kind -> what it means. Harness-side kinds first (the HarnessError subclasses), then worker-side ones.
_KIND_MEANINGS = {
    "harness_error": "the harness could not go on (unexpected error, or a non-zero exit without a reason)",
    "bad_config": "a benchmark setting or command-line flag was invalid",
    "unknown_architecture": "the model's architecture is not one timm knows",
    "bad_model_spec": "the model id / source could not be understood",
    "unsupported_weights": "weights missing or in a refused format (pickle)",
    "weight_mismatch": "the weights do not fit the declared architecture",
    "model_unavailable": "the Hub could not be reached or the repo/revision does not exist",
    "download_too_large": "the weights exceed the download size cap",
    "bad_dataset": "the dataset could not be read or is not allowed",
    "class_count_mismatch": "the model and the dataset disagree on the number of classes",
    "oom": "out of memory (host or device), in the harness or killed by the kernel",
    "timeout": "a measurement or the whole evaluation ran past its time limit",
    "no_measurement": "the record was written but no run succeeded",
    "crashed": "the evaluation process died (signal or interpreter crash) without a reason",
    "worker_error": "the queue worker itself failed while handling the job",
    "mismatch": "the record does not match the queued submission (model changed since submitted)",
    "lease_expired": "the worker holding the job stopped renewing its lease too many times",
    "rejected": "a maintainer rejected the submission at review",
}
FAILURE_KINDS: tuple[str, ...] = tuple(_KIND_MEANINGS)


def describe_failure_kind(kind: str) -> str:
    """One line saying what a failure ``kind`` means (for the queue view and docs)."""
    return _KIND_MEANINGS.get(kind, "unknown failure kind")


# Lower-case fragments that mean "out of memory" in Python, PyTorch, ONNX Runtime, glibc and the loader.
OOM_MARKERS = (
    "out of memory",
    "outofmemoryerror",
    "memoryerror",
    "cannot allocate memory",
    "can't allocate memory",
    "failed to allocate",
    "bad_alloc",
    "failed to map segment",  # a shared library that no longer fits under RLIMIT_AS
)


def looks_like_oom(text: str | None) -> bool:
    """True when process output (a dead child's stderr tail, a run's error) reports running out of memory."""
    if not text:
        return False
    low = str(text)[-20_000:].lower()  # the end of a long stderr is where the reason is
    return any(m in low for m in OOM_MARKERS)


def is_oom(exc: BaseException) -> bool:
    """True for host or device out-of-memory errors (torch raises several types for CUDA OOM)."""
    if isinstance(exc, MemoryError):
        return True
    torch = sys.modules.get("torch")  # an exception from torch implies torch is loaded; never import it here
    oom_type = getattr(torch, "OutOfMemoryError", None)
    if oom_type is not None and isinstance(exc, oom_type):
        return True
    return isinstance(exc, RuntimeError) and looks_like_oom(str(exc))


class BadConfig(HarnessError):
    """A flag or setting was refused (the CLI maps harness.config.ConfigError to this kind)."""

    kind = "bad_config"


def as_harness_error(exc: BaseException, context: str) -> HarnessError:
    """Turn an OOM into a clear :class:`OutOfMemory`; other HarnessErrors pass through."""
    if isinstance(exc, HarnessError):
        return exc
    if is_oom(exc):
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        return OutOfMemory(f"out of memory while {context}: {first}")
    return HarnessError(f"{context} failed: {type(exc).__name__}: {str(exc).strip()[:300]}")
