"""I/O side of a submission: does the model exist, which revision, how many parameters.

timm: ``timm.is_model`` + instantiation on the meta device (no memory, no weights). Hub: ``model_info``
(sha, files, safetensors metadata), else config.json built on the meta device. local-dir: files present,
config.json checked against timm's registry, revision = sha256 of the weights, count from the safetensors
header (no tensor is loaded).
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from submissions.validate import (
    CONFIG_NAME,
    WEIGHTS_NAME,
    ModelRef,
    SubmissionRefused,
    check_hub_info,
    check_weight_files,
    hub_param_count,
)

MAX_HEADER_BYTES = 100 * 2**20


@dataclass(frozen=True)
class Resolved:
    source: str
    model: str  # canonical harness spec without revision
    revision: str | None
    params: int | None


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


def safetensors_param_count(path: Path) -> int:
    """Total elements of all tensors, from the safetensors JSON header only."""
    with open(path, "rb") as fh:
        head = fh.read(8)
        if len(head) != 8:
            raise SubmissionRefused(f"{path} is not a safetensors file (too short)")
        (n,) = struct.unpack("<Q", head)
        if n > MAX_HEADER_BYTES:
            raise SubmissionRefused(f"{path} has an implausible safetensors header ({n} bytes)")
        try:
            header = json.loads(fh.read(n))
        except ValueError:
            raise SubmissionRefused(f"{path} is not a valid safetensors file (bad header)") from None
    total = 0
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        shape = meta.get("shape") if isinstance(meta, dict) else None
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise SubmissionRefused(f"{path} has a tensor {name!r} without a valid shape")
        count = 1
        for d in shape:
            count *= d
        total += count
    return total


def _check_config(cfg_path: Path) -> dict:
    from harness.errors import HarnessError
    from harness.models import check_architecture, check_model_args, read_hub_config

    try:
        cfg = read_hub_config(cfg_path)
        check_architecture(cfg.get("architecture"))
        check_model_args(cfg.get("model_args"))
    except HarnessError as exc:
        raise SubmissionRefused(str(exc)) from None
    return cfg


def resolve_local(ref: ModelRef) -> Resolved:
    from harness.models import sha256_file

    root = Path(ref.name).resolve()  # the harness names the model by its resolved path
    if not root.is_dir():
        raise SubmissionRefused(f"local-dir {root} does not exist or is not a directory")
    check_weight_files([p.name for p in root.iterdir() if p.is_file()], f"local-dir {root}")
    _check_config(root / CONFIG_NAME)
    weights = root / WEIGHTS_NAME
    params = safetensors_param_count(weights)
    return Resolved("local-dir", f"local-dir:{root}", sha256_file(weights), params)


def _hub_model_info(repo: str, revision: str | None):
    from huggingface_hub import model_info

    return model_info(repo, revision=revision, files_metadata=True)


def _hub_config_params(repo: str, sha: str) -> int | None:
    """Fallback when the Hub has no safetensors metadata: build config.json's model on the meta device."""
    from huggingface_hub import hf_hub_download

    from harness.errors import HarnessError
    from harness.models import build_from_config

    cfg_path = Path(hf_hub_download(repo, CONFIG_NAME, revision=sha))
    cfg = _check_config(cfg_path)
    try:
        return count_params_on_meta(lambda: build_from_config(cfg)[0])
    except HarnessError as exc:
        raise SubmissionRefused(str(exc)) from None


def resolve_hub(
    ref: ModelRef,
    revision: str | None,
    model_info: Callable[[str, str | None], Any] | None = None,
    config_params: Callable[[str, str], int | None] | None = None,
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
    cap = os.environ.get("HARNESS_MAX_DOWNLOAD_MB")
    sha = check_hub_info(info, ref.name, float(cap) if cap else 4096.0)
    params = hub_param_count(info)
    if params is None:
        try:
            params = (config_params or _hub_config_params)(ref.name, sha)
        except SubmissionRefused:
            raise
        except Exception as exc:  # noqa: BLE001
            raise SubmissionRefused(
                f"cannot read {ref.name}/{CONFIG_NAME} to count parameters ({type(exc).__name__}); try again later"
            ) from None
    return Resolved("hf-hub", ref.model, sha, params)


def resolve(ref: ModelRef, revision: str | None, model_info=None, config_params=None) -> Resolved:
    if ref.source == "timm":
        return resolve_timm(ref)
    if ref.source == "local-dir":
        return resolve_local(ref)
    return resolve_hub(ref, revision, model_info, config_params)
