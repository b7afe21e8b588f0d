"""The torch.compile backend: compiled before timing (compile time apart from latency), output vs PyTorch
eager, recompiles refused while timing, compile failures as unsupported, and a real harness run."""

from __future__ import annotations

import json

import numpy as np
import pytest
import timm
import torch

from harness.backends import BackendUnsupported, PrepareRequest, backend_specs
from harness.backends.torch_compile_backend import TorchCompileBackend
from harness.timing import MIN_ITERATIONS, TimingPolicy, measure, random_batch
from tests._harness_helpers import prepare_request, run_cli

SIZE = (3, 32, 32)


@pytest.fixture(scope="module")
def tiny():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    return timm.create_model("test_resnet", pretrained=False, num_classes=10).eval()


@pytest.fixture(autouse=True)
def _restore_dynamo_config():
    """The runner turns on error_on_recompile for its (isolated) process; keep it out of other tests."""
    import torch._dynamo

    before = torch._dynamo.config.error_on_recompile
    yield
    torch._dynamo.config.error_on_recompile = before


def _request(model, tmp_path, **kw) -> PrepareRequest:
    return prepare_request(model, tmp_path, SIZE, "test_resnet", **kw)


def test_registered_with_its_devices_and_precisions():
    spec = next(s for s in backend_specs() if s.name == "torch-compile")
    assert spec.devices == ("cpu", "cuda") and spec.precisions == ("fp32", "fp16")


def test_compiles_each_shape_before_timing_and_matches_eager(tiny, tmp_path):
    runner = TorchCompileBackend().prepare(_request(tiny, tmp_path))
    info = runner.info
    assert info["compiler"] == "inductor" and info["mode"] == "default" and info["dynamic"] is False
    assert set(info["compile_ms"]) == {"1"} and info["compile_ms"]["1"] > 0
    assert 0 <= info["max_abs_diff"] < 1e-4 and runner.provider == "inductor-cpu"

    m = measure(runner, random_batch(2, SIZE), TimingPolicy(min_duration_s=0.05, min_iterations=5))
    assert set(info["compile_ms"]) == {"1", "2"}  # batch 2 compiled in to_input, before the warm-up
    assert m.iterations >= 5 and m.latency_ms["p50"] > 0
    assert max(m.samples_ms) < info["compile_ms"]["2"]  # no compile hid inside a timed sample

    x = np.random.default_rng(1).standard_normal((2, *SIZE)).astype(np.float32)
    with torch.no_grad():
        ref = tiny(torch.from_numpy(x)).numpy()
    assert np.abs(runner.predict(x) - ref).max() < 1e-4


def test_a_recompile_while_timing_is_an_error_not_a_hidden_cost(tiny, tmp_path):
    runner = TorchCompileBackend().prepare(_request(tiny, tmp_path))
    x = runner.to_tensor(np.zeros((3, *SIZE), np.float32))  # a shape fed without to_input: not compiled
    with pytest.raises(Exception, match="[Rr]ecompil"):
        runner.run(x)


def test_compile_failure_is_unsupported_with_a_one_line_reason(tmp_path, monkeypatch):
    """A worker without a working C++ compiler: inductor cannot build its CPU kernels."""
    import torch._inductor.config as inductor_config

    monkeypatch.setattr(inductor_config.cpp, "cxx", ("/nonexistent/g++",))
    monkeypatch.setattr(inductor_config, "fx_graph_cache", False)  # a cached kernel would need no compiler
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Flatten()).eval()
    with pytest.raises(BackendUnsupported, match=r"^torch\.compile failed: .*C\+\+ compiler") as err:
        TorchCompileBackend().prepare(_request(model, tmp_path, input_size=(3, 8, 8)))
    assert "\n" not in str(err.value)


def test_devices_and_precisions_it_does_not_run_are_refused(tiny, tmp_path):
    for kw, reason in (
        (dict(precision="int8"), "int8"),
        (dict(precision="fp16"), "fp16 is measured on cuda only"),
        (dict(device="tpu"), "has no device 'tpu'"),
    ):
        with pytest.raises(BackendUnsupported, match=reason):
            TorchCompileBackend().prepare(_request(tiny, tmp_path, **kw))
    if not torch.cuda.is_available():
        with pytest.raises(BackendUnsupported, match="cuda requested but torch"):
            TorchCompileBackend().prepare(_request(tiny, tmp_path, device="cuda"))


@pytest.mark.slow
def test_digits_model_through_the_harness(digits_model, tmp_path):
    """Real CLI, real child: latency percentiles and the compile time recorded apart from them."""
    out = tmp_path / "record.json"
    proc = run_cli(
        f"local-dir:{digits_model}", "--backends", "pytorch,torch-compile", "--batch-sizes", "1",
        "--min-duration", "0.05", "--threads", "1", "--output", str(out), timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = {r["backend"]: r for r in json.loads(out.read_text())["runs"]}
    compiled = runs["torch-compile"]
    assert compiled["status"] == "ok" and compiled["provider"] == "inductor-cpu", compiled.get("error")
    lat = compiled["latency_ms"]
    assert (
        0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["max"] and compiled["iterations"] >= MIN_ITERATIONS
    )
    info = compiled["info"]
    assert info["compile_ms"]["1"] > lat["max"] and info["max_abs_diff"] < 1e-4
    assert runs["pytorch"]["status"] == "ok"
