"""Parse a MODEL spec and load it safely: timm architecture, ``torchvision:ARCH``, ``hf-hub:org/name[@rev]``
or ``local-dir:/path`` (a timm or a transformers checkpoint; harness.task_models builds the non-timm ones).

Safety rules (DESIGN "Safety"): only safetensors weights are loaded (pickle is refused), no remote code,
the architecture must be in timm's registry (or a transformers task class) and ``model_args`` from
``config.json`` are limited to a whitelist of plain values; Hub downloads are size-capped and pinned to a
resolved commit sha.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import settings
from harness.errors import (
    BadModelSpec,
    DownloadTooLarge,
    HarnessError,
    ModelUnavailable,
    UnknownArchitecture,
    UnsupportedWeights,
    WeightMismatch,
    as_harness_error,
)

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
PREPROCESSOR_NAME = "preprocessor_config.json"  # transformers' image processor (input size, mean/std)
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".ckpt")
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
_REVISION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$")

# model_args a config.json may pass to timm.create_model: plain values only, nothing that names code.
_ALLOWED_MODEL_ARGS: dict[str, tuple[type, ...]] = {
    "num_classes": (int,),
    "in_chans": (int,),
    "global_pool": (str,),
    "img_size": (int, list, tuple),
    "patch_size": (int,),
    "embed_dim": (int,),
    "depth": (int,),
    "num_heads": (int,),
    "mlp_ratio": (int, float),
    "class_token": (bool,),
    "no_embed_class": (bool,),
    "reg_tokens": (int,),
    "dynamic_img_size": (bool,),
    "drop_rate": (int, float),
    "drop_path_rate": (int, float),
    "output_stride": (int,),
}


@dataclass(frozen=True)
class ModelSpec:
    """A parsed MODEL argument. ``id`` is what identifies the model in records (no revision)."""

    source: str  # "timm" | "torchvision" | "hf-hub" | "local-dir"
    name: str  # arch name, "org/name", or absolute directory path
    revision: str | None = None  # as requested (hf-hub only)

    @property
    def id(self) -> str:
        return self.name if self.source == "timm" else f"{self.source}:{self.name}"


@dataclass
class LoadedModel:
    model: Any  # torch.nn.Module, eval mode, CPU, fp32
    spec: ModelSpec
    source: str
    revision: str | None  # commit sha (hf-hub), sha256 of weights (local-dir), None (timm random weights)
    architecture: str
    pretrained: bool
    num_classes: int
    data_config: dict[str, Any]
    input_size: tuple[int, int, int]
    weight_files: list[str] = field(default_factory=list)
    size_mb: float | None = None
    load_ms: float = 0.0
    task: str = "classification"  # harness.tasks.TASK_NAMES
    output_kind: str = "logits"  # harness.tasks.adapters.KIND_*: the layout of the model's one output
    labels: dict[int, str] = field(default_factory=dict)  # label index -> name, where the model says
    keypoint_names: tuple[str, ...] = ()

    @property
    def head(self):
        """What the adapters need to decode this model's outputs."""
        from harness.tasks.adapters import Head

        return Head(self.task, self.output_kind, self.input_size, dict(self.labels), self.keypoint_names)


def parse_model_spec(text: str) -> ModelSpec:
    """Validate the MODEL syntax only (no network, no filesystem beyond nothing)."""
    text = (text or "").strip()
    if not text:
        raise BadModelSpec(
            "model is empty; give a timm architecture, torchvision:ARCH, hf-hub:org/name[@rev] or local-dir:/path"
        )
    if text.startswith("hf-hub:"):
        rest = text[len("hf-hub:") :]
        repo, _, rev = rest.partition("@")
        if not _HUB_ID.match(repo) or ".." in repo:
            raise BadModelSpec(f"bad Hub model id {repo!r}: expected hf-hub:org/name[@revision]")
        if "@" in rest and (not rev or not _REVISION.match(rev) or ".." in rev):
            raise BadModelSpec(f"bad revision {rev!r} in {text!r}")
        return ModelSpec("hf-hub", repo, rev or None)
    if text.startswith("local-dir:"):
        path = text[len("local-dir:") :]
        if not path:
            raise BadModelSpec("local-dir: needs a directory path, e.g. local-dir:/models/my-model")
        return ModelSpec("local-dir", str(Path(path).expanduser().resolve()))
    if text.startswith("torchvision:"):
        arch = text[len("torchvision:") :]
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,99}", arch):
            raise BadModelSpec(
                f"bad torchvision architecture {arch[:60]!r}: expected e.g. torchvision:resnet18"
            )
        return ModelSpec("torchvision", arch)
    if ":" in text or "/" in text:
        raise BadModelSpec(
            f"unknown model source in {text[:80]!r}: use a timm architecture, torchvision:ARCH, "
            "hf-hub:org/name[@rev] or local-dir:/path"
        )
    return ModelSpec("timm", text)


def check_architecture(arch: Any) -> str:
    import timm

    if not isinstance(arch, str) or not arch or not timm.is_model(arch):
        raise UnknownArchitecture(f"unknown architecture {arch!r}: not in timm {timm.__version__}'s registry")
    return arch


def check_model_args(args: Any) -> dict[str, Any]:
    """Keep config.json's model_args to whitelisted plain values (no callables, layers, module paths)."""
    if args is None:
        return {}
    if not isinstance(args, dict):
        raise BadModelSpec("config.json model_args must be an object")
    out: dict[str, Any] = {}
    for key, value in args.items():
        allowed = _ALLOWED_MODEL_ARGS.get(key)
        if allowed is None:
            raise BadModelSpec(
                f"config.json model_args.{key} is not allowed (allowed: {', '.join(sorted(_ALLOWED_MODEL_ARGS))})"
            )
        if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
            raise BadModelSpec(f"config.json model_args.{key} has an unsupported value {value!r}")
        if isinstance(value, list | tuple):
            if len(value) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
                raise BadModelSpec(f"config.json model_args.{key} must be an int or [height, width]")
            value = tuple(value)
        if key == "in_chans" and value != 3:
            raise BadModelSpec(f"only 3-channel RGB models are supported, config.json has in_chans={value}")
        out[key] = value
    return out


def read_hub_config(path: Path) -> dict[str, Any]:
    try:
        cfg = json.loads(path.read_text())
    except FileNotFoundError:
        raise UnsupportedWeights(f"{path.parent} has no {CONFIG_NAME} (timm Hub layout expected)") from None
    except (OSError, ValueError) as exc:
        raise BadModelSpec(f"cannot read {path}: {exc}") from None
    if not isinstance(cfg, dict):
        raise BadModelSpec(f"{path} must hold a JSON object")
    if "architecture" not in cfg and "architectures" not in cfg:
        raise BadModelSpec(f"{path} names neither timm's 'architecture' nor transformers' 'architectures'")
    return cfg


def build_from_config(cfg: dict[str, Any]):
    """Create the (random-weight) timm model that config.json describes. Returns (model, arch, model_args)."""
    import timm

    arch = check_architecture(cfg.get("architecture"))
    model_args = check_model_args(cfg.get("model_args"))
    pretrained_cfg = cfg.get("pretrained_cfg") or {}
    if not isinstance(pretrained_cfg, dict):
        raise BadModelSpec("config.json pretrained_cfg must be an object")
    pretrained_cfg = dict(pretrained_cfg)
    num_classes = cfg.get("num_classes", pretrained_cfg.get("num_classes"))
    if num_classes is not None:
        if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1:
            raise BadModelSpec(f"config.json num_classes must be a positive integer, got {num_classes!r}")
        if model_args.get("num_classes", num_classes) != num_classes:
            raise BadModelSpec(
                f"config.json says num_classes={num_classes} but model_args.num_classes={model_args['num_classes']}"
            )
        pretrained_cfg["num_classes"] = num_classes
        model_args["num_classes"] = num_classes
    pretrained_cfg.pop("hf_hub_id", None)
    pretrained_cfg.pop("url", None)
    pretrained_cfg.pop("file", None)
    try:
        model = timm.create_model(arch, pretrained=False, pretrained_cfg=pretrained_cfg, **model_args)
    except HarnessError:
        raise
    except Exception as exc:  # noqa: BLE001 - invalid args surface as many exception types
        raise as_harness_error(exc, f"building {arch} from config.json") from None
    return model, arch, model_args


def load_weights(model: Any, weights_path: Path) -> None:
    """safetensors only, strict: every key must match in name and shape."""
    from safetensors.torch import load_file

    try:
        state = load_file(str(weights_path), device="cpu")
    except Exception as exc:  # noqa: BLE001
        raise UnsupportedWeights(f"cannot read {weights_path.name} as safetensors: {exc}") from None
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        missing, unexpected = _state_diff(model.state_dict(), state)
        detail = []
        if missing:
            detail.append(f"missing {len(missing)} key(s) e.g. {missing[0]}")
        if unexpected:
            detail.append(f"unexpected {len(unexpected)} key(s) e.g. {unexpected[0]}")
        if not detail:
            detail.append(str(exc).strip().splitlines()[-1][:200])
        raise WeightMismatch(
            f"weights do not match the architecture in config.json: {'; '.join(detail)}"
        ) from None


def _state_diff(expected: dict, got: dict) -> tuple[list[str], list[str]]:
    missing = sorted(set(expected) - set(got))
    unexpected = sorted(set(got) - set(expected))
    if not missing and not unexpected:
        shape = [k for k in expected if tuple(expected[k].shape) != tuple(got[k].shape)]
        unexpected = [f"{k} shape {tuple(got[k].shape)} != {tuple(expected[k].shape)}" for k in shape[:1]]
    return missing, unexpected


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def max_download_mb() -> float:
    """The Hub download cap in MB (HARNESS_MAX_DOWNLOAD_MB); a malformed value is bad input, not ignored."""
    try:
        return float(settings.get("HARNESS_MAX_DOWNLOAD_MB"))
    except settings.SettingError as exc:
        raise HarnessError(str(exc)) from None


def _refuse_pickle_only(files: list[str], where: str) -> None:
    if WEIGHTS_NAME in files:
        return
    pickles = [f for f in files if f.endswith(PICKLE_SUFFIXES)]
    if pickles:
        raise UnsupportedWeights(
            f"{where} has only pickle weights ({', '.join(sorted(pickles)[:3])}); only safetensors is loaded "
            f"(save {WEIGHTS_NAME} with timm's push_to_hub(..., safe_serialization=True))"
        )
    if any(f.endswith(".safetensors.index.json") for f in files):
        raise UnsupportedWeights(f"{where} has sharded weights; a single {WEIGHTS_NAME} is required")
    raise UnsupportedWeights(f"{where} has no {WEIGHTS_NAME}")


def _resolve_local(spec: ModelSpec) -> tuple[Path, Path, str]:
    root = Path(spec.name)
    if not root.is_dir():
        raise BadModelSpec(f"local-dir {root} is not a directory")
    files = [p.name for p in root.iterdir() if p.is_file()]
    _refuse_pickle_only(files, f"local-dir {root}")
    weights = root / WEIGHTS_NAME
    return root / CONFIG_NAME, weights, sha256_file(weights)


def _resolve_hub(spec: ModelSpec) -> tuple[Path, Path, str]:
    """Resolve the revision to a commit sha, check files and sizes, then download at that sha."""
    from huggingface_hub import hf_hub_download, model_info
    from huggingface_hub.errors import (
        GatedRepoError,
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    try:
        info = model_info(spec.name, revision=spec.revision, files_metadata=True)
    except GatedRepoError:
        raise ModelUnavailable(f"Hub model {spec.name} is gated; it cannot be evaluated") from None
    except RepositoryNotFoundError:
        raise ModelUnavailable(f"Hub model {spec.name} does not exist (or is private)") from None
    except RevisionNotFoundError:
        raise ModelUnavailable(f"Hub model {spec.name} has no revision {spec.revision!r}") from None
    except Exception as exc:  # noqa: BLE001 - network errors come in many types
        raise ModelUnavailable(f"cannot reach the Hub for {spec.name}: {type(exc).__name__}: {exc}") from None
    sha = getattr(info, "sha", None)
    if not sha:
        raise ModelUnavailable(f"Hub did not return a commit sha for {spec.name}@{spec.revision or 'main'}")
    siblings = {s.rfilename: s for s in (info.siblings or [])}
    _refuse_pickle_only(list(siblings), f"Hub model {spec.name}@{sha[:12]}")
    if CONFIG_NAME not in siblings:
        raise UnsupportedWeights(f"Hub model {spec.name} has no {CONFIG_NAME} (timm or transformers layout)")
    cap = max_download_mb()
    size = getattr(siblings[WEIGHTS_NAME], "size", None)
    if size is not None and size / 2**20 > cap:
        raise DownloadTooLarge(
            f"{spec.name}/{WEIGHTS_NAME} is {size / 2**20:.2f} MB, above the {cap:g} MB cap"
        )
    paths = []
    optional = [PREPROCESSOR_NAME] if PREPROCESSOR_NAME in siblings else []  # a transformers input size
    for name in (CONFIG_NAME, WEIGHTS_NAME, *optional):
        try:
            paths.append(Path(hf_hub_download(spec.name, name, revision=sha)))
        except RemoteEntryNotFoundError:
            raise UnsupportedWeights(f"Hub model {spec.name}@{sha[:12]} has no {name}") from None
        except Exception as exc:  # noqa: BLE001
            raise ModelUnavailable(
                f"cannot download {spec.name}/{name}: {type(exc).__name__}: {exc}"
            ) from None
    if paths[1].stat().st_size / 2**20 > cap:
        raise DownloadTooLarge(f"{spec.name}/{WEIGHTS_NAME} is above the {cap:g} MB cap")
    return paths[0], paths[1], sha


def zeroed_norm_layers(model: Any) -> list[Any]:
    """Normalisation layers whose scale (gamma) is all zero: their branch computes a constant zero."""
    import torch

    norms = (torch.nn.modules.batchnorm._NormBase, torch.nn.GroupNorm, torch.nn.LayerNorm)
    return [
        m
        for m in model.modules()
        if isinstance(m, norms)
        and isinstance(getattr(m, "weight", None), torch.Tensor)
        and m.weight.numel()
        and not bool(m.weight.detach().any())
    ]


def reset_zeroed_norm_scales(model: Any) -> int:
    """Random-weight timm nets zero each residual block's last normalisation scale (``zero_init_last``).
    A converter that folds constant branches (LiteRT does) would then time about half the work the other
    runtimes run; with ones instead every runtime times the same, non-degenerate graph. Only for random
    weights: a checkpoint is measured as it is. Returns how many layers were reset."""
    import torch

    layers = zeroed_norm_layers(model)
    with torch.no_grad():
        for layer in layers:
            layer.weight.fill_(1.0)
    return len(layers)


def load_model(spec_text: str | ModelSpec, revision: str | None = None) -> LoadedModel:
    """Load a model for evaluation. ``revision`` pins an hf-hub model (child processes pass the resolved sha)."""
    import timm
    import torch

    spec = spec_text if isinstance(spec_text, ModelSpec) else parse_model_spec(spec_text)
    if revision and spec.source == "hf-hub":
        spec = ModelSpec(spec.source, spec.name, revision)
    t0 = time.perf_counter()
    built = None  # a harness.task_models.TaskModel (torchvision / transformers), else a timm model
    weight_files: list[str] = []
    try:
        if spec.source == "timm":
            arch = check_architecture(spec.name)
            model = timm.create_model(arch, pretrained=False)
            resolved, weight_files, pretrained = None, [], False
        elif spec.source == "torchvision":
            from harness.task_models import build_torchvision

            built = build_torchvision(spec.name)
            resolved, weight_files, pretrained = None, [], False
        else:
            config_path, weights_path, resolved = (
                _resolve_hub if spec.source == "hf-hub" else _resolve_local
            )(spec)
            if spec.source == "local-dir" and revision and revision != resolved:
                raise WeightMismatch(f"weights in {spec.name} changed during the evaluation")
            cfg = read_hub_config(config_path)
            from harness.task_models import build_transformers, is_transformers_config

            if is_transformers_config(cfg):
                built = build_transformers(config_path.parent, cfg)
            else:
                model, arch, _ = build_from_config(cfg)
                load_weights(model, weights_path)
            weight_files, pretrained = [str(weights_path)], True
        if built is not None:
            model, arch = built.module, built.architecture
        if not pretrained:  # efficiency only: keep every runtime timing the same work
            reset_zeroed_norm_scales(model)
        model.eval()
    except HarnessError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise as_harness_error(exc, f"loading {spec.id}") from None
    load_ms = (time.perf_counter() - t0) * 1000
    data_config = built.data_config if built else timm.data.resolve_model_data_config(model)
    input_size = tuple(int(v) for v in data_config["input_size"])
    if weight_files:
        size_mb = sum(os.path.getsize(p) for p in weight_files) / 2**20
    else:  # random weights: the size its model.safetensors would have, so efficiency rows still show it
        size_mb = safetensors_size(model.state_dict()) / 2**20
    with torch.no_grad():
        num_classes = int(getattr(model, "num_classes", 0) or 0)
    if built is not None:
        num_classes = len(built.labels)
    task_facts: dict[str, Any] = {}
    if built is not None:
        task_facts = dict(
            task=built.task,
            output_kind=built.output_kind,
            labels=dict(built.labels),
            keypoint_names=tuple(built.keypoint_names),
        )
    return LoadedModel(
        model=model,
        spec=spec,
        source=spec.source,
        revision=resolved,
        architecture=arch,
        pretrained=pretrained,
        num_classes=num_classes,
        data_config=_jsonable(data_config),
        input_size=input_size,  # type: ignore[arg-type]
        weight_files=weight_files,
        size_mb=size_mb,
        load_ms=load_ms,
        **task_facts,
    )


def safetensors_size(state_dict: dict[str, Any]) -> int:
    """Bytes of ``state_dict`` serialised as safetensors (shared tensors stored once, as timm saves them)."""
    from safetensors.torch import save

    seen: set[tuple[int, int]] = set()
    unique = {}
    for name, tensor in state_dict.items():
        ident = (tensor.untyped_storage().data_ptr(), tensor.storage_offset())
        if ident not in seen:
            seen.add(ident)
            unique[name] = tensor.contiguous()
    return len(save(unique))


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


def save_hub_layout(model: Any, arch: str, directory: str | Path, pretrained_cfg: dict | None = None) -> Path:
    """Write config.json + model.safetensors exactly as timm's ``push_to_hf_hub`` would (it calls save_for_hf)."""
    from timm.models import save_for_hf

    if getattr(model, "pretrained_cfg", {}).get("architecture", arch) != arch:
        raise ValueError(f"model is a {model.pretrained_cfg.get('architecture')}, not {arch}")
    directory = Path(directory)
    model_config = {"pretrained_cfg": dict(pretrained_cfg)} if pretrained_cfg else None
    save_for_hf(model, str(directory), model_config=model_config, safe_serialization=True)
    return directory
