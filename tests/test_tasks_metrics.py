"""Known answers for the task metrics (harness.tasks.metrics): ground truth scores 100, nothing scores 0,
exact IoU / OKS perturbations give the AP the COCO rules give by hand, random perturbations give what the
reference evaluator (pycocotools) gives, and a segmentation confusion matrix agrees with per-class sets.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

from harness.errors import HarnessError
from harness.tasks.datasets import load_task_dataset
from harness.tasks.metrics import (
    BadPredictions,
    SegmentationMeter,
    coco_ground_truth,
    detection_metrics,
    pose_metrics,
    to_dataset_classes,
)


@pytest.fixture(scope="module")
def det():
    return load_task_dataset("detection", "synthetic-detection")


@pytest.fixture(scope="module")
def pose():
    return load_task_dataset("pose", "synthetic-pose")


@pytest.fixture(scope="module")
def seg():
    return load_task_dataset("segmentation", "synthetic-segmentation")


def _gt_detections(ds):
    return [
        {
            "image_id": s.image_id,
            "boxes": s.boxes.copy(),
            "scores": np.ones(len(s.boxes)),
            "labels": s.labels.copy(),
        }
        for s in ds.samples
    ]


# ---- detection --------------------------------------------------------------------------------------


def test_ground_truth_as_predictions_scores_100(det):
    m = detection_metrics(det, _gt_detections(det))
    assert m == {k: 100.0 for k in m} and len(m) == 6


def test_no_predictions_score_0(det):
    assert set(detection_metrics(det, []).values()) == {0.0}
    empty = [
        {"image_id": s.image_id, "boxes": np.zeros((0, 4)), "scores": [], "labels": []} for s in det.samples
    ]
    assert set(detection_metrics(det, empty).values()) == {0.0}


def test_boxes_at_iou_two_thirds_pass_four_of_ten_thresholds(det):
    """Shifting a box right by a fifth of its width gives IoU (4/5)/(6/5) = 2/3 with its ground truth: a
    match at thresholds .50-.65, a miss from .70 up, so AP@[.5:.95] = 4/10."""
    preds = _gt_detections(det)
    for p in preds:
        w = p["boxes"][:, 2] - p["boxes"][:, 0]
        p["boxes"] = p["boxes"].astype(np.float64)
        p["boxes"][:, [0, 2]] += (w / 5)[:, None]
    m = detection_metrics(det, preds)
    assert m["box_map"] == pytest.approx(40.0)
    assert m["box_ap50"] == pytest.approx(100.0) and m["box_ap75"] == pytest.approx(0.0)
    for size in ("small", "medium", "large"):
        assert m[f"box_ap_{size}"] == pytest.approx(40.0)


def test_half_the_objects_found_gives_the_101_point_recall_curve_value(det):
    """Keep the first half (rounded down) of each category's objects, all at score 1: recall stops at
    r_c = kept/total, so of COCO's 101 recall points those <= r_c have precision 1 and the rest 0."""
    totals: dict[int, int] = {}
    for s in det.samples:
        for label in s.labels.tolist():
            totals[label] = totals.get(label, 0) + 1
    kept: dict[int, int] = {}
    preds = []
    for s in det.samples:
        keep = []
        for label in s.labels.tolist():
            keep.append(kept.get(label, 0) < totals[label] // 2)
            kept[label] = kept.get(label, 0) + keep[-1]
        k = np.array(keep, dtype=bool)
        preds.append(
            {"image_id": s.image_id, "boxes": s.boxes[k], "scores": np.ones(k.sum()), "labels": s.labels[k]}
        )
    points = np.linspace(0, 1, 101)
    expected = [np.count_nonzero(points <= kept[c] / totals[c] + 1e-12) / 101 for c in totals]
    m = detection_metrics(det, preds)
    assert m["box_map"] == pytest.approx(100 * float(np.mean(expected)), abs=1e-6)
    assert 40 < m["box_map"] < 51


def _pycocotools_stats(gt_dict, results, iou_type, sigmas=None):
    pytest.importorskip("pycocotools")
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = copy.deepcopy(gt_dict)
        gt.createIndex()
        dt = gt.loadRes(copy.deepcopy(results))
        ev = COCOeval(gt, dt, iou_type)
        if sigmas is not None:
            ev.params.kpt_oks_sigmas = np.array(sigmas)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return [None if v < 0 else 100 * v for v in ev.stats]


def test_detection_matches_pycocotools_on_noisy_predictions(det):
    rng = np.random.default_rng(7)
    preds, results = [], []
    cats = sorted(det.categories)
    for s in det.samples:
        keep = rng.random(len(s.boxes)) > 0.2
        boxes = s.boxes[keep].astype(np.float64)
        size = np.repeat(boxes[:, 2:] - boxes[:, :2], 2, axis=0).reshape(-1, 4) if len(boxes) else boxes
        boxes = boxes + rng.normal(0, 0.12, size=boxes.shape) * (size if len(boxes) else 1)
        boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 1)
        labels = s.labels[keep]
        fp = rng.uniform(0, 100, size=(3, 2))
        boxes = np.concatenate([boxes, np.concatenate([fp, fp + rng.uniform(5, 40, size=(3, 2))], axis=1)])
        labels = np.concatenate([labels, rng.choice(cats, 3)])
        scores = rng.random(len(boxes))
        preds.append({"image_id": s.image_id, "boxes": boxes, "scores": scores, "labels": labels})
        for b, sc, lab in zip(boxes, scores, labels, strict=True):
            xywh = [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]
            results.append(
                {"image_id": s.image_id, "category_id": int(lab), "bbox": xywh, "score": float(sc)}
            )
    ours = detection_metrics(det, preds)
    ref = _pycocotools_stats(coco_ground_truth(det), results, "bbox")
    assert 5 < ours["box_map"] < 95  # a real middle value, not a degenerate one
    for name, i in zip(ours, range(6), strict=True):
        assert ours[name] == pytest.approx(ref[i], abs=1e-6), name


def test_categories_outside_the_dataset_are_not_scored(det):
    preds = _gt_detections(det)
    for p in preds:
        p["boxes"] = np.concatenate([p["boxes"], [[0, 0, 50, 50]]])
        p["scores"] = np.append(p["scores"], 2.0)  # the highest score: it would hurt if it counted
        p["labels"] = np.append(p["labels"], 999)
    assert set(detection_metrics(det, preds).values()) == {100.0}


def test_a_set_without_small_objects_reports_none_for_that_range(det):
    sub = copy.copy(det)
    sub.samples = [s for s in det.samples if s.areas.min() >= 32**2]
    assert sub.samples
    m = detection_metrics(sub, _gt_detections(sub))
    assert m["box_ap_small"] is None and m["box_map"] == 100.0


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda p: p.update(boxes=np.full((1, 4), np.nan), scores=[1.0], labels=[1]), "NaN"),
        (lambda p: p.update(boxes=[[1, 2, 3]], scores=[1.0], labels=[1]), "shape"),
        (lambda p: p.update(boxes=[[10, 10, 5, 5]], scores=[1.0], labels=[1]), "xyxy"),
        (lambda p: p.update(scores=[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]), "shape"),
        (lambda p: p.update(boxes="<script>"), "not an array"),
        (lambda p: p.pop("scores"), "no 'scores'"),
        (lambda p: p.update(image_id=10**9), "not in dataset"),
        (lambda p: p.update(image_id="1"), "not in dataset"),
    ],
)
def test_malformed_detections_are_one_line_errors(det, mutate, needle):
    preds = _gt_detections(det)[:1]
    mutate(preds[0])
    with pytest.raises(BadPredictions) as info:
        detection_metrics(det, preds)
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_predictions_must_be_a_list_of_dicts(det):
    with pytest.raises(HarnessError, match="list"):
        detection_metrics(det, {"image_id": 1})  # type: ignore[arg-type]
    with pytest.raises(HarnessError, match="dict"):
        detection_metrics(det, [[1, 2, 3]])  # type: ignore[list-item]


# ---- pose -------------------------------------------------------------------------------------------


def _gt_poses(ds):
    return [
        {"image_id": s.image_id, "keypoints": s.keypoints.copy(), "scores": np.ones(len(s.boxes))}
        for s in ds.samples
    ]


def test_pose_ground_truth_scores_100_and_nothing_scores_0(pose):
    assert pose_metrics(pose, _gt_poses(pose)) == {"kp_ap": 100.0, "kp_ap50": 100.0, "kp_ap75": 100.0}
    assert pose_metrics(pose, []) == {"kp_ap": 0.0, "kp_ap50": 0.0, "kp_ap75": 0.0}


def test_keypoints_at_oks_072_pass_half_the_thresholds(pose):
    """Move every labelled keypoint i by d_i with exp(-d_i^2 / (2 area (2 sigma_i)^2)) = 0.72: OKS is 0.72
    for every person, a match at .50-.70 and a miss from .75 up, so keypoint AP = 5/10."""
    target = 0.72
    sigmas = np.array(pose.keypoint_sigmas)
    preds = _gt_poses(pose)
    for s, p in zip(pose.samples, preds, strict=True):
        for j, area in enumerate(s.areas):
            d = np.sqrt(-math.log(target) * 2 * float(area) * (2 * sigmas) ** 2)
            labelled = s.keypoints[j, :, 2] > 0
            p["keypoints"][j, labelled, 0] += d[labelled]
    m = pose_metrics(pose, preds)
    assert m["kp_ap"] == pytest.approx(50.0) and m["kp_ap50"] == pytest.approx(100.0)
    assert m["kp_ap75"] == pytest.approx(0.0)


def test_pose_matches_pycocotools_on_noisy_predictions(pose):
    rng = np.random.default_rng(3)
    preds, results = [], []
    for s in pose.samples:
        keep = rng.random(len(s.boxes)) > 0.15
        kps = s.keypoints[keep].astype(np.float64)
        scale = np.sqrt(s.areas[keep])[:, None] if keep.any() else np.zeros((0, 1))
        kps[..., :2] += rng.normal(0, 0.05, size=kps[..., :2].shape) * scale[..., None]
        kps[..., 2] = rng.random(kps.shape[:2])
        scores = rng.random(len(kps))
        preds.append({"image_id": s.image_id, "keypoints": kps, "scores": scores})
        for kp, sc in zip(kps, scores, strict=True):
            results.append(
                {
                    "image_id": s.image_id,
                    "category_id": 1,
                    "keypoints": kp.ravel().tolist(),
                    "score": float(sc),
                }
            )
    ours = pose_metrics(pose, preds)
    ref = _pycocotools_stats(coco_ground_truth(pose), results, "keypoints", pose.keypoint_sigmas)
    assert 5 < ours["kp_ap"] < 95
    assert [ours["kp_ap"], ours["kp_ap50"], ours["kp_ap75"]] == pytest.approx(ref[:3], abs=1e-6)


def test_malformed_poses_are_one_line_errors(pose):
    preds = _gt_poses(pose)[:1]
    preds[0]["keypoints"] = preds[0]["keypoints"][:, :5]
    with pytest.raises(BadPredictions, match="shape"):
        pose_metrics(pose, preds)
    no_kp = copy.copy(pose)
    no_kp.keypoint_sigmas = ()
    with pytest.raises(BadPredictions, match="sigmas"):
        pose_metrics(no_kp, _gt_poses(pose))


# ---- segmentation -----------------------------------------------------------------------------------


def test_hand_computed_confusion_example():
    target = np.array([[255, 0, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1], [1, 1, 1, 1]])
    pred = np.array([[2, 0, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1], [2, 2, 2, 2]])
    meter = SegmentationMeter(3)
    meter.update(pred, target)
    # class 0: 7/7; class 1: 4 right of 8 -> 4/8; class 2: only 4 false positives -> 0/4
    assert meter.result() == {
        "miou": pytest.approx(100 * (1 + 0.5 + 0) / 3),
        "pixel_accuracy": pytest.approx(100 * 11 / 15),
    }


def _reference_miou(preds, targets, num_classes, ignore):
    """Per-class sets, written independently of the confusion matrix."""
    ious, right, total = [], 0, 0
    for c in range(num_classes):
        inter = union = 0
        for p, t in zip(preds, targets, strict=True):
            valid = t != ignore
            inter += int(((p == c) & (t == c) & valid).sum())
            union += int((((p == c) | (t == c)) & valid).sum())
        if union:
            ious.append(inter / union)
    for p, t in zip(preds, targets, strict=True):
        valid = t != ignore
        right += int(((p == t) & valid).sum())
        total += int(valid.sum())
    return 100 * float(np.mean(ious)), 100 * right / total


def test_ground_truth_masks_score_100_and_half_wrong_matches_per_class_sets(seg):
    meter = SegmentationMeter(seg.num_classes, seg.ignore_index)
    for s in seg.samples:
        meter.update(s.mask, s.mask)
    assert meter.result() == {"miou": 100.0, "pixel_accuracy": 100.0}

    preds, targets = [], []
    meter = SegmentationMeter(seg.num_classes, seg.ignore_index)
    for s in seg.samples:
        pred = s.mask.copy()
        flat = pred.reshape(-1)
        wrong = np.flatnonzero(flat != seg.ignore_index)[::2]  # every other labelled pixel
        flat[wrong] = (flat[wrong] + 1) % seg.num_classes
        pred[s.mask == seg.ignore_index] = 0  # predictions on ignored pixels do not count
        meter.update(pred, s.mask)
        preds.append(pred)
        targets.append(s.mask)
    miou, acc = _reference_miou(preds, targets, seg.num_classes, seg.ignore_index)
    result = meter.result()
    assert result["pixel_accuracy"] == pytest.approx(acc) and 49 < acc < 51
    assert result["miou"] == pytest.approx(miou)


def test_unmapped_model_classes_count_as_wrong():
    target = np.array([[0, 1], [1, 1]])
    model_pred = np.array([[5, 3], [3, 9]])  # model classes 5 -> 0, 3 -> 1, 9 has no dataset class
    pred = to_dataset_classes(model_pred, {5: 0, 3: 1}, num_model_classes=10)
    np.testing.assert_array_equal(pred, [[0, 1], [1, -1]])
    meter = SegmentationMeter(2)
    meter.update(pred, target)
    assert meter.result() == {
        "miou": pytest.approx(100 * (1 + 2 / 3) / 2),
        "pixel_accuracy": pytest.approx(75.0),
    }


def test_empty_meter_and_bad_masks():
    meter = SegmentationMeter(3)
    assert meter.result() == {"miou": None, "pixel_accuracy": None}
    meter.update(np.zeros((2, 2), dtype=np.int64), np.full((2, 2), 255))
    assert meter.result() == {"miou": None, "pixel_accuracy": None}
    with pytest.raises(BadPredictions, match="does not match"):
        meter.update(np.zeros((2, 3), dtype=np.int64), np.zeros((3, 2), dtype=np.int64))
    with pytest.raises(BadPredictions, match="integer"):
        meter.update(np.zeros((2, 2)), np.zeros((2, 2), dtype=np.int64))
    with pytest.raises(BadPredictions, match="outside"):
        meter.update(np.zeros((1, 1), dtype=np.int64), np.array([[7]]))
    with pytest.raises(HarnessError):
        SegmentationMeter(0)
