"""Queue entries: allowed transitions only, compare-and-swap claims, leases, recovery, maintainers."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta

import pytest

from eval_queue import auth
from eval_queue.entries import (
    LeaseLost,
    approve,
    claim_next,
    create_entry,
    enqueue_approved,
    fail,
    finish,
    get_entry,
    heartbeat,
    list_entries,
    recover_expired,
    reject,
)
from eval_queue.entry import (
    APPROVED,
    FAILED,
    FINISHED,
    PENDING_REVIEW,
    REJECTED,
    RUNNING,
    TRANSITIONS,
    EntryError,
    EntryNotFound,
    InvalidTransition,
    QueueError,
    entry_path,
    make_entry,
    transition,
    utc_now,
)
from tests._queue_helpers import FAST, add_approved, cli_env, make_stores, run_queue_cli


@pytest.fixture
def stores(tmp_path):
    return make_stores(tmp_path / "data")


def pending(queue, model="resnet10t"):
    return create_entry(queue, make_entry(model, "timm", None, {"device": "cpu"}, "alice", utc_now()))


def test_transition_table_is_enforced():
    e = make_entry("m", "timm", None, {}, "alice", utc_now())
    for to in (RUNNING, FINISHED, FAILED, PENDING_REVIEW):
        with pytest.raises(InvalidTransition, match="PENDING_REVIEW; it cannot become"):
            transition(e, to, "x", utc_now())
    allowed = {(a, b) for a, bs in TRANSITIONS.items() for b in bs}
    assert allowed == {
        (PENDING_REVIEW, APPROVED),
        (PENDING_REVIEW, REJECTED),
        (APPROVED, RUNNING),
        (APPROVED, REJECTED),  # a maintainer cancels (entries.cancel)
        (RUNNING, FINISHED),
        (RUNNING, FAILED),
        (RUNNING, APPROVED),
        (RUNNING, REJECTED),
    }
    moved = transition(e, APPROVED, "bob", utc_now(), "ok")
    assert moved.status == APPROVED and e.status == PENDING_REVIEW  # pure: input untouched
    assert [(ev.status, ev.by) for ev in moved.events] == [
        (PENDING_REVIEW, "alice"),
        (APPROVED, "bob"),
    ]


def test_approve_reject_only_from_pending(stores):
    a, b = pending(stores.queue), pending(stores.queue, "resnet14t")
    approve(stores.queue, a.id, by="maint")
    with pytest.raises(InvalidTransition):
        approve(stores.queue, a.id, by="maint")
    with pytest.raises(InvalidTransition):
        reject(stores.queue, a.id, by="maint", reason="late")
    with pytest.raises(QueueError, match="needs a reason"):
        reject(stores.queue, b.id, by="maint", reason="  ")
    r = reject(stores.queue, b.id, by="maint", reason="not a vision model")
    assert r.status == REJECTED and r.error.message == "not a vision model"
    assert (r.events[-1].by, r.events[-1].note) == ("maint", "not a vision model")
    with pytest.raises(EntryNotFound):
        approve(stores.queue, "20260101T000000Z-nothing-000000", by="maint")
    for bad in ("../x", "a/b", "", "x" * 200, "a..b"):
        with pytest.raises(QueueError, match="invalid entry id"):
            entry_path(bad)
    assert [e.status for e in list_entries(stores.queue)] == [APPROVED, REJECTED]
    assert [e.id for e in list_entries(stores.queue, REJECTED)] == [b.id]


def test_concurrent_claims_give_each_entry_to_one_worker(stores):
    ids = {add_approved(stores.queue, "resnet10t", {**FAST, "batch_sizes": [bs]}).id for bs in range(1, 9)}
    claimed: dict[str, list[str]] = {}
    lock = threading.Lock()

    def worker(name):
        while (e := claim_next(stores.queue, name, lease_s=60)) is not None:
            with lock:
                claimed.setdefault(e.id, []).append(name)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(claimed) == ids and all(len(v) == 1 for v in claimed.values())
    for e in list_entries(stores.queue):
        assert e.status == RUNNING and e.lease.worker == claimed[e.id][0]


def test_claim_order_heartbeat_finish_and_lease_owner_checks(stores):
    first = add_approved(stores.queue, "resnet10t", FAST)
    add_approved(stores.queue, "resnet14t", FAST)
    e = claim_next(stores.queue, "w1", lease_s=30)
    assert e.id == first.id and e.status == RUNNING  # oldest first
    old_expiry = e.lease.expires_at
    hb = heartbeat(stores.queue, e.id, "w1", 60, "running", "measuring pytorch")
    assert hb.lease.expires_at > old_expiry and hb.progress.message == "measuring pytorch"
    with pytest.raises(LeaseLost):
        heartbeat(stores.queue, e.id, "w2", 60, "running", "not mine")
    with pytest.raises(LeaseLost):
        finish(stores.queue, e.id, "w2", "key")
    done = finish(stores.queue, e.id, "w1", "abc")
    assert done.status == FINISHED and done.result_key == "abc" and done.lease is None
    with pytest.raises(LeaseLost):
        fail(stores.queue, e.id, "w1", "timeout", "late")
    e2 = claim_next(stores.queue, "w1", lease_s=30)
    failed = fail(stores.queue, e2.id, "w1", "harness_error", "bad weights", "Traceback ...")
    assert failed.error == EntryError("harness_error", "bad weights", "Traceback ...")
    assert claim_next(stores.queue, "w1", lease_s=30) is None


def test_claims_respect_the_workers_devices(stores):
    gpu = add_approved(stores.queue, "resnet10t", {**FAST, "device": "cuda"})
    cpu = add_approved(stores.queue, "resnet10t", FAST)
    assert claim_next(stores.queue, "cpu-box", 60, devices=("cpu",)).id == cpu.id
    assert claim_next(stores.queue, "cpu-box", 60, devices=("cpu",)) is None
    assert claim_next(stores.queue, "gpu-box", 60, devices=("cpu", "cuda")).id == gpu.id


def test_enqueue_approved_refuses_unknown_and_duplicates(stores):
    e = enqueue_approved(stores.queue, "resnet10t", by="system", config=FAST)
    assert e.status == APPROVED and e.events[0].by == "system"
    with pytest.raises(QueueError, match=f"already queued as {e.id}"):
        enqueue_approved(stores.queue, "resnet10t", by="system", config=FAST)
    with pytest.raises(QueueError, match="unknown timm architecture"):
        enqueue_approved(stores.queue, "not_a_model", by="system")


def test_child_env_carries_no_secrets(monkeypatch):
    from eval_queue.worker import child_env

    for name in ("HF_TOKEN", "LEADERBOARD_ADMIN_TOKEN", "LEADERBOARD_TOKEN"):
        monkeypatch.setenv(name, "secret")
    env = child_env()
    assert "secret" not in env.values() and env["HF_HUB_DISABLE_IMPLICIT_TOKEN"] == "1"


def test_recover_expired_requeues_then_fails_at_the_cap(stores):
    e = add_approved(stores.queue, "resnet10t", FAST)
    claim_next(stores.queue, "dead-worker", lease_s=60)
    assert recover_expired(stores.queue, max_attempts=2) == []  # lease still valid
    later = utc_now() + timedelta(seconds=61)
    back = recover_expired(stores.queue, max_attempts=2, now=later)
    assert [(x.status, x.attempts) for x in back] == [(APPROVED, 1)]
    assert back[0].events[-1].note.startswith("lease of dead-worker expired")
    claim_next(stores.queue, "dead-again", lease_s=60)
    gone = recover_expired(stores.queue, max_attempts=2, now=utc_now() + timedelta(seconds=61))
    assert [(x.status, x.attempts, x.error.kind) for x in gone] == [(FAILED, 2, "lease_expired")]
    assert get_entry(stores.queue, e.id).status == FAILED


def test_is_maintainer(monkeypatch):
    monkeypatch.delenv("LEADERBOARD_ADMIN_TOKEN", raising=False)
    monkeypatch.setenv("MAINTAINERS", "Alice, bob")
    monkeypatch.setenv("MAINTAINER_ORGS", "vision-org")
    assert not auth.is_maintainer(token="anything") and not auth.is_maintainer(token="")
    with pytest.raises(auth.NotMaintainer, match="LEADERBOARD_ADMIN_TOKEN is not set"):
        auth.require_maintainer(token="x")
    monkeypatch.setenv("LEADERBOARD_ADMIN_TOKEN", "s3cret")
    assert auth.is_maintainer(token="s3cret")
    assert not auth.is_maintainer(token="s3cret ") and not auth.is_maintainer(token="S3CRET")
    with pytest.raises(auth.NotMaintainer, match="pass the admin token"):
        auth.require_maintainer(token="wrong")
    assert auth.is_maintainer("alice") and auth.is_maintainer(profile={"preferred_username": "bob"})
    assert not auth.is_maintainer("mallory") and not auth.is_maintainer(None)
    member = {"preferred_username": "carol", "orgs": [{"preferred_username": "vision-org"}]}
    assert auth.is_maintainer(profile=member)
    assert not auth.is_maintainer(profile={"preferred_username": "dave", "orgs": [{"name": "other"}]})
    with pytest.raises(auth.NotMaintainer, match="mallory is not a maintainer"):
        auth.require_maintainer("mallory")


def test_cli_non_maintainers_cannot_approve_or_reject(stores, tmp_path):
    e = pending(stores.queue)
    env = cli_env(tmp_path / "data", LEADERBOARD_ADMIN_TOKEN="s3cret", LEADERBOARD_TOKEN="")
    for args in (
        ["approve", e.id],
        ["approve", e.id, "--token", "guess"],
        ["reject", e.id, "--reason", "no"],
    ):
        r = run_queue_cli(*args, env=env)
        assert r.returncode == 2 and "not a maintainer" in r.stderr and r.stderr.count("\n") == 1
    assert get_entry(stores.queue, e.id).status == PENDING_REVIEW
    ok = run_queue_cli("approve", e.id, "--by", "maint", env={**env, "LEADERBOARD_TOKEN": "s3cret"})
    assert ok.returncode == 0, ok.stderr
    assert get_entry(stores.queue, e.id).events[-1].by == "maint"
    again = run_queue_cli("approve", e.id, "--token", "s3cret", env=env)
    assert again.returncode == 2 and "only PENDING_REVIEW entries can be approved" in again.stderr
    shown = run_queue_cli("show", "../../etc/passwd", env=env)
    assert shown.returncode == 2 and "invalid entry id" in shown.stderr


def test_cli_recover_list_and_show(stores, tmp_path):
    e = add_approved(stores.queue, "resnet10t", FAST)
    claim_next(stores.queue, "dead-worker", lease_s=0.01)
    env = cli_env(tmp_path / "data")
    time.sleep(0.05)
    rec = run_queue_cli("recover", env=env)
    assert rec.returncode == 0 and rec.stdout.split() == [e.id, APPROVED, "attempts", "1"], rec
    listed = run_queue_cli("list", "--status", "approved", env=env)
    assert listed.returncode == 0 and e.id in listed.stdout
    bad = run_queue_cli("list", "--status", "DONE", env=env)
    assert bad.returncode == 2 and bad.stderr.startswith("error: unknown status 'DONE'")
    shown = json.loads(run_queue_cli("show", e.id, env=env).stdout)
    assert shown["attempts"] == 1 and shown["events"][-1]["by"] == "recovery"
    assert run_queue_cli("bogus", env=env).returncode == 2
