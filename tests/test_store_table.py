"""The consolidated results table only holds records the schema accepts; the rest are reported."""

from __future__ import annotations

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from harness.record import check_record_dict
from store.base import DatasetStore
from store.hub import HubDatasetStore
from store.layout import RESULTS_TABLE, record_path
from store.local import LocalDatasetStore
from store.table import META_KEY, read_results_table, rebuild_results_table
from tests._leaderboard_helpers import make_record, make_run
from tests._store_helpers import hub_server  # noqa: F401  (fixture)


@pytest.fixture(params=["local", "hub"])
def store(request, tmp_path) -> DatasetStore:
    if request.param == "local":
        return LocalDatasetStore(tmp_path / "results", name="results")
    request.getfixturevalue("hub_server")
    return HubDatasetStore("org/results", name="results")


def put(store: DatasetStore, rec: dict) -> str:
    path = record_path(rec["key"])
    store.write_json(path, rec)
    return path


def table_bytes(store: DatasetStore) -> bytes | None:
    return store.read_bytes(RESULTS_TABLE)


def test_invalid_records_are_left_out_and_reported(store):
    good = put(store, make_record(key="good"))
    run = make_run()
    run["latency_ms"]["p50"] = "fast"
    bad_latency = put(store, make_record(key="nan", runs=[run]))
    bad_backend = put(store, make_record(key="tpu", runs=[make_run(backend="tensorrt")]))
    df = rebuild_results_table(store, validate=check_record_dict)
    assert df["key"].tolist() == ["good"]
    assert store.problems[bad_latency].reason == (
        "invalid: runs[0].latency_ms.p50: expected a finite number >= 0, got 'fast'"
    )
    assert "runs[0].backend" in store.problems[bad_backend].reason
    assert good not in store.problems


def test_stable_invalid_records_do_not_force_a_rebuild_on_every_read(store):
    put(store, make_record(key="good"))
    bad = put(store, make_record(key="bad", created_at="not a date"))
    assert read_results_table(store, validate=check_record_dict)["key"].tolist() == ["good"]
    written = table_bytes(store)
    store.problems.clear()
    assert read_results_table(store, validate=check_record_dict)["key"].tolist() == ["good"]
    assert table_bytes(store) == written  # served from the table, not rebuilt and rewritten
    assert "created_at" in store.problems[bad].reason  # and the bad record is still reported

    store.write_json(bad, make_record(key="bad"))  # repaired in place: picked up on the next read
    assert sorted(read_results_table(store, validate=check_record_dict)["key"]) == ["bad", "good"]
    assert bad not in store.problems


def test_new_invalid_record_on_an_existing_table(store):
    put(store, make_record(key="a"))
    read_results_table(store, validate=check_record_dict)
    bad = put(store, make_record(key="b", runs=[make_run(bs=0)]))
    assert read_results_table(store, validate=check_record_dict)["key"].tolist() == ["a"]
    assert "runs[0].batch_size" in store.problems[bad].reason


def test_validate_is_required(store):
    with pytest.raises(TypeError):
        read_results_table(store)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        rebuild_results_table(store)  # type: ignore[call-arg]


def test_table_from_an_older_version_is_rebuilt_silently(store):
    put(store, make_record(key="a"))
    old = pa.table({"_path": ["records/zzz.json"], "key": ["zzz"]})
    meta = {"version": 1, "built_at": 0, "source_paths": ["records/a.json"], "corrupt": {}}
    buf = io.BytesIO()
    pq.write_table(old.replace_schema_metadata({META_KEY: json.dumps(meta).encode()}), buf)
    store.write_bytes(RESULTS_TABLE, buf.getvalue())
    assert read_results_table(store, validate=check_record_dict)["key"].tolist() == ["a"]
    assert RESULTS_TABLE not in store.problems


@pytest.mark.parametrize(
    "meta", [b"[1, 2]", b'{"version": 2, "source_paths": "x"}', b'{"version": "2"}', b"not json"]
)
def test_table_with_damaged_metadata_is_reported_and_rebuilt(store, meta):
    put(store, make_record(key="a"))
    buf = io.BytesIO()
    pq.write_table(pa.table({"_path": ["x"]}).replace_schema_metadata({META_KEY: meta}), buf)
    store.write_bytes(RESULTS_TABLE, buf.getvalue())
    assert read_results_table(store, validate=check_record_dict)["key"].tolist() == ["a"]
    assert "rebuilding" in store.problems[RESULTS_TABLE].reason
    read_results_table(store, validate=check_record_dict)
    assert RESULTS_TABLE not in store.problems


@pytest.mark.parametrize(
    ("p50", "reason"),
    [
        (b"NaN", "NaN is not JSON"),
        (b"-Infinity", "-Infinity is not JSON"),
        (b"-3.0", "runs[0].latency_ms.p50: expected a finite number >= 0, got -3.0"),
        (b'"0.001"', "runs[0].latency_ms.p50: expected a finite number >= 0, got '0.001'"),
    ],
)
def test_a_non_finite_negative_or_string_latency_is_a_problem_not_a_top_rank(store, p50, reason):
    put(store, make_record(key="honest"))
    text = json.dumps(make_record(key="cheat", runs=[make_run(p50=0.5)]))
    store.write_bytes(record_path("cheat"), text.replace('"p50": 0.5', '"p50": ' + p50.decode()).encode())
    assert read_results_table(store, validate=check_record_dict)["key"].tolist() == ["honest"]
    assert reason in store.problems[record_path("cheat")].reason
