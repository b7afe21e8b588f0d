"""Result records -> the leaderboard DataFrame: one row per (model, backend, device, precision, hardware).

Pure functions on plain dicts (a record as DESIGN describes it, or a row of the consolidated results table
whose nested fields are flattened to dotted columns and lists stored as JSON strings). Only runs whose
``status`` is ``ok`` (or absent) count; anything missing stays missing (NaN), never invented.

Records normally passed ``harness.record.check_record_dict`` before they get here; these functions still
never trust a type (defence in depth): a wrong-typed value becomes missing (a NaN, negative or string
latency included), a run without string backend/device/precision is skipped, a record without a string
model id gives no row. Row fields are declared in :mod:`leaderboard.columns`; ``record_rows`` computes
each of them.
"""

from __future__ import annotations

import math
import numbers
import re
import shlex
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import orjson  # a dependency of gradio; several times faster than json on the runs lists
import pandas as pd

from harness.tasks import TASK_NAMES
from leaderboard.columns import (
    BY_NAME,
    DEFAULT_TASK,
    FRAME_LEVEL,
    WIDE_COLUMNS,
    metric_fields,
    primary_metric,
)
from leaderboard.markup import model_link
from leaderboard.reference import reported_top1_by_arch

ROW_KEY = ("model", "backend", "device", "precision", "hardware_profile")
_JSON_LIST_FIELDS = ("runs", "robustness")
LONG_COLUMNS = (
    "row_id",
    "model",
    "backend",
    "device",
    "precision",
    "hardware_profile",
    "batch_size",
    "latency_mean_ms",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "throughput_ips",
    "peak_mem_mb",
)


# --- small helpers ---------------------------------------------------------------------------------
def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _num(v: Any) -> float | None:
    """A finite real number as float; anything else (strings, bools, NaN, inf, containers) -> None."""
    t = type(v)
    if t is float:
        return None if v != v or v in (math.inf, -math.inf) else v
    if t is int:
        return float(v)
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        return None
    f = float(v)
    return None if math.isnan(f) or math.isinf(f) else f


def _size(v: Any) -> float | None:
    """A non-negative finite number (latency, throughput, memory, size, count); else None."""
    f = _num(v)
    return f if f is not None and f >= 0 else None


def _pct(v: Any) -> float | None:
    """An accuracy in percent (0..100); else None."""
    f = _num(v)
    return f if f is not None and 0 <= f <= 100 else None


def _str(v: Any) -> str | None:
    """A non-empty string that is valid Unicode text; anything else (lists, dicts, numbers, a lone
    surrogate that JSON allows but no frame or UTF-8 output can hold) -> None."""
    if not isinstance(v, str) or not v:
        return None
    if not v.isascii():
        try:
            v.encode("utf-8")
        except UnicodeEncodeError:
            return None
    return v


def _dict(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


def _int(v: Any) -> int | None:
    """Non-negative whole numbers that a table column may have turned into floats (1.0 -> 1)."""
    f = _size(v)
    return int(f) if f is not None and f.is_integer() and f < 2**53 else None


def _maybe_json(v: Any) -> Any:
    if isinstance(v, str) and v[:1] in "[{":
        try:
            return orjson.loads(v)
        except orjson.JSONDecodeError:
            return v
    return v


def nest(flat: dict[str, Any]) -> dict[str, Any]:
    """Undo the table's flattening: ``{"model.id": x}`` -> ``{"model": {"id": x}}``; JSON lists parsed."""
    out: dict[str, Any] = {}
    for k, v in flat.items():
        if _missing(v):
            v = None
        parts = k.split(".")
        if v is None and len(parts) > 1:
            continue  # a null child column (another record's shape) never replaces a real parent value
        node = out
        for p in parts[:-1]:
            nxt = node.get(p)
            if not isinstance(nxt, dict):
                nxt = {}
                node[p] = nxt
            node = nxt
        leaf = parts[-1]
        if isinstance(node.get(leaf), dict) and v is None:
            continue  # a null parent column next to its flattened children
        node[leaf] = _maybe_json(v) if leaf in _JSON_LIST_FIELDS or isinstance(v, str) else v
    return out


_FAMILY_PREFIXES = {"test", "tf", "wide", "legacy", "gluon", "ig", "ssl", "swsl", "fb", "tv", "timm"}


def architecture_family(arch: str | None) -> str | None:
    """``resnet50d`` -> ``resnet``, ``mobilenetv3_large_100`` -> ``mobilenetv3``, ``vit_tiny_...`` -> ``vit``.

    First name token (prefixes like ``tf_``/``test_`` kept with the next token); trailing depth numbers
    and variant letters are dropped, but version suffixes (``v2``, ``v3``) are kept.
    """
    if not arch:
        return None
    tokens = [t for t in re.split(r"[_\-]", arch.lower().split(".")[0]) if t]
    if not tokens:
        return None
    head = tokens[0]
    if head in _FAMILY_PREFIXES and len(tokens) > 1:
        return f"{head}_{_strip_depth(tokens[1])}"
    return _strip_depth(head)


def _strip_depth(token: str) -> str:
    m = re.match(r"^(.*?[a-z])(\d+[a-z]?)$", token)
    if m and not m.group(1).endswith("v") and len(m.group(1)) >= 2:
        return m.group(1)
    return token


def model_url(model_id: str, source: str | None) -> str | None:
    """Hub models -> their Hub page; timm architectures -> timm's pretrained weights of that arch; only
    for ids matching the strict patterns of :func:`leaderboard.markup.model_link` (else None)."""
    return model_link(model_id, source)


def reproduce_command(record: dict[str, Any]) -> str:
    """``python -m harness MODEL --flags`` that measures this record again (same config -> same key)."""
    model = _dict(record.get("model"))
    spec = _str(model.get("id")) or "?"
    rev = _str(model.get("revision"))
    if rev and (spec.startswith("hf-hub:") or model.get("source") == "hf-hub") and "@" not in spec:
        spec = f"{spec}@{rev}"
    args = _config_args(record)
    threads = {_int(r.get("threads")) for r in _ok_runs(record)}
    if len(threads) == 1 and (n := _int(threads.pop())) is not None and n > 0:
        args += ["--threads", str(n)]  # not part of the key, but it changes every latency
    return shlex.join(["python", "-m", "harness", spec, *args])


def _config_args(record: dict[str, Any]) -> list[str]:
    cfg = record.get("config")
    if isinstance(cfg, dict):
        try:
            frozen = orjson.dumps(cfg, option=orjson.OPT_SORT_KEYS)
        except TypeError:
            frozen = None
        args = _cli_args_of(frozen) if frozen is not None else None
        if args is not None:
            return list(args)
    runs = _ok_runs(record)  # old record without a config: rebuild what the runs show
    if not runs:
        return []
    uniq = lambda key: list(dict.fromkeys(str(r.get(key)) for r in runs))  # noqa: E731 (runs: str fields)
    return [
        "--backends",
        ",".join(uniq("backend")),
        "--device",
        uniq("device")[0],
        "--batch-sizes",
        ",".join(sorted(uniq("batch_size"), key=lambda s: int(s) if s.isdigit() else 0)),
        "--precisions",
        ",".join(uniq("precision")),
    ]


@lru_cache(maxsize=4096)
def _cli_args_of(config_json: bytes) -> tuple[str, ...] | None:
    """Flags of one config (memoised: thousands of records share a handful of configs)."""
    from harness.config import BenchmarkConfig, ConfigError

    try:
        return tuple(BenchmarkConfig.from_dict(orjson.loads(config_json)).to_cli_args())
    except (ConfigError, TypeError, ValueError):
        return None


def _ok_runs(record: dict[str, Any]) -> list[dict[str, Any]]:
    runs = record.get("runs")
    if isinstance(runs, str):
        runs = _maybe_json(runs)
    if not isinstance(runs, list):
        return []
    return [
        r
        for r in runs
        if isinstance(r, dict)
        and r.get("status") in (None, "ok")
        and all(_str(r.get(k)) for k in ("backend", "device", "precision"))
    ]


def _run_mem(run: dict[str, Any]) -> float | None:
    if run.get("device") == "cuda":
        for key in ("peak_gpu_mb", "gpu_mem_peak_mb"):  # torch's allocator, else NVML (ONNX Runtime)
            if (gpu := _size(run.get(key))) is not None:
                return gpu
    return _size(run.get("peak_rss_mb"))


_COLD_PHASES = (
    ("imports", "imports"),
    ("model_load", "load"),
    ("prepare", "prepare"),
    ("first_inference", "first"),
)


def deployment_fields(runs: list[dict[str, Any]], best_bs: int | None) -> dict[str, Any]:
    """Cold start (the job's, from its first run that has one), energy per image and GPU utilisation
    (at the best batch size) of one row's runs; missing or malformed values stay missing."""
    cold = next((c for r in runs if (c := _dict(r.get("cold_start"))).get("total_ms") is not None), {})
    phases = None
    if cold:
        parts = [(label, _size(cold.get(f"{key}_ms"))) for key, label in _COLD_PHASES]
        phases = " · ".join(f"{label} {'—' if v is None else f'{v:.0f}'}" for label, v in parts) + " ms"
    best = next((r for r in runs if best_bs is not None and _int(r.get("batch_size")) == best_bs), None)
    best = best or (runs[0] if runs else {})
    note = _str(best.get("energy_note"))
    return {
        "cold_start_ms": _size(cold.get("total_ms")),
        "cold_start_phases": phases,
        "energy_j_per_image": _size(best.get("energy_j_per_image")),
        "energy_note": note[:300] if note else None,
        "gpu_util_pct": _pct(best.get("gpu_util_pct")),
    }


def scaling_points(record: Any, backend: Any, device: Any, precision: Any) -> list[tuple[int, float]]:
    """(resolution, p50 ms) of the measured input-size scaling points of one row of ``record``, by
    resolution; points that failed, are malformed or repeat a resolution are left out."""
    points: dict[int, float] = {}
    for run in _ok_runs(record if isinstance(record, dict) else {}):
        if (run["backend"], run["device"], run["precision"]) != (backend, device, precision):
            continue
        scaling = run.get("scaling")
        for p in scaling if isinstance(scaling, list) else []:
            if not isinstance(p, dict) or p.get("status") != "ok":
                continue
            r, p50 = _int(p.get("resolution")), _size(p.get("p50_ms"))
            if r and p50 is not None and 0 < r <= 4096:
                points.setdefault(r, p50)
    return sorted(points.items())


def _run_size(runs: list[dict[str, Any]], weights_mb: float | None) -> float | None:
    """Size of what the backend ran: the (quantized) ONNX file for ONNX Runtime, else the weight files."""
    for run in runs:
        info = run.get("info")
        if isinstance(info, dict) and (mb := _size(info.get("onnx_size_mb"))) is not None:
            return mb
    return weights_mb


def _lat(run: dict[str, Any] | None, q: str) -> float | None:
    if not run or not isinstance(run.get("latency_ms"), dict):
        return None
    return _size(run["latency_ms"].get(q))


def _noise(run: dict[str, Any]) -> dict[str, Any]:
    return _dict(run.get("noise"))


def _most(values: Iterable[float | None]) -> float | None:
    """The largest of the known values; None when none is known."""
    known = [v for v in values if v is not None]
    return max(known) if known else None


def _cv(run: dict[str, Any] | None) -> float | None:
    """Coefficient of variation of a run's timed samples: the recorded ``noise.cv``, else std / mean."""
    if not run:
        return None
    cv = _size(_noise(run).get("cv"))
    if cv is None and (mean := _lat(run, "mean")) and (std := _lat(run, "std")) is not None:
        cv = std / mean
    return cv


def _noisy(runs: list[dict[str, Any]]) -> tuple[bool | None, str | None]:
    """(noisy, reasons) of a row: True when any run was marked noisy; False when every run was checked
    and none was; None when some run predates noise checks. Reasons are the marked runs' own words."""
    flags = [_noise(r).get("noisy") for r in runs]
    reasons: list[str] = []
    for r, flag in zip(runs, flags, strict=True):
        if flag is True:
            why = _noise(r).get("reasons")
            words = [w for w in why if _str(w)] if isinstance(why, list) else []
            reasons += [f"bs{_int(r.get('batch_size'))}: {w}" for w in words] or [
                f"bs{_int(r.get('batch_size'))}"
            ]
    if any(f is True for f in flags):
        return True, "; ".join(dict.fromkeys(reasons))
    if flags and all(f is False for f in flags):
        return False, None
    return None, None


_TASK_METRICS = tuple(m for m in metric_fields() if m not in ("top1", "top5"))
_OLD_TASK_NAMES = {"image-classification": "classification"}


def record_task(record: dict[str, Any]) -> str:
    """The record's task (top-level ``task``, else ``model.task``); a record without one is
    classification, as every record was before tasks existed."""
    model = _dict(record.get("model"))
    task = _str(record.get("task")) or _str(model.get("task")) or DEFAULT_TASK
    return _OLD_TASK_NAMES.get(task, task)


def _run_metric(runs: list[dict[str, Any]], name: str) -> float | None:
    """A quality metric the runs of one row measured on the set (their own ``metrics``)."""
    return next((v for r in runs if (v := _pct(_dict(r.get("metrics")).get(name))) is not None), None)


def _resolution(size: Any) -> str | None:
    """``[3, 320, 320]`` -> ``"3x320x320"``; anything but 1-4 whole positive numbers -> None."""
    size = _maybe_json(size)
    if not isinstance(size, list) or not 1 <= len(size) <= 4:
        return None
    dims = [_int(d) for d in size]
    return "x".join(str(d) for d in dims) if all(d for d in dims) else None


# --- one record -> rows ------------------------------------------------------------------------------
def unit_costs(usd_per_hour: float | None, throughput_ips: float | None) -> dict[str, float | None]:
    """Cost per million images and images per dollar at a throughput (None when either is unknown; a
    free machine costs 0 per image and gives no finite images per dollar)."""
    if usd_per_hour is None or not throughput_ips:
        return {"cost_per_million_images": None, "images_per_dollar": None}
    per_image = usd_per_hour / (throughput_ips * 3600.0)
    return {
        "cost_per_million_images": per_image * 1e6,
        "images_per_dollar": 1.0 / per_image if per_image > 0 else None,
    }


def record_rows(record: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The wide rows (one per backend/device/precision) and long rows (one per batch size) of a record.

    Each wide row has every registry field except the frame-level ones (``columns.FRAME_LEVEL``).
    """
    if not isinstance(record, dict):
        return [], []
    model = _dict(record.get("model"))
    model_id = _str(model.get("id"))
    if not model_id:
        return [], []
    source = _str(model.get("source"))
    env = _dict(record.get("environment"))
    hw = _str(env.get("hardware_profile")) or "unknown"
    flavor = _dict(env.get("flavor"))
    usd_per_hour = _size(flavor.get("usd_per_hour"))
    acc = _dict(record.get("accuracy"))
    pretrained = model.get("pretrained")
    arch = _str(model.get("architecture")) or (model_id if ":" not in model_id else None)
    ds = _dict(record.get("dataset"))
    n = _int(ds.get("num_samples"))
    name = _str(ds.get("name"))
    dataset = (f"{name} ({n})" if n is not None else name) if name else None
    params = _size(model.get("params"))
    task = record_task(record)
    ref_metrics = _dict(record.get("metrics"))
    metrics = metric_fields(task) if task in TASK_NAMES else ()
    key = _str(record.get("key"))
    repro = reproduce_command(record)
    resolution = _resolution(model.get("input_size"))

    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for run in _ok_runs(record):
        g = (run["backend"], run["device"], run["precision"])  # strings: _ok_runs checked them
        groups.setdefault(g, []).append(run)

    wide: dict[tuple[str, str, str], dict[str, Any]] = {}
    long: list[dict[str, Any]] = []
    for (backend, device, precision), runs in groups.items():
        runs.sort(key=lambda r: _int(r.get("batch_size")) or 0)
        bs1 = next((r for r in runs if _int(r.get("batch_size")) == 1), None)
        tputs = [
            (t, _int(r.get("batch_size"))) for r in runs if (t := _size(r.get("throughput_ips"))) is not None
        ]
        best = max(tputs, key=lambda x: x[0]) if tputs else (None, None)
        mems = [m for r in runs if (m := _run_mem(r)) is not None]
        top1 = next((v for r in runs if (v := _pct(r.get("accuracy_top1"))) is not None), None)
        top5 = next((v for r in runs if (v := _pct(r.get("accuracy_top5"))) is not None), None)
        if precision == "fp32":  # same weights, fp32 numerics: the record's measured accuracy applies
            top1 = top1 if top1 is not None else _pct(acc.get("top1"))
            top5 = top5 if top5 is not None else _pct(acc.get("top5"))
        quality = {m: _run_metric(runs, m) for m in metrics if m not in ("top1", "top5")}
        if precision == "fp32":  # the record's reference metrics (PyTorch fp32) fill what runs lack
            quality = {m: v if v is not None else _pct(ref_metrics.get(m)) for m, v in quality.items()}
            top1 = top1 if top1 is not None else _pct(ref_metrics.get("top1"))
            top5 = top5 if top5 is not None else _pct(ref_metrics.get("top5"))
        if pretrained is False:  # random weights: accuracy is meaningless, never shown
            top1 = top5 = None
            quality = dict.fromkeys(quality)
        row_id = f"{key}/{backend}/{device}/{precision}"
        noisy, reasons = _noisy(runs)
        wide[(backend, device, precision)] = {
            "model": model_id,
            "model_url": model_url(model_id, source),
            "source": source,
            "revision": _str(model.get("revision")),
            "architecture": arch,
            "family": architecture_family(arch),
            "task": task,
            "backend": backend,
            "device": device,
            "precision": precision,
            "top1": top1,
            "top5": top5,
            **dict.fromkeys(_TASK_METRICS),
            **quality,
            "latency_p50_ms": _lat(bs1, "p50"),
            "latency_p95_ms": _lat(bs1, "p95"),
            "latency_p99_ms": _lat(bs1, "p99"),
            "latency_cv": _cv(bs1),
            "page_faults_per_pass": _most(_size(_noise(r).get("page_faults_per_pass")) for r in runs),
            "noisy": noisy,
            "noise_reasons": reasons,
            "throughput_ips": best[0],
            "best_batch_size": best[1],
            "flavor": _str(flavor.get("name")),
            "usd_per_hour": usd_per_hour,
            **unit_costs(usd_per_hour, best[0]),
            "peak_mem_mb": max(mems) if mems else None,
            **deployment_fields(runs, best[1]),
            "size_mb": _run_size(runs, _size(model.get("size_mb"))),
            "params_m": params / 1e6 if params is not None else None,
            "gmacs": _size(model.get("gmacs")),
            "int8_top1_delta": None,
            "int8_speedup": None,
            "hardware_profile": hw,
            "resolution": resolution,
            "dataset": dataset,
            "created_at": _str(record.get("created_at")),
            "key": key,
            "reproduce": repro,
            "row_id": row_id,
        }
        for r in runs:
            long.append(
                {
                    "row_id": row_id,
                    "model": model_id,
                    "backend": backend,
                    "device": device,
                    "precision": precision,
                    "hardware_profile": hw,
                    "batch_size": _int(r.get("batch_size")),
                    "latency_mean_ms": _lat(r, "mean"),
                    "latency_p50_ms": _lat(r, "p50"),
                    "latency_p95_ms": _lat(r, "p95"),
                    "latency_p99_ms": _lat(r, "p99"),
                    "throughput_ips": _size(r.get("throughput_ips")),
                    "peak_mem_mb": _run_mem(r),
                }
            )
    for (backend, device, precision), row in wide.items():
        if precision != "int8" or (backend, device, "fp32") not in wide:
            continue
        fp = wide[(backend, device, "fp32")]
        delta = row["top1"] - fp["top1"] if row["top1"] is not None and fp["top1"] is not None else None
        speed = (
            fp["latency_p50_ms"] / row["latency_p50_ms"]
            if fp["latency_p50_ms"] and row["latency_p50_ms"]
            else None
        )
        for target in (row, fp):
            target["int8_top1_delta"], target["int8_speedup"] = delta, speed
    return list(wide.values()), long


# --- many records -> frames ---------------------------------------------------------------------------
def build_frames(records: Iterable[dict[str, Any]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(wide, long) frames; duplicates of a ROW_KEY keep the newest ``created_at``; ranked."""
    wide_rows: list[dict[str, Any]] = []
    long_rows: list[dict[str, Any]] = []
    for rec in records:
        w, lg = record_rows(rec)
        wide_rows += w
        long_rows += lg
    wide = pd.DataFrame(wide_rows, columns=[c for c in WIDE_COLUMNS if c not in FRAME_LEVEL])
    long = pd.DataFrame(long_rows, columns=list(LONG_COLUMNS))
    long["batch_size"] = pd.to_numeric(long["batch_size"], errors="coerce").astype("Int64")
    if len(wide):
        wide = wide.sort_values("created_at", ascending=False, na_position="last", kind="stable")
        wide = wide.drop_duplicates(subset=list(ROW_KEY), keep="first")
        long = long[long["row_id"].isin(set(wide["row_id"]))]
    ref = reported_top1_by_arch()
    wide["reported_top1"] = wide["architecture"].map(ref)
    for name in WIDE_COLUMNS:
        if name in wide:
            wide[name] = _typed(wide[name], BY_NAME[name].dtype)
    wide = rank(wide)
    return wide[list(WIDE_COLUMNS)].reset_index(drop=True), long.reset_index(drop=True)


def _typed(values: pd.Series, dtype: str) -> pd.Series:
    """A frame column in the pandas type of its registry dtype (numbers stay numbers for sorting)."""
    if dtype == "float":
        return pd.to_numeric(values, errors="coerce").astype("float64")
    if dtype == "int":
        return pd.to_numeric(values, errors="coerce").astype("Int64")
    if dtype == "bool":
        return values.map(lambda v: v if isinstance(v, bool) else None).astype("boolean")
    return values


def rank(wide: pd.DataFrame) -> pd.DataFrame:
    """Rank 1..n within each task by the task's primary metric (desc: top-1, box mAP, mIoU, keypoint AP),
    then p50 latency (asc); missing values rank last. A task no registry knows ranks by latency."""
    if wide.empty:
        wide = wide.copy()
        wide["rank"] = pd.Series(dtype="Int64")
        return wide
    parts = []
    for task, part in wide.groupby("task", sort=True, dropna=False):
        metric = primary_metric(str(task)) if task in TASK_NAMES else "latency_p50_ms"
        order = part.sort_values(
            [metric, "latency_p50_ms", "model"],
            ascending=[metric == "latency_p50_ms", True, True],
            na_position="last",
            kind="stable",
        ).index
        ranked = part.loc[order].copy()
        ranked["rank"] = pd.array(range(1, len(ranked) + 1), dtype="Int64")
        parts.append(ranked)
    return pd.concat(parts)


def frames_from_table(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The consolidated results table (flattened records) -> (wide, long) leaderboard frames."""
    if table is None or table.empty:
        return build_frames([])
    keep = [
        c
        for c in table.columns
        if c.split(".")[0] in _TOP_LEVEL
        and not c.startswith(_SKIP_PREFIXES)
        and (
            not c.startswith("environment.")
            or c == "environment.hardware_profile"
            or c.startswith(("environment.flavor.", "environment.flavor"))
        )
    ]
    return build_frames(nest(row) for row in table[keep].to_dict("records"))


_TOP_LEVEL = {
    "key", "created_at", "model", "dataset", "accuracy", "metrics", "runs", "environment", "config", "task",
}  # fmt: skip
_SKIP_PREFIXES = ("model.data_config",)
