"""The worker: real harness end to end, hangs and memory limits, lost leases, killed workers, races.

Real-harness tests use ``python -m harness`` on ``test_vit`` (PyTorch, batch 1, 0.1 s). Tests that need
many quick or misbehaving evaluations use the stand-in in ``tests/_queue_helpers.py`` (same CLI, same key).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from eval_queue.child import group_members, run_child
from eval_queue.entries import approve, claim_next, get_entry, list_entries, recover_expired
from eval_queue.entry import APPROVED, FAILED, FINISHED, RUNNING
from eval_queue.worker import Worker, WorkerSettings, expected_key
from submissions import SubmissionSettings, submit
from tests._queue_helpers import (
    FAST,
    REPO,
    add_approved,
    cli_env,
    fake_harness_cmd,
    live_processes_with,
    make_stores,
    wait_for,
)

REAL_MODEL = "test_vit"


@pytest.fixture
def stores(tmp_path):
    return make_stores(tmp_path / "data")


def settings(**kw) -> WorkerSettings:
    base = {
        "lease_s": 30.0,
        "heartbeat_s": 0.5,
        "timeout_s": 120.0,
        "memory_mb": None,
        "devices": ("cpu",),
        "remeasure_noisy": False,  # a busy test machine measures noisily; re-measuring has its own test
    }
    base.update(kw)
    return WorkerSettings(**base)


def records(stores) -> list[str]:
    return stores.results.list_files("records")


def test_real_harness_submit_approve_work(stores):
    e = submit(
        stores,
        REAL_MODEL,
        config=FAST,
        submitted_by="alice",
        settings=SubmissionSettings(False, 100, None),
    )
    approve(stores.queue, e.id, by="maint")
    t0 = time.monotonic()
    outcomes = Worker(stores, settings(memory_mb=16384)).work(once=True)
    took = time.monotonic() - t0
    assert [(o.entry_id, o.status) for o in outcomes] == [(e.id, "FINISHED")], outcomes
    done = get_entry(stores.queue, e.id)
    key = done.result_key
    assert done.status == FINISHED and key == expected_key(done) and done.lease is None
    assert [ev.status for ev in done.events] == ["PENDING_REVIEW", "APPROVED", "RUNNING", "FINISHED"]
    assert records(stores) == [f"records/{key}.json"]
    rec = stores.results.read_json(f"records/{key}.json")
    assert rec["key"] == key and rec["model"]["id"] == REAL_MODEL and rec["model"]["params"] > 0
    assert [(r["backend"], r["batch_size"], r["status"]) for r in rec["runs"]] == [("pytorch", 1, "ok")]
    assert rec["runs"][0]["latency_ms"]["p50"] > 0
    from harness.record import check_record_dict
    from leaderboard.load import frames_from_table
    from store.table import read_results_table

    table = read_results_table(stores.results, validate=check_record_dict)
    assert len(table) == 1
    wide, _ = frames_from_table(table)  # the row the leaderboard shows
    assert wide[["model", "backend", "precision"]].values.tolist() == [[REAL_MODEL, "pytorch", "fp32"]]
    assert wide["latency_p50_ms"].iloc[0] == pytest.approx(rec["runs"][0]["latency_ms"]["p50"])
    print(f"real harness job took {took:.1f} s")


def test_real_harness_bad_input_fails_with_its_one_line_error(stores, tmp_path):
    e = add_approved(
        stores.queue, f"local-dir:{tmp_path}/missing", FAST, revision="0" * 64, source="local-dir"
    )
    [outcome] = Worker(stores, settings()).work(once=True)
    failed = get_entry(stores.queue, e.id)
    assert outcome.status == FAILED and failed.status == FAILED
    assert failed.error.kind == "bad_model_spec"  # the harness's own kind, from its --error-file
    assert failed.error.message == f"local-dir {tmp_path}/missing is not a directory"
    assert "is not a directory" in failed.error.traceback
    assert records(stores) == []


def test_existing_result_finishes_without_running(stores, tmp_path, monkeypatch):
    log = tmp_path / "runs.log"
    monkeypatch.setenv("FAKE_HARNESS_LOG", str(log))
    e = add_approved(stores.queue, "resnet10t", FAST)
    key = expected_key(e)
    stores.results.create_json(f"records/{key}.json", {"key": key, "earlier": True})
    Worker(stores, settings(harness_cmd=fake_harness_cmd())).work(once=True)
    done = get_entry(stores.queue, e.id)
    assert done.status == FINISHED and done.result_key == key and not log.exists()
    assert stores.results.read_json(f"records/{key}.json")["earlier"] is True


def test_hanging_child_is_killed_with_its_group_at_the_limit(stores, tmp_path, monkeypatch):
    marker = f"hang-marker-{os.getpid()}-{tmp_path.name}"
    monkeypatch.setenv("FAKE_HARNESS_MODE", "hang")
    monkeypatch.setenv("FAKE_HARNESS_MARKER", marker)
    e = add_approved(stores.queue, "resnet10t", FAST)
    t0 = time.monotonic()
    [outcome] = Worker(stores, settings(timeout_s=3.0, harness_cmd=fake_harness_cmd())).work(once=True)
    took = time.monotonic() - t0
    failed = get_entry(stores.queue, e.id)
    assert outcome.error_kind == "timeout" and failed.status == FAILED
    assert failed.error.kind == "timeout" and "3 s limit" in failed.error.message
    assert 3.0 <= took < 15, took
    assert live_processes_with(marker) == []  # the grandchild went with the group


def test_run_child_kills_whole_group_and_reports_timeout(tmp_path):
    marker = f"group-marker-{os.getpid()}"
    script = f"import subprocess,sys,time; subprocess.Popen([sys.executable,'-c','import time; time.sleep(60)','{marker}']); time.sleep(60)"
    res = run_child([sys.executable, "-c", script], timeout_s=1.5, memory_mb=None, workdir=tmp_path)
    assert res.timed_out and not res.cancelled and res.returncode is not None
    assert group_members(res.pgid) == [] and live_processes_with(marker) == []
    ticks = []
    res = run_child(
        [sys.executable, "-c", "import time; time.sleep(30)"],
        timeout_s=30,
        memory_mb=None,
        workdir=tmp_path,
        on_tick=lambda tail: ticks.append(tail) or len(ticks) < 2,
        tick_s=0.2,
    )
    assert res.cancelled and not res.timed_out and len(ticks) == 2 and res.duration_s < 10


def test_memory_limit_turns_a_big_allocation_into_oom(stores, monkeypatch):
    monkeypatch.setenv("FAKE_HARNESS_MODE", "alloc")
    monkeypatch.setenv("FAKE_HARNESS_ALLOC_MB", "3000")
    e = add_approved(stores.queue, "resnet10t", FAST)
    [outcome] = Worker(stores, settings(memory_mb=1024, harness_cmd=fake_harness_cmd())).work(once=True)
    failed = get_entry(stores.queue, e.id)
    assert outcome.error_kind == "oom" and failed.error.kind == "oom"
    assert "MemoryError" in failed.error.traceback
    # the same allocation without the limit succeeds (the limit, not the machine, stopped it)
    e2 = add_approved(stores.queue, "resnet10t", {**FAST, "batch_sizes": [2]})
    [ok] = Worker(stores, settings(memory_mb=None, harness_cmd=fake_harness_cmd())).work(once=True)
    assert ok.status == FINISHED and get_entry(stores.queue, e2.id).status == FINISHED


def test_lease_lost_mid_run_writes_no_second_result(stores, monkeypatch):
    """Worker A stalls past its lease (heartbeats slower than the lease); B recovers and finishes the job.
    A's evaluation still completes, but A must neither add a row nor complete the entry."""
    monkeypatch.setenv("FAKE_HARNESS_SLEEP", "2.5")
    e = add_approved(stores.queue, "resnet10t", FAST)
    a = Worker(stores, settings(lease_s=0.5, heartbeat_s=60, harness_cmd=fake_harness_cmd()))
    a.settings.worker_id = "worker-A"
    claimed = claim_next(stores.queue, "worker-A", lease_s=0.5)
    out: dict = {}
    thread = threading.Thread(target=lambda: out.setdefault("a", a.run_entry(claimed)))
    thread.start()
    time.sleep(0.8)  # A's lease has expired; A is still evaluating
    monkeypatch.setenv("FAKE_HARNESS_SLEEP", "0")
    b = Worker(stores, settings(harness_cmd=fake_harness_cmd()))
    b.settings.worker_id = "worker-B"
    outcomes_b = b.work(once=True)
    thread.join(30)
    assert [o.status for o in outcomes_b] == ["FINISHED"]
    assert out["a"].status == "LEASE_LOST"
    done = get_entry(stores.queue, e.id)
    assert done.status == FINISHED and done.attempts == 1
    assert [(ev.status, ev.by) for ev in done.events[-4:]] == [
        (RUNNING, "worker-A"),
        (APPROVED, "recovery"),
        (RUNNING, "worker-B"),
        (FINISHED, "worker-B"),
    ]
    assert len(records(stores)) == 1


def test_two_worker_processes_race_over_ten_jobs(stores, tmp_path):
    log = tmp_path / "runs.log"
    ids = {add_approved(stores.queue, "resnet10t", {**FAST, "batch_sizes": [bs]}).id for bs in range(1, 11)}
    env = cli_env(
        tmp_path / "data",
        LEADERBOARD_HARNESS_CMD=" ".join(fake_harness_cmd()),
        FAKE_HARNESS_LOG=str(log),
        FAKE_HARNESS_SLEEP="0.3",
        LEADERBOARD_HEARTBEAT_S="0.5",
    )
    cmd = [sys.executable, "-m", "eval_queue", "work", "--once", "--lease", "20"]
    procs = [
        subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=150) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    runs = log.read_text().splitlines()
    assert sorted(int(line.split()[1]) for line in runs) == list(range(1, 11))  # each job ran exactly once
    entries = list_entries(stores.queue)
    assert {e.id for e in entries} == ids and {e.status for e in entries} == {FINISHED}
    assert len(records(stores)) == 10 and {e.result_key for e in entries} == {
        Path(p).stem for p in records(stores)
    }
    by_worker = {e.events[-1].by for e in entries}
    assert len(by_worker) == 2, f"one worker took every job: {outs}"


def test_worker_killed_mid_evaluation_is_finished_by_another(stores, tmp_path):
    """SIGKILL a worker process while the real harness runs; after its lease expires a second worker
    re-runs the job; exactly one result row. The killed worker's evaluation dies with it."""
    e = add_approved(stores.queue, REAL_MODEL, FAST)
    wtmp = tmp_path / "worker-a-tmp"
    wtmp.mkdir()
    env = cli_env(tmp_path / "data", LEADERBOARD_HEARTBEAT_S="0.5", TMPDIR=str(wtmp))
    a = subprocess.Popen(
        [sys.executable, "-m", "eval_queue", "work", "--once", "--lease", "3"],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def measuring():
            cur = get_entry(stores.queue, e.id)
            return cur.progress is not None and "measuring" in cur.progress.message

        wait_for(measuring, 120, 0.2, "worker A to start measuring")
        groups = {_pgid(pid) for pid in live_processes_with(str(wtmp))} - {None}
        assert len(groups) == 1  # the supervisor, the harness and its measurement processes: one group
    finally:
        a.send_signal(signal.SIGKILL)
        a.wait()
    wait_for(lambda: not live_processes_with(str(wtmp)), 15, 0.2, "worker A's harness to die with it")
    [pgid] = groups
    wait_for(lambda: not group_members(pgid), 15, 0.2, "every process of the evaluation's group to die")
    running = get_entry(stores.queue, e.id)
    assert running.status == RUNNING and records(stores) == []
    time.sleep(3.2)  # let A's lease expire
    assert [x.status for x in recover_expired(stores.queue)] == [APPROVED]
    [outcome] = Worker(stores, settings()).work(once=True)
    done = get_entry(stores.queue, e.id)
    assert outcome.status == FINISHED and done.status == FINISHED and done.attempts == 1
    assert records(stores) == [f"records/{done.result_key}.json"]
    rec = stores.results.read_json(records(stores)[0])
    assert rec["runs"][0]["status"] == "ok"


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def test_background_scheduler_drains_the_queue(stores, tmp_path):
    from eval_queue.scheduler import JOB_ID, start_background_worker

    e = add_approved(stores.queue, "resnet10t", FAST)
    sched = start_background_worker(stores, 1.0, settings(harness_cmd=fake_harness_cmd()))
    try:
        job = sched.get_job(JOB_ID)
        assert job.max_instances == 1 and job.coalesce is True
        wait_for(lambda: get_entry(stores.queue, e.id).status == FINISHED, 60, 0.2, "the scheduled worker")
    finally:
        sched.worker.stop_event.set()
        sched.shutdown(wait=True)
    assert len(records(stores)) == 1
    assert json.loads((tmp_path / "data" / "results" / records(stores)[0]).read_text())["key"]
