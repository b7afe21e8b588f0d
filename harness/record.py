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
from dataclasses import MISSING, asdict, dataclass, field, fields
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from store.schema import (
    SchemaError,
    at,
    expect_bool,
    expect_dict,
    expect_dict_of,
    expect_enum,
    expect_int,
    expect_list_of,
    expect_number,
    expect_numbers,
    expect_slug,
    expect_str,
    expect_timestamp,
    field_of,
)

SCHEMA_VERSION = 1
SCHEMA_VERSIONS = (1,)  # versions this code can read
RUN_STATUSES = ("ok", "failed", "unsupported", "timeout")
# harness.timing.STOP_REASONS (a test checks they agree)
STOP_REASONS = ("converged", "unreachable", "max_duration", "max_iterations", "fixed")
MAX_RUNS = 1_000
MAX_ID = 300  # model ids, providers, names
MAX_COLUMNS = 500  # object leaves outside lists: each becomes a column of the results table
MAX_KEY = 200
MAX_METRICS = 32  # quality metrics per task (harness.tasks names at most 6)


@dataclass
class ModelInfo:
    # Defaults only so that older or hand-written records read back; the harness fills every field.
    id: str
    source: str = ""
    revision: str | None = None
    architecture: str = ""
    pretrained: bool = False
    params: int | None = None
    gmacs: float | None = None
    gflops: float | None = None
    size_mb: float | None = None
    input_size: list[int] = field(default_factory=list)
    data_config: dict[str, Any] = field(default_factory=dict)
    num_classes: int | None = None
    task: str = "classification"  # what the model does (harness.tasks.TASK_NAMES)


@dataclass
class DatasetInfo:
    name: str
    split: str = ""
    num_samples: int = 0
    num_classes: int | None = None


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
    # The stopping rule's outcome (harness.timing): None in records made before it.
    p50_interval: dict[str, Any] | None = None  # {"lo", "hi" (ms), "rel_half_width", "confidence", "n"}
    stop_reason: str | None = None  # one of STOP_REASONS
    latency_notes: list[str] = field(default_factory=list)  # why p95/p99 are withheld
    # Deployment metrics (None/empty in records made before them). Cold start: harness.coldstart.
    cold_start: dict[str, Any] | None = None  # {origin, imports_ms, model_load_ms, prepare_ms, ...}
    energy_j_per_image: float | None = None  # from a hardware counter (harness.energy), never estimated
    energy: dict[str, Any] | None = None  # {source: rapl|nvml, joules, images, mean_power_w}
    energy_note: str | None = None  # what the counter covers, or why there is none
    gpu_util_pct: float | None = None  # NVML mean utilisation over the timed loop (cuda runs)
    gpu_mem_peak_mb: float | None = None  # NVML peak memory of this process (cuda runs)
    gpu_note: str | None = None  # why a cuda run has no GPU figures
    scaling: list[dict[str, Any]] = field(default_factory=list)  # harness.scaling points (job's 1st run)
    # The task's quality metrics (harness.tasks, percent) of this backend/precision on the dataset, and
    # minus the reference run's (PyTorch fp32); None without a dataset and in older records.
    metrics: dict[str, float | None] | None = None
    metrics_delta: dict[str, float] | None = None


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
    task: str = "classification"  # a record without it is a classification record
    metrics: dict[str, float | None] | None = None  # the reference run's task metrics (percent)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        ordered = {"schema_version": d.pop("schema_version")}
        ordered.update(d)
        return ordered

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, allow_nan=False, default=_json_default)

    @classmethod
    def from_dict(cls, d: Any) -> ResultRecord:
        """A stored record as dataclasses, after :func:`check_record_dict`; raises SchemaError.

        Fields this version does not know are dropped (records are additive); missing optional ones get
        their defaults, so older records read back.
        """
        check_record_dict(d)
        ds = d.get("dataset")
        rob = d.get("robustness")
        return cls(
            key=d["key"],
            created_at=d["created_at"],
            harness_version=d.get("harness_version") or "",
            model=ModelInfo(**_known(ModelInfo, d["model"])),
            dataset=DatasetInfo(**_known(DatasetInfo, ds)) if ds is not None else None,
            accuracy=d.get("accuracy"),
            runs=[RunRecord(**_known(RunRecord, r)) for r in d["runs"]],
            robustness=[RobustnessEntry(**_known(RobustnessEntry, e)) for e in rob]
            if rob is not None
            else None,
            environment=d["environment"],
            config=d.get("config") or {},
            onnx=d.get("onnx"),
            schema_version=d["schema_version"],
            task=d.get("task") or "classification",
            metrics=d.get("metrics"),
        )


def _known(cls: type, d: dict[str, Any]) -> dict[str, Any]:
    """Constructor arguments of dataclass ``cls`` from ``d``: unknown keys dropped; a missing or null
    value takes the field's default, or None where the field has no default (checked optional)."""
    out: dict[str, Any] = {}
    for f in fields(cls):
        value = d.get(f.name)
        if value is not None:
            out[f.name] = value
        elif f.default is MISSING and f.default_factory is MISSING:
            out[f.name] = None
    return out


# ---- schema check ------------------------------------------------------------------------------------


def _run_vocabulary() -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """(backend names, devices, precisions) the backend registry knows (harness.config derives them)."""
    from harness import config

    return frozenset(config.BACKENDS), frozenset(config.DEVICES), frozenset(config.PRECISIONS)


def _num(value: Any, path: str) -> float | None:
    return expect_number(value, path, optional=True)


def _percent(value: Any, path: str) -> float | None:
    return expect_number(value, path, optional=True, maximum=100.0)


def _check_model(m: Any, path: str) -> None:
    expect_dict(m, path)
    field_of(m, "id", path, expect_str, max_len=MAX_ID)
    for key in ("source", "architecture"):
        field_of(m, key, path, expect_str, optional=True, allow_empty=True, max_len=MAX_ID)
    field_of(m, "revision", path, expect_str, optional=True, max_len=MAX_ID)
    field_of(m, "pretrained", path, expect_bool, optional=True)
    field_of(m, "params", path, expect_int, optional=True, minimum=0)
    field_of(m, "num_classes", path, expect_int, optional=True, minimum=1)
    for key in ("gmacs", "gflops", "size_mb"):
        field_of(m, key, path, expect_number, optional=True)
    field_of(m, "input_size", path, expect_list_of, item=_positive_int, optional=True, max_items=8)
    field_of(m, "data_config", path, expect_dict, optional=True)
    field_of(m, "task", path, expect_enum, choices=_task_names(), optional=True)


def _task_names() -> tuple[str, ...]:
    from harness.tasks import TASK_NAMES

    return TASK_NAMES


def _check_metrics(value: Any, path: str) -> dict[str, Any] | None:
    """Task metrics: short names -> a percentage or null (a metric the set could not give)."""
    return expect_dict_of(value, path, item=_percent, optional=True, max_items=MAX_METRICS)


def _delta(value: Any, path: str) -> float | None:
    return expect_number(value, path, minimum=-100.0, maximum=100.0)


def _positive_int(value: Any, path: str) -> int | None:
    return expect_int(value, path, minimum=1)


def _check_dataset(ds: Any, path: str) -> None:
    if expect_dict(ds, path, optional=True) is None:
        return
    field_of(ds, "name", path, expect_str, max_len=MAX_ID)
    field_of(ds, "split", path, expect_str, optional=True, allow_empty=True, max_len=MAX_ID)
    field_of(ds, "num_samples", path, expect_int, optional=True, minimum=0)
    field_of(ds, "num_classes", path, expect_int, optional=True, minimum=1)


def check_noise(noise: Any, path: str = "noise") -> dict[str, Any] | None:
    """The run's noise assessment (contract 4 / ``harness.noise.assess``), or None (unknown)."""
    if expect_dict(noise, path, optional=True) is None:
        return None
    for key in ("cv", "p95_over_p50", "load_before", "load_after", "page_faults_per_pass"):
        field_of(noise, key, path, expect_number, optional=True)
    field_of(noise, "cpu_count", path, expect_int, optional=True, minimum=1)
    field_of(noise, "noisy", path, expect_bool)
    field_of(noise, "reasons", path, expect_list_of, item=expect_str, optional=True, max_items=50)
    return noise


def check_p50_interval(interval: Any, path: str = "p50_interval") -> dict[str, Any] | None:
    """The median's confidence interval (``harness.timing.median_interval``), or None (older records)."""
    if expect_dict(interval, path, optional=True) is None:
        return None
    lo = field_of(interval, "lo", path, expect_number)
    hi = field_of(interval, "hi", path, expect_number)
    if lo is not None and hi is not None and lo > hi:
        raise SchemaError(at(path, "lo"), f"{lo} is above hi {hi}")
    field_of(interval, "rel_half_width", path, expect_number)
    field_of(interval, "confidence", path, expect_number, maximum=1.0)
    field_of(interval, "n", path, expect_int, optional=True, minimum=1)
    return interval


def _check_run(run: Any, path: str) -> dict[str, Any]:
    backends, devices, precisions = _run_vocabulary()
    expect_dict(run, path)
    field_of(run, "backend", path, expect_enum, choices=backends)
    field_of(run, "device", path, expect_enum, choices=devices)
    field_of(run, "precision", path, expect_enum, choices=precisions)
    field_of(run, "provider", path, expect_str, optional=True, max_len=MAX_ID)
    field_of(run, "batch_size", path, expect_int, minimum=1)
    field_of(run, "threads", path, expect_int, optional=True, minimum=1)
    field_of(run, "status", path, expect_enum, choices=RUN_STATUSES, optional=True)
    field_of(run, "error", path, expect_str, optional=True, allow_empty=True)
    for key in ("warmup", "iterations"):
        field_of(run, key, path, expect_int, optional=True, minimum=0)
    for key in ("duration_s", "throughput_ips", "peak_rss_mb", "peak_gpu_mb", "load_ms"):
        field_of(run, key, path, expect_number, optional=True)
    field_of(run, "latency_ms", path, expect_dict_of, item=_num, optional=True, max_items=50)
    for key in ("accuracy_top1", "accuracy_top5"):
        field_of(run, key, path, _percent)
    field_of(run, "accuracy_delta_top1", path, expect_number, optional=True, minimum=-100.0, maximum=100.0)
    field_of(run, "latency_samples_ms", path, expect_numbers, optional=True)
    field_of(run, "info", path, expect_dict, optional=True)
    check_noise(run.get("noise"), at(path, "noise"))
    check_p50_interval(run.get("p50_interval"), at(path, "p50_interval"))
    field_of(run, "stop_reason", path, expect_enum, choices=STOP_REASONS, optional=True)
    field_of(run, "latency_notes", path, expect_list_of, item=_note, optional=True, max_items=20)
    _check_deployment_metrics(run, path)
    field_of(run, "metrics", path, _check_metrics)
    field_of(run, "metrics_delta", path, expect_dict_of, item=_delta, optional=True, max_items=MAX_METRICS)
    return run


COLD_START_PHASES = ("imports_ms", "model_load_ms", "prepare_ms", "first_inference_ms", "total_ms")
SCALING_STATUSES = ("ok", "failed", "unsupported")
MAX_SCALING_POINTS = 32
MAX_RESOLUTION = 4096


def check_cold_start(cold: Any, path: str = "cold_start") -> dict[str, Any] | None:
    """A run's cold-start figures (``harness.coldstart``): non-negative ms, phases within the total."""
    if expect_dict(cold, path, optional=True) is None:
        return None
    field_of(cold, "origin", path, expect_str, optional=True, max_len=MAX_ID)
    for key in COLD_START_PHASES:
        field_of(cold, key, path, expect_number, optional=True)
    total = cold.get("total_ms")
    phases = sum(v for k in COLD_START_PHASES[:-1] if isinstance(v := cold.get(k), int | float))
    if isinstance(total, int | float) and phases > total * (1 + 1e-6) + 1e-6:
        raise SchemaError(at(path, "total_ms"), f"{total} is below the sum of its phases {phases}")
    return cold


def check_energy(energy: Any, path: str = "energy") -> dict[str, Any] | None:
    if expect_dict(energy, path, optional=True) is None:
        return None
    field_of(energy, "source", path, expect_enum, choices=("rapl", "nvml"))
    for key in ("joules", "mean_power_w"):
        field_of(energy, key, path, expect_number, optional=True)
    field_of(energy, "images", path, expect_int, optional=True, minimum=1)
    return energy


def _scaling_point(p: Any, path: str) -> dict[str, Any]:
    expect_dict(p, path)
    field_of(p, "resolution", path, expect_int, minimum=1, maximum=MAX_RESOLUTION)
    field_of(p, "batch_size", path, expect_int, optional=True, minimum=1)
    field_of(p, "status", path, expect_enum, choices=SCALING_STATUSES)
    field_of(p, "error", path, expect_str, optional=True, allow_empty=True)
    for key in ("p50_ms", "p90_ms", "mean_ms"):
        field_of(p, key, path, expect_number, optional=True)
    field_of(p, "iterations", path, expect_int, optional=True, minimum=0)
    field_of(p, "stop_reason", path, expect_enum, choices=STOP_REASONS, optional=True)
    field_of(p, "noisy", path, expect_bool, optional=True)
    return p


def _check_deployment_metrics(run: dict[str, Any], path: str) -> None:
    check_cold_start(run.get("cold_start"), at(path, "cold_start"))
    check_energy(run.get("energy"), at(path, "energy"))
    field_of(run, "energy_j_per_image", path, expect_number, optional=True)
    field_of(run, "gpu_util_pct", path, _percent)
    field_of(run, "gpu_mem_peak_mb", path, expect_number, optional=True)
    for key in ("energy_note", "gpu_note"):
        field_of(run, key, path, expect_str, optional=True, allow_empty=True, max_len=1000)
    field_of(
        run, "scaling", path, expect_list_of, item=_scaling_point, optional=True, max_items=MAX_SCALING_POINTS
    )


def _note(value: Any, path: str) -> str | None:
    return expect_str(value, path, max_len=MAX_ID)


def _check_robustness_entry(e: Any, path: str) -> None:
    expect_dict(e, path)
    field_of(e, "corruption", path, expect_str, max_len=MAX_ID)
    field_of(e, "severity", path, expect_int, minimum=0)
    field_of(e, "top1", path, expect_number, maximum=100.0)


def check_record_dict(d: Any) -> dict[str, Any]:
    """Raise :class:`store.schema.SchemaError` (one line naming the field) unless ``d`` is a readable
    result record; return ``d`` unchanged. Older records (no ``config``, ``status`` or ``noise``) pass;
    fields this version does not know are allowed (the schema is additive)."""
    expect_dict(d, "record")
    version = field_of(d, "schema_version", "", expect_int)
    if version not in SCHEMA_VERSIONS:
        raise SchemaError("schema_version", f"unknown version {version} (this code reads {SCHEMA_VERSIONS})")
    field_of(d, "key", "", expect_slug)
    field_of(d, "created_at", "", expect_timestamp)
    field_of(d, "harness_version", "", expect_str, optional=True, allow_empty=True, max_len=MAX_ID)
    _check_model(d.get("model"), "model")
    _check_dataset(d.get("dataset"), "dataset")
    field_of(d, "accuracy", "", expect_dict_of, item=_percent, optional=True, max_items=20)
    field_of(d, "runs", "", expect_list_of, item=_check_run, max_items=MAX_RUNS)
    field_of(d, "robustness", "", expect_list_of, item=_check_robustness_entry, optional=True)
    env = expect_dict(d.get("environment"), "environment") or {}
    field_of(env, "hardware_profile", "environment", expect_str, max_len=MAX_ID)
    field_of(d, "config", "", expect_dict, optional=True)
    field_of(d, "onnx", "", expect_dict, optional=True)
    field_of(d, "task", "", expect_enum, choices=_task_names(), optional=True)
    field_of(d, "metrics", "", _check_metrics)
    _check_table_width(d)
    return d


def _check_table_width(d: dict[str, Any]) -> None:
    """Objects flatten into one table column per leaf (lists become one JSON column): a record with
    thousands of keys in ``info``/``config``/an unknown field would widen the table for every reader."""
    leaves = 0
    stack: list[tuple[str, dict[str, Any]]] = [("", d)]
    while stack:
        path, obj = stack.pop()
        for key, value in obj.items():
            if len(key) > MAX_KEY:
                raise SchemaError(path or "record", f"key longer than {MAX_KEY} characters")
            if isinstance(value, dict) and value:
                stack.append((at(path, key), value))
            else:
                leaves += 1
        if leaves > MAX_COLUMNS:
            raise SchemaError("record", f"more than {MAX_COLUMNS} fields outside lists")


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
