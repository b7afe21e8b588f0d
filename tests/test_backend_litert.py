"""The LiteRT (TFLite) backend: litert-torch conversion, ai-edge-litert's Interpreter on XNNPACK, fp32 and
int8, measured through the real harness on the trained digits model; conversion failures and graphs that
cannot be resized are handled, not hidden. (A conversion costs ~10-30 s here: the tests keep to a few.)"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from harness.backends import BackendUnsupported, PrepareRequest, get_backend
from harness.backends.litert_backend import (
    LiteRTBackend,
    captured_stderr,
    dequantize,
    int8_spec,
    one_line,
    quantize,
)
from harness.timing import MIN_ITERATIONS
from tests._harness_helpers import run_cli

SIZE = (3, 16, 16)


# ---- through the real harness ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def litert_record(digits_model, tmp_path_factory):
    """``python -m harness`` on the digits model: PyTorch fp32 (the reference) and LiteRT fp32 + int8."""
    out = tmp_path_factory.mktemp("litert") / "record.json"
    proc = run_cli(
        f"local-dir:{digits_model}",
        *("--dataset", "digits", "--max-samples", "120", "--backends", "pytorch,litert"),
        *("--precisions", "fp32,int8", "--batch-sizes", "1,3", "--min-duration", "0.05"),
        *("--threads", "1", "--output", str(out)),
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr == "", proc.stderr[-3000:]  # converter progress and XNNPACK notices stay captured
    return json.loads(out.read_text())


def _runs(record, precision):
    return [r for r in record["runs"] if r["backend"] == "litert" and r["precision"] == precision]


@pytest.mark.slow
def test_fp32_matches_pytorch_with_latency_and_conversion_facts(litert_record):
    runs = _runs(litert_record, "fp32")
    assert [r["batch_size"] for r in runs] == [1, 3]
    for run in runs:
        assert run["status"] == "ok", run["error"]
        assert run["provider"] == "litert-xnnpack" and run["threads"] == 1
        lat = run["latency_ms"]
        assert 0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["max"] and lat["p95"] is not None
        assert len(run["latency_samples_ms"]) == run["iterations"] >= MIN_ITERATIONS
        info = run["info"]
        assert info["max_abs_diff"] < 1e-4  # batch 1 and the resized batch 2, vs PyTorch fp32
        assert info["tflite_size_mb"] > 0.1 and info["conversion_s"] > 0
        assert info["delegate"] == "XNNPACK" and info["delegate_partitions"] >= 1
        assert "CONV_2D x" in " ".join(info["ops"]) and info["input_dtype"] == "float32"
        assert info["batch_mode"] == "resize_tensor_input" and info["quantization"] is None
        assert info["converter"].startswith("litert-torch ")
        assert run["accuracy_delta_top1"] == 0.0  # same argmax on all 120 digits
        assert "note" not in info  # trained weights: no branch folded away
    assert litert_record["accuracy"]["top1"] > 80


@pytest.mark.slow
def test_int8_is_full_integer_with_calibration_smaller_and_accurate(litert_record):
    fp32_mb = _runs(litert_record, "fp32")[0]["info"]["tflite_size_mb"]
    for run in _runs(litert_record, "int8"):
        assert run["status"] == "ok", run["error"]
        info = run["info"]
        q = info["quantization"]
        assert q["mode"] == "full-integer" and q["per_channel"] is True and q["calibration_samples"] == 64
        assert info["calibration"].startswith("digits:train")
        assert info["input_dtype"] == "int8"  # the model's input is int8: quantized outside the timed call
        assert info["tflite_size_mb"] < 0.5 * fp32_mb
        assert run["accuracy_delta_top1"] is not None and run["accuracy_delta_top1"] >= -5.0
        assert run["latency_ms"]["p50"] > 0


# ---- conversion failures, batch sizes, refusals ------------------------------------------------------


class DataDependent(torch.nn.Module):
    """A branch on a tensor's value: torch.export (and so litert-torch) cannot trace it."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(3, 10)

    def forward(self, x):
        pooled = x.mean(dim=(2, 3))
        if pooled.sum() > 0:
            return self.fc(pooled)
        return -self.fc(pooled)


class BakesBatch(torch.nn.Module):
    """Adds the row index to each row's logits: exported at batch 1, the index is a constant [[0]] that a
    resized interpreter broadcasts to every row, silently wrong for batch 2."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 4, 3)
        self.fc = torch.nn.Linear(4, 10)

    def forward(self, x):
        logits = self.fc(self.conv(x).mean(dim=(2, 3)))
        return logits + torch.arange(x.shape[0], dtype=logits.dtype).unsqueeze(1)


class DictOutput(torch.nn.Module):
    """A detection-style head: named outputs, not one logits tensor."""

    def forward(self, x):
        return {"boxes": x.mean(dim=(2, 3)), "scores": x.amax(dim=(1, 2, 3))}


def _request(model, tmp_path, **kw) -> PrepareRequest:
    base = dict(
        model=model.eval(), input_size=SIZE, device="cpu", precision="fp32", threads=1, workdir=tmp_path
    )
    return PrepareRequest(**{**base, **kw})


def test_a_conversion_failure_is_unsupported_with_the_converters_one_line_reason(tmp_path):
    with pytest.raises(BackendUnsupported) as err:
        LiteRTBackend().prepare(_request(DataDependent(), tmp_path))
    reason = str(err.value)
    assert reason.startswith("litert conversion failed: ") and "\n" not in reason and len(reason) < 350
    assert "data" in reason.lower() or "guard" in reason.lower()
    assert not list(tmp_path.glob("*.tflite"))


@pytest.mark.slow
def test_a_graph_that_bakes_the_batch_is_converted_per_batch_size(tmp_path):
    model = BakesBatch()
    runner = LiteRTBackend().prepare(_request(model, tmp_path))
    assert runner.info["batch_mode"] == "convert per batch size"
    assert "differs from PyTorch" in runner.info["batch_mode_reason"]
    assert runner.info["max_abs_diff"] < 1e-4  # batch 1 only: the wrong resized output is not averaged in
    x = np.random.default_rng(3).standard_normal((3, *SIZE)).astype(np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    assert np.abs(runner.predict(x) - ref).max() < 1e-4
    assert sorted(p.name for p in tmp_path.glob("*.tflite")) == [
        "model_fp32_b1.tflite",
        "model_fp32_b3.tflite",
    ]


@pytest.mark.slow
def test_int8_without_calibration_is_dynamic_range(tmp_path):
    model = BakesBatch()
    runner = LiteRTBackend().prepare(_request(model, tmp_path, precision="int8"))
    q = runner.info["quantization"]
    assert q["mode"] == "dynamic-range" and q["calibration_samples"] == 0 and "fallback_reason" not in q
    assert runner.info["input_dtype"] == "float32"  # activations are quantized inside the kernels
    x = np.random.default_rng(4).standard_normal((1, *SIZE)).astype(np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    assert np.abs(runner.predict(x) - ref).max() < 0.01 * max(1.0, np.abs(ref).max())


def test_refusals_say_why_before_any_work(tmp_path):
    backend = get_backend("litert")
    assert (
        backend.unsupported_reason("cpu", "fp32") is None
        and backend.unsupported_reason("cpu", "int8") is None
    )
    assert "cpu only" in backend.unsupported_reason("cuda", "fp32")
    assert "no precision 'fp16'" in backend.unsupported_reason("cpu", "fp16")
    with pytest.raises(BackendUnsupported, match="cpu only"):
        backend.prepare(_request(BakesBatch(), tmp_path, device="cuda"))
    with pytest.raises(BackendUnsupported, match="single-tensor outputs .* returns dict"):
        backend.prepare(_request(DictOutput(), tmp_path))
    with pytest.raises(BackendUnsupported, match="loaded none"):
        backend.prepare(PrepareRequest(None, SIZE, "cpu", "fp32", 1, tmp_path))
    assert list(tmp_path.iterdir()) == []


# ---- pure helpers -----------------------------------------------------------------------------------


def test_int8_tensors_are_quantized_and_dequantized_with_the_files_parameters():
    detail = {"dtype": np.int8, "quantization": (0.05, -3)}
    x = np.array([[-100.0, -1.0, 0.0, 0.049, 1.0, 100.0]], dtype=np.float32)
    q = quantize(x, detail)
    assert q.dtype == np.int8 and q.tolist() == [[-128, -23, -3, -2, 17, 127]]  # clipped at both ends
    back = dequantize(q, detail)
    assert back.dtype == np.float32 and np.allclose(back[0, 1:5], [-1.0, 0.0, 0.05, 1.0])
    floats = {"dtype": np.float32, "quantization": (0.0, 0)}
    assert quantize(x, floats) is x and dequantize(x, floats).dtype == np.float32
    with pytest.raises(BackendUnsupported, match="no quantization scale"):
        quantize(x, {"dtype": np.int8, "quantization": (0.0, 0)})


def test_int8_mode_settings_and_one_line_reasons():
    assert int8_spec(dynamic=True) == {"is_per_channel": True, "is_dynamic": True}
    assert int8_spec(dynamic=False)["is_dynamic"] is False
    long = RuntimeError("Could not guard on data-dependent expression\n\n" + "trace line\n" * 500)
    assert one_line(long) == "RuntimeError: Could not guard on data-dependent expression"
    assert one_line(ValueError(""), log="info: fine\nerror: 'tfl.foo' op is not supported\n") == (
        "ValueError: error: 'tfl.foo' op is not supported"
    )
    assert one_line(ValueError("")) == "ValueError"
    assert len(one_line(RuntimeError("x" * 5000))) == 300


def test_random_weight_models_keep_no_zeroed_norm_scale_for_a_converter_to_fold():
    """timm zeroes each residual block's last norm scale; a converter would fold those branches away and
    time less work than the other runtimes. load_model resets them for random weights only."""
    import timm

    from harness.models import load_model, zeroed_norm_layers

    assert len(zeroed_norm_layers(timm.create_model("resnet10t", pretrained=False))) == 4  # one per block
    assert zeroed_norm_layers(load_model("resnet10t").model) == []
    assert zeroed_norm_layers(BakesBatch()) == []


def test_captured_stderr_keeps_native_writes_out_of_the_output(capfd):
    with captured_stderr() as log:
        os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
        assert "XNNPACK" in log()
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"
