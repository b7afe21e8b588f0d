"""GPU paths (PyTorch CUDA fp16/channels-last, ONNX Runtime CUDA and TensorRT EPs): on a machine without
a GPU or the GPU wheel every one is refused with its precise reason, and the pure parts (provider options,
per-run engine cache, fp16 choices, the channels-last rule, the engine-build bookkeeping) are checked here,
run on the CPU where the code path allows it. No test needs a GPU."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import timm
import torch

from harness.backends import BackendUnsupported, PrepareRequest, get_backend
from harness.backends.onnxruntime_backend import (
    CPU,
    CUDA,
    RECORDED_OPTIONS,
    TENSORRT,
    OnnxRuntimeBackend,
    cuda_provider_options,
    missing_provider_reason,
    reference_diff,
)
from harness.backends.onnxruntime_trt_backend import (
    CACHE_DIR,
    OnnxRuntimeTrtBackend,
    TrtOrtRunner,
    cache_size_mb,
    trt_provider_options,
)
from harness.backends.pytorch_backend import PyTorchBackend, TorchRunner, no_cuda_reason, use_channels_last

SIZE = (3, 32, 32)
NO_GPU_WHEEL = CUDA not in ort.get_available_providers()
NO_CUDA = not torch.cuda.is_available()


@pytest.fixture(scope="module")
def convnet():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    return timm.create_model("resnet10t", pretrained=False, num_classes=10, zero_init_last=False).eval()


def _request(model, tmp_path, **kw) -> PrepareRequest:
    base = dict(model=model, input_size=SIZE, device="cuda", precision="fp32", threads=1, workdir=tmp_path)
    return PrepareRequest(**{**base, **kw})


# ---- refused here, with the reason ------------------------------------------------------------------


@pytest.mark.skipif(not NO_GPU_WHEEL, reason="the GPU wheel is installed")
@pytest.mark.parametrize("backend, precision", [("onnxruntime", "fp32"), ("onnxruntime", "fp16"),
                                                ("onnxruntime-trt", "fp32"), ("onnxruntime-trt", "fp16")])  # fmt: skip
def test_the_cpu_wheel_refuses_gpu_providers_before_exporting(convnet, tmp_path, backend, precision):
    with pytest.raises(BackendUnsupported) as err:
        get_backend(backend).prepare(_request(convnet, tmp_path, precision=precision))
    provider = TENSORRT if backend == "onnxruntime-trt" else CUDA
    reason = str(err.value)
    assert f"has no {provider}" in reason and "requirements-gpu.txt" in reason and "\n" not in reason
    assert f"onnxruntime {ort.__version__}" in reason and CPU in reason
    assert not list(tmp_path.rglob("*.onnx"))  # refused before any export


@pytest.mark.skipif(not NO_CUDA, reason="this machine has a CUDA device")
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_pytorch_cuda_says_torch_sees_no_device(convnet, tmp_path, precision):
    with pytest.raises(BackendUnsupported) as err:
        PyTorchBackend().prepare(_request(convnet, tmp_path, precision=precision))
    assert str(err.value) == no_cuda_reason(torch)
    assert ("no CUDA device" in str(err.value)) or ("CPU-only build" in str(err.value))


def test_precisions_and_devices_each_gpu_backend_refuses_say_why():
    trt = OnnxRuntimeTrtBackend()
    assert trt.unsupported_reason("cuda", "fp32") is None and trt.unsupported_reason("cuda", "fp16") is None
    assert "calibration table" in trt.unsupported_reason("cuda", "int8")
    assert "cuda only" in trt.unsupported_reason("cpu", "fp32")
    assert "no precision 'bf16'" in trt.unsupported_reason("cuda", "bf16")
    ort_backend = OnnxRuntimeBackend()
    assert ort_backend.unsupported_reason("cuda", "fp16") is None
    assert "cpu only" in ort_backend.unsupported_reason("cuda", "int8")
    assert "cuda only" in PyTorchBackend().unsupported_reason("cpu", "fp16")


def test_missing_provider_reason_names_the_fix():
    reason = missing_provider_reason(TENSORRT, "1.2.3", [CPU])
    assert reason == (
        "onnxruntime 1.2.3 here has no TensorrtExecutionProvider (available: CPUExecutionProvider); "
        "a GPU worker installs requirements-gpu.txt (onnxruntime-gpu) instead of the CPU wheel"
    )


# ---- provider options and the engine cache -----------------------------------------------------------


def test_cuda_provider_list_and_options(tmp_path):
    req = PrepareRequest(None, SIZE, "cuda", "fp32", 2, tmp_path, options={"device_id": 1})
    assert OnnxRuntimeBackend().providers(req) == [(CUDA, cuda_provider_options(1)), CPU]
    assert OnnxRuntimeBackend().providers(PrepareRequest(None, SIZE, "cpu", "fp32", 2, tmp_path)) == [CPU]
    opts = cuda_provider_options(1)
    assert opts["device_id"] == 1 and opts["cudnn_conv_algo_search"] == "EXHAUSTIVE"
    assert set(opts) <= RECORDED_OPTIONS


@pytest.mark.parametrize("precision, fp16", [("fp32", False), ("fp16", True)])
def test_tensorrt_options_put_engine_and_timing_cache_in_the_jobs_workdir(tmp_path, precision, fp16):
    job = tmp_path / f"onnxruntime-trt-{precision}"
    req = PrepareRequest(None, SIZE, "cuda", precision, 1, job)
    (trt, trt_opts), (cuda, cuda_opts), cpu = OnnxRuntimeTrtBackend().providers(req)
    assert (trt, cuda, cpu) == (TENSORRT, CUDA, CPU)  # TensorRT first; what it cannot take runs on CUDA
    assert trt_opts["trt_fp16_enable"] is fp16
    assert trt_opts["trt_engine_cache_enable"] is True and trt_opts["trt_timing_cache_enable"] is True
    assert (
        Path(trt_opts["trt_engine_cache_path"]) == job / CACHE_DIR == Path(trt_opts["trt_timing_cache_path"])
    )
    assert (job / CACHE_DIR).is_dir() and trt_opts["device_id"] == 0 == cuda_opts["device_id"]


def test_each_run_gets_its_own_engine_cache(tmp_path):
    a = trt_provider_options(tmp_path / "run-a" / "onnxruntime-trt-fp16", "fp16", 0)
    b = trt_provider_options(tmp_path / "run-b" / "onnxruntime-trt-fp16", "fp16", 0)
    assert a["trt_engine_cache_path"] != b["trt_engine_cache_path"]


def test_fp16_choices_per_onnx_backend(tmp_path):
    """ORT CUDA fp16 runs a converted fp16 graph (float32 I/O kept); TensorRT's fp16 is its builder flag
    on the untouched fp32 export."""
    export = {"path": str(tmp_path / "model_fp32.onnx")}
    req = PrepareRequest(None, SIZE, "cuda", "fp16", 1, tmp_path)
    info: dict = {}
    assert OnnxRuntimeTrtBackend().graph(req, export, info) == tmp_path / "model_fp32.onnx"
    assert info == {"engine_cache": CACHE_DIR}


# ---- the engine-build bookkeeping, run on the CPU provider ------------------------------------------


def test_first_run_per_batch_size_is_the_timed_engine_build(convnet, tmp_path):
    cpu = get_backend("onnxruntime").prepare(_request(convnet, tmp_path, device="cpu"))
    runner = TrtOrtRunner(cpu.session, CPU, 1, dict(cpu.info))
    runner.device_type = "cpu"  # the same IO-binding path on host memory
    runner.cache_dir = tmp_path / CACHE_DIR
    x = np.random.default_rng(0).standard_normal((2, *SIZE)).astype(np.float32)
    for batch in (x, x, x[:1]):
        assert np.allclose(runner.predict(batch), cpu.predict(batch), atol=1e-5)
    builds = runner.info["engine_builds"]
    assert [b["batch_size"] for b in builds] == [2, 1] and all(b["build_s"] > 0 for b in builds)
    assert runner.info["engine_cache_mb"] is None  # no engines on the CPU provider


def test_gpu_runs_are_checked_against_the_exports_pytorch_reference(convnet, tmp_path):
    """What a CUDA/TensorRT session computes (fp16 kernels) is compared with PyTorch fp32 on the export's
    verification batch; shown here with the CPU session and a perturbed reference."""
    runner = get_backend("onnxruntime").prepare(_request(convnet, tmp_path, device="cpu"))
    export = {"reference_path": str(next(tmp_path.glob("*.reference.npz")))}
    got = reference_diff(runner, export)
    assert got["max_abs_diff"] < 1e-4 and "verification batch" in got["reference"]
    with np.load(export["reference_path"]) as ref:
        np.savez(tmp_path / "shifted.npz", input=ref["input"], logits=ref["logits"] + 0.5)
    assert (
        abs(reference_diff(runner, {"reference_path": str(tmp_path / "shifted.npz")})["max_abs_diff"] - 0.5)
        < 1e-3
    )
    assert (
        reference_diff(runner, {}) == {} and reference_diff(runner, {"reference_path": "/nonexistent"}) == {}
    )


def test_engine_cache_size_counts_engine_files_only(tmp_path):
    assert cache_size_mb(None) is None and cache_size_mb(tmp_path / "absent") is None
    (tmp_path / "a.engine").write_bytes(b"\0" * 2**20)
    (tmp_path / "b.timing").write_bytes(b"\0" * 2**20)
    assert cache_size_mb(tmp_path) == 1.0


# ---- PyTorch: the channels-last rule -------------------------------------------------------------------


def test_channels_last_rule(convnet):
    mlp = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 10))
    assert use_channels_last(convnet, "cuda", "fp16") is True
    assert use_channels_last(convnet, "cuda", "fp32") is False
    assert use_channels_last(convnet, "cpu", "fp16") is False
    assert use_channels_last(mlp, "cuda", "fp16") is False


def test_channels_last_runner_gives_the_same_logits(convnet):
    """The channels-last path (model and input converted, not timed), run on the CPU."""
    x = np.random.default_rng(1).standard_normal((2, *SIZE)).astype(np.float32)
    nchw = TorchRunner(convnet, "cpu", "fp32", 1).predict(x)
    nhwc = TorchRunner(convnet, "cpu", "fp32", 1)
    nhwc.set_channels_last()
    assert nhwc.info["memory_format"] == "channels_last"
    assert nhwc.to_input(x).is_contiguous(memory_format=torch.channels_last)
    assert np.allclose(nhwc.predict(x), nchw, atol=1e-4)
    convnet.to(memory_format=torch.contiguous_format)  # the module fixture is shared
