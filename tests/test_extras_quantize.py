"""INT8 quantization on models trained on real images (scikit-learn digits): smaller files, same answers."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import timm
import torch
from sklearn.datasets import load_digits

from harness.onnx_export import export_onnx, run_onnx_cpu
from harness.quantize import MissingCalibration, QuantizationError, choose_mode, op_counts, quantize_int8

SIZE = 16  # digits are 8x8; upsampled so the nets have some spatial extent to work with


def _digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    data = load_digits()
    x = torch.tensor(data.images, dtype=torch.float32).unsqueeze(1) / 16.0
    x = torch.nn.functional.interpolate(x, size=(SIZE, SIZE), mode="bilinear", align_corners=False)
    x = ((x - 0.5) / 0.5).repeat(1, 3, 1, 1).numpy()
    y = data.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(y))
    x, y = x[order], y[order]
    return x[:1400], y[:1400], x[1400:], y[1400:]


def _train(model: torch.nn.Module, x: np.ndarray, y: np.ndarray, epochs: int, lr: float) -> torch.nn.Module:
    torch.manual_seed(0)
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(xt)).split(64):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(xt[idx]), yt[idx]).backward()
            opt.step()
    return model.eval()


class DigitsCNN(torch.nn.Module):
    """A small conv net: conv-bn-relu blocks, a residual add, 2x2 average pooling, a linear head."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = torch.nn.Sequential(
            torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.BatchNorm2d(16), torch.nn.ReLU()
        )
        self.block = torch.nn.Sequential(
            torch.nn.Conv2d(16, 16, 3, padding=1), torch.nn.BatchNorm2d(16), torch.nn.ReLU()
        )
        self.down = torch.nn.Sequential(
            torch.nn.Conv2d(16, 32, 3, stride=2, padding=1), torch.nn.BatchNorm2d(32), torch.nn.ReLU()
        )
        self.pool = torch.nn.AdaptiveAvgPool2d(2)
        self.head = torch.nn.Linear(32 * 4, 10)

    def forward(self, x):
        x = self.stem(x)
        x = x + self.block(x)
        x = self.down(x)
        return self.head(self.pool(x).flatten(1))


@pytest.fixture(scope="module")
def digits():
    torch.set_num_threads(1)
    return _digits()


def _top1(logits: np.ndarray) -> np.ndarray:
    return logits.argmax(axis=1)


def test_static_int8_on_digits_convnet(digits, tmp_path):
    xtr, ytr, xte, yte = digits
    torch.manual_seed(0)  # weight init must not depend on which tests ran before
    model = _train(DigitsCNN(), xtr, ytr, epochs=8, lr=2e-3)
    fp32 = export_onnx(model, (3, SIZE, SIZE), tmp_path / "fp32.onnx")
    info = quantize_int8(fp32["path"], tmp_path / "int8.onnx", xtr[:128], "digits-cnn")
    assert info["mode"] == "static-qdq" and info["per_channel"] is True
    assert info["calibration_samples"] == 128 and info["quantized_nodes"] > 0
    assert op_counts(info["path"])["QuantizeLinear"] > 0
    assert info["size_mb"] < 0.6 * info["fp32_size_mb"]

    ref = run_onnx_cpu(fp32["path"], xte)
    q = run_onnx_cpu(info["path"], xte)
    acc_fp32 = float((_top1(ref) == yte).mean())
    acc_int8 = float((_top1(q) == yte).mean())
    agreement = float((_top1(ref) == _top1(q)).mean())
    assert acc_fp32 > 0.9, f"the digits CNN did not learn ({acc_fp32:.3f})"
    assert agreement >= 0.95, f"int8 disagrees with fp32 on {1 - agreement:.1%} of digits"
    assert acc_int8 >= acc_fp32 - 0.03


def test_dynamic_int8_on_digits_transformer(digits, tmp_path):
    xtr, ytr, xte, yte = digits
    torch.manual_seed(0)
    vit = timm.models.VisionTransformer(
        img_size=SIZE, patch_size=4, num_classes=10, embed_dim=64, depth=2, num_heads=2, mlp_ratio=2
    )
    model = _train(vit, xtr, ytr, epochs=10, lr=2e-3)
    fp32 = export_onnx(model, (3, SIZE, SIZE), tmp_path / "vit.onnx")
    info = quantize_int8(fp32["path"], tmp_path / "vit_int8.onnx", None, "digits-vit")
    assert info["mode"] == "dynamic-matmul" and info["calibration_samples"] == 0
    counts = op_counts(info["path"])
    assert counts["MatMulInteger"] + counts["DynamicQuantizeLinear"] > 0
    assert counts.get("QuantizeLinear", 0) == 0  # no static activation ranges in the dynamic path
    assert info["size_mb"] < info["fp32_size_mb"]

    ref = run_onnx_cpu(fp32["path"], xte)
    q = run_onnx_cpu(info["path"], xte)
    acc_fp32 = float((_top1(ref) == yte).mean())
    agreement = float((_top1(ref) == _top1(q)).mean())
    assert acc_fp32 > 0.8, f"the digits ViT did not learn ({acc_fp32:.3f})"
    assert agreement >= 0.93


def test_static_mode_needs_calibration(tmp_path):
    model = timm.create_model("resnet10t", pretrained=False, num_classes=10).eval()
    fp32 = export_onnx(model, (3, 32, 32), tmp_path / "r.onnx")
    with pytest.raises(MissingCalibration, match="calibration"):
        quantize_int8(fp32["path"], tmp_path / "r8.onnx", None, "resnet10t")
    with pytest.raises(QuantizationError, match="NCHW"):
        quantize_int8(fp32["path"], tmp_path / "r8.onnx", np.zeros((4, 32, 32), np.float32), "resnet10t")
    with pytest.raises(QuantizationError, match="no fp32"):
        quantize_int8(tmp_path / "missing.onnx", tmp_path / "r8.onnx", None, "x")
    assert not (tmp_path / "r8.onnx").exists()


@pytest.mark.parametrize(
    ("counts", "mode"),
    [
        ({"Conv": 14, "Gemm": 1}, "static-qdq"),  # resnet
        ({"Conv": 22, "MatMul": 36, "Gemm": 1}, "static-qdq"),  # convnext: Linear MLPs but no attention
        ({"Conv": 1, "MatMul": 36, "Gemm": 1, "Softmax": 6}, "dynamic-matmul"),  # vit: patch-embed conv only
        (
            {"Conv": 4, "MatMul": 86, "Gemm": 2, "Softmax": 14},
            "dynamic-matmul",
        ),  # levit: conv stem + attention
        ({"MatMul": 8}, "dynamic-matmul"),  # MLP-mixer-like
        ({"Conv": 60, "MatMul": 10, "Softmax": 2}, "static-qdq"),  # conv net with a little attention
    ],
)
def test_mode_follows_op_mix(counts, mode):
    assert choose_mode(Counter(counts)) == mode


def test_nothing_to_quantize():
    with pytest.raises(QuantizationError, match="nothing"):
        choose_mode(Counter({"Relu": 3, "Add": 2}))
