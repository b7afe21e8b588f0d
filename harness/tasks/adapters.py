"""Per-task pre- and post-processing between a :class:`~harness.tasks.datasets.TaskDataset` and a model's
packed output (numpy and PIL only: the parent process decodes and scores, children only run the model).

Every task model is wrapped (``harness.task_modules``) so one float32 NCHW batch at the model's input size
gives one packed tensor, whose layout is its *kind*:

- ``logits``: (N, C), classification.
- ``detections``: (N, 100, 6) rows ``x1, y1, x2, y2`` (input pixels), ``score``, ``label`` (model label
  index); padding rows have label -1 and score 0.
- ``instance_keypoints``: (N, 100, 6 + 3K), detections followed by K x (``x``, ``y``, ``score``) (Keypoint
  R-CNN: people found in the whole image).
- ``keypoints``: (N, K, 3) ``x``, ``y`` (input pixel index), ``score`` of one person crop (top-down pose:
  each annotated person box is cropped, as COCO's ground-truth-box protocol does).
- ``class_map``: (N, H, W) class index at the input size (segmentation, after upsampling).

Images are resized to the input size without keeping the aspect ratio (one fixed-size batch for every
backend); predictions are mapped back to each image's original pixels before scoring.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.errors import BadDataset, ClassCountMismatch

KIND_LOGITS = "logits"
KIND_DETECTIONS = "detections"
KIND_INSTANCE_KEYPOINTS = "instance_keypoints"
KIND_KEYPOINTS = "keypoints"
KIND_CLASS_MAP = "class_map"
KINDS = (KIND_LOGITS, KIND_DETECTIONS, KIND_INSTANCE_KEYPOINTS, KIND_KEYPOINTS, KIND_CLASS_MAP)
MAX_DETECTIONS = 100  # COCO's maxDets
TOP_DOWN_PADDING = 1.25  # person box enlarged by this much around its centre (ViTPose/mmpose's default)


@dataclass(frozen=True)
class Head:
    """What decoding needs to know about a model: its output layout, input size and label names."""

    task: str
    kind: str
    input_size: tuple[int, int, int]  # C, H, W
    labels: dict[int, str]
    keypoint_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class Item:
    """One row of the evaluation batch: which image it came from and how it maps back to its pixels."""

    image_id: int
    width: int  # original image size
    height: int
    crop: tuple[float, float, float, float] | None = None  # x0, y0, w, h in the original (top-down pose)


# ---- inputs ----------------------------------------------------------------------------------------------


def prepare_inputs(
    dataset: Any, head: Head, mean: tuple[float, ...], std: tuple[float, ...]
) -> tuple[np.ndarray, list[Item]]:
    """The float32 NCHW evaluation batch (resized, 0-1, normalised) and one :class:`Item` per row."""
    _, h, w = head.input_size
    rows: list[np.ndarray] = []
    items: list[Item] = []
    for s in dataset.samples:
        image = s.image.convert("RGB")
        iw, ih = image.size
        if head.kind == KIND_KEYPOINTS:
            for box in np.asarray(s.boxes if s.boxes is not None else np.zeros((0, 4)), dtype=np.float64):
                crop = person_crop(box, w / h)
                rows.append(_pixels(_crop(image, crop, (w, h))))
                items.append(Item(int(s.image_id), iw, ih, crop))
        else:
            rows.append(_pixels(image.resize((w, h), _bilinear())))
            items.append(Item(int(s.image_id), iw, ih))
    if not rows:
        raise BadDataset(f"{dataset.name} gives nothing to evaluate (no images, or no person boxes for pose)")
    x = np.stack(rows)
    m = np.asarray(mean, dtype=np.float32)[None, :, None, None]
    sd = np.asarray(std, dtype=np.float32)[None, :, None, None]
    return ((x - m) / sd).astype(np.float32, copy=False), items


def _bilinear() -> Any:
    from PIL import Image

    return Image.Resampling.BILINEAR


def _pixels(image: Any) -> np.ndarray:
    return np.asarray(image, dtype=np.float32).transpose(2, 0, 1) / 255.0


def person_crop(box: np.ndarray, aspect: float) -> tuple[float, float, float, float]:
    """The crop (x0, y0, w, h) around a person box: widened to the input's aspect ratio, then padded."""
    x1, y1, x2, y2 = (float(v) for v in box)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    bw, bh = max(x2 - x1, 1.0), max(y2 - y1, 1.0)
    if bw / bh > aspect:
        bh = bw / aspect
    else:
        bw = bh * aspect
    bw, bh = bw * TOP_DOWN_PADDING, bh * TOP_DOWN_PADDING
    return (cx - bw / 2, cy - bh / 2, bw, bh)


def _crop(image: Any, crop: tuple[float, float, float, float], size: tuple[int, int]) -> Any:
    from PIL import Image

    x0, y0, cw, ch = crop
    return image.transform(size, Image.Transform.EXTENT, (x0, y0, x0 + cw, y0 + ch), _bilinear())


def crop_to_original(
    xy: np.ndarray, crop: tuple[float, float, float, float], hw: tuple[int, int]
) -> np.ndarray:
    """Crop-input pixel indices -> original pixel indices (the inverse of :func:`original_to_crop`)."""
    x0, y0, cw, ch = crop
    out = np.array(xy, dtype=np.float64)
    out[..., 0] = x0 + (out[..., 0] + 0.5) * cw / hw[1] - 0.5
    out[..., 1] = y0 + (out[..., 1] + 0.5) * ch / hw[0] - 0.5
    return out


def original_to_crop(
    xy: np.ndarray, crop: tuple[float, float, float, float], hw: tuple[int, int]
) -> np.ndarray:
    x0, y0, cw, ch = crop
    out = np.array(xy, dtype=np.float64)
    out[..., 0] = (out[..., 0] + 0.5 - x0) * hw[1] / cw - 0.5
    out[..., 1] = (out[..., 1] + 0.5 - y0) * hw[0] / ch - 0.5
    return out


# ---- labels ----------------------------------------------------------------------------------------------


def label_mapping(head: Head, dataset: Any) -> dict[int, int]:
    """Model label index -> dataset category id, by name (harness.tasks.datasets.map_categories); pose
    models must also predict the dataset's number of keypoints."""
    from harness.tasks.datasets import map_categories

    if head.task == "pose":
        k_model, k_data = len(head.keypoint_names), len(dataset.keypoint_names)
        if k_model != k_data:
            raise ClassCountMismatch(
                f"the model predicts {k_model} keypoints but {dataset.name} has {k_data}"
            )
    return map_categories(head.labels, dataset)


# ---- outputs -> predictions ------------------------------------------------------------------------------


def decode(outputs: np.ndarray, items: list[Item], head: Head, mapping: dict[int, int]) -> list[dict]:
    """Detection/pose predictions per image in the metrics' format (original pixels, dataset ids)."""
    if len(outputs) != len(items):
        raise ValueError(f"{len(outputs)} outputs for {len(items)} evaluation rows")
    _, h, w = head.input_size
    per_image: dict[int, list[dict[str, np.ndarray]]] = {}
    for out, item in zip(outputs, items, strict=True):
        per_image.setdefault(item.image_id, []).append(
            _decode_one(np.asarray(out), item, head, mapping, (h, w))
        )
    predictions = []
    for image_id, parts in per_image.items():
        merged = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        predictions.append({"image_id": image_id, **merged})
    return predictions


def _decode_one(
    out: np.ndarray, item: Item, head: Head, mapping: dict[int, int], hw: tuple[int, int]
) -> dict[str, np.ndarray]:
    if head.kind == KIND_KEYPOINTS:
        assert item.crop is not None
        kp = np.array(out, dtype=np.float64)
        kp[:, :2] = crop_to_original(kp[:, :2], item.crop, hw)
        x0, y0, cw, ch = item.crop
        box = np.array([[x0, y0, x0 + cw, y0 + ch]], dtype=np.float32)
        return {
            "keypoints": kp[None].astype(np.float32),
            "scores": np.array([kp[:, 2].mean()], dtype=np.float32),
            "boxes": box,
            "labels": np.array([mapping.get(0, -1)], dtype=np.int64),
        }
    keep = (out[:, 5] >= 0) & (out[:, 4] > 0)
    rows = out[keep]
    labels = rows[:, 5].astype(np.int64)
    mapped = np.array([lab in mapping for lab in labels], dtype=bool)
    rows, labels = rows[mapped], labels[mapped]
    sx, sy = item.width / hw[1], item.height / hw[0]
    boxes = rows[:, :4] * np.array([sx, sy, sx, sy], dtype=np.float32)
    pred = {
        "boxes": boxes.astype(np.float32),
        "scores": rows[:, 4].astype(np.float32),
        "labels": np.array([mapping[lab] for lab in labels], dtype=np.int64),
    }
    if head.kind == KIND_INSTANCE_KEYPOINTS:
        kp = rows[:, 6:].reshape(len(rows), -1, 3).astype(np.float32)
        kp[..., 0] *= sx
        kp[..., 1] *= sy
        pred["keypoints"] = kp
    return pred


def class_map_to_original(out: np.ndarray, item: Item) -> np.ndarray:
    """(H, W) class map at the input size -> (height, width) of the original image, nearest neighbour."""
    h, w = out.shape
    rows = np.minimum(((np.arange(item.height) + 0.5) * h / item.height).astype(np.int64), h - 1)
    cols = np.minimum(((np.arange(item.width) + 0.5) * w / item.width).astype(np.int64), w - 1)
    return np.asarray(out)[rows[:, None], cols[None, :]]


# ---- scoring ---------------------------------------------------------------------------------------------


def score(dataset: Any, outputs: np.ndarray, items: list[Item], head: Head, mapping: dict[int, int]) -> dict:
    """The task's quality metrics (percent) of one run's outputs on ``dataset``."""
    from harness.tasks import metrics

    if head.task == "segmentation":
        meter = metrics.SegmentationMeter(dataset.num_classes, dataset.ignore_index)
        by_id = {s.image_id: s for s in dataset.samples}
        for out, item in zip(outputs, items, strict=True):
            pred = class_map_to_original(np.asarray(out).astype(np.int64), item)
            pred = metrics.to_dataset_classes(pred, mapping, len(head.labels))
            meter.update(pred, by_id[item.image_id].mask)
        return meter.result()
    predictions = decode(outputs, items, head, mapping)
    if head.task == "detection":
        return metrics.detection_metrics(dataset, predictions)
    return metrics.pose_metrics(dataset, predictions)


def output_difference(
    kind: str, expected: np.ndarray, got: np.ndarray, atol: float, rtol: float
) -> tuple[float, float]:
    """(difference, tolerance) of two backends' packed outputs, on what tiny float differences cannot
    reorder: class maps by the fraction of pixels that differ (at most 1%); detections by their scores in
    descending order; top-down keypoints by their peak scores (an argmax may move between equal peaks)."""
    e, g = np.asarray(expected, dtype=np.float64), np.asarray(got, dtype=np.float64)
    if kind == KIND_CLASS_MAP:
        return float(np.mean(e != g)), 0.01
    if kind in (KIND_DETECTIONS, KIND_INSTANCE_KEYPOINTS):
        e, g = -np.sort(-e[..., 4], axis=-1), -np.sort(-g[..., 4], axis=-1)
    elif kind == KIND_KEYPOINTS:
        e, g = e[..., 2], g[..., 2]
    diff = float(np.max(np.abs(e - g))) if e.size else 0.0
    return diff, atol + rtol * (float(np.max(np.abs(e))) if e.size else 0.0)


def output_dtype(kind: str) -> Any:
    """How a child stores a kind's outputs: class maps as integers (a quarter of the float size)."""
    return np.int32 if kind == KIND_CLASS_MAP else np.float32
