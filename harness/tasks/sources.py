"""Readers for task data on disk or on the Hub, each turning its format into a :class:`TaskDataset`:

- COCO annotation JSON (detection boxes, or person keypoints for pose) with its image folder,
  ``ANN.json::IMAGES_DIR`` or found beside the JSON;
- a segmentation folder ``ROOT/images/NAME.*`` + ``ROOT/masks/NAME.png`` (+ ``classes.txt``);
- a Parquet file, a ``datasets.save_to_disk`` folder (``PATH[:SPLIT]``) or a Hub dataset id
  (``org/name[:split]``) with an image column and COCO-style ``objects`` {bbox (xywh), category}
  (detection) or a mask column (segmentation).

Nothing here trusts a file: non-regular files (FIFOs, devices) are never opened, the JSON is size-capped
and checked field by field, image paths may not leave their folder. Images and masks stay undecoded
(:class:`ImageRef`) until the dataset has been cut to the samples that are kept.
"""

from __future__ import annotations

import json
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

# the classification reader's suffixes, PIL decoding and column lookup, shared
from harness.data import _IMAGE_COLUMNS, IMAGE_SUFFIXES, _pick
from harness.data import _open as _open_rgb
from harness.errors import BadDataset
from harness.tasks import synthetic as syn
from harness.tasks.datasets import TaskDataset, TaskSample

_HUB_ID = re.compile(
    r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}(?::[A-Za-z0-9._-]{1,64})?$"
)
MAX_ANNOTATION_BYTES = 512 * 1024 * 1024  # COCO train2017 instances is 448 MB; anything larger is refused
MAX_JSON_DEPTH = 16  # a COCO file nests 5 deep (polygons); deeper is not COCO
MAX_CLASSES = 100_000
CLASS_FILES = ("classes.txt", "id2label.json", "classes.json")
_MASK_COLUMNS = (
    "mask",
    "annotation",
    "label",
    "labels",
    "segmentation",
    "semantic_segmentation",
    "gt",
    "target",
)


@dataclass(frozen=True)
class ImageRef:
    """An image (or mask) not yet decoded: a path, encoded bytes or a ``{"bytes", "path"}`` dict; ``size``
    is the (width, height) the annotations were made for, when the source says; a path under ``root``
    must still be inside it once links are resolved (checked at decoding, for the kept samples only)."""

    source: Any
    size: tuple[int, int] | None = None
    root: Path | None = None


def _short(value: Any, limit: int = 120) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def regular_file(path: Path, what: str) -> Path:
    """``path`` if it is a regular file; a FIFO, device or folder is refused without being opened."""
    try:
        st = path.stat()
    except OSError as exc:
        raise BadDataset(f"{what} {_short(path)} cannot be read: {exc.strerror or exc}") from None
    if not stat.S_ISREG(st.st_mode):
        raise BadDataset(f"{what} {_short(path)} is not a regular file")
    return path


def decode_image(ref: Any, where: str):
    """The RGB PIL image of a reference, checked against the size its annotations expect."""
    from PIL import Image

    if isinstance(ref, Image.Image):
        return ref.convert("RGB")
    src = ref.source if isinstance(ref, ImageRef) else ref
    if isinstance(ref, ImageRef) and ref.root is not None:
        src = _inside(ref.root, src, where)
    if isinstance(src, dict):  # a datasets Image cell: encoded bytes, or a path to open
        src = src.get("bytes") or src.get("path")
    if isinstance(src, str | Path):
        regular_file(Path(src), f"{where} image")
    try:
        image = _open_rgb(src)
    except BadDataset as exc:
        raise BadDataset(f"{where}: {exc}") from None
    except (
        Image.DecompressionBombError
    ) as exc:  # PIL's pixel cap: not an error the classification reader maps
        raise BadDataset(f"{where}: image too large to decode: {_short(exc)}") from None
    if isinstance(ref, ImageRef) and ref.size is not None and image.size != ref.size:
        raise BadDataset(
            f"{where}: the image is {image.size[0]}x{image.size[1]} but its annotations say {ref.size[0]}x{ref.size[1]}"
        )
    return image


def decode_mask(ref: Any, where: str) -> np.ndarray:
    """An (H, W) int64 class-index mask from a single-channel image (L, P, I;16, I) or an array."""
    from PIL import Image, UnidentifiedImageError

    if isinstance(ref, np.ndarray):
        return ref
    src = ref.source if isinstance(ref, ImageRef) else ref
    if isinstance(src, dict):
        src = src.get("bytes") or src.get("path")
    try:
        if isinstance(src, Image.Image):
            im = src
        elif isinstance(src, bytes):
            import io

            im = Image.open(io.BytesIO(src))
        elif isinstance(src, str | Path):
            im = Image.open(regular_file(Path(src), f"{where} mask"))
        else:
            raise BadDataset(f"{where}: mask is a {type(src).__name__}, not an image")
        with im:
            if im.mode not in ("L", "P", "I", "I;16", "1"):
                raise BadDataset(
                    f"{where}: mask has mode {im.mode}; save class indices as a single-channel (L or P) PNG"
                )
            return np.asarray(im).astype(np.int64)
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as exc:
        raise BadDataset(f"{where}: cannot read mask: {_short(exc)}") from None


def decode_sample(ds: TaskDataset, sample: TaskSample) -> None:
    where = f"dataset {ds.name} image {sample.image_id}"
    sample.image = decode_image(sample.image, where)
    if sample.mask is not None:
        sample.mask = decode_mask(sample.mask, where)


# ---- dispatch ---------------------------------------------------------------------------------------


def load_source(task: str, spec: str) -> TaskDataset:
    """The dataset a (non-built-in) spec names; images undecoded (see :func:`decode_sample`)."""
    ann, sep, images = spec.partition("::")
    if sep:
        return load_coco(task, Path(ann).expanduser(), Path(images).expanduser())
    path = Path(spec).expanduser()
    base, colon, split = spec.rpartition(":")
    if not path.exists() and colon and Path(base).expanduser().is_dir():
        return load_saved(task, Path(base).expanduser(), split)
    if path.is_dir():
        if (path / "dataset_info.json").is_file() or (path / "dataset_dict.json").is_file():
            return load_saved(task, path, None)
        if (path / "images").is_dir() and (path / "masks").is_dir():
            return load_mask_folder(task, path)
        if (path / "annotations.json").exists():
            return load_coco(task, path / "annotations.json", None)
        raise BadDataset(
            f"dataset folder {_short(path)} is not one of: images/ + masks/ (segmentation), annotations.json + "
            "images (COCO), a datasets.save_to_disk folder"
        )
    if path.exists():
        if path.suffix.lower() == ".json":
            return load_coco(task, path, None)
        if path.suffix.lower() == ".parquet":
            return load_parquet(task, path)
        raise BadDataset(f"dataset file {_short(path)} is neither COCO .json nor .parquet")
    if (
        spec.startswith(("/", ".", "~"))
        or spec.endswith((".json", ".parquet"))
        or spec.count("/") > 1
        or "\\" in spec
    ):
        raise BadDataset(f"dataset path {_short(spec)} does not exist")
    if not _HUB_ID.match(spec):
        raise BadDataset(
            f"dataset {_short(spec, 80)!r} is not a built-in set (synthetic-{task}), an existing path or a Hub id "
            "(org/name[:split])"
        )
    return load_hub(task, spec)


# ---- COCO JSON --------------------------------------------------------------------------------------


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def read_json(path: Path, max_bytes: int | None = None) -> Any:
    """A JSON file, refused unread when it is not a regular file or over the size cap."""
    from store.base import json_depth_exceeds

    limit = MAX_ANNOTATION_BYTES if max_bytes is None else max_bytes
    regular_file(path, "annotation file")
    size = path.stat().st_size
    if size > limit:
        raise BadDataset(f"annotation file {_short(path)} is {size} bytes, over the {limit}-byte limit")
    try:
        with path.open("rb") as fh:
            data = fh.read(limit + 1)
        if len(data) > limit:
            raise BadDataset(f"annotation file {_short(path)} grew over the {limit}-byte limit while read")
        obj = json.loads(data.decode("utf-8"), parse_constant=_refuse_constant)
    except BadDataset:
        raise
    except RecursionError:
        raise BadDataset(f"annotation file {_short(path)} nests too deeply") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise BadDataset(f"annotation file {_short(path)} is not valid JSON: {_short(exc)}") from None
    if json_depth_exceeds(obj, MAX_JSON_DEPTH):
        raise BadDataset(f"annotation file {_short(path)} nests deeper than {MAX_JSON_DEPTH} levels")
    return obj


def _int(value: Any, where: str, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or (minimum is not None and value < minimum):
        bound = f" >= {minimum}" if minimum is not None else ""
        raise BadDataset(f"{where} must be an integer{bound}, not {_short(repr(value), 40)}")
    return value


def _numbers(value: Any, n: int | None, where: str) -> list[float]:
    if (
        not isinstance(value, list)
        or (n is not None and len(value) != n)
        or any(isinstance(v, bool) or not isinstance(v, int | float) for v in value)
    ):
        raise BadDataset(
            f"{where} must be a list of {n if n is not None else ''} numbers, not {_short(repr(value), 60)}"
        )
    out = [float(v) for v in value]
    if not all(np.isfinite(out)):
        raise BadDataset(f"{where} has a non-finite number")
    return out


def _list_of_dicts(obj: dict, key: str, where: str) -> list[dict]:
    value = obj.get(key)
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise BadDataset(f"{where}: '{key}' must be a list of objects")
    return value


def _keypoint_spec(cat: dict, where: str) -> tuple[tuple[str, ...], tuple[float, ...]]:
    names = cat.get("keypoints")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise BadDataset(
            f"{where}: the person category has no 'keypoints' name list (COCO keypoint format expected)"
        )
    if "sigmas" in cat:
        sigmas = _numbers(cat["sigmas"], len(names), f"{where}: category 'sigmas'")
        if min(sigmas) <= 0:
            raise BadDataset(f"{where}: keypoint sigmas must be positive")
        return tuple(names), tuple(sigmas)
    if len(names) == len(syn.COCO_KEYPOINT_NAMES):
        return tuple(names), syn.COCO_KEYPOINT_SIGMAS
    raise BadDataset(
        f"{where}: OKS sigmas are known for COCO's 17 keypoints only; this set has {len(names)}: add 'sigmas' to the category"
    )


def _find_images_dir(ann_path: Path, file_names: list[Path]) -> Path:
    """The first of images/, the JSON's own folder and COCO's ``SPLIT/`` (instances_val2017.json -> val2017/)
    beside it or one level up that holds any of the first images."""
    parent = ann_path.parent
    stem = ann_path.stem.rpartition("_")[2]
    candidates = [parent / "images", parent, parent.parent / "images", parent.parent / stem, parent / stem]
    for c in candidates:
        if any((c / f).exists() for f in file_names[:20]):
            return c
    raise BadDataset(
        f"images of {_short(ann_path)} not found (looked for {_short(file_names[0], 60)} in images/ and {stem}/ beside it); "
        "name the folder as ANN.json::IMAGES_DIR"
    )


def _relative(file_name: Any, where: str) -> Path:
    """A COCO ``file_name`` as a path that stays inside its image folder (checked before any lookup)."""
    if not isinstance(file_name, str) or not file_name or "\x00" in file_name or len(file_name) > 1000:
        raise BadDataset(f"{where}: file_name must be a relative path, not {_short(repr(file_name), 60)}")
    rel = Path(file_name)
    if rel.is_absolute() or ".." in rel.parts:
        raise BadDataset(f"{where}: file_name {_short(file_name, 80)} leaves the image folder")
    return rel


def _inside(root: Path, rel: Path, where: str) -> Path:
    path = (root / rel).resolve()
    if not path.is_relative_to(root.resolve()):
        raise BadDataset(f"{where}: file_name {_short(rel, 80)} links outside the image folder")
    return path


def load_coco(task: str, ann_path: Path, images_dir: Path | None) -> TaskDataset:
    """A COCO annotation file: ``instances_*.json`` for detection, ``person_keypoints_*.json`` for pose."""
    if task not in ("detection", "pose"):
        raise BadDataset(
            f"COCO JSON annotations serve detection and pose, not {task} (use images/ + masks/ folders)"
        )
    where = f"COCO file {ann_path.name}"
    obj = read_json(ann_path)
    if not isinstance(obj, dict):
        raise BadDataset(f"{where} must hold a JSON object with images, annotations and categories")
    images = _list_of_dicts(obj, "images", where)
    anns = _list_of_dicts(obj, "annotations", where)
    cats = _list_of_dicts(obj, "categories", where)
    if not cats:
        raise BadDataset(f"{where} has no categories")
    categories: dict[int, str] = {}
    kp_names: tuple[str, ...] = ()
    kp_sigmas: tuple[float, ...] = ()
    for i, cat in enumerate(cats):
        cid = _int(cat.get("id"), f"{where} categories[{i}].id")
        name = cat.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 200:
            raise BadDataset(f"{where} categories[{i}].name must be a non-empty string")
        if cid in categories:
            raise BadDataset(f"{where} has category id {cid} twice")
        if task == "pose":
            if "keypoints" not in cat:
                continue  # a pose set scores its keypoint categories only
            if kp_names:
                raise BadDataset(f"{where} has more than one keypoint category; one (person) is supported")
            kp_names, kp_sigmas = _keypoint_spec(cat, where)
        categories[cid] = name
    if task == "pose" and not kp_names:
        raise BadDataset(
            f"{where} has no category with 'keypoints' (a person_keypoints_*.json file is expected)"
        )
    samples: dict[int, TaskSample] = {}
    files: dict[int, Path] = {}
    sizes: dict[int, tuple[int, int]] = {}
    for i, img in enumerate(images):
        iid = _int(img.get("id"), f"{where} images[{i}].id")
        if iid in samples:
            raise BadDataset(f"{where} has image id {iid} twice")
        w = _int(img.get("width"), f"{where} images[{i}].width", 1)
        h = _int(img.get("height"), f"{where} images[{i}].height", 1)
        files[iid] = _relative(img.get("file_name"), f"{where} image {iid}")
        sizes[iid] = (w, h)
        samples[iid] = TaskSample(image_id=iid, image=None)
    per_image: dict[int, list[tuple]] = {iid: [] for iid in samples}
    k = len(kp_names)
    for i, ann in enumerate(anns):
        at = f"{where} annotations[{i}]"
        iid = _int(ann.get("image_id"), f"{at}.image_id")
        cid = _int(ann.get("category_id"), f"{at}.category_id")
        if iid not in samples:
            raise BadDataset(f"{at} refers to image {iid}, which is not in 'images'")
        if cid not in categories:
            if task == "pose":
                continue
            raise BadDataset(f"{at} has category {cid}, which is not in 'categories'")
        bx, by, bw, bh = _numbers(ann.get("bbox"), 4, f"{at}.bbox")
        if bw < 0 or bh < 0:
            raise BadDataset(f"{at}.bbox has a negative width or height")
        area = _numbers([ann.get("area", bw * bh)], 1, f"{at}.area")[0]
        if area < 0:
            raise BadDataset(f"{at}.area is negative")
        crowd = ann.get("iscrowd", 0)
        if crowd not in (0, 1) or isinstance(crowd, bool):
            raise BadDataset(f"{at}.iscrowd must be 0 or 1")
        kps = None
        if task == "pose":
            flat = _numbers(ann.get("keypoints"), 3 * k, f"{at}.keypoints")
            kps = np.asarray(flat, dtype=np.float32).reshape(k, 3)
        per_image[iid].append(([bx, by, bx + bw, by + bh], cid, area, crowd, kps))
    for iid, rows in per_image.items():
        s = samples[iid]
        s.boxes = np.asarray([r[0] for r in rows], dtype=np.float32).reshape(-1, 4)
        s.labels = np.asarray([r[1] for r in rows], dtype=np.int64)
        s.areas = np.asarray([r[2] for r in rows], dtype=np.float32)
        s.iscrowd = np.asarray([r[3] for r in rows], dtype=bool)
        if task == "pose":
            s.keypoints = np.asarray([r[4] for r in rows], dtype=np.float32).reshape(-1, k, 3)
    if not samples:
        raise BadDataset(f"{where} lists no images")
    root = images_dir if images_dir is not None else _find_images_dir(ann_path, list(files.values()))
    if not root.is_dir():
        raise BadDataset(f"image folder {_short(root)} does not exist")
    for iid, s in samples.items():
        s.image = ImageRef(files[iid], sizes[iid], root)
    return TaskDataset(
        name=f"coco:{ann_path.name}",
        split=ann_path.stem,
        task=task,
        samples=list(samples.values()),
        categories=categories,
        num_classes=len(categories),
        keypoint_names=kp_names,
        keypoint_sigmas=kp_sigmas,
    )


# ---- segmentation folders and class names -----------------------------------------------------------


def read_class_names(folder: Path, where: str, required: bool = True) -> dict[int, str] | None:
    """Class index -> name from ``classes.txt`` (one per line, line number = index) or ``id2label.json`` /
    ``classes.json`` ({"0": "background", ...} or a list)."""
    for name in CLASS_FILES:
        path = folder / name
        if not path.exists():
            continue
        if name.endswith(".txt"):
            regular_file(path, "class list")
            if path.stat().st_size > 16 * 1024 * 1024:
                raise BadDataset(f"class list {_short(path)} is too large")
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError) as exc:
                raise BadDataset(f"class list {_short(path)} cannot be read: {_short(exc)}") from None
            names = [ln.strip() for ln in lines]  # an empty line: an index with no class (its pixels ignored)
            return _class_dict({i: n for i, n in enumerate(names) if n}, path)
        obj = read_json(path, 16 * 1024 * 1024)
        if isinstance(obj, list):
            obj = dict(enumerate(obj))
        if not isinstance(obj, dict):
            raise BadDataset(f"class list {_short(path)} must be a JSON object or list")
        try:
            parsed = {int(k): v for k, v in obj.items()}
        except (TypeError, ValueError):
            raise BadDataset(f"class list {_short(path)} keys must be class indices") from None
        return _class_dict(parsed, path)
    if required:
        raise BadDataset(
            f"{where} has no class names: add {CLASS_FILES[0]} (one name per line, line n = class n)"
        )
    return None


def _class_dict(names: dict[int, Any], path: Path) -> dict[int, str]:
    if not names or len(names) > MAX_CLASSES:
        raise BadDataset(f"class list {_short(path)} must name between 1 and {MAX_CLASSES} classes")
    if any(k < 0 for k in names) or any(
        not isinstance(v, str) or not v.strip() or len(v) > 200 for v in names.values()
    ):
        raise BadDataset(f"class list {_short(path)} must map indices >= 0 to non-empty names")
    return {int(k): str(v) for k, v in sorted(names.items())}


def _segmentation_dataset(
    name: str, split: str, samples: list[TaskSample], classes: dict[int, str]
) -> TaskDataset:
    num = max(classes) + 1
    if num >= syn.IGNORE_INDEX:
        raise BadDataset(
            f"dataset {name} names {num} classes; at most {syn.IGNORE_INDEX} fit beside ignore index 255"
        )
    return TaskDataset(name, split, "segmentation", samples, classes, num, ignore_index=syn.IGNORE_INDEX)


def load_mask_folder(task: str, root: Path) -> TaskDataset:
    """``ROOT/images/NAME.ext`` with ``ROOT/masks/NAME.png`` (class index per pixel, 255 = ignore)."""
    if task != "segmentation":
        raise BadDataset(f"an images/ + masks/ folder is a segmentation set, not {task}")
    classes = read_class_names(root, f"dataset folder {_short(root)}")
    assert classes is not None
    masks = {p.stem: p for p in sorted((root / "masks").iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}
    samples, missing = [], []
    for i, img in enumerate(
        p for p in sorted((root / "images").iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES
    ):
        if img.stem not in masks:
            missing.append(img.name)
            continue
        samples.append(TaskSample(image_id=i, image=ImageRef(img), mask=ImageRef(masks[img.stem])))
    if missing:
        raise BadDataset(
            f"dataset folder {_short(root)}: {len(missing)} images have no mask in masks/ (e.g. {_short(missing[0], 60)})"
        )
    return _segmentation_dataset(f"folder:{root.name}", "all", samples, classes)


# ---- tables: Parquet, save_to_disk, Hub -------------------------------------------------------------


def _classlabel_names(feature: Any) -> list[str] | None:
    """The ClassLabel names under a (possibly nested) datasets feature: objects -> category -> names."""
    seen = 0
    while feature is not None and seen < 8:
        seen += 1
        if hasattr(feature, "names") and isinstance(getattr(feature, "names", None), list):
            return list(feature.names)
        if isinstance(feature, dict):
            feature = feature.get("category")
        elif isinstance(feature, list) and feature:
            feature = feature[0]
        else:
            feature = getattr(feature, "feature", None)
    return None


def _objects(value: Any, where: str) -> tuple[list[list[float]], list[int]]:
    """COCO-style objects: {bbox: [[x, y, w, h], ...], category: [...]} or [{bbox, category}, ...]."""
    if isinstance(value, list):
        if not all(isinstance(o, dict) for o in value):
            raise BadDataset(f"{where}: objects must be a dict of lists or a list of dicts")
        value = {"bbox": [o.get("bbox") for o in value], "category": [o.get("category") for o in value]}
    if (
        not isinstance(value, dict)
        or not isinstance(value.get("bbox"), list)
        or not isinstance(value.get("category"), list)
    ):
        raise BadDataset(f"{where}: objects must hold 'bbox' and 'category' lists")
    bboxes, cats = value["bbox"], value["category"]
    if len(bboxes) != len(cats):
        raise BadDataset(f"{where}: objects has {len(bboxes)} boxes but {len(cats)} categories")
    boxes = []
    for j, b in enumerate(bboxes):
        x, y, w, h = _numbers(b, 4, f"{where} objects.bbox[{j}]")
        if w < 0 or h < 0:
            raise BadDataset(f"{where} objects.bbox[{j}] has a negative width or height")
        boxes.append([x, y, x + w, y + h])
    return boxes, [_int(c, f"{where} objects.category[{j}]", 0) for j, c in enumerate(cats)]


def _rows_to_dataset(
    task: str, name: str, split: str, columns: dict[str, list], features: Any, class_dir: Path | None
) -> TaskDataset:
    cols = list(columns)
    img_col = _pick(cols, _IMAGE_COLUMNS, "image", name)
    n = len(columns[img_col])
    ids = columns.get("image_id")
    if (
        ids is None
        or len(set(map(str, ids))) != n
        or any(isinstance(v, bool) or not isinstance(v, int) for v in ids)
    ):
        ids = list(range(n))
    if task == "detection":
        obj_col = _pick(cols, ("objects",), "objects", name)
        names = _classlabel_names(features.get(obj_col) if features is not None else None)
        categories = (
            dict(enumerate(names))
            if names
            else (read_class_names(class_dir, name, False) if class_dir else None)
        )
        if not categories:
            raise BadDataset(
                f"{name}: objects.category has no class names (a ClassLabel feature or id2label.json)"
            )
        samples = []
        for i in range(n):
            boxes, cats = _objects(columns[obj_col][i], f"{name} row {i}")
            samples.append(
                TaskSample(
                    image_id=int(ids[i]),
                    image=ImageRef(columns[img_col][i]),
                    boxes=np.asarray(boxes, dtype=np.float32).reshape(-1, 4),
                    labels=np.asarray(cats, dtype=np.int64),
                )
            )
        return TaskDataset(name, split, task, samples, categories, len(categories))
    if task == "segmentation":
        mask_col = _pick([c for c in cols if c != img_col], _MASK_COLUMNS, "mask", name)
        classes = read_class_names(class_dir, name, False) if class_dir else None
        names = _classlabel_names(features.get("label") if features is not None else None)
        classes = classes or (dict(enumerate(names)) if names else None)
        if not classes:
            raise BadDataset(f"{name} has no class names: put id2label.json or classes.txt beside it")
        samples = [
            TaskSample(
                image_id=int(ids[i]), image=ImageRef(columns[img_col][i]), mask=ImageRef(columns[mask_col][i])
            )
            for i in range(n)
        ]
        return _segmentation_dataset(name, split, samples, classes)
    raise BadDataset(f"{task} data is read from COCO keypoint JSON, not from tables ({name})")


def load_parquet(task: str, path: Path) -> TaskDataset:
    import pyarrow.parquet as pq

    regular_file(path, "Parquet file")
    try:
        table = pq.read_table(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises many types for a bad file
        raise BadDataset(f"cannot read Parquet file {_short(path)}: {_short(exc)}") from None
    features = None
    meta = (table.schema.metadata or {}).get(b"huggingface")
    if meta:
        try:
            from datasets import Features

            features = Features.from_dict(json.loads(meta)["info"]["features"])
        except Exception:  # noqa: BLE001 - the metadata is optional
            features = None
    columns = {c: table.column(c).to_pylist() for c in table.column_names}
    return _rows_to_dataset(task, f"parquet:{path.name}", path.stem, columns, features, path.parent)


def _hf_columns(ds: Any) -> dict[str, list]:
    from datasets import Image

    for col, feat in ds.features.items():
        if isinstance(feat, Image):
            ds = ds.cast_column(col, Image(decode=False))
    return {c: ds[c] for c in ds.column_names}


def load_saved(task: str, path: Path, split: str | None) -> TaskDataset:
    from datasets import DatasetDict, load_from_disk

    try:
        ds = load_from_disk(str(path))
    except Exception as exc:  # noqa: BLE001
        raise BadDataset(f"cannot load saved dataset {_short(path)}: {_short(exc)}") from None
    if isinstance(ds, DatasetDict):
        split = split or next((s for s in ("test", "validation", "val") if s in ds), None) or next(iter(ds))
        if split not in ds:
            raise BadDataset(f"saved dataset {_short(path)} has no split {split!r} (has {', '.join(ds)})")
        ds = ds[split]
    elif split:
        raise BadDataset(f"saved dataset {_short(path)} has a single split; drop ':{split}'")
    return _rows_to_dataset(task, f"saved:{path.name}", split or "all", _hf_columns(ds), ds.features, path)


def load_hub(task: str, spec: str) -> TaskDataset:
    from harness.data import _quiet_hub_logs

    repo, _, split = spec.partition(":")
    with _quiet_hub_logs():
        try:
            import datasets

            ds = datasets.load_dataset(repo, split=split or "validation")
        except Exception as exc:  # noqa: BLE001 - offline / not found / bad config all land here
            raise BadDataset(
                f"cannot load Hub dataset {_short(repo, 100)!r}: {type(exc).__name__}: {_short(exc, 200)}"
            ) from None
    return _rows_to_dataset(
        task, repo, split or "validation", _hf_columns(ds), ds.features, _hub_class_dir(repo)
    )


def _hub_class_dir(repo: str) -> Path | None:
    """The folder of the repo's ``id2label.json`` (how Hub segmentation sets name their classes), if any."""
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(repo, "id2label.json", repo_type="dataset")).parent
    except Exception:  # noqa: BLE001 - absent or unreachable: the ClassLabel feature may still name them
        return None


__all__ = ["ImageRef", "decode_sample", "load_source", "read_json", "regular_file"]
