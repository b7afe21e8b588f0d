"""The queue entry record and its state machine, as pure functions (no I/O).

An entry is read from a dataset anyone with write access (or a bug) may have touched, so
:meth:`QueueEntry.from_dict` checks every field (``store.schema``) and raises :class:`SchemaError` naming
the bad one; readers skip such a file and report it instead of stalling. Every state change goes through
:func:`transition`, which refuses moves the design does not allow and appends an :class:`Event`, so the
entry carries its own audit trail.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from store import layout
from store.schema import (
    SchemaError,
    at,
    expect_dict,
    expect_enum,
    expect_int,
    expect_list_of,
    expect_slug,
    expect_str,
    expect_timestamp,
    field_of,
)

if TYPE_CHECKING:
    from eval_queue.flavors import Flavor

PENDING_REVIEW = "PENDING_REVIEW"
APPROVED = "APPROVED"
REJECTED = "REJECTED"
RUNNING = "RUNNING"
FINISHED = "FINISHED"
FAILED = "FAILED"
STATUSES = (PENDING_REVIEW, APPROVED, REJECTED, RUNNING, FINISHED, FAILED)
TERMINAL = (REJECTED, FINISHED, FAILED)
SOURCES = ("timm", "torchvision", "hf-hub", "local-dir")

# Allowed moves. RUNNING -> APPROVED is only the expired-lease recovery (approve() checks PENDING_REVIEW).
TRANSITIONS: dict[str, tuple[str, ...]] = {
    PENDING_REVIEW: (APPROVED, REJECTED),
    APPROVED: (RUNNING, REJECTED),  # -> REJECTED: a maintainer cancels (entries.cancel)
    RUNNING: (FINISHED, FAILED, APPROVED, REJECTED),
    REJECTED: (),
    FINISHED: (),
    FAILED: (),
}

MAX_EVENTS = 1_000
MAX_TEXT = 500  # notes, progress and error messages


class QueueError(Exception):
    """A queue operation cannot be done; the message says why (one line)."""


class InvalidTransition(QueueError):
    pass


class EntryNotFound(QueueError):
    pass


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str | None) -> datetime | None:
    """A validated timestamp as an aware datetime (naive ones are read as UTC); None if absent/bad."""
    if not text:
        return None
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def check_entry_id(entry_id: str) -> str:
    """Entry ids become file names: refuse anything but a plain slug."""
    try:
        layout.entry_path(entry_id)
    except ValueError:
        raise QueueError(f"invalid entry id {str(entry_id)[:80]!r}") from None
    return entry_id


def entry_path(entry_id: str) -> str:
    return layout.entry_path(check_entry_id(entry_id))


def new_entry_id(model: str, now: datetime) -> str:
    """Sortable by submission time, readable, unique: ``20261123T020000Z-resnet18-3f9a1c``."""
    slug = re.sub(r"[^a-z0-9]+", "-", model.lower().split(":", 1)[-1]).strip("-")[-40:].strip("-") or "model"
    return f"{now.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}-{slug}-{secrets.token_hex(3)}"


def fingerprint(
    model: str, revision: str | None, config: dict[str, Any], flavors: tuple[str, ...] = ()
) -> str:
    """What makes two submissions the same job: model, revision, the normalised config and (Hugging Face
    Jobs) the set of flavors; without flavors it is what it always was, so old claims still match."""
    parts: list[Any] = [model, revision, config]
    if flavors:
        parts.append(sorted(set(flavors)))
    return json.dumps(parts, sort_keys=True, separators=(",", ":"))


# --- typed parts --------------------------------------------------------------------------------
def _object(value: Any, path: str) -> dict[str, Any]:
    """``value`` as an object, else SchemaError naming ``path``."""
    obj = expect_dict(value, path or "entry")
    if obj is None:  # unreachable: not optional, so expect_dict raised; narrows the type
        raise SchemaError(path, "expected an object")
    return obj


def _need(d: dict[str, Any], key: str, path: str, check: Callable[..., Any], **kw: Any) -> Any:
    """``d[key]`` checked by ``check`` (``store.schema``), which raises if it is missing or malformed."""
    return field_of(d, key, path, check, **kw)


@dataclass(frozen=True)
class Event:
    at: str
    status: str
    by: str
    note: str = ""

    @classmethod
    def check(cls, d: Any, path: str) -> Event:
        d = _object(d, path)
        return cls(
            at=_need(d, "at", path, expect_timestamp),
            status=_need(d, "status", path, expect_enum, choices=STATUSES),
            by=_need(d, "by", path, expect_str, max_len=200),
            note=_need(d, "note", path, expect_str, optional=True, allow_empty=True) or "",
        )


@dataclass(frozen=True)
class Lease:
    worker: str
    expires_at: str

    @classmethod
    def check(cls, d: Any, path: str) -> Lease | None:
        if d is None:
            return None
        d = _object(d, path)
        return cls(
            worker=_need(d, "worker", path, expect_str, max_len=200),
            expires_at=_need(d, "expires_at", path, expect_timestamp),
        )

    def expired(self, now: datetime) -> bool:
        expires = parse_iso(self.expires_at)
        return expires is None or expires <= now


@dataclass(frozen=True)
class EntryError:
    kind: str
    message: str
    traceback: str | None = None

    @classmethod
    def check(cls, d: Any, path: str) -> EntryError | None:
        if d is None:
            return None
        d = _object(d, path)
        return cls(
            kind=_need(d, "kind", path, expect_str, max_len=100),
            message=_need(d, "message", path, expect_str, allow_empty=True),
            traceback=_need(d, "traceback", path, expect_str, optional=True, allow_empty=True),
        )


@dataclass(frozen=True)
class Progress:
    stage: str
    message: str
    heartbeat_at: str

    @classmethod
    def check(cls, d: Any, path: str) -> Progress | None:
        if d is None:
            return None
        d = _object(d, path)
        return cls(
            stage=_need(d, "stage", path, expect_str, max_len=100),
            message=_need(d, "message", path, expect_str, allow_empty=True),
            heartbeat_at=_need(d, "heartbeat_at", path, expect_timestamp),
        )


# One evaluation of an entry on one hardware flavor (Hugging Face Jobs). QUEUED: waiting for dispatch;
# RUNNING: a Job was started (``job_id`` once known); CANCELED: the entry was rejected/cancelled.
JOB_QUEUED, JOB_RUNNING, JOB_FINISHED, JOB_FAILED, JOB_CANCELED = (
    "QUEUED", "RUNNING", "FINISHED", "FAILED", "CANCELED",
)  # fmt: skip
JOB_STATUSES = (JOB_QUEUED, JOB_RUNNING, JOB_FINISHED, JOB_FAILED, JOB_CANCELED)
JOB_TERMINAL = (JOB_FINISHED, JOB_FAILED, JOB_CANCELED)
LOCAL_FLAVOR = "local"  # the machine the in-app worker runs on (old entries: one job there)
MAX_JOBS = 16


def _cost(value: Any, path: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1e6:
        raise SchemaError(path, "expected a finite non-negative number")
    return float(value)


@dataclass(frozen=True)
class Job:
    """One flavor's evaluation of an entry. ``attempts`` counts dispatches (each run carries its attempt
    number, so a stale or duplicated Job can never complete a newer one); ``waiting`` says why a QUEUED
    job is held back (budget, a Hub error) and ``retry_at`` when the dispatcher tries again."""

    flavor: str
    status: str = JOB_QUEUED
    attempts: int = 0
    job_id: str | None = None
    job_url: str | None = None
    stage: str = ""  # the Jobs API's stage (SCHEDULING, RUNNING, ...) or the worker's progress
    started_at: str | None = None
    finished_at: str | None = None
    error: EntryError | None = None
    result_key: str | None = None
    usd_per_hour: float | None = None  # the flavor's unit cost when it was dispatched
    accelerator: str | None = None
    waiting: str = ""
    retry_at: str | None = None
    hub_errors: int = 0

    @property
    def terminal(self) -> bool:
        return self.status in JOB_TERMINAL

    @classmethod
    def check(cls, d: Any, path: str) -> Job:
        d = _object(d, path)
        opt = {"optional": True}
        return cls(
            flavor=_need(d, "flavor", path, expect_slug),
            status=_need(d, "status", path, expect_enum, choices=JOB_STATUSES),
            attempts=_need(d, "attempts", path, expect_int, minimum=0, **opt) or 0,
            job_id=_need(d, "job_id", path, expect_slug, **opt),
            job_url=_need(d, "job_url", path, expect_str, max_len=400, **opt),
            stage=_need(d, "stage", path, expect_str, allow_empty=True, **opt) or "",
            started_at=_need(d, "started_at", path, expect_timestamp, **opt),
            finished_at=_need(d, "finished_at", path, expect_timestamp, **opt),
            error=EntryError.check(d.get("error"), at(path, "error")),
            result_key=_need(d, "result_key", path, expect_slug, **opt),
            usd_per_hour=_cost(d.get("usd_per_hour"), at(path, "usd_per_hour")),
            accelerator=_need(d, "accelerator", path, expect_str, max_len=100, **opt),
            waiting=_need(d, "waiting", path, expect_str, allow_empty=True, **opt) or "",
            retry_at=_need(d, "retry_at", path, expect_timestamp, **opt),
            hub_errors=_need(d, "hub_errors", path, expect_int, minimum=0, **opt) or 0,
        )


def _jobs(value: Any) -> tuple[Job, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_JOBS:
        raise SchemaError("jobs", f"expected a list of at most {MAX_JOBS} jobs")
    jobs = tuple(Job.check(j, f"jobs[{i}]") for i, j in enumerate(value))
    if len({j.flavor for j in jobs}) != len(jobs):
        raise SchemaError("jobs", "a flavor appears twice")
    return jobs


@dataclass(frozen=True)
class QueueEntry:
    """One submission, stored as ``entries/{id}.json``. Immutable: changes make a new copy."""

    id: str
    model: str  # canonical spec the harness accepts: arch | hf-hub:org/name | local-dir:/abs/path
    source: str  # timm | torchvision | hf-hub | local-dir
    revision: str | None
    config: dict[str, Any]
    submitted_by: str
    submitted_at: str
    status: str = PENDING_REVIEW
    events: tuple[Event, ...] = ()
    attempts: int = 0
    lease: Lease | None = None
    error: EntryError | None = None
    result_key: str | None = None
    progress: Progress | None = None  # while RUNNING (and the last word after it)
    params: int | None = None  # parameter count found at submission (informational)
    jobs: tuple[Job, ...] = ()  # one per Hugging Face Jobs flavor; () = one job on the local worker

    @property
    def device(self) -> str:
        device = self.config.get("device")
        return device if isinstance(device, str) else "cpu"

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.model, self.revision, self.config, tuple(j.flavor for j in self.jobs))

    @property
    def submitted(self) -> datetime:
        when = parse_iso(self.submitted_at)
        assert when is not None  # checked by from_dict
        return when

    def holds_lease(self, worker: str) -> bool:
        return self.status == RUNNING and self.lease is not None and self.lease.worker == worker

    def lease_expired(self, now: datetime) -> bool:
        return self.lease is None or self.lease.expired(now)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["events"] = list(d["events"])
        if self.jobs:
            d["jobs"] = list(d["jobs"])
        else:
            del d["jobs"]  # old readers (and old entries) know no jobs
        return d

    def job(self, flavor: str) -> Job | None:
        return next((j for j in self.jobs if j.flavor == flavor), None)

    def with_job(self, job: Job) -> QueueEntry:
        """A copy with the job of ``job.flavor`` replaced."""
        return replace(self, jobs=tuple(job if j.flavor == job.flavor else j for j in self.jobs))

    @classmethod
    def from_dict(cls, d: Any) -> QueueEntry:
        """A checked entry; raises :class:`SchemaError` (one line naming the field) on any bad field."""
        d = _object(d, "")
        return cls(
            id=_need(d, "id", "", expect_slug),
            model=_need(d, "model", "", expect_str, max_len=400),
            source=_need(d, "source", "", expect_enum, choices=SOURCES),
            revision=_need(d, "revision", "", expect_str, optional=True, max_len=200),
            config=_need(d, "config", "", expect_dict),
            submitted_by=_need(d, "submitted_by", "", expect_str, max_len=200),
            submitted_at=_need(d, "submitted_at", "", expect_timestamp),
            status=_need(d, "status", "", expect_enum, choices=STATUSES),
            events=tuple(
                _need(d, "events", "", expect_list_of, item=Event.check, optional=True, max_items=MAX_EVENTS)
                or ()
            ),
            attempts=_need(d, "attempts", "", expect_int, optional=True, minimum=0) or 0,
            lease=Lease.check(d.get("lease"), "lease"),
            error=EntryError.check(d.get("error"), "error"),
            result_key=_need(d, "result_key", "", expect_slug, optional=True),
            progress=Progress.check(d.get("progress"), "progress"),
            params=_need(d, "params", "", expect_int, optional=True, minimum=0),
            jobs=_jobs(d.get("jobs")),
        )


def check_entry_dict(d: Any) -> dict[str, Any]:
    """The validator readers pass to ``iter_json``: returns ``d`` or raises :class:`SchemaError`."""
    QueueEntry.from_dict(d)
    return d


def check_entry_file(path: str, d: Any) -> QueueEntry:
    """An entry read from ``path``: valid, and stored under its own id (else CAS would hit another file)."""
    entry = QueueEntry.from_dict(d)
    if path != layout.entry_path(entry.id):
        raise SchemaError(at("", "id"), f"{entry.id!r} does not match the file name")
    return entry


def make_entry(
    model: str,
    source: str,
    revision: str | None,
    config: dict[str, Any],
    submitted_by: str,
    now: datetime,
    status: str = PENDING_REVIEW,
    note: str = "submitted",
    params: int | None = None,
    flavors: tuple[Flavor, ...] = (),
) -> QueueEntry:
    """A new entry; ``flavors`` (Hugging Face Jobs) give it one QUEUED job each."""
    at_ = iso(now)
    return QueueEntry(
        id=new_entry_id(model, now),
        model=model,
        source=source,
        revision=revision,
        config=config,
        submitted_by=submitted_by,
        submitted_at=at_,
        status=status,
        events=(Event(at_, status, submitted_by, note),),
        params=params,
        jobs=tuple(Job(f.name, usd_per_hour=f.usd_per_hour, accelerator=f.accelerator) for f in flavors),
    )


def transition(
    entry: QueueEntry, to: str, by: str, now: datetime, note: str = "", **changes: Any
) -> QueueEntry:
    """A copy of ``entry`` moved to status ``to`` with ``changes`` applied and the event appended."""
    if to not in TRANSITIONS.get(entry.status, ()):
        raise InvalidTransition(f"entry {entry.id} is {entry.status}; it cannot become {to}")
    event = Event(iso(now), to, by, " ".join(note.split())[:MAX_TEXT])
    return replace(entry, **changes, status=to, events=(*entry.events, event))


def note_event(entry: QueueEntry, by: str, now: datetime, note: str) -> QueueEntry:
    """A copy with an event that records something without changing the status (e.g. a re-measurement)."""
    event = Event(iso(now), entry.status, by, " ".join(note.split())[:MAX_TEXT])
    return replace(entry, events=(*entry.events, event))


def lease_for(worker: str, now: datetime, lease_s: float) -> Lease:
    return Lease(worker, iso(now + timedelta(seconds=lease_s)))


def progress(stage: str, message: str, now: datetime) -> Progress:
    return Progress(stage, " ".join(message.split())[:MAX_TEXT], iso(now))


def holds_lease(entry: QueueEntry | None, worker: str) -> bool:
    return entry is not None and entry.holds_lease(worker)


def canceled(job: Job, now: datetime, why: str) -> Job:
    """``job`` ended CANCELED (the entry was rejected or cancelled)."""
    return replace(
        job, status=JOB_CANCELED, finished_at=job.finished_at or iso(now), stage="canceled",
        error=EntryError("rejected", " ".join(why.split())[:MAX_TEXT]), waiting="", retry_at=None,
    )  # fmt: skip
