"""The queue as people read it: one row per entry, grouped by status, in run order (pure pandas, no UI).

The Queue tab and anything else that lists the queue for a person uses this, so "what is position 1" and
"why did it fail" are answered the same way everywhere.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from eval_queue.entry import APPROVED, FAILED, FINISHED, PENDING_REVIEW, REJECTED, RUNNING

__all__ = ["QUEUE_COLUMNS", "STATUS_ORDER", "queue_frame", "queue_summary"]

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
