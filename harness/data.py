"""Labelled evaluation images by spec: builtin ``digits``, an image folder, a Parquet file, a
``datasets.save_to_disk`` folder, or a Hub dataset id (``org/name[:split]``).

Images stay as PIL images (corruptions for robustness work on them); one timm transform turns them into the
float32 NCHW batches that every backend consumes.
"""

from __future__ import annotations

import io
import logging
import os
import stat
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from harness.errors import BadDataset

DIGITS = "digits"
DIGITS_TEST_FRACTION = 0.25
SPLIT_SEED = 0
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm"}
_IMAGE_COLUMNS = ("image", "img", "pixel_values", "jpg", "png")
_LABEL_COLUMNS = ("label", "labels", "fine_label", "class", "target", "cls")


@dataclass
class EvalDataset:
    name: str
    split: str
    images: list  # PIL.Image.Image, RGB (raw sources until load_dataset_spec decodes the kept subset)
    labels: np.ndarray  # int64, (N,)
    num_classes: int

    def __len__(self) -> int:
        return len(self.images)


def load_digits_split(split: str = "test") -> EvalDataset:
    """scikit-learn's real 8x8 handwritten digits as RGB images, with a fixed seeded stratified split."""
    from PIL import Image
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if split not in ("train", "test"):
        raise BadDataset(f"digits has splits train and test, not {split!r}")
    bunch = load_digits()
    idx = np.arange(len(bunch.target))
    train_idx, test_idx = train_test_split(
        idx, test_size=DIGITS_TEST_FRACTION, stratify=bunch.target, random_state=SPLIT_SEED
    )
    chosen = train_idx if split == "train" else test_idx
    pixels = np.clip(bunch.images[chosen] * (255.0 / 16.0), 0, 255).round().astype(np.uint8)
    images = [Image.fromarray(p, mode="L").convert("RGB") for p in pixels]
    return EvalDataset(DIGITS, split, images, bunch.target[chosen].astype(np.int64), 10)


def load_dataset_spec(spec: str, max_samples: int | None = None) -> EvalDataset:
    """Load the evaluation split a spec names, then keep a deterministic ``max_samples`` subset."""
    spec = (spec or "").strip()
    if not spec:
        raise BadDataset("dataset is empty")
    name, _, split = (
        spec.partition(":") if spec == DIGITS or spec.startswith(DIGITS + ":") else (spec, "", "")
    )
    if name == DIGITS:
        ds = load_digits_split(split or "test")
    else:
        path = Path(spec).expanduser()
        base, sep, split = spec.rpartition(":")
        if (
            not path.exists() and sep and Path(base).expanduser().is_dir()
        ):  # PATH:SPLIT of a saved DatasetDict
            ds = _load_saved(Path(base).expanduser(), split)
        elif path.is_dir():
            ds = _load_dir(path)
        elif path.is_file():
            if path.suffix.lower() != ".parquet":
                raise BadDataset(f"dataset file {path} is not a .parquet file")
            ds = _load_parquet(path)
        elif _looks_like_path(spec):
            raise BadDataset(f"dataset path {spec} does not exist")
        else:
            ds = _load_hub(spec)
    if len(ds) == 0:
        raise BadDataset(f"dataset {spec} has no images")
    ds = subset(ds, max_samples)
    ds.images = [_open(i) for i in ds.images]  # decode only the images we keep
    return ds


def subset(ds: EvalDataset, max_samples: int | None) -> EvalDataset:
    """A fixed-seed sample (same every run), so results with the same max_samples are comparable."""
    if max_samples is None or max_samples >= len(ds):
        return ds
    idx = np.random.default_rng(SPLIT_SEED).permutation(len(ds))[:max_samples]
    idx.sort()
    return EvalDataset(ds.name, ds.split, [ds.images[i] for i in idx], ds.labels[idx], ds.num_classes)


def _looks_like_path(spec: str) -> bool:
    return (
        spec.startswith(("/", ".", "~")) or spec.endswith(".parquet") or spec.count("/") > 1 or "\\" in spec
    )


def _load_dir(path: Path) -> EvalDataset:
    if (path / "dataset_info.json").is_file() or (path / "dataset_dict.json").is_file():
        return _load_saved(path)
    classes = sorted(p.name for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise BadDataset(f"dataset folder {path} has no class subfolders (expected ROOT/CLASS/IMAGE)")
    images, labels = [], []
    for label, cls in enumerate(classes):
        for f in sorted((path / cls).rglob("*")):
            if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES:
                images.append(str(f))
                labels.append(label)
    return EvalDataset(
        f"imagefolder:{path.name}", "all", images, np.asarray(labels, dtype=np.int64), len(classes)
    )


def open_regular(path: str | Path, what: str = "image") -> BinaryIO:
    """``path`` opened for reading if it is a regular file (symlinks to one are fine). A FIFO, device or
    folder is refused without blocking: the open is non-blocking and the check is on the open descriptor,
    so a file swapped for a FIFO after a listing cannot hang the reader."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except (OSError, TypeError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise BadDataset(f"{what} {str(path)[:120]} cannot be read: {reason}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise BadDataset(f"{what} {str(path)[:120]} is not a regular file")
    return os.fdopen(fd, "rb")


def _open(src: Any):
    """An RGB PIL image from a PIL image, encoded bytes, a datasets Image cell or a path. Anything else, a
    file that is not an image, a special file or an image over PIL's pixel cap is a one-line BadDataset."""
    from PIL import Image, UnidentifiedImageError

    try:
        if isinstance(src, Image.Image):
            return src.convert("RGB")
        if isinstance(src, dict):
            if src.get("bytes"):
                return Image.open(io.BytesIO(src["bytes"])).convert("RGB")
            src = src.get("path")
        if isinstance(src, bytes):
            return Image.open(io.BytesIO(src)).convert("RGB")
        if not isinstance(src, str | Path):
            raise BadDataset(f"image is a {type(src).__name__}, not an image, encoded bytes or a path")
        with open_regular(src) as fh, Image.open(fh) as im:
            return im.convert("RGB")
    except Image.DecompressionBombError as exc:  # over PIL's pixel cap: refused before it is decoded
        raise BadDataset(f"image too large to decode {str(src)[:120]}: {exc}") from None
    except (OSError, UnidentifiedImageError, TypeError, ValueError) as exc:
        raise BadDataset(f"cannot read image {str(src)[:120]}: {exc}") from None


def _pick(columns: list[str], wanted: tuple[str, ...], what: str, where: str) -> str:
    for c in wanted:
        if c in columns:
            return c
    raise BadDataset(
        f"{where} has no {what} column (looked for {', '.join(wanted)}; has {', '.join(columns)})"
    )


def _from_columns(name: str, split: str, images: list, labels: list, num_classes: int | None) -> EvalDataset:
    labels_arr = np.asarray(labels)
    if labels_arr.ndim != 1 or not np.issubdtype(labels_arr.dtype, np.integer):
        raise BadDataset(f"dataset {name} labels must be integer class ids")
    if len(labels_arr) and labels_arr.min() < 0:
        raise BadDataset(f"dataset {name} has negative labels")
    n = num_classes or (int(labels_arr.max()) + 1 if len(labels_arr) else 0)
    if len(labels_arr) and labels_arr.max() >= n:
        raise BadDataset(f"dataset {name} has label {int(labels_arr.max())} but only {n} classes")
    return EvalDataset(name, split, list(images), labels_arr.astype(np.int64), n)


def _classlabel_count(features: Any, column: str) -> int | None:
    feat = features.get(column) if features is not None else None
    return int(feat.num_classes) if feat is not None and hasattr(feat, "num_classes") else None


def _load_parquet(path: Path) -> EvalDataset:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # noqa: BLE001
        raise BadDataset(f"cannot read Parquet file {path}: {exc}") from None
    cols = table.column_names
    img_col = _pick(cols, _IMAGE_COLUMNS, "image", str(path))
    lab_col = _pick(cols, _LABEL_COLUMNS, "label", str(path))
    num_classes = None
    meta = (table.schema.metadata or {}).get(b"huggingface")
    if meta:
        try:
            import json

            from datasets import Features

            features = Features.from_dict(json.loads(meta)["info"]["features"])
            num_classes = _classlabel_count(features, lab_col)
        except Exception:  # noqa: BLE001 - metadata is optional; fall back to max(label)+1
            num_classes = None
    return _from_columns(
        f"parquet:{path.name}",
        path.stem,
        table.column(img_col).to_pylist(),
        table.column(lab_col).to_pylist(),
        num_classes,
    )


def _from_hf(ds: Any, name: str, split: str) -> EvalDataset:
    cols = list(ds.column_names)
    img_col = _pick(cols, _IMAGE_COLUMNS, "image", name)
    lab_col = _pick(cols, _LABEL_COLUMNS, "label", name)
    raw = ds.cast_column(img_col, _image_feature(decode=False)) if _is_image(ds.features, img_col) else ds
    return _from_columns(name, split, raw[img_col], raw[lab_col], _classlabel_count(ds.features, lab_col))


def _image_feature(decode: bool):
    from datasets import Image

    return Image(decode=decode)


def _is_image(features: Any, column: str) -> bool:
    from datasets import Image

    return isinstance(features.get(column), Image)


def _choose_split(dd: Any, where: str) -> str:
    for s in ("test", "validation", "valid", "val"):
        if s in dd:
            return s
    if len(dd) == 1:
        return next(iter(dd))
    raise BadDataset(f"{where} has splits {', '.join(dd)}; name one as PATH_OR_ID:SPLIT")


def _load_saved(path: Path, split: str | None = None) -> EvalDataset:
    from datasets import DatasetDict, load_from_disk

    try:
        ds = load_from_disk(str(path))
    except Exception as exc:  # noqa: BLE001
        raise BadDataset(f"cannot load saved dataset {path}: {exc}") from None
    if isinstance(ds, DatasetDict):
        split = split or _choose_split(ds, str(path))
        if split not in ds:
            raise BadDataset(f"saved dataset {path} has no split {split!r} (has {', '.join(ds)})")
        ds = ds[split]
    elif split:
        raise BadDataset(f"saved dataset {path} has a single split; drop ':{split}'")
    else:
        split = "all"
    return _from_hf(ds, f"saved:{path.name}", split)


@contextmanager
def _quiet_hub_logs():
    """huggingface_hub/datasets log every retry to stderr; the harness reports one line instead."""
    loggers = [logging.getLogger(n) for n in ("huggingface_hub", "datasets", "fsspec")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _load_hub(spec: str) -> EvalDataset:
    repo, _, split = spec.partition(":")
    with _quiet_hub_logs():
        return _load_hub_quiet(repo, split)


def _load_hub_quiet(repo: str, split: str) -> EvalDataset:
    try:
        import datasets

        if split:
            ds = datasets.load_dataset(repo, split=split)
        else:
            dd = datasets.load_dataset(repo)
            split = _choose_split(dd, repo)
            ds = dd[split]
    except BadDataset:
        raise
    except Exception as exc:  # noqa: BLE001 - offline / not found / bad config all land here
        first = " ".join(str(exc).split())[:200]
        raise BadDataset(
            f"cannot load Hub dataset {repo!r} (no such local path either): {type(exc).__name__}: {first}"
        ) from None
    return _from_hf(ds, repo, split)


def to_tensor_batch(images: list, transform: Any) -> np.ndarray:
    """Preprocess PIL images with the model's timm transform into one float32 NCHW array."""
    import torch

    return torch.stack([transform(im) for im in images]).numpy().astype(np.float32, copy=False)


def make_transform(data_config: dict[str, Any]):
    """The one preprocessing used for every backend: timm's eval transform from the model's data config."""
    from timm.data import create_transform

    cfg = {k: tuple(v) if isinstance(v, list) else v for k, v in data_config.items()}
    kwargs: dict[str, Any] = {**cfg, "is_training": False}
    return create_transform(**kwargs)
