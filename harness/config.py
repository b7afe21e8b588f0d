"""Benchmark settings: one dataclass shared by the CLI, the queue entries and the result key."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

BACKENDS = ("pytorch", "onnxruntime")
DEVICES = ("cpu", "cuda")
PRECISIONS = ("fp32", "fp16", "int8")
MAX_BATCH_SIZE = 1024


class ConfigError(ValueError):
    """A benchmark setting is invalid; the message says which and what is allowed."""


@dataclass(frozen=True)
class BenchmarkConfig:
    """What to measure. Everything here (and nothing else) goes into the result key."""

    dataset: str | None = None
    max_samples: int | None = 500
    backends: tuple[str, ...] = ("pytorch", "onnxruntime")
    device: str = "cpu"
    batch_sizes: tuple[int, ...] = (1, 8)
    precisions: tuple[str, ...] = ("fp32",)
    min_duration_s: float = 1.0
    robustness: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        validate(self)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["backends"] = list(self.backends)
        d["batch_sizes"] = list(self.batch_sizes)
        d["precisions"] = list(self.precisions)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BenchmarkConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown benchmark setting(s): {', '.join(sorted(unknown))}")
        kw = dict(data)
        for key in ("backends", "batch_sizes", "precisions"):
            if key in kw and kw[key] is not None:
                if isinstance(kw[key], str):
                    kw[key] = [p for p in kw[key].split(",") if p]
                kw[key] = tuple(kw[key])
        return cls(**kw)

    def to_cli_args(self) -> list[str]:
        """The ``python -m harness`` flags that reproduce this configuration."""
        args: list[str] = []
        args += ["--dataset", self.dataset] if self.dataset else ["--no-dataset"]
        if self.max_samples is not None:
            args += ["--max-samples", str(self.max_samples)]
        args += ["--backends", ",".join(self.backends)]
        args += ["--device", self.device]
        args += ["--batch-sizes", ",".join(str(b) for b in self.batch_sizes)]
        args += ["--precisions", ",".join(self.precisions)]
        args += ["--min-duration", f"{self.min_duration_s:g}"]
        if self.robustness:
            args.append("--robustness")
        return args


def validate(cfg: BenchmarkConfig) -> None:
    def bad(msg: str) -> None:
        raise ConfigError(msg)

    if not cfg.backends or any(b not in BACKENDS for b in cfg.backends):
        bad(f"backends must be a non-empty subset of {','.join(BACKENDS)}, got {','.join(cfg.backends)}")
    if len(set(cfg.backends)) != len(cfg.backends):
        bad("backends are listed twice")
    if cfg.device not in DEVICES:
        bad(f"device must be one of {', '.join(DEVICES)}, got {cfg.device!r}")
    if not cfg.batch_sizes or any(
        not isinstance(b, int) or isinstance(b, bool) or not 1 <= b <= MAX_BATCH_SIZE for b in cfg.batch_sizes
    ):
        bad(f"batch sizes must be whole numbers from 1 to {MAX_BATCH_SIZE}, got {cfg.batch_sizes}")
    if len(set(cfg.batch_sizes)) != len(cfg.batch_sizes):
        bad("batch sizes are listed twice")
    if not cfg.precisions or any(p not in PRECISIONS for p in cfg.precisions):
        bad(
            f"precisions must be a non-empty subset of {','.join(PRECISIONS)}, got {','.join(cfg.precisions)}"
        )
    if "fp16" in cfg.precisions and cfg.device != "cuda":
        bad("fp16 is measured on cuda only; use --precisions fp32,int8 on cpu")
    if not isinstance(cfg.min_duration_s, int | float) or not 0.05 <= cfg.min_duration_s <= 600:
        bad(f"min duration must be between 0.05 and 600 seconds, got {cfg.min_duration_s}")
    if cfg.max_samples is not None and (
        not isinstance(cfg.max_samples, int) or isinstance(cfg.max_samples, bool) or cfg.max_samples < 1
    ):
        bad(f"max samples must be a positive whole number, got {cfg.max_samples}")
    if cfg.dataset is not None and (not isinstance(cfg.dataset, str) or not cfg.dataset.strip()):
        bad("dataset must be a non-empty path or id")


def result_key(model_id: str, revision: str | None, config: BenchmarkConfig, hardware_profile: str) -> str:
    """Stable key of one evaluation: hash of (model, revision, benchmark config, hardware profile)."""
    payload = json.dumps(
        {"model": model_id, "revision": revision, "config": config.to_dict(), "hardware": hardware_profile},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:20]
