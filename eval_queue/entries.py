"""Queue entries in the ``queue`` dataset: create, list, and every state change as a compare-and-swap.

Each change is one ``update_json`` on ``entries/{id}.json``; the updater re-checks the state it expects
(status, lease owner) on the freshest copy, so two workers or two maintainers can never both win.
Works the same on the local and the Hub store.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from eval_queue.entry import (
    APPROVED,
    ENTRIES_DIR,
    FAILED,
    FINISHED,
    PENDING_REVIEW,
    REJECTED,
    RUNNING,
    STATUSES,
    EntryNotFound,
    InvalidTransition,
    QueueEntry,
    QueueError,
    entry_path,
    holds_lease,
    iso,
    lease_expired,
    lease_for,
    make_entry,
    transition,
    utc_now,
)
from store.base import DatasetStore

log = logging.getLogger(__name__)

DEFAULT_MAX_ATTEMPTS = 3


def create_entry(queue: DatasetStore, entry: QueueEntry) -> QueueEntry:
    """Write a new entry (create-only: an id is never reused)."""
    if not queue.create_json(entry_path(entry.id), entry.to_dict(), f"queue: submit {entry.model}"):
        raise QueueError(f"entry {entry.id} already exists")
    return entry


def get_entry(queue: DatasetStore, entry_id: str) -> dict[str, Any]:
    data = queue.read_json(entry_path(entry_id))
    if data is None:
        raise EntryNotFound(f"no queue entry {entry_id!r}")
    return data


def list_entries(queue: DatasetStore, status: str | None = None) -> list[dict[str, Any]]:
    """All readable entries (oldest first); corrupt files are skipped and reported in ``queue.problems``."""
    if status is not None and status not in STATUSES:
        raise QueueError(f"unknown status {status!r}; one of {', '.join(STATUSES)}")
    out = [e for _, e in queue.iter_json(ENTRIES_DIR) if isinstance(e.get("id"), str)]
    if status:
        out = [e for e in out if e.get("status") == status]
    return sorted(out, key=lambda e: (e.get("submitted_at") or "", e.get("id")))


def _change(queue: DatasetStore, entry_id: str, step, message: str) -> dict[str, Any]:
    """CAS helper: ``step(current) -> new`` (raise to refuse); a missing entry raises EntryNotFound."""

    def updater(current):
        if current is None:
            raise EntryNotFound(f"no queue entry {entry_id!r}")
        return step(current)

    return queue.update_json(entry_path(entry_id), updater, message)


# --- maintainers ---------------------------------------------------------------------------------
def approve(queue: DatasetStore, entry_id: str, by: str, note: str = "approved") -> dict[str, Any]:
    """PENDING_REVIEW -> APPROVED. The caller has checked that ``by`` is a maintainer (eval_queue.auth)."""
    return _change(
        queue, entry_id, lambda e: transition(e, APPROVED, by, utc_now(), note), f"queue: approve {entry_id}"
    )


def reject(queue: DatasetStore, entry_id: str, by: str, reason: str) -> dict[str, Any]:
    """PENDING_REVIEW -> REJECTED with the reason recorded in the event and the error."""
    reason = " ".join((reason or "").split())
    if not reason:
        raise QueueError("a rejection needs a reason (it is shown to the submitter)")
    return _change(
        queue,
        entry_id,
        lambda e: transition(
            e,
            REJECTED,
            by,
            utc_now(),
            reason,
            error={"kind": "rejected", "message": reason, "traceback": None},
        ),
        f"queue: reject {entry_id}",
    )


def enqueue_approved(
    queue: DatasetStore, model: str, by: str, config: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Queue a trusted timm architecture already approved (seeding by maintainers/system; no review)."""
    import timm

    from harness.config import BenchmarkConfig

    if not timm.is_model(model):
        raise QueueError(f"unknown timm architecture {model!r}")
    cfg = BenchmarkConfig.from_dict(config or {}).to_dict()
    for e in find_active(queue, model, None, cfg):
        raise QueueError(f"{model} with these settings is already queued as {e['id']} ({e['status']})")
    entry = make_entry(model, "timm", None, cfg, by, utc_now(), status=APPROVED, note="queued pre-approved")
    return create_entry(queue, entry).to_dict()


# --- workers -------------------------------------------------------------------------------------
def claim_next(
    queue: DatasetStore, worker: str, lease_s: float, devices: tuple[str, ...] | None = None
) -> dict[str, Any] | None:
    """Take the oldest APPROVED entry: APPROVED -> RUNNING with a lease for ``worker``; None if none left.

    ``devices`` limits the claim to jobs this worker can run (a CPU-only worker leaves cuda jobs alone)."""
    for candidate in list_entries(queue, APPROVED):
        if devices is not None and (candidate.get("config") or {}).get("device", "cpu") not in devices:
            continue
        won = False

        def step(e, candidate_id=candidate["id"]):
            nonlocal won
            won = e.get("status") == APPROVED  # reset on every retry of the compare-and-swap
            if not won:
                return None  # somebody else moved first: leave it, try the next one
            now = utc_now()
            return transition(
                e,
                RUNNING,
                worker,
                now,
                "claimed",
                lease=lease_for(worker, now, lease_s),
                progress={"stage": "claimed", "message": "claimed by a worker", "heartbeat_at": iso(now)},
                error=None,
            )

        try:
            entry = _change(queue, candidate["id"], step, f"queue: claim {candidate['id']}")
        except (EntryNotFound, QueueError):
            continue
        if won:
            return entry
    return None


class LeaseLost(QueueError):
    """This worker no longer owns the entry (its lease expired and someone recovered it)."""


def _owned(e: dict[str, Any], worker: str) -> None:
    if not holds_lease(e, worker):
        owner = (e.get("lease") or {}).get("worker")
        raise LeaseLost(f"entry {e.get('id')} is {e.get('status')} (lease: {owner}), not held by {worker}")


def heartbeat(
    queue: DatasetStore, entry_id: str, worker: str, lease_s: float, stage: str, message: str
) -> dict[str, Any]:
    """Renew the lease and record progress; raises LeaseLost if the entry is no longer ours."""

    def step(e):
        _owned(e, worker)
        now = utc_now()
        new = dict(e)
        new["lease"] = lease_for(worker, now, lease_s)
        new["progress"] = {"stage": stage, "message": message[:300], "heartbeat_at": iso(now)}
        return new

    return _change(queue, entry_id, step, f"queue: heartbeat {entry_id}")


def finish(
    queue: DatasetStore, entry_id: str, worker: str, key: str, note: str = "finished"
) -> dict[str, Any]:
    """RUNNING -> FINISHED with ``result_key``, only while ``worker`` holds the lease."""

    def step(e):
        _owned(e, worker)
        now = utc_now()
        return transition(
            e, FINISHED, worker, now, note, result_key=key, lease=None, error=None,
            progress={"stage": "finished", "message": note, "heartbeat_at": iso(now)},
        )  # fmt: skip

    return _change(queue, entry_id, step, f"queue: finish {entry_id}")


def fail(
    queue: DatasetStore, entry_id: str, worker: str, kind: str, message: str, traceback: str | None = None
) -> dict[str, Any]:
    """RUNNING -> FAILED with ``error`` {kind, message, traceback}, only while ``worker`` holds the lease."""

    def step(e):
        _owned(e, worker)
        now = utc_now()
        return transition(
            e, FAILED, worker, now, f"{kind}: {message}"[:300], lease=None,
            error={"kind": kind, "message": message, "traceback": traceback},
            progress={"stage": "failed", "message": message[:300], "heartbeat_at": iso(now)},
        )  # fmt: skip

    return _change(queue, entry_id, step, f"queue: fail {entry_id}")


def recover_expired(
    queue: DatasetStore,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    by: str = "recovery",
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """RUNNING entries whose lease expired (worker died) go back to APPROVED with attempts + 1; once
    attempts reach ``max_attempts`` they become FAILED (kind ``lease_expired``). Returns the changed entries."""
    changed = []
    for candidate in list_entries(queue, RUNNING):
        if not lease_expired(candidate, now or utc_now()):
            continue

        def step(e):
            t = now or utc_now()
            if e.get("status") != RUNNING or not lease_expired(e, t):
                return None
            attempts = int(e.get("attempts") or 0) + 1
            worker = (e.get("lease") or {}).get("worker")
            if attempts >= max_attempts:
                msg = f"the worker stopped renewing its lease {attempts} time(s); giving up"
                return transition(
                    e, FAILED, by, t, msg, attempts=attempts, lease=None, progress=None,
                    error={"kind": "lease_expired", "message": msg, "traceback": None},
                )  # fmt: skip
            return transition(
                e, APPROVED, by, t, f"lease of {worker} expired; re-queued", attempts=attempts, lease=None,
                progress=None,
            )  # fmt: skip

        before = candidate.get("status"), candidate.get("attempts")
        try:
            after = _change(queue, candidate["id"], step, f"queue: recover {candidate['id']}")
        except (EntryNotFound, InvalidTransition):
            continue
        if after and (after.get("status"), after.get("attempts")) != before:
            log.warning(
                "recovered %s -> %s (attempts %s)", after["id"], after["status"], after.get("attempts")
            )
            changed.append(after)
    return changed


def find_active(queue: DatasetStore, model: str, revision: str | None, config: dict[str, Any]) -> list[dict]:
    """Entries for the same (model, revision, config) that are not REJECTED/FAILED (duplicates)."""
    return [
        e
        for e in list_entries(queue)
        if e.get("status") not in (REJECTED, FAILED)
        and e.get("model") == model
        and e.get("revision") == revision
        and e.get("config") == config
    ]


__all__ = [
    "APPROVED",
    "DEFAULT_MAX_ATTEMPTS",
    "FAILED",
    "FINISHED",
    "PENDING_REVIEW",
    "REJECTED",
    "RUNNING",
    "LeaseLost",
    "approve",
    "claim_next",
    "create_entry",
    "enqueue_approved",
    "fail",
    "find_active",
    "finish",
    "get_entry",
    "heartbeat",
    "list_entries",
    "recover_expired",
    "reject",
]
