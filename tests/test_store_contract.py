"""One contract for every DatasetStore backend: local folder and Hub dataset repo (fake Hub server)."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow.parquet as pq
import pytest

from store.base import CorruptFileError, DatasetStore, InvalidPathError
from store.hub import HubDatasetStore
from store.local import LocalDatasetStore
from store.schema import expect_slug, field_of
from store.table import PATH_COLUMN, TABLE_PATH, flatten, read_results_table, rebuild_results_table
from tests._store_helpers import hub_server  # noqa: F401  (fixture)


@pytest.fixture(params=["local", "hub"])
def store(request, tmp_path) -> DatasetStore:
    if request.param == "local":
        return LocalDatasetStore(tmp_path / "results", name="results")
    request.getfixturevalue("hub_server")
    return HubDatasetStore("org/results", name="results")


def keyed(d: dict) -> dict:
    """The store knows no record schema; its tests validate with this stand-in: a slug ``key``."""
    field_of(d, "key", "", expect_slug)
    return d


def record(key: str, **extra) -> dict:
    return {
        "schema_version": 1,
        "key": key,
        "model": {"id": f"timm/{key}", "params": 1000, "input_size": [3, 32, 32], "data_config": {}},
        "accuracy": {"top1": 81.5, "top5": 95.0},
        "runs": [{"backend": "pytorch", "batch_size": 1, "latency_ms": {"p50": 1.25}}],
        **extra,
    }


# --- files ------------------------------------------------------------------------------------
def test_write_read_list(store):
    assert store.list_files() == []
    assert store.read_bytes("records/a.json") is None
    assert store.read_json("records/a.json") is None
    store.write_bytes("records/b.json", b"{}")
    store.write_json("records/a.json", {"name": "é", "n": 1})
    store.write_bytes("README.md", b"hello")
    store.write_bytes("records/sub/c.bin", bytes(range(256)))
    assert store.list_files() == ["README.md", "records/a.json", "records/b.json", "records/sub/c.bin"]
    assert store.list_files("records/") == ["records/a.json", "records/b.json", "records/sub/c.bin"]
    assert store.list_files("records") == store.list_files("records/")
    assert store.list_files("records/sub") == ["records/sub/c.bin"]
    assert store.list_files("nothing/") == []
    assert store.read_json("records/a.json") == {"name": "é", "n": 1}
    assert store.read_bytes("records/sub/c.bin") == bytes(range(256))
    assert store.exists("README.md") and not store.exists("readme.md")


def test_replace_is_whole_and_leaves_no_temp_files(store):
    store.write_bytes("entries/x.json", b'{"v": "' + b"a" * 5000 + b'"}')
    store.write_bytes("entries/x.json", b'{"v": 2}')
    assert store.read_json("entries/x.json") == {"v": 2}
    assert store.list_files() == ["entries/x.json"]


def test_delete(store):
    store.write_json("entries/x.json", {"a": 1})
    store.delete("entries/x.json")
    assert store.read_bytes("entries/x.json") is None
    store.delete("entries/x.json")  # absent: no error
    assert store.list_files() == []


# --- compare-and-swap -------------------------------------------------------------------------
def test_create_json_only_once(store):
    assert store.create_json("entries/e1.json", {"id": "e1", "n": 1}) is True
    assert store.create_json("entries/e1.json", {"id": "e1", "n": 2}) is False
    assert store.read_json("entries/e1.json") == {"id": "e1", "n": 1}


def test_update_json_semantics(store):
    seen = []

    def bump(current):
        seen.append(current)
        return {"n": (current or {"n": 0})["n"] + 1}

    assert store.update_json("entries/c.json", bump) == {"n": 1}
    assert store.update_json("entries/c.json", bump) == {"n": 2}
    assert seen == [None, {"n": 1}]
    assert store.read_json("entries/c.json") == {"n": 2}

    before = store.read_bytes("entries/c.json")
    assert store.update_json("entries/c.json", lambda cur: None) == {"n": 2}
    assert store.read_bytes("entries/c.json") == before
    assert store.update_json("entries/absent.json", lambda cur: None) is None
    assert store.read_bytes("entries/absent.json") is None

    def boom(current):
        raise RuntimeError("updater failed")

    with pytest.raises(RuntimeError, match="updater failed"):
        store.update_json("entries/c.json", boom)
    assert store.read_bytes("entries/c.json") == before


def test_update_json_writes_nothing_when_updater_returns_none_on_hub(hub_server):  # noqa: F811
    store = HubDatasetStore("org/queue", name="queue")
    store.write_json("entries/c.json", {"n": 1})
    head = hub_server.head("org/queue")
    store.update_json("entries/c.json", lambda cur: None)
    store.update_json("entries/c.json", lambda cur: dict(cur))  # same content: no empty commit either
    assert hub_server.head("org/queue") == head


@pytest.mark.parametrize("bad", ["../x.json", "a/../../x.json", "/etc/passwd", "a\\b.json", "..", ".", ""])
def test_path_traversal_refused(store, bad):
    with pytest.raises(InvalidPathError):
        store.write_bytes(bad, b"{}")
    with pytest.raises(InvalidPathError):
        store.read_bytes(bad)
    with pytest.raises(InvalidPathError):
        store.update_json(bad, lambda cur: {"a": 1})
    with pytest.raises(InvalidPathError):
        store.delete(bad)
    assert store.list_files() == []


# --- corrupt files ----------------------------------------------------------------------------
CORRUPT = {
    "records/truncated.json": b'{"key": "t", "model": {"id"',
    "records/not_object.json": b"[1, 2, 3]",
    "records/not_utf8.json": b'{"a": "\xff\xfe"}',
    "records/empty.json": b"",
}


def test_corrupt_json_reported_and_skipped(store):
    store.write_json("records/good.json", {"key": "good"})
    for path, data in CORRUPT.items():
        store.write_bytes(path, data)
    store.write_bytes("records/notes.txt", b"not json, not listed by iter_json")
    assert list(store.iter_json("records/")) == [("records/good.json", {"key": "good"})]
    assert set(store.problems) == set(CORRUPT)
    assert all(p.reason for p in store.problems.values())
    with pytest.raises(CorruptFileError) as info:
        store.read_json("records/truncated.json")
    assert info.value.path == "records/truncated.json" and "records/truncated.json" in str(info.value)

    store.write_json("records/truncated.json", {"key": "fixed"})  # a repaired file is no longer a problem
    assert len(list(store.iter_json("records/"))) == 2
    assert "records/truncated.json" not in store.problems
    store.delete("records/empty.json")  # a deleted file is no longer a problem either
    assert len(list(store.iter_json("records/"))) == 2
    assert "records/empty.json" not in store.problems and "records/not_object.json" in store.problems


def test_cas_on_corrupt_file_raises_and_keeps_bytes(store):
    store.write_bytes("entries/bad.json", CORRUPT["records/truncated.json"])
    with pytest.raises(CorruptFileError):
        store.update_json("entries/bad.json", lambda cur: {"overwritten": True})
    with pytest.raises(CorruptFileError):
        store.create_json("entries/bad.json", {"overwritten": True})
    assert store.read_bytes("entries/bad.json") == CORRUPT["records/truncated.json"]


# --- the consolidated table -------------------------------------------------------------------
def test_flatten_is_generic():
    flat = flatten({"a": {"b": {"c": 1}, "d": None}, "l": [1, {"x": 2}], "e": {}, "s": "t"})
    assert flat == {"a.b.c": 1, "a.d": None, "l": '[1, {"x": 2}]', "e": "{}", "s": "t"}


def test_table_with_zero_records(store):
    df = read_results_table(store, validate=keyed)
    assert isinstance(df, pd.DataFrame) and df.empty and PATH_COLUMN in df.columns
    assert store.exists(TABLE_PATH)
    assert read_results_table(store, validate=keyed).empty


def test_table_rebuild_and_read(store):
    store.write_json("records/k1.json", record("k1"))
    store.write_json("records/k2.json", record("k2", accuracy=None, extra={"note": "x"}))
    store.write_bytes("records/k3.json", b'{"schema_version": 1, "key": "k3"')  # corrupt: skipped
    df = rebuild_results_table(store, validate=keyed)
    assert sorted(df[PATH_COLUMN]) == ["records/k1.json", "records/k2.json"]
    row = df.set_index("key").loc["k1"]
    assert row["model.id"] == "timm/k1" and row["accuracy.top1"] == 81.5
    assert json.loads(row["model.input_size"]) == [3, 32, 32]
    assert json.loads(row["runs"])[0]["latency_ms"]["p50"] == 1.25
    assert pd.isna(df.set_index("key").loc["k2", "accuracy.top1"])
    assert "records/k3.json" in store.problems

    # the stored file is a real Parquet table with the same rows
    import io

    stored = pq.read_table(io.BytesIO(store.read_bytes(TABLE_PATH))).to_pandas()
    assert sorted(stored["key"]) == ["k1", "k2"]

    # read is served from the table while nothing changed, and still reports the corrupt record
    store.problems.clear()
    assert sorted(read_results_table(store, validate=keyed)["key"]) == ["k1", "k2"]
    assert "records/k3.json" in store.problems

    # a new record makes it stale -> rebuilt on read
    store.write_json("records/k4.json", record("k4"))
    assert sorted(read_results_table(store, validate=keyed)["key"]) == ["k1", "k2", "k4"]
    # the corrupt record repaired in place -> rebuilt on read
    store.write_json("records/k3.json", record("k3"))
    assert sorted(read_results_table(store, validate=keyed)["key"]) == ["k1", "k2", "k3", "k4"]
    # a deleted record disappears
    store.delete("records/k1.json")
    assert sorted(read_results_table(store, validate=keyed)["key"]) == ["k2", "k3", "k4"]


def test_stale_table_is_updated_incrementally(store, monkeypatch):
    for i in range(3):
        store.write_json(
            f"records/k{i}.json", record(f"k{i}", accuracy=None if i == 1 else {"top1": 50.0 + i})
        )
    read_results_table(store, validate=keyed)
    store.write_json("records/k9.json", record("k9"))
    read = []
    real_read = store.read_bytes

    def counting(path, *args):
        read.append(path)
        return real_read(path, *args)

    with monkeypatch.context() as patch:  # not monkeypatch.undo(): that would also undo the fake Hub's set-up
        patch.setattr(store, "read_bytes", counting)
        incremental = read_results_table(store, validate=keyed)
    assert sorted(read) == ["records/k9.json", TABLE_PATH]
    full = rebuild_results_table(store, validate=keyed)
    assert set(incremental.columns) == set(full.columns)
    by_path = lambda df: df.sort_values(PATH_COLUMN).reset_index(drop=True)[sorted(full.columns)]  # noqa: E731
    pd.testing.assert_frame_equal(by_path(incremental), by_path(full))


def test_table_mixed_types_never_crash(store):
    store.write_json("records/a.json", {"key": "a", "v": 1, "w": "text", "flag": True})
    store.write_json("records/b.json", {"key": "b", "v": 2.5, "w": 3, "flag": 1})
    df = rebuild_results_table(store, validate=keyed)
    assert sorted(df["v"].tolist()) == [1.0, 2.5]
    assert sorted(df["w"].astype(str).tolist()) == ["3", "text"]


def test_corrupt_table_is_reported_and_rebuilt(store):
    store.write_json("records/k1.json", record("k1"))
    store.write_bytes(TABLE_PATH, b"PAR1 this is not parquet")
    df = read_results_table(store, validate=keyed)
    assert df["key"].tolist() == ["k1"]
    assert TABLE_PATH in store.problems
    assert pq.read_table(__import__("io").BytesIO(store.read_bytes(TABLE_PATH))).num_rows == 1
    read_results_table(store, validate=keyed)
    assert TABLE_PATH not in store.problems
