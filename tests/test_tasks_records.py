"""The task fields of configs and records: additive (old keys and records unchanged), checked on read."""

from __future__ import annotations

import copy

import pytest

from harness.config import BenchmarkConfig, ConfigError, result_key
from harness.record import ResultRecord, check_record_dict
from harness.runner import metrics_delta
from store.schema import SchemaError

BASE = {
    "schema_version": 1,
    "key": "abc123",
    "created_at": "2026-12-02T00:00:00Z",
    "model": {"id": "torchvision:ssdlite320_mobilenet_v3_large", "source": "torchvision"},
    "dataset": None,
    "accuracy": None,
    "runs": [
        {"backend": "pytorch", "device": "cpu", "provider": "torch-cpu", "precision": "fp32", "batch_size": 1}
    ],
    "robustness": None,
    "environment": {"hardware_profile": "cpu-x"},
}


def test_classification_config_keeps_its_old_key_and_dict():
    old = BenchmarkConfig(batch_sizes=(1,))
    assert "task" not in old.to_dict() and old.to_cli_args()[:2] == ["--task", "classification"]
    assert BenchmarkConfig(batch_sizes=(1,), task="classification") == old
    det = BenchmarkConfig(batch_sizes=(1,), task="detection")
    assert det.to_dict()["task"] == "detection" and det.to_cli_args()[:2] == ["--task", "detection"]
    assert result_key("m", None, det, "p") != result_key("m", None, old, "p")
    assert BenchmarkConfig.from_dict({"task": "pose"}).task == "pose"


@pytest.mark.parametrize("task", ["", "Detection", "keypoints", None, 3, ["pose"]])
def test_unknown_task_is_refused(task):
    with pytest.raises(ConfigError, match="task must be one of classification, detection"):
        BenchmarkConfig(task=task)


def test_robustness_is_classification_only():
    with pytest.raises(ConfigError, match="robustness .* classification, not segmentation"):
        BenchmarkConfig(task="segmentation", robustness=True, dataset="synthetic-segmentation")


def test_task_record_reads_back_and_old_records_are_classification():
    rec = copy.deepcopy(BASE)
    rec["task"], rec["metrics"] = "detection", {"box_map": 12.5, "box_ap_small": None}
    rec["model"]["task"] = "detection"
    rec["runs"][0].update(metrics={"box_map": 12.0, "box_ap_small": None}, metrics_delta={"box_map": -0.5})
    back = ResultRecord.from_dict(check_record_dict(rec))
    assert back.task == "detection" and back.metrics == rec["metrics"]
    assert back.runs[0].metrics_delta == {"box_map": -0.5} and back.model.task == "detection"
    old = ResultRecord.from_dict(copy.deepcopy(BASE))
    assert old.task == "classification" and old.metrics is None and old.runs[0].metrics is None


@pytest.mark.parametrize(
    ("where", "value", "message"),
    [
        ("task", "keypoints", "task"),
        ("task", ["pose"], "task"),
        ("metrics", {"box_map": 101.0}, "metrics.box_map"),
        ("metrics", {"box_map": "<b>1</b>"}, "metrics.box_map"),
        ("metrics", {"box_map": -1.0}, "metrics.box_map"),
        ("metrics", "12", "metrics"),
        ("metrics", {f"m{i}": 1.0 for i in range(40)}, "metrics"),
        ("run_metrics", {"miou": float("nan")}, "metrics.miou"),
        ("run_delta", {"miou": 250.0}, "metrics_delta.miou"),
        ("run_delta", {"miou": None}, "metrics_delta.miou"),
        ("model_task", "segmentation; drop", "model.task"),
    ],
)
def test_hostile_task_fields_are_refused(where, value, message):
    rec = copy.deepcopy(BASE)
    if where == "run_metrics":
        rec["runs"][0]["metrics"] = value
    elif where == "run_delta":
        rec["runs"][0]["metrics_delta"] = value
    elif where == "model_task":
        rec["model"]["task"] = value
    else:
        rec[where] = value
    with pytest.raises(SchemaError, match=message.replace(".", r"\.")):
        check_record_dict(rec)


def test_metrics_delta_is_run_minus_reference_where_both_exist():
    ref = {"box_map": 40.0, "box_ap_small": None, "box_ap50": 60.0}
    assert metrics_delta({"box_map": 38.5, "box_ap_small": 3.0, "box_ap50": 60.0}, ref) == {
        "box_map": -1.5,
        "box_ap50": 0.0,
    }
    assert metrics_delta(None, ref) is None
