"""Shared store test helpers: the fake Hub fixture (re-exported) and multiprocessing workers.

Other test files can use the fake Hub with::

    from tests._store_helpers import hub_server  # noqa: F401  (the pytest fixture)

See ``tests/hub_server.py`` for what the fixture sets up.
"""

from __future__ import annotations

import time

from store.base import CorruptFileError, DatasetStore
from tests.hub_server import HubServer, configure_hf_hub, git_blob_sha, hub_server

__all__ = [
    "HubServer",
    "configure_hf_hub",
    "git_blob_sha",
    "hub_server",
    "make_store",
    "increment_worker",
    "watch_worker",
]

QUEUE_FILE = "entries/counter.json"


def make_store(spec: dict) -> DatasetStore:
    """Open a store from a picklable description (so child processes can open the same dataset)."""
    if spec["kind"] == "local":
        from store.local import LocalDatasetStore

        return LocalDatasetStore(spec["root"], spec["name"])
    from store.hub import HubDatasetStore

    return HubDatasetStore(spec["repo_id"], spec["name"], token=spec["token"], endpoint=spec["endpoint"])


def increment_worker(spec: dict, worker: int, count: int) -> dict:
    """``count`` read-modify-write increments of the shared queue file; returns timing facts."""
    store = make_store(spec)
    retries = 0

    for i in range(count):
        calls = 0

        def add(current: dict | None, i: int = i) -> dict:
            nonlocal calls
            calls += 1
            current = current or {"counter": 0, "items": []}
            return {"counter": current["counter"] + 1, "items": [*current["items"], [worker, i]]}

        store.update_json(QUEUE_FILE, add, message=f"worker {worker} item {i}", attempts=200)
        retries += calls - 1
    return {"worker": worker, "retries": retries, "finished_at": time.time()}


def watch_worker(spec: dict, total: int, deadline: float) -> dict:
    """Read the queue file until it holds ``total`` items: every read must parse and be self-consistent."""
    store = make_store(spec)
    reads, torn, last = 0, [], -1
    while last < total and time.time() < deadline:
        try:
            obj = store.read_json(QUEUE_FILE)
        except CorruptFileError as exc:
            torn.append(str(exc))
            continue
        reads += 1
        if obj is None:
            continue
        if obj["counter"] != len(obj["items"]) or obj["counter"] < last:
            torn.append(f"inconsistent read: counter={obj['counter']} items={len(obj['items'])} last={last}")
        last = obj["counter"]
    return {"reads": reads, "torn": torn}
