"""The backend registry: specs without heavy imports, duplicates refused, declared vs. actually runnable."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from harness import backends, config
from harness.backends import Backend, BackendUnsupported, DuplicateBackend, backend_specs, get_backend
from tests._harness_helpers import REPO


@pytest.fixture
def registry(monkeypatch):
    """A private copy of the registry, so a test's extra backends never leak into other tests."""
    backend_specs()  # built-ins loaded first
    monkeypatch.setattr(backends, "_REGISTRY", dict(backends._REGISTRY))
    return backends


def _backend(name: str, devices=("cpu",), precisions=("fp32",), summary="test backend") -> type[Backend]:
    class _B(Backend):
        def prepare(self, request):
            raise BackendUnsupported("never runs")

    _B.name, _B.devices, _B.precisions, _B.summary = name, devices, precisions, summary
    return _B


def test_specs_list_the_builtins_in_canonical_order_without_importing_runtimes():
    code = (
        "import json, sys; from harness.backends import backend_specs; from harness import config;"
        "specs = [s.__dict__ for s in backend_specs()];"
        "print(json.dumps({'specs': specs, 'backends': config.BACKENDS, 'devices': config.DEVICES,"
        "'precisions': config.PRECISIONS, 'heavy': [m for m in ('onnxruntime', 'torch', 'litert_torch', 'ai_edge_litert') if m in sys.modules]}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got["heavy"] == []
    names = ["pytorch", "onnxruntime", "openvino", "torch-compile", "onnxruntime-trt", "litert"]
    assert [s["name"] for s in got["specs"]][:6] == names
    assert [s["name"] for s in got["specs"]] == got["backends"]
    assert got["devices"] == ["cpu", "cuda"] and got["precisions"] == ["fp32", "fp16", "int8"]
    assert all(s["summary"] and "\n" not in s["summary"] for s in got["specs"])


def test_a_duplicate_name_is_refused_and_the_first_stays(registry):
    first = registry.register_backend(_backend("toy"))
    with pytest.raises(DuplicateBackend, match="'toy' is already registered"):
        registry.register_backend(_backend("toy", devices=("cuda",)))
    with pytest.raises(DuplicateBackend, match="'pytorch' is already registered"):
        registry.register_backend(_backend("pytorch"))
    assert type(get_backend("toy")) is first and type(get_backend("pytorch")).__module__.endswith(
        "pytorch_backend"
    )
    registry.register_backend(first)  # re-registering the same class (a module re-import) is harmless


@pytest.mark.parametrize(
    "kw, msg",
    [
        ({"name": "Bad Name"}, "backend name must match"),
        ({"name": "x" * 40}, "backend name must match"),
        ({"name": "nodevices", "devices": ()}, "must declare devices"),
        ({"name": "nosummary", "summary": ""}, "must declare devices, precisions and a summary"),
        ({"name": "twolines", "summary": "a\nb"}, "one line"),
        ({"name": "listdevices", "devices": ["cpu"]}, "tuples of names"),
        ({"name": "numbers", "precisions": (16,)}, "tuples of names"),
    ],
)
def test_malformed_backends_are_refused(registry, kw, msg):
    with pytest.raises(ValueError, match=msg):
        registry.register_backend(_backend(**kw))
    assert kw["name"] not in [s.name for s in backend_specs()]


def test_a_registered_backend_is_a_valid_config_choice(registry):
    with pytest.raises(config.ConfigError, match="backends must be"):
        config.BenchmarkConfig(backends=("toy",))
    registry.register_backend(_backend("toy"))
    assert backend_specs()[-1].name == "toy"  # third-party backends come after the built-ins
    cfg = config.BenchmarkConfig(backends=("toy", "pytorch"))
    assert cfg.backends == ("pytorch", "toy")  # canonical (registry) order


def test_unknown_backend_names_the_known_ones():
    with pytest.raises(BackendUnsupported, match="unknown backend 'tensorrt'; known: pytorch, onnxruntime"):
        get_backend("tensorrt")


@pytest.mark.parametrize("name", ["pytorch", "onnxruntime", "openvino", "torch-compile"])
def test_undeclared_device_or_precision_is_refused_before_loading(name):
    b = get_backend(name)
    assert b.unsupported_reason("cpu", "fp32") is None
    assert "has no device 'tpu'" in b.unsupported_reason("tpu", "fp32")
    assert "bf16" in b.unsupported_reason("cpu", "bf16")
    # every declared precision runs on some declared device
    assert all(any(b.unsupported_reason(d, p) is None for d in b.devices) for p in b.precisions)


def test_declared_combinations_that_cannot_run_say_why():
    torch_b, ort_b = get_backend("pytorch"), get_backend("onnxruntime")
    assert "int8 is measured on ONNX Runtime" in torch_b.unsupported_reason("cpu", "int8")
    assert "fp16 is measured on cuda only" in torch_b.unsupported_reason("cpu", "fp16")
    assert "int8 is measured on cpu only" in ort_b.unsupported_reason("cuda", "int8")
    assert "fp16 is measured on cuda only" in ort_b.unsupported_reason("cpu", "fp16")


def test_pytorch_prepares_what_it_declares_runnable_on_cpu(tmp_path):
    import numpy as np
    import timm

    from harness.backends import PrepareRequest

    backend = get_backend("pytorch")
    model = timm.create_model("test_resnet", pretrained=False, num_classes=3).eval()
    for precision in ("fp32", "fp16", "int8", "bf16"):
        request = PrepareRequest(model, (3, 32, 32), "cpu", precision, 1, tmp_path)
        reason = backend.unsupported_reason("cpu", precision)
        if reason is None:
            runner = backend.prepare(request)
            assert runner.predict(np.zeros((2, 3, 32, 32), np.float32)).shape == (2, 3)
        else:
            with pytest.raises(BackendUnsupported, match="^" + reason.split("(")[0]):
                backend.prepare(request)
    assert [p for p in backend.precisions if backend.unsupported_reason("cpu", p) is None] == ["fp32"]
