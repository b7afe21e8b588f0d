"""The stored result record's schema: what readers accept, what they refuse, and how they say why."""

from __future__ import annotations

import copy
import json
import math

import pytest

from harness.backends import backend_specs
from harness.record import (
    DatasetInfo,
    ModelInfo,
    ResultRecord,
    RobustnessEntry,
    RunRecord,
    check_record_dict,
)
from store import SchemaError, StoreError
from store.schema import (
    expect_dict_of,
    expect_enum,
    expect_int,
    expect_list_of,
    expect_number,
    expect_str,
    expect_timestamp,
)
from tests._leaderboard_helpers import make_record, make_run

NOISE = {
    "cv": 0.04,
    "p95_over_p50": 1.1,
    "load_before": 0.5,
    "load_after": None,
    "cpu_count": 2,
    "noisy": False,
    "reasons": [],
}


def full_record() -> dict:
    """A record as the harness writes it (every field, through the dataclasses and JSON)."""
    model = ModelInfo(
        "timm/resnet18", "timm", "abc", "resnet18", True, 11, 1.8, 3.6, 44.6, [3, 32, 32], {}, 10
    )
    runs = [
        RunRecord(
            "pytorch",
            "cpu",
            "torch-cpu",
            "fp32",
            1,
            2,
            warmup=3,
            iterations=40,
            duration_s=0.5,
            latency_ms={"p50": 1.5, "p95": 2.0, "std": 0.0},
            throughput_ips=660.0,
            peak_rss_mb=300.0,
            load_ms=12.0,
            accuracy_top1=80.0,
            accuracy_delta_top1=-0.5,
            latency_samples_ms=[1.4, 1.5, 1.6],
            info={"notes": "x"},
            noise=NOISE,
        ),  # fmt: skip
        RunRecord("onnxruntime", "cpu", None, "int8", 8, 2, status="failed", error="boom\nTraceback..."),
    ]
    rec = ResultRecord(
        key="0123456789abcdef0123",
        created_at="2026-01-01T00:00:00Z",
        harness_version="deadbeef",
        model=model,
        dataset=DatasetInfo("digits", "test", 100, 10),
        accuracy={"top1": 80.5, "top5": 99.0},
        runs=runs,
        robustness=[RobustnessEntry("gaussian_noise", 3, 41.0)],
        environment={"cpu": "Test", "hardware_profile": "cpu-test-2c"},
        config={"device": "cpu", "batch_sizes": [1, 8]},
        onnx={"opset": 17},
    )
    return json.loads(rec.to_json())


def test_harness_shaped_record_passes_and_reads_back_exactly():
    d = full_record()
    assert check_record_dict(d) is d
    rec = ResultRecord.from_dict(d)
    assert isinstance(rec.model, ModelInfo) and isinstance(rec.dataset, DatasetInfo)
    assert isinstance(rec.runs[0], RunRecord) and rec.runs[0].noise == NOISE
    assert isinstance(rec.robustness[0], RobustnessEntry) and rec.robustness[0].severity == 3
    assert rec.to_dict() == d  # nothing lost, nothing invented


def test_older_and_minimal_records_stay_valid():
    old = make_record()  # no noise, no status in some runs, no num_classes
    for run in old["runs"]:
        run.pop("status")
    old.pop("config")
    check_record_dict(old)
    rec = ResultRecord.from_dict(old)
    assert rec.runs[0].status == "ok" and rec.runs[0].noise is None and rec.config == {}
    assert rec.runs[0].provider is None and rec.model.num_classes is None
    minimal = {
        "schema_version": 1,
        "key": "k1",
        "created_at": "2026-01-01T00:00:00+00:00",
        "model": {"id": "m"},
        "runs": [],
        "environment": {"hardware_profile": "hw"},
    }
    assert ResultRecord.from_dict(minimal).dataset is None


def test_lists_do_not_count_as_table_columns():
    d = make_record(runs=[make_run(bs=b, info={f"k{i}": i for i in range(20)}) for b in range(1, 60)])
    check_record_dict(d)  # 59 runs x 20 info keys = 1180 leaves, all inside the one "runs" column


def test_unknown_fields_are_allowed_and_dropped_on_read():
    d = make_record()
    d["future_field"] = {"x": 1}
    d["runs"][0]["energy_j"] = 3.0
    rec = ResultRecord.from_dict(d)
    assert "future_field" not in rec.to_dict() and "energy_j" not in rec.to_dict()["runs"][0]


def _set(path: str, value):
    """A mutation of make_record(): set the field at dotted ``path`` (``runs.1.latency_ms.p50``)."""

    def apply(d: dict) -> None:
        *parents, last = path.split(".")
        obj = d
        for part in parents:
            obj = obj[int(part)] if isinstance(obj, list) else obj[part]
        if value is _DELETE:
            del obj[last]
        elif isinstance(obj, list):
            obj[int(last)] = value
        else:
            obj[last] = value

    return apply


_DELETE = object()

BAD = [
    ("schema_version", "2", "schema_version: expected an integer"),
    ("schema_version", 7, "schema_version: unknown version 7"),
    ("key", "../../etc/passwd", "key: expected a slug"),
    ("key", _DELETE, "key: expected a slug"),
    ("created_at", "yesterday", "created_at: expected an ISO timestamp"),
    ("created_at", 1700000000, "created_at: expected an ISO timestamp"),
    ("created_at", {"when": "now"}, "created_at: expected an ISO timestamp string, got an object"),
    ("model", "resnet", "model: expected an object"),
    ("model.id", "", "model.id: expected a non-empty string"),
    ("model.id", ["a"], "model.id: expected a string, got a list"),
    ("model.id", "x" * 100_000, "model.id: string longer than"),
    ("model.params", -1, "model.params: expected an integer >= 0"),
    ("model.pretrained", "yes", "model.pretrained: expected true or false"),
    ("model.input_size.1", 0, "model.input_size[1]: expected an integer >= 1"),
    ("accuracy", {"top1": 150.0}, "accuracy.top1: expected a finite number >= 0 and <= 100"),
    ("runs", {"0": {}}, "runs: expected a list"),
    ("runs.0", "fast", "runs[0]: expected an object"),
    ("runs.1.latency_ms.p50", "fast", "runs[1].latency_ms.p50: expected a finite number >= 0, got 'fast'"),
    ("runs.1.latency_ms.p50", math.nan, "runs[1].latency_ms.p50: expected a finite number"),
    ("runs.0.latency_ms.p95", -math.inf, "runs[0].latency_ms.p95: expected a finite number"),
    ("runs.0.latency_ms.p99", -0.5, "runs[0].latency_ms.p99: expected a finite number >= 0"),
    ("runs.0.throughput_ips", math.inf, "runs[0].throughput_ips: expected a finite number"),
    ("runs.0.peak_rss_mb", True, "runs[0].peak_rss_mb: expected a finite number"),
    ("runs.0.backend", "tensorrt", "runs[0].backend: expected "),
    ("runs.0.backend", None, "runs[0].backend: expected "),
    ("runs.0.device", "tpu", "runs[0].device: expected cpu|cuda"),
    ("runs.0.precision", "fp8", "runs[0].precision: expected "),
    ("runs.0.status", "done", "runs[0].status: expected failed|ok|timeout|unsupported"),
    ("runs.0.batch_size", 0, "runs[0].batch_size: expected an integer >= 1"),
    ("runs.0.batch_size", 2.5, "runs[0].batch_size: expected an integer"),
    ("runs.0.batch_size", True, "runs[0].batch_size: expected an integer, got True"),
    ("runs.0.latency_samples_ms", [1.0, "x"], "runs[0].latency_samples_ms[1]: expected a finite number"),
    ("runs.0.latency_samples_ms", [1, 2.0, True], "runs[0].latency_samples_ms[2]: expected a finite number"),
    ("runs.0.latency_samples_ms", [1.0, math.nan], "runs[0].latency_samples_ms[1]: expected a finite number"),
    ("runs.0.latency_samples_ms", [-1.0], "runs[0].latency_samples_ms[0]: expected a finite number >= 0"),
    ("runs.0.latency_samples_ms", [0.5] * 100_001, "runs[0].latency_samples_ms: list longer than 100000"),
    ("runs.0.noise", {"cv": 0.1}, "runs[0].noise.noisy: expected true or false"),
    ("runs.0.noise", {"noisy": True, "cv": -1}, "runs[0].noise.cv: expected a finite number >= 0"),
    ("runs.0.noise", {"noisy": True, "reasons": "loud"}, "runs[0].noise.reasons: expected a list"),
    ("runs.0.noise", "noisy", "runs[0].noise: expected an object"),
    ("environment", _DELETE, "environment: expected an object"),
    ("environment.hardware_profile", 3, "environment.hardware_profile: expected a string"),
    ("environment.hardware_profile", ["x"], "environment.hardware_profile: expected a string, got a list"),
    ("robustness", [{"corruption": "blur", "severity": -1, "top1": 5}], "robustness[0].severity"),
    ("dataset", {"name": ""}, "dataset.name: expected a non-empty string"),
    ("config", {f"k{i}": i for i in range(600)}, "record: more than 500 fields outside lists"),
    ("extra", {"a": {f"k{i}": {"x": 1} for i in range(600)}}, "record: more than 500 fields"),
    ("environment.x" + "y" * 300, 1, "environment: key longer than 200"),
]


@pytest.mark.parametrize(("path", "value", "message"), BAD, ids=[f"{p}={str(v)[:12]}" for p, v, _ in BAD])
def test_malformed_records_are_refused_with_a_one_line_reason_naming_the_field(path, value, message):
    d = make_record(accuracy={"top1": 50.0, "top5": 90.0})
    _set(path, value)(d)
    with pytest.raises(SchemaError) as info:
        check_record_dict(d)
    text = str(info.value)
    assert text.startswith(message), text
    assert "\n" not in text and len(text) < 300
    assert isinstance(info.value, StoreError)
    with pytest.raises(SchemaError):
        ResultRecord.from_dict(d)


@pytest.mark.parametrize("bad", [None, [], "record", 3, json.dumps(make_record())])
def test_a_record_that_is_not_an_object_is_refused(bad):
    with pytest.raises(SchemaError, match="^record: expected an object"):
        check_record_dict(bad)


def test_markup_in_strings_is_data_not_an_error():
    d = make_record(model="<img src=x onerror=alert(1)>")
    assert ResultRecord.from_dict(d).model.id == "<img src=x onerror=alert(1)>"


def test_backend_names_come_from_the_registry(monkeypatch):
    """The record check asks harness.config (derived from the backend registry) on every call: a backend
    registered later is accepted at once, and a name no backend registered is refused by name."""
    from harness import config

    for spec in backend_specs():
        check_record_dict(make_record(runs=[make_run(backend=spec.name)]))
    for name in ("tensorrt", "../x", "PyTorch"):
        with pytest.raises(SchemaError, match=r"^runs\[0\]\.backend: expected .*pytorch.*, got "):
            check_record_dict(make_record(runs=[make_run(backend=name)]))
    monkeypatch.setattr(config, "BACKENDS", (*config.BACKENDS, "tensorrt"))
    check_record_dict(make_record(runs=[make_run(backend="tensorrt")]))
    with pytest.raises(SchemaError, match=r"runs\[0\]\.backend"):
        check_record_dict(make_record(runs=[make_run(backend="../x")]))


# ---- the small checkers themselves ------------------------------------------------------------------


def test_checkers_return_values_and_refuse_look_alikes():
    assert expect_int(3.0, "n") == 3 and type(expect_int(3.0, "n")) is int
    assert expect_number(0, "x") == 0 and expect_number(-2.5, "x", minimum=None) == -2.5
    assert expect_str(None, "s", optional=True) is None
    with pytest.raises(SchemaError, match="^s: expected a string, got None$"):
        expect_str(None, "s")
    with pytest.raises(SchemaError, match=r"^x: expected a finite number >= 0, got inf$"):
        expect_number(float("inf"), "x")
    with pytest.raises(SchemaError, match="^x: expected a finite number"):
        expect_number(10**400, "x")  # finite for Python, not for a float column
    with pytest.raises(SchemaError, match="^n: expected an integer"):
        expect_int(2**70, "n")
    with pytest.raises(SchemaError, match="^e: expected a\\|b, got 'c'$"):
        expect_enum("c", "e", ("b", "a"))
    with pytest.raises(SchemaError, match=r"^t: expected an ISO timestamp string"):
        expect_timestamp("2026-13-45T99:00:00Z", "t")
    assert expect_timestamp("2026-01-01T00:00:00.123456+02:00", "t")


def test_collections_are_bounded_and_name_the_bad_element():
    with pytest.raises(SchemaError, match="^xs: list longer than 3 items"):
        expect_list_of([1, 2, 3, 4], "xs", expect_int, max_items=3)
    with pytest.raises(SchemaError, match=r"^xs\[2\]: expected an integer, got 'a'$"):
        expect_list_of([1, 2, "a"], "xs", expect_int)
    with pytest.raises(SchemaError, match=r"^d\.b: expected a finite number"):
        expect_dict_of({"a": 1, "b": None}, "d", expect_number)
    with pytest.raises(SchemaError, match="^d: object with more than 2 keys"):
        expect_dict_of({"a": 1, "b": 2, "c": 3}, "d", expect_number, max_items=2)


def test_error_text_never_echoes_a_huge_or_multiline_value():
    with pytest.raises(SchemaError) as info:
        expect_int("line1\nline2" + "x" * 10_000, "f")
    assert "\n" not in str(info.value) and len(str(info.value)) < 100


def test_harness_records_from_the_helpers_all_pass():
    for rec in (make_record(), make_record(accuracy={"top1": 1.0, "top5": 2.0}), full_record()):
        check_record_dict(copy.deepcopy(rec))


def test_noise_assessed_by_the_harness_passes_the_check():
    noise = pytest.importorskip("harness.noise")
    for samples, load in (([1.0] * 50, 0.1), ([1.0, 9.0] * 25, 64.0), ([], None)):
        assessed = noise.assess(samples, load, load, 2)
        check_record_dict(make_record(runs=[make_run(noise=assessed)]))


def test_checking_is_fast_enough_for_thousands_of_records():
    import time

    runs = [make_run(bs=b, latency_samples_ms=[1.0 + i * 1e-3 for i in range(1000)]) for b in (1, 2, 4, 8)]
    rec = make_record(runs=runs)
    t0 = time.perf_counter()
    for _ in range(20):
        check_record_dict(rec)
    assert (time.perf_counter() - t0) / 20 < 0.05  # ~1 ms here; 50 ms leaves room for a busy machine
