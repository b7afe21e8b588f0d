"""``python -m harness.tasks``: the tasks, and a check of a task dataset before anyone submits with it.

- ``list``: every task, its metrics (primary first) and built-in set;
- ``check TASK SPEC [--max-samples N]``: load and validate the set as the harness will, print what it
  holds, and score its ground truth as predictions (100 means the evaluator path works end to end);
- ``export TASK SPEC DIR``: write the set in its task's folder format (a template for your own data).

Exit 0 on success, 2 with one ``error: ...`` line on bad input.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from harness.cli import _ArgumentParser as _Parser  # one-line errors (ConfigError), as python -m harness
from harness.cli import _positive_int as _positive
from harness.config import ConfigError
from harness.errors import EXIT_BAD_INPUT, HarnessError
from harness.tasks import TASK_NAMES, get_task, task_specs


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m harness.tasks", description="Vision tasks, their datasets and metrics.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("list", help="tasks, metrics and built-in sets")
    for name, text in (
        ("check", "validate a dataset and score its ground truth"),
        ("export", "write a dataset as files"),
    ):
        c = sub.add_parser(name, help=text)
        c.add_argument("task", choices=[t for t in TASK_NAMES if t != "classification"])
        c.add_argument(
            "spec", metavar="SPEC", help="synthetic-TASK | COCO .json[::IMAGES] | folder | .parquet | Hub id"
        )
        c.add_argument("--max-samples", type=_positive, metavar="N", help="a fixed-seed subset of N images")
        if name == "export":
            c.add_argument("out", metavar="DIR", type=Path, help="a new or empty folder")
    return p


def describe(ds) -> list[str]:
    """What a set holds, in a few lines (objects per category and COCO size range, pixels per class)."""
    lines = [f"{ds.name} ({ds.split}): {get_task(ds.task).title.lower()}, {len(ds)} images"]
    if ds.task == "segmentation":
        counts: Counter[int] = Counter()
        for s in ds.samples:
            values, n = np.unique(s.mask, return_counts=True)
            counts.update(dict(zip(values.tolist(), n.tolist(), strict=True)))
        total = sum(counts.values())
        for idx, name in sorted(ds.categories.items()):
            lines.append(f"  {idx:>4} {name}: {100 * counts.get(idx, 0) / total:.1f}% of pixels")
        lines.append(
            f"  ignored ({ds.ignore_index}): {100 * counts.get(ds.ignore_index, 0) / total:.1f}% of pixels"
        )
        return lines
    per_cat: Counter[int] = Counter()
    sizes: Counter[str] = Counter()
    for s in ds.samples:
        per_cat.update(s.labels.tolist())
        for a in s.areas.tolist():
            sizes["small" if a < 32**2 else "medium" if a < 96**2 else "large"] += 1
    for cid, name in sorted(ds.categories.items()):
        lines.append(f"  {cid:>4} {name}: {per_cat.get(cid, 0)} objects")
    lines.append(
        "  sizes (COCO area ranges): " + ", ".join(f"{sizes[k]} {k}" for k in ("small", "medium", "large"))
    )
    if ds.task == "pose":
        labelled = sum(int((s.keypoints[..., 2] > 0).sum()) for s in ds.samples)
        lines.append(f"  {len(ds.keypoint_names)} keypoints per person, {labelled} labelled in all")
    return lines


def self_score(ds) -> dict[str, float | None]:
    """The set's ground truth scored as predictions: every metric 100 (None where it has no ground truth)."""
    from harness.tasks import metrics

    if ds.task == "segmentation":
        meter = metrics.SegmentationMeter(ds.num_classes, ds.ignore_index)
        for s in ds.samples:
            meter.update(s.mask, s.mask)
        return meter.result()
    preds = []
    for s in ds.samples:
        keep = ~s.iscrowd if s.iscrowd is not None else np.ones(len(s.boxes), dtype=bool)
        p = {
            "image_id": s.image_id,
            "boxes": s.boxes[keep],
            "scores": np.ones(keep.sum()),
            "labels": s.labels[keep],
        }
        if ds.task == "pose":
            p["keypoints"] = s.keypoints[keep]
        preds.append(p)
    return metrics.detection_metrics(ds, preds) if ds.task == "detection" else metrics.pose_metrics(ds, preds)


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        if args.command == "list":
            for spec in task_specs():
                print(
                    f"{spec.name}: {spec.title}; metrics {', '.join(spec.metric_names)} (ranked by {spec.primary_metric}); built-in set {spec.builtin_dataset}"
                )
            return 0
        from harness.tasks.datasets import load_task_dataset

        ds = load_task_dataset(args.task, args.spec, args.max_samples)
        if args.command == "export":
            from harness.tasks.export import export_dataset

            print(f"wrote {len(ds)} images of {ds.name} to {export_dataset(ds, args.out)}")
            return 0
        print("\n".join(describe(ds)))
        scores = self_score(ds)
        shown = ", ".join(f"{k} {'n/a' if v is None else f'{v:.1f}'}" for k, v in scores.items())
        print(f"  ground truth scored as predictions: {shown}")
        return 0
    except (HarnessError, ConfigError) as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as exc:  # writing the export
        print(f"error: {' '.join(str(exc).split())[:300]}", file=sys.stderr)
        return EXIT_BAD_INPUT
