"""Write a :class:`TaskDataset` in the on-disk formats :mod:`harness.tasks.sources` reads: a COCO folder
(``annotations.json`` + ``images/``) for detection and pose, ``images/`` + ``masks/`` + ``classes.txt``
for segmentation. Users get a template of the format from the built-in sets; tests get real files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from harness.errors import BadDataset
from harness.tasks.datasets import TaskDataset
from harness.tasks.metrics import coco_ground_truth
from harness.tasks.synthetic import COCO_SKELETON


def _empty_folder(root: Path) -> Path:
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise BadDataset(f"{root} exists and is not an empty folder; choose a new one")
    root.mkdir(parents=True, exist_ok=True)
    return root


def write_coco(
    ds: TaskDataset, root: Path, images_dir: str = "images", name: str = "annotations.json"
) -> Path:
    """PNG images + one COCO annotation file (keypoint names and COCO's skeleton for pose); returns it."""
    if ds.task not in ("detection", "pose"):
        raise BadDataset(f"COCO files hold detection or pose sets, not {ds.task}")
    images = _empty_folder(Path(root) / images_dir)
    coco = coco_ground_truth(ds)
    for img, s in zip(coco["images"], ds.samples, strict=True):
        img["file_name"] = f"{s.image_id:06d}.png"
        s.image.save(images / img["file_name"])
    if ds.task == "pose":
        for cat in coco["categories"]:
            if len(ds.keypoint_names) == 17:
                cat["skeleton"] = [[a + 1, b + 1] for a, b in COCO_SKELETON]
            cat["sigmas"] = list(ds.keypoint_sigmas)
    path = Path(root) / name
    path.write_text(json.dumps(coco))
    return path


def write_mask_folder(ds: TaskDataset, root: Path) -> Path:
    """``images/NAME.png``, ``masks/NAME.png`` (class index per pixel, 255 ignore) and ``classes.txt``."""
    from PIL import Image

    if ds.task != "segmentation":
        raise BadDataset(f"mask folders hold segmentation sets, not {ds.task}")
    root = _empty_folder(Path(root))
    (root / "images").mkdir()
    (root / "masks").mkdir()
    for s in ds.samples:
        s.image.save(root / "images" / f"{s.image_id:06d}.png")
        Image.fromarray(np.asarray(s.mask).astype(np.uint8), mode="L").save(
            root / "masks" / f"{s.image_id:06d}.png"
        )
    (root / "classes.txt").write_text("".join(f"{ds.categories[i]}\n" for i in range(ds.num_classes)))
    return root


def export_dataset(ds: TaskDataset, root: Path) -> Path:
    """The dataset in its task's folder format under ``root`` (a new or empty folder)."""
    if ds.task == "segmentation":
        return write_mask_folder(ds, root)
    return write_coco(ds, _empty_folder(Path(root)))
