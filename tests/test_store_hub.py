"""Hub-specific behaviour of HubDatasetStore and of the fake Hub other tests rely on."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.errors import EntryNotFoundError

from store import get_stores
from store.base import ConflictError
from store.hub import HubAccessError, HubDatasetStore
from tests._store_helpers import HubServer, hub_server  # noqa: F401  (fixture)


def commits(server: HubServer) -> int:
    return sum(1 for method, path in server.requests if method == "POST" and "/commit/" in path)


def downloads(server: HubServer) -> int:
    return sum(1 for method, path in server.requests if method == "GET" and "/resolve/" in path)


@pytest.mark.parametrize("status", [409, 412])
def test_lost_race_is_retried(hub_server, status):  # noqa: F811
    store = HubDatasetStore("org/queue", name="queue")
    store.write_json("entries/e.json", {"n": 0})
    before = commits(hub_server)
    hub_server.fail_next_commits(3, status)
    assert store.update_json("entries/e.json", lambda cur: {"n": cur["n"] + 1}) == {"n": 1}
    assert commits(hub_server) - before == 4
    assert store.read_json("entries/e.json") == {"n": 1}


def test_conflict_error_after_attempt_budget(hub_server):  # noqa: F811
    store = HubDatasetStore("org/queue", name="queue")
    store.write_json("entries/e.json", {"n": 0})
    before = commits(hub_server)
    hub_server.fail_next_commits(3, 412)
    with pytest.raises(ConflictError, match="entries/e.json"):
        store.update_json("entries/e.json", lambda cur: {"n": cur["n"] + 1}, attempts=3)
    assert commits(hub_server) - before == 3
    assert store.read_json("entries/e.json") == {"n": 0}


def test_stale_parent_commit_rereads_and_reapplies(hub_server):  # noqa: F811
    """A real race: another writer commits between our read and our commit; our update must not erase it."""
    ours = HubDatasetStore("org/queue", name="queue")
    theirs = HubDatasetStore("org/queue", name="queue")
    ours.write_json("entries/e.json", {"events": []})
    seen = []

    def append(current):
        seen.append(list(current["events"]))
        if len(seen) == 1:  # the other writer moves first, after we read
            theirs.update_json("entries/e.json", lambda cur: {"events": [*cur["events"], "theirs"]})
        return {"events": [*current["events"], "ours"]}

    ours.update_json("entries/e.json", append)
    assert seen == [[], ["theirs"]]
    assert ours.read_json("entries/e.json") == {"events": ["theirs", "ours"]}


def test_cas_not_fooled_by_an_identical_concurrent_write(hub_server):  # noqa: F811
    """Two increments from the same snapshot write identical bytes; the second must still be rejected
    (huggingface_hub would otherwise drop it as 'unchanged on the branch head' and lose an increment)."""
    ours = HubDatasetStore("org/queue", name="queue")
    theirs = HubDatasetStore("org/queue", name="queue")
    ours.write_json("entries/c.json", {"n": 5})
    calls = []

    def bump(current):
        calls.append(current["n"])
        if len(calls) == 1:
            theirs.write_json("entries/c.json", {"n": current["n"] + 1})
        return {"n": current["n"] + 1}

    assert ours.update_json("entries/c.json", bump) == {"n": 7}
    assert calls == [5, 6]
    assert ours.read_json("entries/c.json") == {"n": 7}


def test_wrong_token_is_a_clear_one_line_error(hub_server):  # noqa: F811
    HubDatasetStore("org/results", name="results")  # exists now
    with pytest.raises(HubAccessError) as info:
        HubDatasetStore("org/new", name="results", token="hf_wrong")
    assert "org/new" in str(info.value) and "HF_TOKEN" in str(info.value) and "\n" not in str(info.value)

    reader = HubDatasetStore("org/results", name="results", token="hf_wrong")  # exists: reads are public
    assert reader.list_files() == []
    with pytest.raises(HubAccessError, match="org/results.*HTTP 401"):
        reader.write_json("records/a.json", {"a": 1})


def test_unreachable_endpoint_fails_fast_with_repo_id(unused_port_url):
    started = time.time()
    with pytest.raises(HubAccessError) as info:
        HubDatasetStore("org/results", name="results", token="x", endpoint=unused_port_url)
    assert time.time() - started < 10
    message = str(info.value)
    assert "org/results" in message and "unreachable" in message and "\n" not in message


@pytest.fixture
def unused_port_url() -> str:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_history_and_downloads_at_old_commits(hub_server):  # noqa: F811
    store = HubDatasetStore("org/results", name="results")
    store.write_json("records/a.json", {"v": 1})
    old = store.head()
    store.write_json("records/a.json", {"v": 2})
    assert store.head() != old
    assert store.read_json("records/a.json") == {"v": 2}
    path = hf_hub_download("org/results", "records/a.json", repo_type="dataset", revision=old)
    assert json.loads(Path(path).read_text()) == {"v": 1}
    with pytest.raises(EntryNotFoundError):
        hf_hub_download("org/results", "records/missing.json", repo_type="dataset")


def test_direct_commits_are_seen_and_corrupt_files_reported(hub_server):  # noqa: F811
    store = HubDatasetStore("org/results", name="results")
    hub_server.commit_files("org/results", {"records/a.json": b'{"a": 1}', "records/b.json": b'{"b":'})
    assert list(store.iter_json("records/")) == [("records/a.json", {"a": 1})]
    assert "records/b.json" in store.problems
    hub_server.commit_files("org/results", {"records/a.json": None})
    assert store.list_files("records/") == ["records/b.json"]


def test_listing_follows_pagination(hub_server):  # noqa: F811
    hub_server.page_size = 3
    store = HubDatasetStore("org/results", name="results")
    for i in range(10):
        store.write_json(f"records/r{i:02d}.json", {"i": i})
    assert store.list_files("records/") == [f"records/r{i:02d}.json" for i in range(10)]
    assert [obj["i"] for _, obj in store.iter_json("records/")] == list(range(10))
    assert sum("/tree/" in path and "cursor=" in path for _, path in hub_server.requests) >= 3


def test_reads_are_cached_by_commit(hub_server):  # noqa: F811
    store = HubDatasetStore("org/results", name="results")
    for i in range(5):
        store.write_json(f"records/r{i}.json", {"i": i})
    assert len(list(store.iter_json("records/"))) == 5
    first = downloads(hub_server)
    assert len(list(store.iter_json("records/"))) == 5  # same commit: nothing downloaded again
    store.read_json("records/r1.json")
    assert downloads(hub_server) == first
    store.write_json("records/r5.json", {"i": 5})
    assert len(list(store.iter_json("records/"))) == 6  # new commit: only the new file is fetched
    assert downloads(hub_server) == first + 1


def test_get_stores_selects_hub_backend(hub_server, monkeypatch):  # noqa: F811
    monkeypatch.setenv("RESULTS_REPO", "org/lb-results")
    monkeypatch.setenv("QUEUE_REPO", "org/lb-queue")
    stores = get_stores()
    assert stores.backend == "hub"
    stores.queue.write_json("entries/x.json", {"id": "x"})
    assert stores.results.list_files() == []
    assert hub_server.files("org/lb-queue")["entries/x.json"].startswith(b"{")


def test_fake_hub_serves_model_repos_to_timm(hub_server, tmp_path):  # noqa: F811
    import timm
    import torch
    from timm.models import save_for_hf

    torch.manual_seed(0)
    model = timm.create_model("test_vit", pretrained=False, num_classes=10)
    save_for_hf(model, tmp_path / "ckpt", safe_serialization=True)
    sha = hub_server.seed_model_repo("org/tiny-vit", tmp_path / "ckpt")

    info = HfApi().model_info("org/tiny-vit")
    assert info.sha == sha
    assert {s.rfilename for s in info.siblings} >= {"config.json", "model.safetensors"}
    assert HfApi().model_info("org/tiny-vit", revision=sha[:7]).sha == sha
    detailed = HfApi().model_info("org/tiny-vit", files_metadata=True)
    weights = (tmp_path / "ckpt" / "model.safetensors").stat().st_size
    assert {s.rfilename: s.size for s in detailed.siblings}["model.safetensors"] == weights
    assert detailed.safetensors.total == sum(p.numel() for p in model.state_dict().values())
    assert hf_hub_download("org/tiny-vit", "config.json", revision=sha).endswith("config.json")

    loaded = timm.create_model(f"hf-hub:org/tiny-vit@{sha}", pretrained=True)
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, loaded.state_dict()[name]), name
    assert hub_server.unknown == []
