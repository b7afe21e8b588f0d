"""Submission limits under concurrency: the rate limit and the duplicate check hold when separate processes
submit at the same moment, on the local store and on the (fake) Hub; a failed enqueue hands back what it
took; a stale claim (rejected, failed or abandoned entry) does not block a resubmission."""

from __future__ import annotations

import multiprocessing as mp
from datetime import timedelta

import pytest

from eval_queue.claims import ORPHAN_AFTER_S, claim
from eval_queue.entries import list_entries, reject
from eval_queue.entry import fingerprint, utc_now
from store import Stores, layout
from store.hub import HubDatasetStore
from submissions import SubmissionRefused, SubmissionSettings, submit
from tests._queue_helpers import FAST, make_stores
from tests.hub_server import hub_server  # noqa: F401  (pytest fixture)

LIMITED = SubmissionSettings(allow_local_dirs=False, max_params_m=None, rate_limit=(5, timedelta(days=7)))
OPEN = SubmissionSettings(allow_local_dirs=False, max_params_m=None, rate_limit=None)


def _stores(kind: str, root: str) -> Stores:
    if kind == "hub":
        return Stores(
            results=HubDatasetStore("org/results", name="results"),
            queue=HubDatasetStore("org/queue", name="queue"),
            backend="hub",
        )
    from pathlib import Path

    return make_stores(Path(root))


def _submit_one(kind, root, who, batch, settings, barrier, out):
    """One submitting process: wait for the others, submit, report the outcome."""
    stores = _stores(kind, root)  # its own clients, like separate app replicas
    barrier.wait(timeout=60)
    try:
        e = submit(
            stores, "resnet10t", config={**FAST, "batch_sizes": [batch]}, submitted_by=who, settings=settings
        )
        out.put(("ok", e.id))
    except SubmissionRefused as exc:
        out.put(("refused", str(exc)))
    except Exception as exc:  # noqa: BLE001 - reported to the test, which fails on it
        out.put(("error", f"{type(exc).__name__}: {exc}"))


def _race(
    kind: str, root: str, jobs: list[tuple[str, int]], settings: SubmissionSettings
) -> list[tuple[str, str]]:
    import timm  # noqa: F401  (imported once here; the forked submitters share it)

    ctx = mp.get_context("fork")
    barrier, out = ctx.Barrier(len(jobs)), ctx.Queue()
    procs = [
        ctx.Process(target=_submit_one, args=(kind, root, who, batch, settings, barrier, out))
        for who, batch in jobs
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=180) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert not [r for r in results if r[0] == "error"], results
    return results


@pytest.fixture(params=["local", "hub"])
def backend(request, tmp_path):
    if request.param == "hub":
        request.getfixturevalue("hub_server")
    return request.param, str(tmp_path / "data")


def test_eight_submits_at_once_with_a_limit_of_five_accept_exactly_five(backend):
    kind, root = backend
    results = _race(kind, root, [("alice", b) for b in range(1, 9)], LIMITED)
    accepted = [r for r in results if r[0] == "ok"]
    refused = [r for r in results if r[0] == "refused"]
    assert len(accepted) == 5 and len(refused) == 3, results
    assert all("rate limit: alice made 5 submissions" in msg for _, msg in refused), refused
    stored = list_entries(_stores(kind, root).queue)
    assert sorted(e.id for e in stored) == sorted(i for _, i in accepted)


def test_the_same_model_submitted_at_once_makes_one_entry(backend):
    kind, root = backend
    results = _race(kind, root, [("alice", 1), ("bob", 1), ("carol", 1), ("dave", 1)], OPEN)
    accepted = [r for r in results if r[0] == "ok"]
    assert len(accepted) == 1, results
    assert all("already in the queue as" in msg for kind_, msg in results if kind_ == "refused"), results
    assert [e.id for e in list_entries(_stores(kind, root).queue)] == [accepted[0][1]]


def test_a_failed_enqueue_hands_back_its_claim_and_rate_slot(tmp_path, monkeypatch):
    stores = make_stores(tmp_path)
    one = SubmissionSettings(allow_local_dirs=False, max_params_m=None, rate_limit=(1, timedelta(days=1)))
    import sys

    import eval_queue.entries

    submit_module = sys.modules["submissions.submit"]  # the package re-exports the function as `submit`

    def broken(queue, entry):
        raise OSError("disk full")

    monkeypatch.setattr(submit_module, "create_entry", broken)
    with pytest.raises(OSError, match="disk full"):
        submit(stores, "resnet10t", config=FAST, submitted_by="alice", settings=one)
    monkeypatch.setattr(submit_module, "create_entry", eval_queue.entries.create_entry)
    assert stores.queue.list_files(f"{layout.INDEX_DIR}/submissions") == []  # claim handed back
    e = submit(stores, "resnet10t", config=FAST, submitted_by="alice", settings=one)  # slot handed back too
    assert [x.id for x in list_entries(stores.queue)] == [e.id]
    with pytest.raises(SubmissionRefused, match="rate limit: alice made 1 submissions"):
        submit(stores, "resnet10t", config={**FAST, "batch_sizes": [2]}, submitted_by="alice", settings=one)


def test_stale_claims_do_not_block_and_live_ones_do(tmp_path):
    stores = make_stores(tmp_path)
    first = submit(stores, "resnet10t", config=FAST, submitted_by="alice", settings=OPEN)
    with pytest.raises(SubmissionRefused, match=f"already in the queue as {first.id}"):
        submit(stores, "resnet10t", config=FAST, submitted_by="bob", settings=OPEN)
    reject(stores.queue, first.id, by="maint", reason="try again")  # a rejected entry frees its claim
    second = submit(stores, "resnet10t", config=FAST, submitted_by="bob", settings=OPEN)
    assert second.id != first.id
    # a claim whose entry never appeared (a crashed submit) blocks while young, not once abandoned
    cfg = {**FAST, "batch_sizes": [4]}
    from harness.config import BenchmarkConfig

    fp = fingerprint("resnet10t", None, BenchmarkConfig.from_dict(cfg).to_dict())
    claim(stores.queue, fp, "20260101T000000Z-ghost-000000", utc_now(), "resnet10t")
    with pytest.raises(SubmissionRefused, match="20260101T000000Z-ghost-000000 \\(being submitted\\)"):
        submit(stores, "resnet10t", config=cfg, submitted_by="carol", settings=OPEN)
    later = utc_now() + timedelta(seconds=ORPHAN_AFTER_S + 1)
    third = submit(stores, "resnet10t", config=cfg, submitted_by="carol", settings=OPEN, now=later)
    assert third.status == "PENDING_REVIEW"


def test_rate_limit_counts_entries_from_before_the_index_and_ignores_junk(tmp_path):
    from eval_queue.entries import create_entry
    from eval_queue.entry import make_entry

    stores = make_stores(tmp_path)
    two = SubmissionSettings(allow_local_dirs=False, max_params_m=None, rate_limit=(2, timedelta(days=7)))
    for bs in (1, 2):  # written by an older version: no index file
        create_entry(
            stores.queue, make_entry("resnet10t", "timm", None, {"batch_sizes": [bs]}, "alice", utc_now())
        )
    with pytest.raises(SubmissionRefused, match="rate limit: alice made 2 submissions"):
        submit(stores, "resnet10t", config=FAST, submitted_by="alice", settings=two)
    # an index with junk slots (wrong types, bad times) is read defensively, never trusted
    stores.queue.write_json(
        layout.submitter_index_path("bob"),
        {"slots": [{"at": "yesterday", "entry_id": "x"}, {"at": 5}, "junk", {"at": None, "entry_id": []}]},
    )
    assert (
        submit(stores, "resnet10t", config=FAST, submitted_by="bob", settings=two).status == "PENDING_REVIEW"
    )
    stores.queue.write_bytes(layout.submitter_index_path("carol"), b"{not json")
    with pytest.raises(SubmissionRefused, match="unreadable; ask a maintainer"):
        submit(stores, "resnet10t", config={**FAST, "batch_sizes": [3]}, submitted_by="carol", settings=two)
