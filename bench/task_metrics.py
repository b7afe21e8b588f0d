"""What scoring costs per evaluation, and why faster-coco-eval: COCO box AP of a detector-like prediction
set (``--dets`` scored boxes per image, most of them low-confidence noise, as a detector emits at a low
threshold) on the synthetic detection set, timed through ``harness.tasks.metrics`` (faster-coco-eval) and
through pycocotools' COCOeval on the same ground truth and detections, in one run; both must agree to
1e-6. Also the segmentation confusion matrix's throughput.

    .venv/bin/python bench/task_metrics.py [--images 200] [--dets 100] [--repeat 3]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.tasks import synthetic as syn  # noqa: E402
from harness.tasks.datasets import TaskDataset, TaskSample, check_sample  # noqa: E402
from harness.tasks.metrics import SegmentationMeter, coco_ground_truth, detection_metrics  # noqa: E402


def detector_like(ds: TaskDataset, per_image: int, rng: np.random.Generator) -> list[dict]:
    preds = []
    cats = np.array(sorted(ds.categories))
    for s in ds.samples:
        w, h = s.image.size
        hits = s.boxes + rng.normal(0, 3, size=s.boxes.shape)
        n_noise = max(0, per_image - len(hits))
        xy = rng.uniform(0, [w, h], size=(n_noise, 2))
        noise = np.concatenate([xy, xy + rng.uniform(4, 60, size=(n_noise, 2))], axis=1)
        boxes = np.concatenate([hits, noise])
        boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 1)
        scores = np.concatenate([rng.uniform(0.5, 1, len(hits)), rng.uniform(0, 0.6, n_noise)])
        labels = np.concatenate([s.labels, rng.choice(cats, n_noise)])
        preds.append({"image_id": s.image_id, "boxes": boxes, "scores": scores, "labels": labels})
    return preds


def pycocotools_map(ds: TaskDataset, preds: list[dict]) -> float:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    results = [
        {
            "image_id": p["image_id"],
            "category_id": int(lab),
            "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]],
            "score": float(sc),
        }
        for p in preds
        for b, sc, lab in zip(p["boxes"].tolist(), p["scores"], p["labels"], strict=True)
    ]
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = copy.deepcopy(coco_ground_truth(ds))
        gt.createIndex()
        ev = COCOeval(gt, gt.loadRes(results), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return 100 * float(ev.stats[0])


def timed(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--dets", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    samples = [TaskSample(**s) for s in syn.detection_samples(n=args.images)]
    ds = TaskDataset("synthetic-detection", "bench", "detection", samples, dict(syn.DETECTION_CATEGORIES), 5)
    for s in ds.samples:
        check_sample(ds, s)
    preds = detector_like(ds, args.dets, rng)
    n_dets = sum(len(p["boxes"]) for p in preds)
    t_fast, ours = timed(lambda: detection_metrics(ds, preds), args.repeat)
    t_ref, ref = timed(lambda: pycocotools_map(ds, preds), args.repeat)
    assert isinstance(ours, dict) and isinstance(ref, float)
    agree = abs(ours["box_map"] - ref) < 1e-6
    print(f"box AP on {len(ds)} images, {n_dets} detections (median of {args.repeat}):")
    print(f"  harness.tasks.metrics (faster-coco-eval) {t_fast:.3f} s   box_map {ours['box_map']:.4f}")
    print(f"  pycocotools COCOeval                    {t_ref:.3f} s   box_map {ref:.4f}")
    print(f"  ratio pycocotools / ours: {t_ref / t_fast:.1f}x; values agree to 1e-6: {agree}")

    masks = [s["mask"] for s in syn.segmentation_samples(n=min(args.images, 64))]
    meter = SegmentationMeter(len(syn.SEGMENTATION_CLASSES))
    pixels = sum(m.size for m in masks)
    t_seg, _ = timed(lambda: [meter.update(m, m) for m in masks], args.repeat)
    print(f"segmentation confusion matrix: {pixels / t_seg / 1e6:.1f} M pixels/s ({len(masks)} masks)")
    if not agree:
        sys.exit(1)


if __name__ == "__main__":
    main()
