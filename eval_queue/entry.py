"""The queue entry record and its state machine, as pure functions (no I/O).

Every state change goes through :func:`transition`, which refuses moves the DESIGN does not allow and
appends ``{at, status, by, note}`` to ``events`` so the entry carries its own audit trail.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any

PENDING_REVIEW = "PENDING_REVIEW"
APPROVED = "APPROVED"
REJECTED = "REJECTED"
RUNNING = "RUNNING"
FINISHED = "FINISHED"
FAILED = "FAILED"
STATUSES = (PENDING_REVIEW, APPROVED, REJECTED, RUNNING, FINISHED, FAILED)
TERMINAL = (REJECTED, FINISHED, FAILED)

# Allowed moves (DESIGN "Queue entry"). RUNNING -> APPROVED is the expired-lease recovery.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    PENDING_REVIEW: (APPROVED, REJECTED),
    APPROVED: (RUNNING,),
    RUNNING: (FINISHED, FAILED, APPROVED),
    REJECTED: (),
    FINISHED: (),
    FAILED: (),
}

ENTRIES_DIR = "entries"
ENTRY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


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
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def check_entry_id(entry_id: str) -> str:
    """Entry ids become file names: refuse anything but a plain slug."""
    if not isinstance(entry_id, str) or not ENTRY_ID.match(entry_id) or ".." in entry_id:
        raise QueueError(f"invalid entry id {entry_id!r}")
    return entry_id


def entry_path(entry_id: str) -> str:
    return f"{ENTRIES_DIR}/{check_entry_id(entry_id)}.json"


def new_entry_id(model: str, now: datetime) -> str:
    """Sortable by submission time, readable, unique: ``20261123T020000Z-resnet18-3f9a1c``."""
    slug = re.sub(r"[^a-z0-9]+", "-", model.lower().split(":", 1)[-1]).strip("-")[-40:].strip("-") or "model"
    return f"{now.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}-{slug}-{secrets.token_hex(3)}"


@dataclass
class QueueEntry:
    """One submission (DESIGN's queue entry), stored as ``entries/{id}.json``."""

    id: str
    model: str  # canonical spec the harness accepts: arch | hf-hub:org/name | local-dir:/abs/path
    source: str  # timm | hf-hub | local-dir
    revision: str | None
    config: dict[str, Any]
    submitted_by: str
    submitted_at: str
    status: str = PENDING_REVIEW
    events: list[dict[str, Any]] = field(default_factory=list)
    attempts: int = 0
    lease: dict[str, Any] | None = None  # {worker, expires_at}
    error: dict[str, Any] | None = None  # {kind, message, traceback}
    result_key: str | None = None
    progress: dict[str, Any] | None = None  # {stage, message, heartbeat_at} while RUNNING
    params: int | None = None  # parameter count found at submission (informational)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QueueEntry:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


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
) -> QueueEntry:
    at = iso(now)
    return QueueEntry(
        id=new_entry_id(model, now),
        model=model,
        source=source,
        revision=revision,
        config=config,
        submitted_by=submitted_by,
        submitted_at=at,
        status=status,
        events=[{"at": at, "status": status, "by": submitted_by, "note": note}],
        params=params,
    )


def transition(
    entry: dict[str, Any], to: str, by: str, now: datetime, note: str = "", **changes: Any
) -> dict[str, Any]:
    """A copy of ``entry`` moved to status ``to`` with ``changes`` applied and the event appended."""
    current = entry.get("status")
    if to not in TRANSITIONS.get(current, ()):
        raise InvalidTransition(f"entry {entry.get('id')} is {current}; it cannot become {to}")
    new = dict(entry)
    new.update(changes)
    new["status"] = to
    new["events"] = [*entry.get("events", []), {"at": iso(now), "status": to, "by": by, "note": note}]
    return new


def lease_expired(entry: dict[str, Any], now: datetime) -> bool:
    lease = entry.get("lease") or {}
    expires = parse_iso(lease.get("expires_at"))
    return expires is None or expires <= now


def lease_for(worker: str, now: datetime, lease_s: float) -> dict[str, Any]:
    return {"worker": worker, "expires_at": iso(now + timedelta(seconds=lease_s))}


def holds_lease(entry: dict[str, Any] | None, worker: str) -> bool:
    return (
        bool(entry) and entry.get("status") == RUNNING and (entry.get("lease") or {}).get("worker") == worker
    )
