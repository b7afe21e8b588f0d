"""ONNX Runtime backend: export once, then run the same graph on the CPU or CUDA execution provider.

Every session is built with explicit settings so two records are comparable: the provider list is given
(never ORT's silent default), ``intra_op_num_threads`` is the request's thread count, ``inter_op`` is 1 with
sequential execution, and all graph optimisations are on. After the session is built we check that the
provider we asked for is really in use: ORT quietly falls back to CPU when CUDA libraries are missing.

Precisions: fp32 (the exported graph), int8 (see :mod:`harness.quantize`; CPU only -- the CUDA provider has
no int8 kernels for QDQ graphs and would silently run them unfused), fp16 on CUDA (weights and compute
converted with ``onnxruntime.transformers.float16``, float32 inputs/outputs kept so every backend is fed
the same batch). On CUDA the input is copied to the device in :meth:`to_input` and bound with IO binding,
with the output left on the device, so the timed :meth:`run` excludes host<->device copies.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from harness.backends import Backend, BackendUnsupported, PrepareRequest, Runner, register_backend
from harness.onnx_export import OnnxExportError, export_onnx

log = logging.getLogger(__name__)

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
TENSORRT = "TensorrtExecutionProvider"

# (workdir, id(model), input_size, weight fingerprint) -> export facts; the export is reused across precisions/batches.
_EXPORTS: dict[tuple[str, int, tuple[int, ...], float], dict[str, Any]] = {}


@register_backend
class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"
    devices: tuple[str, ...] = ("cpu", "cuda")
    precisions: tuple[str, ...] = ("fp32", "fp16", "int8")
    summary = "ONNX Runtime on the exported graph (int8: static QDQ on cpu; fp16 on cuda)"
    consumes_onnx = True
    runtime_modules = ("onnxruntime",)

    def unsupported_reason(self, device: str, precision: str) -> str | None:
        reason = super().unsupported_reason(device, precision)
        if reason:
            return reason
        if precision == "fp16" and device != "cuda":
            return "onnxruntime fp16 is measured on cuda only (CPU EP has few fp16 kernels)"
        if precision == "int8" and device != "cpu":
            return "onnxruntime int8 is measured on cpu only (CUDA EP has no QDQ int8 kernels)"
        return None

    def execution_provider(self, device: str) -> str:
        """The provider this backend measures on ``device`` (the one that must end up first in the session)."""
        return CUDA if device == "cuda" else CPU

    def providers(self, request: PrepareRequest) -> list[Any]:
        """The session's provider list, with options: explicit, so two records are comparable."""
        if request.device != "cuda":
            return [CPU]
        # CPU stays last for the few shape ops the CUDA EP leaves (ORT assigns them there anyway).
        return [(CUDA, cuda_provider_options(_device_id(request))), CPU]

    def graph(self, request: PrepareRequest, export: dict[str, Any], info: dict[str, Any]) -> Path:
        """The ONNX file to run for the request's precision (fp32 export, int8 QDQ, fp16 conversion)."""
        workdir = Path(request.workdir)
        model_path = Path(export["path"])
        if request.precision == "int8":
            model_path, info["quantization"] = _quantize(request, model_path, workdir)
            info["onnx_size_mb"] = info["quantization"]["size_mb"]
        elif request.precision == "fp16":
            model_path = _to_fp16(model_path, workdir)
            info["onnx_size_mb"] = model_path.stat().st_size / 2**20
        return model_path

    def runner(self, session: Any, request: PrepareRequest, info: dict[str, Any]) -> Runner:
        provider = self.execution_provider(request.device)
        if request.device == "cuda":
            runner = CudaOrtRunner(session, provider, request.threads, info)
            runner.device_id = _device_id(request)
            return runner
        return CpuOrtRunner(session, provider, request.threads, info)

    def prepare(self, request: PrepareRequest) -> Runner:
        import onnxruntime as ort

        reason = self.unsupported_reason(request.device, request.precision)
        if reason:
            raise BackendUnsupported(reason)
        provider = self.execution_provider(request.device)
        if provider not in ort.get_available_providers():
            raise BackendUnsupported(
                missing_provider_reason(provider, ort.__version__, ort.get_available_providers())
            )

        workdir = Path(request.workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        export = _shared_export(request) or _export_once(request, workdir)
        info: dict[str, Any] = {
            "onnx_size_mb": export["size_mb"],
            "max_abs_diff": export["max_abs_diff"],
            "opset": export["opset"],
            "exporter": export["exporter"],
            "export_fallback_reason": export["fallback_reason"],
            "onnx_batch": export.get("batch"),  # a graph traced at one batch size runs only at that one
            "quantization": None,
        }
        model_path = self.graph(request, export, info)
        info["model_file"] = model_path.name

        if provider != CPU:
            info.update(preload_gpu_libraries(ort, provider))
        try:
            session = _session(model_path, self.providers(request), request.threads)
        except Exception as exc:  # noqa: BLE001 - a GPU EP that cannot start (no device, no libraries)
            if provider == CPU:
                raise
            first = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), type(exc).__name__)
            raise BackendUnsupported(f"onnxruntime could not start {provider}: {first[:300]}") from None
        in_use = session.get_providers()
        if in_use[0] != provider:
            raise BackendUnsupported(
                f"onnxruntime fell back to {in_use[0]} instead of {provider} ({LIBRARY_HINT.get(provider, '')})"
            )
        info["providers"] = in_use
        if provider != CPU:
            options = session.get_provider_options().get(provider, {})
            info["provider_options"] = {k: options[k] for k in sorted(options) if k in RECORDED_OPTIONS}
        runner = self.runner(session, request, info)
        if provider != CPU:  # fp16 and TensorRT's kernels differ from the CPU check made at export
            info.update(reference_diff(runner, export))
        return runner


def reference_diff(runner: Runner, export: dict[str, Any]) -> dict[str, Any]:
    """Max |this runner - PyTorch fp32| on the export's verification batch (saved beside the export), when
    the export kept one; the export's own figure stays otherwise."""
    reference = export.get("reference_path")
    if not reference or not Path(reference).is_file():
        return {}
    with np.load(reference) as ref:
        got = runner.predict(ref["input"]).astype(np.float64)
        diff = float(np.abs(got - ref["logits"].astype(np.float64)).max())
    return {"max_abs_diff": diff, "reference": "PyTorch fp32 on the export's verification batch"}


def cuda_provider_options(device_id: int) -> dict[str, Any]:
    """CUDA EP settings, spelled out although most are ORT's defaults, so a change of default between ORT
    releases cannot silently change what a record measured: exhaustive cuDNN algorithm search (the best
    convolution per shape, found during warm-up) with its full workspace, copies on the compute stream."""
    return {
        "device_id": device_id,
        "cudnn_conv_algo_search": "EXHAUSTIVE",
        "cudnn_conv_use_max_workspace": "1",
        "do_copy_in_default_stream": "1",
    }


# Provider options kept in the record (the EPs report dozens; these are the ones that change the numbers).
RECORDED_OPTIONS = frozenset(
    {
        "device_id",
        "cudnn_conv_algo_search",
        "cudnn_conv_use_max_workspace",
        "do_copy_in_default_stream",
        "trt_fp16_enable",
        "trt_engine_cache_enable",
        "trt_timing_cache_enable",
        "trt_builder_optimization_level",
        "trt_max_workspace_size",
    }
)


# What ORT needs to load a GPU provider it lists but cannot start (it then runs the graph elsewhere, quietly).
LIBRARY_HINT = {
    CUDA: "CUDA 12 and cuDNN 9 libraries not found: requirements-gpu.txt brings them as nvidia-* wheels",
    TENSORRT: "TensorRT libraries not found: requirements-gpu.txt installs tensorrt",
}


def missing_provider_reason(provider: str, version: str, available: list[str]) -> str:
    """Why a GPU provider cannot run here: the CPU wheel has neither CUDA nor TensorRT."""
    return (
        f"onnxruntime {version} here has no {provider} (available: {', '.join(available)}); "
        "a GPU worker installs requirements-gpu.txt (onnxruntime-gpu) instead of the CPU wheel"
    )


def preload_gpu_libraries(ort: Any, provider: str) -> dict[str, Any]:
    """Load the CUDA/cuDNN (and TensorRT) libraries from their pip wheels before the session, so a GPU
    provider can start in a child that never imported torch: ``onnxruntime.preload_dlls`` (ORT >= 1.21)
    finds the nvidia-* wheels; ``import tensorrt`` loads libnvinfer, which ORT's TensorRT EP then finds by
    its soname. Either missing is not an error here: the provider check after the session says so."""
    facts: dict[str, Any] = {}
    preload = getattr(ort, "preload_dlls", None)
    if preload is not None:
        preload()
    if provider == TENSORRT:
        try:
            import tensorrt

            facts["tensorrt"] = str(tensorrt.__version__)
        except ImportError:
            facts["tensorrt"] = None
    return facts


def _device_id(request: PrepareRequest) -> int:
    return int(request.options.get("device_id", 0))


class CpuOrtRunner(Runner):
    """Feeds host numpy arrays; outputs come back as numpy."""

    def __init__(self, session: Any, provider: str, threads: int, info: dict[str, Any]) -> None:
        self.session = session
        self.provider = provider
        self.threads = threads
        self.info = info
        self.input_name = session.get_inputs()[0].name
        self.output_name = session.get_outputs()[0].name

    def to_input(self, batch: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(batch, dtype=np.float32)

    def run(self, x: np.ndarray) -> np.ndarray:
        return self.session.run([self.output_name], {self.input_name: x})[0]

    def to_numpy(self, out: Any) -> np.ndarray:
        return np.asarray(out, dtype=np.float32)


class CudaOrtRunner(CpuOrtRunner):
    """Input already on the GPU (OrtValue) and output kept there: ``run`` times the graph, not the PCIe bus."""

    device_type = "cuda"  # where the bound input/output live; "cpu" exercises the same path without a GPU
    device_id = 0

    def to_input(self, batch: np.ndarray) -> Any:
        import onnxruntime as ort

        host = np.ascontiguousarray(batch, dtype=np.float32)
        value = ort.OrtValue.ortvalue_from_numpy(host, self.device_type, self.device_id)
        binding = self.session.io_binding()
        binding.bind_ortvalue_input(self.input_name, value)
        binding.bind_output(self.output_name, self.device_type, self.device_id)
        binding._keepalive = value  # the OrtValue must outlive the binding
        return binding

    def run(self, binding: Any) -> Any:
        # run_with_iobinding synchronises the CUDA stream before returning (ORT's default), so sync() has
        # nothing left to wait for.
        self.session.run_with_iobinding(binding)
        return binding

    def to_numpy(self, out: Any) -> np.ndarray:
        return np.asarray(out.copy_outputs_to_cpu()[0], dtype=np.float32)


def _shared_export(request: PrepareRequest) -> dict[str, Any] | None:
    """The evaluation's shared export when the parent made one (the INT8/fp16 graphs derive from it)."""
    export = request.onnx_export
    if not export:
        return None
    if not Path(str(export.get("path", ""))).is_file():
        if request.model is None:
            raise OnnxExportError("the shared ONNX export is missing and this process loaded no model")
        return None  # export again below, from the model this child loaded
    return export


def _export_once(request: PrepareRequest, workdir: Path) -> dict[str, Any]:
    size = tuple(int(s) for s in request.input_size)
    key = (str(workdir.resolve()), id(request.model), size, _fingerprint(request.model))
    cached = _EXPORTS.get(key)
    if cached is not None and Path(cached["path"]).is_file():
        return cached
    export = export_onnx(request.model, size, workdir / "model_fp32.onnx", threads=max(1, request.threads))
    _EXPORTS[key] = export
    return export


def _fingerprint(model: Any) -> float:
    """Cheap identity of the weights, so a recycled ``id()`` can never pick up another model's export."""
    import torch

    with torch.no_grad():
        return float(sum(p.detach().double().sum().item() + p.numel() for p in model.parameters()))


def _quantize(request: PrepareRequest, fp32_path: Path, workdir: Path) -> tuple[Path, dict[str, Any]]:
    from harness.quantize import MissingCalibration, quantize_int8

    out = workdir / "model_int8.onnx"
    try:
        info = quantize_int8(fp32_path, out, request.calibration, request.architecture)
    except MissingCalibration as e:
        raise BackendUnsupported(f"onnxruntime int8: {e}") from e
    info.pop("path", None)  # a scratch path; the record keeps the facts, not where they were
    return out, info


def _to_fp16(fp32_path: Path, workdir: Path) -> Path:
    import onnx

    try:
        from onnxruntime.transformers.float16 import convert_float_to_float16
    except ImportError as e:  # pragma: no cover - ships with onnxruntime
        raise BackendUnsupported(f"onnxruntime fp16: converter unavailable ({e})") from e
    out = workdir / "model_fp16.onnx"
    model = convert_float_to_float16(onnx.load(str(fp32_path)), keep_io_types=True)
    _topological_sort(model.graph)  # the converter appends its input Casts after their consumers
    onnx.checker.check_model(model)
    onnx.save(model, str(out))
    return out


def _topological_sort(graph: Any) -> None:
    """Reorder ``graph.node`` so every node comes after the producers of its inputs (Kahn's algorithm)."""
    available = {i.name for i in graph.input} | {t.name for t in graph.initializer} | {""}
    pending = list(graph.node)
    ordered = []
    while pending:
        ready = [n for n in pending if all(i in available for i in n.input)]
        if not ready:
            raise BackendUnsupported("onnxruntime fp16: converted graph has a cycle or a dangling input")
        ready_ids = {id(n) for n in ready}
        pending = [n for n in pending if id(n) not in ready_ids]
        for n in ready:
            ordered.append(n)
            available.update(n.output)
    copies = [type(n)() for n in ordered]
    for dst, src in zip(copies, ordered, strict=True):
        dst.CopyFrom(src)
    del graph.node[:]
    graph.node.extend(copies)


def _session(path: Path, providers: list[Any], threads: int) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(1, int(threads))
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=opts, providers=providers)
