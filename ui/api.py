"""The read API: two named Gradio endpoints for programs (``gradio_client``, plain HTTP), with stable,
documented arguments. ``/query`` takes the same keys as the Leaderboard's shareable URL (``?q=...&backend=
onnxruntime,pytorch``), so a view a person built in the browser can be read by a program as is;
``/record`` returns one stored result record by its key.

Both are read-only and bounded: the filter arguments go through the URL decoder (length-capped, RE2), a
page holds at most :data:`MAX_PAGE_SIZE` rows, and a key must be a plain slug (never a path).
"""

from __future__ import annotations

import json
import math
from typing import Any

import gradio as gr

from harness.record import check_record_dict
from leaderboard.columns import TASK_TITLES
from leaderboard.filters import FilterError, decode_state, encode_state
from leaderboard.present import export_frame
from store import StoreError, layout
from store.schema import SchemaError
from ui.state import current

MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100


def _int(value: Any, default: int, lo: int, hi: int) -> int:
    try:
        number = int(float(value))
    except (TypeError, ValueError, OverflowError):
        return default
    return min(max(number, lo), hi)


def query(
    q: str = "",
    re: str = "",
    task: str = "",
    family: str = "",
    backend: str = "",
    device: str = "",
    precision: str = "",
    hw: str = "",
    pmin: str = "",
    pmax: str = "",
    lmin: str = "",
    lmax: str = "",
    sort: str = "",
    desc: str = "",
    pareto: str = "",
    page: int = 1,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> dict:
    """Leaderboard rows as records, filtered like the board's URL.

    Arguments are the shareable URL's keys, as strings: task (classification, the default, detection,
    segmentation or pose: the rows, metric columns and rank of that task), q (search text), re ("1": q is
    a regex), family, backend, device, precision, hw (comma-separated lists), pmin/pmax (params, millions),
    lmin/lmax (p50 latency at batch 1, ms), sort (a column name), desc ("1"), pareto ("1"); plus page
    (1-based) and page_size (at most 1000). Returns {"rows": [...], "matched", "total", "page", "pages",
    "page_size", "query" (the URL query of this view), "note"}; numbers are raw (not formatted) and a
    missing value is null.
    """
    given = {
        "q": q, "re": re, "task": task, "family": family, "backend": backend, "device": device,
        "precision": precision, "hw": hw, "pmin": pmin, "pmax": pmax, "lmin": lmin, "lmax": lmax,
        "sort": sort, "desc": desc, "pareto": pareto,
    }  # fmt: skip
    params = {k: v for k, v in given.items() if isinstance(v, str) and v != ""}
    fs = decode_state(params)
    if task and fs.task != task:  # the URL decoder is lenient; a program gets told
        raise gr.Error(f"unknown task {task[:40]!r}; use one of {', '.join(TASK_TITLES)}")
    try:
        view = current().snapshot().view(fs)  # memoised per table snapshot, rows by position
    except FilterError as exc:
        raise gr.Error(str(exc)) from None
    size = _int(page_size, DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
    pages = max(1, math.ceil(view.size / size))
    page_no = _int(page, 1, 1, pages)
    part = export_frame(view.page((page_no - 1) * size, page_no * size), fs.task)
    rows = json.loads(part.to_json(orient="records", date_format="iso"))  # NaN -> null, numpy -> JSON
    return {
        "rows": rows,
        "matched": view.size,
        "total": view.total,
        "page": page_no,
        "pages": pages,
        "page_size": size,
        "query": encode_state(fs),
        "note": view.note,
    }


def record(key: str) -> dict:
    """One result record (the JSON the harness wrote: model, dataset, accuracy, config, every run with
    its latency samples, environment) by its result key, the "key" field of a /query row."""
    try:
        path = layout.record_path(key)
    except ValueError as exc:
        raise gr.Error(str(exc)) from None
    try:
        data = current().stores.results.read_json(path)
    except StoreError as exc:
        raise gr.Error(f"record {key!r} cannot be read: {exc}") from None
    if data is None:
        raise gr.Error(f"no record with key {key!r}")
    try:
        return check_record_dict(data)
    except SchemaError as exc:
        raise gr.Error(f"record {key!r} is malformed: {exc}") from None


def register() -> None:
    """Add the endpoints to the Blocks being built (call inside its context)."""
    gr.api(query, api_name="query")
    gr.api(record, api_name="record")
