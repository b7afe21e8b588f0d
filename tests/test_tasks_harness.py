"""Detection, segmentation and pose through the real harness: tiny transformers checkpoints (random
weights saved with save_pretrained, loaded with local-dir:) on the built-in synthetic sets, torchvision
builders efficiency-only, and the refusals (wrong task, remote code, pickles, mismatched weights)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness.errors import BadModelSpec, HarnessError, UnknownArchitecture, UnsupportedWeights, WeightMismatch
from harness.models import load_model, parse_model_spec
from harness.record import check_record_dict
from harness.task_models import torchvision_task, transformers_task
from tests._harness_helpers import run_cli
from tests._task_helpers import tiny_detr, tiny_segformer, tiny_vitpose
from tests.hub_server import hub_server  # noqa: F401 - pytest fixture

pytestmark = pytest.mark.slow

FAST = ["--min-duration", "0.05", "--threads", "1", "--max-samples", "6"]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    import torch

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("task-models")
    return {
        "detection": tiny_detr(root / "detr"),
        "segmentation": tiny_segformer(root / "segformer"),
        "pose": tiny_vitpose(root / "vitpose"),
    }


def _record(tmp_path: Path, *args: str) -> dict:
    out = tmp_path / "record.json"
    proc = run_cli(*args, "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    record = json.loads(out.read_text())
    check_record_dict(record)
    return record


def test_detection_end_to_end_on_both_backends(checkpoints, tmp_path):
    args = [f"local-dir:{checkpoints['detection']}", "--dataset", "synthetic-detection", *FAST]
    record = _record(tmp_path, *args, "--backends", "pytorch,onnxruntime", "--batch-sizes", "1,2")
    assert record["task"] == "detection" and record["config"]["task"] == "detection"
    assert record["model"]["task"] == "detection" and record["model"]["input_size"] == [3, 64, 64]
    assert record["model"]["num_classes"] == 5 and record["model"]["pretrained"] is True
    assert record["dataset"]["name"] == "synthetic-detection" and record["dataset"]["num_samples"] == 6
    assert record["accuracy"] is None
    ref = record["metrics"]
    assert set(ref) == {"box_map", "box_ap50", "box_ap75", "box_ap_small", "box_ap_medium", "box_ap_large"}
    assert all(v is None or 0.0 <= v <= 100.0 for v in ref.values())
    runs = {(r["backend"], r["batch_size"]): r for r in record["runs"]}
    assert len(runs) == 4 and all(r["status"] == "ok" for r in runs.values()), record["runs"]
    for r in runs.values():
        assert r["metrics"] is not None and r["latency_ms"]["p50"] > 0 and r["latency_samples_ms"]
        assert set(r["metrics_delta"]) <= set(ref)
    assert runs[("pytorch", 1)]["metrics"] == ref  # the reference run is PyTorch fp32
    ort = runs[("onnxruntime", 1)]  # the same end-to-end graph (top-k inside) exported, scored alike
    assert all(abs(d) < 1.0 for d in ort["metrics_delta"].values()), ort["metrics_delta"]
    assert record["onnx"]["exporter"] == "dynamo" and record["onnx"]["max_abs_diff"] < 1e-3


def test_segmentation_end_to_end(checkpoints, tmp_path):
    args = [f"local-dir:{checkpoints['segmentation']}", "--task", "segmentation"]
    record = _record(tmp_path, *args, "--dataset", "synthetic-segmentation", "--backends", "pytorch", *FAST)
    assert record["task"] == "segmentation" and record["model"]["input_size"] == [3, 64, 64]
    assert set(record["metrics"]) == {"miou", "pixel_accuracy"}
    assert all(0.0 <= v <= 100.0 for v in record["metrics"].values())
    assert [r["batch_size"] for r in record["runs"]] == [1, 8]
    assert all(r["status"] == "ok" and r["metrics"] == record["metrics"] for r in record["runs"])
    assert all(r["metrics_delta"] == {"miou": 0.0, "pixel_accuracy": 0.0} for r in record["runs"])


def test_pose_end_to_end_efficiency_and_quality(checkpoints, tmp_path):
    args = [f"local-dir:{checkpoints['pose']}", "--dataset", "synthetic-pose", "--backends", "pytorch"]
    record = _record(tmp_path, *args, "--batch-sizes", "1", *FAST)
    assert record["task"] == "pose" and record["model"]["input_size"] == [3, 64, 48]
    assert set(record["metrics"]) == {"kp_ap", "kp_ap50", "kp_ap75"}
    assert record["runs"][0]["status"] == "ok" and record["runs"][0]["throughput_ips"] > 0


def test_torchvision_detector_efficiency_only(tmp_path):
    arch = "torchvision:ssdlite320_mobilenet_v3_large"
    record = _record(
        tmp_path,
        arch,
        "--task",
        "detection",
        "--backends",
        "pytorch,onnxruntime",
        "--batch-sizes",
        "1,2",
        *FAST,
    )
    assert record["model"]["id"] == arch and record["model"]["source"] == "torchvision"
    assert record["model"]["input_size"] == [3, 320, 320] and record["model"]["num_classes"] == 91
    assert record["model"]["pretrained"] is False and record["model"]["params"] > 1_000_000
    assert record["dataset"] is None and record["metrics"] is None and record["task"] == "detection"
    status = [(r["backend"], r["batch_size"], r["status"]) for r in record["runs"]]
    assert status == [
        ("pytorch", 1, "ok"),
        ("pytorch", 2, "ok"),
        ("onnxruntime", 1, "ok"),  # its graph is traced at the smallest batch size asked for
        ("onnxruntime", 2, "unsupported"),
    ]
    assert record["runs"][3]["error"].startswith("the ONNX graph runs at batch size 1 only (torchvision")
    assert record["onnx"]["exporter"] == "torchscript" and record["onnx"]["onnx_batch"] == 1
    assert all(r["metrics"] is None and r["metrics_delta"] is None for r in record["runs"])


def test_a_fixed_batch_graph_scores_the_evaluation_set_in_padded_batches(tmp_path):
    from harness.measure import MeasureJob, save_outputs

    x = np.arange(5 * 3 * 2 * 2, dtype=np.float32).reshape(5, 3, 2, 2)
    np.save(tmp_path / "eval_x.npy", x)
    seen = []

    class Runner:  # a graph traced at batch 3 accepts nothing else
        def predict(self, batch):
            seen.append(len(batch))
            assert len(batch) == 3
            return batch.reshape(3, -1)[:, :6]

    export = {"path": "unused.onnx", "batch": 3}
    job = MeasureJob("m", None, "onnxruntime", "cpu", "fp32", [3], 1, 0.1, str(tmp_path), str(tmp_path / "eval_x.npy"),
                     onnx_export=export, output_kind="detections")  # fmt: skip
    out = np.load(save_outputs(Runner(), job))
    assert seen == [3, 3] and out.shape == (5, 6)  # the padding rows are dropped
    assert np.array_equal(out, x.reshape(5, -1)[:, :6])


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["torchvision:lraspp_mobilenet_v3_large", "--task", "detection"], "is a segmentation model"),
        (["torchvision:ssdlite320_mobilenet_v3_large", "--dataset", "synthetic-detection"], "random weights"),
    ],
)
def test_refusals_are_one_line_exit_2(args, expected):
    proc = run_cli(*args, "--backends", "pytorch", "--batch-sizes", "1", "--min-duration", "0.05")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and expected in proc.stderr, proc.stderr
    if "is a segmentation model" in expected:
        assert "but the task asked for is detection" in proc.stderr  # both tasks named


def test_task_given_must_match_the_model():
    from types import SimpleNamespace

    from harness.config import BenchmarkConfig
    from harness.runner import Options, check_task

    loaded = SimpleNamespace(
        task="classification", spec=parse_model_spec("resnet10t"), architecture="resnet10t"
    )
    with pytest.raises(HarnessError, match="resnet10t is a classification model .* task asked for is pose"):
        check_task(loaded, BenchmarkConfig(task="pose"), Options())  # type: ignore[arg-type]
    inferred = check_task(loaded, BenchmarkConfig(), Options(task_from_model=True))  # type: ignore[arg-type]
    assert inferred.task == "classification"
    with pytest.raises(BadModelSpec, match="bad torchvision architecture"):
        parse_model_spec("torchvision:../../etc")
    with pytest.raises(UnknownArchitecture, match="unknown torchvision architecture 'raft_large'"):
        torchvision_task("raft_large")


def test_task_from_builder_and_config():
    assert torchvision_task("ssdlite320_mobilenet_v3_large") == "detection"
    assert torchvision_task("deeplabv3_mobilenet_v3_large") == "segmentation"
    assert torchvision_task("keypointrcnn_resnet50_fpn") == "pose"
    assert torchvision_task("resnet18") == "classification"
    for arch, task in [
        ("RTDetrForObjectDetection", "detection"),
        ("SegformerForSemanticSegmentation", "segmentation"),
        ("VitPoseForPoseEstimation", "pose"),
        ("ViTForImageClassification", "classification"),
    ]:
        assert transformers_task({"architectures": [arch], "model_type": "x"}) == task
    with pytest.raises(UnknownArchitecture, match="BertModel"):
        transformers_task({"architectures": ["BertModel"]})
    with pytest.raises(BadModelSpec, match="remote code"):
        transformers_task({"architectures": ["DetrForObjectDetection"], "auto_map": {"AutoModel": "x.Y"}})
    with pytest.raises(BadModelSpec, match="exactly one"):
        transformers_task({"architectures": ["A", "B"]})
    assert parse_model_spec("torchvision:resnet18").id == "torchvision:resnet18"


def _copy(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_hostile_transformers_checkpoints_are_refused(checkpoints, tmp_path):
    seg = checkpoints["segmentation"]
    remote = _copy(seg, tmp_path / "remote")
    cfg = json.loads((remote / "config.json").read_text())
    (remote / "config.json").write_text(json.dumps({**cfg, "auto_map": {"AutoModel": "evil.Model"}}))
    with pytest.raises(BadModelSpec, match="remote code"):
        load_model(f"local-dir:{remote}")

    unknown = _copy(seg, tmp_path / "unknown")
    (unknown / "config.json").write_text(json.dumps({**cfg, "architectures": ["os.system"]}))
    with pytest.raises(BadModelSpec, match="not a class name"):
        load_model(f"local-dir:{unknown}")

    pickled = _copy(seg, tmp_path / "pickled")
    (pickled / "model.safetensors").rename(pickled / "pytorch_model.bin")
    with pytest.raises(UnsupportedWeights, match="only pickle weights"):
        load_model(f"local-dir:{pickled}")

    mismatched = _copy(seg, tmp_path / "mismatched")  # 7 classes declared, weights for 5
    labels = {str(i): f"c{i}" for i in range(7)}
    (mismatched / "config.json").write_text(json.dumps({**cfg, "id2label": labels, "label2id": {}}))
    with pytest.raises(WeightMismatch, match="mismatched keys"):
        load_model(f"local-dir:{mismatched}")

    bad_size = _copy(seg, tmp_path / "bad-proc")
    (bad_size / "preprocessor_config.json").write_text('{"image_mean": [0, 0], "image_std": "x"}')
    with pytest.raises(HarnessError, match="image_mean/image_std"):
        load_model(f"local-dir:{bad_size}")


def test_hf_hub_transformers_checkpoint_with_its_preprocessor(checkpoints, hub_server):  # noqa: F811
    sha = hub_server.seed_model_repo("org/tiny-detr", checkpoints["detection"])
    loaded = load_model(f"hf-hub:org/tiny-detr@{sha}")
    assert loaded.revision == sha and loaded.task == "detection" and loaded.pretrained
    assert loaded.input_size == (3, 64, 64)  # from the downloaded preprocessor_config.json
    assert loaded.labels == {0: "person", 1: "car", 2: "cat", 3: "dog", 4: "bottle"}


def test_a_failed_export_makes_the_onnx_runs_unsupported(checkpoints, tmp_path, monkeypatch):
    import harness.onnx_export
    from harness.config import BenchmarkConfig
    from harness.runner import Options, plan_evaluation, run_plan

    def refuse(*_a, **_k):
        raise harness.onnx_export.OnnxExportError(
            "dynamo exporter failed (GuardOnDataDependentSymNode): u0\nmore"
        )

    monkeypatch.setattr(harness.onnx_export, "export_onnx", refuse)
    spec = f"local-dir:{checkpoints['segmentation']}"
    loaded = load_model(spec)
    config = BenchmarkConfig(task="segmentation", backends=("onnxruntime",), batch_sizes=(1, 2))
    opts = Options(threads=1, log=lambda _m: None)
    plan = plan_evaluation(spec, loaded, config, tmp_path, opts)
    runs = run_plan(plan, opts).runs  # no child process: the reason is known before any
    assert [(r.batch_size, r.status) for r in runs] == [(1, "unsupported"), (2, "unsupported")]
    assert all(r.error.startswith("ONNX export failed: dynamo exporter failed") for r in runs)
    assert all("\n" not in r.error for r in runs)
