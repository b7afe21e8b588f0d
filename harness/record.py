"""The result record (DESIGN "Result record", schema_version 1) as dataclasses, and its JSON form.

Fields beyond DESIGN's minimum (kept additive so readers can ignore them): ``config`` (the benchmark
settings that went into the key), ``onnx`` (export facts), and per run ``status``/``error`` (a run that
failed or is unsupported stays in the record with its reason), ``latency_samples_ms`` (raw samples),
``accuracy_top5``, ``accuracy_delta_top1`` (vs the PyTorch fp32 accuracy) and ``info`` (backend facts).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1


@dataclass
class ModelInfo:
    id: str
    source: str
    revision: str | None
    architecture: str
    pretrained: bool
    params: int | None
    gmacs: float | None
    gflops: float | None
    size_mb: float | None
    input_size: list[int]
    data_config: dict[str, Any]
    num_classes: int


@dataclass
class DatasetInfo:
    name: str
    split: str
    num_samples: int
    num_classes: int


@dataclass
class RunRecord:
    backend: str
    device: str
    provider: str | None
    precision: str
    batch_size: int
    threads: int | None
    status: str = "ok"  # ok | failed | unsupported | timeout
    error: str | None = None
    warmup: int | None = None
    iterations: int | None = None
    duration_s: float | None = None
    latency_ms: dict[str, float | None] | None = None
    throughput_ips: float | None = None
    peak_rss_mb: float | None = None
    peak_gpu_mb: float | None = None
    load_ms: float | None = None
    accuracy_top1: float | None = None
    accuracy_top5: float | None = None
    accuracy_delta_top1: float | None = None
    latency_samples_ms: list[float] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    noise: dict[str, Any] | None = None  # harness.noise.assess(...); None = unknown (older records)


@dataclass
class RobustnessEntry:
    corruption: str
    severity: int
    top1: float


@dataclass
class ResultRecord:
    key: str
    created_at: str
    harness_version: str
    model: ModelInfo
    dataset: DatasetInfo | None
    accuracy: dict[str, float] | None
    runs: list[RunRecord]
    robustness: list[RobustnessEntry] | None
    environment: dict[str, Any]
    config: dict[str, Any]
    onnx: dict[str, Any] | None = None
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        ordered = {"schema_version": d.pop("schema_version")}
        ordered.update(d)
        return ordered

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, allow_nan=False, default=_json_default)


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):  # numpy scalars
        return obj.item()
    if isinstance(obj, tuple | set):
        return list(obj)
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@cache
def harness_version() -> str:
    """The git commit of the harness code when run from a checkout, else the package version."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
        sha = out.stdout.strip()
        if len(sha) == 40:
            return sha
    except (OSError, subprocess.SubprocessError):
        pass
    import harness

    return getattr(harness, "__version__", "0+unknown")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json_atomic(path: str | Path, text: str) -> None:
    """Temp file in the same folder + os.replace: readers never see a half-written record."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a record is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
