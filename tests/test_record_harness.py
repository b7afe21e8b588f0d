"""A record written by the real harness passes the schema check readers apply, reads back into the
dataclasses without loss, and lands in the results table (integration: the session's one real
``python -m harness`` run of the digits model, with both backends, int8, accuracy and robustness)."""

from __future__ import annotations

import pytest

from harness.record import ResultRecord, check_record_dict
from store.layout import record_path
from store.local import LocalDatasetStore
from store.table import rebuild_results_table

pytestmark = pytest.mark.slow


def test_real_record_passes_and_reads_back_exactly(digits_record):
    harness_record = digits_record.record
    assert check_record_dict(harness_record) is harness_record
    rec = ResultRecord.from_dict(harness_record)
    assert rec.to_dict() == harness_record
    assert rec.accuracy is not None and rec.robustness  # every optional part of a record is present
    asked = digits_record.args[digits_record.args.index("--batch-sizes") + 1]
    assert sorted({r.batch_size for r in rec.runs}) == [int(b) for b in asked.split(",")]
    assert {(r.backend, r.precision, r.status) for r in rec.runs} == {
        ("pytorch", "fp32", "ok"),
        ("pytorch", "int8", "unsupported"),
        ("onnxruntime", "fp32", "ok"),
        ("onnxruntime", "int8", "ok"),
    }
    for run in rec.runs:
        if run.status == "ok":
            assert run.latency_samples_ms
            assert run.noise is not None and isinstance(run.noise["noisy"], bool)  # contract 4


def test_real_record_lands_in_the_table(digits_record, tmp_path):
    harness_record = digits_record.record
    store = LocalDatasetStore(tmp_path / "results", "results")
    store.write_json(record_path(harness_record["key"]), harness_record)
    df = rebuild_results_table(store, validate=check_record_dict)
    assert df["key"].tolist() == [harness_record["key"]] and not store.problems
