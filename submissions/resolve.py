"""I/O side of a submission: does the model exist, which revision, and what do its weights really hold.

The parameter cap is applied to what the weights file holds (tensor shapes from the safetensors header,
nothing loaded), and the weights must fit, tensor for tensor, the model that config.json declares (built
on the meta device, nothing allocated) - the harness loads them strictly, so a config declaring a huge
model next to tiny weights, or the reverse, would only fail (or blow up) after approval. Reads are
bounded (header size, tensor count, nesting; config.json size) and refusals never echo file contents.

timm: ``timm.is_model`` + the architecture built on the meta device. torchvision: a classification,
detection, segmentation or keypoint builder (``harness.task_models.torchvision_task``) built on the meta
device. Hub: ``model_info`` (sha, files), config.json and the weights header fetched at that sha. local-dir:
the resolved real path, validated like any id, regular files only, revision = sha256 of the weights.
A checkpoint's config.json is timm's (``architecture``: classification) or transformers' (one built-in
``architectures`` class, no remote code; its task read from the class, as the harness reads it).
"""

from __future__ import annotations

import json
import os
import stat
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import settings
from harness.tasks import DEFAULT_TASK
from submissions.validate import (
    CONFIG_NAME,
    WEIGHTS_NAME,
    ModelRef,
    SubmissionRefused,
    check_hub_info,
    check_local_root,
    check_weight_files,
)

MAX_HEADER_BYTES = 100 * 2**20  # a real header is a few KB-MB; more is an attack or not safetensors
MAX_TENSORS = 100_000
MAX_DIMS = 8
MAX_CONFIG_BYTES = 2**20

Shapes = dict[str, tuple[int, ...]]


@dataclass(frozen=True)
class Resolved:
    source: str
    model: str  # canonical harness spec without revision
    revision: str | None
    params: int | None
    task: str = DEFAULT_TASK  # what the model does (harness.tasks.TASK_NAMES)
    task_why: str = "a timm classifier"  # where the task was read, for a refusal that names it


def count_params_on_meta(build: Callable[[], Any]) -> int:
    """Parameters of a model built on the meta device (shapes only, nothing allocated)."""
    import torch

    with torch.device("meta"):
        model = build()
    return int(sum(p.numel() for p in model.parameters()))


def resolve_timm(ref: ModelRef) -> Resolved:
    import timm

    if not timm.is_model(ref.name):
        close = timm.list_models(f"*{ref.name[:30]}*")[:5]
        hint = f" (did you mean {', '.join(close)}?)" if close else "; see timm.list_models()"
        raise SubmissionRefused(f"{ref.name!r} is not a timm {timm.__version__} architecture{hint}")
    params = count_params_on_meta(lambda: timm.create_model(ref.name, pretrained=False))
    return Resolved("timm", ref.model, None, params)


def resolve_torchvision(ref: ModelRef) -> Resolved:
    """A torchvision builder by name: its task from the module it lives in, params on the meta device."""
    from torchvision import models

    from harness.errors import HarnessError
    from harness.task_models import torchvision_task

    try:
        task = torchvision_task(ref.name)
    except HarnessError as exc:
        close = [m for m in models.list_models() if ref.name[:12] in m][:5]
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise SubmissionRefused(f"{exc}{hint}") from None
    kwargs: dict[str, Any] = {"weights": None}
    if task != "classification":
        kwargs["weights_backbone"] = None  # never a download, even on the meta device
    params = count_params_on_meta(lambda: models.get_model(ref.name, **kwargs))
    family = "keypoint" if task == "pose" else task
    return Resolved("torchvision", ref.model, None, params, task, f"a torchvision {family} builder")


# --- safetensors header -------------------------------------------------------------------------
def parse_safetensors_header(raw: bytes, where: str) -> Shapes:
    """Tensor name -> shape from a header's JSON; refuses anything malformed without quoting it."""
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise SubmissionRefused(f"{where} is not a valid safetensors file (unreadable header)") from None
    if not isinstance(header, dict):
        raise SubmissionRefused(f"{where} is not a valid safetensors file (header is not an object)")
    if len(header) > MAX_TENSORS:
        raise SubmissionRefused(f"{where} holds more than {MAX_TENSORS} tensors")
    shapes: Shapes = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        shape = meta.get("shape") if isinstance(meta, dict) else None
        if (
            not isinstance(shape, list)
            or len(shape) > MAX_DIMS
            or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
        ):
            raise SubmissionRefused(f"{where} has a tensor without a valid shape (not a safetensors file?)")
        shapes[name] = tuple(shape)
    return shapes


def read_safetensors_shapes(path: Path, where: str) -> Shapes:
    """Shapes from a local safetensors file's header (bounded read; regular files only)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        raise SubmissionRefused(
            f"{where}: cannot open {WEIGHTS_NAME} (missing, a link, or unreadable)"
        ) from None
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise SubmissionRefused(f"{where}: {WEIGHTS_NAME} is not a regular file")
        head = fh.read(8)
        if len(head) != 8:
            raise SubmissionRefused(f"{where}/{WEIGHTS_NAME} is not a safetensors file (too short)")
        (n,) = struct.unpack("<Q", head)
        if n > MAX_HEADER_BYTES:
            raise SubmissionRefused(
                f"{where}/{WEIGHTS_NAME} declares a {n}-byte header (at most {MAX_HEADER_BYTES}); "
                "not a safetensors file"
            )
        raw = fh.read(n)
    if len(raw) != n:
        raise SubmissionRefused(f"{where}/{WEIGHTS_NAME} is truncated (header shorter than declared)")
    return parse_safetensors_header(raw, f"{where}/{WEIGHTS_NAME}")


def safetensors_param_count(path: Path) -> int:
    """Total elements of all tensors, from the safetensors header only."""
    return count_elements(read_safetensors_shapes(path, str(path.parent)))


def count_elements(shapes: Shapes) -> int:
    total = 0
    for shape in shapes.values():
        count = 1
        for d in shape:
            count *= d
        total += count
    return total


# --- config.json vs weights ---------------------------------------------------------------------
def read_config(path: Path, where: str) -> dict[str, Any]:
    """config.json, bounded and regular-file only, checked the way the harness checks it."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        raise SubmissionRefused(
            f"{where}: cannot open {CONFIG_NAME} (missing, a link, or unreadable)"
        ) from None
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise SubmissionRefused(f"{where}: {CONFIG_NAME} is not a regular file")
        raw = fh.read(MAX_CONFIG_BYTES + 1)
    if len(raw) > MAX_CONFIG_BYTES:
        raise SubmissionRefused(f"{where}/{CONFIG_NAME} is larger than {MAX_CONFIG_BYTES // 1024} KiB")
    try:
        cfg = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise SubmissionRefused(f"{where}/{CONFIG_NAME} is not valid JSON") from None
    if not isinstance(cfg, dict) or ("architecture" not in cfg and not _is_transformers(cfg)):
        raise SubmissionRefused(
            f"{where}/{CONFIG_NAME} names neither timm's 'architecture' nor transformers' 'architectures'"
        )
    return cfg


def _is_transformers(cfg: dict[str, Any]) -> bool:
    from harness.task_models import is_transformers_config

    return is_transformers_config(cfg)


def config_task(cfg: dict[str, Any], where: str) -> tuple[str, str]:
    """(task, where it was read) of a checkpoint: timm's layout is classification; a transformers config
    names its task through its one architecture class (remote code refused), as the harness reads it."""
    if not _is_transformers(cfg):
        return DEFAULT_TASK, "a timm checkpoint"
    from harness.errors import HarnessError
    from harness.task_models import transformers_task

    try:
        task = transformers_task(cfg)
    except HarnessError as exc:  # short and fixed wording (a class name at most), never the file
        raise SubmissionRefused(f"{where}/{CONFIG_NAME}: {exc}") from None
    return task, f"config.json architectures {cfg['architectures'][0]}"


# A transformers config's sizes are built on the meta device: bound the ones that multiply modules.
MAX_CONFIG_INT = 1_000_000
MAX_REPEAT = 1_000  # layers, blocks, heads, queries, ...
_REPEAT_WORDS = ("layers", "depth", "blocks", "heads", "queries", "num_")


def _check_sizes(value: Any, key: str, where: str, depth: int = 0) -> None:
    """Refuse numbers that would make even a meta-device build take unbounded time (a hostile config)."""
    if depth > 8:
        raise SubmissionRefused(f"{where}/{CONFIG_NAME} is nested too deeply")
    if isinstance(value, dict):
        for k, v in value.items():
            _check_sizes(v, str(k), where, depth + 1)
    elif isinstance(value, list):
        for v in value[:10_000]:
            _check_sizes(v, key, where, depth + 1)
    elif isinstance(value, int) and not isinstance(value, bool):
        repeat = any(w in key for w in _REPEAT_WORDS)
        if value > (MAX_REPEAT if repeat else MAX_CONFIG_INT):
            raise SubmissionRefused(
                f"{where}/{CONFIG_NAME}: {key[:40]} = {value} is beyond what is evaluated here"
            )


def transformers_shapes(cfg: dict[str, Any], where: str) -> tuple[Shapes, set[str]]:
    """(state-dict shapes, tied keys) of the transformers model config.json declares, built on the meta
    device from a built-in class only; the backbone is never downloaded."""
    import torch
    import transformers

    arch = cfg["architectures"][0]  # config_task checked: exactly one class name
    cls = getattr(transformers, arch, None)
    model_type = cfg.get("model_type")
    if not (isinstance(cls, type) and issubclass(cls, transformers.PreTrainedModel)):
        raise SubmissionRefused(
            f"{where}/{CONFIG_NAME}: {arch} is not a transformers {transformers.__version__} class"
        )
    if not isinstance(model_type, str) or model_type not in transformers.CONFIG_MAPPING:
        raise SubmissionRefused(
            f"{where}/{CONFIG_NAME}: unknown transformers model_type {str(model_type)[:40]!r}"
        )
    _check_sizes(cfg, "", where)
    try:
        config = transformers.CONFIG_MAPPING[model_type].from_dict(dict(cfg))
        if hasattr(config, "use_pretrained_backbone"):
            config.use_pretrained_backbone = False
        with torch.device("meta"):
            model = cls(config)
    except Exception as exc:  # noqa: BLE001 - transformers raises many types for a bad config
        raise SubmissionRefused(
            f"{where}/{CONFIG_NAME} is not accepted: transformers cannot build {arch} from it ({type(exc).__name__})"
        ) from None
    tied = getattr(model, "all_tied_weights_keys", None) or getattr(model, "_tied_weights_keys", None) or ()
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}, set(tied)


def config_shapes(cfg: dict[str, Any], where: str) -> Shapes:
    """State-dict shapes of the timm model config.json declares, built on the meta device (no memory)."""
    import torch

    from harness.errors import HarnessError
    from harness.models import build_from_config

    try:
        with torch.device("meta"):
            model = build_from_config(cfg)[0]
    except HarnessError as exc:  # its message may quote config.json: say only which rule it broke
        raise SubmissionRefused(
            f"{where}/{CONFIG_NAME} is not accepted ({exc.kind.replace('_', ' ')}): timm's Hub layout with a "
            "known architecture and plain model_args is required"
        ) from None
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def check_weights_fit(weights: Shapes, declared: Shapes, where: str) -> None:
    """The harness loads strictly: every tensor must match in name and shape."""
    missing = declared.keys() - weights.keys()
    unexpected = weights.keys() - declared.keys()
    reshaped = [k for k in declared.keys() & weights.keys() if declared[k] != weights[k]]
    if missing or unexpected or reshaped:
        raise SubmissionRefused(
            f"{where}: the weights do not fit the model {CONFIG_NAME} declares ({len(missing)} tensor(s) "
            f"missing, {len(unexpected)} unexpected, {len(reshaped)} with another shape; config.json "
            f"declares {count_elements(declared) / 1e6:.2f}M values, the weights hold "
            f"{count_elements(weights) / 1e6:.2f}M)"
        )


def weights_params(cfg: dict[str, Any], weights: Shapes, where: str) -> int:
    """Parameter count from the weights, after checking they fit config.json's model."""
    if _is_transformers(cfg):
        check_transformers_fit(weights, *transformers_shapes(cfg, where), where)
    else:
        check_weights_fit(weights, config_shapes(cfg, where), where)
    return count_elements(weights)


def check_transformers_fit(weights: Shapes, declared: Shapes, tied: set[str], where: str) -> None:
    """transformers renames a checkpoint's tensors as it loads them (its conversion mappings), so a saved
    name need not be the module's: the tensors must match by shape, one for one; a tied weight is saved
    once, so the tensor sharing it may be absent. (The harness then loads strictly, names included.)"""
    from collections import Counter

    have = Counter(weights.values())
    need = Counter(v for k, v in declared.items() if k not in tied)
    allowed = Counter(declared.values())
    if need - have or have - allowed:
        missing, extra = sum((need - have).values()), sum((have - allowed).values())
        raise SubmissionRefused(
            f"{where}: the weights do not fit the model {CONFIG_NAME} declares ({missing} tensor(s) "
            f"missing, {extra} of shapes the model does not have; config.json declares "
            f"{count_elements(declared) / 1e6:.2f}M values, the weights hold {count_elements(weights) / 1e6:.2f}M)"
        )


# --- local-dir ----------------------------------------------------------------------------------
def resolve_local(ref: ModelRef) -> Resolved:
    from harness.models import sha256_file

    try:
        root = Path(ref.name).resolve(strict=True)  # the harness names the model by its resolved path
    except (OSError, RuntimeError):  # missing, or a symlink loop
        raise SubmissionRefused(f"local-dir {ref.name} does not exist (or is a symlink loop)") from None
    check_local_root(root, _data_dir())
    where = f"local-dir {root}"
    if not root.is_dir():
        raise SubmissionRefused(f"{where} is not a directory")
    check_weight_files(sorted(p.name for p in root.iterdir() if p.is_file()), where)
    cfg = read_config(root / CONFIG_NAME, where)
    task, why = config_task(cfg, where)
    weights = root / WEIGHTS_NAME
    params = weights_params(cfg, read_safetensors_shapes(weights, where), where)
    return Resolved("local-dir", f"local-dir:{root}", sha256_file(weights), params, task, why)


def _data_dir() -> Path:
    return Path(settings.get("LEADERBOARD_DATA_DIR")).resolve()


# --- Hub ----------------------------------------------------------------------------------------
def _hub_model_info(repo: str, revision: str | None):
    from huggingface_hub import model_info

    return model_info(repo, revision=revision, files_metadata=True)


def _hub_config(repo: str, sha: str) -> dict[str, Any]:
    from huggingface_hub import hf_hub_download

    path = Path(hf_hub_download(repo, CONFIG_NAME, revision=sha))
    return read_config(path.resolve(), f"{repo}@{sha[:12]}")


def _hub_weight_shapes(repo: str, sha: str) -> Shapes:
    """The weights header, fetched by the Hub client (a range request; it caps the header size too)."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import SafetensorsParsingError

    where = f"{repo}@{sha[:12]}/{WEIGHTS_NAME}"
    try:
        meta = HfApi().parse_safetensors_file_metadata(repo, WEIGHTS_NAME, revision=sha)
    except SafetensorsParsingError:
        raise SubmissionRefused(f"{where} is not a valid safetensors file (unreadable header)") from None
    shapes = {name: info.shape for name, info in meta.tensors.items()}
    return parse_safetensors_header(json.dumps({k: {"shape": v} for k, v in shapes.items()}).encode(), where)


def resolve_hub(
    ref: ModelRef,
    revision: str | None,
    model_info: Callable[[str, str | None], Any] | None = None,
) -> Resolved:
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError

    fetch = model_info or _hub_model_info
    try:
        info = fetch(ref.name, revision)
    except GatedRepoError:
        raise SubmissionRefused(
            f"{ref.name} is gated; only public, ungated models can be evaluated"
        ) from None
    except RevisionNotFoundError:
        raise SubmissionRefused(
            f"{ref.name} has no revision {revision!r}; check the branch, tag or sha"
        ) from None
    except RepositoryNotFoundError:
        raise SubmissionRefused(
            f"{ref.name} does not exist on the Hub (or is private); check the id"
        ) from None
    except Exception as exc:  # noqa: BLE001 - network errors come in many types
        raise SubmissionRefused(
            f"cannot check {ref.name} on the Hub right now ({type(exc).__name__}); try again later"
        ) from None
    sha = check_hub_info(info, ref.name, settings.get("HARNESS_MAX_DOWNLOAD_MB"), MAX_CONFIG_BYTES)
    try:
        cfg = _hub_config(ref.name, sha)
        weights = _hub_weight_shapes(ref.name, sha)
    except SubmissionRefused:
        raise
    except Exception as exc:  # noqa: BLE001
        raise SubmissionRefused(
            f"cannot read {ref.name}'s {CONFIG_NAME} and weights header right now ({type(exc).__name__}); "
            "try again later"
        ) from None
    task, why = config_task(cfg, f"{ref.name}@{sha[:12]}")
    params = weights_params(cfg, weights, f"{ref.name}@{sha[:12]}")
    return Resolved("hf-hub", ref.model, sha, params, task, why)


def resolve(ref: ModelRef, revision: str | None, model_info=None) -> Resolved:
    if ref.source == "timm":
        return resolve_timm(ref)
    if ref.source == "torchvision":
        return resolve_torchvision(ref)
    if ref.source == "local-dir":
        return resolve_local(ref)
    return resolve_hub(ref, revision, model_info)
