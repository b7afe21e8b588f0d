"""The in-process scheduler of the Space: every ``interval_s`` it drains the queue with the local worker,
or, with ``LEADERBOARD_DISPATCH=jobs``, runs one pass of the Hugging Face Jobs dispatcher instead."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler

from eval_queue.worker import Worker, WorkerSettings
from store import Stores

log = logging.getLogger(__name__)
JOB_ID = "eval-queue-worker"


def start_background_worker(
    stores: Stores, interval_s: float = 10.0, settings: WorkerSettings | None = None
) -> BackgroundScheduler:
    """Start (and return) a scheduler whose single job runs pending evaluations; never two at once."""
    from eval_queue.flavors import jobs_enabled

    worker = Worker(stores, settings or WorkerSettings.from_env())
    dispatcher = None
    if jobs_enabled():
        from eval_queue.dispatch import Dispatcher

        dispatcher = Dispatcher(stores)  # refuses at start-up (one line) without repos, token or image

    def tick() -> None:
        try:
            if dispatcher is not None:
                dispatcher.run_pass()
            else:
                worker.run_pending()
        except Exception:  # noqa: BLE001 - keep the schedule alive; the next tick retries
            log.exception("background %s pass failed", "dispatch" if dispatcher else "worker")

    # A pass that outlasts the interval makes APScheduler warn "skipped: maximum number of running
    # instances" on every tick, and it logs each run at INFO: both are expected here, not news.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)
    scheduler = BackgroundScheduler(daemon=True)
    scheduler.add_job(
        tick,
        "interval",
        seconds=max(1.0, float(interval_s)),
        id=JOB_ID,
        max_instances=1,
        coalesce=True,
        misfire_grace_time=None,
        next_run_time=datetime.now(UTC),  # first pass right away, then every interval
    )
    scheduler.start()
    scheduler.worker = worker  # lets the app/tests stop a running pass
    scheduler.dispatcher = dispatcher
    return scheduler
