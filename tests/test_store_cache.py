"""The board keeps serving the last good table when a reload fails (issue 10 §2), and says so."""

from __future__ import annotations

import pytest

import store.local
import store.table
from leaderboard.cache import LeaderboardCache
from store.base import StoreWriteError
from store.hub import HubDatasetStore
from store.layout import RESULTS_TABLE, record_path
from store.local import LocalDatasetStore
from tests._leaderboard_helpers import make_record
from tests._store_helpers import hub_server  # noqa: F401  (fixture)


def put(st, key: str, model: str) -> None:
    st.write_json(record_path(key), make_record(key=key, model=model))


def models(snap) -> set[str]:
    return set(snap.wide["model"]) if "model" in snap.wide else set()


@pytest.fixture
def st(tmp_path) -> LocalDatasetStore:
    s = LocalDatasetStore(tmp_path / "results", "results")
    put(s, "k1", "resnet18")
    return s


def test_default_reader_checks_the_schema(st):
    bad = make_record(key="k2", model="bad")
    bad["runs"][0]["batch_size"] = "eight"
    st.write_json(record_path("k2"), bad)
    snap = LeaderboardCache(st, check_every_s=0).get()
    assert models(snap) == {"resnet18"}
    assert any("runs[0].batch_size" in p for p in snap.problems)


def test_failed_rebuild_keeps_the_last_good_frames(st, monkeypatch):
    cache = LeaderboardCache(st, check_every_s=0)
    first = cache.get()
    assert models(first) == {"resnet18"} and first.stale_since is None

    put(st, "k2", "vit_tiny")  # the table is stale now, and the rebuild cannot be read or written
    st.write_bytes(RESULTS_TABLE, b"PAR1 garbage")

    def broken(*args, **kwargs):
        raise StoreWriteError("cannot write results/results.parquet: No space left on device (ENOSPC)")

    monkeypatch.setattr(store.table, "collect_table", broken)
    snap = cache.get()
    assert models(snap) == {"resnet18"}  # still the old board, not an empty one
    assert snap.stale_since is not None and snap.loaded_at == first.loaded_at
    assert snap.problems[0].startswith(f"{RESULTS_TABLE}: reload failed (StoreWriteError: cannot write")
    assert "showing the table loaded at" in snap.problems[0]
    assert cache.get().stale_since == snap.stale_since  # retried, still failing: same "since"

    monkeypatch.undo()  # the disk has space again: the next check recovers
    snap = cache.get()
    assert models(snap) == {"resnet18", "vit_tiny"} and snap.stale_since is None
    assert not any("reload failed" in p for p in snap.problems)


def test_corrupt_table_that_cannot_be_written_back_still_serves_fresh_rows(st, monkeypatch):
    cache = LeaderboardCache(st, check_every_s=0)
    cache.get()
    st.write_bytes(RESULTS_TABLE, b"PAR1 garbage")
    put(st, "k2", "vit_tiny")
    monkeypatch.setattr(store.local.os, "replace", lambda *a: (_ for _ in ()).throw(OSError(28, "No space")))
    snap = cache.get()
    assert models(snap) == {"resnet18", "vit_tiny"}  # rebuilt in memory; the write failure is only logged
    assert any("unreadable results table" in p for p in snap.problems)


def test_first_load_failing_gives_an_empty_board_with_the_reason(st):
    def boom(_store):
        raise RuntimeError("disk on fire\nsecond line")

    snap = LeaderboardCache(st, boom, check_every_s=0).get()
    assert (
        snap.wide.empty
        and snap.problems[0] == f"{RESULTS_TABLE}: cannot be read (RuntimeError: disk on fire)"
    )


def test_hub_5xx_keeps_the_last_good_frames(hub_server):  # noqa: F811
    st = HubDatasetStore("org/results", name="results")
    put(st, "k1", "resnet18")
    cache = LeaderboardCache(st, check_every_s=0)
    assert models(cache.get()) == {"resnet18"}
    put(st, "k2", "vit_tiny")
    hub_server.fail_next_requests(1, 503, "GET", "/api/datasets/org/results")
    snap = cache.get()
    assert models(snap) == {"resnet18"} and "HTTP 503" in snap.problems[0]
    assert models(cache.get()) == {"resnet18", "vit_tiny"}  # the Hub is back


def test_a_new_record_is_noticed_without_listing_the_records_folder(st, monkeypatch):
    """The change check is two stat() calls (table, records folder), never a listing: with 100k records
    a listing took seconds on every check."""
    cache = LeaderboardCache(st, check_every_s=0)
    assert models(cache.get()) == {"resnet18"}
    first = cache.get()
    listed = []
    real = LocalDatasetStore.list_files
    monkeypatch.setattr(LocalDatasetStore, "list_files", lambda self, *a: listed.append(a) or real(self, *a))
    assert cache.get() is first  # nothing changed: the same snapshot, nothing listed
    assert listed == []
    put(st, "k2", "vit_tiny_patch16_224")  # a record the table lacks yet: the folder's mtime moves
    monkeypatch.undo()
    snap = cache.get()
    assert snap is not first and models(snap) == {"resnet18", "vit_tiny_patch16_224"}


def test_views_are_memoised_per_snapshot_and_rebuilt_with_new_results(st):
    from leaderboard.filters import DEFAULT_STATE

    cache = LeaderboardCache(st, check_every_s=0)
    snap = cache.get()
    view = snap.view(DEFAULT_STATE)
    assert snap.view(DEFAULT_STATE) is view  # the page change or chart after it reuses the filter
    assert snap.view(DEFAULT_STATE.__class__(columns=("top1",))) is view  # columns do not change rows
    put(st, "k2", "vit_tiny_patch16_224")
    fresh = cache.get()
    assert fresh.view(DEFAULT_STATE).size == 2 and view.size == 1  # a new snapshot, a new index
