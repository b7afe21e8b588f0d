"""evaluate_model's three steps -- plan, run, assemble -- tested one by one (no child process needed)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness.config import BenchmarkConfig, result_key
from harness.environment import hardware_profile
from harness.isolation import ChildOutcome
from harness.measure import MeasureJob
from harness.models import load_model
from harness.noise import assess
from harness.record import RunRecord, check_record_dict
from harness.runner import (
    EvaluationPlan,
    Measured,
    Options,
    _runs_from_outcome,
    assemble_record,
    plan_evaluation,
    run_job,
    run_plan,
)

QUIET = Options(threads=1, log=lambda _m: None)


@pytest.fixture(scope="module")
def loaded():
    return load_model("test_resnet")  # timm architecture, random weights: cheap


def _plan(loaded, tmp_path: Path, **cfg) -> EvaluationPlan:
    return plan_evaluation("test_resnet", loaded, BenchmarkConfig(**cfg), tmp_path, QUIET)


def test_plan_lists_one_job_per_backend_and_precision(loaded, tmp_path):
    plan = _plan(loaded, tmp_path, backends=("pytorch", "onnxruntime"), precisions=("fp32", "int8"))
    assert [(j.backend, j.precision) for j in plan.jobs] == [
        ("pytorch", "fp32"),
        ("pytorch", "int8"),
        ("onnxruntime", "fp32"),
        ("onnxruntime", "int8"),
    ]
    assert plan.reference is None and plan.dataset is None  # no dataset: no accuracy
    assert len({j.workdir for j in plan.jobs}) == 4 and all(j.threads == 1 for j in plan.jobs)
    calib = [j.calibration_path for j in plan.jobs]
    assert calib[0] is None and calib[2] is None and calib[1] == calib[3]
    assert np.load(calib[1]).shape[1:] == tuple(loaded.input_size)  # random calibration written
    assert plan.model_info.id == "test_resnet" and plan.model_info.params > 0


def test_unsupported_combinations_become_unsupported_runs_without_a_child(loaded, tmp_path, monkeypatch):
    import harness.runner

    def no_child(*a, **k):
        raise AssertionError("a child process was started for a combination known to be unsupported")

    monkeypatch.setattr(harness.runner, "run_isolated", no_child)
    plan = _plan(loaded, tmp_path, backends=("pytorch",), precisions=("int8",), batch_sizes=(1, 4))
    runs, acc = run_job(plan.jobs[0], 1, QUIET)
    assert acc is None and [(r.batch_size, r.status) for r in runs] == [
        (1, "unsupported"),
        (4, "unsupported"),
    ]
    assert "int8 is measured on ONNX Runtime" in runs[0].error

    cuda_int8 = MeasureJob(
        "test_resnet", None, "onnxruntime", "cuda", "int8", [2], 1, 0.1, str(tmp_path / "x")
    )
    runs, _ = run_job(cuda_int8, 1, QUIET)
    assert runs[0].status == "unsupported" and "int8 is measured on cpu only" in runs[0].error


def test_run_plan_sets_accuracy_deltas_from_the_reference(loaded, tmp_path, monkeypatch):
    import harness.runner

    plan = _plan(loaded, tmp_path, backends=("pytorch", "onnxruntime"))
    plan.reference = plan.jobs[0]

    def fake_job(job, threads, opts):
        top1 = 90.0 if job.backend == "pytorch" else 88.5
        run = RunRecord(job.backend, job.device, "p", job.precision, 1, threads, accuracy_top1=top1)
        return [run], {"top1": top1, "top5": 99.0, "num_samples": 10}

    monkeypatch.setattr(harness.runner, "run_job", fake_job)
    measured = run_plan(plan, QUIET)
    assert measured.accuracy == {"top1": 90.0, "top5": 99.0} and measured.robustness is None
    assert [r.accuracy_delta_top1 for r in measured.runs] == [0.0, pytest.approx(-1.5)]


def test_measurements_carry_their_noise_into_the_run(tmp_path):
    job = MeasureJob("m", None, "pytorch", "cpu", "fp32", [1], 1, 0.1, str(tmp_path))
    samples = [1.0] * 50 + [3.0] * 5
    noise = assess(samples, 9.0, 9.0, 2)
    m = {
        "batch_size": 1,
        "warmup": 5,
        "iterations": len(samples),
        "duration_s": 0.1,
        "samples_ms": samples,
        "latency_ms": {"p50": 1.0},
        "throughput_ips": 500.0,
        "peak_rss_mb": 10.0,
        "peak_gpu_mb": None,
        "noise": noise,
    }
    value = {"threads": 1, "load_ms": 3.0, "provider": "torch-cpu", "measurements": [m, {**m, "noise": None}]}
    runs, _ = _runs_from_outcome(job, ChildOutcome(ok=True, value=value))
    assert runs[0].noise == noise and runs[0].noise["noisy"] and runs[1].noise is None


def test_assemble_gives_a_valid_record_keyed_by_model_config_and_hardware(loaded, tmp_path):
    plan = _plan(loaded, tmp_path, backends=("pytorch",), batch_sizes=(2,))
    run = RunRecord("pytorch", "cpu", "torch-cpu", "fp32", 2, 1, latency_ms={"p50": 1.0}, throughput_ips=2.0)
    record = assemble_record(plan, Measured([run], None, None))
    assert record.key == result_key("test_resnet", None, plan.config, hardware_profile("cpu"))
    d = json.loads(record.to_json())
    assert check_record_dict(d) is d and d["config"] == plan.config.to_dict() and d["onnx"] is None


def test_one_shared_onnx_export_for_every_onnx_job(loaded, tmp_path, monkeypatch):
    import harness.onnx_export

    calls = []

    def fake_export(model, size, path, *, threads=1, **kw):
        calls.append((model, tuple(size), Path(path), threads))
        return {"path": str(path), "size_mb": 1.0, "max_abs_diff": 0.0, "opset": 20, "exporter": "dynamo"}

    monkeypatch.setattr(harness.onnx_export, "export_onnx", fake_export)
    plan = _plan(loaded, tmp_path, backends=("pytorch", "onnxruntime"), precisions=("fp32", "int8"))
    assert (
        len(calls) == 1
        and calls[0][0] is loaded.model
        and calls[0][2] == tmp_path / "onnx" / "model_fp32.onnx"
    )
    jobs = {(j.backend, j.precision): j for j in plan.jobs}
    for precision in ("fp32", "int8"):  # int8 quantizes from the same file
        job = jobs[("onnxruntime", precision)]
        assert job.onnx_export["path"] == calls[0][2].as_posix() and job.input_size == list(loaded.input_size)
        assert job.load_ms == loaded.load_ms and job.architecture == loaded.architecture
    assert jobs[("pytorch", "fp32")].onnx_export is None and jobs[("pytorch", "int8")].onnx_export is None

    calls.clear()  # no job consumes ONNX: no export at all
    _plan(loaded, tmp_path / "b", backends=("pytorch",))
    assert calls == []


def test_a_failed_shared_export_leaves_each_job_to_export_and_report(loaded, tmp_path, monkeypatch):
    import harness.onnx_export

    def broken(*a, **k):
        raise harness.onnx_export.OnnxExportError("dynamo and torchscript both failed\nsecond line")

    monkeypatch.setattr(harness.onnx_export, "export_onnx", broken)
    lines = []
    opts = Options(threads=1, log=lines.append)
    plan = plan_evaluation("test_resnet", loaded, BenchmarkConfig(backends=("onnxruntime",)), tmp_path, opts)
    assert all(j.onnx_export is None for j in plan.jobs)  # the children export (and fail) themselves
    assert any("shared ONNX export failed" in m and "\n" not in m for m in lines)
