"""The queue as people read it: one row per entry, grouped by status, in run order (pure pandas, no UI).

The Queue tab and anything else that lists the queue for a person uses this, so "what is position 1" and
"why did it fail" are answered the same way everywhere.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import pandas as pd

from eval_queue.entry import (
    APPROVED,
    FAILED,
    FINISHED,
    JOB_RUNNING,
    PENDING_REVIEW,
    REJECTED,
    RUNNING,
    parse_iso,
    utc_now,
)

__all__ = [
    "JOB_COLUMNS",
    "QUEUE_COLUMNS",
    "STATUS_ORDER",
    "jobs_frame",
    "queue_frame",
    "queue_position",
    "queue_summary",
]

# What a visitor cares about first: what runs now, what runs next, what waits for a maintainer.
STATUS_ORDER = (RUNNING, APPROVED, PENDING_REVIEW, FAILED, FINISHED, REJECTED)

QUEUE_COLUMNS = (
    "Status",
    "Position",
    "Model",
    "Progress / last event",
    "Failure",
    "By",
    "Submitted (UTC)",
    "Tries",
    "Revision",
    "Entry",
)


def _as_dict(entry: Any) -> Mapping[str, Any]:
    """Entries arrive as dicts or as QueueEntry objects; both read the same here."""
    if isinstance(entry, Mapping):
        return entry
    to_dict = getattr(entry, "to_dict", None)
    return to_dict() if callable(to_dict) else {}


def _text(value: Any) -> str:
    """One line of text for a cell, whatever type the stored value has."""
    if value is None:
        return ""
    return " ".join(str(value).split())


def _progress(e: Mapping[str, Any]) -> str:
    jobs = e.get("jobs")
    if isinstance(jobs, list) and jobs and e.get("status") in (APPROVED, RUNNING):
        parts = [
            f"{_text(j.get('flavor'))}: {_text(j.get('status'))}" for j in jobs if isinstance(j, Mapping)
        ]
        return " · ".join(parts)
    progress = e.get("progress")
    if isinstance(progress, Mapping):
        progress = progress.get("message") or progress.get("stage") or ""
    if progress:
        return _text(progress)
    events = e.get("events")
    last = events[-1] if isinstance(events, list) and events and isinstance(events[-1], Mapping) else None
    if not last:
        return ""
    note = _text(last.get("note"))
    head = f"{_text(last.get('status'))} by {_text(last.get('by'))}"
    return f"{head}: {note}" if note else head


def _failure(e: Mapping[str, Any]) -> str:
    err = e.get("error")
    if not isinstance(err, Mapping) or not err:
        return ""
    return f"{_text(err.get('kind'))}: {_text(err.get('message'))}"


def queue_frame(entries: Iterable[Any]) -> pd.DataFrame:
    """Entries grouped by :data:`STATUS_ORDER`; APPROVED ones numbered by their position in the run order
    (oldest submission first, as the worker claims them); newest first within the other groups."""
    items = [_as_dict(e) for e in entries]
    approved = sorted(
        (e for e in items if e.get("status") == APPROVED), key=lambda e: _text(e.get("submitted_at"))
    )
    position = {e.get("id"): str(i + 1) for i, e in enumerate(approved)}
    rows = [
        (
            _text(e.get("status")),
            position.get(e.get("id"), ""),
            _text(e.get("model")),
            _progress(e),
            _failure(e),
            _text(e.get("submitted_by")),
            _text(e.get("submitted_at")).replace("T", " ")[:19],
            _text(e.get("attempts")),
            _text(e.get("revision"))[:12],
            _text(e.get("id")),
        )
        for e in items
    ]
    df = pd.DataFrame(rows, columns=list(QUEUE_COLUMNS))
    if df.empty:
        return df
    order = df["Status"].map({s: i for i, s in enumerate(STATUS_ORDER)}).fillna(len(STATUS_ORDER))
    pos = pd.to_numeric(df["Position"], errors="coerce")
    df = df.assign(_o=order, _p=pos).sort_values(
        ["_o", "_p", "Submitted (UTC)"], ascending=[True, True, False], na_position="last", kind="stable"
    )
    return df.drop(columns=["_o", "_p"]).reset_index(drop=True)


def queue_summary(frame: pd.DataFrame) -> str:
    """``RUNNING: 1 · APPROVED: 2 · ...`` in :data:`STATUS_ORDER`, or a sentence for an empty queue."""
    if frame.empty:
        return "The queue is empty."
    counts = Counter(frame["Status"])
    return " · ".join(f"{s}: {counts.get(s, 0)}" for s in STATUS_ORDER)


# --- Hugging Face Jobs: one row per (entry, flavor) ----------------------------------------------------
JOB_COLUMNS = (
    "Entry",
    "Model",
    "Flavor",
    "Job status",
    "Stage / waiting",
    "Elapsed",
    "Est. cost ($)",
    "Tries",
    "Failure",
    "Logs",
)


def _elapsed(job: Mapping[str, Any], now: datetime) -> tuple[float | None, str]:
    start = parse_iso(job.get("started_at")) if isinstance(job.get("started_at"), str) else None
    if start is None:
        return None, ""
    end = parse_iso(job.get("finished_at")) if isinstance(job.get("finished_at"), str) else None
    seconds = max(0.0, ((end or now) - start).total_seconds())
    minutes, sec = divmod(int(seconds), 60)
    return seconds, f"{minutes // 60}:{minutes % 60:02d}:{sec:02d}"


def _cost(job: Mapping[str, Any], seconds: float | None) -> str:
    rate = job.get("usd_per_hour")
    if (
        seconds is None
        or isinstance(rate, bool)
        or not isinstance(rate, int | float)
        or not math.isfinite(rate)
    ):
        return ""
    return f"{seconds / 3600 * rate:.4f}"


def _logs_url(job: Mapping[str, Any]) -> str:
    """The Job's page on the Hub (logs included); only an http(s) URL the Jobs API gave."""
    url = job.get("job_url")
    return url if isinstance(url, str) and url.startswith(("https://", "http://")) and " " not in url else ""


def jobs_frame(entries: Iterable[Any], now: datetime | None = None) -> pd.DataFrame:
    """Every per-flavor job of the entries that have them: flavor, status, the Jobs stage (or why it
    waits), elapsed time, estimated cost so far (unit cost x elapsed), tries, failure, logs page URL.
    Running jobs first, then by entry submission (newest first)."""
    now = now or utc_now()
    rows = []
    for e in (_as_dict(x) for x in entries):
        jobs = e.get("jobs")
        if not isinstance(jobs, list):
            continue
        for j in jobs:
            if not isinstance(j, Mapping):
                continue
            seconds, elapsed = _elapsed(j, now)
            stage = _text(j.get("waiting")) or _text(j.get("stage"))
            rows.append(
                (
                    _text(e.get("id")),
                    _text(e.get("model")),
                    _text(j.get("flavor")),
                    _text(j.get("status")),
                    stage,
                    elapsed,
                    _cost(j, seconds),
                    _text(j.get("attempts")),
                    _failure(j),
                    _logs_url(j),
                    _text(e.get("submitted_at")),
                )
            )
    df = pd.DataFrame(rows, columns=[*JOB_COLUMNS, "_at"])
    if df.empty:
        return df.drop(columns=["_at"])
    df = df.assign(_r=df["Job status"] != JOB_RUNNING).sort_values(
        ["_r", "_at"], ascending=[True, False], kind="stable"
    )
    return df.drop(columns=["_r", "_at"]).reset_index(drop=True)


def queue_position(entries: Iterable[Any], entry_id: str) -> int | None:
    """1 + how many open entries (waiting for review, approved or running) were submitted before this
    one: what a submitter is told after a submit. None when the entry is not open (or unknown)."""
    open_ = (PENDING_REVIEW, APPROVED, RUNNING)
    items = [e for e in (_as_dict(x) for x in entries) if e.get("status") in open_]
    items.sort(key=lambda e: (_text(e.get("submitted_at")), _text(e.get("id"))))
    for i, e in enumerate(items):
        if e.get("id") == entry_id:
            return i + 1
    return None
