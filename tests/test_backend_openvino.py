"""The OpenVINO backend: explicit settings read back, output vs PyTorch fp32, NNCF INT8, refusals, and a
real harness run of the trained digits model (latency, sizes, INT8 accuracy delta)."""

from __future__ import annotations

import builtins
import json
import subprocess
import sys

import numpy as np
import pytest
import timm
import torch

from harness.backends import BackendUnsupported, PrepareRequest, backend_specs
from harness.backends.openvino_backend import OpenVinoBackend
from harness.onnx_export import export_onnx
from harness.timing import MIN_ITERATIONS
from tests._harness_helpers import REPO, prepare_request, run_cli

SIZE = (3, 48, 48)


@pytest.fixture(scope="module")
def resnet():
    torch.set_num_threads(1)
    return timm.create_model("resnet10t", pretrained=False, num_classes=10).eval()


@pytest.fixture(scope="module")
def export(resnet, tmp_path_factory):
    """The evaluation's shared fp32 export, as the harness parent makes it."""
    return export_onnx(resnet, SIZE, tmp_path_factory.mktemp("onnx") / "model_fp32.onnx")


def _request(model, tmp_path, **kw) -> PrepareRequest:
    return prepare_request(model, tmp_path, SIZE, "resnet10t", **kw)


def test_registered_with_its_devices_and_precisions():
    spec = next(s for s in backend_specs() if s.name == "openvino")
    assert spec.devices == ("cpu",) and spec.precisions == ("fp32", "int8")
    assert OpenVinoBackend.consumes_onnx


def test_fp32_from_shared_export_matches_pytorch_and_records_settings(resnet, export, tmp_path):
    runner = OpenVinoBackend().prepare(_request(None, tmp_path, onnx_export=export))
    rng = np.random.default_rng(0)
    for batch in (1, 3):
        x = rng.standard_normal((batch, *SIZE)).astype(np.float32)
        got = runner.predict(x)
        with torch.no_grad():
            ref = resnet(torch.from_numpy(x)).numpy()
        assert got.shape == (batch, 10) and np.abs(got - ref).max() < 1e-3
    info = runner.info
    assert info["performance_hint"] == "LATENCY" and info["num_streams"] == 1
    assert info["inference_num_threads"] == runner.threads == 1
    assert info["execution_precision"] == "f32"  # never bf16 behind an "fp32" label
    assert info["openvino"].startswith("20") and info["quantization"] is None
    assert 0 <= info["max_abs_diff"] < 1e-4 and "PyTorch fp32" in info["reference"]
    assert {"1", "2", "3"} <= set(info["compile_ms"])  # 2: the reference batch; each shape compiled once
    assert info["ir_size_mb"] == pytest.approx(info["onnx_size_mb"], rel=0.05)


def test_fp32_child_never_imports_torch(export, tmp_path):
    """The shared export is all an fp32 OpenVINO child needs: it starts without torch."""
    code = (
        "import sys, json, numpy as np\n"
        "from pathlib import Path\n"
        "from harness.backends import PrepareRequest, get_backend\n"
        f"export = json.loads({json.dumps(json.dumps(export))})\n"
        f"req = PrepareRequest(None, {SIZE}, 'cpu', 'fp32', 1, Path({str(tmp_path)!r}), onnx_export=export)\n"
        "r = get_backend('openvino').prepare(req)\n"
        "print(r.predict(np.zeros((2, *req.input_size), np.float32)).shape, 'torch' in sys.modules)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300, check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "(2, 10) False"


def test_int8_nncf_uses_calibration_and_shrinks_the_model(export, tmp_path):
    calib = np.random.default_rng(0).standard_normal((16, *SIZE)).astype(np.float32)
    runner = OpenVinoBackend().prepare(
        _request(None, tmp_path, precision="int8", calibration=calib, onnx_export=export)
    )
    q = runner.info["quantization"]
    assert q["method"] == "nncf-ptq" and q["calibration_samples"] == 16 and q["fake_quantize_nodes"] > 0
    assert runner.info["ir_size_mb"] < 0.4 * runner.info["onnx_size_mb"]
    assert 0 < runner.info["max_abs_diff"] < 0.5  # quantized: close to PyTorch fp32, not equal
    assert runner.predict(calib[:4]).shape == (4, 10)


@pytest.mark.parametrize(
    ("calibration", "reason"),
    [
        (None, "needs calibration images"),
        (np.full((4, *SIZE), np.nan, np.float32), "NaN or infinite"),
        (np.zeros((4, 48, 48), np.float32), "float NCHW"),
        (np.zeros((4, *SIZE), np.int64), "float NCHW"),
    ],
)
def test_int8_refuses_missing_or_hostile_calibration(export, tmp_path, calibration, reason):
    req = _request(None, tmp_path, precision="int8", calibration=calibration, onnx_export=export)
    with pytest.raises(BackendUnsupported, match=reason):
        OpenVinoBackend().prepare(req)


def test_devices_and_precisions_it_does_not_run_are_refused_before_any_work(resnet, tmp_path):
    for kw, reason in (
        (dict(device="cuda"), "has no device 'cuda'"),
        (dict(precision="fp16"), "has no precision 'fp16'"),
    ):
        with pytest.raises(BackendUnsupported, match=reason):
            OpenVinoBackend().prepare(_request(resnet, tmp_path, **kw))
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(("missing", "precision"), [("openvino", "fp32"), ("nncf", "int8")])
def test_missing_package_is_unsupported_with_the_install_hint(
    resnet, tmp_path, monkeypatch, missing, precision
):
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == missing or name.startswith(missing + "."):
            raise ModuleNotFoundError(f"No module named {missing!r}", name=missing)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(BackendUnsupported, match=r"pip install -r requirements-runtimes\.txt") as err:
        OpenVinoBackend().prepare(_request(resnet, tmp_path, precision=precision))
    assert missing in str(err.value) and "\n" not in str(err.value)


@pytest.mark.slow
def test_digits_model_through_the_harness(digits_model, tmp_path):
    """fp32 and INT8 through the real CLI: percentiles, sizes, output check and the INT8 accuracy delta."""
    out = tmp_path / "record.json"
    proc = run_cli(
        f"local-dir:{digits_model}", "--dataset", "digits", "--max-samples", "120",
        "--backends", "openvino", "--precisions", "fp32,int8", "--batch-sizes", "1,4",
        "--min-duration", "0.05", "--threads", "1", "--output", str(out), timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr == "", proc.stderr[-3000:]  # the CLI is quiet: no NNCF progress bars or torch warnings
    record = json.loads(out.read_text())
    runs = {(r["precision"], r["batch_size"]): r for r in record["runs"]}
    assert set(runs) == {("fp32", 1), ("fp32", 4), ("int8", 1), ("int8", 4)}
    for r in runs.values():
        assert r["status"] == "ok" and r["backend"] == "openvino" and r["provider"] == "openvino-CPU"
        lat = r["latency_ms"]
        assert 0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["max"] and r["iterations"] >= MIN_ITERATIONS
        assert r["info"]["ir_size_mb"] > 0 and r["info"]["num_streams"] >= 1
        assert set(r["info"]["compile_ms"]) >= {"1", "4"}  # every timed shape compiled before timing
    fp32, int8 = runs[("fp32", 1)], runs[("int8", 1)]
    assert fp32["info"]["max_abs_diff"] < 1e-4
    assert abs(fp32["accuracy_delta_top1"]) <= 100 / 120 + 1e-9  # the same graph: one flip at most
    assert int8["info"]["quantization"]["calibration_samples"] > 0
    assert "digits:train" in int8["info"]["calibration"]  # the images the ONNX Runtime INT8 path uses
    assert int8["accuracy_delta_top1"] is not None and abs(int8["accuracy_delta_top1"]) < 10
    assert int8["info"]["ir_size_mb"] < 0.5 * fp32["info"]["ir_size_mb"]


def test_the_install_hint_names_a_file_that_installs_openvino_and_nncf():
    """The reason's command really installs the runtime, and the dev install (CI) includes it."""

    def lines(name: str) -> list[str]:
        return [
            ln.split("#")[0].strip()
            for ln in (REPO / name).read_text().splitlines()
            if ln.split("#")[0].strip()
        ]

    assert "-r requirements-runtimes.txt" in lines("requirements-dev.txt")
    assert "-r requirements.txt" in lines("requirements-runtimes.txt")
    pins = {ln.split("==")[0].lower() for ln in lines("requirements.txt") if "==" in ln}
    assert {"openvino", "nncf"} <= pins
