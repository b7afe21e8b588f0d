"""Quality metrics of the non-classification tasks, all percentages (0-100) like top-1.

Detection (box AP) and pose (keypoint AP by OKS) come from a maintained COCO evaluator, faster-coco-eval
(the C++ port of pycocotools' COCOeval; tests check it gives pycocotools' numbers); the ground truth is
built in memory from the :class:`~harness.tasks.datasets.TaskDataset`, so any source (synthetic, COCO
JSON, Parquet) is scored the same way. Segmentation accumulates one confusion matrix over the set.
"""

from __future__ import annotations

import contextlib
import io
from typing import Any

import numpy as np

from harness.errors import HarnessError
from harness.tasks.datasets import TaskDataset

# COCOeval.stats positions of the numbers each task records (pycocotools' summarize() order).
DETECTION_STATS = {
    "box_map": 0,
    "box_ap50": 1,
    "box_ap75": 2,
    "box_ap_small": 3,
    "box_ap_medium": 4,
    "box_ap_large": 5,
}
POSE_STATS = {"kp_ap": 0, "kp_ap50": 1, "kp_ap75": 2}


class BadPredictions(HarnessError):
    """Predictions that do not fit the dataset (a harness bug or a model output we cannot read)."""


def _xywh(boxes: np.ndarray) -> np.ndarray:
    out = boxes.astype(np.float64).copy()
    out[:, 2:] -= out[:, :2]
    return out


def coco_ground_truth(dataset: TaskDataset) -> dict[str, Any]:
    """The dataset as a COCO annotation dict (images, categories, annotations; keypoints for pose)."""
    pose = dataset.task == "pose"
    images: list[dict[str, Any]] = []
    anns: list[dict[str, Any]] = []
    for s in dataset.samples:
        width, height = s.image.size
        images.append({"id": int(s.image_id), "width": int(width), "height": int(height)})
        boxes = np.zeros((0, 4)) if s.boxes is None else s.boxes
        labels = np.zeros(0, dtype=np.int64) if s.labels is None else s.labels
        areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) if s.areas is None else s.areas
        crowd = np.zeros(len(boxes), dtype=bool) if s.iscrowd is None else s.iscrowd
        for j, (box, label, area) in enumerate(zip(_xywh(boxes), labels, areas, strict=True)):
            ann = {
                "id": len(anns) + 1,
                "image_id": int(s.image_id),
                "category_id": int(label),
                "bbox": [float(v) for v in box],
                "area": float(area),
                "iscrowd": int(crowd[j]),
            }
            if pose and s.keypoints is not None:
                kp = s.keypoints[j]
                ann["keypoints"] = [float(v) for v in kp.ravel()]
                ann["num_keypoints"] = int((kp[:, 2] > 0).sum())
            anns.append(ann)
    categories = []
    for cid, name in sorted(dataset.categories.items()):
        cat: dict[str, Any] = {"id": int(cid), "name": str(name)}
        if pose:
            cat["keypoints"] = list(dataset.keypoint_names)
        categories.append(cat)
    return {"images": images, "annotations": anns, "categories": categories}


def _array(pred: dict, key: str, shape_tail: tuple[int, ...], n: int | None, where: str) -> np.ndarray:
    try:
        arr = np.asarray(pred[key], dtype=np.float64)
    except KeyError:
        raise BadPredictions(f"{where} has no {key!r}") from None
    except (TypeError, ValueError):
        raise BadPredictions(f"{where}: {key!r} is not an array of numbers") from None
    if n == 0 and arr.size == 0:
        return arr.reshape((0, *shape_tail))
    if (
        arr.ndim != 1 + len(shape_tail)
        or tuple(arr.shape[1:]) != shape_tail
        or (n is not None and len(arr) != n)
    ):
        raise BadPredictions(
            f"{where}: {key!r} has shape {arr.shape}, expected ({n if n is not None else 'M'}, *{shape_tail})"
        )
    if not np.all(np.isfinite(arr)):
        raise BadPredictions(f"{where}: {key!r} has NaN or infinite values")
    return arr


def _predictions_by_image(dataset: TaskDataset, predictions: list[dict]) -> list[tuple[int, dict]]:
    if not isinstance(predictions, list):
        raise BadPredictions(
            f"predictions must be a list of per-image dicts, not {type(predictions).__name__}"
        )
    ids = {int(s.image_id) for s in dataset.samples}
    out = []
    for i, pred in enumerate(predictions):
        if not isinstance(pred, dict) or "image_id" not in pred:
            raise BadPredictions(f"prediction {i} is not a dict with an image_id")
        image_id = pred["image_id"]
        if (
            isinstance(image_id, bool)
            or not isinstance(image_id, int | np.integer)
            or int(image_id) not in ids
        ):
            raise BadPredictions(
                f"prediction {i} is for image {str(image_id)[:40]!r}, which is not in dataset {dataset.name}"
            )
        out.append((int(image_id), pred))
    return out


def _evaluate(
    dataset: TaskDataset, results: list[dict], iou_type: str, stats: dict[str, int]
) -> dict[str, float | None]:
    """Run COCOeval on in-memory ground truth and results; -1 (no ground truth in that range) -> None."""
    from faster_coco_eval import COCO, COCOeval_faster

    quiet = lambda *a, **k: None  # noqa: E731 - the evaluator prints progress through this
    gt = COCO(coco_ground_truth(dataset), print_function=quiet)
    dt = gt.loadRes(results)
    kwargs: dict[str, Any] = {"print_function": quiet}
    if iou_type == "keypoints":
        kwargs["kpt_oks_sigmas"] = list(dataset.keypoint_sigmas)
    ev = COCOeval_faster(gt, dt, iou_type, **kwargs)
    with contextlib.redirect_stdout(io.StringIO()):
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    values = [float(v) for v in ev.stats]
    return {name: (None if values[i] < 0 else round(100.0 * values[i], 6)) for name, i in stats.items()}


def detection_metrics(dataset: TaskDataset, predictions: list[dict]) -> dict[str, float | None]:
    """COCO box AP of per-image predictions ``{"image_id", "boxes" (M, 4) xyxy original pixels, "scores"
    (M,), "labels" (M,) dataset category ids}``. A metric is None where the set has no ground truth for it
    (e.g. no small objects); detections of ids outside the dataset's categories are not scored."""
    results = []
    for image_id, pred in _predictions_by_image(dataset, predictions):
        where = f"prediction for image {image_id}"
        boxes = _array(pred, "boxes", (4,), None, where)
        scores = _array(pred, "scores", (), len(boxes), where)
        labels = _array(pred, "labels", (), len(boxes), where)
        if np.any(boxes[:, 2:] < boxes[:, :2]):
            raise BadPredictions(f"{where}: a box has x2 < x1 or y2 < y1 (boxes must be xyxy)")
        for box, score, label in zip(_xywh(boxes), scores, labels, strict=True):
            if int(label) in dataset.categories:
                results.append(
                    {
                        "image_id": image_id,
                        "category_id": int(label),
                        "bbox": [float(v) for v in box],
                        "score": float(score),
                    }
                )
    return _evaluate(dataset, results, "bbox", DETECTION_STATS)


def pose_metrics(dataset: TaskDataset, predictions: list[dict]) -> dict[str, float | None]:
    """COCO keypoint AP (OKS with the dataset's sigmas) of ``{"image_id", "keypoints" (M, K, 3) x, y,
    score in original pixels, "scores" (M,), "boxes" (M, 4) optional}``; every person is the dataset's
    (first) person category."""
    k = len(dataset.keypoint_names)
    if not k or len(dataset.keypoint_sigmas) != k:
        raise BadPredictions(
            f"dataset {dataset.name} declares no keypoints and sigmas to score poses against"
        )
    category = min(dataset.categories)
    results = []
    for image_id, pred in _predictions_by_image(dataset, predictions):
        where = f"prediction for image {image_id}"
        kps = _array(pred, "keypoints", (k, 3), None, where)
        scores = _array(pred, "scores", (), len(kps), where)
        for kp, score in zip(kps, scores, strict=True):
            results.append(
                {
                    "image_id": image_id,
                    "category_id": category,
                    "keypoints": [float(v) for v in kp.ravel()],
                    "score": float(score),
                }
            )
    return _evaluate(dataset, results, "keypoints", POSE_STATS)


def to_dataset_classes(pred: np.ndarray, mapping: dict[int, int], num_model_classes: int) -> np.ndarray:
    """A model's per-pixel class indices as dataset class indices (harness.tasks.datasets.map_categories);
    a model class with no dataset counterpart becomes -1, which the meter counts as wrong."""
    lut = np.full(max(num_model_classes, max(mapping, default=-1) + 1), -1, dtype=np.int64)
    for model_idx, ds_idx in mapping.items():
        lut[int(model_idx)] = int(ds_idx)
    pred = np.asarray(pred, dtype=np.int64)
    out = np.full(pred.shape, -1, dtype=np.int64)
    inside = (pred >= 0) & (pred < len(lut))
    out[inside] = lut[pred[inside]]
    return out


class SegmentationMeter:
    """Confusion matrix over the whole set -> mean IoU (over classes present in the ground truth or the
    predictions) and pixel accuracy, both ignoring ``ignore_index`` pixels of the target. A predicted
    value outside 0..num_classes-1 counts as wrong for the target's class."""

    def __init__(self, num_classes: int, ignore_index: int = 255):
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise HarnessError(f"num_classes must be a positive integer, not {num_classes!r}")
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        # rows: target class; columns: predicted class, the last one for "no dataset class"
        self.confusion = np.zeros((num_classes, num_classes + 1), dtype=np.int64)

    def update(self, pred: np.ndarray, target: np.ndarray) -> None:
        pred, target = np.asarray(pred), np.asarray(target)
        if pred.shape != target.shape or pred.ndim != 2:
            raise BadPredictions(
                f"prediction mask {pred.shape} does not match the target mask {target.shape}"
            )
        if not np.issubdtype(pred.dtype, np.integer) or not np.issubdtype(target.dtype, np.integer):
            raise BadPredictions("segmentation masks must hold integer class indices")
        valid = target != self.ignore_index
        t = target[valid].astype(np.int64)
        if t.size and (t.min() < 0 or t.max() >= self.num_classes):
            raise BadPredictions(
                f"target mask has class {int(t.max() if t.max() >= self.num_classes else t.min())} outside 0..{self.num_classes - 1}"
            )
        p = pred[valid].astype(np.int64)
        p = np.where((p < 0) | (p >= self.num_classes), self.num_classes, p)
        cols = self.num_classes + 1
        self.confusion += np.bincount(t * cols + p, minlength=self.num_classes * cols).reshape(
            self.num_classes, cols
        )

    def result(self) -> dict[str, float | None]:
        conf = self.confusion
        total = int(conf.sum())
        if total == 0:
            return {"miou": None, "pixel_accuracy": None}
        tp = np.diag(conf[:, : self.num_classes]).astype(np.float64)
        union = conf.sum(axis=1) + conf[:, : self.num_classes].sum(axis=0) - tp
        present = union > 0
        miou = float(np.mean(tp[present] / union[present]))
        return {"miou": round(100.0 * miou, 6), "pixel_accuracy": round(100.0 * float(tp.sum()) / total, 6)}
