"""Detection, segmentation and pose models (and non-timm classifiers): ``torchvision:ARCH`` builders and
``transformers`` checkpoints, each wrapped into one end-to-end module.

Why a wrapper: every backend times ``module(batch)`` and ONNX exports one graph with one output, so the
model's own post-processing (NMS and top-k, upsampling to the input size, keypoint decoding) goes inside
the module and its output is one packed float tensor per batch (layouts in :mod:`harness.tasks.adapters`).
Timing then covers the whole per-image cost a deployment pays, and every backend runs the same graph.

Safety as for timm checkpoints: transformers configs are read as JSON first; ``auto_map`` (remote code),
unknown model types and architectures outside the task classes are refused; weights are safetensors only,
loaded strictly (missing, unexpected or mismatched keys are an error); backbones are never downloaded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import BadModelSpec, HarnessError, UnknownArchitecture, WeightMismatch
from harness.tasks.adapters import (
    KIND_CLASS_MAP,
    KIND_DETECTIONS,
    KIND_INSTANCE_KEYPOINTS,
    KIND_KEYPOINTS,
    KIND_LOGITS,
)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
PREPROCESSOR_NAME = "preprocessor_config.json"
MAX_CONFIG_BYTES = 4 * 2**20
# Input resolution when a transformers checkpoint says none (its image processor's usual size).
DEFAULT_INPUT_HW = {
    "classification": (224, 224),
    "detection": (640, 640),
    "segmentation": (512, 512),
    "pose": (256, 192),
}
# transformers architecture class suffix -> task (VitPose* is pose whatever its suffix).
_ARCH_SUFFIXES = (
    ("ForImageClassification", "classification"),
    ("ForObjectDetection", "detection"),
    ("ForSemanticSegmentation", "segmentation"),
    ("ForPoseEstimation", "pose"),
)
COCO_KEYPOINTS = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
    "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip


@dataclass
class TaskModel:
    """A built end-to-end module and the facts the harness records and decodes with."""

    module: Any  # torch.nn.Module: float32 NCHW batch -> one packed tensor (harness.tasks.adapters)
    task: str
    output_kind: str  # one of harness.tasks.adapters.KIND_*
    architecture: str
    input_size: tuple[int, int, int]  # C, H, W the model is timed and evaluated at
    mean: tuple[float, ...]
    std: tuple[float, ...]
    labels: dict[int, str] = field(default_factory=dict)  # model label index -> name
    keypoint_names: tuple[str, ...] = ()

    @property
    def data_config(self) -> dict[str, Any]:
        """timm-style data config (so classification reuses harness.data's transform unchanged)."""
        return {
            "input_size": list(self.input_size),
            "interpolation": "bilinear",
            "mean": list(self.mean),
            "std": list(self.std),
            "crop_pct": 1.0,
            "crop_mode": "center",
        }


# ---- torchvision -----------------------------------------------------------------------------------------


def torchvision_task(arch: str) -> str:
    """The task of a torchvision builder, from the module it lives in; unknown names are refused."""
    from torchvision import models

    if not isinstance(arch, str) or not arch:
        raise UnknownArchitecture(f"unknown torchvision architecture {arch!r}")
    for module, task in (
        (models.detection, "detection"),
        (models.segmentation, "segmentation"),
        (models, "classification"),
    ):
        if arch in models.list_models(module=module):
            if arch.startswith("keypointrcnn"):
                return "pose"
            return task
    raise UnknownArchitecture(
        f"unknown torchvision architecture {arch!r}: not a classification, detection, segmentation or "
        "keypoint builder of torchvision (video, optical flow and quantized models are not benchmarked)"
    )


def build_torchvision(arch: str) -> TaskModel:
    """Random weights (``weights=None, weights_backbone=None``: nothing is downloaded); label names from
    the builder's weights metadata so predictions could be mapped to a dataset's categories by name."""
    from torchvision import models

    from harness import task_modules as modules

    task = torchvision_task(arch)
    meta = _torchvision_meta(arch)
    categories = [str(c) for c in meta.get("categories") or []]
    kwargs: dict[str, Any] = {"weights": None}
    if task != "classification":
        kwargs["weights_backbone"] = None
    if categories and task in ("detection", "segmentation", "classification"):
        kwargs["num_classes"] = len(categories)
    try:
        model = models.get_model(arch, **kwargs).eval()
    except Exception as exc:  # noqa: BLE001 - builders raise many types for bad kwargs
        raise HarnessError(f"building torchvision {arch} failed: {type(exc).__name__}: {exc}") from None
    labels = dict(enumerate(categories))
    if task in ("detection", "pose"):
        transform = model.transform
        fixed = getattr(transform, "fixed_size", None)
        hw = tuple(fixed) if fixed else (int(transform.min_size[-1]),) * 2
        keypoints = task == "pose"
        names = tuple(meta.get("keypoint_names") or ()) if keypoints else ()
        return TaskModel(
            modules.TorchvisionDetector(model, keypoints),
            task,
            KIND_INSTANCE_KEYPOINTS if keypoints else KIND_DETECTIONS,
            arch,
            (3, int(hw[0]), int(hw[1])),
            (0.0, 0.0, 0.0),  # GeneralizedRCNNTransform normalises inside the model: it takes 0-1 pixels
            (1.0, 1.0, 1.0),
            labels,
            names,
        )
    size = _torchvision_preset_size(arch, task)
    module = modules.TorchvisionSegmenter(model) if task == "segmentation" else model
    kind = KIND_CLASS_MAP if task == "segmentation" else KIND_LOGITS
    return TaskModel(module, task, kind, arch, (3, size, size), IMAGENET_MEAN, IMAGENET_STD, labels)


def _torchvision_meta(arch: str) -> dict[str, Any]:
    from torchvision import models

    try:
        weights = list(models.get_model_weights(arch))
    except (ValueError, KeyError):
        return {}
    return dict(weights[0].meta) if weights else {}


def _torchvision_preset_size(arch: str, task: str) -> int:
    """The evaluation size torchvision's own preset uses (crop 224 / resize 520), without downloading."""
    from torchvision import models

    try:
        preset = list(models.get_model_weights(arch))[0].transforms
        kw = getattr(preset, "keywords", {}) or {}
        return int(kw.get("crop_size") or kw.get("resize_size") or 0) or (
            520 if task == "segmentation" else 224
        )
    except (ValueError, KeyError, IndexError, TypeError):
        return 520 if task == "segmentation" else 224


# ---- transformers ----------------------------------------------------------------------------------------


def is_transformers_config(cfg: dict[str, Any]) -> bool:
    """A transformers config.json names ``model_type``/``architectures``; timm's names ``architecture``."""
    return "architecture" not in cfg and ("architectures" in cfg or "model_type" in cfg)


def transformers_task(cfg: dict[str, Any]) -> str:
    """The task a transformers config.json declares through its one architecture class (pure: JSON only)."""
    arch = _single_architecture(cfg)
    if arch.startswith("VitPose") and arch != "VitPoseBackbone":
        return "pose"
    for suffix, task in _ARCH_SUFFIXES:
        if arch.endswith(suffix):
            return task
    raise UnknownArchitecture(
        f"transformers architecture {arch!r} is not one the benchmark runs (it runs *ForImageClassification, "
        "*ForObjectDetection, *ForSemanticSegmentation and VitPose*/*ForPoseEstimation)"
    )


def _single_architecture(cfg: dict[str, Any]) -> str:
    if "auto_map" in cfg or cfg.get("trust_remote_code"):
        raise BadModelSpec(
            "config.json asks for remote code (auto_map); only built-in transformers models run"
        )
    archs = cfg.get("architectures")
    if not isinstance(archs, list) or len(archs) != 1 or not isinstance(archs[0], str):
        raise BadModelSpec("config.json must name exactly one transformers class in 'architectures'")
    arch = archs[0]
    if not arch.isidentifier() or len(arch) > 100:
        raise BadModelSpec(f"config.json architecture {arch[:60]!r} is not a class name")
    return arch


def read_json_object(path: Path, what: str) -> dict[str, Any]:
    """A small JSON object from a checkpoint folder (size-capped; not a regular file is refused)."""
    try:
        if not path.is_file() or path.stat().st_size > MAX_CONFIG_BYTES:
            raise BadModelSpec(f"{what} {path.name} is not a regular file under {MAX_CONFIG_BYTES >> 20} MiB")
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BadModelSpec(f"cannot read {what} {path.name}: {exc}") from None
    if not isinstance(data, dict):
        raise BadModelSpec(f"{what} {path.name} must hold a JSON object")
    return data


def build_transformers(directory: Path, cfg: dict[str, Any]) -> TaskModel:
    """Load a transformers checkpoint folder (config.json + model.safetensors) strictly, offline."""
    import transformers

    from harness import task_modules as modules

    task = transformers_task(cfg)
    arch = _single_architecture(cfg)
    cls = getattr(transformers, arch, None)
    if cls is None or not isinstance(cls, type) or not issubclass(cls, transformers.PreTrainedModel):
        raise UnknownArchitecture(
            f"unknown transformers architecture {arch!r}: not in transformers {transformers.__version__}"
        )
    model_type = cfg.get("model_type")
    if not isinstance(model_type, str) or model_type not in transformers.CONFIG_MAPPING:
        raise UnknownArchitecture(f"unknown transformers model_type {str(model_type)[:60]!r}")
    transformers.logging.set_verbosity_error()  # load reports go to the record as errors, not to stderr
    transformers.logging.disable_progress_bar()
    try:
        config = transformers.AutoConfig.from_pretrained(
            str(directory), trust_remote_code=False, local_files_only=True
        )
        if hasattr(config, "use_pretrained_backbone"):
            config.use_pretrained_backbone = False  # the checkpoint holds every weight; never download one
        loaded: Any = cls.from_pretrained(
            str(directory),
            config=config,
            use_safetensors=True,
            local_files_only=True,
            trust_remote_code=False,
            output_loading_info=True,
            ignore_mismatched_sizes=True,  # reported in the loading info, then refused below with names
        )
        model, info = loaded
    except HarnessError:
        raise
    except Exception as exc:  # noqa: BLE001 - transformers raises many types for broken checkpoints
        text = " ".join(str(exc).split())[:300]
        raise WeightMismatch(
            f"cannot load {arch} from {directory.name}: {type(exc).__name__}: {text}"
        ) from None
    _check_loading_info(info, arch)
    model.eval()
    labels = {int(k): str(v) for k, v in (getattr(model.config, "id2label", None) or {}).items()}
    h, w = _transformers_input_hw(directory, model.config, task)
    mean, std = _transformers_normalisation(directory)
    module: Any
    if task == "classification":
        module, kind = modules.TransformersLogits(model), KIND_LOGITS
    elif task == "detection":
        module, kind = modules.TransformersDetector(model, len(labels)), KIND_DETECTIONS
    elif task == "segmentation":
        module, kind = modules.TransformersSegmenter(model), KIND_CLASS_MAP
    else:
        module, kind = modules.HeatmapPose(model), KIND_KEYPOINTS
    names: tuple[str, ...] = ()
    if task == "pose":
        k = int(getattr(model.config, "num_labels", 0) or 0)
        names = COCO_KEYPOINTS if k == len(COCO_KEYPOINTS) else tuple(f"keypoint_{i}" for i in range(k))
        labels = {0: "person"}
    return TaskModel(module.eval(), task, kind, arch, (3, h, w), mean, std, labels, names)


def _check_loading_info(info: dict[str, Any], arch: str) -> None:
    problems = []
    for key in ("missing_keys", "unexpected_keys", "mismatched_keys"):
        items = sorted(str(k) for k in (info.get(key) or []))
        if items:
            problems.append(f"{key.replace('_', ' ')} {len(items)} e.g. {items[0][:120]}")
    if problems:
        raise WeightMismatch(f"weights do not match {arch} in config.json: {'; '.join(problems)}")


def _transformers_input_hw(directory: Path, config: Any, task: str) -> tuple[int, int]:
    """From preprocessor_config.json's size, else the config's image_size, else the task's usual size."""
    proc = directory / PREPROCESSOR_NAME
    if proc.exists():
        size = read_json_object(proc, "preprocessor config").get("size")
        if isinstance(size, dict):
            if _positive(size.get("height")) and _positive(size.get("width")):
                return int(size["height"]), int(size["width"])
            if _positive(size.get("shortest_edge")):
                return (int(size["shortest_edge"]),) * 2
        if _positive(size):
            return (int(size),) * 2  # type: ignore[arg-type]
    for cfg in (config, getattr(config, "backbone_config", None)):
        image_size = getattr(cfg, "image_size", None) if cfg is not None else None
        if _positive(image_size):
            return (int(image_size),) * 2  # type: ignore[arg-type]
        if isinstance(image_size, list | tuple) and len(image_size) == 2 and all(map(_positive, image_size)):
            return int(image_size[0]), int(image_size[1])
    return DEFAULT_INPUT_HW[task]


def _transformers_normalisation(directory: Path) -> tuple[tuple[float, ...], tuple[float, ...]]:
    proc = directory / PREPROCESSOR_NAME
    if not proc.exists():
        return IMAGENET_MEAN, IMAGENET_STD
    cfg = read_json_object(proc, "preprocessor config")
    if cfg.get("do_normalize") is False:
        return (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    mean, std = cfg.get("image_mean", IMAGENET_MEAN), cfg.get("image_std", IMAGENET_STD)
    ok = all(
        isinstance(v, list | tuple) and len(v) == 3 and all(isinstance(x, int | float) for x in v)
        for v in (mean, std)
    )
    if not ok or min(std) <= 0:
        raise BadModelSpec(f"{PREPROCESSOR_NAME} image_mean/image_std must be 3 numbers each (std > 0)")
    return tuple(float(x) for x in mean), tuple(float(x) for x in std)


def _positive(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 0 < v <= 8192
