"""The evaluation worker: claim the oldest APPROVED entry, run the harness in a limited child, store the result.

One result per (model, revision, config, hardware): the result file ``records/{key}.json`` is create-only
and an entry is only completed by the worker that holds its lease, so a worker that lost its lease (it
stalled, someone recovered the job) can never add a second row.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shlex
import shutil
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eval_queue.child import ChildResult, run_child
from eval_queue.entries import (
    DEFAULT_MAX_ATTEMPTS,
    LeaseLost,
    claim_next,
    fail,
    finish,
    get_entry,
    heartbeat,
    recover_expired,
)
from eval_queue.entry import holds_lease
from store import Stores
from store.base import StoreError

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
RECORDS_DIR = "records"


def _env_float(name: str, default: float | None) -> float | None:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None


def _default_memory_mb() -> float | None:
    """75% of physical memory per process (RLIMIT_AS); 0 in the env turns the limit off."""
    mb = _env_float("LEADERBOARD_WORKER_MEMORY_MB", None)
    if mb is not None:
        return mb or None
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20 * 0.75)
    except (ValueError, OSError):
        return None


def default_devices() -> tuple[str, ...]:
    """Devices this machine can evaluate on: ``LEADERBOARD_WORKER_DEVICES`` (e.g. ``cuda``) or detected."""
    raw = os.environ.get("LEADERBOARD_WORKER_DEVICES")
    if raw:
        return tuple(d.strip() for d in raw.split(",") if d.strip())
    try:
        import torch

        return ("cpu", "cuda") if torch.cuda.is_available() else ("cpu",)
    except Exception:  # noqa: BLE001 - a broken CUDA install means CPU only
        return ("cpu",)


# Secrets the evaluated model's process never needs (public models only; downloads need no token).
CHILD_ENV_DROP = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "LEADERBOARD_ADMIN_TOKEN", "LEADERBOARD_TOKEN")


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CHILD_ENV_DROP}
    env["HF_HUB_DISABLE_IMPLICIT_TOKEN"] = "1"  # nor a token saved by `hf auth login`
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    return env


def default_harness_cmd() -> list[str]:
    raw = os.environ.get("LEADERBOARD_HARNESS_CMD")
    return shlex.split(raw) if raw else [sys.executable, "-m", "harness"]


@dataclass
class WorkerSettings:
    """How a worker runs jobs; ``from_env`` reads the LEADERBOARD_* variables."""

    worker_id: str = field(default_factory=lambda: f"worker-{os.getpid()}-{secrets.token_hex(3)}")
    lease_s: float = 120.0
    heartbeat_s: float | None = None  # default: a quarter of the lease
    timeout_s: float = 3600.0
    memory_mb: float | None = None  # RLIMIT_AS for CPU jobs; None = no limit
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    harness_cmd: list[str] = field(default_factory=default_harness_cmd)
    devices: tuple[str, ...] | None = None  # None: detect on first use (default_devices)

    @property
    def tick_s(self) -> float:
        return self.heartbeat_s or max(0.2, self.lease_s / 4)

    @classmethod
    def from_env(cls, **overrides: Any) -> WorkerSettings:
        s = cls(
            lease_s=_env_float("LEADERBOARD_LEASE_S", 120.0),
            heartbeat_s=_env_float("LEADERBOARD_HEARTBEAT_S", None),
            timeout_s=_env_float("LEADERBOARD_JOB_TIMEOUT_S", 3600.0),
            memory_mb=_default_memory_mb(),
            max_attempts=int(_env_float("LEADERBOARD_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS)),
        )
        if os.environ.get("LEADERBOARD_WORKER_NAME"):
            s.worker_id = f"{os.environ['LEADERBOARD_WORKER_NAME']}-{secrets.token_hex(3)}"
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


def harness_error_line(stderr: str) -> str | None:
    """The harness's one-line reason (its last ``error: ...`` line)."""
    for line in reversed(stderr.splitlines()):
        if line.startswith("error: "):
            return line[len("error: ") :].strip()
    return None


_OOM_MARKERS = (
    "out of memory",
    "memoryerror",
    "cannot allocate memory",
    "can't allocate memory",
    "bad_alloc",
    "failed to map segment",  # a shared library that no longer fits under RLIMIT_AS
)


def classify_failure(res: ChildResult, record: dict | None) -> tuple[str, str]:
    """(kind, one-line message) of a failed child run."""
    if res.timed_out:
        return "timeout", f"the evaluation took longer than the {res.duration_s:.0f} s limit and was stopped"
    line = harness_error_line(res.stderr_tail)
    run_errors = " ".join(str(r.get("error") or "") for r in (record or {}).get("runs") or [])
    text = f"{res.stderr_tail[-4000:]} {run_errors}".lower()
    if any(m in text for m in _OOM_MARKERS):
        return "oom", line or "the evaluation ran out of memory"
    rc = res.returncode
    if rc is not None and rc < 0:
        sig = -rc
        if sig == 9:  # not ours (no timeout, not cancelled): the kernel's OOM killer is the usual sender
            return "oom", "the evaluation was killed (SIGKILL), most likely for running out of memory"
        return "crashed", f"the evaluation died from signal {sig}"
    if rc == 1 and record is not None:
        first = next((r.get("error") for r in record.get("runs") or [] if r.get("error")), None)
        return "no_measurement", line or f"no measurement succeeded: {first}"
    return "harness_error", line or f"the harness exited with status {rc}"


def model_argument(entry: dict[str, Any]) -> str:
    """The harness MODEL argument, pinned to the resolved revision for Hub models."""
    if entry.get("source") == "hf-hub" and entry.get("revision"):
        return f"{entry['model']}@{entry['revision']}"
    return entry["model"]


def expected_key(entry: dict[str, Any]) -> str:
    from harness.config import BenchmarkConfig, result_key
    from harness.environment import hardware_profile

    config = BenchmarkConfig.from_dict(entry["config"])
    return result_key(entry["model"], entry.get("revision"), config, hardware_profile(config.device))


def rebuild_table(results) -> None:
    """Rebuild the consolidated table; repeat while records appear meanwhile, so the last writer has all."""
    try:
        from store.table import rebuild_results_table
    except ImportError:
        return
    for _ in range(3):
        before = results.list_files(RECORDS_DIR)
        rebuild_results_table(results)
        if results.list_files(RECORDS_DIR) == before:
            return


class Worker:
    """Claims and runs jobs from ``stores.queue``, writes records to ``stores.results``."""

    def __init__(self, stores: Stores, settings: WorkerSettings | None = None):
        self.stores = stores
        self.settings = settings or WorkerSettings.from_env()
        self.stop_event = threading.Event()

    # --- one job --------------------------------------------------------------------------------
    def run_entry(self, entry: dict[str, Any]) -> JobOutcome:
        """Evaluate one entry this worker has claimed (status RUNNING, our lease)."""
        eid, me = entry["id"], self.settings.worker_id
        try:
            return self._run_entry(entry)
        except LeaseLost as exc:
            log.warning("%s: %s", eid, exc)
            return JobOutcome(eid, "LEASE_LOST", message=str(exc))
        except Exception as exc:  # noqa: BLE001 - a broken job must not kill the worker loop
            import traceback

            log.exception("worker error on %s", eid)
            msg = f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:500]
            try:
                fail(self.stores.queue, eid, me, "worker_error", msg, traceback.format_exc()[-4000:])
            except (LeaseLost, StoreError) as exc2:
                log.warning("could not mark %s failed: %s", eid, exc2)
            return JobOutcome(eid, "FAILED", error_kind="worker_error", message=msg)

    def _run_entry(self, entry: dict[str, Any]) -> JobOutcome:
        s, queue, results = self.settings, self.stores.queue, self.stores.results
        eid, me = entry["id"], s.worker_id
        key = expected_key(entry)
        path = f"{RECORDS_DIR}/{key}.json"
        if results.exists(path):
            finish(queue, eid, me, key, "result already present; not run again")
            return JobOutcome(eid, "FINISHED", key, message="already present")

        device = (entry.get("config") or {}).get("device", "cpu")
        cmd = [*s.harness_cmd, model_argument(entry)]
        from harness.config import BenchmarkConfig

        cmd += BenchmarkConfig.from_dict(entry["config"]).to_cli_args()
        tmp = Path(tempfile.mkdtemp(prefix="eval-queue-"))
        out = tmp / "record.json"
        cmd += ["--output", str(out), "--verbose"]  # progress lines on stderr feed the heartbeat
        env = child_env()
        lost: list[str] = []

        def tick(stderr_tail: str) -> bool:
            lines = [ln for ln in stderr_tail.splitlines() if ln.strip()]
            msg = lines[-1].removeprefix("[harness]").strip() if lines else "starting the harness"
            try:
                heartbeat(queue, eid, me, s.lease_s, "running", msg)
            except LeaseLost as exc:
                lost.append(str(exc))
                return False
            except StoreError as exc:  # a flaky store: keep running, the lease has slack
                log.warning("heartbeat for %s failed: %s", eid, exc)
            return True

        try:
            heartbeat(queue, eid, me, s.lease_s, "running", "starting the harness")
            log.info("%s: running %s", eid, shlex.join(cmd))
            res = run_child(
                cmd,
                timeout_s=s.timeout_s,
                memory_mb=s.memory_mb if device == "cpu" else None,
                workdir=tmp,
                env=env,
                on_tick=tick,
                tick_s=s.tick_s,
            )
            if res.cancelled:
                raise LeaseLost(lost[0] if lost else f"{eid}: lease lost during the run")
            record = _read_record(out)
            if res.returncode == 0 and not res.timed_out and record is not None:
                return self._store_result(entry, key, record)
            kind, message = classify_failure(res, record)
            if kind == "timeout":
                message = f"the evaluation took longer than the {s.timeout_s:g} s limit and was stopped"
            fail(queue, eid, me, kind, message, res.stderr_tail[-4000:] or None)
            return JobOutcome(eid, "FAILED", error_kind=kind, message=message)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _store_result(self, entry: dict[str, Any], key: str, record: dict[str, Any]) -> JobOutcome:
        s, queue, results = self.settings, self.stores.queue, self.stores.results
        eid, me = entry["id"], s.worker_id
        got_key = record.get("key")
        revision = (record.get("model") or {}).get("revision")
        if got_key != key or revision != entry.get("revision"):
            msg = (
                f"the harness measured revision {revision} (key {got_key}) but the entry is for revision "
                f"{entry.get('revision')} (key {key}); the model changed since it was submitted"
            )
            fail(queue, eid, me, "mismatch", msg)
            return JobOutcome(eid, "FAILED", error_kind="mismatch", message=msg)
        if not holds_lease(get_entry(queue, eid), me):  # cheap early exit; finish() re-checks atomically
            raise LeaseLost(f"{eid}: lease lost before the result was stored")
        created = results.create_json(
            f"{RECORDS_DIR}/{key}.json", record, f"results: {entry['model']} ({key})"
        )
        if created:
            rebuild_table(results)
        finish(queue, eid, me, key, "finished" if created else "finished (result already present)")
        return JobOutcome(eid, "FINISHED", key)

    # --- the loop -------------------------------------------------------------------------------
    def recover(self) -> list[dict]:
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


def _read_record(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
