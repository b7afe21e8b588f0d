"""A record written by the real harness passes the schema check readers apply, reads back into the
dataclasses without loss, and lands in the results table (integration: one real ``python -m harness`` run)."""

from __future__ import annotations

import json

import pytest

from harness.record import ResultRecord, check_record_dict
from store.layout import record_path
from store.local import LocalDatasetStore
from store.table import rebuild_results_table
from tests._harness_helpers import run_cli


@pytest.fixture(scope="module")
def harness_record(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("record") / "record.json"
    proc = run_cli(
        "test_resnet", "--backends", "pytorch", "--batch-sizes", "1,2", "--min-duration", "0.05",
        "--output", str(out), timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(out.read_text())


def test_real_record_passes_and_reads_back_exactly(harness_record):
    assert check_record_dict(harness_record) is harness_record
    rec = ResultRecord.from_dict(harness_record)
    assert rec.to_dict() == harness_record
    assert [r.batch_size for r in rec.runs] == [1, 2]
    for run in rec.runs:
        assert run.status == "ok" and run.latency_samples_ms
        if run.noise is not None:  # contract 4: the harness assesses every measured run
            assert isinstance(run.noise["noisy"], bool)


def test_real_record_lands_in_the_table(harness_record, tmp_path):
    store = LocalDatasetStore(tmp_path / "results", "results")
    store.write_json(record_path(harness_record["key"]), harness_record)
    df = rebuild_results_table(store, validate=check_record_dict)
    assert df["key"].tolist() == [harness_record["key"]] and not store.problems
