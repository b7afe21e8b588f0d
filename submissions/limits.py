"""The per-submitter rate limit, atomic on the local store and the Hub alike.

Each submitter has one small index file (``layout.submitter_index_path``) listing their recent
submissions; a submit takes a slot with a compare-and-swap whose updater refuses when the window is full,
so eight submits at once with a limit of five give exactly five slots. A slot names its entry and is
handed back (:func:`release_slot`) if that entry could not be written. Rejected or failed submissions keep
their slot: the limit counts submissions, not successes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from eval_queue.entry import QueueEntry, iso, parse_iso
from store import layout
from store.base import CorruptFileError, DatasetStore, StoreError
from submissions.validate import SubmissionRefused, format_window

MAX_SLOTS_KEPT = 1_000


def _slots(current: dict[str, Any] | None) -> list[dict[str, str]]:
    """Well-formed slots of an index file (anything else in it is dropped, never trusted)."""
    raw = current.get("slots") if isinstance(current, dict) else None
    if not isinstance(raw, list):
        return []
    return [
        {"at": s["at"], "entry_id": s["entry_id"]}
        for s in raw[-MAX_SLOTS_KEPT:]
        if isinstance(s, dict)
        and isinstance(s.get("at"), str)
        and isinstance(s.get("entry_id"), str)
        and parse_iso(s["at"]) is not None
    ]


def take_slot(
    queue: DatasetStore,
    who: str,
    entry_id: str,
    now: datetime,
    limit: tuple[int, timedelta],
    legacy: Sequence[QueueEntry] = (),
) -> None:
    """Record a submission by ``who`` or raise :class:`SubmissionRefused` when the window is full.

    ``legacy``: entries from before index files existed; they seed a submitter's first index."""
    count, window = limit
    since = now - window

    def step(current: dict[str, Any] | None) -> dict[str, Any]:
        if current is None:
            slots = [{"at": e.submitted_at, "entry_id": e.id} for e in legacy if e.submitted_by == who]
        else:
            slots = _slots(current)
        recent = sorted(
            (s for s in slots if (t := parse_iso(s["at"])) is not None and t > since),
            key=lambda s: s["at"],
        )
        if len(recent) >= count:
            first = parse_iso(recent[len(recent) - count]["at"])
            again = (first + window) if first else now + window
            raise SubmissionRefused(
                f"rate limit: {who} made {len(recent)} submissions in the last {format_window(window)} "
                f"(limit {count}); try again after {again.strftime('%Y-%m-%d %H:%M UTC')}"
            )
        return {"submitter": who, "slots": [*recent, {"at": iso(now), "entry_id": entry_id}]}

    try:
        queue.update_json(layout.submitter_index_path(who), step, f"queue: rate slot for {entry_id}")
    except CorruptFileError:
        raise SubmissionRefused(
            "your submission history on this board is unreadable; ask a maintainer to repair it"
        ) from None


def release_slot(queue: DatasetStore, who: str, entry_id: str) -> None:
    """Hand back the slot of a submission that was never queued (best effort)."""

    def step(current: dict[str, Any] | None) -> dict[str, Any] | None:
        slots = _slots(current)
        kept = [s for s in slots if s["entry_id"] != entry_id]
        return None if current is None or len(kept) == len(slots) else {"submitter": who, "slots": kept}

    with contextlib.suppress(StoreError):  # a slot not handed back expires with the window
        queue.update_json(layout.submitter_index_path(who), step, f"queue: release rate slot of {entry_id}")
