"""The evaluation worker: claim the oldest APPROVED entry, run the harness in a limited child, store the result.

One result per (model, revision, config, hardware): the result file ``records/{key}.json`` is create-only
and an entry is only completed by the worker that holds its lease, so a worker that lost its lease (it
stalled, someone recovered the job) can never add a second row.

Failures are reported in the one taxonomy (``harness.errors.FAILURE_KINDS``): the harness writes its kind,
message and traceback to ``--error-file``; stderr is read only when the child died without writing it
(time limit, a signal, the kernel's OOM killer). A record with a run the harness marked noisy is measured
once more before anything is stored (the result key is create-only), and the calmer record is kept; the
entry's events say what happened. The child's environment carries no secret (:func:`child_env`).
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shlex
import shutil
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import settings
from eval_queue import jobs
from eval_queue.child import ChildResult, run_child
from eval_queue.entries import (
    DEFAULT_MAX_ATTEMPTS,
    LeaseLost,
    add_note,
    claim_next,
    fail,
    finish,
    get_entry,
    heartbeat,
    recover_expired,
)
from eval_queue.entry import JOB_RUNNING, LOCAL_FLAVOR, QueueEntry, holds_lease
from harness.errors import FAILURE_KINDS, looks_like_oom
from store import Stores, layout
from store.base import StoreError

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
MAX_ERROR_FILE_BYTES = 256 * 1024


def _default_memory_mb() -> float | None:
    """75% of physical memory per process (RLIMIT_AS); 0 in the env turns the limit off."""
    mb = settings.get("LEADERBOARD_WORKER_MEMORY_MB")
    if mb is not None:
        return mb or None
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20 * 0.75)
    except (ValueError, OSError):
        return None


def default_devices() -> tuple[str, ...]:
    """Devices this machine can evaluate on: ``LEADERBOARD_WORKER_DEVICES`` (e.g. ``cuda``) or detected."""
    configured = settings.get("LEADERBOARD_WORKER_DEVICES")
    if configured:
        return tuple(configured)
    try:
        import torch

        return ("cpu", "cuda") if torch.cuda.is_available() else ("cpu",)
    except Exception:  # noqa: BLE001 - a broken CUDA install means CPU only
        return ("cpu",)


# Secrets the evaluated model's process never needs (public models only; downloads need no token): any
# variable whose name says token/secret/password/key, and Spaces' OAuth variables (the client secret).
_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|KEY|CREDENTIAL|^OAUTH_", re.IGNORECASE)


def is_secret_name(name: str) -> bool:
    return bool(_SECRET_NAME.search(name))


def child_env() -> dict[str, str]:
    """The evaluation child's environment: this process's, minus every secret."""
    env = {k: v for k, v in os.environ.items() if not is_secret_name(k)}
    env["HF_HUB_DISABLE_IMPLICIT_TOKEN"] = "1"  # nor a token saved by `hf auth login`
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


def default_harness_cmd() -> list[str]:
    raw = settings.get("LEADERBOARD_HARNESS_CMD")
    return shlex.split(raw) if raw else [sys.executable, "-m", "harness"]


@dataclass
class WorkerSettings:
    """How a worker runs jobs; ``from_env`` reads the LEADERBOARD_* settings."""

    worker_id: str = field(default_factory=lambda: f"worker-{os.getpid()}-{secrets.token_hex(3)}")
    lease_s: float = 120.0
    heartbeat_s: float | None = None  # default: a quarter of the lease
    timeout_s: float = 3600.0
    memory_mb: float | None = None  # RLIMIT_AS for CPU jobs; None = no limit
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    harness_cmd: list[str] = field(default_factory=default_harness_cmd)
    devices: tuple[str, ...] | None = None  # None: detect on first use (default_devices)
    remeasure_noisy: bool = True  # a job with runs noisy under load is measured again; the calmer is kept

    @property
    def tick_s(self) -> float:
        return self.heartbeat_s or max(0.2, self.lease_s / 4)

    @classmethod
    def from_env(cls, **overrides: Any) -> WorkerSettings:
        s = cls(
            lease_s=settings.get("LEADERBOARD_LEASE_S"),
            heartbeat_s=settings.get("LEADERBOARD_HEARTBEAT_S"),
            timeout_s=settings.get("LEADERBOARD_JOB_TIMEOUT_S"),
            memory_mb=_default_memory_mb(),
            max_attempts=settings.get("LEADERBOARD_MAX_ATTEMPTS"),
        )
        name = settings.get("LEADERBOARD_WORKER_NAME")
        if name:
            s.worker_id = f"{name}-{secrets.token_hex(3)}"
        for k, v in overrides.items():
            if v is not None:
                setattr(s, k, v)
        return s


@dataclass
class JobOutcome:
    entry_id: str
    status: str  # FINISHED | FAILED | LEASE_LOST
    result_key: str | None = None
    error_kind: str | None = None
    message: str = ""


@dataclass(frozen=True)
class Failure:
    """Why a child run failed, in the shared taxonomy (``harness.errors.FAILURE_KINDS``)."""

    kind: str
    message: str
    traceback: str | None = None


def harness_error_line(stderr: str) -> str | None:
    """The harness's one-line reason (its last ``error: ...`` line)."""
    for line in reversed(stderr.splitlines()):
        if line.startswith("error: "):
            return line[len("error: ") :].strip()
    return None


def read_error_file(path: Path) -> Failure | None:
    """The harness's own account of its failure (``--error-file``), or None if it wrote none (or junk)."""
    try:
        with open(path, "rb") as fh:
            data = json.loads(fh.read(MAX_ERROR_FILE_BYTES).decode("utf-8", "replace"))
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    kind, message, tb = data.get("kind"), data.get("message"), data.get("traceback")
    if not isinstance(kind, str) or not isinstance(message, str):
        return None
    return Failure(
        kind if kind in FAILURE_KINDS else "harness_error",
        " ".join(message.split())[:500] or "the harness failed without a reason",
        tb[-4000:] if isinstance(tb, str) and tb else None,
    )


def classify_failure(res: ChildResult, error_file: Failure | None, timeout_s: float) -> Failure:
    """The failure of a child run: the harness's error file when it wrote one; stderr only for deaths
    without it (timeout, signal, the kernel's OOM killer)."""
    if res.timed_out:
        return Failure(
            "timeout", f"the evaluation took longer than the {timeout_s:g} s limit and was stopped"
        )
    tail = res.stderr_tail[-4000:] or None
    if error_file is not None:  # its traceback, or what the harness printed (kept for the maintainers)
        return Failure(error_file.kind, error_file.message, error_file.traceback or tail)
    line = harness_error_line(res.stderr_tail)
    if looks_like_oom(res.stderr_tail):
        return Failure("oom", line or "the evaluation ran out of memory", tail)
    rc = res.returncode
    if rc is not None and rc < 0:
        sig = -rc
        if sig == 9:  # not ours (no timeout, not cancelled): the kernel's OOM killer is the usual sender
            return Failure(
                "oom", "the evaluation was killed (SIGKILL), most likely for running out of memory", tail
            )
        return Failure("crashed", f"the evaluation died from signal {sig}", tail)
    return Failure("harness_error", line or f"the harness exited with status {rc} without a reason", tail)


def model_argument(entry: QueueEntry) -> str:
    """The harness MODEL argument, pinned to the resolved revision for Hub models."""
    if entry.source == "hf-hub" and entry.revision:
        return f"{entry.model}@{entry.revision}"
    return entry.model


def expected_key(entry: QueueEntry, profile: str | None = None) -> str:
    """The result key the harness will write (``profile``: a Job's flavor profile, else this machine's)."""
    from harness.config import BenchmarkConfig, result_key
    from harness.environment import hardware_profile

    config = BenchmarkConfig.from_dict(entry.config)
    return result_key(entry.model, entry.revision, config, profile or hardware_profile(config.device))


def job_profile(flavor: str) -> str:
    """The hardware profile of every result measured on a Hugging Face Jobs flavor (part of the key, so
    two flavors never share a result and one flavor never gets two)."""
    return f"hf-jobs-{flavor}"


@dataclass
class LeaseHolder:
    """How a local worker reports on an entry it claimed: the entry's lease."""

    queue: Any
    entry_id: str
    worker: str
    lease_s: float
    profile: str | None = None  # None: this machine's
    flavor: dict[str, Any] | None = None  # recorded as environment.flavor (None: no cost known)

    def beat(self, stage: str, message: str) -> None:
        heartbeat(self.queue, self.entry_id, self.worker, self.lease_s, stage, message)

    def note(self, text: str) -> None:
        add_note(self.queue, self.entry_id, self.worker, text)

    def fail(self, kind: str, message: str, tb: str | None = None) -> None:
        fail(self.queue, self.entry_id, self.worker, kind, message, tb)

    def finish(self, key: str, note: str) -> None:
        finish(self.queue, self.entry_id, self.worker, key, note)

    def still_ours(self) -> bool:
        return holds_lease(get_entry(self.queue, self.entry_id), self.worker)


@dataclass
class JobHolder:
    """How a Hugging Face Job reports on the one job it runs: every change names its dispatch attempt."""

    queue: Any
    entry_id: str
    job: str  # flavor
    attempt: int
    worker: str
    profile: str | None = None
    flavor: dict[str, Any] | None = None

    def beat(self, stage: str, message: str) -> None:
        jobs.progress(self.queue, self.entry_id, self.job, self.attempt, message, self.worker)

    def note(self, text: str) -> None:
        self.beat("running", text)

    def fail(self, kind: str, message: str, tb: str | None = None) -> None:
        jobs.failed(self.queue, self.entry_id, self.job, self.attempt, kind, message, self.worker, tb)

    def finish(self, key: str, note: str) -> None:
        jobs.finished(self.queue, self.entry_id, self.job, self.attempt, key, self.worker)

    def still_ours(self) -> bool:
        e = get_entry(self.queue, self.entry_id)
        j = e.job(self.job)
        if j is None or e.status not in ("APPROVED", "RUNNING"):
            return False
        return j.status == JOB_RUNNING and j.attempts == self.attempt


Holder = LeaseHolder | JobHolder


def noisy_runs(record: dict[str, Any], *, loaded_only: bool = False) -> int:
    """How many ok runs of a record the harness marked noisy (``run.noise.noisy``); with ``loaded_only``,
    only those measured while the machine was busy with other work (``harness.noise.was_loaded``)."""
    from harness.noise import was_loaded

    count = 0
    for run in record.get("runs") or []:
        noise = run.get("noise") if isinstance(run, dict) else None
        if isinstance(noise, dict) and noise.get("noisy") is True and run.get("status", "ok") == "ok":
            count += not loaded_only or was_loaded(noise)
    return count


def rebuild_table(results) -> None:
    """Rebuild the consolidated table; repeat while records appear meanwhile, so the last writer has all."""
    from harness.record import check_record_dict
    from store.table import rebuild_results_table

    for _ in range(3):
        before = results.list_files(layout.RECORDS_DIR)
        rebuild_results_table(results, validate=check_record_dict)
        if results.list_files(layout.RECORDS_DIR) == before:
            return


class Worker:
    """Claims and runs jobs from ``stores.queue``, writes records to ``stores.results``."""

    def __init__(self, stores: Stores, settings: WorkerSettings | None = None):
        self.stores = stores
        self.settings = settings or WorkerSettings.from_env()
        self.stop_event = threading.Event()

    # --- one job --------------------------------------------------------------------------------
    def holder(self, entry: QueueEntry) -> LeaseHolder:
        s = self.settings
        cost = settings.get("LEADERBOARD_LOCAL_COST_PER_HOUR")
        flavor = None if cost is None else {"name": LOCAL_FLAVOR, "accelerator": None, "usd_per_hour": cost}
        return LeaseHolder(self.stores.queue, entry.id, s.worker_id, s.lease_s, flavor=flavor)

    def run_entry(self, entry: QueueEntry, holder: Holder | None = None) -> JobOutcome:
        """Evaluate one entry this worker has claimed (status RUNNING, our lease), or, with a
        :class:`JobHolder`, the one job of it a Hugging Face Job was started for."""
        eid = entry.id
        h = holder or self.holder(entry)
        try:
            return self._run_entry(entry, h)
        except LeaseLost as exc:
            log.warning("%s: %s", eid, exc)
            return JobOutcome(eid, "LEASE_LOST", message=str(exc))
        except Exception as exc:  # noqa: BLE001 - a broken job must not kill the worker loop
            import traceback

            log.exception("worker error on %s", eid)
            msg = f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:500]
            try:
                h.fail("worker_error", msg, traceback.format_exc())
            except (LeaseLost, StoreError) as exc2:
                log.warning("could not mark %s failed: %s", eid, exc2)
            return JobOutcome(eid, "FAILED", error_kind="worker_error", message=msg)

    def _run_entry(self, entry: QueueEntry, h: Holder) -> JobOutcome:
        results = self.stores.results
        eid = entry.id
        key = expected_key(entry, h.profile)
        if results.exists(layout.record_path(key)):
            h.finish(key, "result already present; not run again")
            return JobOutcome(eid, "FINISHED", key, message="already present")
        record, failure = self._measure(entry, h)
        # A later measurement can escape other work on the machine, rarely the jitter a run carries with it:
        # only runs measured under load send the job round again (docs/ARCHITECTURE.md has the numbers).
        loaded = noisy_runs(record, loaded_only=True) if record is not None else 0
        if record is not None and self.settings.remeasure_noisy and loaded:
            h.note(f"{loaded} run(s) measured noisy while the machine was loaded; re-measuring once")
            second, failure2 = self._measure(entry, h)
            record, how = _calmer(record, second)
            detail = f" ({failure2.kind}: {failure2.message})" if failure2 else ""
            h.note(f"re-measured{detail}; kept the {how} record")
        if record is None:
            assert failure is not None
            h.fail(failure.kind, failure.message, failure.traceback)
            return JobOutcome(eid, "FAILED", error_kind=failure.kind, message=failure.message)
        return self._store_result(entry, key, record, h)

    def _measure(self, entry: QueueEntry, h: Holder) -> tuple[dict[str, Any] | None, Failure | None]:
        """One harness run of ``entry`` in a limited child: (record, None) or (None, why it failed)."""
        from harness.config import BenchmarkConfig

        s = self.settings
        eid = entry.id
        tmp = Path(tempfile.mkdtemp(prefix="eval-queue-"))
        out, err_file = tmp / "record.json", tmp / "error.json"
        cmd = [*s.harness_cmd, model_argument(entry), *BenchmarkConfig.from_dict(entry.config).to_cli_args()]
        # progress lines on stderr feed the heartbeat; the error file carries a failure's kind and reason
        cmd += ["--output", str(out), "--error-file", str(err_file), "--verbose"]
        lost: list[str] = []

        def tick(stderr_tail: str) -> bool:
            lines = [ln for ln in stderr_tail.splitlines() if ln.strip()]
            msg = lines[-1].removeprefix("[harness]").strip() if lines else "starting the harness"
            try:
                h.beat("running", msg)
            except LeaseLost as exc:
                lost.append(str(exc))
                return False
            except StoreError as exc:  # a flaky store: keep running, the lease has slack
                log.warning("heartbeat for %s failed: %s", eid, exc)
            return True

        try:
            h.beat("running", "starting the harness")
            log.info("%s: running %s", eid, shlex.join(cmd))
            env = child_env()
            if h.profile:  # the key and the record name the flavor, not this container's CPU
                env["LEADERBOARD_HARDWARE_PROFILE"] = h.profile
            res = run_child(
                cmd,
                timeout_s=s.timeout_s,
                memory_mb=s.memory_mb if entry.device == "cpu" else None,
                workdir=tmp,
                env=env,
                on_tick=tick,
                tick_s=s.tick_s,
            )
            if res.cancelled:
                raise LeaseLost(lost[0] if lost else f"{eid}: lease lost during the run")
            if res.returncode == 0 and not res.timed_out:
                record, problem = _read_record(out)
                if record is not None:
                    return record, None
                return None, Failure("harness_error", f"the harness wrote no valid record: {problem}")
            return None, classify_failure(res, read_error_file(err_file), s.timeout_s)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _store_result(self, entry: QueueEntry, key: str, record: dict[str, Any], h: Holder) -> JobOutcome:
        results = self.stores.results
        eid = entry.id
        got_key = record.get("key")
        model = record.get("model")
        revision = model.get("revision") if isinstance(model, dict) else None
        if got_key != key or revision != entry.revision:
            msg = (
                f"the harness measured revision {revision} (key {got_key}) but the entry is for revision "
                f"{entry.revision} (key {key}); the model changed since it was submitted"
            )
            h.fail("mismatch", msg)
            return JobOutcome(eid, "FAILED", error_kind="mismatch", message=msg)
        if not h.still_ours():  # cheap early exit; finish() re-checks atomically
            raise LeaseLost(f"{eid}: lease lost before the result was stored")
        if h.flavor is not None and isinstance(record.get("environment"), dict):
            record["environment"]["flavor"] = dict(h.flavor)  # what the board prices the row with
        created = results.create_json(layout.record_path(key), record, f"results: {entry.model} ({key})")
        if created:
            rebuild_table(results)
        h.finish(key, "finished" if created else "finished (result already present)")
        return JobOutcome(eid, "FINISHED", key)

    def run_job(self, entry_id: str, flavor: str, attempt: int) -> JobOutcome:
        """Inside a Hugging Face Job: evaluate exactly job ``flavor`` of entry ``entry_id``, dispatch
        ``attempt``. A stale or duplicated Job (the job moved on) does nothing (status ``STALE``)."""
        entry = get_entry(self.stores.queue, entry_id)
        job = entry.job(flavor)
        if (
            job is None
            or job.status != JOB_RUNNING
            or job.attempts != attempt
            or entry.status not in ("APPROVED", "RUNNING")
        ):
            state = f"{job.status} attempt {job.attempts}" if job else "absent"
            return JobOutcome(entry_id, "STALE", message=f"job {flavor} is {state}; nothing to do")
        info = {"name": flavor, "accelerator": job.accelerator, "usd_per_hour": job.usd_per_hour}
        h = JobHolder(
            self.stores.queue, entry_id, flavor, attempt, self.settings.worker_id, job_profile(flavor), info
        )
        return self.run_entry(entry, h)

    # --- the loop -------------------------------------------------------------------------------
    def recover(self) -> list[QueueEntry]:
        return recover_expired(self.stores.queue, self.settings.max_attempts)

    def run_pending(self, max_jobs: int | None = None) -> list[JobOutcome]:
        """Recover expired leases, then run approved jobs until none is left (or ``max_jobs``/stop)."""
        outcomes: list[JobOutcome] = []
        self.recover()
        while not self.stop_event.is_set() and (max_jobs is None or len(outcomes) < max_jobs):
            if self.settings.devices is None:
                self.settings.devices = default_devices()
            entry = claim_next(
                self.stores.queue, self.settings.worker_id, self.settings.lease_s, self.settings.devices
            )
            if entry is None:
                break
            outcome = self.run_entry(entry)
            log.info(
                "%s -> %s %s", outcome.entry_id, outcome.status, outcome.error_kind or outcome.result_key
            )
            outcomes.append(outcome)
        return outcomes

    def work(self, once: bool = False, max_jobs: int | None = None, poll_s: float = 10.0) -> list[JobOutcome]:
        """Run jobs; with ``once`` stop when the queue is empty, else poll every ``poll_s`` until stopped."""
        outcomes: list[JobOutcome] = []
        while not self.stop_event.is_set():
            left = None if max_jobs is None else max_jobs - len(outcomes)
            outcomes += self.run_pending(left)
            if once or (max_jobs is not None and len(outcomes) >= max_jobs):
                break
            self.stop_event.wait(poll_s)
        return outcomes


def _read_record(path: Path) -> tuple[dict[str, Any] | None, str]:
    """(the record the harness wrote, "") if it passes the record schema, else (None, why not)."""
    from harness.record import check_record_dict
    from store.schema import SchemaError

    try:
        return check_record_dict(json.loads(path.read_text())), ""
    except OSError as exc:
        return None, f"cannot read it ({type(exc).__name__})"
    except (
        ValueError,
        RecursionError,
    ) as exc:  # SchemaError is a ValueError too: its message names the field
        return None, " ".join(str(exc).split())[:300] if isinstance(exc, SchemaError) else "not JSON"


def _calmer(first: dict[str, Any], second: dict[str, Any] | None) -> tuple[dict[str, Any], str]:
    """The record to keep after a re-measurement: fewer noisy runs wins; a tie keeps the first."""
    if second is None:
        return first, "first (the second run failed)"
    if noisy_runs(second) < noisy_runs(first):
        return second, "second, calmer"
    return first, "first (the second was no calmer)"
