"""The ONNX Runtime backend: explicit providers and threads, recorded facts, precisions it can and cannot run."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import timm
import torch

from harness.backends import BackendUnsupported, PrepareRequest
from harness.backends.onnxruntime_backend import CPU, CUDA, CudaOrtRunner, OnnxRuntimeBackend, _to_fp16
from harness.onnx_export import run_onnx_cpu

SIZE = (3, 48, 48)


@pytest.fixture(scope="module")
def resnet():
    torch.set_num_threads(1)
    return timm.create_model("resnet10t", pretrained=False, num_classes=10).eval()


def _request(model, tmp_path, **kw) -> PrepareRequest:
    base = dict(model=model, input_size=SIZE, device="cpu", precision="fp32", threads=1, workdir=tmp_path)
    base.update(kw)
    return PrepareRequest(architecture="resnet10t", **base)


def test_fp32_cpu_runner_matches_pytorch_and_records_settings(resnet, tmp_path):
    runner = OnnxRuntimeBackend().prepare(_request(resnet, tmp_path, threads=2))
    assert runner.provider == CPU and runner.threads == 2
    opts = runner.session.get_session_options()
    assert opts.intra_op_num_threads == 2 and opts.inter_op_num_threads == 1
    assert opts.execution_mode == ort.ExecutionMode.ORT_SEQUENTIAL
    assert opts.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    info = runner.info
    assert info["providers"] == [CPU] and info["quantization"] is None
    assert info["exporter"] == "dynamo" and info["opset"] >= 18 and info["onnx_size_mb"] > 0
    assert 0 <= info["max_abs_diff"] < 1e-3

    rng = np.random.default_rng(0)
    for batch in (1, 3):
        x = rng.standard_normal((batch, *SIZE)).astype(np.float32)
        fed = runner.to_input(x)
        assert fed.flags["C_CONTIGUOUS"] and fed.dtype == np.float32
        got = runner.to_numpy(runner.run(fed))
        with torch.no_grad():
            ref = resnet(torch.from_numpy(x)).numpy()
        assert got.shape == (batch, 10) and np.abs(got - ref).max() < 1e-3


def test_export_is_reused_across_precisions(resnet, tmp_path):
    OnnxRuntimeBackend().prepare(_request(resnet, tmp_path))
    first = (tmp_path / "model_fp32.onnx").stat().st_mtime_ns
    calib = np.random.default_rng(0).standard_normal((16, *SIZE)).astype(np.float32)
    runner = OnnxRuntimeBackend().prepare(_request(resnet, tmp_path, precision="int8", calibration=calib))
    assert (tmp_path / "model_fp32.onnx").stat().st_mtime_ns == first
    q = runner.info["quantization"]
    assert q["mode"] == "static-qdq" and q["calibration_samples"] == 16
    assert runner.info["model_file"] == "model_int8.onnx"
    assert runner.info["onnx_size_mb"] == q["size_mb"] < 0.5 * q["fp32_size_mb"]
    assert runner.predict(calib[:2]).shape == (2, 10)

    other = timm.create_model("resnet10t", pretrained=False, num_classes=10).eval()  # new weights: re-export
    OnnxRuntimeBackend().prepare(_request(other, tmp_path))
    assert (tmp_path / "model_fp32.onnx").stat().st_mtime_ns != first


def test_int8_without_calibration_is_unsupported_for_convnets(resnet, tmp_path):
    with pytest.raises(BackendUnsupported, match="calibration"):
        OnnxRuntimeBackend().prepare(_request(resnet, tmp_path, precision="int8"))


def test_int8_transformer_needs_no_calibration(tmp_path):
    vit = timm.create_model("test_vit", pretrained=False, img_size=32, num_classes=10).eval()
    req = PrepareRequest(vit, (3, 32, 32), "cpu", "int8", 1, tmp_path, architecture="test_vit")
    runner = OnnxRuntimeBackend().prepare(req)
    assert runner.info["quantization"]["mode"] == "dynamic-matmul"
    assert runner.predict(np.zeros((3, 3, 32, 32), np.float32)).shape == (3, 10)


def test_unavailable_provider_and_precisions_are_refused(resnet, tmp_path):
    with pytest.raises(BackendUnsupported, match="fp16 is measured on cuda"):
        OnnxRuntimeBackend().prepare(_request(resnet, tmp_path, precision="fp16"))
    with pytest.raises(BackendUnsupported, match="has no device 'tpu'"):
        OnnxRuntimeBackend().prepare(_request(resnet, tmp_path, device="tpu"))
    with pytest.raises(BackendUnsupported, match="int8 is measured on cpu only"):
        OnnxRuntimeBackend().prepare(_request(resnet, tmp_path, device="cuda", precision="int8"))
    with pytest.raises(BackendUnsupported, match="has no precision 'bf16'"):
        OnnxRuntimeBackend().prepare(_request(resnet, tmp_path, precision="bf16"))
    if CUDA not in ort.get_available_providers():
        with pytest.raises(BackendUnsupported, match="no CUDAExecutionProvider"):
            OnnxRuntimeBackend().prepare(_request(resnet, tmp_path, device="cuda"))
    assert not (tmp_path / "model_fp32.onnx").exists()  # refused before any export work


def test_fp16_conversion_is_valid_and_close(resnet, tmp_path):
    """The CUDA fp16 path's conversion, checked on the CPU provider (which runs fp16 graphs, slowly)."""
    runner = OnnxRuntimeBackend().prepare(_request(resnet, tmp_path))
    fp16 = _to_fp16(tmp_path / "model_fp32.onnx", tmp_path)
    x = np.random.default_rng(0).standard_normal((2, *SIZE)).astype(np.float32)
    ref = runner.predict(x)
    got = run_onnx_cpu(fp16, x)  # float32 in and out (keep_io_types)
    assert got.dtype == np.float32
    assert np.abs(got - ref).max() <= 1e-2 * max(1.0, np.abs(ref).max())
    assert fp16.stat().st_size < 0.6 * (tmp_path / "model_fp32.onnx").stat().st_size


def test_io_binding_runner_path(resnet, tmp_path):
    """The CUDA runner's IO-binding path (device OrtValue in, device output, copy back), run on CPU memory."""
    cpu_runner = OnnxRuntimeBackend().prepare(_request(resnet, tmp_path))
    bound = CudaOrtRunner(cpu_runner.session, CPU, 1, cpu_runner.info)
    bound.device_type = "cpu"
    x = np.random.default_rng(0).standard_normal((3, *SIZE)).astype(np.float32)
    fed = bound.to_input(x)
    out = bound.run(fed)
    bound.sync()
    assert np.array_equal(bound.to_numpy(out), cpu_runner.predict(x))
    x2 = x[:1] * 2  # a new binding per input; the first one is untouched
    assert np.array_equal(bound.predict(x2), cpu_runner.predict(x2))
    assert np.array_equal(bound.to_numpy(out), cpu_runner.predict(x))


def test_what_the_spec_declares_runnable_on_cpu_prepares_and_the_rest_says_why(resnet, tmp_path):
    backend = OnnxRuntimeBackend()
    calib = np.random.default_rng(0).standard_normal((8, *SIZE)).astype(np.float32)
    runnable = [p for p in backend.precisions if backend.unsupported_reason("cpu", p) is None]
    assert runnable == ["fp32", "int8"]
    for precision in backend.precisions:
        request = _request(resnet, tmp_path, precision=precision, calibration=calib)
        if precision in runnable:
            assert backend.prepare(request).predict(calib[:2]).shape == (2, 10)
        else:
            with pytest.raises(BackendUnsupported) as err:
                backend.prepare(request)
            assert str(err.value) == backend.unsupported_reason("cpu", precision)
