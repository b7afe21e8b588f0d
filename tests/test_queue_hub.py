"""The queue on the Hub backend (offline fake Hub): same CAS guarantees, and a Hub model evaluated end to end
by the real harness with entries and results stored in Hub dataset repos."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from eval_queue.entries import (
    LeaseLost,
    approve,
    claim_next,
    finish,
    get_entry,
    list_entries,
    recover_expired,
)
from eval_queue.entry import APPROVED, FINISHED, RUNNING, utc_now
from eval_queue.worker import Worker, WorkerSettings
from store import Stores
from store.hub import HubDatasetStore
from submissions import SubmissionSettings, submit
from tests._queue_helpers import FAST, add_approved, cli_env, run_queue_cli
from tests._store_helpers import hub_server  # noqa: F401  (fixture)


def hub_stores() -> Stores:
    return Stores(
        results=HubDatasetStore("org/results", name="results"),
        queue=HubDatasetStore("org/queue", name="queue"),
        backend="hub",
    )


def test_hub_claims_are_exclusive_even_with_lost_commits(hub_server):  # noqa: F811
    stores = hub_stores()
    ids = {add_approved(stores.queue, "resnet10t", {**FAST, "batch_sizes": [bs]}).id for bs in range(1, 7)}
    hub_server.fail_next_commits(3, 412)  # other writers "moved first" three times
    claimed: dict[str, list[str]] = {}
    lock = threading.Lock()

    def worker(name):
        queue = HubDatasetStore("org/queue", name="queue")  # one client per worker, like separate machines
        while (e := claim_next(queue, name, lease_s=60)) is not None:
            with lock:
                claimed.setdefault(e.id, []).append(name)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(claimed) == ids and all(len(v) == 1 for v in claimed.values()), claimed
    assert {e.status for e in list_entries(stores.queue)} == {RUNNING}


def test_hub_recovery_and_lease_owner_check(hub_server):  # noqa: F811
    stores = hub_stores()
    e = add_approved(stores.queue, "resnet10t", FAST)
    claim_next(stores.queue, "old", lease_s=1)
    [back] = recover_expired(stores.queue, now=utc_now() + timedelta(seconds=5))
    assert back.status == APPROVED and back.attempts == 1
    claim_next(stores.queue, "new", lease_s=60)
    with pytest.raises(LeaseLost):
        finish(stores.queue, e.id, "old", "k")
    assert finish(stores.queue, e.id, "new", "k").status == FINISHED


@pytest.fixture
def tiny_hub_model(hub_server, tmp_path):  # noqa: F811
    import timm
    import torch

    from harness.models import save_hub_layout

    torch.manual_seed(0)
    cfg = {"input_size": [3, 32, 32], "mean": [0.5] * 3, "std": [0.5] * 3, "crop_pct": 1.0}
    model = timm.create_model("test_resnet", pretrained=False, num_classes=10, pretrained_cfg=dict(cfg))
    save_hub_layout(model, "test_resnet", tmp_path / "tiny", cfg)
    return hub_server.seed_model_repo("org/tiny", tmp_path / "tiny")


def test_hub_model_end_to_end_with_real_harness(hub_server, tiny_hub_model, tmp_path):  # noqa: F811
    sha = tiny_hub_model
    stores = hub_stores()
    e = submit(
        stores, "org/tiny", config=FAST, submitted_by="alice", settings=SubmissionSettings(False, 10, None)
    )
    assert e.revision == sha
    approve(stores.queue, e.id, by="maint")
    [outcome] = Worker(stores, WorkerSettings(lease_s=30, heartbeat_s=1, timeout_s=240)).work(once=True)
    done = get_entry(stores.queue, e.id)
    assert outcome.status == FINISHED and done.status == FINISHED, done.error
    rec = stores.results.read_json(f"records/{done.result_key}.json")
    assert rec["model"]["id"] == "hf-hub:org/tiny" and rec["model"]["revision"] == sha
    assert rec["model"]["pretrained"] is True and rec["runs"][0]["status"] == "ok"
    from harness.record import check_record_dict
    from store.table import read_results_table

    table = read_results_table(HubDatasetStore("org/results", name="results"), validate=check_record_dict)
    assert len(table) == 1
    # the CLI reads the same Hub datasets from RESULTS_REPO / QUEUE_REPO (+ HF_ENDPOINT, HF_TOKEN)
    env = cli_env(tmp_path / "unused", RESULTS_REPO="org/results", QUEUE_REPO="org/queue")
    listed = run_queue_cli("list", env=env)
    assert listed.returncode == 0 and e.id in listed.stdout and "FINISHED" in listed.stdout, listed.stderr
