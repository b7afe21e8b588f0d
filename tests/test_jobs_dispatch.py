"""Hugging Face Jobs dispatch against the fake Hub (offline): its Jobs runner starts each Job's command
(``python -m eval_queue work --job ...``) as a local subprocess with the env and secrets it was given; the
evaluation itself is the stand-in harness (tests/_queue_helpers.py), so every step but the model is real.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from eval_queue.dispatch import Dispatcher, DispatchSettings, spent_usd
from eval_queue.entries import approve, cancel, create_entry, get_entry, list_entries
from eval_queue.entry import (
    APPROVED,
    FAILED,
    FINISHED,
    JOB_CANCELED,
    JOB_FAILED,
    JOB_FINISHED,
    JOB_QUEUED,
    JOB_RUNNING,
    REJECTED,
    iso,
    make_entry,
    utc_now,
)
from eval_queue.flavors import Catalogue, Flavor
from harness.errors import FAILURE_KINDS
from harness.record import check_record_dict
from leaderboard.load import frames_from_table
from store import Stores, layout
from store.hub import HubDatasetStore
from store.table import read_results_table
from submissions import submit
from tests._queue_helpers import FAST, fake_harness_cmd
from tests._store_helpers import hub_server  # noqa: F401  (fixture)


@pytest.fixture
def board(hub_server, monkeypatch, tmp_path):  # noqa: F811
    """A board whose evaluations go to (fake) Hugging Face Jobs."""
    env = {
        "LEADERBOARD_DISPATCH": "jobs",
        "QUEUE_REPO": "org/queue",
        "RESULTS_REPO": "org/results",
        "LEADERBOARD_JOB_FLAVORS": "cpu-basic,cpu-upgrade,t4-small",
        "LEADERBOARD_JOBS_IMAGE": "hf.co/spaces/org/board",
        "LEADERBOARD_HARNESS_CMD": " ".join(fake_harness_cmd()),
        "LEADERBOARD_WORKER_DEVICES": "cpu",
        "LEADERBOARD_RATE_LIMIT": "0",
        "OMP_NUM_THREADS": "1",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    for k in ("LEADERBOARD_HARDWARE_PROFILE", "FAKE_HARNESS_MODE", "FAKE_HARNESS_SLEEP", "SPACE_ID"):
        monkeypatch.delenv(k, raising=False)
    stores = Stores(
        results=HubDatasetStore("org/results", name="results"),
        queue=HubDatasetStore("org/queue", name="queue"),
        backend="hub",
    )
    yield stores
    hub_server.jobs.stop_all()


def dispatcher(stores, **overrides) -> Dispatcher:
    s = DispatchSettings.from_env(backoff_s=0.0, **overrides)
    return Dispatcher(stores, s, flavors=Catalogue())


def drive(d: Dispatcher, entry_id: str, until, timeout: float = 120.0):
    """Dispatcher passes until ``until(entry)``; returns the entry."""
    deadline = time.monotonic() + timeout
    while True:
        d.run_pass()
        e = get_entry(d.stores.queue, entry_id)
        if until(e):
            return e
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; entry is {e.status}: {[(j.flavor, j.status) for j in e.jobs]}")
        time.sleep(0.2)


def approved_entry(stores, flavors=("cpu-basic",), model="resnet10t"):
    from harness.config import BenchmarkConfig

    cat = {f.name: f for f in Catalogue().flavors()}
    cfg = BenchmarkConfig.from_dict(FAST).to_dict()
    e = make_entry(
        model,
        "timm",
        None,
        cfg,
        "tester",
        utc_now(),
        APPROVED,
        "test",
        flavors=tuple(cat[f] for f in flavors),
    )
    return create_entry(stores.queue, e)


def test_two_flavors_end_to_end_give_two_priced_rows(board, hub_server):  # noqa: F811
    e = submit(board, "resnet10t", config=FAST, submitted_by="alice", flavors="cpu-basic,cpu-upgrade",
               flavor_catalogue=Catalogue())  # fmt: skip
    assert [j.flavor for j in e.jobs] == ["cpu-basic", "cpu-upgrade"]
    assert all(j.status == JOB_QUEUED for j in e.jobs)
    approve(board.queue, e.id, by="maint")
    d = dispatcher(board)
    done = drive(d, e.id, lambda x: x.status in (FINISHED, FAILED))
    assert done.status == FINISHED, done.error
    assert all(j.status == JOB_FINISHED and j.result_key and j.job_id and j.attempts == 1 for j in done.jobs)
    specs = hub_server.jobs.started
    assert len(specs) == 2
    for spec in specs:  # the Space image, exactly this job, repos as env, the token only as a secret
        assert spec["spaceId"] == "org/board"
        assert spec["command"][:6] == ["python", "-m", "eval_queue", "work", "--job", e.id]
        assert spec["environment"]["QUEUE_REPO"] == "org/queue"
        assert "HF_TOKEN" not in spec["environment"] and spec["secrets"] == {"HF_TOKEN": hub_server.token}
        assert spec["labels"]["entry"] == e.id and spec["timeoutSeconds"] > 0
    keys = {j.result_key for j in done.jobs}
    assert len(keys) == 2 and all(board.results.exists(layout.record_path(k)) for k in keys)
    wide, _ = frames_from_table(read_results_table(board.results, validate=check_record_dict))
    assert set(wide["flavor"]) == {"cpu-basic", "cpu-upgrade"}
    assert set(wide["hardware_profile"]) == {"hf-jobs-cpu-basic", "hf-jobs-cpu-upgrade"}
    by = wide.set_index("flavor")
    assert by.loc["cpu-basic", "usd_per_hour"] == pytest.approx(0.000167 * 60)
    tput = by.loc["cpu-upgrade", "throughput_ips"]
    assert by.loc["cpu-upgrade", "cost_per_million_images"] == pytest.approx(0.03 / (tput * 3600) * 1e6)
    # a second pass changes nothing: no Job is started twice
    d.run_pass()
    assert len(hub_server.jobs.started) == 2


def test_job_killed_mid_run_is_retried_once_and_gives_one_row(board, hub_server, monkeypatch):  # noqa: F811
    monkeypatch.setenv("FAKE_HARNESS_SLEEP", "2")
    e = approved_entry(board)
    hub_server.jobs.kill_next(1, after_s=1.5)
    done = drive(dispatcher(board), e.id, lambda x: x.status in (FINISHED, FAILED))
    [job] = done.jobs
    assert done.status == FINISHED and job.status == JOB_FINISHED and job.attempts == 2
    assert len(hub_server.jobs.started) == 2
    notes = " ".join(ev.note for ev in done.events)
    assert "settled" in notes or "finished" in notes
    assert len(board.results.list_files(layout.RECORDS_DIR)) == 1


def test_error_exhausts_attempts_with_stage_and_log_lines(board, hub_server, monkeypatch):  # noqa: F811
    monkeypatch.setenv("FAKE_HARNESS_SLEEP", "5")
    e = approved_entry(board)
    hub_server.jobs.kill_next(1, after_s=0.05)
    hub_server.jobs.kill_next(1, after_s=2.5)
    done = drive(dispatcher(board, max_attempts=2), e.id, lambda x: x.status in (FINISHED, FAILED))
    [job] = done.jobs
    assert done.status == FAILED and job.status == JOB_FAILED and job.attempts == 2
    assert job.error.kind == "crashed" and "ERROR: killed" in job.error.message
    assert done.error.kind in FAILURE_KINDS
    assert "evaluating job cpu-basic" in job.error.traceback  # the last log lines of the Job
    assert board.results.list_files(layout.RECORDS_DIR) == []


def test_harness_failure_inside_the_job_is_not_retried(board, hub_server, monkeypatch):  # noqa: F811
    monkeypatch.setenv("FAKE_HARNESS_MODE", "error")
    e = approved_entry(board)
    done = drive(dispatcher(board), e.id, lambda x: x.status in (FINISHED, FAILED))
    [job] = done.jobs
    assert job.status == JOB_FAILED and job.error.kind == "unknown_architecture" and job.attempts == 1


def test_cancel_cancels_running_jobs(board, hub_server, monkeypatch):  # noqa: F811
    monkeypatch.setenv("FAKE_HARNESS_SLEEP", "30")
    e = approved_entry(board, ("cpu-basic", "cpu-upgrade"))
    d = dispatcher(board)
    drive(d, e.id, lambda x: all(j.status == JOB_RUNNING and j.job_id for j in x.jobs))
    cancel(board.queue, e.id, by="maint", reason="wrong model")
    d.run_pass()
    after = get_entry(board.queue, e.id)
    assert after.status == REJECTED and all(j.status == JOB_CANCELED for j in after.jobs)
    deadline = time.monotonic() + 30
    while hub_server.jobs.running() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert {j.stage for j in hub_server.jobs.jobs.values()} == {"CANCELED"}
    assert board.results.list_files(layout.RECORDS_DIR) == []


def test_running_cap_holds_jobs_back_visibly(board, hub_server):  # noqa: F811
    hub_server.jobs.never_start(3)
    e = approved_entry(board, ("cpu-basic", "cpu-upgrade", "t4-small"))
    d = dispatcher(board, max_running=1)
    report = d.run_pass()
    assert len(report.started) == 1 and len(hub_server.jobs.started) == 1
    e = get_entry(board.queue, e.id)
    held = [j for j in e.jobs if j.status == JOB_QUEUED]
    assert len(held) == 2 and all("1 of 1 Jobs already running" in j.waiting for j in held)


def test_daily_budget_holds_jobs_back(board, hub_server):  # noqa: F811
    from dataclasses import replace

    from eval_queue import jobs as job_ops

    spent = approved_entry(board, ("t4-small",), model="resnet14t")
    two_hours_ago = iso(utc_now() - timedelta(hours=2))
    job_ops.change_job(
        board.queue, spent.id, "t4-small",
        lambda _e, j: replace(j, status=JOB_FINISHED, started_at=two_hours_ago, finished_at=iso(utc_now()),
                              usd_per_hour=3.0, result_key="k"),
        "test",
    )  # fmt: skip
    assert spent_usd(list_entries(board.queue), utc_now()) == pytest.approx(6.0, rel=0.01)
    e = approved_entry(board)
    report = dispatcher(board, budget_usd_per_day=5.0).run_pass()
    assert report.started == [] and hub_server.jobs.started == []
    [job] = get_entry(board.queue, e.id).jobs
    assert job.status == JOB_QUEUED and "daily budget" in job.waiting
    report = dispatcher(board, budget_usd_per_day=50.0).run_pass()
    assert report.started == [f"{e.id}/cpu-basic"]


def test_429_from_the_jobs_api_is_retried_without_losing_the_entry(board, hub_server):  # noqa: F811
    hub_server.jobs.never_start(1)
    e = approved_entry(board)
    hub_server.fail_next_requests(2, 429, "POST", "/api/jobs/org")
    d = dispatcher(board)
    for _ in range(2):
        d.run_pass()
        [job] = get_entry(board.queue, e.id).jobs
        assert job.status == JOB_QUEUED and job.attempts == 0 and "429" in job.waiting
    d.run_pass()
    [job] = get_entry(board.queue, e.id).jobs
    assert job.status == JOB_RUNNING and job.attempts == 1 and job.job_id and job.waiting == ""
    hub_server.fail_next_requests(1, 503, "GET", f"/api/jobs/org/{job.job_id}")
    d.run_pass()  # inspect fails: still RUNNING, the reason shown
    [job] = get_entry(board.queue, e.id).jobs
    assert job.status == JOB_RUNNING and "503" in job.waiting


def test_job_that_never_starts_times_out_and_is_cancelled(board, hub_server):  # noqa: F811
    hub_server.jobs.never_start(1)
    e = approved_entry(board)
    d = dispatcher(board, timeout_s=0.5, setup_s=0.5, max_attempts=1)
    d.run_pass()
    time.sleep(1.2)
    d.run_pass()
    [job] = get_entry(board.queue, e.id).jobs
    assert job.status == JOB_FAILED and job.error.kind == "timeout" and "never started" in job.error.message
    assert get_entry(board.queue, e.id).error.kind == "timeout"
    assert [j.stage for j in hub_server.jobs.jobs.values()] == ["CANCELED"]


def test_stale_or_duplicate_job_run_does_nothing(board, hub_server):  # noqa: F811
    """Jobs may run a Job twice; a run for an attempt that is not the current one changes nothing."""
    from eval_queue.worker import Worker, WorkerSettings

    hub_server.jobs.never_start(1)
    e = approved_entry(board)
    dispatcher(board).run_pass()
    w = Worker(board, WorkerSettings(harness_cmd=fake_harness_cmd(), devices=("cpu",)))
    assert w.run_job(e.id, "cpu-basic", 7).status == "STALE"
    assert w.run_job(e.id, "no-such-flavor", 1).status == "STALE"
    assert board.results.list_files(layout.RECORDS_DIR) == []


def test_catalogue_filters_prices_and_defaults_to_cheapest_cpu(board, hub_server, monkeypatch):  # noqa: F811
    monkeypatch.setenv("LEADERBOARD_JOB_FLAVORS", "t4-small,cpu-upgrade,cpu-basic,unknown-flavor")
    cat = Catalogue()
    assert [f.name for f in cat.flavors()] == ["t4-small", "cpu-upgrade", "cpu-basic"]
    assert cat.default().name == "cpu-basic"
    assert cat.get("t4-small") == Flavor(
        "t4-small", "Nvidia T4 - small · 4 vCPU · 15 GB", "T4", pytest.approx(0.40002)
    )
    assert [f.name for f in cat.pick(["cpu-upgrade", "cpu-upgrade"])] == ["cpu-upgrade"]
    with pytest.raises(Exception, match="not offered"):
        cat.pick("a100-large")
    hub_server.fail_next_requests(1, 503, "GET", "/api/jobs/hardware")
    assert len(cat.flavors(refresh=True)) == 3 and "503" in (cat.problem or "")  # last good list kept


def test_submit_refuses_cuda_on_a_cpu_flavor(board):
    from submissions import SubmissionRefused

    with pytest.raises(SubmissionRefused, match="needs a GPU flavor"):
        submit(board, "resnet10t", config={**FAST, "device": "cuda"}, submitted_by="a", flavors="cpu-basic",
               flavor_catalogue=Catalogue())  # fmt: skip


def test_scheduler_runs_the_dispatcher_in_jobs_mode(board, hub_server):  # noqa: F811
    from eval_queue.scheduler import start_background_worker

    hub_server.jobs.never_start(1)
    e = approved_entry(board)
    sched = start_background_worker(board, interval_s=1.0)
    try:
        assert sched.dispatcher is not None
        deadline = time.monotonic() + 30
        while get_entry(board.queue, e.id).jobs[0].status != JOB_RUNNING:
            assert time.monotonic() < deadline, "the scheduled dispatcher never started the job"
            time.sleep(0.2)
    finally:
        sched.shutdown(wait=True)


@pytest.mark.parametrize(
    ("unset", "message"),
    [
        ("HF_TOKEN", "needs QUEUE_REPO, RESULTS_REPO and HF_TOKEN"),
        ("LEADERBOARD_JOBS_IMAGE", "LEADERBOARD_JOBS_IMAGE"),
    ],
)
def test_dispatch_settings_refuse_an_incomplete_setup(board, monkeypatch, unset, message):
    monkeypatch.delenv(unset)
    with pytest.raises(Exception, match=message):
        DispatchSettings.from_env()


def test_dispatch_settings_default_to_the_space_image_and_repo_owner(board, monkeypatch):
    monkeypatch.delenv("LEADERBOARD_JOBS_IMAGE")
    monkeypatch.setenv("SPACE_ID", "org/board")
    s = DispatchSettings.from_env()
    assert (s.image, s.namespace) == ("hf.co/spaces/org/board", "org")
    assert s.env["QUEUE_REPO"] == "org/queue" and "HF_TOKEN" not in s.env


def test_hub_error_classification():
    import httpx2 as httpx
    from huggingface_hub.errors import HfHubHTTPError

    from eval_queue.dispatch import hub_error

    def http(status):
        req = httpx.Request("POST", "https://huggingface.co/api/jobs/org")
        return HfHubHTTPError(f"{status}", response=httpx.Response(status, request=req))

    for status in (401, 403, 429, 500, 503):
        assert str(status) in (hub_error(http(status)) or "")
    assert hub_error(http(400)) is None and hub_error(http(404)) is None
    assert "cannot reach" in (hub_error(httpx.ConnectError("refused")) or "")
    assert "cannot reach" in (hub_error(ConnectionResetError()) or "")
    assert hub_error(ValueError("bug")) is None


def test_entries_queued_without_jobs_are_adopted_on_the_default_flavor(board, hub_server):  # noqa: F811
    from eval_queue.entries import enqueue_approved
    from tests._queue_helpers import add_approved

    hub_server.jobs.never_start(2)
    old = add_approved(board.queue, "resnet10t", FAST)  # as an older version (or local mode) wrote it
    seeded = enqueue_approved(board.queue, "resnet14t", "system", FAST)
    assert [j.flavor for j in seeded.jobs] == ["cpu-basic"]
    report = dispatcher(board).run_pass()
    assert sorted(report.started) == sorted([f"{old.id}/cpu-basic", f"{seeded.id}/cpu-basic"])
    adopted = get_entry(board.queue, old.id)
    assert adopted.jobs[0].status == JOB_RUNNING and "to Hugging Face Jobs" in adopted.events[-2].note


def test_same_model_on_another_flavor_is_not_a_duplicate(board):
    from submissions import SubmissionRefused

    first = submit(
        board, "resnet10t", config=FAST, submitted_by="a", flavors="cpu-basic", flavor_catalogue=Catalogue()
    )
    other = submit(
        board, "resnet10t", config=FAST, submitted_by="a", flavors="cpu-upgrade", flavor_catalogue=Catalogue()
    )
    assert first.id != other.id
    with pytest.raises(SubmissionRefused, match="already"):
        submit(
            board,
            "resnet10t",
            config=FAST,
            submitted_by="b",
            flavors=["cpu-basic"],
            flavor_catalogue=Catalogue(),
        )


def test_cli_job_flags_go_together_and_list_shows_jobs(board, hub_server, tmp_path):  # noqa: F811
    import os

    from tests._queue_helpers import run_queue_cli

    approved_entry(board, ("cpu-basic", "t4-small"))
    env = dict(os.environ)
    bad = run_queue_cli("work", "--job", "x", "--once", env=env)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines()[-1] == (
        "error: --job, --flavor and --attempt go together"
    )
    listed = run_queue_cli("list", env=env)
    assert listed.returncode == 0 and "jobs: cpu-basic QUEUED, t4-small QUEUED" in listed.stdout


def test_cancel_retries_after_a_hub_error(board, hub_server):  # noqa: F811
    hub_server.jobs.never_start(1)
    e = approved_entry(board)
    d = dispatcher(board)
    d.run_pass()
    cancel(board.queue, e.id, by="maint", reason="stop")
    hub_server.fail_next_requests(1, 429, "POST", "/cancel")
    d.run_pass()
    [job] = get_entry(board.queue, e.id).jobs
    assert job.status == JOB_RUNNING and "429" in job.waiting  # not forgotten: still to cancel
    d.run_pass()
    [job] = get_entry(board.queue, e.id).jobs
    assert job.status == JOB_CANCELED and job.error.kind == "rejected"
    assert [j.stage for j in hub_server.jobs.jobs.values()] == ["CANCELED"]
