"""Queue entries in the ``queue`` dataset: create, list, and every state change as a compare-and-swap.

Each change is one ``update_json`` on ``entries/{id}.json``; the step re-checks the state it expects
(status, lease owner) on the freshest copy, so two workers or two maintainers can never both win.
Entries are read through :meth:`QueueEntry.from_dict`: a malformed file is reported in ``queue.problems``
and skipped by listings (it never stalls ``list``, ``recover`` or a worker); changing it is refused with
the schema error. Works the same on the local and the Hub store.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from eval_queue import claims
from eval_queue.entry import (
    APPROVED,
    FAILED,
    FINISHED,
    JOB_QUEUED,
    PENDING_REVIEW,
    REJECTED,
    RUNNING,
    STATUSES,
    EntryError,
    EntryNotFound,
    InvalidTransition,
    Job,
    QueueEntry,
    QueueError,
    canceled,
    check_entry_dict,
    check_entry_file,
    entry_path,
    lease_for,
    make_entry,
    note_event,
    progress,
    transition,
    utc_now,
)
from store import layout
from store.base import DatasetStore
from store.schema import SchemaError

log = logging.getLogger(__name__)

DEFAULT_MAX_ATTEMPTS = 3
MAX_TRACEBACK_CHARS = 4_000


def create_entry(queue: DatasetStore, entry: QueueEntry) -> QueueEntry:
    """Write a new entry (create-only: an id is never reused)."""
    if not queue.create_json(entry_path(entry.id), entry.to_dict(), f"queue: submit {entry.model}"):
        raise QueueError(f"entry {entry.id} already exists")
    return entry


def get_entry(queue: DatasetStore, entry_id: str) -> QueueEntry:
    """One entry; EntryNotFound if absent, SchemaError (naming the field) if malformed."""
    path = entry_path(entry_id)
    data = queue.read_json(path)
    if data is None:
        raise EntryNotFound(f"no queue entry {entry_id!r}")
    return check_entry_file(path, data)


def list_entries(queue: DatasetStore, status: str | None = None) -> list[QueueEntry]:
    """All valid entries (oldest first). A corrupt or malformed file is skipped and reported in
    ``queue.problems`` (path + reason), so one bad file never hides or blocks the others."""
    if status is not None and status not in STATUSES:
        raise QueueError(f"unknown status {status!r}; one of {', '.join(STATUSES)}")
    out = []
    for path, data in queue.iter_json(layout.ENTRIES_DIR, validate=check_entry_dict):
        try:
            entry = check_entry_file(path, data)
        except SchemaError as exc:  # valid, but filed under another entry's name
            queue.report_problem(path, f"invalid: {exc}")
            continue
        if status is None or entry.status == status:
            out.append(entry)
    return sorted(out, key=lambda e: (e.submitted, e.id))


Step = Callable[[QueueEntry], QueueEntry | None]


def _change(queue: DatasetStore, entry_id: str, step: Step, message: str) -> QueueEntry:
    """CAS helper: ``step(current) -> new | None`` (None: unchanged; raise to refuse). A missing entry
    raises EntryNotFound, a malformed one its SchemaError."""
    path = entry_path(entry_id)

    def updater(current: dict[str, Any] | None) -> dict[str, Any] | None:
        if current is None:
            raise EntryNotFound(f"no queue entry {entry_id!r}")
        new = step(check_entry_file(path, current))
        return None if new is None else new.to_dict()

    stored = queue.update_json(path, updater, message)
    if stored is None:  # the store lost the file between the write and the read back
        raise EntryNotFound(f"no queue entry {entry_id!r}")
    return check_entry_file(path, stored)


change_entry = _change  # the compare-and-swap other queue modules build on (eval_queue.jobs)


def _cancel_queued(e: QueueEntry, why: str) -> tuple[Job, ...]:
    """Jobs not yet started end CANCELED now; started ones stay RUNNING until the dispatcher has
    cancelled them on the Hub (it sees the entry REJECTED)."""
    now = utc_now()
    return tuple(canceled(j, now, why) if j.status == JOB_QUEUED else j for j in e.jobs)


# --- maintainers ---------------------------------------------------------------------------------
def _pending(e: QueueEntry, action: str) -> None:
    """Review applies to PENDING_REVIEW only (RUNNING -> APPROVED exists for lease recovery, not for
    maintainers: a running job is never sent back)."""
    if e.status != PENDING_REVIEW:
        raise InvalidTransition(f"entry {e.id} is {e.status}; only PENDING_REVIEW entries can be {action}")


def approve(queue: DatasetStore, entry_id: str, by: str, note: str = "approved") -> QueueEntry:
    """PENDING_REVIEW -> APPROVED. The caller has checked that ``by`` is a maintainer (eval_queue.auth)."""

    def step(e: QueueEntry) -> QueueEntry:
        _pending(e, "approved")
        return transition(e, APPROVED, by, utc_now(), note)

    return _change(queue, entry_id, step, f"queue: approve {entry_id}")


def reject(queue: DatasetStore, entry_id: str, by: str, reason: str) -> QueueEntry:
    """PENDING_REVIEW -> REJECTED with the reason in the event and the error (its claim becomes stale,
    so the same job may be submitted again)."""
    reason = " ".join((reason or "").split())
    if not reason:
        raise QueueError("a rejection needs a reason (it is shown to the submitter)")

    def step(e: QueueEntry) -> QueueEntry:
        _pending(e, "rejected")
        return transition(
            e, REJECTED, by, utc_now(), reason, error=EntryError("rejected", reason),
            jobs=_cancel_queued(e, reason),
        )  # fmt: skip

    return _change(queue, entry_id, step, f"queue: reject {entry_id}")


def cancel(queue: DatasetStore, entry_id: str, by: str, reason: str) -> QueueEntry:
    """A maintainer stops an APPROVED or RUNNING entry: -> REJECTED. A local worker running it loses its
    lease (nothing is stored); its Hugging Face Jobs are cancelled by the dispatcher's next pass."""
    reason = " ".join((reason or "").split())
    if not reason:
        raise QueueError("a cancellation needs a reason (it is shown to the submitter)")

    def step(e: QueueEntry) -> QueueEntry:
        if e.status not in (APPROVED, RUNNING):
            raise InvalidTransition(
                f"entry {e.id} is {e.status}; only APPROVED or RUNNING entries can be cancelled"
            )
        return transition(
            e, REJECTED, by, utc_now(), f"cancelled: {reason}", error=EntryError("rejected", f"cancelled: {reason}"),
            lease=None, jobs=_cancel_queued(e, reason),
        )  # fmt: skip

    return _change(queue, entry_id, step, f"queue: cancel {entry_id}")


def enqueue_approved(
    queue: DatasetStore, model: str, by: str, config: dict[str, Any] | None = None
) -> QueueEntry:
    """Queue a trusted timm architecture or ``torchvision:ARCH`` already approved (seeding by
    maintainers/system; no review). A torchvision model is queued for its own task."""
    import timm

    from harness.config import BenchmarkConfig

    source = "timm"
    if model.startswith("torchvision:"):
        from harness.errors import HarnessError
        from harness.task_models import torchvision_task

        try:
            config = {**(config or {}), "task": torchvision_task(model.removeprefix("torchvision:"))}
        except HarnessError as exc:
            raise QueueError(str(exc)) from None
        source = "torchvision"
    elif not timm.is_model(model):
        raise QueueError(f"unknown timm architecture {model!r}")
    cfg = BenchmarkConfig.from_dict(config or {}).to_dict()
    for e in find_active(queue, model, None, cfg):
        raise QueueError(f"{model} with these settings is already queued as {e.id} ({e.status})")
    from eval_queue.flavors import catalogue, jobs_enabled

    flavors = (catalogue().default(),) if jobs_enabled() else ()  # on a Jobs board: the cheapest CPU
    entry = make_entry(
        model, source, None, cfg, by, utc_now(), status=APPROVED, note="queued pre-approved", flavors=flavors
    )
    claims.claim(queue, entry.fingerprint, entry.id, entry.submitted, model)  # the same claim submits take
    try:
        return create_entry(queue, entry)
    except BaseException:
        if not queue.exists(entry_path(entry.id)):
            claims.release(queue, entry.fingerprint, entry.id)
        raise


# --- workers -------------------------------------------------------------------------------------
def claim_next(
    queue: DatasetStore, worker: str, lease_s: float, devices: tuple[str, ...] | None = None
) -> QueueEntry | None:
    """Take the oldest APPROVED entry: APPROVED -> RUNNING with a lease for ``worker``; None if none left.

    ``devices`` limits the claim to jobs this worker can run (a CPU-only worker leaves cuda jobs alone)."""
    for candidate in list_entries(queue, APPROVED):
        if candidate.jobs:  # dispatched to Hugging Face Jobs (eval_queue.dispatch), not to this worker
            continue
        if devices is not None and candidate.device not in devices:
            continue
        won = False

        def step(e: QueueEntry) -> QueueEntry | None:
            nonlocal won
            won = e.status == APPROVED  # reset on every retry of the compare-and-swap
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
                progress=progress("claimed", "claimed by a worker", now),
                error=None,
            )

        try:
            entry = _change(queue, candidate.id, step, f"queue: claim {candidate.id}")
        except (QueueError, SchemaError):  # gone, or broken since it was listed: try the next one
            continue
        if won:
            return entry
    return None


class LeaseLost(QueueError):
    """This worker no longer owns the entry (its lease expired and someone recovered it)."""


def _owned(e: QueueEntry, worker: str) -> None:
    if not e.holds_lease(worker):
        owner = e.lease.worker if e.lease else None
        raise LeaseLost(f"entry {e.id} is {e.status} (lease: {owner}), not held by {worker}")


def heartbeat(
    queue: DatasetStore, entry_id: str, worker: str, lease_s: float, stage: str, message: str
) -> QueueEntry:
    """Renew the lease and record progress; raises LeaseLost if the entry is no longer ours."""

    def step(e: QueueEntry) -> QueueEntry:
        _owned(e, worker)
        now = utc_now()
        return replace(e, lease=lease_for(worker, now, lease_s), progress=progress(stage, message, now))

    return _change(queue, entry_id, step, f"queue: heartbeat {entry_id}")


def add_note(queue: DatasetStore, entry_id: str, worker: str, text: str) -> QueueEntry:
    """Record an event on a job this worker holds (e.g. "noisy: re-measuring once")."""

    def step(e: QueueEntry) -> QueueEntry:
        _owned(e, worker)
        return note_event(e, worker, utc_now(), text)

    return _change(queue, entry_id, step, f"queue: note {entry_id}")


def finish(queue: DatasetStore, entry_id: str, worker: str, key: str, note: str = "finished") -> QueueEntry:
    """RUNNING -> FINISHED with ``result_key``, only while ``worker`` holds the lease."""

    def step(e: QueueEntry) -> QueueEntry:
        _owned(e, worker)
        now = utc_now()
        return transition(
            e, FINISHED, worker, now, note, result_key=key, lease=None, error=None,
            progress=progress("finished", note, now),
        )  # fmt: skip

    return _change(queue, entry_id, step, f"queue: finish {entry_id}")


def fail(
    queue: DatasetStore, entry_id: str, worker: str, kind: str, message: str, traceback: str | None = None
) -> QueueEntry:
    """RUNNING -> FAILED with ``error`` {kind, message, traceback}, only while ``worker`` holds the lease."""
    message = " ".join(message.split())
    tb = traceback[-MAX_TRACEBACK_CHARS:] if traceback else None

    def step(e: QueueEntry) -> QueueEntry:
        _owned(e, worker)
        now = utc_now()
        return transition(
            e, FAILED, worker, now, f"{kind}: {message}", lease=None,
            error=EntryError(kind, message, tb), progress=progress("failed", message, now),
        )  # fmt: skip

    return _change(queue, entry_id, step, f"queue: fail {entry_id}")


def recover_expired(
    queue: DatasetStore,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    by: str = "recovery",
    now: datetime | None = None,
) -> list[QueueEntry]:
    """RUNNING entries whose lease expired (worker died) go back to APPROVED with attempts + 1; once
    attempts reach ``max_attempts`` they become FAILED (kind ``lease_expired``). Returns the changed entries."""
    changed = []
    for candidate in list_entries(queue, RUNNING):
        if not candidate.lease_expired(now or utc_now()):
            continue

        def step(e: QueueEntry) -> QueueEntry | None:
            t = now or utc_now()
            if e.status != RUNNING or not e.lease_expired(t):
                return None
            attempts = e.attempts + 1
            worker = e.lease.worker if e.lease else None
            if attempts >= max_attempts:
                msg = f"the worker stopped renewing its lease {attempts} time(s); giving up"
                return transition(
                    e, FAILED, by, t, msg, attempts=attempts, lease=None, progress=None,
                    error=EntryError("lease_expired", msg),
                )  # fmt: skip
            return transition(
                e, APPROVED, by, t, f"lease of {worker} expired; re-queued", attempts=attempts, lease=None,
                progress=None,
            )  # fmt: skip

        try:
            after = _change(queue, candidate.id, step, f"queue: recover {candidate.id}")
        except (QueueError, SchemaError):
            continue
        if (after.status, after.attempts) != (candidate.status, candidate.attempts):
            log.warning("recovered %s -> %s (attempts %s)", after.id, after.status, after.attempts)
            changed.append(after)
    return changed


def find_active(
    queue: DatasetStore, model: str, revision: str | None, config: dict[str, Any]
) -> list[QueueEntry]:
    """Entries for the same (model, revision, config) that are not REJECTED/FAILED (duplicates)."""
    return [
        e
        for e in list_entries(queue)
        if e.status not in (REJECTED, FAILED)
        and e.model == model
        and e.revision == revision
        and e.config == config
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
    "add_note",
    "approve",
    "cancel",
    "change_entry",
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
