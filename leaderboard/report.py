"""Publishable Markdown report of leaderboard rows: tables per hardware profile and backend.

Pure functions of the wide leaderboard frame (:func:`leaderboard.load.build_frames`) and the environment
blocks of the records; the CLI in :mod:`leaderboard.cli` reads the store and writes the files. Table
columns are the registry's ``report`` fields; every record-supplied string is escaped
(:func:`leaderboard.markup.escape_markdown`) and commands sit in fences they cannot close.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import pandas as pd

from leaderboard.columns import BY_NAME, REPORT_FIELDS, TASK_TITLES, for_task, primary_metric
from leaderboard.markup import code_block, escape_markdown
from leaderboard.present import cell_text

LATENCY_BANDS = ((10.0, "🟢", "< 10 ms"), (50.0, "🟡", "10-50 ms"), (math.inf, "🔴", "> 50 ms"))
BAND_LEGEND = "Latency bands (p50 at batch 1): " + " · ".join(f"{m} {label}" for _, m, label in LATENCY_BANDS)

# Environment facts shown per hardware profile, in this order (record ``environment`` keys).
ENV_FIELDS = (
    ("cpu", "CPU"),
    ("cores", "Cores"),
    ("gpu", "GPU"),
    ("ram_gb", "RAM GB"),
    ("machine", "Arch"),
    ("os", "OS"),
    ("python", "Python"),
    ("torch", "torch"),
    ("torchvision", "torchvision"),
    ("timm", "timm"),
    ("onnx", "onnx"),
    ("onnxruntime", "onnxruntime"),
)
_TEXT_COLUMNS = frozenset(n for n in REPORT_FIELDS if not BY_NAME[n].numeric)


def table_columns(task: str | None) -> tuple[tuple[str, str], ...]:
    """(field, label) of a report table of ``task``: the registry's report fields that task has."""
    return tuple((name, BY_NAME[name].label) for name in for_task(REPORT_FIELDS, task))


def ranking_line(task: str) -> str:
    """How a task's rows are ranked, in words (the report and the About tab say the same)."""
    metric = BY_NAME[primary_metric(task)].label.removesuffix(" %")
    return f"{TASK_TITLES.get(task, task)}: ranked by {metric} (higher is better), then by lower p50 latency."


def latency_band(p50_ms: float | None) -> str:
    """The band marker of a batch-1 p50 latency ('' when missing)."""
    if p50_ms is None or (isinstance(p50_ms, float) and math.isnan(p50_ms)):
        return ""
    return next(marker for bound, marker, _ in LATENCY_BANDS if p50_ms < bound)


def _cell(v: Any) -> str:
    """Markdown-safe text of a cell: escaped, on one line, no pipes that would break the table."""
    return escape_markdown(v)


def noise_rule() -> str | None:
    """The harness's rule for the noisy marker (None when this harness has no noise checks)."""
    try:
        from harness.noise import describe_rule
    except ImportError:
        return None
    return describe_rule()


RUNTIME_NAMES = {
    "onnxruntime": "ONNX Runtime",
    "onnxruntime-trt": "ONNX Runtime TensorRT",
    "openvino": "OpenVINO",
    "litert": "LiteRT",
    "torch-compile": "torch.compile",
}


def runtime_speedup(wide: pd.DataFrame, backend: str = "onnxruntime") -> dict[str, Any] | None:
    """``backend`` vs PyTorch eager p50 (batch 1) over rows measured on both in the same record.

    Pairs share record key, device and precision, so the two numbers come from one machine and config.
    Returns the geometric mean, range and count of PyTorch p50 / ``backend`` p50, or None without pairs.
    """
    need = {"backend", "key", "device", "precision", "latency_p50_ms"}
    if wide.empty or not need <= set(wide.columns):
        return None
    on = ["key", "device", "precision"]
    pt = wide[wide["backend"] == "pytorch"][[*on, "latency_p50_ms"]]
    other = wide[wide["backend"] == backend][[*on, "latency_p50_ms"]]
    pairs = pt.merge(other, on=on, suffixes=("_pt", "_other")).dropna()
    pairs = pairs[(pairs["latency_p50_ms_pt"] > 0) & (pairs["latency_p50_ms_other"] > 0)]
    if pairs.empty:
        return None
    ratios = pairs["latency_p50_ms_pt"] / pairs["latency_p50_ms_other"]
    geo = float(math.exp(sum(math.log(r) for r in ratios) / len(ratios)))
    return {"geomean": geo, "min": float(ratios.min()), "max": float(ratios.max()), "pairs": len(ratios)}


def speedup_lines(wide: pd.DataFrame) -> list[str]:
    """One line per runtime measured beside PyTorch eager in the same runs (backends in the registry's
    order), or one line saying there is none."""
    from harness.backends import backend_specs

    present = set(wide["backend"]) if "backend" in wide.columns else set()
    lines = []
    for spec in backend_specs():
        if spec.name == "pytorch" or spec.name not in present:
            continue
        s = runtime_speedup(wide, spec.name)
        if s is None:
            continue
        word = "faster" if s["geomean"] >= 1 else "slower"
        factor = s["geomean"] if s["geomean"] >= 1 else 1 / s["geomean"]
        name = RUNTIME_NAMES.get(spec.name, spec.name)
        lines.append(
            f"{name} vs PyTorch: {factor:.2f}x {word} (geometric mean of PyTorch p50 / {name} p50 "
            f"at batch 1 over {s['pairs']} model/device/precision pair(s) measured in the same run; "
            f"range {s['min']:.2f}x-{s['max']:.2f}x)."
        )
    return lines or [
        "Runtimes vs PyTorch: no row here was measured on PyTorch and another runtime in the same run."
    ]


def environment_block(profile: str, envs: list[dict[str, Any]]) -> list[str]:
    """Markdown lines describing the machines of one hardware profile (newest record's values first;
    a field that differs between records lists every value seen)."""
    lines = ["| Environment | |", "|---|---|", f"| Hardware profile | {_cell(profile)} |"]
    for key, label in ENV_FIELDS:
        seen = list(dict.fromkeys(str(e[key]) for e in envs if e.get(key) not in (None, "")))
        if seen:
            lines.append(f"| {label} | {_cell(', '.join(seen))} |")
    return lines


def _table(rows: pd.DataFrame, task: str | None) -> list[str]:
    columns = table_columns(task)
    header = "| " + " | ".join(_cell(label) for _, label in columns) + " |"
    align = "|" + "|".join("---" if n in _TEXT_COLUMNS else "---:" for n, _ in columns) + "|"
    out = [header, align]
    for row in rows.to_dict("records"):
        cells = []
        for name, _ in columns:
            text = cell_text(name, row.get(name))
            if name == "latency_p50_ms" and text != "—":
                text = f"{latency_band(row[name])} {text}"
            cells.append(_cell(text))
        out.append("| " + " | ".join(cells) + " |")
    return out


def render_report(
    wide: pd.DataFrame,
    environments: dict[str, list[dict[str, Any]]],
    *,
    title: str = "Vision model benchmark results",
    generated_at: str | None = None,
    source: str = "",
    filter_note: str = "",
) -> str:
    """The whole Markdown document: header, legend, speed-up line, then per hardware profile its
    environment, one table per backend (sorted by p50) and the reproduce command of every record."""
    lines = [f"# {title}", ""]
    meta = []
    if generated_at:
        meta.append(f"Generated {generated_at}")
    if source:
        meta.append(f"from {source}")
    meta.append(f"{len(wide)} row(s)")
    if filter_note:
        meta.append(f"filter: {_cell(filter_note)}")
    lines += [", ".join(meta) + ".", "", BAND_LEGEND + ".", ""]
    lines += [f"- {line}" for line in speedup_lines(wide)] + [""]
    lines += [
        "Accuracy (top-1, box mAP, mIoU, keypoint AP) is measured by the harness on the dataset named per "
        "row (— for random-weight models or runs without a dataset); INT8 Δ is the INT8 top-1 minus the "
        "fp32 top-1 of the same backend.",
        "",
    ]
    if rule := noise_rule():
        lines += [f"Noisy marker ({BY_NAME['noisy'].marks[0]}): {rule}", ""]
    if wide.empty:
        lines.append("_No results match._")
        return "\n".join(lines) + "\n"
    tasks = [t for t in TASK_TITLES if "task" in wide and (wide["task"] == t).any()]
    lines += [f"- {ranking_line(t)}" for t in tasks] + [""]
    for task in tasks:
        lines += _task_section(wide[wide["task"] == task], task, environments, several=len(tasks) > 1)
    return "\n".join(lines)


def _task_section(
    rows_of_task: pd.DataFrame, task: str, environments: dict[str, list[dict[str, Any]]], several: bool
) -> list[str]:
    """Per hardware profile: its environment, one table of the task's columns per backend (sorted by p50)
    and the reproduce commands. Headings name the task when the report holds several."""
    lines: list[str] = []
    prefix = f"{_cell(TASK_TITLES[task])} · " if several else ""
    for profile, part in rows_of_task.groupby("hardware_profile", sort=True, dropna=False):
        lines += [f"## {prefix}{_cell(profile)}", ""]
        lines += environment_block(str(profile), environments.get(str(profile), []))
        lines.append("")
        datasets = sorted({str(d) for d in part.get("dataset", pd.Series(dtype=object)).dropna()})
        if datasets:
            lines += [f"Datasets: {_cell(', '.join(datasets))}.", ""]
        for backend, rows in part.groupby("backend", sort=True):
            rows = rows.sort_values(["latency_p50_ms", "model"], na_position="last", kind="stable")
            lines += [f"### {prefix}{_cell(profile)} · {_cell(backend)}", ""]
            lines += _table(rows, task)
            lines.append("")
        commands = [line for model, cmd in _reproduce_commands(part) for line in (f"# {model}", cmd)]
        lines += ["Reproduce a row:", "", *code_block("\n".join(commands), "sh"), ""]
    return lines


def _reproduce_commands(part: pd.DataFrame) -> Iterable[tuple[str, str]]:
    seen: set[str] = set()
    for row in part.sort_values("model", kind="stable").to_dict("records"):
        cmd = row.get("reproduce")
        if isinstance(cmd, str) and cmd and cmd not in seen:
            seen.add(cmd)
            yield str(row["model"]), cmd


def environments_from_records(records: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """hardware profile -> environment blocks of its records, newest first."""
    by_profile: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for rec in records:
        env = rec.get("environment") if isinstance(rec, dict) else None
        if not isinstance(env, dict):
            continue
        profile = str(env.get("hardware_profile") or "unknown")
        by_profile.setdefault(profile, []).append((str(rec.get("created_at") or ""), env))
    return {p: [e for _, e in sorted(v, key=lambda t: t[0], reverse=True)] for p, v in by_profile.items()}


def environments_from_table(table: pd.DataFrame) -> dict[str, list[dict[str, Any]]]:
    """Same as :func:`environments_from_records` for the consolidated (flattened) results table."""
    if table is None or table.empty:
        return {}
    cols = [c for c in table.columns if c.startswith("environment.")]
    keep = [*cols, *(["created_at"] if "created_at" in table else [])]
    records = []
    for row in table[keep].to_dict("records"):
        env = {c.removeprefix("environment."): v for c, v in row.items() if c in cols}
        env = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in env.items()}
        records.append({"created_at": row.get("created_at"), "environment": env})
    return environments_from_records(records)
