"""Errors the harness reports to the user as one line (exit status 2), never as a traceback."""

from __future__ import annotations

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
    kind = "out_of_memory"


class MeasurementTimeout(HarnessError):
    kind = "timeout"


def is_oom(exc: BaseException) -> bool:
    """True for host or device out-of-memory errors (torch raises several types for CUDA OOM)."""
    if isinstance(exc, MemoryError):
        return True
    try:
        import torch

        if isinstance(exc, torch.OutOfMemoryError):
            return True
    except (ImportError, AttributeError):
        pass
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "failed to allocate" in text)


def as_harness_error(exc: BaseException, context: str) -> HarnessError:
    """Turn an OOM into a clear :class:`OutOfMemory`; other HarnessErrors pass through."""
    if isinstance(exc, HarnessError):
        return exc
    if is_oom(exc):
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        return OutOfMemory(f"out of memory while {context}: {first}")
    return HarnessError(f"{context} failed: {type(exc).__name__}: {str(exc).strip()[:300]}")
