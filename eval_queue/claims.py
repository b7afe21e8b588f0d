"""Create-only claims that make "one active entry per (model, revision, config)" atomic.

A submission first claims ``layout.submission_claim_path(fingerprint)`` with a compare-and-swap; only the
winner writes its entry, on the local store and the Hub alike (two submits at once: one entry). The claim
names its entry and is stale, so the next submit takes it over, once that entry ended REJECTED or FAILED
(resubmitting after a rejection or a failure is allowed: the maintainers or the model may have changed) or
never appeared within :data:`ORPHAN_AFTER_S` (a submit that crashed between claim and entry). A FINISHED
entry keeps its claim: the job was evaluated.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from eval_queue.entry import FAILED, REJECTED, QueueEntry, QueueError, entry_path, iso, parse_iso
from store import layout
from store.base import DatasetStore, StoreError
from store.schema import SchemaError, expect_slug, expect_timestamp

ORPHAN_AFTER_S = 600.0  # a claim whose entry does not exist this long after claiming is abandoned


class Duplicate(QueueError):
    """The same job is already queued (or evaluated); the message names the entry."""

    def __init__(self, message: str, entry_id: str):
        super().__init__(message)
        self.entry_id = entry_id


@dataclass(frozen=True)
class Claim:
    entry_id: str
    claimed_at: str

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Claim:
        entry_id, claimed_at = (
            expect_slug(d.get("entry_id"), "entry_id"),
            expect_timestamp(d.get("claimed_at"), "claimed_at"),
        )
        if entry_id is None or claimed_at is None:  # unreachable (not optional); narrows the types
            raise SchemaError("", "incomplete claim")
        return cls(entry_id, claimed_at)


def _holder(queue: DatasetStore, claim: Claim, now: datetime) -> tuple[str, str] | None:
    """(entry id, status) of the entry that still holds ``claim``, or None if the claim is stale."""
    try:
        data = queue.read_json(entry_path(claim.entry_id))
        entry = QueueEntry.from_dict(data) if data is not None else None
    except (StoreError, QueueError):  # an unreadable entry cannot run, so it holds nothing
        return None
    if entry is None:  # being written by the claim's winner right now, or abandoned by a crash
        claimed = parse_iso(claim.claimed_at)
        young = claimed is not None and now - claimed < timedelta(seconds=ORPHAN_AFTER_S)
        return (claim.entry_id, "being submitted") if young else None
    return None if entry.status in (REJECTED, FAILED) else (entry.id, entry.status)


def claim(queue: DatasetStore, fp: str, entry_id: str, now: datetime, what: str) -> None:
    """Claim the job ``fp`` for ``entry_id`` or raise :class:`Duplicate` naming the holder."""
    path = layout.submission_claim_path(fp)

    def step(current: dict[str, Any] | None) -> dict[str, Any] | None:
        if current is not None:
            try:
                holder = _holder(queue, Claim.from_dict(current), now)
            except SchemaError:
                holder = None  # a malformed claim protects nothing: replace it
            if holder is not None:
                raise Duplicate(
                    f"{what} with these settings is already in the queue as {holder[0]} ({holder[1]}); "
                    "change the settings or the revision to submit again",
                    holder[0],
                )
        return {"entry_id": entry_id, "claimed_at": iso(now)}

    queue.update_json(path, step, f"queue: claim {entry_id}")


def release(queue: DatasetStore, fp: str, entry_id: str) -> None:
    """Drop the claim on ``fp`` that ``entry_id`` took but never used (its entry could not be written).

    Only that submit knows the claim (everyone else sees it "being submitted"), so read-then-delete is
    safe. A REJECTED or FAILED entry needs no release: its claim is stale and the next submit takes it."""
    path = layout.submission_claim_path(fp)
    try:
        current = queue.read_json(path)
    except StoreError:
        current = None
    if current is not None and current.get("entry_id") == entry_id:
        queue.delete(path, f"queue: release claim of {entry_id}")
