"""Evaluation data for the non-classification tasks: one :class:`TaskDataset` of :class:`TaskSample`
whatever the source (built-in synthetic set, COCO JSON + images, image + mask folders, Parquet /
``datasets.save_to_disk`` / Hub id), validated once here so metrics and the harness can trust it.

Every problem with the input is a one-line :class:`~harness.errors.BadDataset`. Annotations are checked
for the whole file (types, finite numbers, sizes); images are decoded, and checked against their
annotations, only for the deterministic ``max_samples`` subset that is kept.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.errors import BadDataset
from harness.tasks import get_task
from harness.tasks import synthetic as syn

SUBSET_SEED = 0  # the same one harness.data uses: a given max_samples keeps the same images every run
MAX_SPEC_CHARS = 1000


@dataclass
class TaskSample:
    image_id: int
    image: Any  # PIL.Image.Image, RGB, original size
    boxes: np.ndarray | None = None  # (N, 4) float32 xyxy pixels (detection, pose person boxes)
    labels: np.ndarray | None = None  # (N,) int64 dataset category ids
    mask: Any = None  # np.ndarray (H, W) int64 class index per pixel, ignore_index where unlabelled
    keypoints: np.ndarray | None = None  # (N, K, 3) float32 x, y, visibility (pose)
    areas: np.ndarray | None = None  # (N,) float32 (COCO area; defaults to the box area)
    iscrowd: np.ndarray | None = None  # (N,) bool: COCO crowd regions (neither hits nor misses); None = none


@dataclass
class TaskDataset:
    name: str
    split: str
    task: str
    samples: list[TaskSample]
    categories: dict[int, str]  # category id -> name (detection/pose); class index -> name (segmentation;
    # an index below num_classes without a name is not a class: its pixels count as ignore_index)
    num_classes: int
    ignore_index: int = 255  # segmentation
    keypoint_names: tuple[str, ...] = ()  # pose
    keypoint_sigmas: tuple[float, ...] = ()  # pose OKS sigmas

    def __len__(self) -> int:
        return len(self.samples)


SYNTHETIC_SETS = {
    "synthetic-detection": "detection",
    "synthetic-segmentation": "segmentation",
    "synthetic-pose": "pose",
}


def load_task_dataset(task: str, spec: str, max_samples: int | None = None) -> TaskDataset:
    """The evaluation set a spec names for ``task``, reduced to a fixed ``max_samples`` subset."""
    from PIL import Image

    from harness.tasks import sources  # imports this module: loaded here, not at the top

    spec_obj = get_task(task)
    if task == "classification":
        raise BadDataset("classification data is loaded by harness.data (digits, image folders, Parquet)")
    if not isinstance(spec, str) or not spec.strip():
        raise BadDataset("dataset is empty")
    spec = spec.strip()
    if len(spec) > MAX_SPEC_CHARS or "\x00" in spec:
        raise BadDataset(f"dataset spec is not a usable name or path ({len(spec)} characters)")
    if max_samples is not None and (
        isinstance(max_samples, bool) or not isinstance(max_samples, int) or max_samples < 1
    ):
        raise BadDataset(f"max_samples must be a positive integer, not {max_samples!r}")
    if spec in SYNTHETIC_SETS:
        if SYNTHETIC_SETS[spec] != task:
            raise BadDataset(
                f"{spec} is a {SYNTHETIC_SETS[spec]} set, not {task} (use {spec_obj.builtin_dataset})"
            )
        ds = synthetic_dataset(task)
    else:
        ds = sources.load_source(task, spec)
    if not ds.samples:
        raise BadDataset(f"dataset {spec} has no images")
    ds = subset(ds, max_samples)
    for sample in ds.samples:
        if not isinstance(sample.image, Image.Image) or isinstance(sample.mask, sources.ImageRef):
            sources.decode_sample(ds, sample)  # decode only the kept samples
        check_sample(ds, sample)
    return ds


_GENERATORS = {
    "detection": syn.detection_samples,
    "segmentation": syn.segmentation_samples,
    "pose": syn.pose_samples,
}


@functools.lru_cache(maxsize=len(_GENERATORS))
def _generated(task: str) -> tuple[dict, ...]:
    """Drawn once per process (a few hundred ms); callers get copies they may change."""
    return tuple(_GENERATORS[task]())


def _copy(fields: dict) -> TaskSample:
    return TaskSample(**{k: v.copy() if hasattr(v, "copy") else v for k, v in fields.items()})


def synthetic_dataset(task: str) -> TaskDataset:
    """The built-in set of a task (see harness.tasks.synthetic); deterministic, 128-160 px images."""
    if task not in _GENERATORS:
        raise BadDataset(f"no synthetic set for task {task!r}")
    samples = [_copy(s) for s in _generated(task)]
    if task == "detection":
        cats = dict(syn.DETECTION_CATEGORIES)
        return TaskDataset("synthetic-detection", "test", task, samples, cats, len(cats))
    if task == "segmentation":
        names = dict(enumerate(syn.SEGMENTATION_CLASSES))
        return TaskDataset(
            "synthetic-segmentation", "test", task, samples, names, len(names), ignore_index=syn.IGNORE_INDEX
        )
    return TaskDataset(
        "synthetic-pose",
        "test",
        task,
        samples,
        {1: "person"},
        1,
        keypoint_names=syn.COCO_KEYPOINT_NAMES,
        keypoint_sigmas=syn.COCO_KEYPOINT_SIGMAS,
    )


def subset(ds: TaskDataset, max_samples: int | None) -> TaskDataset:
    """A fixed-seed sample in the original order, so runs with the same max_samples are comparable."""
    if max_samples is None or max_samples >= len(ds.samples):
        return ds
    idx = np.sort(np.random.default_rng(SUBSET_SEED).permutation(len(ds.samples))[:max_samples])
    ds.samples = [ds.samples[i] for i in idx]
    return ds


def _arr(value: Any, what: str, where: str, dtype: Any, shape_tail: tuple[int, ...]) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim != 1 + len(shape_tail) or tuple(arr.shape[1:]) != shape_tail:
        raise BadDataset(
            f"{where}: {what} must have shape (N, {', '.join(map(str, shape_tail))}), got {arr.shape}"
        )
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise BadDataset(f"{where}: {what} must be numbers, got {arr.dtype}")
    if not np.all(np.isfinite(arr)):
        raise BadDataset(f"{where}: {what} has NaN or infinite values")
    return arr.astype(dtype)


BOX_TOLERANCE_PX = 1.0  # annotation tools round; a box this far past the edge is clipped, further is an error


def check_sample(ds: TaskDataset, s: TaskSample) -> None:
    """Refuse a sample whose annotations do not fit its image or the dataset (one line naming the image);
    normalise dtypes, clip boxes within the rounding tolerance and fill missing areas with box areas."""
    where = f"dataset {ds.name} image {s.image_id}"
    width, height = s.image.size
    if ds.task in ("detection", "pose"):
        boxes = _arr(s.boxes if s.boxes is not None else np.zeros((0, 4)), "boxes", where, np.float32, (4,))
        labels = np.asarray(s.labels if s.labels is not None else np.zeros(0), dtype=np.float64)
        if (
            labels.shape != (len(boxes),)
            or not np.all(np.isfinite(labels))
            or np.any(labels != np.round(labels))
        ):
            raise BadDataset(f"{where}: labels must be one integer per box")
        unknown = sorted({int(v) for v in labels} - set(ds.categories))
        if unknown:
            raise BadDataset(f"{where}: category ids {unknown[:5]} are not in the dataset's categories")
        if len(boxes) and np.any(boxes[:, 2:] < boxes[:, :2]):
            raise BadDataset(f"{where}: a box has negative width or height")
        limit = np.array([width, height, width, height], dtype=np.float32) + BOX_TOLERANCE_PX
        if len(boxes) and (np.any(boxes < -BOX_TOLERANCE_PX) or np.any(boxes > limit)):
            bad = boxes[np.any((boxes < -BOX_TOLERANCE_PX) | (boxes > limit), axis=1)][0]
            raise BadDataset(
                f"{where}: box {[round(float(v), 1) for v in bad]} lies outside the {width}x{height} image"
            )
        s.boxes = np.clip(boxes, 0, [width, height, width, height]).astype(np.float32)
        if s.iscrowd is not None:
            crowd = np.asarray(s.iscrowd)
            if crowd.shape != (len(boxes),) or not np.isin(crowd, (0, 1)).all():
                raise BadDataset(f"{where}: iscrowd must be one 0/1 flag per box")
            s.iscrowd = crowd.astype(bool)
        s.labels = labels.astype(np.int64)
        box_areas = (s.boxes[:, 2] - s.boxes[:, 0]) * (s.boxes[:, 3] - s.boxes[:, 1])
        if s.areas is None:
            s.areas = box_areas.astype(np.float32)
        else:
            areas = _arr(s.areas, "areas", where, np.float32, ())
            if areas.shape != (len(boxes),) or np.any(areas < 0):
                raise BadDataset(f"{where}: areas must be one non-negative number per box")
            s.areas = areas
    if ds.task == "pose":
        k = len(ds.keypoint_names)
        kps = _arr(
            s.keypoints if s.keypoints is not None else np.zeros((0, k, 3)),
            "keypoints",
            where,
            np.float32,
            (k, 3),
        )
        n_boxes = 0 if s.boxes is None else len(s.boxes)
        if len(kps) != n_boxes:
            raise BadDataset(f"{where}: {len(kps)} keypoint sets for {n_boxes} person boxes")
        if not np.isin(kps[..., 2], (0, 1, 2)).all():
            raise BadDataset(f"{where}: keypoint visibility must be 0, 1 or 2")
        s.keypoints = kps
    if ds.task == "segmentation":
        if s.mask is None:
            raise BadDataset(f"{where}: no mask")
        mask = np.asarray(s.mask)
        if mask.shape != (height, width):
            raise BadDataset(
                f"{where}: mask is {mask.shape[::-1] if mask.ndim == 2 else mask.shape} but the image is {width}x{height}"
            )
        if not np.issubdtype(mask.dtype, np.integer):
            raise BadDataset(f"{where}: mask must hold integer class indices, got {mask.dtype}")
        bad = (mask != ds.ignore_index) & ((mask < 0) | (mask >= ds.num_classes))
        if bad.any():
            raise BadDataset(
                f"{where}: mask has class {int(mask[bad][0])} outside 0..{ds.num_classes - 1} (ignore index {ds.ignore_index})"
            )
        unnamed = [i for i in range(ds.num_classes) if i not in ds.categories]
        if unnamed:  # e.g. ADE-style 0 = "other": an index the class list leaves out is not scored
            mask = np.where(np.isin(mask, unnamed), ds.ignore_index, mask)
        s.mask = mask.astype(np.int64)


_GENERIC = re.compile(r"^(?:label|class|cls|category|id)?[_ -]?(\d+)$")


# Pascal VOC's names for four COCO classes, so VOC-trained models (torchvision's segmenters) map onto
# COCO-named data and back.
_SYNONYMS = {"aeroplane": "airplane", "motorbike": "motorcycle", "tvmonitor": "tv", "sofa": "couch"}


def normalise_label(name: Any) -> str:
    """Compare names the way people write them: case, spaces, '_' and '-' ignored ("dining table" ==
    "diningtable", "__background__" == "background", VOC "tvmonitor" == COCO "tv"); generic names
    ("LABEL_3", "class_3", "3") become "#3" so an unnamed model matches an unnamed dataset by index."""
    text = str(name).strip().lower()
    generic = _GENERIC.match(text)
    if generic:
        return f"#{int(generic.group(1))}"
    key = re.sub(r"[\s_\-]+", "", text)
    return _SYNONYMS.get(key, key)


_UNUSED = {"", "n/a", "na", "none"}  # torchvision's COCO list pads unused ids with "N/A"
_OPTIONAL = {"background"}  # a segmentation background class need not exist in the model


def map_categories(model_labels: dict[int, str], dataset: TaskDataset) -> dict[int, int]:
    """Model label index -> dataset category id, matched by name. Every dataset category must be found
    among the model's labels (a score computed on part of the classes would not be comparable); the error
    names the classes that are missing."""
    if not isinstance(model_labels, dict) or not model_labels:
        raise BadDataset(
            "the model declares no class names, so its classes cannot be matched to the dataset's"
        )
    wanted: dict[str, int] = {}
    for cid, name in dataset.categories.items():
        key = normalise_label(name)
        if key in _UNUSED:
            continue
        wanted.setdefault(key, cid)
    mapping: dict[int, int] = {}
    for idx, name in model_labels.items():
        key = normalise_label(name)
        if key not in _UNUSED and key in wanted:
            mapping[int(idx)] = wanted[key]
    found = set(mapping.values())
    missing = [dataset.categories[c] for c in wanted.values() if c not in found]
    if dataset.task == "segmentation":
        missing = [m for m in missing if normalise_label(m) not in _OPTIONAL]
    if not mapping or missing:
        shown = ", ".join(repr(str(m))[:40] for m in missing[:8]) + (
            f" and {len(missing) - 8} more" if len(missing) > 8 else ""
        )
        sample = ", ".join(repr(str(v))[:30] for v in list(model_labels.values())[:6])
        raise BadDataset(
            f"dataset {dataset.name} classes {shown or '(all)'} match none of the model's {len(model_labels)} labels "
            f"(e.g. {sample}); class names must match (case, spaces and '_' ignored)"
        )
    return mapping
