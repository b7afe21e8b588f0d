"""Eight processes race read-modify-write increments on one queue file; nothing may be lost or torn."""

from __future__ import annotations

import multiprocessing as mp
import os
import time

from tests._store_helpers import QUEUE_FILE, hub_server, increment_worker, make_store, watch_worker  # noqa: F401

PROCESSES = 8


def _child(fn, args, barrier, results, slot) -> None:
    try:
        barrier.wait(timeout=120)  # every child has imported and opened its store: start the race together
        results.put((slot, fn(*args)))
    except BaseException as exc:  # reported to the parent, which fails the test
        results.put((slot, {"error": repr(exc)}))


def race(spec: dict, per_process: int) -> tuple[dict, list[dict], dict, float]:
    """Run the workers and one watcher in spawned processes; returns (final, worker facts, watch, seconds)."""
    ctx = mp.get_context("spawn")
    total = PROCESSES * per_process
    barrier = ctx.Barrier(PROCESSES + 2)
    results = ctx.Queue()
    tasks = [(increment_worker, (spec, w, per_process)) for w in range(PROCESSES)]
    tasks.append((watch_worker, (spec, total, time.time() + 120)))
    procs = [
        ctx.Process(target=_child, args=(fn, args, barrier, results, n)) for n, (fn, args) in enumerate(tasks)
    ]
    for proc in procs:
        proc.start()
    try:
        barrier.wait(timeout=120)
        started = time.time()
        out = dict(results.get(timeout=180) for _ in procs)
    finally:
        for proc in procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
    errors = [v["error"] for v in out.values() if "error" in v]
    assert not errors, errors
    facts = [out[n] for n in range(PROCESSES)]
    seconds = max(f["finished_at"] for f in facts) - started
    final = make_store(spec).read_json(QUEUE_FILE)
    return final, facts, out[PROCESSES], seconds


def check(final: dict, facts: list[dict], watch: dict, per_process: int) -> None:
    total = PROCESSES * per_process
    assert final["counter"] == total
    pairs = [tuple(p) for p in final["items"]]
    assert len(pairs) == total
    assert set(pairs) == {(w, i) for w in range(PROCESSES) for i in range(per_process)}
    # each process's own items appear in its order (a write never replaced a newer state)
    for w in range(PROCESSES):
        assert [i for pw, i in pairs if pw == w] == list(range(per_process))
    assert watch["torn"] == []
    assert watch["reads"] > 0


def test_local_store_concurrent_increments(tmp_path, capsys):
    spec = {"kind": "local", "root": str(tmp_path / "queue"), "name": "queue"}
    final, facts, watch, seconds = race(spec, per_process=50)
    check(final, facts, watch, per_process=50)
    with capsys.disabled():
        print(
            f"\n[local] {PROCESSES}x50 increments in {seconds:.2f} s, "
            f"{watch['reads']} concurrent reads, none torn"
        )


HUB_PER_PROCESS = int(os.environ.get("STORE_RACE_HUB_PER_PROCESS", "50"))


def test_hub_store_concurrent_increments(hub_server, capsys):  # noqa: F811
    spec = {
        "kind": "hub",
        "repo_id": "org/queue",
        "name": "queue",
        "token": hub_server.token,
        "endpoint": hub_server.url,
    }
    make_store(spec)  # create the repo once, before the race
    final, facts, watch, seconds = race(spec, per_process=HUB_PER_PROCESS)
    check(final, facts, watch, per_process=HUB_PER_PROCESS)
    retries = sum(f["retries"] for f in facts)
    commits = sum(1 for method, path in hub_server.requests if method == "POST" and "/commit/" in path)
    assert commits == PROCESSES * HUB_PER_PROCESS + retries  # every lost race cost one rejected commit
    with capsys.disabled():
        print(
            f"\n[hub] {PROCESSES}x{HUB_PER_PROCESS} increments in {seconds:.2f} s, "
            f"{retries} lost races retried, {watch['reads']} concurrent reads, none torn"
        )
