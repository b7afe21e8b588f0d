"""Integration: the real ``python -m harness`` CLI in a subprocess on a tiny model trained on real digits."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness import timing
from harness.config import BenchmarkConfig, result_key
from harness.environment import hardware_profile
from harness.noise import assess
from tests._harness_helpers import independent_accuracy, run_cli, train_digits_model
from tests.hub_server import hub_server  # noqa: F401 - pytest fixture

pytestmark = pytest.mark.slow

SAMPLES = 120


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    import torch

    torch.set_num_threads(1)
    return train_digits_model(tmp_path_factory.mktemp("model") / "digits-test-resnet")


@pytest.fixture(scope="module")
def full_run(trained, tmp_path_factory):
    """One CLI run with everything on: both backends, fp32+int8, robustness."""
    out = tmp_path_factory.mktemp("out") / "sub" / "record.json"
    args = [
        f"local-dir:{trained}",
        "--dataset",
        "digits",
        "--max-samples",
        str(SAMPLES),
        "--backends",
        "pytorch,onnxruntime",
    ]
    args += ["--batch-sizes", "1,4", "--precisions", "fp32,int8", "--min-duration", "0.1", "--threads", "1"]
    args += ["--robustness"]
    proc = run_cli(*args, "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "" and proc.stderr == ""
    return json.loads(out.read_text()), args


def test_accuracy_equals_an_independent_torch_loop(trained, full_run):
    record, _ = full_run
    top1, top5 = independent_accuracy(trained, SAMPLES)
    assert record["accuracy"]["top1"] == pytest.approx(top1)
    assert record["accuracy"]["top5"] == pytest.approx(top5)
    assert top1 > 60  # the model really learned the digits; accuracy is not a constant
    assert record["dataset"] == {"name": "digits", "split": "test", "num_samples": SAMPLES, "num_classes": 10}


def test_record_schema_and_key(trained, full_run):
    record, args = full_run
    for key in (
        "schema_version",
        "key",
        "created_at",
        "harness_version",
        "model",
        "dataset",
        "accuracy",
        "runs",
    ):
        assert key in record
    assert record["schema_version"] == 1 and record["robustness"] is not None
    model = record["model"]
    assert model["id"] == f"local-dir:{trained}" and model["source"] == "local-dir" and model["pretrained"]
    assert model["architecture"] == "test_resnet" and model["input_size"] == [3, 32, 32]
    assert model["size_mb"] == pytest.approx((trained / "model.safetensors").stat().st_size / 2**20)
    assert model["params"] > 10_000 and model["data_config"]["interpolation"] == "bilinear"
    cfg = BenchmarkConfig.from_dict(record["config"])
    assert record["key"] == result_key(model["id"], model["revision"], cfg, hardware_profile("cpu"))
    assert record["environment"]["hardware_profile"] == hardware_profile("cpu")
    assert "hostname" not in json.dumps(record["environment"]).lower()
    for run in record["runs"]:
        for field in (
            "backend",
            "device",
            "provider",
            "precision",
            "batch_size",
            "threads",
            "warmup",
            "iterations",
        ):
            assert field in run
        for field in ("duration_s", "latency_ms", "throughput_ips", "peak_rss_mb", "peak_gpu_mb", "load_ms"):
            assert field in run
        assert "accuracy_top1" in run


def test_latency_stats_agree_with_raw_samples(full_run):
    record, _ = full_run
    ok = [r for r in record["runs"] if r["status"] == "ok"]
    assert {(r["backend"], r["batch_size"]) for r in ok} >= {("pytorch", 1), ("pytorch", 4)}
    for run in ok:
        a = np.asarray(run["latency_samples_ms"])
        stats = run["latency_ms"]
        assert len(a) == run["iterations"] >= timing.MIN_ITERATIONS and run["threads"] == 1
        close = {"abs": 1e-4}  # samples are stored rounded to 10 ns
        assert stats["mean"] == pytest.approx(a.mean(), **close) and stats["max"] == pytest.approx(
            a.max(), **close
        )
        for q in (50, 90, 95):
            assert stats[f"p{q}"] == pytest.approx(np.percentile(a, q), **close)
        if len(a) >= 100:
            assert stats["p99"] == pytest.approx(np.percentile(a, 99), **close) and not run["latency_notes"]
        else:
            assert stats["p99"] is None and run["latency_notes"] == [
                f"p99 not reported: {len(a)} samples, 100 needed"
            ]
        # the stopping rule: the recorded interval is that of these samples, and the reason matches it
        iv = run["p50_interval"]
        assert iv["n"] == len(a) and iv["lo"] <= stats["p50"] <= iv["hi"]
        reached = iv["rel_half_width"] <= 0.01
        assert (run["stop_reason"] == "converged") == reached
        assert run["stop_reason"] in ("converged", "unreachable", "max_duration")
        assert run["duration_s"] < 0.1 * 20 + 1  # the cap: 20x the minimum duration
        assert run["duration_s"] >= 0.1 and a.sum() / 1000 <= run["duration_s"]
        assert run["throughput_ips"] == pytest.approx(
            run["batch_size"] * run["iterations"] / run["duration_s"]
        )
        assert run["peak_rss_mb"] > 50 and run["peak_gpu_mb"] is None and run["load_ms"] > 0
        noise = run["noise"]  # the assessment of exactly these samples and the load around them
        judged = assess(
            a,
            noise["load_before"],
            noise["load_after"],
            noise["cpu_count"],
            interval=iv,
            interval_target=0.01,
        )
        assert noise == judged | {
            "page_faults_per_pass": noise["page_faults_per_pass"],  # measured around the loop
            "cv": pytest.approx(a.std(ddof=1) / a.mean(), rel=1e-3, abs=1e-3),
            "p95_over_p50": pytest.approx(np.percentile(a, 95) / np.percentile(a, 50), rel=1e-3, abs=1e-3),
        }


def test_int8_is_unsupported_in_pytorch_with_a_reason(full_run):
    record, _ = full_run
    pt8 = [r for r in record["runs"] if r["backend"] == "pytorch" and r["precision"] == "int8"]
    assert len(pt8) == 2 and all(r["status"] == "unsupported" and "ONNX Runtime" in r["error"] for r in pt8)


def test_onnxruntime_fp32_matches_and_int8_reports_its_delta(full_run):
    record, _ = full_run
    ref = record["accuracy"]["top1"]
    ort = {(r["precision"], r["batch_size"]): r for r in record["runs"] if r["backend"] == "onnxruntime"}
    assert set(ort) == {("fp32", 1), ("fp32", 4), ("int8", 1), ("int8", 4)}
    assert all(r["status"] == "ok" for r in ort.values()), [r["error"] for r in ort.values()]
    assert abs(ort[("fp32", 1)]["accuracy_top1"] - ref) <= 100 / SAMPLES + 1e-9  # at most one flipped sample
    int8 = ort[("int8", 1)]
    assert int8["accuracy_delta_top1"] == pytest.approx(int8["accuracy_top1"] - ref)
    assert "digits:train" in int8["info"]["calibration"]
    assert record["onnx"] and record["onnx"]["opset"] >= 13


def test_robustness_grid(full_run):
    from harness.robustness import DEFAULT_CORRUPTIONS, DEFAULT_SEVERITIES

    record, _ = full_run
    grid = {(e["corruption"], e["severity"]): e["top1"] for e in record["robustness"]}
    assert set(grid) == {(c, s) for c in DEFAULT_CORRUPTIONS for s in DEFAULT_SEVERITIES}
    assert {"gaussian_noise", "gaussian_blur", "brightness", "jpeg"} <= set(DEFAULT_CORRUPTIONS)
    assert all(0 <= v <= 100 for v in grid.values())
    worst = max(DEFAULT_SEVERITIES)
    assert (
        min(grid[(c, worst)] for c in DEFAULT_CORRUPTIONS) < record["accuracy"]["top1"]
    )  # corruptions do hurt


def test_efficiency_only_timm_arch_to_stdout():
    proc = run_cli(
        "test_vit", "--backends", "pytorch", "--batch-sizes", "1", "--min-duration", "0.05", "--threads", "1"
    )
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    assert record["dataset"] is None and record["accuracy"] is None and record["robustness"] is None
    assert record["model"]["pretrained"] is False and record["model"]["revision"] is None
    assert record["runs"][0]["status"] == "ok"
    # no weight file: the size is that of the weights serialised as safetensors (fp32 params + header)
    assert (
        record["model"]["params"] * 4 / 2**20
        < record["model"]["size_mb"]
        < record["model"]["params"] * 4.1 / 2**20
    )


def test_timeout_records_failed_runs(tmp_path):
    out, err_file = tmp_path / "r.json", tmp_path / "error.json"
    proc = run_cli(
        "resnet10t", "--backends", "pytorch", "--batch-sizes", "1,2", "--timeout", "0.5", "--output", str(out),
        "--error-file", str(err_file),
    )  # fmt: skip
    assert proc.returncode == 1 and proc.stderr.strip().splitlines() == [
        "error: no measurement succeeded; see runs[].error in the record"
    ]
    error = json.loads(err_file.read_text())
    assert error["kind"] == "no_measurement" and "timed out after 0.5 s" in error["message"]
    runs = json.loads(out.read_text())["runs"]
    assert [r["status"] for r in runs] == ["timeout", "timeout"] and "timed out after 0.5 s" in runs[0][
        "error"
    ]


def _pickle_only(tmp_path: Path) -> str:
    import timm
    import torch

    d = tmp_path / "pickle-only"
    d.mkdir()
    torch.save(timm.create_model("test_resnet", num_classes=10).state_dict(), d / "pytorch_model.bin")
    (d / "config.json").write_text(json.dumps({"architecture": "test_resnet", "num_classes": 10}))
    return f"local-dir:{d}"


def _three_class_folder(tmp_path: Path) -> str:
    from harness.data import load_digits_split

    digits = load_digits_split("test")
    for cls in range(3):
        (tmp_path / "imgs" / str(cls)).mkdir(parents=True)
        digits.images[int(np.flatnonzero(digits.labels == cls)[0])].save(
            tmp_path / "imgs" / str(cls) / "a.png"
        )
    return str(tmp_path / "imgs")


@pytest.mark.parametrize(
    "case, expected, kind",
    [
        ("unknown_arch", "unknown architecture 'no_such_net'", "unknown_architecture"),
        ("pickle_only", "only safetensors is loaded", "unsupported_weights"),
        ("bad_dataset", "dataset path /no/such/images does not exist", "bad_dataset"),
        ("class_mismatch", "has 10 classes but dataset imagefolder:imgs has 3", "class_count_mismatch"),
        (
            "random_weights_with_dataset",
            "random weights; accuracy on digits would be meaningless",
            "harness_error",
        ),
        ("bad_batch_sizes", "batch sizes must be whole numbers", "bad_config"),
        ("bad_flag", "unrecognized arguments: --frobnicate", "bad_config"),
        ("fp16_on_cpu", "fp16 is measured on cuda only", "bad_config"),
        ("cuda_without_gpu", "--device cuda was requested but torch sees no CUDA device", "harness_error"),
    ],
)
def test_bad_input_is_one_line_exit_2(case, expected, kind, trained, tmp_path):
    model = f"local-dir:{trained}"
    args = {
        "unknown_arch": ["no_such_net"],
        "pickle_only": [_pickle_only(tmp_path)],
        "bad_dataset": [model, "--dataset", "/no/such/images"],
        "class_mismatch": [model, "--dataset", _three_class_folder(tmp_path)],
        "random_weights_with_dataset": ["resnet18", "--dataset", "digits"],
        "bad_batch_sizes": [model, "--batch-sizes", "0,8"],
        "bad_flag": [model, "--frobnicate"],
        "fp16_on_cpu": [model, "--precisions", "fp16"],
        "cuda_without_gpu": [model, "--device", "cuda"],
    }[case]
    if case == "cuda_without_gpu":
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has a GPU")
    out, err_file = tmp_path / "never.json", tmp_path / "error.json"
    proc = run_cli(*args, "--output", str(out), "--error-file", str(err_file))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr and not out.exists()
    error = json.loads(err_file.read_text())
    assert error == {"kind": kind, "message": lines[0][len("error: ") :], "traceback": None}


def test_debug_shows_the_traceback():
    proc = run_cli("no_such_net", "--debug", "--verbose")
    assert proc.returncode == 2 and "Traceback" in proc.stderr and proc.stderr.strip().endswith("registry")
    assert "[harness] loading no_such_net" in proc.stderr  # --verbose progress lines


def test_compare_subcommand_dispatches(full_run, tmp_path):
    record, _ = full_run
    path = tmp_path / "a.json"
    path.write_text(json.dumps(record))
    proc = run_cli("compare", str(path), str(path))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_hf_hub_model_pinned_to_a_commit(trained, full_run, hub_server, tmp_path, monkeypatch):  # noqa: F811
    """hf-hub: against the store helper's local fake Hub, seeded from the trained Hub-layout folder."""
    from harness import errors, models

    sha = hub_server.seed_model_repo("org/digits-net", trained)
    out = tmp_path / "hub.json"
    args = [
        "--dataset",
        "digits",
        "--max-samples",
        str(SAMPLES),
        "--backends",
        "pytorch",
        "--batch-sizes",
        "1",
    ]
    proc = run_cli(
        "hf-hub:org/digits-net", *args, "--min-duration", "0.05", "--threads", "1", "--output", str(out)
    )
    assert proc.returncode == 0, proc.stderr
    record = json.loads(out.read_text())
    assert record["model"]["id"] == "hf-hub:org/digits-net" and record["model"]["revision"] == sha
    assert record["accuracy"] == full_run[0]["accuracy"]  # the same weights as local-dir

    # a later commit moves main; an explicit @sha still loads the old weights
    later = hub_server.commit_files("org/digits-net", {"README.md": b"changed"}, repo_type="model")
    assert models.load_model("hf-hub:org/digits-net").revision == later
    assert models.load_model(f"hf-hub:org/digits-net@{sha}").revision == sha

    hub_server.commit_files(
        "org/pickled", {"pytorch_model.bin": b"x", "config.json": b"{}"}, repo_type="model"
    )
    with pytest.raises(errors.UnsupportedWeights, match="only safetensors is loaded"):
        models.load_model("hf-hub:org/pickled")
    with pytest.raises(errors.ModelUnavailable, match="does not exist"):
        models.load_model("hf-hub:org/missing")
    with pytest.raises(errors.ModelUnavailable, match="no revision"):
        models.load_model("hf-hub:org/digits-net@nope")
    with monkeypatch.context() as m:
        m.setattr(models, "max_download_mb", lambda: 0.01)  # below the setting's minimum (1 MB)
        with pytest.raises(errors.DownloadTooLarge, match="above the 0.01 MB cap"):
            models.load_model("hf-hub:org/digits-net")
