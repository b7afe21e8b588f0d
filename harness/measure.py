"""What one isolated child does: load the model itself, build one backend Runner, time every batch size,
and (when given preprocessed evaluation data) measure that Runner's accuracy. Also the robustness job.

Inputs and outputs are plain dicts so they cross the process boundary unchanged.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness import allocator, coldstart
from harness.errors import HarnessError, as_harness_error, is_oom
from harness.scaling import measure_scaling

ACCURACY_BATCH = 32
TASK_EVAL_BATCH = 8  # detection/segmentation inputs are large (320-800 px); keep a batch's memory modest


@dataclass
class MeasureJob:
    model: str  # MODEL spec as given
    revision: str | None  # pinned (hf-hub sha / local-dir sha256)
    backend: str
    device: str
    precision: str
    batch_sizes: list[int]
    threads: int
    min_duration_s: float
    workdir: str
    eval_path: str | None = None  # eval_x.npy (N,C,H,W float32); labels beside it in eval_labels.npy
    calibration_path: str | None = None  # .npy float32 NCHW (int8 only)
    calibration_source: str | None = None
    timing: dict[str, Any] = field(default_factory=dict)  # TimingPolicy overrides (tests)
    # Set by the parent when it exported the model once for every ONNX-consuming job: such a child then
    # builds its Runner from the file and never imports torch/timm or loads the model (starts in ~1 s).
    onnx_export: dict[str, Any] | None = None
    input_size: list[int] | None = None  # C, H, W (needed when the model is not loaded)
    architecture: str = ""
    load_ms: float | None = None  # the parent's model load time, reported when this child loads none
    # Input-size scaling (BenchmarkConfig.input_sizes): batch-1 latency at each square resolution; an
    # ONNX-consuming child gets one export per resolution from the parent (str(resolution) -> facts, or
    # {"error": reason} when that export failed).
    input_sizes: list[int] = field(default_factory=list)
    scaling_exports: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Detection/segmentation/pose: the child saves its outputs on eval_x.npy (layout: output_kind, see
    # harness.tasks.adapters) as eval_outputs.npy in its workdir; the parent decodes and scores them.
    task: str = "classification"
    output_kind: str = "logits"
    unsupported: str | None = None  # known before running (the parent's ONNX export failed): no child
    # Batch sizes taken out of batch_sizes before running, with the reason (a graph traced at one batch
    # size): they are recorded as unsupported runs.
    skipped_batches: dict[int, str] = field(default_factory=dict)


@dataclass
class RobustnessJob:
    model: str
    revision: str | None
    device: str
    threads: int
    dataset: str
    max_samples: int | None
    seed: int = 0


def run_measure_job(job: MeasureJob | dict) -> dict[str, Any]:
    from harness.accuracy import evaluate
    from harness.backends import BackendUnsupported, PrepareRequest, get_backend
    from harness.models import load_model
    from harness.timing import TimingPolicy, measure, random_batch, set_threads

    job = job if isinstance(job, MeasureJob) else MeasureJob(**job)
    cold = coldstart.begin()
    from_export = bool(job.onnx_export and job.input_size and _consumes_onnx(job.backend))
    import_runtime(job.backend, loads_model=not from_export)
    if cold:
        cold.mark("imports")
    if from_export:  # no torch in this process: the Runner is built from the shared ONNX file
        threads, model, architecture = job.threads, None, job.architecture
        input_size: tuple[int, ...] = tuple(int(v) for v in job.input_size or ())
        load_ms = job.load_ms
    else:
        threads = set_threads(job.threads)
        loaded = load_model(job.model, job.revision)
        model, architecture, input_size, load_ms = (
            loaded.model, loaded.architecture, loaded.input_size, loaded.load_ms,
        )  # fmt: skip
        if cold:
            cold.mark("model_load")
    out: dict[str, Any] = {
        "load_ms": load_ms,
        "threads": threads,
        "measurements": [],
        "accuracy": None,
    }
    calibration = np.load(job.calibration_path) if job.calibration_path else None
    request = PrepareRequest(
        model=model,
        input_size=input_size,  # type: ignore[arg-type]
        device=job.device,
        precision=job.precision,
        threads=threads,
        workdir=Path(job.workdir),
        architecture=architecture,
        calibration=calibration,
        onnx_export=job.onnx_export if from_export else None,
    )
    t0 = time.perf_counter()
    try:
        runner = get_backend(job.backend).prepare(request)
    except BackendUnsupported as exc:
        return {**out, "unsupported": str(exc)}
    except Exception as exc:  # noqa: BLE001
        raise as_harness_error(exc, f"preparing {job.backend}/{job.device}/{job.precision}") from None
    out["prepare_ms"] = (time.perf_counter() - t0) * 1000
    if cold:
        cold.mark("prepare")
        out["cold_start"] = first_inference(runner, input_size, cold, graph_batch(job) or 1)
    out["provider"] = runner.provider
    out["threads"] = runner.threads
    out["info"] = dict(getattr(runner, "info", {}) or {})
    out["info"]["allocator"] = allocator.in_force() or "glibc defaults"
    if job.calibration_source and job.precision == "int8":
        out["info"]["calibration"] = job.calibration_source
    policy = TimingPolicy(min_duration_s=job.min_duration_s, **job.timing)
    probes = loop_probes(job.device)
    for bs in job.batch_sizes:
        try:
            m = measure(runner, random_batch(bs, input_size), policy, job.device, probes)  # type: ignore[arg-type]
            out["measurements"].append(asdict(m))
        except Exception as exc:  # noqa: BLE001 - one batch size failing must not lose the others
            err = as_harness_error(exc, f"running batch size {bs}")
            out["measurements"].append({"batch_size": bs, "error": str(err), "error_kind": err.kind})
            if is_oom(exc):
                _free_cuda()
    out["info"].update(getattr(runner, "info", {}) or {})  # what a runner learnt per shape (compile times)
    if job.input_sizes:
        out["scaling"] = measure_scaling(job, request, runner, policy)
    if job.eval_path and job.task != "classification":
        try:
            out["outputs_path"] = save_outputs(runner, job)
        except Exception as exc:  # noqa: BLE001
            out["accuracy_error"] = str(as_harness_error(exc, "running the evaluation set"))
    elif job.eval_path:
        x = np.load(job.eval_path, mmap_mode="r")
        labels = np.load(job.eval_path.replace("eval_x.npy", "eval_labels.npy"))
        try:
            acc = evaluate(runner, x, labels, ACCURACY_BATCH)
            out["accuracy"] = {"top1": acc.top1, "top5": acc.top5, "num_samples": acc.num_samples}
        except Exception as exc:  # noqa: BLE001
            err = as_harness_error(exc, "measuring accuracy")
            out["accuracy_error"] = str(err)
    return out


def import_runtime(backend: str, loads_model: bool) -> None:
    """Import what a deployment of ``backend`` imports (its declared runtime modules, and torch + timm when
    this child loads the model), so cold start times imports apart from the engine build. A module that
    fails to import is left for prepare() to report."""
    import importlib

    from harness.backends import BackendUnsupported, get_backend

    try:
        modules = tuple(getattr(get_backend(backend), "runtime_modules", ()))
    except BackendUnsupported:
        modules = ()
    for name in (("torch", "timm") if loads_model else ()) + modules:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001, S112 - prepare() says why the backend cannot run
            continue


def graph_batch(job: MeasureJob) -> int | None:
    """The one batch size this job's ONNX graph runs at (a graph traced at a fixed batch), else None."""
    batch = (job.onnx_export or {}).get("batch") if _consumes_onnx(job.backend) else None
    return int(batch) if batch else None


def first_inference(
    runner: Any, input_size: tuple[int, ...], cold: coldstart.ColdStart, batch: int = 1
) -> dict | None:
    """Run one image (or the one batch size a fixed graph takes) through the fresh Runner, the first
    answer a deployment gives, and close the cold-start figures; None when that inference fails (the
    timed runs then record why)."""
    from harness.timing import random_batch

    try:
        runner.sync()
        runner.run(runner.to_input(random_batch(batch, input_size)))  # type: ignore[arg-type]
        runner.sync()
    except Exception:  # noqa: BLE001
        return None
    cold.mark("first_inference")
    return cold.to_dict()


def loop_probes(device: str) -> list[Any]:
    """Energy (RAPL on cpu, NVML on cuda) and, on cuda, GPU utilisation/memory, over each timed loop."""
    from harness.energy import energy_probe
    from harness.gpu_monitor import gpu_probe

    return [p for p in (energy_probe(device), gpu_probe(device)) if p is not None]


def save_outputs(runner: Any, job: MeasureJob) -> str:
    """Run the evaluation set through the Runner being measured; store its packed outputs for the parent."""
    from harness.accuracy import iter_batches
    from harness.tasks.adapters import output_dtype

    assert job.eval_path
    x = np.load(job.eval_path, mmap_mode="r")
    dtype = output_dtype(job.output_kind)
    fixed = graph_batch(job)
    outs = []
    for b in iter_batches(x, fixed or TASK_EVAL_BATCH):
        batch, n = np.array(b, dtype=np.float32), len(b)
        if fixed and n < fixed:  # a graph traced at one batch size: pad the last batch, keep its rows
            batch = np.concatenate([batch, np.zeros((fixed - n, *batch.shape[1:]), np.float32)])
        outs.append(np.asarray(runner.predict(batch))[:n].astype(dtype, copy=False))
    path = Path(job.workdir) / "eval_outputs.npy"
    np.save(path, np.concatenate(outs, axis=0))
    return str(path)


def _consumes_onnx(backend: str) -> bool:
    from harness.backends import get_backend

    return bool(getattr(get_backend(backend), "consumes_onnx", False))


def _free_cuda() -> None:
    import sys

    torch = sys.modules.get("torch")  # an ONNX-only child never imported it: nothing of torch's to free
    try:
        if torch is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:  # noqa: BLE001
        pass


def corruption_seed(base: int, corruption: str, severity: int) -> int:
    """Independent, reproducible noise per (corruption, severity)."""
    return (base * 1_000_003 + zlib.crc32(corruption.encode()) * 10 + severity) % 2**32


def run_robustness_job(job: RobustnessJob | dict) -> list[dict[str, Any]]:
    """Top-1 of the PyTorch fp32 model on the default seeded corruptions x severities (4 x 3) of the
    evaluation images; ``harness.robustness`` has the full 6 x 5 grid for ad-hoc studies."""
    from harness.accuracy import evaluate
    from harness.backends import PrepareRequest, get_backend
    from harness.data import load_dataset_spec, make_transform, to_tensor_batch
    from harness.models import load_model
    from harness.robustness import DEFAULT_CORRUPTIONS, DEFAULT_SEVERITIES, corrupt_images
    from harness.timing import set_threads

    job = job if isinstance(job, RobustnessJob) else RobustnessJob(**job)
    threads = set_threads(job.threads)
    loaded = load_model(job.model, job.revision)
    ds = load_dataset_spec(job.dataset, job.max_samples)
    transform = make_transform(loaded.data_config)
    runner = get_backend("pytorch").prepare(
        PrepareRequest(
            loaded.model, loaded.input_size, job.device, "fp32", threads, Path("."), loaded.architecture
        )
    )
    results = []
    for name in DEFAULT_CORRUPTIONS:
        for severity in DEFAULT_SEVERITIES:
            try:
                images = corrupt_images(ds.images, name, severity, corruption_seed(job.seed, name, severity))
            except Exception as exc:  # noqa: BLE001
                raise HarnessError(f"corruption {name} (severity {severity}) failed: {exc}") from None
            acc = evaluate(runner, to_tensor_batch(images, transform), ds.labels, ACCURACY_BATCH)
            results.append({"corruption": name, "severity": int(severity), "top1": acc.top1})
    return results
