"""Turn frames into what the UI shows: formatted pages, row details, compare tables (no Gradio here).

Record-supplied text never renders as markup: Markdown outputs (the Model cell, row details) escape every
value with :mod:`leaderboard.markup` and link only validated model ids; the table's other cells and the
compare table are plain text (control characters removed) and must be shown with Gradio datatype "str".
"""

from __future__ import annotations

import math

import pandas as pd

from leaderboard.columns import (
    BY_NAME,
    COLUMNS,
    COMPARE_FIELDS,
    EXPORT_FIELDS,
    for_task,
    format_value,
    metric_fields,
    visible_columns,
)
from leaderboard.filters import View
from leaderboard.markup import code_block, escape_markdown, markdown_link, plain_text

PAGE_SIZE = 50
MISSING = "—"


def model_markdown(model: object, url: object) -> str:
    """The Model cell: the escaped id, linked only when ``url`` is a link built from a validated id."""
    return markdown_link(model, url)


def display_page(
    view: pd.DataFrame | View,
    columns: list[str] | tuple[str, ...] | None,
    page: int = 1,
    page_size: int = PAGE_SIZE,
    task: str | None = None,
) -> tuple[pd.DataFrame, list[str], list[str], int, int]:
    """One page of the view (a frame, or a :class:`View` whose rows are taken without copying the rest)
    as display strings with column labels (the picked columns ``task`` has).

    Returns (frame, gradio datatypes, row_ids of the page, page actually shown, number of pages).
    Only ``page_size`` rows ever go to the browser, and only they are formatted.
    """
    cols = visible_columns(columns, task)
    n = view.size if isinstance(view, View) else len(view)
    pages = max(1, math.ceil(n / page_size))
    page = min(max(1, int(page or 1)), pages)
    start, stop = (page - 1) * page_size, page * page_size
    part = view.page(start, stop) if isinstance(view, View) else view.iloc[start:stop]
    out = {}
    for name in cols:
        col = BY_NAME[name]
        if name == "model":
            out[col.label] = [
                model_markdown(m, u) for m, u in zip(part["model"], part["model_url"], strict=True)
            ]
        else:
            out[col.label] = [plain_text(cell_text(name, v)) for v in part[name]]
    frame = pd.DataFrame(out, columns=[BY_NAME[n].label for n in cols])
    dtypes = ["markdown" if BY_NAME[n].dtype == "markdown" else "str" for n in cols]
    return frame, dtypes, part["row_id"].tolist(), page, pages


def _py(v):
    if v is None or v is pd.NA:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    if hasattr(v, "item"):
        return v.item()
    return v


def cell_text(name: str, value) -> str:
    """Display text of one cell of a frame (numpy/pandas scalars and NaN/NA included); missing -> '—'."""
    return format_value(name, _py(value))


def row_label(row: pd.Series | dict) -> str:
    """Short unique-ish name of a leaderboard row for pickers (plain text, one line)."""
    return plain_text(
        f"{row['model']} · {row['backend']}/{row['device']}/{row['precision']} · {row['hardware_profile']}",
        limit=200,
    )


def row_details(row: pd.Series | dict) -> str:
    """Markdown with every column of one row and its reproduce command; every value escaped."""
    lines = [f"### {escape_markdown(row_label(row))}", ""]
    link = markdown_link(row.get("model"), row.get("model_url"))
    if "](" in link:
        lines += [f"Model page: {link}", ""]
    lines.append("| field | value |")
    lines.append("|---|---|")
    task = row.get("task")
    for c in COLUMNS:
        if c.name == "reproduce" or not c.in_task(task if isinstance(task, str) else None):
            continue
        lines.append(
            f"| {escape_markdown(c.label)} | {escape_markdown(cell_text(c.name, row.get(c.name)))} |"
        )
    lines += ["", "Reproduce this row on your machine:", ""]
    lines += code_block(row.get("reproduce") or "", "bash")
    return "\n".join(lines)


# which way is better, for the metrics the Compare table marks (others are facts, never "best")
HIGHER_BETTER = frozenset(
    {"throughput_ips", "images_per_dollar", "int8_speedup", "int8_top1_delta", *metric_fields()}
)
LOWER_BETTER = frozenset(
    {
        "latency_p50_ms",
        "latency_p95_ms",
        "latency_p99_ms",
        "latency_cv",
        "page_faults_per_pass",
        "peak_mem_mb",
        "size_mb",
        "usd_per_hour",
        "cost_per_million_images",
        "cold_start_ms",
        "energy_j_per_image",
    }
)


def best_of(values: list) -> set[int]:
    """Positions holding the best of ``values`` (ties all best); empty unless two or more are numbers."""
    nums = [(i, float(v)) for i, v in enumerate(values) if _is_number(v)]
    if len(nums) < 2:
        return set()
    return {i for i, v in nums if v == max(v for _, v in nums)}


def _is_number(v) -> bool:
    v = _py(v)
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def compare_table(wide: pd.DataFrame, row_ids: list[str], mark_best: bool = False) -> pd.DataFrame:
    """Metrics side by side: one column per picked row, one line per metric.

    Plain text by default; with ``mark_best`` every cell is escaped Markdown and the best value of each
    metric with a known direction (:data:`HIGHER_BETTER`, :data:`LOWER_BETTER`) is bold, for a
    Dataframe shown with datatype "markdown"."""
    rows = wide.set_index("row_id")
    picked = [r for r in row_ids if r in rows.index]
    text = escape_markdown if mark_best else plain_text
    tasks = {t for r in picked if isinstance(t := rows.loc[r].get("task"), str)}
    fields = tuple(f for f in COMPARE_FIELDS if not BY_NAME[f].tasks or tasks & set(BY_NAME[f].tasks))
    data: dict[str, list[str]] = {"metric": [text(BY_NAME[f].label) for f in fields]}
    names = []
    for rid in picked:
        r = rows.loc[rid]
        name = plain_text(f"{r['model']} ({r['backend']}/{r['precision']})", limit=120)
        while name in data or name in names:
            name += "'"
        names.append(name)
        data[name] = [text(cell_text(f, r[f])) for f in fields]
    if mark_best and len(picked) >= 2:
        for line, f in enumerate(fields):
            if f not in HIGHER_BETTER and f not in LOWER_BETTER:
                continue
            values = [rows.loc[rid][f] for rid in picked]
            sign = 1.0 if f in HIGHER_BETTER else -1.0
            for i in best_of([sign * float(v) if _is_number(v) else None for v in values]):
                data[names[i]][line] = f"**{data[names[i]][line]}**"
    return pd.DataFrame(data)


def compare_warnings(rows: list[dict], threads: dict[str, set[int]] | None = None) -> list[str]:
    """Why the compared rows are not like for like (plain text): a different task, hardware profile,
    dataset or thread count (``threads``: row_id -> the thread counts its runs used)."""
    out = []
    for field, what in (
        ("task", "tasks"),
        ("hardware_profile", "hardware profiles"),
        ("dataset", "datasets"),
    ):
        seen = sorted({plain_text(cell_text(field, r.get(field)), limit=80) for r in rows})
        if len(seen) > 1:
            out.append(f"Different {what}: {', '.join(seen)}.")
    counts = {
        ",".join(str(n) for n in sorted(t)) or "unknown"
        for r in rows
        if (t := (threads or {}).get(r["row_id"]))
    }
    if len(counts) > 1:
        out.append(f"Different thread counts: {'; '.join(sorted(counts))} (latencies are not comparable).")
    return out


def compare_choices(wide: pd.DataFrame, ranked: bool = True) -> list[tuple[str, str]]:
    """(label, row_id) pairs for the Compare picker, in rank order (or in the frame's order)."""
    if wide.empty:
        return []
    w = wide.sort_values("rank") if ranked else wide
    return [(row_label(r), r["row_id"]) for r in w.to_dict("records")]


def export_frame(view: pd.DataFrame, task: str | None = None) -> pd.DataFrame:
    """The current view with raw (unformatted) values and machine-friendly column names (the columns of
    ``task``; every task's when None)."""
    return view[[c for c in for_task(EXPORT_FIELDS, task) if c in view]].reset_index(drop=True)
