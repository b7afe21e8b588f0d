"""ONNX export: one self-contained file, dynamic batch, checked against PyTorch in ONNX Runtime."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import timm
import torch

from harness.onnx_export import (
    DEFAULT_PLAN,
    ExportPlan,
    OnnxExportError,
    check_onnx_file,
    export_onnx,
    export_plan,
    run_onnx_cpu,
)


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def _torch_logits(model, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


@pytest.mark.parametrize(
    ("arch", "kwargs", "size"),
    [
        ("resnet10t", {}, (3, 64, 64)),
        ("test_vit", {"img_size": 64}, (3, 64, 64)),
    ],
)
def test_export_is_single_file_with_dynamic_batch(arch, kwargs, size, tmp_path):
    model = timm.create_model(arch, pretrained=False, **kwargs).eval()
    info = export_onnx(model, size, tmp_path / "m.onnx")

    # one graph file with its weights inside (no external-data sidecar), plus the verification batch and
    # PyTorch's outputs on it, which torch-free children compare against
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "m.reference.npz"]
    assert info["reference_path"] == str(tmp_path / "m.reference.npz")
    assert info["exporter"] == "dynamo" and info["fallback_reason"] is None
    assert info["opset"] >= 18 and info["size_mb"] == pytest.approx(
        (tmp_path / "m.onnx").stat().st_size / 2**20
    )
    assert 0 <= info["max_abs_diff"] <= info["tolerance"]
    graph = onnx.load(str(tmp_path / "m.onnx")).graph
    assert graph.input[0].type.tensor_type.shape.dim[0].dim_param  # symbolic batch axis

    rng = np.random.default_rng(1)
    for batch in (1, 3):
        x = rng.standard_normal((batch, *size)).astype(np.float32)
        got = run_onnx_cpu(tmp_path / "m.onnx", x)
        ref = _torch_logits(model, x)
        assert got.shape == ref.shape == (batch, model.num_classes)
        assert np.abs(got - ref).max() <= 1e-4 + 1e-3 * np.abs(ref).max()


class _DataDependent(torch.nn.Module):
    """A branch on a tensor's value: torch.export refuses it, the TorchScript tracer records one branch."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(3 * 8 * 8, 5)

    def forward(self, x):
        y = self.fc(x.flatten(1))
        if (x.abs().sum() >= 0).item():  # always true, but only knowable from the data
            y = y * 2
        return y


def test_falls_back_to_torchscript_exporter_and_says_why(tmp_path):
    model = _DataDependent().eval()
    info = export_onnx(model, (3, 8, 8), tmp_path / "d.onnx")
    assert info["exporter"] == "torchscript" and info["opset"] == 17
    reason = info["fallback_reason"]
    assert (
        reason.startswith("dynamo exporter failed (") and "data-dependent" in reason and "\x1b" not in reason
    )
    x = np.random.default_rng(0).standard_normal((3, 3, 8, 8)).astype(np.float32)
    assert np.allclose(run_onnx_cpu(tmp_path / "d.onnx", x), _torch_logits(model, x), atol=1e-5)


class _DiffersWhenExported(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(3 * 8 * 8, 5)

    def forward(self, x):
        y = self.fc(x.flatten(1))
        return y + 1 if torch.onnx.is_in_onnx_export() else y


def test_mismatch_with_pytorch_is_an_error(tmp_path):
    with pytest.raises(OnnxExportError, match="differs from PyTorch by 1"):
        export_onnx(_DiffersWhenExported().eval(), (3, 8, 8), tmp_path / "x.onnx")


class _FixedBatch(torch.nn.Module):
    def forward(self, x):
        return x.reshape(2, -1)[:, :5]


def test_check_rejects_fixed_batch_and_external_data(tmp_path):
    path = tmp_path / "fixed.onnx"
    torch.onnx.export(
        _FixedBatch(), (torch.randn(2, 3, 4, 4),), str(path), dynamo=False, input_names=["input"]
    )
    with pytest.raises(OnnxExportError, match="fixed batch axis"):
        check_onnx_file(path)

    model = timm.create_model("resnet10t", pretrained=False).eval()
    export_onnx(model, (3, 32, 32), tmp_path / "r.onnx")
    proto = onnx.load(str(tmp_path / "r.onnx"))
    onnx.save(proto, str(tmp_path / "ext.onnx"), save_as_external_data=True, size_threshold=0)
    with pytest.raises(OnnxExportError, match="outside the file"):
        check_onnx_file(tmp_path / "ext.onnx")
    with pytest.raises(OnnxExportError, match="no file"):
        check_onnx_file(tmp_path / "absent.onnx")


class _LoopsOverImages(torch.nn.Module):
    """Like a torchvision detector: a Python loop over the images (the tracer unrolls it) that declares
    a fixed-batch TorchScript plan."""

    onnx_export_plan = ExportPlan(exporters=("torchscript",), fixed_batch=True, reason="loops over images")

    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(3 * 8 * 8, 5)

    def forward(self, x):
        return torch.stack([self.fc(img.flatten()) for img in x.unbind(0)])


def test_a_fixed_batch_plan_traces_one_batch_size_and_says_why(tmp_path):
    model = _LoopsOverImages().eval()
    assert export_plan(model).fixed_batch and export_plan(torch.nn.Linear(1, 1)) is DEFAULT_PLAN
    info = export_onnx(model, (3, 8, 8), tmp_path / "f.onnx", batch=3)
    assert info["batch"] == 3 and info["exporter"] == "torchscript"
    assert info["fallback_reason"] == "loops over images"  # the plan's reason, as no exporter failed
    dims = onnx.load(str(tmp_path / "f.onnx")).graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_value == 3
    assert check_onnx_file(tmp_path / "f.onnx", 3) == 17
    with pytest.raises(OnnxExportError, match="fixed batch axis 2"):
        check_onnx_file(tmp_path / "f.onnx", 2)
    with pytest.raises(OnnxExportError, match="fixed batch axis"):  # a dynamic graph is expected by default
        check_onnx_file(tmp_path / "f.onnx")
    x = np.random.default_rng(0).standard_normal((3, 3, 8, 8)).astype(np.float32)
    assert np.allclose(run_onnx_cpu(tmp_path / "f.onnx", x), _torch_logits(model, x), atol=1e-5)
    # a dynamic-batch model ignores the batch it is given: its graph keeps the symbolic axis
    dynamic = export_onnx(timm.create_model("resnet10t").eval(), (3, 32, 32), tmp_path / "r.onnx", batch=4)
    assert dynamic["batch"] is None


def test_a_plan_whose_exporters_all_fail_names_each_reason(tmp_path):
    class Refused(_DataDependent):
        onnx_export_plan = ExportPlan(exporters=("dynamo",), reason="test")

    with pytest.raises(OnnxExportError, match=r"failed with the dynamo exporter: dynamo exporter failed \("):
        export_onnx(Refused().eval(), (3, 8, 8), tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()
