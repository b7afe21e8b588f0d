"""The dispatcher: runs approved entries' jobs on Hugging Face Jobs, watches them, retries, cancels.

One :meth:`Dispatcher.run_pass` (the Space schedules it, ``eval_queue.scheduler``; ``python -m eval_queue
dispatch`` runs one by hand):

1. jobs of REJECTED entries that still run are cancelled on the Hub (``cancel_job``), then CANCELED;
2. every RUNNING job is polled (``inspect_job``): ERROR, CANCELED, DELETED, a COMPLETED Job that recorded
   nothing, or one past its deadline (never started, or hung) is retried while attempts are left, else
   FAILED with the stage message and the last log lines (``fetch_job_logs(tail=...)``);
3. QUEUED jobs (oldest entry first) start (``run_job``) while the running cap and the 24-hour budget
   allow; a held job says why (``waiting``), visibly in the Queue tab.

Failure kinds are the shared taxonomy's (``harness.errors.FAILURE_KINDS``): a Job that ended ERROR,
CANCELED or DELETED is ``crashed``, one past its deadline ``timeout``, a Job that stored nothing, vanished
or was refused by the Jobs API ``worker_error``; a cancelled job ``rejected``.

Every change is a compare-and-swap on the entry (``eval_queue.jobs``). A job's attempt number is raised
before its Job starts and travels in the Job's command, so a Job that Jobs ran twice, or an old one, can
never complete a newer attempt; the result file is create-only, so a key is never produced twice.
A Hub error (401/403/429/5xx, network) changes nothing but the job's ``waiting`` reason and its next try
(exponential backoff): no entry is lost.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import settings
from eval_queue import jobs
from eval_queue.entries import DEFAULT_MAX_ATTEMPTS, change_entry, list_entries
from eval_queue.entry import (
    APPROVED,
    JOB_QUEUED,
    JOB_RUNNING,
    REJECTED,
    RUNNING,
    EntryError,
    Job,
    QueueEntry,
    QueueError,
    canceled,
    iso,
    note_event,
    parse_iso,
    utc_now,
)
from eval_queue.flavors import Catalogue, catalogue
from eval_queue.worker import job_profile
from store.base import StoreError

log = logging.getLogger(__name__)

BY = "dispatcher"
LOG_TAIL = 20
SETUP_S = 900.0  # image pull and start-up on top of the evaluation's own limit
HUB_RETRY_STATUSES = (401, 403, 408, 429)
FAILED_STAGES = ("ERROR", "CANCELED", "DELETED")


@dataclass
class DispatchSettings:
    namespace: str
    image: str
    max_running: int = 2  # 0: no cap
    budget_usd_per_day: float = 5.0  # 0: no cap
    timeout_s: float = 3600.0  # the evaluation's limit; the Job gets setup_s more
    setup_s: float = SETUP_S
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    backoff_s: float = 30.0  # first wait after a Hub error; doubles up to backoff_max_s
    backoff_max_s: float = 1800.0
    env: dict[str, str] = field(default_factory=dict)  # extra environment of every Job

    @classmethod
    def from_env(cls, **overrides: Any) -> DispatchSettings:
        queue_repo, results_repo = settings.get("QUEUE_REPO"), settings.get("RESULTS_REPO")
        if not (queue_repo and results_repo and settings.get("HF_TOKEN")):
            raise QueueError("LEADERBOARD_DISPATCH=jobs needs QUEUE_REPO, RESULTS_REPO and HF_TOKEN")
        namespace = settings.get("LEADERBOARD_JOBS_NAMESPACE") or queue_repo.split("/")[0]
        image = settings.get("LEADERBOARD_JOBS_IMAGE")
        if not image:
            space = settings.get("SPACE_ID")
            if not space:
                raise QueueError("set LEADERBOARD_JOBS_IMAGE (or run in a Space: its image is used)")
            image = f"hf.co/spaces/{space}"
        env = {"QUEUE_REPO": queue_repo, "RESULTS_REPO": results_repo, "LEADERBOARD_DISPATCH": "worker"}
        if settings.is_set("HF_ENDPOINT"):
            env["HF_ENDPOINT"] = settings.get("HF_ENDPOINT")
        s = cls(
            namespace=namespace,
            image=image,
            max_running=settings.get("LEADERBOARD_JOBS_MAX_RUNNING"),
            budget_usd_per_day=settings.get("LEADERBOARD_JOBS_BUDGET_USD_PER_DAY"),
            timeout_s=settings.get("LEADERBOARD_JOB_TIMEOUT_S"),
            max_attempts=settings.get("LEADERBOARD_MAX_ATTEMPTS"),
            env=env,
        )
        for k, v in overrides.items():
            setattr(s, k, v)
        return s


@dataclass
class PassReport:
    started: list[str] = field(default_factory=list)  # "entry/flavor"
    finished: list[str] = field(default_factory=list)
    retried: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    canceled: list[str] = field(default_factory=list)
    waiting: dict[str, str] = field(default_factory=dict)  # "entry/flavor" -> why


def hub_error(exc: BaseException) -> str | None:
    """A one-line reason if ``exc`` is a passing Hub trouble (auth, rate limit, 5xx, network): the job
    waits and is tried again. None: the Hub refused this request for good (e.g. 400 unknown flavor)."""
    from huggingface_hub.errors import HfHubHTTPError

    if isinstance(exc, HfHubHTTPError):
        status = exc.response.status_code if exc.response is not None else None
        if status is None or status in HUB_RETRY_STATUSES or status >= 500:
            return f"the Jobs API answered {status}: {' '.join(str(exc).split())[:160]}"
        return None
    if isinstance(exc, OSError | TimeoutError | ConnectionError) or type(exc).__module__.startswith(
        ("httpx", "httpcore", "requests", "urllib3")
    ):
        return f"cannot reach the Jobs API ({type(exc).__name__}): {' '.join(str(exc).split())[:160]}"
    return None


def spent_usd(entries: list[QueueEntry], now: datetime, window: timedelta = timedelta(days=1)) -> float:
    """Estimated spend of the last ``window``: each job's unit cost x its running time inside it."""
    total, since = 0.0, now - window
    for e in entries:
        for j in e.jobs:
            start = parse_iso(j.started_at)
            if start is None or not j.usd_per_hour:
                continue
            end = parse_iso(j.finished_at) or now
            seconds = (min(end, now) - max(start, since)).total_seconds()
            total += max(0.0, seconds) / 3600.0 * j.usd_per_hour
    return total


def estimated_cost(job: Job, now: datetime) -> float | None:
    """USD a job has cost so far (unit cost x elapsed), None if unknown or not started."""
    start = parse_iso(job.started_at)
    if start is None or job.usd_per_hour is None:
        return None
    end = parse_iso(job.finished_at) or now
    return max(0.0, (end - start).total_seconds()) / 3600.0 * job.usd_per_hour


def job_command(entry_id: str, flavor: str, attempt: int) -> list[str]:
    """What a Job runs: exactly this job of this entry, this attempt."""
    return [
        "python", "-m", "eval_queue", "work", "--job", entry_id, "--flavor", flavor,
        "--attempt", str(attempt), "--once",
    ]  # fmt: skip


def _set_waiting(why: str) -> jobs.JobStep:
    return lambda _e, j: None if j.waiting == why else replace(j, waiting=why)


def _label(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in text)[:63]


class Dispatcher:
    def __init__(
        self,
        stores: Any,
        settings_: DispatchSettings | None = None,
        api: Any = None,
        flavors: Catalogue | None = None,
    ):
        from huggingface_hub import HfApi

        self.stores = stores
        self.settings = settings_ or DispatchSettings.from_env()
        self.api = api or HfApi(endpoint=settings.get("HF_ENDPOINT"), token=settings.get("HF_TOKEN"))
        self.catalogue = flavors or catalogue()

    # --- helpers -----------------------------------------------------------------------------------
    def _change(self, e: QueueEntry, flavor: str, step: jobs.JobStep) -> QueueEntry | None:
        try:
            return jobs.change_job(self.stores.queue, e.id, flavor, step, BY)
        except (QueueError, StoreError, ValueError) as exc:  # gone, broken, or a flaky store: next pass
            log.warning("dispatch: %s/%s unchanged: %s", e.id, flavor, exc)
            return None

    def _hub_wait(self, e: QueueEntry, job: Job, why: str, report: PassReport) -> None:
        """Leave the job as it is, saying why and when it is tried again."""
        n = job.hub_errors + 1
        wait = min(self.settings.backoff_max_s, self.settings.backoff_s * 2 ** (n - 1))
        retry_at = iso(utc_now() + timedelta(seconds=wait))
        report.waiting[f"{e.id}/{job.flavor}"] = why

        def step(_: QueueEntry, j: Job) -> Job:
            return replace(j, waiting=f"{why} (retrying in {wait:.0f} s)", retry_at=retry_at, hub_errors=n)

        self._change(e, job.flavor, step)

    def _tail(self, job_id: str) -> str:
        try:
            lines = list(
                self.api.fetch_job_logs(job_id=job_id, namespace=self.settings.namespace, tail=LOG_TAIL)
            )
        except Exception as exc:  # noqa: BLE001 - the failure is recorded without its logs then
            return f"(logs unavailable: {type(exc).__name__})"
        return "\n".join(str(x).rstrip() for x in lines[-LOG_TAIL:])

    # --- one pass ----------------------------------------------------------------------------------
    def run_pass(self) -> PassReport:
        report = PassReport()
        entries = [self._adopt(e) for e in list_entries(self.stores.queue)]
        now = utc_now()
        for e in entries:
            for j in e.jobs:
                if j.status != JOB_RUNNING:
                    continue
                retry_at = parse_iso(j.retry_at)
                if retry_at is not None and retry_at > now:  # backing off after a Hub error
                    report.waiting[f"{e.id}/{j.flavor}"] = j.waiting
                elif e.status == REJECTED:
                    self._cancel(e, j, report)
                elif e.status in (APPROVED, RUNNING):
                    self._poll(e, j, report)
        self._start_queued(report)
        return report

    def _adopt(self, e: QueueEntry) -> QueueEntry:
        """An APPROVED entry without jobs (queued before the board switched to Jobs, or by an older
        version) gets one job on the default flavor; nothing else would ever run it here."""
        if e.status != APPROVED or e.jobs or e.lease is not None:
            return e
        try:
            flavor = self.catalogue.default()
        except QueueError:
            return e

        def step(cur: QueueEntry) -> QueueEntry | None:
            if cur.status != APPROVED or cur.jobs or cur.lease is not None:
                return None
            job = Job(flavor.name, usd_per_hour=flavor.usd_per_hour, accelerator=flavor.accelerator)
            return note_event(
                replace(cur, jobs=(job,)), BY, utc_now(), f"to Hugging Face Jobs on {flavor.name}"
            )

        try:
            return change_entry(self.stores.queue, e.id, step, f"queue: jobs for {e.id}")
        except (QueueError, StoreError, ValueError) as exc:
            log.warning("dispatch: cannot adopt %s: %s", e.id, exc)
            return e

    def _cancel(self, e: QueueEntry, job: Job, report: PassReport) -> None:
        if job.job_id:
            try:
                self.api.cancel_job(job_id=job.job_id, namespace=self.settings.namespace)
            except Exception as exc:  # noqa: BLE001
                why = hub_error(exc)
                if why is not None:
                    return self._hub_wait(e, job, why, report)
                log.warning("cancel of %s refused (%s); marking it cancelled", job.job_id, exc)
        why = e.error.message if e.error else "the entry was rejected"

        def step(_: QueueEntry, j: Job) -> Job | None:
            return canceled(j, utc_now(), why) if j.status == JOB_RUNNING else None

        if self._change(e, job.flavor, step):
            report.canceled.append(f"{e.id}/{job.flavor}")

    def _poll(self, e: QueueEntry, job: Job, report: PassReport) -> None:
        now = utc_now()
        name = f"{e.id}/{job.flavor}"
        deadline = (parse_iso(job.started_at) or now) + timedelta(
            seconds=self.settings.timeout_s + self.settings.setup_s
        )
        if not job.job_id:  # started, but the id never got recorded (the dispatcher died in between)
            if now > deadline:
                return self._retry(e, job, "worker_error", "the Job's id was never recorded", "", report)
            return None
        try:
            info = self.api.inspect_job(job_id=job.job_id, namespace=self.settings.namespace)
        except Exception as exc:  # noqa: BLE001
            why = hub_error(exc)
            if why is None:  # 404: the Job is gone
                return self._retry(e, job, "worker_error", f"the Job is gone ({exc})", "", report)
            return self._hub_wait(e, job, why, report)
        stage = str(getattr(info.status, "stage", "") or "")
        message = " ".join(str(getattr(info.status, "message", "") or "").split())
        if stage in FAILED_STAGES:
            tail = self._tail(job.job_id)
            what = f"the Job ended {stage}" + (f": {message}" if message else "")
            return self._retry(e, job, "crashed", what, tail, report)
        if stage == "COMPLETED":  # it exited 0 yet the job is still RUNNING here: it stored nothing
            fresh = self._fresh(e.id, job.flavor)
            if fresh is not None and fresh.status == JOB_RUNNING and fresh.attempts == job.attempts:
                tail = self._tail(job.job_id)
                return self._retry(
                    e, job, "worker_error", "the Job completed without storing a result", tail, report
                )
            return None
        if now > deadline:
            try:
                self.api.cancel_job(job_id=job.job_id, namespace=self.settings.namespace)
            except Exception as exc:  # noqa: BLE001
                log.warning("cancel of overdue %s failed: %s", job.job_id, exc)
            state = "never started" if stage == "SCHEDULING" else "did not finish"
            limit = self.settings.timeout_s + self.settings.setup_s
            return self._retry(e, job, "timeout", f"the Job {state} within {limit:g} s", "", report)
        started_dt = getattr(info, "started_at", None)
        started = started_dt.isoformat() if isinstance(started_dt, datetime) else None

        def step(_: QueueEntry, j: Job) -> Job | None:
            if j.status != JOB_RUNNING or j.attempts != job.attempts:
                return None
            label = stage if not message else f"{stage}: {message}"
            new = replace(j, waiting="", hub_errors=0, retry_at=None)
            if stage == "SCHEDULING" or not j.stage or j.stage.startswith("SCHEDULING"):
                new = replace(new, stage=label[:200])
            if started and stage == "RUNNING":
                new = replace(new, started_at=iso(datetime.fromisoformat(started)))
            return None if new == j else new

        self._change(e, job.flavor, step)
        log.debug("dispatch: %s %s", name, stage)

    def _fresh(self, entry_id: str, flavor: str) -> Job | None:
        from eval_queue.entries import get_entry

        try:
            return get_entry(self.stores.queue, entry_id).job(flavor)
        except (QueueError, StoreError, ValueError):
            return None

    def _retry(self, e: QueueEntry, job: Job, kind: str, what: str, tail: str, report: PassReport) -> None:
        """The Job of this attempt is over without a result: QUEUED again while attempts are left, else
        FAILED with ``what`` and the log tail."""
        name = f"{e.id}/{job.flavor}"
        last = job.attempts >= self.settings.max_attempts
        outcome: list[str] = []

        def step(_: QueueEntry, j: Job) -> Job | None:
            if j.status != JOB_RUNNING or j.attempts != job.attempts:
                return None  # the Job recorded its own end meanwhile (or another pass did)
            now = iso(utc_now())
            err = EntryError(kind, jobs.one_line(f"{what} (attempt {j.attempts})"), tail[-4000:] or None)
            outcome.append("failed" if last else "retried")
            if last:
                return replace(j, status="FAILED", error=err, finished_at=now, stage="failed")
            return replace(
                j, status=JOB_QUEUED, error=err, job_id=None, job_url=None, finished_at=now, stage="",
                waiting=f"retrying: {what}",
            )  # fmt: skip

        self._change(e, job.flavor, step)
        if outcome:
            (report.failed if outcome[0] == "failed" else report.retried).append(name)

    def _start_queued(self, report: PassReport) -> None:
        s, now = self.settings, utc_now()
        entries = list_entries(self.stores.queue)
        running = sum(j.status == JOB_RUNNING for e in entries for j in e.jobs)
        spent = spent_usd(entries, now)
        for e in entries:
            if e.status not in (APPROVED, RUNNING):
                continue
            for j in e.jobs:
                if j.status != JOB_QUEUED:
                    continue
                retry_at = parse_iso(j.retry_at)
                if retry_at is not None and retry_at > now:
                    report.waiting[f"{e.id}/{j.flavor}"] = j.waiting
                    continue
                held = None
                if s.max_running and running >= s.max_running:
                    held = f"waiting: {running} of {s.max_running} Jobs already running"
                elif s.budget_usd_per_day and spent >= s.budget_usd_per_day:
                    held = f"waiting: ${spent:.2f} of the ${s.budget_usd_per_day:.2f} daily budget spent"
                if held is not None:
                    report.waiting[f"{e.id}/{j.flavor}"] = held
                    if j.waiting != held:
                        self._change(e, j.flavor, _set_waiting(held))
                    continue
                if self._start(e, j, report):
                    running += 1

    def _start(self, e: QueueEntry, job: Job, report: PassReport) -> bool:
        """Reserve the next attempt (CAS), start its Job, record the Job's id (CAS)."""
        s = self.settings
        attempt = job.attempts + 1
        try:
            flavor = self.catalogue.get(job.flavor)
        except QueueError as exc:
            flavor = None
            why = str(exc)
        if flavor is None:  # the maintainers stopped offering it: wait, visibly
            self._change(e, job.flavor, _set_waiting(f"waiting: {why}"))
            report.waiting[f"{e.id}/{job.flavor}"] = why
            return False

        def reserve(entry: QueueEntry, j: Job) -> Job:
            if (
                entry.status not in (APPROVED, RUNNING)
                or j.status != JOB_QUEUED
                or j.attempts != job.attempts
            ):
                raise QueueError(f"{entry.id}/{j.flavor} moved on ({j.status})")
            return replace(
                j, status=JOB_RUNNING, attempts=attempt, job_id=None, job_url=None, stage="starting",
                started_at=iso(utc_now()), finished_at=None, waiting="", retry_at=None,
                usd_per_hour=flavor.usd_per_hour, accelerator=flavor.accelerator,
            )  # fmt: skip

        if self._change(e, job.flavor, reserve) is None:
            return False
        env = {
            **s.env,
            "LEADERBOARD_HARDWARE_PROFILE": job_profile(job.flavor),
            "LEADERBOARD_WORKER_NAME": f"job-{job.flavor}",
            "LEADERBOARD_WORKER_DEVICES": "cpu" if flavor.is_cpu else "cuda",
            "LEADERBOARD_JOB_TIMEOUT_S": f"{s.timeout_s:g}",
        }
        labels = {
            "leaderboard": _label(s.env.get("QUEUE_REPO", "queue")),
            "entry": _label(e.id),
            "flavor": _label(job.flavor),
            "attempt": str(attempt),
        }
        try:
            info = self.api.run_job(
                image=s.image, command=job_command(e.id, job.flavor, attempt), env=env,
                secrets={"HF_TOKEN": settings.get("HF_TOKEN") or ""}, flavor=job.flavor,
                timeout=int(s.timeout_s + s.setup_s), labels=labels, namespace=s.namespace,
            )  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - give the attempt back; the job waits or fails
            passing = hub_error(exc)
            refusal = jobs.one_line(f"the Jobs API refused the Job: {exc}")

            def undo(_: QueueEntry, j: Job) -> Job | None:
                if j.status != JOB_RUNNING or j.attempts != attempt or j.job_id:
                    return None
                if passing is None:
                    err = EntryError("worker_error", refusal)
                    return replace(j, status="FAILED", error=err, finished_at=iso(utc_now()), stage="failed")
                n = j.hub_errors + 1
                wait = min(s.backoff_max_s, s.backoff_s * 2 ** (n - 1))
                return replace(
                    j, status=JOB_QUEUED, attempts=attempt - 1, started_at=None, stage="",
                    waiting=f"{passing} (retrying in {wait:.0f} s)", hub_errors=n,
                    retry_at=iso(utc_now() + timedelta(seconds=wait)),
                )  # fmt: skip

            self._change(e, job.flavor, undo)
            report.waiting[f"{e.id}/{job.flavor}"] = passing or refusal
            return False

        def record(_: QueueEntry, j: Job) -> Job | None:
            if j.status != JOB_RUNNING or j.attempts != attempt:
                return None  # the Job already finished (fast) or the entry was cancelled: keep its state
            return replace(j, job_id=str(info.id), job_url=getattr(info, "url", None), hub_errors=0)

        self._change(e, job.flavor, record)
        report.started.append(f"{e.id}/{job.flavor}")
        return True


__all__ = ["DispatchSettings", "Dispatcher", "PassReport", "estimated_cost", "hub_error", "spent_usd"]
