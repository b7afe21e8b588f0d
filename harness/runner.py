"""Orchestrate one evaluation: load, count, prepare data, run isolated measurements, assemble the record."""

from __future__ import annotations

import sys
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from harness.config import BenchmarkConfig, result_key
from harness.environment import describe_environment, hardware_profile
from harness.errors import BadConfig, ClassCountMismatch, HarnessError, as_harness_error
from harness.isolation import ChildOutcome, run_isolated
from harness.measure import MeasureJob, RobustnessJob
from harness.models import LoadedModel, load_model
from harness.noise import is_noisy
from harness.record import (
    DatasetInfo,
    ModelInfo,
    ResultRecord,
    RobustnessEntry,
    RunRecord,
    harness_version,
    utc_now,
)
from harness.timing import physical_cores

DEFAULT_TIMEOUT_S = 1800.0
CALIBRATION_SAMPLES = 64
# RunRecord fields measured by harness.energy / harness.gpu_monitor over the timed loop
PROBE_FIELDS = ("energy_j_per_image", "energy", "energy_note", "gpu_util_pct", "gpu_mem_peak_mb", "gpu_note")
SAMPLE_DECIMALS = 5  # raw samples kept at 10 ns resolution: exact enough, and keeps records small


@dataclass
class Options:
    """How to run (not what to measure: that is the BenchmarkConfig and goes into the key)."""

    threads: int | None = None  # default: physical cores available
    timeout_s: float = DEFAULT_TIMEOUT_S  # per isolated measurement
    workdir: str | None = None
    timing: dict[str, Any] | None = None  # TimingPolicy overrides (tests, fidelity bench)
    log: Callable[[str], None] | None = None
    task_from_model: bool = False  # the config's task was not given (CLI without --task): take the model's


def _log(opts: Options, msg: str) -> None:
    (opts.log or (lambda m: print(f"[harness] {m}", file=sys.stderr, flush=True)))(msg)


def model_counts(loaded: LoadedModel) -> tuple[int | None, float | None]:
    """Params and GMACs (batch 1) from harness.flops; None when that part is not installed or fails."""
    try:
        from harness.flops import count_gmacs, count_params
    except ImportError:
        return sum(p.numel() for p in loaded.model.parameters()), None
    params = count_params(loaded.model)
    try:
        with warnings.catch_warnings():  # tracers warn about deprecated torch APIs; not the user's concern
            warnings.simplefilter("ignore")
            gmacs = count_gmacs(loaded.model, loaded.input_size)
    except Exception:  # noqa: BLE001 - GMACs are informative; a tracer failure must not sink the evaluation
        gmacs = None
    return params, gmacs


def check_dataset_fit(loaded: LoadedModel, dataset) -> None:
    if not loaded.pretrained:
        raise HarnessError(
            f"{loaded.spec.id} is a {loaded.source} architecture with random weights; accuracy on {dataset} "
            "would be meaningless (use --no-dataset, or hf-hub:/local-dir: for trained weights)"
        )


def check_task(loaded: LoadedModel, config: BenchmarkConfig, opts: Options) -> BenchmarkConfig:
    """The config with the model's task: taken from the model when none was asked for, else checked."""
    if opts.task_from_model:
        return replace(config, task=loaded.task)
    if loaded.task != config.task:
        raise BadConfig(
            f"{loaded.spec.id} is a {loaded.task} model ({loaded.architecture}) but the task asked for is "
            f"{config.task}"
        )
    return config


@dataclass
class TaskEval:
    """A detection/segmentation/pose evaluation set kept in the parent, which decodes and scores the
    outputs each child saves (harness.tasks.adapters)."""

    dataset: Any  # harness.tasks.datasets.TaskDataset
    items: list[Any]  # harness.tasks.adapters.Item, one per row of eval_x.npy
    head: Any  # harness.tasks.adapters.Head
    mapping: dict[int, int]  # model label index -> dataset category id

    def score(self, outputs_path: str) -> dict[str, float | None]:
        from harness.tasks.adapters import score

        outputs = np.load(outputs_path, mmap_mode="r")
        return dict(score(self.dataset, outputs, self.items, self.head, self.mapping))


def _prepare_task_data(
    loaded: LoadedModel, config: BenchmarkConfig, dataset: str, workdir: Path, opts: Options
):
    """Load the task's set, map its categories to the model's labels and write the evaluation batch."""
    from harness.tasks.adapters import label_mapping, prepare_inputs
    from harness.tasks.datasets import load_task_dataset

    check_dataset_fit(loaded, dataset)
    ds = load_task_dataset(config.task, dataset, config.max_samples)
    head = loaded.head
    mapping = label_mapping(head, ds)
    mean, std = loaded.data_config["mean"], loaded.data_config["std"]
    x, items = prepare_inputs(ds, head, tuple(mean), tuple(std))
    _log(opts, f"dataset {ds.name}:{ds.split}: {len(ds)} images, {len(items)} evaluation inputs")
    eval_path = workdir / "eval_x.npy"
    np.save(eval_path, x)
    calib_path, calib_source = None, None
    if "int8" in config.precisions:
        calib_path = workdir / "calibration.npy"
        np.save(calib_path, x[:CALIBRATION_SAMPLES])
        calib_source = f"{ds.name}:{ds.split} ({min(len(x), CALIBRATION_SAMPLES)} of the evaluation inputs)"
    info = DatasetInfo(ds.name, ds.split, len(ds), ds.num_classes)
    return info, eval_path, calib_path, calib_source, TaskEval(ds, items, head, mapping)


def _prepare_data(loaded: LoadedModel, config: BenchmarkConfig, dataset: str, workdir: Path, opts: Options):
    from harness.data import load_dataset_spec, load_digits_split, make_transform, subset, to_tensor_batch

    check_dataset_fit(loaded, dataset)
    ds = load_dataset_spec(dataset, config.max_samples)
    if ds.num_classes != loaded.num_classes:
        raise ClassCountMismatch(
            f"model {loaded.spec.id} has {loaded.num_classes} classes but dataset {ds.name} has {ds.num_classes}"
        )
    _log(opts, f"dataset {ds.name}:{ds.split}: {len(ds)} images, {ds.num_classes} classes")
    transform = make_transform(loaded.data_config)
    x = to_tensor_batch(ds.images, transform)
    eval_path = workdir / "eval_x.npy"  # children memory-map it instead of each holding a copy
    np.save(eval_path, x)
    np.save(workdir / "eval_labels.npy", ds.labels)
    calib_path, calib_source = None, None
    if "int8" in config.precisions:
        if ds.name == "digits":
            calib = to_tensor_batch(subset(load_digits_split("train"), CALIBRATION_SAMPLES).images, transform)
            calib_source = f"digits:train ({len(calib)} images, disjoint from the evaluation split)"
        else:
            calib = x[:CALIBRATION_SAMPLES]
            calib_source = f"{ds.name}:{ds.split} ({len(calib)} of the evaluation images)"
        calib_path = workdir / "calibration.npy"
        np.save(calib_path, calib)
    info = DatasetInfo(ds.name, ds.split, len(ds), ds.num_classes)
    return info, eval_path, calib_path, calib_source


def _random_calibration(loaded: LoadedModel, workdir: Path) -> tuple[Path, str]:
    from harness.timing import random_batch

    path = workdir / "calibration.npy"
    np.save(path, random_batch(CALIBRATION_SAMPLES, loaded.input_size, seed=1))
    return path, f"random normal ({CALIBRATION_SAMPLES} samples; no dataset given)"


def _runs_from_outcome(job: MeasureJob, outcome: ChildOutcome) -> tuple[list[RunRecord], dict | None]:
    """The job's runs (with an unsupported one per batch size taken out before running), in batch order."""
    runs, accuracy = _child_runs(job, outcome)
    runs += [_unmeasured(job, bs, job.threads, "unsupported", why) for bs, why in job.skipped_batches.items()]
    runs.sort(key=lambda r: r.batch_size)
    return runs, accuracy


def _unmeasured(job: MeasureJob, batch_size: int, threads: int, status: str, error: str | None) -> RunRecord:
    """A run of ``job`` that never timed anything (failed, timed out or unsupported), with why."""
    return RunRecord(
        backend=job.backend,
        device=job.device,
        precision=job.precision,
        provider=None,
        batch_size=batch_size,
        threads=threads,
        status=status,
        error=error,
    )


def _child_runs(job: MeasureJob, outcome: ChildOutcome) -> tuple[list[RunRecord], dict | None]:
    base: dict[str, Any] = {"backend": job.backend, "device": job.device, "precision": job.precision}
    if not outcome.ok:
        status = "timeout" if outcome.timed_out else "failed"
        return [_unmeasured(job, bs, job.threads, status, outcome.error) for bs in job.batch_sizes], None
    v = outcome.value
    if v.get("unsupported"):
        return [
            _unmeasured(job, bs, v["threads"], "unsupported", v["unsupported"]) for bs in job.batch_sizes
        ], None
    acc = v.get("accuracy") or {}
    scaling = list(v.get("scaling") or [])  # the job's, stored once: on its first run
    runs: list[RunRecord] = []
    for m in v["measurements"]:
        common = dict(
            **base,
            provider=v.get("provider"),
            batch_size=m["batch_size"],
            threads=v["threads"],
            load_ms=v["load_ms"],
            cold_start=v.get("cold_start"),
            scaling=scaling if not runs else [],
            accuracy_top1=acc.get("top1"),
            accuracy_top5=acc.get("top5"),
            info=dict(v.get("info") or {}),
        )
        if v.get("accuracy_error"):
            common["info"]["accuracy_error"] = v["accuracy_error"]
        if "error" in m:
            runs.append(RunRecord(**common, status="failed", error=m["error"]))
            continue
        if m.get("notes"):
            common["info"]["notes"] = m["notes"]
        runs.append(
            RunRecord(
                **common,
                warmup=m["warmup"],
                iterations=m["iterations"],
                duration_s=m["duration_s"],
                latency_ms=m["latency_ms"],
                throughput_ips=m["throughput_ips"],
                peak_rss_mb=m["peak_rss_mb"],
                peak_gpu_mb=m["peak_gpu_mb"],
                latency_samples_ms=[round(v, SAMPLE_DECIMALS) for v in m["samples_ms"]],
                noise=m.get("noise"),
                p50_interval=m.get("p50_interval"),
                stop_reason=m.get("stop_reason"),
                latency_notes=list(m.get("latency_notes") or []),
                **probe_fields(m.get("probes") or {}),
            )
        )
    if v.get("outputs_path"):
        return runs, {"outputs_path": v["outputs_path"]}
    return runs, v.get("accuracy")


def probe_fields(probed: dict[str, Any]) -> dict[str, Any]:
    """The RunRecord fields the loop probes (energy, GPU monitor) filled; other keys stay out."""
    return {k: probed[k] for k in PROBE_FIELDS if k in probed}


@dataclass
class EvaluationPlan:
    """Everything decided before any measurement: the model's facts, the data files and the jobs to run."""

    model: str  # the MODEL argument, as the children must load it
    config: BenchmarkConfig
    threads: int
    model_info: ModelInfo
    revision: str | None
    workdir: Path
    jobs: list[MeasureJob]
    reference: MeasureJob | None  # whose accuracy is the record's (PyTorch fp32), None without a dataset
    dataset: DatasetInfo | None = None
    task_eval: TaskEval | None = None  # detection/segmentation/pose with a dataset


@dataclass
class Measured:
    """What running a plan produced."""

    runs: list[RunRecord]
    accuracy: dict[str, float] | None  # {"top1", "top5"} of the reference job
    robustness: list[RobustnessEntry] | None
    metrics: dict[str, float | None] | None = None  # the task's metrics of the reference job


def evaluate_model(model: str, config: BenchmarkConfig, opts: Options | None = None) -> ResultRecord:
    """The whole evaluation. Raises HarnessError for bad input; failed measurements stay in the record."""
    opts = opts or Options()
    check_request(config)
    loaded = load_checked(model, config, opts)
    config = check_task(loaded, config, opts)
    with tempfile.TemporaryDirectory(prefix="harness-", dir=opts.workdir) as tmp:
        plan = plan_evaluation(model, loaded, config, Path(tmp), opts)
        del loaded.model  # the children load their own copy
        measured = run_plan(plan, opts)
    return assemble_record(plan, measured)


# ---- plan ------------------------------------------------------------------------------------------------


def check_request(config: BenchmarkConfig) -> None:
    """Refuse, before loading anything, what this machine or this config cannot do."""
    if config.device == "cuda" and not _cuda_visible():
        raise HarnessError("--device cuda was requested but torch sees no CUDA device here")
    if config.robustness and not config.dataset:
        raise HarnessError("--robustness needs a dataset (top-1 under corruptions)")


def load_checked(model: str, config: BenchmarkConfig, opts: Options) -> LoadedModel:
    """Load the model (errors as HarnessError) and check it may be scored on the dataset."""
    _log(opts, f"loading {model}")
    try:
        loaded = load_model(model)
    except HarnessError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise as_harness_error(exc, f"loading {model}") from None
    _log(
        opts, f"{loaded.architecture} ({loaded.source}, revision {loaded.revision}) input {loaded.input_size}"
    )
    if config.dataset:
        check_dataset_fit(loaded, config.dataset)
    return loaded


def describe_model(loaded: LoadedModel) -> ModelInfo:
    params, gmacs = model_counts(loaded)
    return ModelInfo(
        id=loaded.spec.id,
        source=loaded.source,
        revision=loaded.revision,
        architecture=loaded.architecture,
        pretrained=loaded.pretrained,
        params=params,
        gmacs=gmacs,
        gflops=2 * gmacs if gmacs is not None else None,
        size_mb=loaded.size_mb,
        input_size=list(loaded.input_size),
        data_config=loaded.data_config,
        num_classes=loaded.num_classes or None,
        task=loaded.task,
    )


def plan_evaluation(
    model: str, loaded: LoadedModel, config: BenchmarkConfig, workdir: Path, opts: Options
) -> EvaluationPlan:
    """Count the model, write the evaluation/calibration arrays into ``workdir`` and list the jobs."""
    threads = opts.threads or physical_cores()
    model_info = describe_model(loaded)
    dataset_info, eval_path, calib_path, calib_source, task_eval = None, None, None, None, None
    if config.dataset and loaded.task != "classification":
        dataset_info, eval_path, calib_path, calib_source, task_eval = _prepare_task_data(
            loaded, config, config.dataset, workdir, opts
        )
    elif config.dataset:
        dataset_info, eval_path, calib_path, calib_source = _prepare_data(
            loaded, config, config.dataset, workdir, opts
        )
    elif "int8" in config.precisions:
        calib_path, calib_source = _random_calibration(loaded, workdir)
    jobs = [
        MeasureJob(
            model=model,
            revision=loaded.revision,
            backend=backend,
            device=config.device,
            precision=precision,
            batch_sizes=list(config.batch_sizes),
            threads=threads,
            min_duration_s=config.min_duration_s,
            workdir=str(workdir / f"{backend}-{precision}"),
            eval_path=str(eval_path) if eval_path else None,
            calibration_path=str(calib_path) if calib_path and precision == "int8" else None,
            calibration_source=calib_source if precision == "int8" else None,
            timing=dict(opts.timing or {}),
            input_sizes=list(config.input_sizes),
            task=loaded.task,
            output_kind=loaded.output_kind,
        )
        for backend in config.backends
        for precision in config.precisions
    ]
    share_onnx_export(loaded, jobs, workdir, threads, opts)
    reference = next((j for j in jobs if j.backend == "pytorch" and j.precision == "fp32"), None)
    if eval_path and reference is None:  # accuracy is always PyTorch fp32; measure it without timing
        reference = MeasureJob(
            model, loaded.revision, "pytorch", config.device, "fp32", [], threads, config.min_duration_s,
            str(workdir / "reference"), str(eval_path), task=loaded.task, output_kind=loaded.output_kind,
        )  # fmt: skip
        jobs.insert(0, reference)
    if not eval_path:
        reference = None  # no dataset: no accuracy to take from any job
    return EvaluationPlan(
        model, config, threads, model_info, loaded.revision, workdir, jobs, reference, dataset_info, task_eval
    )


def share_onnx_export(
    loaded: LoadedModel, jobs: list[MeasureJob], workdir: Path, threads: int, opts: Options
) -> dict[str, Any] | None:
    """Export the model to ONNX once, here where it is already loaded, for every job whose backend consumes
    ONNX (each precision derives its graph from this file); those children then skip torch entirely.

    An export failure is only logged: each such child then tries the export itself and its runs record
    the failure as before (nothing is lost, the reason stays per run)."""
    wanted = [j for j in jobs if _consumes_onnx(j.backend) and _unsupported_reason(j) is None]
    if not wanted:
        return None
    from harness.onnx_export import export_onnx, export_plan

    # a graph that runs at one batch size only (export_plan): traced at the smallest one asked for
    batch = min(bs for j in wanted for bs in j.batch_sizes) if export_plan(loaded.model).fixed_batch else 1
    _log(opts, "exporting to ONNX (once, shared by every ONNX Runtime job)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            export = export_onnx(
                loaded.model,
                loaded.input_size,
                workdir / "onnx" / "model_fp32.onnx",
                threads=threads,
                output_kind=loaded.output_kind,
                batch=batch,
            )
    except Exception as exc:  # noqa: BLE001 - the children retry and record the reason per run
        reason = str(as_harness_error(exc, "exporting"))
        if loaded.task != "classification":  # the exporter's own words, on one line
            reason = (
                " ".join(str(exc).split())[:500] or type(exc).__name__
            )  # no second try: these graphs fail the same way every time
            _log(opts, f"ONNX export failed ({reason}); its runs are unsupported")
            for job in wanted:
                job.unsupported = reason if reason.startswith("ONNX") else f"ONNX export failed: {reason}"
            return None
        _log(opts, f"shared ONNX export failed ({reason}); each job will retry")
        return None
    sized = scaling_exports(loaded, wanted, workdir, threads, opts)
    for job in wanted:
        if export.get("batch") is not None:
            keep_graph_batch(job, export["batch"], export.get("fallback_reason"))
        job.onnx_export = dict(export)
        job.input_size = list(loaded.input_size)
        job.architecture = loaded.architecture
        job.load_ms = loaded.load_ms
        job.scaling_exports = dict(sized)
    return export


def keep_graph_batch(job: MeasureJob, batch: int, why: str | None) -> None:
    """Narrow ``job`` to the one batch size its graph was traced at; the others become unsupported runs."""
    reason = f"the ONNX graph runs at batch size {batch} only ({why or 'traced at one batch size'})"
    job.skipped_batches = {bs: reason for bs in job.batch_sizes if bs != batch}
    job.batch_sizes = [bs for bs in job.batch_sizes if bs == batch]


def scaling_exports(
    loaded: LoadedModel, jobs: list[MeasureJob], workdir: Path, threads: int, opts: Options
) -> dict[str, dict[str, Any]]:
    """One fixed-size ONNX export per input-size scaling resolution (other than the model's own), for
    the children that run without torch; a size the exporter refuses maps to ``{"error": reason}``."""
    from harness.onnx_export import export_onnx

    wanted = sorted({r for j in jobs if j.precision != "int8" for r in j.input_sizes})
    channels, native = loaded.input_size[0], tuple(loaded.input_size[1:])
    out: dict[str, dict[str, Any]] = {}
    for r in wanted:
        if (r, r) == native:
            continue
        _log(opts, f"exporting to ONNX at {r}x{r} (input-size scaling)")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out[str(r)] = export_onnx(
                    loaded.model,
                    (channels, r, r),
                    workdir / "onnx" / f"model_fp32_{r}.onnx",
                    threads=threads,
                    output_kind=loaded.output_kind,
                )
        except Exception as exc:  # noqa: BLE001 - that size's points record the reason
            out[str(r)] = {"error": str(as_harness_error(exc, f"exporting at {r}x{r}"))}
    return out


def _consumes_onnx(backend: str) -> bool:
    from harness.backends import BackendUnsupported, get_backend

    try:
        return bool(get_backend(backend).consumes_onnx)
    except (BackendUnsupported, ImportError):
        return False


# ---- run -------------------------------------------------------------------------------------------------


def run_plan(plan: EvaluationPlan, opts: Options) -> Measured:
    """Run every job (each in its own child process), then robustness if asked."""
    runs: list[RunRecord] = []
    accuracy, reference_metrics = None, None
    for job in plan.jobs:
        job_runs, job_acc = run_job(job, plan.threads, opts)
        metrics = _job_metrics(plan, job_acc, job_runs, opts)
        if job is plan.reference:
            accuracy = job_acc if plan.task_eval is None else None
            reference_metrics = metrics
        runs.extend(job_runs)
    top1 = {"top1": accuracy["top1"], "top5": accuracy["top5"]} if accuracy else None
    if top1:
        for r in runs:
            if r.accuracy_top1 is not None:
                r.accuracy_delta_top1 = r.accuracy_top1 - top1["top1"]
    if reference_metrics:
        for r in runs:
            r.metrics_delta = metrics_delta(r.metrics, reference_metrics)
    robustness = run_robustness(plan, opts) if plan.config.robustness else None
    return Measured(runs, top1, robustness, reference_metrics)


def _job_metrics(
    plan: EvaluationPlan, quality: dict | None, runs: list[RunRecord], opts: Options
) -> dict[str, float | None] | None:
    """One job's quality metrics, set on its runs: top-1/top-5 for classification, else the task's
    metrics of the outputs the child saved, scored here (a scoring failure is kept in each run's info)."""
    if not quality:
        return None
    if plan.task_eval is None:
        metrics: dict[str, float | None] | None = {"top1": quality.get("top1"), "top5": quality.get("top5")}
    else:
        try:
            metrics = plan.task_eval.score(quality["outputs_path"])
        except Exception as exc:  # noqa: BLE001 - one backend's outputs failing must not lose the record
            reason = str(as_harness_error(exc, "scoring the outputs"))
            _log(opts, f"  metrics: {reason}")
            for r in runs:
                r.info["accuracy_error"] = reason
            return None
        _log(opts, "  metrics: " + ", ".join(f"{k} {v:.2f}" for k, v in metrics.items() if v is not None))
    for r in runs:
        r.metrics = dict(metrics) if metrics else None
    return metrics


def metrics_delta(
    metrics: dict[str, float | None] | None, reference: dict[str, float | None]
) -> dict[str, float] | None:
    """Run minus reference, for each metric both have (like accuracy_delta_top1)."""
    if not metrics:
        return None
    out = {}
    for name, value in metrics.items():
        ref = reference.get(name)
        if value is not None and ref is not None:
            out[name] = value - ref
    return out


def run_job(job: MeasureJob, threads: int, opts: Options) -> tuple[list[RunRecord], dict | None]:
    """One (backend, precision) job: refused up front when the backend says so, else run isolated."""
    Path(job.workdir).mkdir(parents=True, exist_ok=True)
    _log(opts, f"measuring {job.backend}/{job.device}/{job.precision} batch sizes {job.batch_sizes}")
    reason = _unsupported_reason(job)
    if reason:  # known without loading anything: no child process needed
        outcome = ChildOutcome(ok=True, value={"unsupported": reason, "threads": threads})
    else:
        outcome = run_isolated("harness.measure:run_measure_job", asdict(job), opts.timeout_s)
    job_runs, job_acc = _runs_from_outcome(job, outcome)
    for r in job_runs:
        _log(opts, _run_line(r))
    return job_runs, job_acc


def run_robustness(plan: EvaluationPlan, opts: Options) -> list[RobustnessEntry]:
    _log(opts, "robustness (corruptions x severities, PyTorch fp32)")
    cfg = plan.config
    if not cfg.dataset:  # check_request refuses this before anything is loaded
        raise HarnessError("--robustness needs a dataset (top-1 under corruptions)")
    rjob = RobustnessJob(plan.model, plan.revision, cfg.device, plan.threads, cfg.dataset, cfg.max_samples)
    outcome = run_isolated("harness.measure:run_robustness_job", asdict(rjob), opts.timeout_s)
    if not outcome.ok:
        raise HarnessError(f"robustness failed: {outcome.error}")
    return [RobustnessEntry(**e) for e in outcome.value]


def _run_line(r: RunRecord) -> str:
    if r.status != "ok":
        return f"  bs={r.batch_size}: {r.status}: {r.error}"
    noisy = f" (noisy: {'; '.join((r.noise or {}).get('reasons') or [])})" if is_noisy(r.noise) else ""
    p50, ips = (r.latency_ms or {}).get("p50"), r.throughput_ips
    return f"  bs={r.batch_size}: p50 {p50 or 0:.3f} ms, {ips or 0:.1f} img/s{noisy}"


# ---- assemble --------------------------------------------------------------------------------------------


def assemble_record(plan: EvaluationPlan, measured: Measured) -> ResultRecord:
    """The result record: key from (model, revision, config, hardware profile), facts from the plan."""
    profile = hardware_profile(plan.config.device)
    info = plan.model_info
    return ResultRecord(
        key=result_key(info.id, info.revision, plan.config, profile),
        created_at=utc_now(),
        harness_version=harness_version(),
        model=info,
        dataset=plan.dataset,
        accuracy=measured.accuracy,
        runs=measured.runs,
        robustness=measured.robustness,
        environment=dict(describe_environment(plan.config.device)),
        config=plan.config.to_dict(),
        onnx=_onnx_info(measured.runs),
        task=plan.config.task,
        metrics=measured.metrics,
    )


def _cuda_visible() -> bool:
    import torch

    return torch.cuda.is_available()


def _unsupported_reason(job: MeasureJob) -> str | None:
    from harness.backends import BackendUnsupported, get_backend

    if job.unsupported:
        return job.unsupported
    try:
        backend = get_backend(job.backend)
    except BackendUnsupported as exc:
        return str(exc)
    except ImportError as exc:  # a backend module that is not installed
        return f"backend {job.backend} is not available: {exc}"
    return backend.unsupported_reason(job.device, job.precision)


def _onnx_info(runs: list[RunRecord]) -> dict | None:
    """Export facts (opset, size, max |diff| vs PyTorch) reported by the ONNX Runtime fp32 runner."""
    for r in sorted(runs, key=lambda r: r.precision != "fp32"):  # the fp32 export first
        if r.backend == "onnxruntime" and r.status == "ok" and r.info:
            keys = ("opset", "size_mb", "max_abs_diff", "exporter", "onnx_size_mb", "onnx_batch")
            found = {k: r.info[k] for k in keys if k in r.info}
            if found:
                return found
    return None
