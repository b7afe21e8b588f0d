"""The task adapters without a model: ground truth fed through the packed output layouts scores 100, a
known perturbation scores less, and what the harness records about task models is checked."""

from __future__ import annotations

import numpy as np
import pytest

from harness.tasks.adapters import (
    KIND_CLASS_MAP,
    KIND_DETECTIONS,
    KIND_INSTANCE_KEYPOINTS,
    KIND_KEYPOINTS,
    MAX_DETECTIONS,
    Head,
    label_mapping,
    original_to_crop,
    output_difference,
    prepare_inputs,
    score,
)
from harness.tasks.datasets import load_task_dataset

MEAN, STD = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)


def _oracle_rows(boxes, labels, sx, sy, extra=None):
    """Packed (100, 6 [+3K]) rows holding the ground truth at the input scale, padded like a model's."""
    n = len(boxes)
    width = 6 + (extra.shape[1] if extra is not None else 0)
    rows = np.zeros((MAX_DETECTIONS, width), dtype=np.float32)
    rows[:, 5] = -1
    rows[:n, :4] = boxes / np.array([sx, sy, sx, sy], dtype=np.float32)
    rows[:n, 4] = 1.0
    rows[:n, 5] = labels
    if extra is not None:
        rows[:n, 6:] = extra
    return rows


def test_detection_oracle_scores_100_and_shifted_boxes_less():
    ds = load_task_dataset("detection", "synthetic-detection", max_samples=8)
    names = ["__background__", *[ds.categories[c] for c in sorted(ds.categories)]]
    head = Head("detection", KIND_DETECTIONS, (3, 48, 64), dict(enumerate(names)))
    mapping = label_mapping(head, ds)
    inverse = {v: k for k, v in mapping.items()}
    x, items = prepare_inputs(ds, head, MEAN, STD)
    assert (
        x.shape == (8, 3, 48, 64)
        and x.dtype == np.float32
        and [i.image_id for i in items] == [s.image_id for s in ds.samples]
    )
    outs = []
    for s, item in zip(ds.samples, items, strict=True):
        sx, sy = item.width / 64, item.height / 48
        outs.append(_oracle_rows(s.boxes, [inverse[int(c)] for c in s.labels], sx, sy))
    outs = np.stack(outs)
    m = score(ds, outs, items, head, mapping)
    assert m["box_map"] == pytest.approx(100.0) and m["box_ap50"] == pytest.approx(100.0)
    shifted = outs.copy()
    shifted[:, :, [0, 2]] += 4.0  # a few input pixels to the right: IoU drops below the strict thresholds
    worse = score(ds, shifted, items, head, mapping)
    assert worse["box_map"] < m["box_map"] and worse["box_ap50"] >= worse["box_ap75"]


def test_segmentation_oracle_scores_100_and_unmapped_classes_are_wrong():
    ds = load_task_dataset("segmentation", "synthetic-segmentation", max_samples=6)
    head = Head("segmentation", KIND_CLASS_MAP, (3, 176, 176), {i: n for i, n in ds.categories.items()})
    mapping = label_mapping(head, ds)
    x, items = prepare_inputs(ds, head, MEAN, STD)
    outs = []
    for s in ds.samples:  # nearest-neighbour upsampling of the mask to the (larger) input size
        h, w = s.mask.shape
        rows = ((np.arange(176) + 0.5) * h / 176).astype(int)
        cols = ((np.arange(176) + 0.5) * w / 176).astype(int)
        m = s.mask[rows[:, None], cols[None, :]].copy()
        m[m == ds.ignore_index] = 0
        outs.append(m)
    outs = np.stack(outs).astype(np.int32)
    assert score(ds, outs, items, head, mapping) == {"miou": pytest.approx(100.0), "pixel_accuracy": 100.0}
    partial = {k: v for k, v in mapping.items() if ds.categories[v] != "dog"}  # "dog" pixels: always wrong
    worse = score(ds, outs, items, head, partial)
    assert worse["miou"] < 100.0 and worse["pixel_accuracy"] < 100.0


def test_top_down_pose_oracle_scores_100():
    ds = load_task_dataset("pose", "synthetic-pose", max_samples=6)
    head = Head("pose", KIND_KEYPOINTS, (3, 64, 48), {0: "person"}, ds.keypoint_names)
    mapping = label_mapping(head, ds)
    x, items = prepare_inputs(ds, head, MEAN, STD)
    assert len(items) == sum(len(s.boxes) for s in ds.samples) and x.shape[1:] == (3, 64, 48)
    outs, k = [], 0
    for s in ds.samples:
        for kp in s.keypoints:  # one crop per annotated person, in order
            xy = original_to_crop(kp[:, :2], items[k].crop, (64, 48))
            outs.append(np.concatenate([xy, np.ones((len(kp), 1))], 1))
            k += 1
    m = score(ds, np.stack(outs).astype(np.float32), items, head, mapping)
    assert m["kp_ap"] == pytest.approx(100.0)


def test_instance_keypoints_oracle_scores_100():
    ds = load_task_dataset("pose", "synthetic-pose", max_samples=4)
    head = Head(
        "pose", KIND_INSTANCE_KEYPOINTS, (3, 96, 96), {0: "__background__", 1: "person"}, ds.keypoint_names
    )
    mapping = label_mapping(head, ds)
    _, items = prepare_inputs(ds, head, MEAN, STD)
    outs = []
    for s, item in zip(ds.samples, items, strict=True):
        sx, sy = item.width / 96, item.height / 96
        kp = s.keypoints.copy()
        kp[..., 0] /= sx
        kp[..., 1] /= sy
        kp[..., 2] = 1.0
        outs.append(_oracle_rows(s.boxes, [1] * len(s.boxes), sx, sy, kp.reshape(len(kp), -1)))
    assert score(ds, np.stack(outs), items, head, mapping)["kp_ap"] == pytest.approx(100.0)


def test_pose_model_with_other_keypoints_is_refused():
    ds = load_task_dataset("pose", "synthetic-pose", max_samples=2)
    head = Head("pose", KIND_KEYPOINTS, (3, 64, 48), {0: "person"}, ("a", "b"))
    with pytest.raises(Exception, match="predicts 2 keypoints but synthetic-pose has 17"):
        label_mapping(head, ds)


def test_output_difference_ignores_reordering_but_not_real_changes():
    a = np.zeros((1, MAX_DETECTIONS, 6), dtype=np.float32)
    a[0, :3, 4] = [0.9, 0.5, 0.4999999]
    b = a[:, [0, 2, 1, *range(3, MAX_DETECTIONS)]]  # two near-equal scores swapped
    diff, tol = output_difference(KIND_DETECTIONS, a, b, 1e-4, 1e-3)
    assert diff < tol
    c = a.copy()
    c[0, 0, 4] = 0.7
    assert output_difference(KIND_DETECTIONS, a, c, 1e-4, 1e-3)[0] > tol
    maps = np.zeros((2, 10, 10))
    flipped = maps.copy()
    flipped[0, 0, 0] = 1  # 1 pixel of 200: 0.5%
    assert output_difference(KIND_CLASS_MAP, maps, flipped, 0, 0) == (0.005, 0.01)
