"""One model per task end to end through the queue: submit (the task read from the model) -> approve ->
the worker runs the real harness in a child -> the result record -> the leaderboard row of that task,
ranked by its metric. Tiny transformers checkpoints (built from configs) on the built-in synthetic sets,
and a torchvision detector by name (random weights: efficiency only)."""

from __future__ import annotations

import math

import pytest

from eval_queue.entries import approve, get_entry
from eval_queue.worker import Worker, WorkerSettings
from harness.record import check_record_dict
from harness.tasks import get_task
from leaderboard.filters import DEFAULT_STATE, FilterState, apply_filters
from leaderboard.load import frames_from_table
from store.table import read_results_table
from submissions import SubmissionSettings, submit
from tests._queue_helpers import make_stores
from tests._task_helpers import tiny_detr, tiny_segformer, tiny_vitpose

pytestmark = pytest.mark.slow

BOARD = SubmissionSettings(
    allow_local_dirs=True,
    max_params_m=100.0,
    rate_limit=None,
    datasets=("synthetic-detection", "synthetic-segmentation", "synthetic-pose"),
)
FAST = {"backends": ["pytorch"], "batch_sizes": [1], "min_duration_s": 0.05, "max_samples": 8}
BUILDERS = {"detection": tiny_detr, "segmentation": tiny_segformer, "pose": tiny_vitpose}


def _worker(stores) -> Worker:
    return Worker(
        stores,
        WorkerSettings(
            lease_s=60.0,
            heartbeat_s=1.0,
            timeout_s=600.0,
            memory_mb=None,
            devices=("cpu",),
            remeasure_noisy=False,  # a busy test machine measures noisily; re-measuring has its own test
        ),
    )


def _run(stores, model: str, config: dict) -> tuple[dict, object]:
    """Submit, approve, work once; the record and the leaderboard's wide frame."""
    e = submit(stores, model, config=config, submitted_by="alice", settings=BOARD)
    approve(stores.queue, e.id, by="maint")
    outcomes = _worker(stores).work(once=True)
    done = get_entry(stores.queue, e.id)
    assert [(o.entry_id, o.status) for o in outcomes] == [(e.id, "FINISHED")], (outcomes, done.error)
    rec = stores.results.read_json(f"records/{done.result_key}.json")
    wide, _ = frames_from_table(read_results_table(stores.results, validate=check_record_dict))
    return rec, wide


@pytest.mark.parametrize("task", ["detection", "segmentation", "pose"])
def test_a_transformers_model_of_each_task_reaches_its_board(tmp_path, task):
    stores = make_stores(tmp_path / "data")
    folder = BUILDERS[task](tmp_path / task)
    rec, wide = _run(stores, f"local-dir:{folder}", {**FAST, "dataset": f"synthetic-{task}"})
    spec = get_task(task)
    assert rec["task"] == task and rec["config"]["task"] == task
    assert set(spec.metric_names) <= set(rec["metrics"])
    primary = rec["metrics"][spec.primary_metric]
    assert primary is not None and 0 <= primary <= 100  # a real score of random weights (near 0)
    view = apply_filters(wide, FilterState(task=task)).frame
    assert len(view) == 1 and view.iloc[0]["rank"] == 1
    row = view.iloc[0]
    assert row[spec.primary_metric] == pytest.approx(primary) and row["latency_p50_ms"] > 0
    assert row["resolution"] and row["task"] == task
    assert apply_filters(wide, DEFAULT_STATE).frame.empty  # not on the classification board


def test_a_torchvision_detector_by_name_is_measured_for_efficiency(tmp_path):
    stores = make_stores(tmp_path / "data")
    rec, wide = _run(stores, "torchvision:ssdlite320_mobilenet_v3_large", FAST)
    assert rec["task"] == "detection" and rec["model"]["input_size"] == [3, 320, 320]
    row = apply_filters(wide, FilterState(task="detection")).frame.iloc[0]
    assert math.isnan(row["box_map"]) and row["latency_p50_ms"] > 0 and row["resolution"] == "3x320x320"
