"""Registry of inference backends: the one place the harness looks up how to run a model.

A backend turns a loaded PyTorch model into a :class:`Runner` for one (device, precision). The harness's
timing and accuracy code only ever talks to a Runner, so every backend is measured by the same loop.
"""

from __future__ import annotations

import importlib
import re
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
    # The evaluation's one fp32 ONNX export (harness.onnx_export.export_onnx's facts, "path" included),
    # made once by the parent for every backend that consumes ONNX; such a backend then needs no ``model``.
    onnx_export: dict[str, Any] | None = None


class Backend(ABC):
    """One way of running a model. Subclasses declare what they can run as class attributes, so the
    registry (and the config, the CLI and the submit form derived from it) knows without importing
    onnxruntime or torch."""

    name: str
    devices: tuple[str, ...] = ()  # every device prepare() may accept
    precisions: tuple[str, ...] = ()  # every precision prepare() may accept (on some device)
    summary: str = ""  # one line for help texts
    consumes_onnx: bool = False  # prepares from the shared ONNX export (PrepareRequest.onnx_export) if given
    # Modules a deployment imports to run this backend (e.g. "onnxruntime"): the child imports them first so
    # cold start reports import time apart from engine build time (harness.coldstart).
    runtime_modules: tuple[str, ...] = ()

    def unsupported_reason(self, device: str, precision: str) -> str | None:
        """Cheap check before any model is loaded: a one-line reason if (device, precision) cannot run here.

        The default refuses what the class does not declare; :meth:`prepare` may still raise
        BackendUnsupported for what only shows up at run time (a missing CUDA provider).
        """
        if device not in self.devices:
            return f"{self.name} backend has no device {device!r} (it runs on {', '.join(self.devices)})"
        if precision not in self.precisions:
            return (
                f"{self.name} backend has no precision {precision!r} (it runs {', '.join(self.precisions)})"
            )
        return None

    @abstractmethod
    def prepare(self, request: PrepareRequest) -> Runner:
        """Build a Runner or raise BackendUnsupported with a one-line reason."""


@dataclass(frozen=True)
class BackendSpec:
    """What a registered backend declares: enough for choices and validation, nothing imported."""

    name: str
    devices: tuple[str, ...]
    precisions: tuple[str, ...]
    summary: str


class DuplicateBackend(ValueError):
    """A second backend tried to register a name that is taken; names are keys in result records."""


# Built-in backends, registered on first use by importing these modules (cheap: they import onnxruntime
# and torch only inside prepare()). Their order is the canonical order of backend lists.
_BUILTIN_MODULES = (
    "harness.backends.pytorch_backend",
    "harness.backends.onnxruntime_backend",
    "harness.backends.openvino_backend",
    "harness.backends.torch_compile_backend",
    "harness.backends.onnxruntime_trt_backend",
    "harness.backends.litert_backend",
)
_REGISTRY: dict[str, type[Backend]] = {}
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,30}(?:-[a-z0-9_]+)*$")  # e.g. onnxruntime-trt, torch-compile


def register_backend(cls: type[Backend]) -> type[Backend]:
    """Class decorator. Refuses a duplicate or malformed name and a class that declares nothing."""
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or len(name) > 32 or not _NAME_RE.match(name):
        raise ValueError(f"backend name must match {_NAME_RE.pattern}, got {name!r} ({cls.__qualname__})")
    declared = (cls.devices, cls.precisions)
    if not all(isinstance(d, tuple) and d and all(isinstance(v, str) for v in d) for d in declared):
        raise ValueError(f"backend {name!r} must declare devices, precisions and a summary (tuples of names)")
    if not isinstance(cls.summary, str) or not cls.summary.strip() or "\n" in cls.summary:
        raise ValueError(f"backend {name!r} must declare devices, precisions and a summary (one line)")
    other = _REGISTRY.get(name)
    if other is not None and other is not cls:
        raise DuplicateBackend(
            f"backend {name!r} is already registered by {other.__module__}.{other.__qualname__}"
        )
    _REGISTRY[name] = cls
    return cls


def get_backend(name: str) -> Backend:
    _load_builtin()
    try:
        return _REGISTRY[name]()
    except KeyError:
        raise BackendUnsupported(f"unknown backend {name!r}; known: {', '.join(backend_names())}") from None


def backend_specs() -> tuple[BackendSpec, ...]:
    """The registered backends, built-ins first in canonical order, then others in registration order."""
    _load_builtin()
    builtin = list(_BUILTIN_MODULES)
    ordered = sorted(
        _REGISTRY.values(),
        key=lambda c: builtin.index(c.__module__) if c.__module__ in builtin else len(builtin),
    )  # stable: third-party backends keep their registration order
    return tuple(BackendSpec(c.name, tuple(c.devices), tuple(c.precisions), c.summary) for c in ordered)


def backend_names() -> list[str]:
    return [s.name for s in backend_specs()]


def _load_builtin() -> None:
    for module in _BUILTIN_MODULES:
        importlib.import_module(module)
