"""Queue entries with per-flavor jobs: old entries stay readable (one job on the local worker), every job
field is checked by name, the entry's status follows its jobs, and local workers leave jobs entries alone."""

from __future__ import annotations

from dataclasses import replace

import pytest

from eval_queue.entries import cancel, claim_next, create_entry, get_entry, reject
from eval_queue.entry import (
    APPROVED,
    FAILED,
    FINISHED,
    JOB_CANCELED,
    JOB_FAILED,
    JOB_FINISHED,
    JOB_RUNNING,
    REJECTED,
    RUNNING,
    EntryError,
    QueueEntry,
    make_entry,
    utc_now,
)
from eval_queue.flavors import Flavor
from eval_queue.jobs import settle
from store.schema import SchemaError
from tests._queue_helpers import make_stores

CPU = Flavor("cpu-basic", "CPU Basic", None, 0.01)
GPU = Flavor("t4-small", "T4", "T4", 0.4)


def entry(status=APPROVED, flavors=(CPU, GPU)):
    return make_entry(
        "resnet10t", "timm", None, {"device": "cpu"}, "alice", utc_now(), status, "t", flavors=flavors
    )


def test_old_entry_without_jobs_reads_and_writes_unchanged():
    old = make_entry("resnet10t", "timm", None, {}, "alice", utc_now()).to_dict()
    assert "jobs" not in old
    e = QueueEntry.from_dict(old)
    assert e.jobs == () and e.to_dict() == old


def test_jobs_round_trip():
    e = entry()
    d = e.to_dict()
    assert [j["flavor"] for j in d["jobs"]] == ["cpu-basic", "t4-small"]
    assert QueueEntry.from_dict(d) == e
    assert e.job("t4-small").usd_per_hour == 0.4 and e.job("nope") is None


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"jobs": "x"}, "jobs"),
        ({"jobs": [{"flavor": "a", "status": "QUEUED"}] * 2}, "jobs"),
        ({"jobs": [{"flavor": "a", "status": "QUEUED"}] * 17}, "jobs"),
        ({"jobs": [{"flavor": "../x", "status": "QUEUED"}]}, "jobs[0].flavor"),
        ({"jobs": [{"flavor": "a", "status": "DONE"}]}, "jobs[0].status"),
        ({"jobs": [{"flavor": "a", "status": "QUEUED", "attempts": -1}]}, "jobs[0].attempts"),
        ({"jobs": [{"flavor": "a", "status": "QUEUED", "attempts": True}]}, "jobs[0].attempts"),
        (
            {"jobs": [{"flavor": "a", "status": "QUEUED", "usd_per_hour": float("nan")}]},
            "jobs[0].usd_per_hour",
        ),
        ({"jobs": [{"flavor": "a", "status": "QUEUED", "usd_per_hour": "1"}]}, "jobs[0].usd_per_hour"),
        ({"jobs": [{"flavor": "a", "status": "QUEUED", "started_at": "yesterday"}]}, "jobs[0].started_at"),
        ({"jobs": [{"flavor": "a", "status": "QUEUED", "job_id": "a/../b"}]}, "jobs[0].job_id"),
        ({"jobs": [{"flavor": "a", "status": "QUEUED", "error": "boom"}]}, "jobs[0].error"),
        ({"jobs": [None]}, "jobs[0]"),
    ],
)
def test_malformed_jobs_are_refused_by_name(patch, field):
    d = {**entry().to_dict(), **patch}
    with pytest.raises(SchemaError) as info:
        QueueEntry.from_dict(d)
    assert field in str(info.value)


def test_entry_status_follows_its_jobs():
    now = utc_now()
    e = entry()
    running = settle(e.with_job(replace(e.jobs[0], status=JOB_RUNNING)), "d", now)
    assert running.status == RUNNING
    one_done = settle(
        running.with_job(replace(running.jobs[0], status=JOB_FINISHED, result_key="k1")), "d", now
    )
    assert one_done.status == RUNNING
    all_done = settle(
        one_done.with_job(replace(one_done.jobs[1], status=JOB_FINISHED, result_key="k2")), "d", now
    )
    assert all_done.status == FINISHED and all_done.result_key == "k1"
    bad = replace(one_done.jobs[1], status=JOB_FAILED, error=EntryError("timeout", "slow"))
    failed = settle(one_done.with_job(bad), "d", now)
    assert failed.status == FAILED and failed.error.message == "t4-small: timeout"


def test_local_worker_never_claims_a_jobs_entry(tmp_path):
    stores = make_stores(tmp_path)
    create_entry(stores.queue, entry())
    assert claim_next(stores.queue, "w", lease_s=60) is None


def test_reject_and_cancel_end_queued_jobs(tmp_path):
    stores = make_stores(tmp_path)
    pending = create_entry(stores.queue, entry(status="PENDING_REVIEW"))
    r = reject(stores.queue, pending.id, by="m", reason="no")
    assert r.status == REJECTED and {j.status for j in r.jobs} == {JOB_CANCELED}
    e = entry()
    e = create_entry(
        stores.queue, e.with_job(replace(e.jobs[0], status=JOB_RUNNING, attempts=1, job_id="j1"))
    )
    c = cancel(stores.queue, e.id, by="m", reason="wrong model")
    # the running one waits for the dispatcher (it must cancel the Job on the Hub first)
    assert c.status == REJECTED and [j.status for j in c.jobs] == [JOB_RUNNING, JOB_CANCELED]
    with pytest.raises(Exception, match="only APPROVED or RUNNING"):
        cancel(stores.queue, e.id, by="m", reason="again")
    with pytest.raises(Exception, match="needs a reason"):
        cancel(stores.queue, e.id, by="m", reason=" ")
    assert get_entry(stores.queue, e.id).jobs[1].status == JOB_CANCELED


def test_cancel_stops_a_local_run(tmp_path):
    """A local worker's claimed entry, cancelled: the worker's lease is gone (nothing will be stored)."""
    from eval_queue.entries import LeaseLost, heartbeat

    stores = make_stores(tmp_path)
    e = create_entry(stores.queue, entry(flavors=()))
    claim_next(stores.queue, "w", lease_s=60)
    cancel(stores.queue, e.id, by="m", reason="stop")
    with pytest.raises(LeaseLost):
        heartbeat(stores.queue, e.id, "w", 60, "running", "x")


def test_local_cost_per_hour_prices_local_rows(tmp_path, monkeypatch):
    """On the local default the catalogue is this machine: its records carry LEADERBOARD_LOCAL_COST_PER_HOUR."""
    from eval_queue.flavors import catalogue
    from eval_queue.worker import Worker, WorkerSettings
    from harness.record import check_record_dict
    from leaderboard.load import frames_from_table
    from store.table import read_results_table
    from tests._queue_helpers import FAST, add_approved, fake_harness_cmd

    monkeypatch.delenv("LEADERBOARD_DISPATCH", raising=False)
    monkeypatch.delenv("LEADERBOARD_HARDWARE_PROFILE", raising=False)
    monkeypatch.setenv("LEADERBOARD_LOCAL_COST_PER_HOUR", "0.5")
    assert [(f.name, f.usd_per_hour) for f in catalogue().flavors()] == [("local", 0.5)]
    stores = make_stores(tmp_path)
    add_approved(stores.queue, "resnet10t", FAST)
    w = Worker(
        stores, WorkerSettings(harness_cmd=fake_harness_cmd(), devices=("cpu",), remeasure_noisy=False)
    )
    [outcome] = w.run_pending()
    assert outcome.status == "FINISHED"
    wide, _ = frames_from_table(read_results_table(stores.results, validate=check_record_dict))
    row = wide.iloc[0]
    assert row["flavor"] == "local" and row["usd_per_hour"] == 0.5
    assert row["cost_per_million_images"] == pytest.approx(0.5 / (row["throughput_ips"] * 3600) * 1e6)
