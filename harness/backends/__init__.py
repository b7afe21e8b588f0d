"""Registry of inference backends: the one place the harness looks up how to run a model.

A backend turns a loaded PyTorch model into a :class:`Runner` for one (device, precision). The harness's
timing and accuracy code only ever talks to a Runner, so every backend is measured by the same loop.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


class BackendUnsupported(Exception):
    """This backend cannot run the requested device/precision here (one-line reason)."""


class Runner(ABC):
    """A model ready to run on one backend/device/precision."""

    provider: str  # e.g. "torch-cpu", "CPUExecutionProvider", "CUDAExecutionProvider"
    threads: int  # intra-op threads in force while measuring
    info: dict[str, Any]  # backend facts for the record (onnx size, max abs diff, quantization mode, ...)

    @abstractmethod
    def to_input(self, batch: np.ndarray) -> Any:
        """Move a float32 NCHW batch to where/what the model consumes. Not timed."""

    @abstractmethod
    def run(self, x: Any) -> Any:
        """One forward pass (timed). May return before the device finishes: timing calls :meth:`sync`."""

    def sync(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Wait for queued device work (CUDA); a no-op on CPU."""

    @abstractmethod
    def to_numpy(self, out: Any) -> np.ndarray:
        """Logits as a float32 numpy array (N, num_classes)."""

    def predict(self, batch: np.ndarray) -> np.ndarray:
        return self.to_numpy(self.run(self.to_input(batch)))


@dataclass
class PrepareRequest:
    """Everything a backend needs to build a Runner."""

    model: Any  # torch.nn.Module in eval mode, on CPU, fp32
    input_size: tuple[int, int, int]  # C, H, W
    device: str  # "cpu" | "cuda"
    precision: str  # "fp32" | "fp16" | "int8"
    threads: int
    workdir: Path  # scratch folder for exported files
    architecture: str = ""
    calibration: np.ndarray | None = None  # float32 NCHW, preprocessed, for static INT8
    options: dict[str, Any] = field(default_factory=dict)


class Backend(ABC):
    name: str

    def unsupported_reason(self, device: str, precision: str) -> str | None:
        """Cheap check before any model is loaded: a one-line reason if (device, precision) cannot run here.

        Optional: the default says "try it"; :meth:`prepare` may still raise BackendUnsupported.
        """
        return None

    @abstractmethod
    def prepare(self, request: PrepareRequest) -> Runner:
        """Build a Runner or raise BackendUnsupported with a one-line reason."""


_REGISTRY: dict[str, type[Backend]] = {}


def register_backend(cls: type[Backend]) -> type[Backend]:
    _REGISTRY[cls.name] = cls
    return cls


def get_backend(name: str) -> Backend:
    _load_builtin()
    try:
        return _REGISTRY[name]()
    except KeyError:
        raise BackendUnsupported(f"unknown backend {name!r}; known: {', '.join(sorted(_REGISTRY))}") from None


def backend_names() -> list[str]:
    _load_builtin()
    return sorted(_REGISTRY)


def _load_builtin() -> None:
    # Imported lazily so that `import harness` stays cheap (onnxruntime is only needed when used).
    from harness.backends import onnxruntime_backend, pytorch_backend  # noqa: F401
