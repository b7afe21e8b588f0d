"""Benchmark settings: one dataclass shared by the CLI, the queue entries and the result key.

The config is *normalised* on construction so that one measurement has one key: whole numbers stay
ints (``3`` and ``3.0`` are the same batch size), durations are floats, lists are de-duplicated and put
in a canonical order (backends and precisions in registry order, batch sizes ascending), a blank dataset
is no dataset. :meth:`BenchmarkConfig.from_dict` is the strict reader for data from outside (queue
entries, the submit form): unknown fields, booleans where numbers belong, non-finite or out-of-range
numbers and over-long values are refused with a one-line :class:`ConfigError` that names the field.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from harness.backends import backend_specs
from harness.tasks import TASK_NAMES

MAX_BATCH_SIZE = 1024
MAX_BATCH_SIZES = 16  # how many batch sizes one evaluation may measure
MAX_SAMPLES = 1_000_000
MIN_DURATION_S, MAX_DURATION_S = 0.05, 600.0
MAX_DATASET_CHARS = 512
MAX_CSV_CHARS = 4096
MAX_EXTRA_ITEMS, MAX_EXTRA_CHARS = 16, 256
MIN_INPUT_SIZE, MAX_INPUT_SIZE = 16, 1024  # square resolutions of input-size scaling (pixels)
MAX_INPUT_SIZES = 8
DEFAULT_TASK = "classification"  # a config without a task (every config made before tasks existed)


def _union(attr: str) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for spec in backend_specs():
        seen.update(dict.fromkeys(getattr(spec, attr)))
    return tuple(seen)


# Derived from the backend registry (harness.backends): the one place a backend declares what it runs.
BACKENDS = tuple(s.name for s in backend_specs())
DEVICES = _union("devices")
PRECISIONS = _union("precisions")


class ConfigError(ValueError):
    """A benchmark setting is invalid; the message says which and what is allowed."""


def split_csv(text: str) -> tuple[str, ...]:
    """The one comma-list parser: ``" a, b,,c "`` -> ``("a", "b", "c")``. Order and repeats are kept."""
    if not isinstance(text, str):
        raise ConfigError(f"expected a comma-separated list, got {type(text).__name__}")
    if len(text) > MAX_CSV_CHARS:
        raise ConfigError(
            f"comma-separated list is too long ({len(text)} characters; at most {MAX_CSV_CHARS})"
        )
    return tuple(part.strip() for part in text.split(",") if part.strip())


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
    # Input-size scaling: batch-1 latency at each square resolution (harness.scaling); empty = none, and
    # then left out of to_dict so the keys of configs without it stay what they were.
    input_sizes: tuple[int, ...] = ()
    task: str = DEFAULT_TASK  # harness.tasks.TASK_NAMES; the model must be one for this task

    def __post_init__(self) -> None:
        for name, value in _normalise(self).items():
            object.__setattr__(self, name, value)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["backends"] = list(self.backends)
        d["batch_sizes"] = list(self.batch_sizes)
        d["precisions"] = list(self.precisions)
        if self.input_sizes:
            d["input_sizes"] = list(self.input_sizes)
        else:
            del d["input_sizes"]
        if self.task == DEFAULT_TASK:  # classification keys stay what they were before tasks existed
            del d["task"]
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BenchmarkConfig:
        """Strict reader: unknown fields refused; lists may be given as comma strings ("1,8")."""
        if not isinstance(data, dict):
            raise ConfigError(f"benchmark config must be a mapping, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(str(k)[:40] for k in data if k not in known)
        if unknown:
            raise ConfigError(f"unknown benchmark setting(s): {', '.join(unknown[:5])}")
        kw = dict(data)
        for key in ("backends", "batch_sizes", "precisions", "input_sizes"):
            if isinstance(kw.get(key), str):
                kw[key] = split_csv(kw[key])
        return cls(**kw)

    def to_cli_args(self) -> list[str]:
        """The ``python -m harness`` flags that reproduce this configuration. ``--task`` is always given,
        so a queued classification job refuses a detector instead of measuring it as its own task."""
        args: list[str] = ["--task", self.task]
        args += ["--dataset", self.dataset] if self.dataset else ["--no-dataset"]
        if self.max_samples is not None:
            args += ["--max-samples", str(self.max_samples)]
        args += ["--backends", ",".join(self.backends)]
        args += ["--device", self.device]
        args += ["--batch-sizes", ",".join(str(b) for b in self.batch_sizes)]
        args += ["--precisions", ",".join(self.precisions)]
        args += ["--min-duration", repr(self.min_duration_s)]
        if self.robustness:
            args.append("--robustness")
        if self.input_sizes:
            args += ["--input-sizes", ",".join(str(r) for r in self.input_sizes)]
        return args


def validate(cfg: BenchmarkConfig) -> None:
    """Raise ConfigError if ``cfg`` is invalid (construction already does this; kept for callers)."""
    _normalise(cfg)


# ---- normalisation (one helper per kind of value) --------------------------------------------------------


def _whole(value: Any, what: str) -> int:
    """An int, or a float with no fractional part; never a bool, a string or NaN."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{what} must be a whole number, got {_show(value)}")
    if isinstance(value, float) and (not math.isfinite(value) or not value.is_integer()):
        raise ConfigError(f"{what} must be a whole number, got {_show(value)}")
    return int(value)


def _names(value: Any, what: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    items = _sequence(value, what, len(allowed) * 4)
    if not items or any(not isinstance(v, str) or v not in allowed for v in items):
        shown = ",".join(_show(v) if not isinstance(v, str) else v[:40] for v in items[:8])
        raise ConfigError(
            f"{what} must be a non-empty subset of {','.join(allowed)}, got {shown or 'nothing'}"
        )
    return tuple(a for a in allowed if a in items)  # canonical order, each once


def _sequence(value: Any, what: str, limit: int) -> tuple[Any, ...]:
    if isinstance(value, str):
        value = split_csv(value)
    if not isinstance(value, list | tuple):
        raise ConfigError(f"{what} must be a list, got {_show(value)}")
    if len(value) > limit:
        raise ConfigError(f"{what} has too many entries ({len(value)}; at most {limit})")
    return tuple(value)


def _batch_sizes(value: Any) -> tuple[int, ...]:
    items = _sequence(value, "batch sizes", MAX_BATCH_SIZES)
    sizes = []
    for v in items:
        if isinstance(v, str) and re.fullmatch(r"\d{1,7}", v.strip()):
            v = int(v)
        b = _whole(v, "batch sizes")
        if not 1 <= b <= MAX_BATCH_SIZE:
            raise ConfigError(f"batch sizes must be whole numbers from 1 to {MAX_BATCH_SIZE}, got {b}")
        sizes.append(b)
    if not sizes:
        raise ConfigError(f"batch sizes must be whole numbers from 1 to {MAX_BATCH_SIZE}, got nothing")
    return tuple(sorted(set(sizes)))


def _input_sizes(value: Any) -> tuple[int, ...]:
    """Square resolutions for input-size scaling, ascending, each once; empty is allowed (none)."""
    items = _sequence(value, "input sizes", MAX_INPUT_SIZES)
    sizes = set()
    for v in items:
        if isinstance(v, str) and re.fullmatch(r"\d{1,7}", v.strip()):
            v = int(v)
        r = _whole(v, "input sizes")
        if not MIN_INPUT_SIZE <= r <= MAX_INPUT_SIZE:
            raise ConfigError(
                f"input sizes must be whole numbers of pixels from {MIN_INPUT_SIZE} to {MAX_INPUT_SIZE}, got {r}"
            )
        sizes.add(r)
    return tuple(sorted(sizes))


def _dataset(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigError(f"dataset must be a path or id, got {_show(value)}")
    text = value.strip()
    if len(text) > MAX_DATASET_CHARS:
        raise ConfigError(f"dataset is too long ({len(text)} characters; at most {MAX_DATASET_CHARS})")
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise ConfigError("dataset must not contain control characters")
    return text or None  # blank means no dataset


def _extra(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"extra must be a mapping, got {_show(value)}")
    if len(value) > MAX_EXTRA_ITEMS:
        raise ConfigError(f"extra has too many entries ({len(value)}; at most {MAX_EXTRA_ITEMS})")
    for k, v in value.items():
        if not isinstance(k, str) or not 0 < len(k) <= 64:
            raise ConfigError(f"extra keys must be short strings, got {_show(k)}")
        ok = v is None or isinstance(v, bool | int | str) or (isinstance(v, float) and math.isfinite(v))
        if not ok or (isinstance(v, str) and len(v) > MAX_EXTRA_CHARS):
            raise ConfigError(f"extra[{k[:40]!r}] must be a short string, number, bool or null")
    return dict(value)


def _normalise(cfg: BenchmarkConfig) -> dict[str, Any]:
    """The normalised field values of ``cfg``; raises ConfigError naming the first bad field."""
    specs = backend_specs()
    devices = _union("devices")
    out: dict[str, Any] = {"dataset": _dataset(cfg.dataset)}
    out["backends"] = _names(cfg.backends, "backends", tuple(s.name for s in specs))
    if not isinstance(cfg.device, str) or cfg.device not in devices:
        raise ConfigError(f"device must be one of {', '.join(devices)}, got {_show(cfg.device)}")
    out["device"] = cfg.device
    out["batch_sizes"] = _batch_sizes(cfg.batch_sizes)
    out["precisions"] = _names(cfg.precisions, "precisions", _union("precisions"))
    if "fp16" in out["precisions"] and cfg.device != "cuda":
        raise ConfigError("fp16 is measured on cuda only; use --precisions fp32,int8 on cpu")
    d = cfg.min_duration_s
    if isinstance(d, bool) or not isinstance(d, int | float) or not MIN_DURATION_S <= d <= MAX_DURATION_S:
        raise ConfigError(
            f"min duration must be between {MIN_DURATION_S:g} and {MAX_DURATION_S:g} seconds, got {_show(d)}"
        )
    out["min_duration_s"] = float(d)
    if cfg.max_samples is not None:
        n = _whole(cfg.max_samples, "max samples")
        if not 1 <= n <= MAX_SAMPLES:
            raise ConfigError(f"max samples must be a positive whole number up to {MAX_SAMPLES}, got {n}")
        out["max_samples"] = n
    if not isinstance(cfg.robustness, bool):
        raise ConfigError(f"robustness must be true or false, got {_show(cfg.robustness)}")
    out["extra"] = _extra(cfg.extra)
    out["input_sizes"] = _input_sizes(cfg.input_sizes)
    out["task"] = _task(cfg.task)
    if out["task"] != DEFAULT_TASK and cfg.robustness:
        raise ConfigError(
            f"robustness (top-1 under corruptions) is measured for classification, not {out['task']}"
        )
    return out


def _task(value: Any) -> str:
    if not isinstance(value, str) or value not in TASK_NAMES:
        raise ConfigError(f"task must be one of {', '.join(TASK_NAMES)}, got {_show(value)}")
    return value


def _show(value: Any) -> str:
    """A short, one-line rendering of a refused value (never a huge dump)."""
    text = " ".join(repr(value).split())
    return text if len(text) <= 60 else text[:57] + "..."


def result_key(model_id: str, revision: str | None, config: BenchmarkConfig, hardware_profile: str) -> str:
    """Stable key of one evaluation: hash of (model, revision, benchmark config, hardware profile)."""
    payload = json.dumps(
        {"model": model_id, "revision": revision, "config": config.to_dict(), "hardware": hardware_profile},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:20]
