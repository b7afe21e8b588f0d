"""State changes of an entry's per-flavor jobs (Hugging Face Jobs), each one compare-and-swap.

A job's ``attempts`` is its dispatch number: the dispatcher raises it before it starts a Job and passes it
to the Job's command, and every change a running Job makes names it (:func:`change_own`), so a Job that
Jobs ran twice, or one from an earlier attempt, can never complete or fail a newer one. After each change
the entry's own status follows its jobs (:func:`settle`): APPROVED until one runs, RUNNING while any
runs, then FINISHED when all finished or FAILED naming the ones that did not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from eval_queue.entries import LeaseLost, change_entry
from eval_queue.entry import (
    APPROVED,
    FAILED,
    FINISHED,
    JOB_FAILED,
    JOB_FINISHED,
    JOB_RUNNING,
    MAX_TEXT,
    RUNNING,
    EntryError,
    Job,
    QueueEntry,
    QueueError,
    iso,
    transition,
    utc_now,
)
from store.base import DatasetStore

JobStep = Callable[[QueueEntry, Job], Job | None]


class JobNotOurs(LeaseLost):
    """The job moved on (another attempt, cancelled, finished): this Job's run must not touch it."""


def one_line(text: str, limit: int = MAX_TEXT) -> str:
    return " ".join(str(text).split())[:limit]


def settle(entry: QueueEntry, by: str, now: datetime) -> QueueEntry:
    """The entry's status as its jobs say (unchanged for review states and when it already agrees)."""
    if not entry.jobs or entry.status not in (APPROVED, RUNNING):
        return entry
    if all(j.terminal for j in entry.jobs):
        if entry.status == APPROVED:
            entry = transition(entry, RUNNING, by, now, "jobs settled")
        failed = [j for j in entry.jobs if j.status != JOB_FINISHED]
        if not failed:
            key = entry.jobs[0].result_key
            return transition(entry, FINISHED, by, now, "all jobs finished", result_key=key, error=None)
        why = "; ".join(f"{j.flavor}: {j.error.kind if j.error else j.status.lower()}" for j in failed)
        kind = next((j.error.kind for j in failed if j.error), "worker_error")  # the shared taxonomy's
        return transition(entry, FAILED, by, now, why, error=EntryError(kind, one_line(why)))
    if entry.status == APPROVED and any(j.status == JOB_RUNNING for j in entry.jobs):
        return transition(entry, RUNNING, by, now, "dispatched to Hugging Face Jobs")
    return entry


def change_job(queue: DatasetStore, entry_id: str, flavor: str, step: JobStep, by: str) -> QueueEntry:
    """CAS on one job: ``step(entry, job) -> new job | None`` (None: unchanged; raise to refuse)."""

    def entry_step(e: QueueEntry) -> QueueEntry | None:
        job = e.job(flavor)
        if job is None:
            raise QueueError(f"entry {e.id} has no job on flavor {flavor!r}")
        new = step(e, job)
        if new is None:
            return None
        return settle(e.with_job(new), by, utc_now())

    return change_entry(queue, entry_id, entry_step, f"queue: job {entry_id} {flavor}")


def change_own(
    queue: DatasetStore, entry_id: str, flavor: str, attempt: int, make: Callable[[Job], Job], by: str
) -> QueueEntry:
    """A change made by the Job run of dispatch ``attempt``: refused (JobNotOurs) unless the job is still
    RUNNING on that attempt and the entry is not rejected."""

    def step(e: QueueEntry, j: Job) -> Job:
        if e.status not in (APPROVED, RUNNING) or j.status != JOB_RUNNING or j.attempts != attempt:
            raise JobNotOurs(
                f"{e.id}/{flavor}: job is {j.status} (attempt {j.attempts}, entry {e.status}), not attempt "
                f"{attempt}"
            )
        return make(j)

    return change_job(queue, entry_id, flavor, step, by)


def progress(queue: DatasetStore, entry_id: str, flavor: str, attempt: int, message: str, by: str) -> None:
    change_own(queue, entry_id, flavor, attempt, lambda j: replace(j, stage=one_line(message)), by)


def finished(queue: DatasetStore, entry_id: str, flavor: str, attempt: int, key: str, by: str) -> QueueEntry:
    def make(j: Job) -> Job:
        now = iso(utc_now())
        return replace(j, status=JOB_FINISHED, result_key=key, finished_at=now, stage="finished", error=None)

    return change_own(queue, entry_id, flavor, attempt, make, by)


def failed(
    queue: DatasetStore,
    entry_id: str,
    flavor: str,
    attempt: int,
    kind: str,
    message: str,
    by: str,
    traceback: str | None = None,
) -> QueueEntry:
    def make(j: Job) -> Job:
        err = EntryError(kind, one_line(message), traceback[-4000:] if traceback else None)
        return replace(j, status=JOB_FAILED, error=err, finished_at=iso(utc_now()), stage="failed")

    return change_own(queue, entry_id, flavor, attempt, make, by)


__all__ = ["JobNotOurs", "change_job", "change_own", "failed", "finished", "progress", "settle"]
