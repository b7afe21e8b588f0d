"""ONNX Runtime with the TensorRT execution provider (``onnxruntime-trt``): the shared fp32 ONNX export,
compiled by TensorRT into an engine per input shape; what TensorRT cannot take runs on the CUDA EP.

fp16 is TensorRT's own (``trt_fp16_enable``: it picks fp16 kernels where they are faster, on the fp32
graph), not ORT's converted fp16 graph. int8 would need a TensorRT calibration table; it is not offered.

The graph's batch axis is dynamic, so TensorRT builds (or, for a larger batch, rebuilds) its engine on
the first run of each new batch size. That first run happens in :meth:`to_input`, outside the timed loop,
and its duration is recorded per batch size in ``info["engine_builds"]``; the engines and TensorRT's
timing cache live in the job's own workdir (``trt_cache/``), so nothing leaks between runs and a second
session of the same job (a re-measure) loads the engine instead of building it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from harness.backends import PrepareRequest, Runner, register_backend
from harness.backends.onnxruntime_backend import (
    CPU,
    CUDA,
    TENSORRT,
    CudaOrtRunner,
    OnnxRuntimeBackend,
    _device_id,
    cuda_provider_options,
)

CACHE_DIR = "trt_cache"


@register_backend
class OnnxRuntimeTrtBackend(OnnxRuntimeBackend):
    name = "onnxruntime-trt"
    devices = ("cuda",)
    precisions = ("fp32", "fp16")
    summary = "ONNX Runtime TensorRT EP on the exported graph (fp16: TensorRT's fp16 flag; engine per shape)"

    def unsupported_reason(self, device: str, precision: str) -> str | None:
        if precision == "int8":
            return (
                "onnxruntime-trt int8 needs a TensorRT calibration table; int8 is measured on onnxruntime cpu"
            )
        if device != "cuda":
            return "onnxruntime-trt runs on cuda only (TensorRT is an NVIDIA GPU compiler)"
        return super(OnnxRuntimeBackend, self).unsupported_reason(device, precision)

    def execution_provider(self, device: str) -> str:
        return TENSORRT

    def providers(self, request: PrepareRequest) -> list[Any]:
        device_id = _device_id(request)
        trt = trt_provider_options(Path(request.workdir), request.precision, device_id)
        return [(TENSORRT, trt), (CUDA, cuda_provider_options(device_id)), CPU]

    def graph(self, request: PrepareRequest, export: dict[str, Any], info: dict[str, Any]) -> Path:
        info["engine_cache"] = CACHE_DIR  # relative to the job's workdir
        return Path(export["path"])  # fp16 is TensorRT's flag on this fp32 graph

    def runner(self, session: Any, request: PrepareRequest, info: dict[str, Any]) -> Runner:
        runner = TrtOrtRunner(session, TENSORRT, request.threads, info)
        runner.device_id = _device_id(request)
        runner.cache_dir = Path(request.workdir) / CACHE_DIR
        return runner


def trt_provider_options(workdir: Path, precision: str, device_id: int) -> dict[str, Any]:
    """TensorRT EP options (names as ORT documents them): fp16 flag, engine and timing caches in this run's
    workdir. Workspace and builder optimisation level stay TensorRT's defaults (recorded from the session)."""
    cache = workdir / CACHE_DIR
    cache.mkdir(parents=True, exist_ok=True)
    return {
        "device_id": device_id,
        "trt_fp16_enable": precision == "fp16",
        "trt_engine_cache_enable": True,
        "trt_engine_cache_path": str(cache),
        "trt_timing_cache_enable": True,
        "trt_timing_cache_path": str(cache),
    }


class TrtOrtRunner(CudaOrtRunner):
    """The CUDA IO-binding runner, plus one untimed first run per new batch size: the engine build."""

    cache_dir: Path | None = None

    def __init__(self, session: Any, provider: str, threads: int, info: dict[str, Any]) -> None:
        super().__init__(session, provider, threads, info)
        self.built: set[int] = set()
        self.info.setdefault("engine_builds", [])

    def to_input(self, batch: np.ndarray) -> Any:
        binding = super().to_input(batch)
        size = int(batch.shape[0])
        if size not in self.built:
            t0 = time.perf_counter()
            self.session.run_with_iobinding(binding)  # builds (or loads) the engine for this shape
            self.info["engine_builds"].append({"batch_size": size, "build_s": time.perf_counter() - t0})
            self.built.add(size)
            self.info["engine_cache_mb"] = cache_size_mb(self.cache_dir)
        return binding


def cache_size_mb(folder: Path | None) -> float | None:
    """Size of the engines TensorRT wrote (the artefact a deployment would ship), None before any."""
    if folder is None or not folder.is_dir():
        return None
    engines = [p for p in folder.iterdir() if p.is_file() and p.suffix == ".engine"]
    return sum(p.stat().st_size for p in engines) / 2**20 if engines else None
